//! S3 (restXml, path-style): buckets with their region, owner, logging, tags and notification
//! configuration.

use std::collections::{BTreeMap, VecDeque};

use super::proto::{Reply, Request, XmlErrors, xml_error, xml_escape};
use super::{Caller, State, lambda};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The header S3 names a bucket's region in.
const REGION_HEADER: &str = "x-amz-bucket-region";

/// A bucket in the fake (bucket names are global).
#[derive(Debug, Default)]
pub(super) struct Bucket {
    pub(super) owner: String,
    pub(super) region: String,
    /// Server access logging: (target bucket, target prefix).
    pub(super) logging: Option<(String, String)>,
    /// The notification configuration XML, verbatim as last put.
    pub(super) notification: Option<String>,
    pub(super) tags: BTreeMap<String, String>,
    /// Another writer's configurations, each landing right after one of the next puts.
    pub(super) overtaking_writes: VecDeque<String>,
    /// How many reads after the next put still answer the configuration from before it (S3's
    /// bucket configuration is eventually consistent).
    pub(super) stale_reads_after_put: u32,
    /// After that put: the reads left that answer the old configuration, and that configuration.
    pub(super) stale_view: Option<(u32, Option<String>)>,
}

/// The S3 operations the fake serves.
pub(super) enum Op {
    ListBuckets,
    /// An operation on the named bucket.
    Bucket(String, BucketOp),
    Unknown(String),
}

/// The bucket operations the fake serves.
pub(super) enum BucketOp {
    Head,
    GetLogging,
    GetNotification,
    PutNotification,
    GetTagging,
}

impl Op {
    pub(super) fn of(req: &Request) -> Op {
        let segments = req.segments();
        let method = req.method.as_str();
        let op = match (&segments[..], method) {
            ([], "GET") => return Op::ListBuckets,
            ([_], "HEAD") => BucketOp::Head,
            ([_], "GET") if req.has_param("logging") => BucketOp::GetLogging,
            ([_], "GET") if req.has_param("notification") => BucketOp::GetNotification,
            ([_], "PUT") if req.has_param("notification") => BucketOp::PutNotification,
            ([_], "GET") if req.has_param("tagging") => BucketOp::GetTagging,
            _ => return Op::Unknown(format!("{method} {}", req.path)),
        };
        Op::Bucket(segments[0].clone(), op)
    }

    pub(super) fn api(&self) -> &'static str {
        match self {
            Op::ListBuckets => "s3:ListBuckets",
            Op::Bucket(_, BucketOp::Head) => "s3:HeadBucket",
            Op::Bucket(_, BucketOp::GetLogging) => "s3:GetBucketLogging",
            Op::Bucket(_, BucketOp::GetNotification) => "s3:GetBucketNotificationConfiguration",
            Op::Bucket(_, BucketOp::PutNotification) => "s3:PutBucketNotificationConfiguration",
            Op::Bucket(_, BucketOp::GetTagging) => "s3:GetBucketTagging",
            Op::Unknown(_) => "s3:unknown",
        }
    }
}

pub(super) fn error(status: u16, code: &str, message: &str) -> Reply {
    xml_error(XmlErrors::Unwrapped, status, code, message)
}

