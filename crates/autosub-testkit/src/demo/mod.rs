//! The demo estate: what `scripts/demo.sh` and the end-to-end tests reconcile, built from the
//! seeders of `estate`, with a slice per service (one module each).

pub mod api_gateway;
pub mod cloudfront;
pub mod cloudtrail;
pub mod elb;
pub mod elbv2;
pub mod redshift;
pub mod step_functions;
pub mod vpc_flow_logs;
pub mod wafv2;

use std::collections::BTreeMap;

use aws_config::SdkConfig;

use crate::estate::{
    Clients, FilterSpec, FunctionSpec, NotificationEntry, NotificationTarget, PermissionSpec,
    SeedError, add_lambda_permission, allow_log_delivery, create_bucket, create_function,
    create_lambda_role, create_log_group, put_bucket_logging, put_notifications,
    put_subscription_filter,
};

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
    cloudfront::seed(sdk, account).await?;
    elb::seed(sdk, account).await?;
    elbv2::seed(sdk, account).await?;
    redshift::seed(sdk, account).await?;
    step_functions::seed(sdk, account).await?;
    wafv2::seed(sdk, account).await?;
    api_gateway::seed(sdk, account).await?;
    vpc_flow_logs::seed(sdk, account).await?;
    cloudtrail::seed(sdk, account).await?;

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
    use crate::estate::function_policy_sids;
    use crate::moto::{MOTO_DEFAULT_ACCOUNT, MotoServer};

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
