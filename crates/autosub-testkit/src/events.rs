//! The plumbing of event-driven mode on moto: the queue autosub follows (with a dead-letter
//! queue behind it), the EventBridge rule that sends it CloudTrail events, and CloudTrail-shaped
//! events put on the default bus (moto's CloudTrail emits none).

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::estate::{SeedError, seed_err};

/// The queues and rule [`create`] made.
#[derive(Clone, Debug)]
pub struct EventPlumbing {
    /// The URL of the queue autosub follows.
    pub queue_url: String,
    /// The URL of its dead-letter queue.
    pub dlq_url: String,
}

/// Creates the queue `name` (and `<name>-dlq` behind it after `max_receives` receives) and a
/// rule on the default bus matching `pattern` that targets it.
pub async fn create(
    sdk: &SdkConfig,
    name: &str,
    pattern: &Value,
    max_receives: u32,
) -> Result<EventPlumbing, SeedError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(seed_err("create queue", &format!("{name}-dlq")))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(seed_err("create queue", name))?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = queue_arn(&sqs, &queue_url).await?;
    let events = aws_sdk_eventbridge::Client::new(sdk);
    events
        .put_rule()
        .name(name)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(seed_err("put rule", name))?;
    events
        .put_targets()
        .rule(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("autosub-queue")
                .arn(queue_arn)
                .build()
                .map_err(seed_err("put targets", name))?,
        )
        .send()
        .await
        .map_err(seed_err("put targets", name))?;
    Ok(EventPlumbing { queue_url, dlq_url })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, SeedError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(seed_err("get queue attributes", url))?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default())
}

/// Puts a CloudTrail management event of `account` on the default bus, as CloudTrail would:
/// `source` (`lambda.amazonaws.com`), `event_name` and the call's `request` parameters.
pub async fn put_cloudtrail_event(
    sdk: &SdkConfig,
    account: &str,
    source: &str,
    event_name: &str,
    request: Value,
) -> Result<(), SeedError> {
    let short = source.split('.').next().unwrap_or(source);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let detail = cloudtrail_detail(account, &region, source, event_name, request);
    let out = aws_sdk_eventbridge::Client::new(sdk)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(format!("aws.{short}"))
                .detail_type("AWS API Call via CloudTrail")
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("put events", event_name))?;
    if out.failed_entry_count() > 0 {
        return Err(seed_err("put events", event_name)(format!(
            "refused: {:?}",
            out.entries()
        )));
    }
    Ok(())
}

/// The `detail` of a CloudTrail management event, as CloudTrail records a successful call.
fn cloudtrail_detail(
    account: &str,
    region: &str,
    source: &str,
    event_name: &str,
    request: Value,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": region,
        "recipientAccountId": account,
        "requestParameters": request,
        "eventType": "AwsApiCall",
        "managementEvent": true,
    })
}

/// The SQS message body EventBridge delivers for a CloudTrail management event: the whole
/// envelope (`account`, `region`, `detail-type`, `detail`), for a queue fed without a rule.
pub fn cloudtrail_message(
    account: &str,
    region: &str,
    source: &str,
    event_name: &str,
    request: Value,
) -> String {
    let short = source.split('.').next().unwrap_or(source);
    json!({
        "version": "0",
        "id": format!("{account}-{region}-{event_name}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{short}"),
        "account": account,
        "time": "2026-12-05T00:00:00Z",
        "region": region,
        "resources": [],
        "detail": cloudtrail_detail(account, region, source, event_name, request),
    })
    .to_string()
}

/// Sends `body` straight to the queue (a message no rule would send).
pub async fn send_raw(sdk: &SdkConfig, queue_url: &str, body: &str) -> Result<(), SeedError> {
    aws_sdk_sqs::Client::new(sdk)
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(seed_err("send message", queue_url))?;
    Ok(())
}

/// How many messages the queue at `url` holds (visible or in flight).
pub async fn depth(sdk: &SdkConfig, url: &str) -> Result<u64, SeedError> {
    let out = aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(seed_err("get queue attributes", url))?;
    Ok(out
        .attributes()
        .into_iter()
        .flat_map(|a| a.values())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum())
}