pub(super) fn handle(state: &mut State, caller: &Caller, op: Op, req: &Request) -> Reply {
    let (name, op) = match op {
        Op::ListBuckets => return list_buckets(state, caller, req),
        Op::Bucket(name, op) => (name, op),
        Op::Unknown(what) => {
            return error(
                400,
                "NotImplemented",
                &format!("the fake AWS does not implement s3 {what}"),
            );
        }
    };
    let Some(bucket) = state.buckets.get(&name) else {
        return error(404, "NoSuchBucket", "The specified bucket does not exist");
    };
    let region = bucket.region.clone();
    if bucket.owner != caller.account {
        return error(403, "AccessDenied", "Access Denied").header(REGION_HEADER, region);
    }
    // S3 answers a wrong ExpectedBucketOwner with 403. The check beyond S3: autosub sends it
    // on every call but the region lookup, so a call without it is refused here.
    match (&op, req.expected_bucket_owner.as_deref()) {
        (BucketOp::Head, _) => {}
        (_, Some(owner)) if owner == bucket.owner => {}
        (_, Some(_)) => return error(403, "AccessDenied", "Access Denied"),
        (_, None) => {
            return error(
                400,
                "MissingExpectedBucketOwner",
                "the fake AWS requires ExpectedBucketOwner on every bucket call but HeadBucket",
            );
        }
    }
    if region != caller.region {
        return error(
            301,
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint.",
        )
        .header(REGION_HEADER, region);
    }
    match op {
        BucketOp::Head => Reply::empty(200).header(REGION_HEADER, region),
        BucketOp::GetLogging => {
            let inner = bucket.logging.as_ref().map_or(String::new(), |(target, prefix)| {
                format!(
                    "<LoggingEnabled><TargetBucket>{}</TargetBucket><TargetPrefix>{}</TargetPrefix></LoggingEnabled>",
                    xml_escape(target),
                    xml_escape(prefix)
                )
            });
            Reply::xml(
                200,
                format!("<BucketLoggingStatus xmlns=\"{NS}\">{inner}</BucketLoggingStatus>"),
            )
        }
        BucketOp::GetTagging if bucket.tags.is_empty() => {
            error(404, "NoSuchTagSet", "The TagSet does not exist")
        }
        BucketOp::GetTagging => {
            let tags: String = bucket
                .tags
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        xml_escape(k),
                        xml_escape(v)
                    )
                })
                .collect();
            Reply::xml(
                200,
                format!("<Tagging xmlns=\"{NS}\"><TagSet>{tags}</TagSet></Tagging>"),
            )
        }
        BucketOp::GetNotification => {
            let bucket = state.buckets.get_mut(&name).expect("looked up above");
            let shown = match bucket.stale_view.take() {
                Some((left, before)) => {
                    if left > 1 {
                        bucket.stale_view = Some((left - 1, before.clone()));
                    }
                    before
                }
                None => bucket.notification.clone(),
            };
            Reply::xml(
                200,
                shown.unwrap_or_else(|| {
                    format!(
                        "<NotificationConfiguration xmlns=\"{NS}\"></NotificationConfiguration>"
                    )
                }),
            )
        }
        BucketOp::PutNotification => {
            let xml = String::from_utf8_lossy(&req.body).into_owned();
            if !xml.contains("<NotificationConfiguration") {
                return error(
                    400,
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema",
                );
            }
            // S3 validates Lambda destinations at put time: same region, invoke permission.
            let unvalidated: Vec<&str> = cloud_functions(&xml)
                .filter(|arn| !lambda_allows_s3(state, arn, &region))
                .collect();
            if !unvalidated.is_empty() {
                return error(
                    400,
                    "InvalidArgument",
                    &format!(
                        "Unable to validate the following destination configurations: {}",
                        unvalidated.join(", ")
                    ),
                );
            }
            if let Some(bucket) = state.buckets.get_mut(&name) {
                if bucket.stale_reads_after_put > 0 {
                    let before = bucket.notification.clone();
                    bucket.stale_view = Some((bucket.stale_reads_after_put, before));
                    bucket.stale_reads_after_put = 0;
                }
                bucket.notification = Some(xml);
                if let Some(theirs) = bucket.overtaking_writes.pop_front() {
                    bucket.notification = Some(theirs);
                }
            }
            Reply::empty(200)
        }
    }
}

fn list_buckets(state: &State, caller: &Caller, req: &Request) -> Reply {
    // Sending max-buckets makes S3 paginate and name each bucket's region.
    let max: Option<usize> = req.param("max-buckets").and_then(|n| n.parse().ok());
    let after = req.param("continuation-token").unwrap_or_default();
    let mut owned = state
        .buckets
        .iter()
        .filter(|(name, b)| b.owner == caller.account && name.as_str() > after);
    let page: Vec<_> = owned.by_ref().take(max.unwrap_or(usize::MAX)).collect();
    let buckets: String = page
        .iter()
        .map(|(name, b)| {
            let region = max
                .map(|_| format!("<BucketRegion>{}</BucketRegion>", b.region))
                .unwrap_or_default();
            format!(
                "<Bucket><Name>{}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate>{region}</Bucket>",
                xml_escape(name)
            )
        })
        .collect();
    let token = match page.last() {
        Some((last, _)) if owned.next().is_some() => {
            format!(
                "<ContinuationToken>{}</ContinuationToken>",
                xml_escape(last)
            )
        }
        _ => String::new(),
    };
    Reply::xml(
        200,
        format!(
            "<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner><ID>{}</ID></Owner><Buckets>{buckets}</Buckets>{token}</ListAllMyBucketsResult>",
            caller.account
        ),
    )
}

/// The `<CloudFunction>` ARNs of a notification configuration's Lambda entries.
fn cloud_functions(xml: &str) -> impl Iterator<Item = &str> {
    xml.split("<CloudFunction>").skip(1).filter_map(|rest| {
        rest.split_once("</CloudFunction>")
            .map(|(arn, _)| arn.trim())
    })
}

/// True when the function `arn` is in `region` and lets S3 invoke it (any account).
fn lambda_allows_s3(state: &State, arn: &str, region: &str) -> bool {
    let [_, _, "lambda", fn_region, account, "function", ..] =
        arn.split(':').collect::<Vec<_>>()[..]
    else {
        return false;
    };
    let owner = Caller {
        account: account.to_owned(),
        region: fn_region.to_owned(),
    };
    fn_region == region
        && state
            .targets
            .get(&(owner.account.clone(), owner.region.clone()))
            .and_then(|t| lambda::local_function(&t.functions, &owner, arn))
            .is_some_and(|f| f.allows(region, "s3.amazonaws.com"))
}
