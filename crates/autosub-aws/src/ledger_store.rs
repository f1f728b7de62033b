//! Where a durable ledger lives in AWS: one S3 object, or a DynamoDB table with one item per
//! trigger, verified location and pass record (`pk` = the target, `sk` = the item's key, see
//! `autosub_core::ledger::LedgerItem`).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use autosub_core::BucketName;
use autosub_core::ledger::{LedgerEntry, LedgerItem, Origin, SweepCursors, Verified};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, stream};

use crate::apis::S3Api;
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
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
    /// Writes each change of `partition` only if its item is still as `before` says (absent
    /// when `None`): a conditional PutItem or DeleteItem each. An item another writer changed
    /// since is left as that writer left it; the keys of those are returned.
    async fn write(&self, partition: &str, changes: &[ItemChange])
    -> Result<Vec<String>, AwsError>;
}

/// One item to put (`after`) or delete (`after: None`), and what it held when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemChange {
    /// The sort key.
    pub key: String,
    /// The item as read; `None` when it did not exist.
    pub before: Option<LedgerItem>,
    /// The item to write; `None` deletes it.
    pub after: Option<LedgerItem>,
}

/// Every attribute a ledger item can hold besides its keys, for conditions on absent ones.
const ITEM_ATTRIBUTES: [&str; 11] = [
    "kind",
    "location",
    "origin",
    "stale_passes",
    "last_seen",
    "want",
    "seen_at",
    "last_pass_at",
    "sweep_log_groups",
    "sweep_buckets",
    "sk",
];

/// Conditional writes in flight at once.
const WRITE_CONCURRENCY: usize = 8;

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
        changes: &[ItemChange],
    ) -> Result<Vec<String>, AwsError> {
        let writes: Vec<_> = changes
            .iter()
            .map(|change| self.write_one(partition, change))
            .collect();
        let results: Vec<Result<Option<String>, AwsError>> = stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        let mut overtaken = Vec::new();
        for result in results {
            overtaken.extend(result?);
        }
        overtaken.sort();
        Ok(overtaken)
    }
}

impl SdkLedgerTable {
    /// One conditional write; `Some(key)` when another writer changed the item first.
    async fn write_one(
        &self,
        partition: &str,
        change: &ItemChange,
    ) -> Result<Option<String>, AwsError> {
        let (condition, names, values) = unchanged(partition, &change.key, change.before.as_ref());
        let sent = match &change.after {
            Some(item) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(partition, &change.key, item)))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("dynamodb:PutItem", e)),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(partition.to_owned()))
                .key("sk", AttributeValue::S(change.key.clone()))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values((!values.is_empty()).then_some(values))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("dynamodb:DeleteItem", e)),
        };
        match sent {
            Ok(()) => Ok(None),
            Err(e) if e.code.as_deref() == Some("ConditionalCheckFailedException") => {
                Ok(Some(change.key.clone()))
            }
            Err(e) => Err(e),
        }
    }
}

/// The condition that the item at `key` still holds `before`: every attribute equal, every
/// other attribute absent; or, for `None`, that there is no item.
fn unchanged(
    partition: &str,
    key: &str,
    before: Option<&LedgerItem>,
) -> (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let Some(before) = before else {
        names.insert("#sk".to_owned(), "sk".to_owned());
        return ("attribute_not_exists(#sk)".to_owned(), names, values);
    };
    let held = to_item(partition, key, before);
    let mut terms = Vec::new();
    for (i, attribute) in ITEM_ATTRIBUTES.iter().enumerate() {
        let name = format!("#a{i}");
        names.insert(name.clone(), (*attribute).to_owned());
        match held.get(*attribute) {
            Some(value) => {
                let placeholder = format!(":v{i}");
                terms.push(format!("{name} = {placeholder}"));
                values.insert(placeholder, value.clone());
            }
            None => terms.push(format!("attribute_not_exists({name})")),
        }
    }
    (terms.join(" AND "), names, values)
}

fn to_item(partition: &str, key: &str, item: &LedgerItem) -> HashMap<String, AttributeValue> {
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

fn from_item(item: &HashMap<String, AttributeValue>) -> Option<(String, LedgerItem)> {
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
