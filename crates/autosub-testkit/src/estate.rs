//! Seeders that build an AWS estate through the real SDK (the demo estate, `demo`, is built
//! from them).
//!
//! Every seeder is safe to re-run against the same server: "already exists" is success, and
//! calls moto would happily duplicate (Lambda permissions, subscription filters) are checked
//! first. Seeding the demo estate twice into one moto therefore changes nothing the second time.

use std::io::Write;

use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_s3 as s3;
use aws_smithy_runtime_api::box_error::BoxError;

use crate::moto_account::moto_client;

/// A seeding step that failed: what we were doing, on which resource.
#[derive(Debug, thiserror::Error)]
#[error("{action} {resource}")]
pub struct SeedError {
    /// The operation, e.g. `create bucket`.
    pub action: &'static str,
    /// The resource it was applied to.
    pub resource: String,
    /// The SDK or build error.
    #[source]
    pub source: BoxError,
}

/// Wraps an error as the [`SeedError`] of `action` on `resource`, for `map_err`.
pub(crate) fn seed_err<E: Into<BoxError>>(
    action: &'static str,
    resource: &str,
) -> impl FnOnce(E) -> SeedError + use<E> {
    let resource = resource.to_owned();
    move |source| SeedError {
        action,
        resource,
        source: source.into(),
    }
}

/// SDK clients for one account and region, configured for moto (S3 path-style addressing).
#[derive(Debug, Clone)]
pub struct Clients {
    /// The account the clients act in (sent as `x-moto-account-id` unless moto's default).
    pub account: String,
    /// The region of every client.
    pub region: String,
    /// S3, path-style.
    pub s3: s3::Client,
    /// Lambda.
    pub lambda: lambda::Client,
    /// CloudWatch Logs.
    pub logs: logs::Client,
    /// IAM.
    pub iam: iam::Client,
}

impl Clients {
    /// Clients for `account` in `region`, from an SDK config that points at moto.
    ///
    /// A non-default account is reached with moto's `x-moto-account-id` header.
    pub fn new(sdk: &SdkConfig, account: &str, region: &str) -> Clients {
        Clients {
            account: account.to_owned(),
            region: region.to_owned(),
            s3: moto_client!(s3, sdk, account, region, force_path_style(true)),
            lambda: moto_client!(lambda, sdk, account, region),
            logs: moto_client!(logs, sdk, account, region),
            iam: moto_client!(iam, sdk, account, region),
        }
    }

    /// The ARN a Lambda function called `name` has in this account and region.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }

    /// The ARN of a log group called `name` in this account and region (with the trailing `:*`).
    pub fn log_group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}:*",
            self.region, self.account
        )
    }
}

// ---------------------------------------------------------------------------------------------
// IAM and Lambda

const LAMBDA_TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Creates (or finds) an IAM role Lambda can assume; returns its ARN.
pub async fn create_lambda_role(cx: &Clients, name: &str) -> Result<String, SeedError> {
    let created = cx
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(LAMBDA_TRUST_POLICY)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.role().map(|r| r.arn().to_owned()).unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            let out = cx
                .iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(seed_err("get role", name))?;
            Ok(out.role().map(|r| r.arn().to_owned()).unwrap_or_default())
        }
        Err(e) => Err(seed_err("create role", name)(e)),
    }
}

/// A zip holding `index.py` with a no-op `handler`; what every seeded function runs.
pub fn lambda_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    // Writing to an in-memory buffer cannot fail for I/O reasons.
    zip.start_file("index.py", options)
        .expect("start index.py in in-memory zip");
    zip.write_all(b"def handler(event, context):\n    return {\"ok\": True}\n")
        .expect("write index.py to in-memory zip");
    zip.finish().expect("finish in-memory zip").into_inner()
}

/// What to create with [`create_function`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The function name.
    pub name: String,
    /// The execution role ARN (must exist: moto checks).
    pub role_arn: String,
    /// A custom log group in `LoggingConfig.LogGroup` (moto ignores and never returns it).
    pub log_group: Option<String>,
}

impl FunctionSpec {
    /// A function with the default log group `/aws/lambda/<name>`.
    pub fn new(name: &str, role_arn: &str) -> FunctionSpec {
        FunctionSpec {
            name: name.to_owned(),
            role_arn: role_arn.to_owned(),
            log_group: None,
        }
    }

    /// The same function logging to a custom log group.
    pub fn with_log_group(mut self, log_group: &str) -> FunctionSpec {
        self.log_group = Some(log_group.to_owned());
        self
    }
}

