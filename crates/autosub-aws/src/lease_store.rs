//! The lease table: one DynamoDB item per leased name, taken and kept with conditional writes.
//!
//! A lease named `<account>/<region>` is the item `pk = "lease/<account>/<region>"`,
//! `sk = "lease"`, so it can share the ledger's table (whose partitions are `<account>/<region>`
//! without the prefix). Its attributes are `owner` (absent once released), `expires_at_ms`
//! (wall-clock milliseconds since the Unix epoch) and `fencing`, a counter that grows on every
//! grant so a stale holder can be told from the current one. The item is never deleted, so the
//! counter never restarts.
//!
//! Every operation is one conditional `UpdateItem`: DynamoDB evaluates the condition and the
//! write atomically, so two replicas racing for the same name get exactly one grant. An item
//! whose expiry lies further ahead than any owner takes a lease (forged, or corrupt) counts as
//! lapsed: it is taken over by a second `UpdateItem` conditional on the item exactly as it was
//! read (owner, expiry and token), so of two replicas that both read it only one takes it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;

/// Another owner's lease, as the table holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The holder's owner id.
    pub owner: String,
    /// When its lease lapses unless renewed (wall-clock ms since the Unix epoch).
    pub expires_at_ms: u64,
}

/// The outcome of [`LeaseTable::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The caller holds the lease until `expires_at_ms`, under token `fencing`.
    Granted {
        /// Higher than every token granted before for this name.
        fencing: u64,
        /// When the lease lapses unless renewed (wall-clock ms since the Unix epoch).
        expires_at_ms: u64,
        /// The owner whose unlapsed lease this grant took over because its expiry lay more than
        /// `max_ahead` past `now_ms` (a forged or corrupt item); `None` when the lease was free,
        /// lapsed or the caller's own.
        took_over: Option<Holder>,
    },
    /// Someone else holds an unexpired lease.
    Held {
        /// The holder's owner id.
        owner: String,
        /// When its lease lapses unless renewed (wall-clock ms since the Unix epoch).
        expires_at_ms: u64,
    },
}

/// The outcome of [`LeaseTable::renew`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewed {
    /// The lease now lapses at `expires_at_ms`.
    Until {
        /// Wall-clock ms since the Unix epoch.
        expires_at_ms: u64,
    },
    /// The caller no longer holds this grant: it was released, or taken over after it lapsed.
    Lost,
}

/// Leases by name, each held by at most one owner at a time.
#[async_trait]
pub trait LeaseTable: Send + Sync {
    /// Grants `name` to `owner` for `duration` from `now_ms` when it is free, lapsed
    /// (`expires_at_ms < now_ms`) or already `owner`'s; a new grant always gets a higher fencing
    /// token, even for the same owner. A lease whose expiry lies more than `max_ahead` past
    /// `now_ms` was taken by no owner (none takes a lease that long): it counts as lapsed, and is
    /// taken over only if the item is still exactly as read (`took_over` in [`Acquired::Granted`]).
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: u64,
        duration: Duration,
        max_ahead: Duration,
    ) -> Result<Acquired, AwsError>;
    /// Extends the grant `(owner, fencing)` to `now_ms + duration`; [`Renewed::Lost`] when the
    /// item no longer carries that owner and token.
    async fn renew(
        &self,
        name: &str,
        owner: &str,
        fencing: u64,
        now_ms: u64,
        duration: Duration,
    ) -> Result<Renewed, AwsError>;
    /// Gives the grant `(owner, fencing)` up so another owner can take it at once; a grant that
    /// was already lost is fine.
    async fn release(&self, name: &str, owner: &str, fencing: u64) -> Result<(), AwsError>;
    /// Where the leases live, for logs and errors.
    fn location(&self) -> String;
}

/// The lease table through the SDK.
pub(crate) struct SdkLeaseTable {
    pub(crate) client: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
    pub(crate) region: String,
}

/// The sort key of every lease item.
const SORT_KEY: &str = "lease";

/// Attempts at acquiring when the item changes between a failed condition and the read.
const ACQUIRE_ATTEMPTS: u32 = 3;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn until(now_ms: u64, duration: Duration) -> u64 {
    let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    now_ms.saturating_add(millis)
}

impl SdkLeaseTable {
    fn pk(name: &str) -> AttributeValue {
        s(&format!("lease/{name}"))
    }

