//! Where a durable ledger lives in AWS: one S3 object, or a DynamoDB table with one item per
//! trigger, verified location and pass record (`pk` = the target, `sk` = the item's key, see
//! `autosub_core::ledger::LedgerItem`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use autosub_core::BucketName;
use autosub_core::ledger::{LedgerEntry, LedgerItem, Origin, SweepCursors, Verified};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::apis::S3Api;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::s3::SdkS3;
use crate::sdk_error::aws_error;

/// An object's body and its ETag, the version a conditional write names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub body: Vec<u8>,
    /// The ETag S3 answered with (`None` from a store that sends none).
    pub etag: Option<String>,
}

/// The condition of an object write: S3's conditional PutObject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteIf {
    /// Only if no object exists yet (`If-None-Match: *`).
    Absent,
    /// Only if the object is still the version read (`If-Match: <etag>`).
    Unchanged(String),
}

/// Whole-object reads and writes of one S3 object.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object; `None` when it does not exist yet.
    async fn get(&self) -> Result<Option<StoredObject>, AwsError>;
    /// Replaces the object (S3 writes are atomic: readers see the old or the new body) if
    /// `condition` holds (none: always); a write another writer got in before fails with
    /// [`ErrorClass::Conflict`].
    async fn put(&self, body: Vec<u8>, condition: Option<&WriteIf>) -> Result<(), AwsError>;
}

/// The ledger table: every entry of one partition (a target), read and written as a set.
#[async_trait]
pub trait LedgerTable: Send + Sync {
    /// Every item of `partition` (Query, all pages).
    async fn entries(&self, partition: &str) -> Result<BTreeMap<String, LedgerItem>, AwsError>;
    /// Puts `puts` and deletes `deletes` in `partition` (BatchWriteItem, 25 a batch, unprocessed
    /// items retried).
    async fn write(
        &self,
        partition: &str,
        puts: &[(String, LedgerItem)],
        deletes: &[String],
    ) -> Result<(), AwsError>;
}

/// One S3 object through the SDK, in the bucket's own region.
pub(crate) struct SdkObject {
    pub(crate) target: Target,
    pub(crate) bucket: BucketName,
    pub(crate) key: String,
}

impl SdkObject {
    async fn client(&self) -> Result<aws_sdk_s3::Client, AwsError> {
        let region = SdkS3::new(self.target.clone())
            .bucket_region(&self.bucket)
            .await?;
        Ok(self.target.clients.s3(&self.target.account, &region))
    }
}

