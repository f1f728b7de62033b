//! Seeders that build an AWS estate through the real SDK, and the demo estate built from them.
//!
//! Every seeder is safe to re-run against the same server: "already exists" is success, and
//! calls moto would happily duplicate (Lambda permissions, subscription filters) are checked
//! first. Seeding the demo estate twice into one moto therefore changes nothing the second time.

use std::collections::BTreeMap;
use std::io::Write;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_s3 as s3;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::moto::MOTO_DEFAULT_ACCOUNT;

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

fn seed_err<E: Into<BoxError>>(
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
        let sdk = sdk
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build();
        let header =
            (account != MOTO_DEFAULT_ACCOUNT).then(|| MotoAccountHeader(account.to_owned()));

        let mut s3_conf = s3::config::Builder::from(&sdk).force_path_style(true);
        let mut lambda_conf = lambda::config::Builder::from(&sdk);
        let mut logs_conf = logs::config::Builder::from(&sdk);
        let mut iam_conf = iam::config::Builder::from(&sdk);
        if let Some(header) = header {
            s3_conf = s3_conf.interceptor(header.clone());
            lambda_conf = lambda_conf.interceptor(header.clone());
            logs_conf = logs_conf.interceptor(header.clone());
            iam_conf = iam_conf.interceptor(header);
        }
        Clients {
            account: account.to_owned(),
            region: region.to_owned(),
            s3: s3::Client::from_conf(s3_conf.build()),
            lambda: lambda::Client::from_conf(lambda_conf.build()),
            logs: logs::Client::from_conf(logs_conf.build()),
            iam: iam::Client::from_conf(iam_conf.build()),
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

/// Sends `x-moto-account-id` so moto acts in that account.
#[derive(Debug, Clone)]
struct MotoAccountHeader(String);

impl Intercept for MotoAccountHeader {
    fn name(&self) -> &'static str {
        "MotoAccountHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// The demo estate

/// The demo estate's main region.
pub const DEMO_REGION: &str = "us-east-1";
/// The demo estate's second region (one forwarder, two buckets).
pub const DEMO_EU_REGION: &str = "eu-west-1";
/// The execution role every demo function uses.
pub const DEMO_ROLE: &str = "autosub-demo-lambda-role";
/// The forwarder's name, the same in both regions.
pub const DEMO_FORWARDER: &str = "datadog-forwarder";
/// The Sid of the logs statement the Datadog template puts on the us-east-1 forwarder.
pub const DEMO_FORWARDER_LOGS_SID: &str =
    "datadog-forwarder-CloudWatchLogsPermission-1UQ3B6Z5K2XJ8";

/// A bucket with server access logging turned on, as seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedBucket {
    /// The bucket that is logged.
    pub bucket: String,
    /// Its region.
    pub region: String,
    /// Where its access logs go.
    pub target_bucket: String,
    /// The key prefix of its access logs.
    pub target_prefix: String,
}

/// A subscription filter as seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededFilter {
    /// The log group.
    pub log_group: String,
    /// The filter name.
    pub filter_name: String,
    /// The destination Lambda ARN.
    pub destination_arn: String,
}

/// Names and ARNs of everything [`seed_demo_estate`] created, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoEstate {
    /// The account everything lives in.
    pub account: String,
    /// The main region, `us-east-1`.
    pub region: String,
    /// The second region, `eu-west-1`.
    pub eu_region: String,
    /// The execution role of every function.
    pub role_arn: String,
    /// The forwarder's function name (both regions).
    pub forwarder_name: String,
    /// The us-east-1 forwarder (has a logs statement, no s3 statement).
    pub forwarder_arn: String,
    /// The eu-west-1 forwarder (no resource policy).
    pub eu_forwarder_arn: String,
    /// The forwarder's own log group (exists in both regions; a loop guard must skip it).
    pub forwarder_log_group: String,
    /// The Sid of the existing logs statement on the us-east-1 forwarder.
    pub forwarder_logs_statement_id: String,
    /// The foreign destination of the full log group's filters.
    pub siem_shipper_arn: String,
    /// Every us-east-1 function, name → ARN (forwarder included).
    pub functions: BTreeMap<String, String>,
    /// Every us-east-1 log group created.
    pub log_groups: Vec<String>,
    /// Log groups of app functions with a free slot and no filter to the forwarder yet.
    pub unsubscribed_log_groups: Vec<String>,
    /// A function whose log group does not exist (never invoked).
    pub function_without_log_group: String,
    /// The filter already pointing at the forwarder, not created by autosub.
    pub adopted_filter: SeededFilter,
    /// The log group whose two filter slots are taken by foreign filters.
    pub full_log_group: String,
    /// The foreign filters filling [`DemoEstate::full_log_group`].
    pub foreign_filters: Vec<SeededFilter>,
    /// Buckets with access logging, both regions.
    pub logged_buckets: Vec<LoggedBucket>,
    /// Buckets receiving access logs, bucket → region.
    pub log_buckets: BTreeMap<String, String>,
    /// Foreign notification entry ids, bucket → ids (must survive autosub untouched).
    pub foreign_notifications: BTreeMap<String, Vec<String>>,
    /// The log bucket whose foreign rule overlaps any prefix autosub would add.
    pub conflict_bucket: String,
    /// The id of that overlapping foreign rule.
    pub conflict_rule_id: String,
}

