//! S3 bucket notifications: reading the configuration of the buckets a pass needs (and which
//! region each is in), and writing one bucket's changes as a read-modify-write that keeps every
//! entry not ours as read, verified by a read-back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use autosub_aws::apis::TargetApis;
use autosub_aws::error::{AwsError, ErrorClass};
use autosub_core::notification::is_ours;
use autosub_core::plan::{Change, PlanPolicy, SkipReason, rewrite_notifications};
use autosub_core::{BucketName, BucketState, NotificationConfig, Region};
use futures::{StreamExt, stream};

use crate::outcome::{Outcome, failed, log_outcome};

/// The region of each bucket, and why the others could not be resolved.
pub async fn bucket_regions(
    apis: &TargetApis,
    buckets: &BTreeSet<BucketName>,
    concurrency: usize,
) -> (BTreeMap<BucketName, Region>, BTreeMap<BucketName, String>) {
    let results: Vec<_> = stream::iter(buckets)
        .map(|bucket| async move { (bucket.clone(), apis.s3.bucket_region(bucket).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut regions = BTreeMap::new();
    let mut unresolved = BTreeMap::new();
    for (bucket, result) in results {
        match result {
            Ok(region) => {
                regions.insert(bucket, region);
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                unresolved.insert(bucket, "the bucket does not exist".to_owned());
            }
            Err(e) => {
                unresolved.insert(bucket, e.to_string());
            }
        }
    }
    (regions, unresolved)
}

/// Every bucket the credentials' account owns (ListBuckets, all pages).
pub async fn list_buckets(apis: &TargetApis) -> Result<BTreeSet<BucketName>, String> {
    apis.s3
        .list_buckets()
        .await
        .map(|all| all.into_iter().map(|b| b.name).collect())
        .map_err(|e| format!("listing buckets: {e}"))
}

/// The notification configuration of every `wanted` bucket (wherever it is) and of each
/// `swept` bucket that turns out to be in `region`; also the first bucket whose region could
/// not be told, when one could not.
pub async fn buckets(
    apis: &TargetApis,
    region: &Region,
    wanted: &BTreeMap<BucketName, Region>,
    swept: &BTreeSet<BucketName>,
    concurrency: usize,
) -> (BTreeMap<BucketName, BucketState>, Option<String>) {
    let mut to_read: BTreeMap<BucketName, Region> = wanted.clone();
    let mut unswept = Vec::new();
    let regions: Vec<_> = stream::iter(swept.iter().filter(|b| !wanted.contains_key(*b)))
        .map(|bucket| async move { (bucket, apis.s3.bucket_region(bucket).await) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (bucket, bucket_region) in regions {
        match bucket_region {
            Ok(bucket_region) if &bucket_region == region => {
                to_read.insert(bucket.clone(), bucket_region);
            }
            Ok(_) => {}
            // Deleted since the listing: nothing of ours can be there.
            Err(e) if e.class == ErrorClass::NotFound => {}
            Err(e) => unswept.push(format!("bucket {bucket}: {e}")),
        }
    }
    let states = stream::iter(to_read)
        .map(|(bucket, region)| async move {
            let state = match apis.s3.notification_config(&bucket, &region).await {
                Ok(config) => BucketState::Found { region, config },
                Err(e) if e.class == ErrorClass::NotFound => BucketState::Missing,
                Err(e) => BucketState::Unreadable {
                    detail: e.to_string(),
                },
            };
            (bucket, state)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    unswept.sort();
    (states, unswept.into_iter().next())
}

/// Writes of one bucket's configuration while another writer keeps changing it: each merges
/// our changes anew into what the last one read back.
pub const BUCKET_WRITE_ROUNDS: usize = 3;

/// Waits before re-reading a write that is not visible yet: S3's bucket configuration is
/// eventually consistent, so a read right after a write may still answer the old one.
const READ_BACK_WAITS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(4),
];

/// One read-modify-write of a bucket's configuration for all of its `changes`, verified by a
/// read-back. S3 has no conditional write for it, so a concurrent writer is detected after the
/// fact: the read-back then holds neither the configuration read nor the one written, and our
/// changes are merged into it again, up to [`BUCKET_WRITE_ROUNDS`] writes.
pub(crate) async fn apply_bucket(
    apis: &TargetApis,
    bucket: &BucketName,
    region: &Region,
    changes: &[&Change],
    policy: &PlanPolicy,
) -> Vec<Outcome> {
    let all = |outcome: Outcome| changes.iter().map(|_| outcome.clone()).collect::<Vec<_>>();
    // Re-read right before writing: what the plan read may be minutes old.
    let mut current = match apis.s3.notification_config(bucket, region).await {
        Ok(current) => current,
        Err(e) if e.class == ErrorClass::NotFound => return all(bucket_gone()),
        Err(e) => return all(failed(&e)),
    };
    for _ in 0..BUCKET_WRITE_ROUNDS {
        let (next, conflicts) = rewrite_notifications(&current, changes, policy);
        let outcomes: Vec<Outcome> = conflicts
            .into_iter()
            .map(|conflict| match conflict {
                Some(entry) => Outcome::Skipped {
                    reason: SkipReason::S3Overlap,
                    detail: format!(
                        "our rule would overlap the {entry}, which appeared during the pass"
                    ),
                },
                None => Outcome::Applied,
            })
            .collect();
        if next == current {
            return logged(changes, outcomes);
        }
        if let Err(e) = apis.s3.put_notification_config(bucket, region, &next).await {
            return all(refused_write(&e, &current, policy));
        }
        match read_back(apis, bucket, region, &current, &next).await {
            Some(overtaken) => {
                tracing::warn!(%bucket, "another writer changed the notification configuration during our write; merging again");
                current = overtaken;
            }
            None => return logged(changes, outcomes),
        }
    }
    all(Outcome::Failed {
        class: ErrorClass::Conflict.as_str().to_owned(),
        error: format!(
            "another writer kept changing the notification configuration of {bucket}: each of {BUCKET_WRITE_ROUNDS} writes, merged anew from what was read back, was overtaken; the next pass merges again"
        ),
    })
}

/// Reads the configuration back after writing `written` over `before`. `None` when the write
/// holds (or is not visible yet: S3 accepted it, and the next pass verifies); otherwise what
/// another writer left, to merge into again.
async fn read_back(
    apis: &TargetApis,
    bucket: &BucketName,
    region: &Region,
    before: &NotificationConfig,
    written: &NotificationConfig,
) -> Option<NotificationConfig> {
    for wait in READ_BACK_WAITS {
        match apis.s3.notification_config(bucket, region).await {
            Ok(seen) if seen.equivalent(written) => return None,
            Ok(seen) if !seen.equivalent(before) => return Some(seen),
            Ok(_) => tokio::time::sleep(wait).await,
            Err(e) => {
                tracing::warn!(%bucket, error = %e, "the notification configuration written could not be read back; the next pass verifies it");
                return None;
            }
        }
    }
    tracing::warn!(%bucket, "the notification configuration written is not visible yet; the next pass verifies it");
    None
}

fn bucket_gone() -> Outcome {
    Outcome::Skipped {
        reason: SkipReason::BucketMissing,
        detail: "the bucket was deleted during the pass".into(),
    }
}

/// The outcome of a write S3 refused.
fn refused_write(e: &AwsError, current: &NotificationConfig, policy: &PlanPolicy) -> Outcome {
    match e.class {
        ErrorClass::NotFound => bucket_gone(),
        // S3 checks every destination on each write: one it can no longer reach (a queue or
        // function deleted, a policy changed) blocks any write until it is fixed.
        _ if e
            .message
            .contains("Unable to validate the following destination") =>
        {
            let others: Vec<&str> = current
                .entries
                .iter()
                .filter(|en| !is_ours(en, &policy.notification_id_prefix))
                .map(|en| en.arn.as_str())
                .collect();
            Outcome::Skipped {
                reason: SkipReason::DestinationInvalid,
                detail: format!(
                    "S3 refuses every write of this bucket's notifications while it cannot validate a destination ({}); the bucket's other destinations: {}. Fix or remove the broken one",
                    e.message,
                    if others.is_empty() {
                        "none".to_owned()
                    } else {
                        others.join(", ")
                    }
                ),
            }
        }
        _ => failed(e),
    }
}

fn logged(changes: &[&Change], outcomes: Vec<Outcome>) -> Vec<Outcome> {
    for (change, outcome) in changes.iter().zip(&outcomes) {
        log_outcome(change, outcome);
    }
    outcomes
}
