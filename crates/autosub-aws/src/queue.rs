//! The SQS queue event-driven mode follows: long-polled receives that hide each message for as
//! long as the receiver says, visibility changes that keep it hidden while its pass runs or hand
//! it back (visibility 0) for redelivery, so that after the queue's `maxReceiveCount` SQS moves
//! it to the dead-letter queue, and deletes after the targeted pass.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};

use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMessage {
    /// The message id.
    pub id: String,
    /// The handle that deletes or releases this receipt of it.
    pub receipt: String,
    /// The body (an EventBridge event, as JSON).
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// The queue's calls.
#[async_trait]
pub trait QueueApi: Send + Sync {
    /// Up to 10 messages, waiting up to `wait` (at most 20 s) for the first; each is hidden
    /// from other receives for `hide` (whole seconds, at most 12 h).
    async fn receive(&self, wait: Duration, hide: Duration) -> Result<Vec<QueueMessage>, AwsError>;
    /// Deletes the receipts (10 a call); a receipt that expired is not an error.
    async fn delete(&self, receipts: &[String]) -> Result<(), AwsError>;
    /// Hides the receipts' messages for `hide` from now (10 a call): zero hands them back at
    /// once, to be received again or dead-lettered. A receipt that expired is not an error.
    async fn hide(&self, receipts: &[String], hide: Duration) -> Result<(), AwsError>;
}

/// [`QueueApi`] through the SDK.
pub(crate) struct SdkQueue {
    pub(crate) client: aws_sdk_sqs::Client,
    pub(crate) url: String,
}

#[async_trait]
impl QueueApi for SdkQueue {
    async fn receive(&self, wait: Duration, hide: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(seconds(wait, 20))
            .visibility_timeout(seconds(hide, MAX_HIDE_SECS))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| aws_error("sqs:ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(QueueMessage {
                    id: m.message_id()?.to_owned(),
                    receipt: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    receive_count: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), AwsError> {
        for batch in receipts.chunks(10) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| invalid_entry("sqs:DeleteMessageBatch", &e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_error("sqs:DeleteMessageBatch", e))?;
            // An entry fails alone when its receipt expired: the message comes back and is
            // handled again, which a level-triggered pass makes harmless.
            for failed in out.failed() {
                tracing::warn!(code = failed.code(), message = ?failed.message(), "a message was not deleted; it will be received again");
            }
        }
        Ok(())
    }

    async fn hide(&self, receipts: &[String], hide: Duration) -> Result<(), AwsError> {
        for batch in receipts.chunks(10) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(seconds(hide, MAX_HIDE_SECS))
                        .build()
                        .map_err(|e| invalid_entry("sqs:ChangeMessageVisibilityBatch", &e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_error("sqs:ChangeMessageVisibilityBatch", e))?;
            // An entry fails alone when its receipt expired (the message was received again):
            // whoever holds it now decides.
            for failed in out.failed() {
                tracing::debug!(code = failed.code(), message = ?failed.message(), "a message's visibility was not changed");
            }
        }
        Ok(())
    }
}

/// The longest SQS lets a message stay hidden: 12 hours.
const MAX_HIDE_SECS: i32 = 43_200;

/// `d` in whole seconds for SQS, at most `max`.
fn seconds(d: Duration, max: i32) -> i32 {
    i32::try_from(d.as_secs()).map_or(max, |s| s.min(max))
}

fn invalid_entry(operation: &'static str, e: &dyn std::fmt::Display) -> AwsError {
    AwsError {
        class: ErrorClass::Invalid,
        operation,
        code: None,
        message: e.to_string(),
    }
}