/// Seeds the demo estate (see the crate docs) into moto for `account`, in us-east-1 and
/// eu-west-1, from an SDK config pointing at moto (its region is ignored).
///
/// Re-running against the same server is harmless. S3 bucket names are global in moto as in
/// AWS, so the estate can be seeded into only one account per server.
pub async fn seed_demo_estate(sdk: &SdkConfig, account: &str) -> Result<DemoEstate, SeedError> {
    let us = Clients::new(sdk, account, DEMO_REGION);
    let eu = Clients::new(sdk, account, DEMO_EU_REGION);

    // Functions. The role is global; both regional clients reach it.
    let role_arn = create_lambda_role(&us, DEMO_ROLE).await?;
    let fn_spec = |name: &str| FunctionSpec::new(name, &role_arn);
    let mut functions = BTreeMap::new();
    for spec in [
        fn_spec(DEMO_FORWARDER),
        fn_spec("checkout-api"),
        fn_spec("payments-worker"),
        fn_spec("image-resizer").with_log_group("/custom/image-resizer"),
        fn_spec("orders-api"),
        fn_spec("audit-sink"),
        fn_spec("siem-shipper"),
        fn_spec("nightly-report"),
    ] {
        let arn = create_function(&us, &spec).await?;
        functions.insert(spec.name, arn);
    }
    let forwarder_arn = functions[DEMO_FORWARDER].clone();
    let siem_shipper_arn = functions["siem-shipper"].clone();
    let eu_forwarder_arn = create_function(&eu, &fn_spec(DEMO_FORWARDER)).await?;

    // Resource policies: the Datadog template's logs grant on the forwarder (no s3 grant);
    // the grants the foreign triggers below would need in AWS.
    add_lambda_permission(
        &us,
        &PermissionSpec {
            function: DEMO_FORWARDER.to_owned(),
            statement_id: DEMO_FORWARDER_LOGS_SID.to_owned(),
            principal: "logs.amazonaws.com".to_owned(),
            source_arn: Some(format!(
                "arn:aws:logs:{DEMO_REGION}:{account}:log-group:*:*"
            )),
            source_account: None,
        },
    )
    .await?;
    add_lambda_permission(
        &us,
        &PermissionSpec {
            function: "siem-shipper".to_owned(),
            statement_id: "siem-logs-invoke".to_owned(),
            principal: "logs.amazonaws.com".to_owned(),
            source_arn: Some(format!(
                "arn:aws:logs:{DEMO_REGION}:{account}:log-group:*:*"
            )),
            source_account: Some(account.to_owned()),
        },
    )
    .await?;
    add_lambda_permission(
        &us,
        &PermissionSpec {
            function: "image-resizer".to_owned(),
            statement_id: "thumbnailer-s3-invoke".to_owned(),
            principal: "s3.amazonaws.com".to_owned(),
            source_arn: Some("arn:aws:s3:::demo-access-logs".to_owned()),
            source_account: Some(account.to_owned()),
        },
    )
    .await?;

    // Log groups: what Lambda would have created on first invocation. nightly-report never ran.
    let forwarder_log_group = format!("/aws/lambda/{DEMO_FORWARDER}");
    let log_groups: Vec<String> = [
        "/aws/lambda/checkout-api",
        "/aws/lambda/payments-worker",
        "/aws/lambda/orders-api",
        "/aws/lambda/audit-sink",
        "/aws/lambda/siem-shipper",
        forwarder_log_group.as_str(),
        "/custom/image-resizer",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for group in &log_groups {
        create_log_group(&us, group).await?;
    }
    create_log_group(&eu, &forwarder_log_group).await?;

    let adopted_filter = SeededFilter {
        log_group: "/aws/lambda/orders-api".to_owned(),
        filter_name: "DD_LOG_SUBSCRIPTION_FILTER_orders".to_owned(),
        destination_arn: forwarder_arn.clone(),
    };
    let full_log_group = "/aws/lambda/audit-sink".to_owned();
    let foreign_filters: Vec<SeededFilter> = ["siem-all", "siem-errors"]
        .into_iter()
        .map(|name| SeededFilter {
            log_group: full_log_group.clone(),
            filter_name: name.to_owned(),
            destination_arn: siem_shipper_arn.clone(),
        })
        .collect();
    for (filter, pattern) in [
        (&adopted_filter, ""),
        (&foreign_filters[0], ""),
        (&foreign_filters[1], "ERROR"),
    ] {
        put_subscription_filter(
            &us,
            &FilterSpec {
                log_group: filter.log_group.clone(),
                filter_name: filter.filter_name.clone(),
                destination_arn: filter.destination_arn.clone(),
                pattern: pattern.to_owned(),
            },
        )
        .await?;
    }

    // Buckets: log buckets first (logging needs an existing target that allows delivery).
    let log_buckets: BTreeMap<String, String> = [
        ("demo-access-logs", DEMO_REGION),
        ("demo-conflict-logs", DEMO_REGION),
        ("demo-eu-logs", DEMO_EU_REGION),
    ]
    .into_iter()
    .map(|(b, r)| (b.to_owned(), r.to_owned()))
    .collect();
    let logged_buckets: Vec<LoggedBucket> = [
        (
            "demo-app-assets",
            DEMO_REGION,
            "demo-access-logs",
            "s3/app-assets/",
        ),
        (
            "demo-app-uploads",
            DEMO_REGION,
            "demo-access-logs",
            "s3/app-uploads/",
        ),
        (
            "demo-conflict-src",
            DEMO_REGION,
            "demo-conflict-logs",
            "s3/",
        ),
        ("demo-eu-site", DEMO_EU_REGION, "demo-eu-logs", "site/"),
    ]
    .into_iter()
    .map(|(bucket, region, target, prefix)| LoggedBucket {
        bucket: bucket.to_owned(),
        region: region.to_owned(),
        target_bucket: target.to_owned(),
        target_prefix: prefix.to_owned(),
    })
    .collect();
    let clients_for = |region: &str| if region == DEMO_REGION { &us } else { &eu };
    for (bucket, region) in &log_buckets {
        let cx = clients_for(region);
        create_bucket(cx, bucket).await?;
        allow_log_delivery(cx, bucket).await?;
    }
    for logged in &logged_buckets {
        let cx = clients_for(&logged.region);
        create_bucket(cx, &logged.bucket).await?;
        put_bucket_logging(
            cx,
            &logged.bucket,
            &logged.target_bucket,
            &logged.target_prefix,
        )
        .await?;
    }

    // Foreign notifications. moto checks neither queues nor topics, so bare ARNs suffice.
    let queue = |name: &str| {
        NotificationTarget::Queue(format!("arn:aws:sqs:{DEMO_REGION}:{account}:{name}"))
    };
    let topic = |name: &str| {
        NotificationTarget::Topic(format!("arn:aws:sns:{DEMO_REGION}:{account}:{name}"))
    };
    let access_logs_entries = [
        NotificationEntry::new("audit-queue", queue("audit-queue"), "s3:ObjectCreated:*")
            .prefix("audit/"),
        NotificationEntry::new("ops-topic", topic("ops-topic"), "s3:ObjectRemoved:*"),
        NotificationEntry::new(
            "thumbnailer",
            NotificationTarget::Lambda(functions["image-resizer"].clone()),
            "s3:ObjectCreated:*",
        )
        .prefix("images/")
        .suffix(".jpg"),
    ];
    put_notifications(&us, "demo-access-logs", &access_logs_entries).await?;
    let conflict_rule_id = "legacy-ingest".to_owned();
    let conflict_entries = [NotificationEntry::new(
        &conflict_rule_id,
        queue("legacy-ingest"),
        "s3:ObjectCreated:*",
    )];
    put_notifications(&us, "demo-conflict-logs", &conflict_entries).await?;
    let foreign_notifications = [
        ("demo-access-logs", &access_logs_entries[..]),
        ("demo-conflict-logs", &conflict_entries[..]),
    ]
    .into_iter()
    .map(|(bucket, entries)| {
        (
            bucket.to_owned(),
            entries.iter().map(|e| e.id.clone()).collect(),
        )
    })
    .collect();

    // Every other log source service, each seeding its own buckets and log groups.
    crate::demo::cloudfront::seed(sdk, account).await?;
    crate::demo::elb::seed(sdk, account).await?;
    crate::demo::elbv2::seed(sdk, account).await?;
    crate::demo::redshift::seed(sdk, account).await?;
    crate::demo::step_functions::seed(sdk, account).await?;
    crate::demo::wafv2::seed(sdk, account).await?;
    crate::demo::api_gateway::seed(sdk, account).await?;

    Ok(DemoEstate {
        account: account.to_owned(),
        region: DEMO_REGION.to_owned(),
        eu_region: DEMO_EU_REGION.to_owned(),
        role_arn,
        forwarder_name: DEMO_FORWARDER.to_owned(),
        forwarder_arn,
        eu_forwarder_arn,
        forwarder_log_group,
        forwarder_logs_statement_id: DEMO_FORWARDER_LOGS_SID.to_owned(),
        siem_shipper_arn,
        functions,
        log_groups,
        unsubscribed_log_groups: vec![
            "/aws/lambda/checkout-api".to_owned(),
            "/aws/lambda/payments-worker".to_owned(),
            "/aws/lambda/siem-shipper".to_owned(),
            "/custom/image-resizer".to_owned(),
        ],
        function_without_log_group: "nightly-report".to_owned(),
        adopted_filter,
        full_log_group,
        foreign_filters,
        logged_buckets,
        log_buckets,
        foreign_notifications,
        conflict_bucket: "demo-conflict-logs".to_owned(),
        conflict_rule_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moto::MotoServer;

    async fn notification_ids(cx: &Clients, bucket: &str) -> Vec<String> {
        let conf = cx
            .s3
            .get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .expect("get notification configuration");
        let mut ids: Vec<String> = conf
            .queue_configurations()
            .iter()
            .filter_map(|c| c.id().map(str::to_owned))
            .chain(
                conf.topic_configurations()
                    .iter()
                    .filter_map(|c| c.id().map(str::to_owned)),
            )
            .chain(
                conf.lambda_function_configurations()
                    .iter()
                    .filter_map(|c| c.id().map(str::to_owned)),
            )
            .collect();
        ids.sort();
        ids
    }

    async fn filter_names(cx: &Clients, group: &str) -> Vec<String> {
        cx.logs
            .describe_subscription_filters()
            .log_group_name(group)
            .send()
            .await
            .expect("describe subscription filters")
            .subscription_filters()
            .iter()
            .filter_map(|f| f.filter_name().map(str::to_owned))
            .collect()
    }

    async fn log_group_exists(cx: &Clients, name: &str) -> bool {
        cx.logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .expect("describe log groups")
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(name))
    }

    #[tokio::test]
    async fn demo_estate_is_seeded_as_documented_and_reseeding_changes_nothing() {
        let moto = MotoServer::start().expect("start moto_server");
        let sdk = moto.sdk_config("us-east-1");
        let estate = seed_demo_estate(&sdk, MOTO_DEFAULT_ACCOUNT)
            .await
            .expect("seed demo estate");
        let again = seed_demo_estate(&sdk, MOTO_DEFAULT_ACCOUNT)
            .await
            .expect("re-seed demo estate");
        assert_eq!(estate, again);

        let us = Clients::new(&sdk, MOTO_DEFAULT_ACCOUNT, DEMO_REGION);
        let eu = Clients::new(&sdk, MOTO_DEFAULT_ACCOUNT, DEMO_EU_REGION);
        assert_eq!(
            estate.forwarder_arn,
            "arn:aws:lambda:us-east-1:123456789012:function:datadog-forwarder"
        );
        assert_eq!(
            estate.eu_forwarder_arn,
            "arn:aws:lambda:eu-west-1:123456789012:function:datadog-forwarder"
        );
        assert_eq!(
            function_policy_sids(&us, DEMO_FORWARDER)
                .await
                .expect("policy"),
            vec![DEMO_FORWARDER_LOGS_SID.to_owned()]
        );
        assert!(
            function_policy_sids(&eu, DEMO_FORWARDER)
                .await
                .expect("eu policy")
                .is_empty()
        );

        assert_eq!(
            notification_ids(&us, "demo-access-logs").await,
            ["audit-queue", "ops-topic", "thumbnailer"]
        );
        assert_eq!(
            notification_ids(&us, "demo-conflict-logs").await,
            ["legacy-ingest"]
        );
        assert_eq!(
            filter_names(&us, &estate.full_log_group).await,
            ["siem-all", "siem-errors"]
        );
        assert_eq!(
            filter_names(&us, &estate.adopted_filter.log_group).await,
            [estate.adopted_filter.filter_name.as_str()]
        );
        assert!(!log_group_exists(&us, "/aws/lambda/nightly-report").await);
        for group in &estate.log_groups {
            assert!(log_group_exists(&us, group).await, "{group}");
        }

        for logged in &estate.logged_buckets {
            let cx = if logged.region == DEMO_REGION {
                &us
            } else {
                &eu
            };
            let out = cx
                .s3
                .get_bucket_logging()
                .bucket(&logged.bucket)
                .send()
                .await
                .expect("get bucket logging");
            let enabled = out.logging_enabled().expect("logging enabled");
            assert_eq!(enabled.target_bucket(), logged.target_bucket);
            assert_eq!(enabled.target_prefix(), logged.target_prefix);
        }
    }

    #[tokio::test]
    async fn clients_reach_other_accounts_through_the_moto_header() {
        let moto = MotoServer::start().expect("start moto_server");
        let sdk = moto.sdk_config("us-east-1");
        let other = Clients::new(&sdk, "210987654321", DEMO_REGION);
        let default = Clients::new(&sdk, MOTO_DEFAULT_ACCOUNT, DEMO_REGION);
        create_log_group(&other, "/aws/lambda/elsewhere")
            .await
            .expect("create log group in other account");
        assert!(log_group_exists(&other, "/aws/lambda/elsewhere").await);
        assert!(!log_group_exists(&default, "/aws/lambda/elsewhere").await);

        let role = create_lambda_role(&other, DEMO_ROLE).await.expect("role");
        assert_eq!(
            role,
            "arn:aws:iam::210987654321:role/autosub-demo-lambda-role"
        );

        let port = moto.port();
        drop(moto);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "moto_server still listening on {port} after drop"
        );
    }
}