#[async_trait]
impl ObjectStore for SdkObject {
    async fn get(&self) -> Result<Option<StoredObject>, AwsError> {
        const OP: &str = "s3:GetObject";
        let reply = self
            .client()
            .await?
            .get_object()
            .bucket(self.bucket.as_str())
            .key(&self.key)
            .send()
            .await;
        match reply {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_owned);
                let body = out.body.collect().await.map_err(|e| AwsError {
                    class: ErrorClass::Retryable,
                    operation: OP,
                    code: None,
                    message: format!("reading s3://{}/{}: {e}", self.bucket, self.key),
                })?;
                Ok(Some(StoredObject {
                    body: body.into_bytes().to_vec(),
                    etag,
                }))
            }
            Err(e) => match aws_error(OP, e) {
                e if e.class == ErrorClass::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn put(&self, body: Vec<u8>, condition: Option<&WriteIf>) -> Result<(), AwsError> {
        let put = self
            .client()
            .await?
            .put_object()
            .bucket(self.bucket.as_str())
            .key(&self.key)
            .content_type("application/json")
            .body(body.into());
        let put = match condition {
            None => put,
            Some(WriteIf::Absent) => put.if_none_match("*"),
            Some(WriteIf::Unchanged(etag)) => put.if_match(etag),
        };
        match put.send().await.map_err(|e| aws_error("s3:PutObject", e)) {
            Ok(_) => Ok(()),
            // 412: another write got in first; 409: one is racing ours right now.
            Err(e)
                if matches!(
                    e.code.as_deref(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) =>
            {
                Err(AwsError {
                    class: ErrorClass::Conflict,
                    ..e
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The ledger table through the SDK.
pub(crate) struct SdkLedgerTable {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

/// Attempts at writing a batch whose items DynamoDB left unprocessed (it does so under load).
const BATCH_ATTEMPTS: u32 = 5;

#[async_trait]
impl LedgerTable for SdkLedgerTable {
    async fn entries(&self, partition: &str) -> Result<BTreeMap<String, LedgerItem>, AwsError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut entries = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("dynamodb:Query", e))?;
            for item in page.items() {
                let (key, entry) = from_item(item).ok_or_else(|| AwsError {
                    class: ErrorClass::Invalid,
                    operation: "dynamodb:Query",
                    code: None,
                    message: format!(
                        "an item of table {} in partition {partition} is not a ledger entry",
                        self.table
                    ),
                })?;
                entries.insert(key, entry);
            }
        }
        Ok(entries)
    }

    async fn write(
        &self,
        partition: &str,
        puts: &[(String, LedgerItem)],
        deletes: &[String],
    ) -> Result<(), AwsError> {
        let requests: Vec<WriteRequest> = puts
            .iter()
            .map(|(key, entry)| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(partition, key, entry)))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build());
                put.map_err(|e| invalid(&e))
            })
            .chain(deletes.iter().map(|key| {
                DeleteRequest::builder()
                    .key("pk", AttributeValue::S(partition.to_owned()))
                    .key("sk", AttributeValue::S(key.clone()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| invalid(&e))
            }))
            .collect::<Result<_, _>>()?;
        for batch in requests.chunks(25) {
            let mut pending = batch.to_vec();
            for attempt in 1..=BATCH_ATTEMPTS {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| aws_error("dynamodb:BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == BATCH_ATTEMPTS {
                    return Err(AwsError {
                        class: ErrorClass::Throttled,
                        operation: "dynamodb:BatchWriteItem",
                        code: None,
                        message: format!(
                            "{} ledger items of table {} stayed unprocessed after {BATCH_ATTEMPTS} attempts",
                            pending.len(),
                            self.table
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        Ok(())
    }
}

fn invalid(e: &impl std::fmt::Display) -> AwsError {
    AwsError {
        class: ErrorClass::Fatal,
        operation: "dynamodb:BatchWriteItem",
        code: None,
        message: format!("cannot build a ledger write: {e}"),
    }
}

fn to_item(
    partition: &str,
    key: &str,
    item: &LedgerItem,
) -> std::collections::HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: u64| AttributeValue::N(v.to_string());
    let mut attributes = vec![("pk", s(partition)), ("sk", s(key))];
    match item {
        LedgerItem::Trigger(entry) => {
            let origin = match entry.origin {
                Origin::Created => "created",
                Origin::Found => "found",
            };
            attributes.extend([
                ("kind", s(&entry.kind)),
                ("location", s(&entry.location)),
                ("origin", s(origin)),
                ("stale_passes", n(u64::from(entry.stale_passes))),
            ]);
            attributes.extend(entry.last_seen.map(|t| ("last_seen", n(t))));
        }
        LedgerItem::Verified(v) => {
            attributes.extend([("want", s(&v.want)), ("seen_at", n(v.seen_at))]);
        }
        LedgerItem::Pass {
            last_pass_at,
            sweep,
        } => {
            attributes.extend(last_pass_at.map(|t| ("last_pass_at", n(t))));
            attributes.extend(
                sweep
                    .log_groups
                    .as_deref()
                    .map(|c| ("sweep_log_groups", s(c))),
            );
            attributes.extend(sweep.buckets.as_deref().map(|c| ("sweep_buckets", s(c))));
        }
    }
    attributes
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn from_item(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Option<(String, LedgerItem)> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let n = |name: &str| -> Option<u64> { item.get(name)?.as_n().ok()?.parse().ok() };
    let key = s("sk")?;
    if let Some(want) = s("want") {
        let seen_at = n("seen_at")?;
        return Some((key, LedgerItem::Verified(Verified { want, seen_at })));
    }
    if s("kind").is_none() {
        let sweep = SweepCursors {
            log_groups: s("sweep_log_groups"),
            buckets: s("sweep_buckets"),
        };
        let last_pass_at = n("last_pass_at");
        return Some((
            key,
            LedgerItem::Pass {
                last_pass_at,
                sweep,
            },
        ));
    }
    let origin = match s("origin")?.as_str() {
        "created" => Origin::Created,
        _ => Origin::Found,
    };
    let stale_passes = u32::try_from(n("stale_passes")?).ok()?;
    Some((
        key,
        LedgerItem::Trigger(LedgerEntry {
            kind: s("kind")?,
            location: s("location")?,
            origin,
            stale_passes,
            last_seen: n("last_seen"),
        }),
    ))
}
