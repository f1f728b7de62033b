//! A realistic small estate in every account × region of a fleet.

use serde_json::json;

use super::proto::partition;
use super::{FakeAws, FakeFilter};

/// What [`FakeAws::seed_fleet`] creates.
///
/// In each account × region: the forwarder `forwarder_name` with its log group and the
/// Datadog template's logs statement (no s3 statement); functions `app-000`… each with log
/// group `/aws/lambda/app-NNN`, where `app-000`'s group has both filter slots taken by foreign
/// filters and `app-001`'s one; the log bucket `fleet-<account>-<region>-logs` with a foreign
/// queue notification on prefix `audit/`; buckets `fleet-<account>-<region>-NNN` logging to
/// it under `s3/<bucket>/`. With more than one log bucket, the others are
/// `fleet-<account>-<region>-logs-NNN` (no foreign notification) and the logged buckets are
/// dealt out among them. Quiet log groups `/app/quiet-NNNNN` have no source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetShape {
    /// The accounts (12 digits each).
    pub accounts: Vec<String>,
    /// The regions of every account.
    pub regions: Vec<String>,
    /// App functions (and log groups) per account × region.
    pub functions_per_target: usize,
    /// Buckets with access logging per account × region (0 = no log bucket either).
    pub buckets_per_target: usize,
    /// Buckets receiving those access logs per account × region (at least 1 when there are
    /// logged buckets).
    pub log_buckets_per_target: usize,
    /// Log groups no source writes to, per account × region.
    pub quiet_log_groups: usize,
    /// The forwarder's function name.
    pub forwarder_name: String,
}

impl Default for FleetShape {
    /// One account, one region, ten functions, three logged buckets.
    fn default() -> Self {
        Self {
            accounts: vec!["111111111111".to_owned()],
            regions: vec!["us-east-1".to_owned()],
            functions_per_target: 10,
            buckets_per_target: 3,
            log_buckets_per_target: 1,
            quiet_log_groups: 0,
            forwarder_name: "datadog-forwarder".to_owned(),
        }
    }
}

/// The Sid of the logs statement the Datadog template puts on the forwarder.
pub const FORWARDER_LOGS_SID: &str = "datadog-forwarder-CloudWatchLogsPermission-FAKE";

/// The id of the foreign queue notification on each log bucket.
pub const FOREIGN_QUEUE_ID: &str = "audit-queue";

impl FakeAws {
    /// Seeds `shape` (see [`FleetShape`]) into every account × region.
    pub fn seed_fleet(&self, shape: &FleetShape) {
        for account in &shape.accounts {
            for region in &shape.regions {
                self.seed_target(shape, account, region);
            }
        }
    }

    fn seed_target(&self, shape: &FleetShape, account: &str, region: &str) {
        let p = partition(region);
        let forwarder = &shape.forwarder_name;
        let forwarder_arn = self.add_function(account, region, forwarder, None);
        self.add_log_group(
            account,
            region,
            &format!("/aws/lambda/{forwarder}"),
            "STANDARD",
        );
        self.add_statement(
            account,
            region,
            forwarder,
            json!({
                "Sid": FORWARDER_LOGS_SID,
                "Effect": "Allow",
                "Principal": { "Service": "logs.amazonaws.com" },
                "Action": "lambda:InvokeFunction",
                "Resource": forwarder_arn,
                "Condition": { "ArnLike": {
                    "AWS:SourceArn": format!("arn:{p}:logs:{region}:{account}:log-group:*:*")
                } },
            }),
        );
        let siem = format!("arn:{p}:kinesis:{region}:{account}:stream/siem");
        for i in 0..shape.quiet_log_groups {
            self.add_log_group(account, region, &format!("/app/quiet-{i:05}"), "STANDARD");
        }
        for i in 0..shape.functions_per_target {
            let name = format!("app-{i:03}");
            let group = format!("/aws/lambda/{name}");
            self.add_function(account, region, &name, None);
            self.add_log_group(account, region, &group, "STANDARD");
            let foreign = match i {
                0 => 2,
                1 => 1,
                _ => 0,
            };
            for n in 0..foreign {
                let filter = FakeFilter {
                    name: format!("siem-{n}"),
                    pattern: String::new(),
                    destination_arn: siem.clone(),
                };
                self.add_filter(account, region, &group, filter);
            }
        }
        if shape.buckets_per_target == 0 {
            return;
        }
        let log_bucket = format!("fleet-{account}-{region}-logs");
        self.add_bucket(account, region, &log_bucket);
        self.set_notification_xml(
            &log_bucket,
            &format!(
                "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <QueueConfiguration><Id>{FOREIGN_QUEUE_ID}</Id><Queue>arn:{p}:sqs:{region}:{account}:audit</Queue>\
                 <Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name>\
                 <Value>audit/</Value></FilterRule></S3Key></Filter></QueueConfiguration>\
                 </NotificationConfiguration>"
            ),
        );
        let mut log_buckets = vec![log_bucket];
        for i in 1..shape.log_buckets_per_target {
            let extra = format!("fleet-{account}-{region}-logs-{i:03}");
            self.add_bucket(account, region, &extra);
            log_buckets.push(extra);
        }
        for i in 0..shape.buckets_per_target {
            let bucket = format!("fleet-{account}-{region}-{i:03}");
            self.add_bucket(account, region, &bucket);
            let target = &log_buckets[i % log_buckets.len()];
            self.set_bucket_logging(&bucket, target, &format!("s3/{bucket}/"));
        }
    }
}