/// Creates (or finds) a python3.12 function with handler `index.handler`; returns its ARN.
pub async fn create_function(cx: &Clients, spec: &FunctionSpec) -> Result<String, SeedError> {
    let code = lambda::types::FunctionCode::builder()
        .zip_file(lambda::primitives::Blob::new(lambda_zip()))
        .build();
    let logging = spec.log_group.as_ref().map(|group| {
        lambda::types::LoggingConfig::builder()
            .log_format(lambda::types::LogFormat::Text)
            .log_group(group)
            .build()
    });
    let created = cx
        .lambda
        .create_function()
        .function_name(&spec.name)
        .runtime(lambda::types::Runtime::Python312)
        .role(&spec.role_arn)
        .handler("index.handler")
        .code(code)
        .set_logging_config(logging)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out
            .function_arn()
            .map(str::to_owned)
            .unwrap_or_else(|| cx.function_arn(&spec.name))),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            Ok(cx.function_arn(&spec.name))
        }
        Err(e) => Err(seed_err("create function", &spec.name)(e)),
    }
}

/// A statement to add to a function's resource policy with [`add_lambda_permission`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSpec {
    /// The function name or ARN.
    pub function: String,
    /// The statement id (`Sid`).
    pub statement_id: String,
    /// The service principal, e.g. `logs.amazonaws.com`.
    pub principal: String,
    /// `AWS:SourceArn` condition, if any.
    pub source_arn: Option<String>,
    /// `AWS:SourceAccount` condition, if any.
    pub source_account: Option<String>,
}

/// Adds a `lambda:InvokeFunction` statement unless one with the same Sid is already there.
///
/// moto does not reject duplicate statement ids, so the check happens here.
pub async fn add_lambda_permission(cx: &Clients, spec: &PermissionSpec) -> Result<(), SeedError> {
    if function_policy_sids(cx, &spec.function)
        .await?
        .contains(&spec.statement_id)
    {
        return Ok(());
    }
    cx.lambda
        .add_permission()
        .function_name(&spec.function)
        .statement_id(&spec.statement_id)
        .action("lambda:InvokeFunction")
        .principal(&spec.principal)
        .set_source_arn(spec.source_arn.clone())
        .set_source_account(spec.source_account.clone())
        .send()
        .await
        .map_err(seed_err(
            "add permission",
            &format!("{} {}", spec.function, spec.statement_id),
        ))?;
    Ok(())
}

/// The statement ids in a function's resource policy (empty when it has none).
pub async fn function_policy_sids(cx: &Clients, function: &str) -> Result<Vec<String>, SeedError> {
    let policy = match cx.lambda.get_policy().function_name(function).send().await {
        Ok(out) => out.policy().unwrap_or_default().to_owned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(seed_err("get policy", function)(e)),
    };
    let doc: serde_json::Value =
        serde_json::from_str(&policy).map_err(seed_err("parse policy", function))?;
    Ok(doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// S3

/// Creates (or finds) a bucket in the clients' region (LocationConstraint outside us-east-1).
pub async fn create_bucket(cx: &Clients, bucket: &str) -> Result<(), SeedError> {
    let location = (cx.region != "us-east-1").then(|| {
        s3::types::CreateBucketConfiguration::builder()
            .location_constraint(s3::types::BucketLocationConstraint::from(
                cx.region.as_str(),
            ))
            .build()
    });
    match cx
        .s3
        .create_bucket()
        .bucket(bucket)
        .set_create_bucket_configuration(location)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e) => Err(seed_err("create bucket", bucket)(e)),
    }
}

/// Lets S3 server access logging write to `bucket` (moto refuses logging to a bucket without it).
pub async fn allow_log_delivery(cx: &Clients, bucket: &str) -> Result<(), SeedError> {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
            "Condition": {"StringEquals": {"aws:SourceAccount": cx.account}},
        }],
    });
    cx.s3
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(seed_err("put bucket policy", bucket))?;
    Ok(())
}

/// Turns on server access logging of `bucket` into `target_bucket` under `target_prefix`.
///
/// The target must exist in the same region and allow log delivery ([`allow_log_delivery`]).
pub async fn put_bucket_logging(
    cx: &Clients,
    bucket: &str,
    target_bucket: &str,
    target_prefix: &str,
) -> Result<(), SeedError> {
    let enabled = s3::types::LoggingEnabled::builder()
        .target_bucket(target_bucket)
        .target_prefix(target_prefix)
        .build()
        .map_err(seed_err("build logging config", bucket))?;
    cx.s3
        .put_bucket_logging()
        .bucket(bucket)
        .bucket_logging_status(
            s3::types::BucketLoggingStatus::builder()
                .logging_enabled(enabled)
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("put bucket logging", bucket))?;
    Ok(())
}

/// Where a bucket notification entry delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationTarget {
    /// An SQS queue ARN (moto does not check that it exists).
    Queue(String),
    /// An SNS topic ARN (moto does not check that it exists).
    Topic(String),
    /// A Lambda function ARN.
    Lambda(String),
}

/// One entry of a bucket notification configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationEntry {
    /// The entry `Id`.
    pub id: String,
    /// Where it delivers.
    pub target: NotificationTarget,
    /// Event types, e.g. `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// Key prefix filter.
    pub prefix: Option<String>,
    /// Key suffix filter.
    pub suffix: Option<String>,
}

