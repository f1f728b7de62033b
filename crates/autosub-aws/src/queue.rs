//! The SQS queue event-driven mode follows: long-polled receives, deletes after the targeted
//! pass, and releases (visibility 0) that hand a message back for redelivery, so that after the
//! queue's `maxReceiveCount` SQS moves it to the dead-letter queue.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

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
    /// Up to 10 messages, waiting up to `wait` (at most 20 s) for the first.
    async fn receive(&self, wait: Duration) -> Result<Vec<QueueMessage>, AwsError>;
    /// Deletes the receipts (10 a call); a receipt that expired is not an error.
    async fn delete(&self, receipts: &[String]) -> Result<(), AwsError>;
    /// Hands a message back at once (visibility 0), to be received again or dead-lettered.
    async fn release(&self, receipt: &str) -> Result<(), AwsError>;
}

/// [`QueueApi`] through the SDK.
pub(crate) struct SdkQueue {
    pub(crate) client: aws_sdk_sqs::Client,
    pub(crate) url: String,
}

#[async_trait]
impl QueueApi for SdkQueue {
    async fn receive(&self, wait: Duration) -> Result<Vec<QueueMessage>, AwsError> {
        let wait_secs = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
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
                        .map_err(|e| AwsError {
                            class: ErrorClass::Invalid,
                            operation: "sqs:DeleteMessageBatch",
                            code: None,
                            message: e.to_string(),
                        })
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

    async fn release(&self, receipt: &str) -> Result<(), AwsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| aws_error("sqs:ChangeMessageVisibility", e))?;
        Ok(())
    }
}