    /// An UpdateItem of the lease `name` that only succeeds while `owner` holds it with `fencing`.
    fn update_if_held(&self, name: &str, owner: &str, fencing: u64) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(name))
            .key("sk", s(SORT_KEY))
            .condition_expression("#owner = :me AND fencing = :token")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":token", n(fencing))
    }

    fn malformed(&self, operation: &'static str, name: &str) -> AwsError {
        AwsError {
            class: ErrorClass::Invalid,
            operation,
            code: None,
            message: format!(
                "the lease item of {name} in table {} is not a lease (owner, expires_at_ms, fencing)",
                self.table
            ),
        }
    }

    /// The lease item as a failed acquire found it: from the failure when DynamoDB returned
    /// it, else read afresh. `None`: there is no holder (released, or the item is gone).
    async fn holder(
        &self,
        name: &str,
        returned: Option<&HashMap<String, AttributeValue>>,
    ) -> Result<Option<Seen>, AwsError> {
        const OP: &str = "dynamodb:GetItem";
        if let Some(seen) = returned.and_then(Seen::of) {
            return Ok(Some(seen));
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(name))
            .key("sk", s(SORT_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        Ok(out.item().and_then(Seen::of))
    }

    /// Grants `name` to `owner` until `expires_at_ms` if the item still is exactly `seen`
    /// (owner, expiry, token); `None` when it changed since (renewed, released or taken).
    async fn take_over(
        &self,
        name: &str,
        owner: &str,
        seen: &Seen,
        expires_at_ms: u64,
    ) -> Result<Option<u64>, AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(name))
            .key("sk", s(SORT_KEY))
            .update_expression("SET #owner = :me, expires_at_ms = :exp ADD fencing :one")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":them", s(&seen.holder.owner))
            .expression_attribute_values(":seen_exp", n(seen.holder.expires_at_ms))
            .expression_attribute_values(":exp", n(expires_at_ms))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        let update = match seen.fencing {
            Some(fencing) => update
                .condition_expression(
                    "#owner = :them AND expires_at_ms = :seen_exp AND fencing = :seen_token",
                )
                .expression_attribute_values(":seen_token", n(fencing)),
            None => update.condition_expression(
                "#owner = :them AND expires_at_ms = :seen_exp AND attribute_not_exists(fencing)",
            ),
        };
        match update.send().await {
            Ok(out) => out
                .attributes()
                .and_then(|item| number(item, "fencing"))
                .map(Some)
                .ok_or_else(|| self.malformed(OP, name)),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(None),
                _ => Err(aws_error(OP, err)),
            },
        }
    }
}

/// A held lease item as read: its holder and token.
struct Seen {
    holder: Holder,
    fencing: Option<u64>,
}

impl Seen {
    fn of(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        Some(Self {
            holder: Holder {
                owner: item.get("owner")?.as_s().ok()?.clone(),
                expires_at_ms: number(item, "expires_at_ms")?,
            },
            fencing: number(item, "fencing"),
        })
    }
}

#[async_trait]
impl LeaseTable for SdkLeaseTable {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now_ms: u64,
        duration: Duration,
        max_ahead: Duration,
    ) -> Result<Acquired, AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let expires_at_ms = until(now_ms, duration);
        let absurd_after_ms = until(now_ms, max_ahead);
        for _ in 0..ACQUIRE_ATTEMPTS {
            let reply = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", Self::pk(name))
                .key("sk", s(SORT_KEY))
                .condition_expression(
                    "attribute_not_exists(pk) OR expires_at_ms < :now OR #owner = :me",
                )
                .update_expression("SET #owner = :me, expires_at_ms = :exp ADD fencing :one")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":me", s(owner))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":exp", n(expires_at_ms))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match reply {
                Ok(out) => {
                    let fencing = out
                        .attributes()
                        .and_then(|item| number(item, "fencing"))
                        .ok_or_else(|| self.malformed(OP, name))?;
                    return Ok(Acquired::Granted {
                        fencing,
                        expires_at_ms,
                        took_over: None,
                    });
                }
                Err(err) => err,
            };
            let failed = match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed,
                _ => return Err(aws_error(OP, err)),
            };
            // DynamoDB returns the old item with the failure; it is read when it was not.
            let Some(seen) = self.holder(name, failed.item()).await? else {
                // Released or gone between the write and the read: try again.
                continue;
            };
            if seen.holder.expires_at_ms <= absurd_after_ms {
                return Ok(Acquired::Held {
                    owner: seen.holder.owner,
                    expires_at_ms: seen.holder.expires_at_ms,
                });
            }
            // No owner takes a lease this long: take it over, unless it changed since it was
            // read (then look again).
            if let Some(fencing) = self.take_over(name, owner, &seen, expires_at_ms).await? {
                return Ok(Acquired::Granted {
                    fencing,
                    expires_at_ms,
                    took_over: Some(seen.holder),
                });
            }
        }
        Err(AwsError {
            class: ErrorClass::Conflict,
            operation: OP,
            code: None,
            message: format!(
                "the lease of {name} in table {} changed under {ACQUIRE_ATTEMPTS} attempts in a row",
                self.table
            ),
        })
    }

    async fn renew(
        &self,
        name: &str,
        owner: &str,
        fencing: u64,
        now_ms: u64,
        duration: Duration,
    ) -> Result<Renewed, AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let expires_at_ms = until(now_ms, duration);
        let reply = self
            .update_if_held(name, owner, fencing)
            .update_expression("SET expires_at_ms = :exp")
            .expression_attribute_values(":exp", n(expires_at_ms))
            .send()
            .await;
        match reply {
            Ok(_) => Ok(Renewed::Until { expires_at_ms }),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(Renewed::Lost),
                _ => Err(aws_error(OP, err)),
            },
        }
    }

    async fn release(&self, name: &str, owner: &str, fencing: u64) -> Result<(), AwsError> {
        const OP: &str = "dynamodb:UpdateItem";
        let reply = self
            .update_if_held(name, owner, fencing)
            .update_expression("SET expires_at_ms = :zero REMOVE #owner")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match reply {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                // Already lost: nothing of ours to give up.
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(aws_error(OP, err)),
            },
        }
    }

    fn location(&self) -> String {
        format!("dynamodb table {} in {}", self.table, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_saturates() {
        assert_eq!(until(1_000, Duration::from_secs(2)), 3_000);
        assert_eq!(until(u64::MAX - 1, Duration::from_secs(2)), u64::MAX);
    }
}