impl NotificationEntry {
    /// An entry with one event type and no key filter.
    pub fn new(id: &str, target: NotificationTarget, event: &str) -> NotificationEntry {
        NotificationEntry {
            id: id.to_owned(),
            target,
            events: vec![event.to_owned()],
            prefix: None,
            suffix: None,
        }
    }

    /// The same entry filtered to keys starting with `prefix`.
    pub fn prefix(mut self, prefix: &str) -> NotificationEntry {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// The same entry filtered to keys ending with `suffix`.
    pub fn suffix(mut self, suffix: &str) -> NotificationEntry {
        self.suffix = Some(suffix.to_owned());
        self
    }

    fn filter(&self) -> Option<s3::types::NotificationConfigurationFilter> {
        // Rule names are written lowercase: moto rejects `Prefix`/`Suffix` on write.
        let rules: Vec<_> = [
            (s3::types::FilterRuleName::Prefix, &self.prefix),
            (s3::types::FilterRuleName::Suffix, &self.suffix),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|v| s3::types::FilterRule::builder().name(name).value(v).build())
        })
        .collect();
        (!rules.is_empty()).then(|| {
            s3::types::NotificationConfigurationFilter::builder()
                .key(
                    s3::types::S3KeyFilter::builder()
                        .set_filter_rules(Some(rules))
                        .build(),
                )
                .build()
        })
    }
}

/// Builds the SDK notification configuration holding `entries`, in order.
pub fn notification_configuration(
    bucket: &str,
    entries: &[NotificationEntry],
) -> Result<s3::types::NotificationConfiguration, SeedError> {
    let mut conf = s3::types::NotificationConfiguration::builder();
    for entry in entries {
        let events: Vec<s3::types::Event> = entry
            .events
            .iter()
            .map(|e| s3::types::Event::from(e.as_str()))
            .collect();
        let build_err = seed_err(
            "build notification entry",
            &format!("{bucket} {}", entry.id),
        );
        conf = match &entry.target {
            NotificationTarget::Queue(arn) => conf.queue_configurations(
                s3::types::QueueConfiguration::builder()
                    .id(&entry.id)
                    .queue_arn(arn)
                    .set_events(Some(events))
                    .set_filter(entry.filter())
                    .build()
                    .map_err(build_err)?,
            ),
            NotificationTarget::Topic(arn) => conf.topic_configurations(
                s3::types::TopicConfiguration::builder()
                    .id(&entry.id)
                    .topic_arn(arn)
                    .set_events(Some(events))
                    .set_filter(entry.filter())
                    .build()
                    .map_err(build_err)?,
            ),
            NotificationTarget::Lambda(arn) => conf.lambda_function_configurations(
                s3::types::LambdaFunctionConfiguration::builder()
                    .id(&entry.id)
                    .lambda_function_arn(arn)
                    .set_events(Some(events))
                    .set_filter(entry.filter())
                    .build()
                    .map_err(build_err)?,
            ),
        };
    }
    Ok(conf.build())
}

/// Replaces the bucket's whole notification configuration with `entries`.
pub async fn put_notifications(
    cx: &Clients,
    bucket: &str,
    entries: &[NotificationEntry],
) -> Result<(), SeedError> {
    cx.s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification_configuration(bucket, entries)?)
        .send()
        .await
        .map_err(seed_err("put bucket notification configuration", bucket))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CloudWatch Logs

/// Creates (or finds) a log group.
pub async fn create_log_group(cx: &Clients, name: &str) -> Result<(), SeedError> {
    match cx.logs.create_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(seed_err("create log group", name)(e)),
    }
}

/// A subscription filter to put with [`put_subscription_filter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The log group.
    pub log_group: String,
    /// The filter name.
    pub filter_name: String,
    /// The destination (a Lambda ARN here; moto requires the function to exist).
    pub destination_arn: String,
    /// The filter pattern (`""` matches everything).
    pub pattern: String,
}

/// Puts a subscription filter unless one with that name already points at the destination.
///
/// The check matters on moto: re-putting a filter on a group with two filters fails there.
pub async fn put_subscription_filter(cx: &Clients, spec: &FilterSpec) -> Result<(), SeedError> {
    let existing = cx
        .logs
        .describe_subscription_filters()
        .log_group_name(&spec.log_group)
        .filter_name_prefix(&spec.filter_name)
        .send()
        .await
        .map_err(seed_err("describe subscription filters", &spec.log_group))?;
    let present = existing.subscription_filters().iter().any(|f| {
        f.filter_name() == Some(spec.filter_name.as_str())
            && f.destination_arn() == Some(spec.destination_arn.as_str())
    });
    if present {
        return Ok(());
    }
    cx.logs
        .put_subscription_filter()
        .log_group_name(&spec.log_group)
        .filter_name(&spec.filter_name)
        .filter_pattern(&spec.pattern)
        .destination_arn(&spec.destination_arn)
        .send()
        .await
        .map_err(seed_err(
            "put subscription filter",
            &format!("{} {}", spec.log_group, spec.filter_name),
        ))?;
    Ok(())
}
