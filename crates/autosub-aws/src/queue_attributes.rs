//! The settings of event-driven mode's SQS queue that decide whether events reach it and what
//! happens to those autosub cannot handle: its ARN, redrive policy, resource policy and
//! encryption (GetQueueAttributes). `autosub doctor` reads them; the follower in
//! [`crate::queue`] never needs them.

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;

/// Where a queue sends a message after too many receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    /// The dead-letter queue's ARN (empty when the policy names none).
    pub dead_letter_arn: String,
    /// Receives after which a message moves there (`None` when the policy does not say).
    pub max_receives: Option<u32>,
}

/// How a queue's messages are encrypted at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueEncryption {
    /// SSE-SQS: keys SQS owns.
    SqsManaged,
    /// SSE-KMS with this key (an id, ARN or alias such as `alias/aws/sqs`).
    Kms(String),
    /// Not encrypted.
    None,
}

/// A queue's settings, as GetQueueAttributes gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueAttributes {
    /// The queue's ARN.
    pub arn: String,
    /// Its redrive policy, when it has one.
    pub redrive: Option<Redrive>,
    /// Its resource policy (JSON text), when it has one.
    pub policy: Option<String>,
    /// Its encryption at rest.
    pub encryption: QueueEncryption,
}

/// Reads one queue's settings.
#[async_trait]
pub trait QueueAttributesApi: Send + Sync {
    /// The queue's settings; a queue that does not exist is [`ErrorClass::NotFound`].
    async fn attributes(&self) -> Result<QueueAttributes, AwsError>;
}

/// [`QueueAttributesApi`] through the SDK.
pub(crate) struct SdkQueueAttributes {
    pub(crate) client: aws_sdk_sqs::Client,
    pub(crate) url: String,
}

/// SQS's codes for "no such queue" (JSON and query protocols); the shared table does not know
/// them because no other service uses them.
const NO_SUCH_QUEUE: [&str; 2] = [
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

#[async_trait]
impl QueueAttributesApi for SdkQueueAttributes {
    async fn attributes(&self) -> Result<QueueAttributes, AwsError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .attribute_names(QueueAttributeName::Policy)
            .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
            .attribute_names(QueueAttributeName::KmsMasterKeyId)
            .send()
            .await
            .map_err(|e| {
                let mut e = aws_error("sqs:GetQueueAttributes", e);
                if e.code
                    .as_deref()
                    .is_some_and(|c| NO_SUCH_QUEUE.contains(&c))
                {
                    e.class = ErrorClass::NotFound;
                }
                e
            })?;
        let get = |name: QueueAttributeName| -> Option<String> {
            out.attributes()
                .and_then(|a| a.get(&name))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let encryption = match (
            get(QueueAttributeName::KmsMasterKeyId),
            get(QueueAttributeName::SqsManagedSseEnabled),
        ) {
            (Some(key), _) => QueueEncryption::Kms(key),
            (None, Some(on)) if on.eq_ignore_ascii_case("true") => QueueEncryption::SqsManaged,
            _ => QueueEncryption::None,
        };
        Ok(QueueAttributes {
            arn: get(QueueAttributeName::QueueArn).unwrap_or_default(),
            redrive: get(QueueAttributeName::RedrivePolicy).map(|p| redrive(&p)),
            policy: get(QueueAttributeName::Policy),
            encryption,
        })
    }
}

/// Reads a `RedrivePolicy` (`{"deadLetterTargetArn": …, "maxReceiveCount": …}`; the count is a
/// number or a string, depending on who wrote it).
fn redrive(policy: &str) -> Redrive {
    let value: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    let max_receives = match &value["maxReceiveCount"] {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    Redrive {
        dead_letter_arn: value["deadLetterTargetArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        max_receives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_policy_is_read_whether_its_count_is_a_number_or_a_string() {
        let arn = "arn:aws:sqs:eu-west-1:111111111111:autosub-events-dlq";
        for text in [
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"5"}}"#),
        ] {
            assert_eq!(
                redrive(&text),
                Redrive {
                    dead_letter_arn: arn.to_owned(),
                    max_receives: Some(5)
                }
            );
        }
        assert_eq!(
            redrive("not json"),
            Redrive {
                dead_letter_arn: String::new(),
                max_receives: None
            }
        );
    }
}
