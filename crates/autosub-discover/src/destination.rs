//! Logging destinations named by ARN, as the services that log "to a log group, an S3 bucket or a
//! Firehose stream" name them: which of those a destination is, and whether this target can
//! subscribe it.
//!
//! A pass subscribes only log groups of its own account and region: a subscription filter is put
//! from the log group's home, whose pass never sees the resource that writes there.

use autosub_core::{AccountId, BucketName, Location, LogGroupName, Region};

/// What Firehose delivery needs instead of a trigger.
pub const FIREHOSE_WHY: &str = "Firehose delivery streams cannot take a subscription trigger; \
    have the stream deliver to S3 and subscribe that bucket, or use Datadog's Firehose destination";

/// A CloudWatch Logs log group ARN taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroupArn {
    /// The region field.
    pub region: Region,
    /// The account field.
    pub account: AccountId,
    /// The log group name, without any trailing `:*`.
    pub name: LogGroupName,
}

/// Parses `arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]`.
pub fn parse_log_group_arn(arn: &str) -> Option<LogGroupArn> {
    let [scheme, _partition, service, region, account, resource] = arn_fields(arn)?;
    if scheme != "arn" || service != "logs" {
        return None;
    }
    let name = resource.strip_prefix("log-group:")?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    if name.is_empty() || region.is_empty() || account.is_empty() {
        return None;
    }
    Some(LogGroupArn {
        region: Region::new(region),
        account: AccountId::new(account),
        name: LogGroupName::new(name),
    })
}

/// The six fields of an ARN; the last (the resource) may hold colons.
fn arn_fields(arn: &str) -> Option<[&str; 6]> {
    let mut fields = arn.splitn(6, ':');
    Some([
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    ])
}

/// The service field of an ARN (`logs`, `s3`, `firehose`, …), when `arn` is one.
pub fn arn_service(arn: &str) -> Option<&str> {
    arn_fields(arn)
        .filter(|[scheme, ..]| *scheme == "arn")
        .map(|[_, _, service, ..]| service)
}

/// The log group a destination ARN names, when it is one of this target's (`account`, `region`);
/// otherwise why this target cannot subscribe it.
pub fn log_group(arn: &str, account: &AccountId, region: &Region) -> Result<Location, String> {
    match arn_service(arn) {
        None => return Err("not an ARN; expected a CloudWatch Logs log group ARN".to_owned()),
        Some("firehose") => return Err(FIREHOSE_WHY.to_owned()),
        Some("logs") => {}
        Some(other) => {
            return Err(format!(
                "a {other} destination is not a CloudWatch Logs log group; autosub subscribes \
                 only log groups and S3 buckets"
            ));
        }
    }
    let group = parse_log_group_arn(arn).ok_or_else(|| "the ARN names no log group".to_owned())?;
    if &group.account != account || &group.region != region {
        return Err(format!(
            "the log group is in account {}, region {}, outside this target ({account}, \
             {region}); a subscription filter is put from the log group's own account and \
             region, whose pass never sees this resource; log to a group in the resource's own \
             account and region, or subscribe that group where it lives",
            group.account, group.region
        ));
    }
    Ok(Location::LogGroup { name: group.name })
}

/// The bucket and key prefix of an `arn:<partition>:s3:::<bucket>[/<prefix>]` destination; the
/// prefix is returned without its trailing `/`s.
pub fn s3_bucket(arn: &str) -> Result<(BucketName, String), String> {
    let path = arn_fields(arn)
        .filter(|[scheme, _, service, ..]| *scheme == "arn" && *service == "s3")
        .map(|[.., path]| path)
        .filter(|path| !path.is_empty() && !path.starts_with('/'))
        .ok_or_else(|| format!("{arn} names no S3 bucket"))?;
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    Ok((
        BucketName::new(bucket),
        prefix.trim_end_matches('/').to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "us-east-1";

    #[test]
    fn log_group_arns_parse_with_and_without_the_trailing_star() {
        let want = |region: &str, account: &str, name: &str| {
            Some(LogGroupArn {
                region: Region::new(region),
                account: AccountId::new(account),
                name: LogGroupName::new(name),
            })
        };
        let cases = [
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/x:*",
                want(REGION, ACCOUNT, "/aws/vendedlogs/states/x"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/sfn/x",
                want(REGION, ACCOUNT, "/sfn/x"),
            ),
            (
                "arn:aws-cn:logs:cn-north-1:1:log-group:aws-waf-logs-a:*",
                want("cn-north-1", "1", "aws-waf-logs-a"),
            ),
            ("arn:aws:logs:us-east-1:1:log-group::*", None),
            ("arn:aws:firehose:us-east-1:1:deliverystream/x", None),
            ("arn:aws:s3:::bucket", None),
            ("log-group:/x", None),
        ];
        for (arn, want) in cases {
            assert_eq!(parse_log_group_arn(arn), want, "{arn}");
        }
    }

    #[test]
    fn destinations_map_to_the_target_s_log_groups_or_a_reason() {
        let (account, region) = (AccountId::new(ACCOUNT), Region::new(REGION));
        for (arn, want) in [
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/orders",
                Ok("/apigw/orders"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/orders:*",
                Ok("/apigw/orders"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:API-Gateway-Access_x.y#z:*",
                Ok("API-Gateway-Access_x.y#z"),
            ),
            (
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-orders",
                Err(FIREHOSE_WHY),
            ),
            (
                "arn:aws:logs:eu-west-1:123456789012:log-group:/apigw/orders:*",
                Err("region eu-west-1, outside this target"),
            ),
            (
                "arn:aws:logs:us-east-1:210987654321:log-group:/apigw/orders",
                Err("account 210987654321"),
            ),
            (
                "arn:aws:s3:::some-bucket",
                Err("a s3 destination is not a CloudWatch Logs log group"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:",
                Err("names no log group"),
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:destination:central",
                Err("names no log group"),
            ),
            ("/apigw/orders", Err("not an ARN")),
            ("garbage", Err("not an ARN")),
            (
                "urn:aws:logs:us-east-1:123456789012:log-group:x",
                Err("not an ARN"),
            ),
        ] {
            match (log_group(arn, &account, &region), want) {
                (Ok(Location::LogGroup { name }), Ok(want)) => {
                    assert_eq!(name.as_str(), want, "{arn}")
                }
                (Err(why), Err(want)) => assert!(why.contains(want), "{arn}: {why}"),
                (got, want) => panic!("{arn}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn s3_destinations_name_a_bucket_and_a_prefix() {
        let ok = |bucket: &str, prefix: &str| Ok((BucketName::new(bucket), prefix.to_owned()));
        for (arn, want) in [
            ("arn:aws:s3:::logs", ok("logs", "")),
            ("arn:aws:s3:::logs/", ok("logs", "")),
            ("arn:aws:s3:::logs/edge", ok("logs", "edge")),
            ("arn:aws:s3:::logs/a/b//", ok("logs", "a/b")),
            ("arn:aws-cn:s3:::logs/a", ok("logs", "a")),
        ] {
            assert_eq!(s3_bucket(arn), want, "{arn}");
        }
        for bad in [
            "arn:aws:s3:::",
            "arn:aws:s3:::/x",
            "arn:aws:logs:us-east-1:1:log-group:x",
            "logs",
        ] {
            assert!(
                s3_bucket(bad).unwrap_err().contains("names no S3 bucket"),
                "{bad}"
            );
        }
    }
}
