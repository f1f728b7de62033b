//! Application and Network Load Balancers in the demo estate, and the seeders tests use to
//! build their own.
//!
//! The demo slice (see [`seed`]), in the default VPC of each region:
//! - us-east-1 ALB `demo-web-alb` (tag `team=web`): access logs to `demo-alb-logs` under
//!   `alb/web`, connection logs to `demo-alb-logs` under `alb/web-conn`.
//! - us-east-1 ALB `demo-internal-alb`: no logging.
//! - eu-west-1 NLB `demo-eu-nlb`: access logs to `demo-eu-alb-logs` with no prefix.
//!
//! Load balancers only log to S3: there is no Firehose case to seed. Seeding is re-runnable: a
//! load balancer is found by name, its attributes and tags are set again.

use aws_config::SdkConfig;
use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerAttribute, LoadBalancerTypeEnum, Tag};

use crate::estate::{Clients, SeedError, create_bucket, seed_err};
use crate::moto_account::moto_client;

/// ELBv2 and EC2 clients for one account and region.
#[derive(Debug, Clone)]
pub struct Elbv2Clients {
    /// Elastic Load Balancing v2.
    pub elbv2: elbv2::Client,
    /// EC2, for the default VPC's subnets.
    pub ec2: ec2::Client,
}

impl Elbv2Clients {
    /// Clients for `account` in `region`, from an SDK config that points at moto.
    pub fn new(sdk: &SdkConfig, account: &str, region: &str) -> Elbv2Clients {
        Elbv2Clients {
            elbv2: moto_client!(elbv2, sdk, account, region),
            ec2: moto_client!(ec2, sdk, account, region),
        }
    }
}

/// Two default subnets (in different zones) of the region's default VPC.
async fn default_subnets(cx: &Elbv2Clients) -> Result<Vec<String>, SeedError> {
    let out = cx
        .ec2
        .describe_subnets()
        .filters(
            ec2::types::Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(seed_err("describe subnets", "default-for-az"))?;
    let mut subnets: Vec<(String, String)> = out
        .subnets()
        .iter()
        .filter_map(|s| Some((s.availability_zone()?.to_owned(), s.subnet_id()?.to_owned())))
        .collect();
    subnets.sort();
    subnets.dedup_by(|a, b| a.0 == b.0);
    if subnets.len() < 2 {
        return Err(SeedError {
            action: "find default subnets",
            resource: "default VPC".to_owned(),
            source: "fewer than two default subnets".into(),
        });
    }
    Ok(subnets.into_iter().take(2).map(|(_, id)| id).collect())
}

/// The kinds of load balancer the seeders create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancerKind {
    /// An Application Load Balancer (access and connection logs).
    Application,
    /// A Network Load Balancer (access logs).
    Network,
}

impl LoadBalancerKind {
    fn sdk(self) -> LoadBalancerTypeEnum {
        match self {
            Self::Application => LoadBalancerTypeEnum::Application,
            Self::Network => LoadBalancerTypeEnum::Network,
        }
    }
}

/// Creates (or finds) a load balancer of `kind` in the default VPC and sets `tags` on it; its ARN.
pub async fn create_load_balancer(
    cx: &Elbv2Clients,
    name: &str,
    kind: LoadBalancerKind,
    tags: &[(&str, &str)],
) -> Result<String, SeedError> {
    let existing = cx
        .elbv2
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .ok()
        .and_then(|out| {
            out.load_balancers()
                .first()
                .and_then(|lb| lb.load_balancer_arn().map(str::to_owned))
        });
    let arn = match existing {
        Some(arn) => arn,
        None => {
            let out = cx
                .elbv2
                .create_load_balancer()
                .name(name)
                .r#type(kind.sdk())
                .set_subnets(Some(default_subnets(cx).await?))
                .send()
                .await
                .map_err(seed_err("create load balancer", name))?;
            out.load_balancers()
                .first()
                .and_then(|lb| lb.load_balancer_arn().map(str::to_owned))
                .ok_or_else(|| SeedError {
                    action: "create load balancer",
                    resource: name.to_owned(),
                    source: "the reply names no load balancer".into(),
                })?
        }
    };
    if !tags.is_empty() {
        cx.elbv2
            .add_tags()
            .resource_arns(&arn)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(seed_err("tag load balancer", name))?;
    }
    Ok(arn)
}

/// Sets load balancer attributes, e.g. `("access_logs.s3.enabled", "true")`.
pub async fn put_attributes(
    cx: &Elbv2Clients,
    arn: &str,
    attributes: &[(&str, &str)],
) -> Result<(), SeedError> {
    cx.elbv2
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .set_attributes(Some(
            attributes
                .iter()
                .map(|(k, v)| LoadBalancerAttribute::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(seed_err("modify load balancer attributes", arn))?;
    Ok(())
}

/// Seeds the ALB/NLB slice of the demo estate (see the module docs).
pub async fn seed(sdk: &SdkConfig, account: &str) -> Result<(), SeedError> {
    create_bucket(&Clients::new(sdk, account, "us-east-1"), "demo-alb-logs").await?;
    create_bucket(&Clients::new(sdk, account, "eu-west-1"), "demo-eu-alb-logs").await?;
    let us = Elbv2Clients::new(sdk, account, "us-east-1");
    let eu = Elbv2Clients::new(sdk, account, "eu-west-1");

    let web = create_load_balancer(
        &us,
        "demo-web-alb",
        LoadBalancerKind::Application,
        &[("team", "web")],
    )
    .await?;
    put_attributes(
        &us,
        &web,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "demo-alb-logs"),
            ("access_logs.s3.prefix", "alb/web"),
            ("connection_logs.s3.enabled", "true"),
            ("connection_logs.s3.bucket", "demo-alb-logs"),
            ("connection_logs.s3.prefix", "alb/web-conn"),
        ],
    )
    .await?;
    create_load_balancer(&us, "demo-internal-alb", LoadBalancerKind::Application, &[]).await?;
    let nlb = create_load_balancer(&eu, "demo-eu-nlb", LoadBalancerKind::Network, &[]).await?;
    put_attributes(
        &eu,
        &nlb,
        &[
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "demo-eu-alb-logs"),
        ],
    )
    .await?;
    Ok(())
}
