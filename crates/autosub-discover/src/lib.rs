//! Discoverers find where each AWS resource writes its logs. They only read, and they never fail
//! a pass: each returns the sources it found, the resources whose logs cannot be subscribed, and
//! the gaps it could not read.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use autosub_aws::apis::TargetApis;
use autosub_core::selection::ResourceFilter;
use autosub_core::{AccountId, Discovery, FunctionArn, Region, Service};

pub mod api_gateway;
pub mod cloudfront;
pub mod elb;
pub mod elbv2;
pub mod lambda;
pub mod redshift;
pub mod s3_access_logs;
pub mod step_functions;
pub mod wafv2;

pub use api_gateway::ApiGatewayDiscoverer;
pub use cloudfront::CloudFrontDiscoverer;
pub use elb::ElbDiscoverer;
pub use elbv2::Elbv2Discoverer;
pub use lambda::LambdaDiscoverer;
pub use redshift::RedshiftDiscoverer;
pub use s3_access_logs::S3AccessLogsDiscoverer;
pub use step_functions::StepFunctionsDiscoverer;
pub use wafv2::{Wafv2CloudFrontDiscoverer, Wafv2Discoverer};

/// What a discoverer needs to know about the target it runs for.
pub struct DiscoverCx<'a> {
    /// The target account.
    pub account: &'a AccountId,
    /// The target region (for global discoverers: the region whose clients they use).
    pub region: &'a Region,
    /// The target's AWS capabilities.
    pub apis: &'a TargetApis,
    /// Every configured forwarder; their own resources are never sources.
    pub forwarders: &'a BTreeSet<FunctionArn>,
    /// The resource filter of each enabled service.
    pub filters: &'a BTreeMap<Service, ResourceFilter>,
    /// AWS calls in flight at once.
    pub concurrency: usize,
}

impl DiscoverCx<'_> {
    /// The resource filter of `service` (everything when none is configured).
    pub fn filter(&self, service: Service) -> ResourceFilter {
        self.filters.get(&service).cloned().unwrap_or_default()
    }
}

/// Finds the log sources of one service.
#[async_trait]
pub trait Discoverer: Send + Sync {
    /// The service this discoverer covers.
    fn service(&self) -> Service;

    /// True for account-wide services (CloudFront, WAF's CLOUDFRONT scope): run once per
    /// account, their sources are shared by every region's pass.
    fn global(&self) -> bool {
        false
    }

    /// The IAM actions the discoverer calls, for `autosub iam-policy`.
    fn iam_actions(&self) -> &'static [&'static str];

    /// The IAM actions it calls only to read tags, when the service's filter selects by tag.
    fn tag_actions(&self) -> &'static [&'static str] {
        &[]
    }

    /// The sources found, the unsubscribable resources and the gaps hit; never an error.
    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery;
}

/// The discoverers of the enabled services, in a fixed order.
pub fn discoverers(enabled: &BTreeSet<Service>) -> Vec<Box<dyn Discoverer>> {
    let all: Vec<Box<dyn Discoverer>> = vec![
        Box::new(LambdaDiscoverer),
        Box::new(S3AccessLogsDiscoverer),
        Box::new(CloudFrontDiscoverer),
        Box::new(Elbv2Discoverer),
        Box::new(ElbDiscoverer),
        Box::new(RedshiftDiscoverer),
        Box::new(StepFunctionsDiscoverer),
        Box::new(Wafv2Discoverer),
        Box::new(Wafv2CloudFrontDiscoverer),
        Box::new(ApiGatewayDiscoverer),
    ];
    all.into_iter()
        .filter(|d| enabled.contains(&d.service()))
        .collect()
}

/// Runs the discoverers one after another and merges what they found.
pub async fn discover_all(cx: &DiscoverCx<'_>, discoverers: &[&dyn Discoverer]) -> Discovery {
    let mut all = Discovery::default();
    for discoverer in discoverers {
        let found = discoverer.discover(cx).await;
        tracing::info!(
            service = %discoverer.service(),
            sources = found.sources.len(),
            unsubscribable = found.unsubscribable.len(),
            gaps = found.gaps.len(),
            "discovered"
        );
        all.merge(found);
    }
    all.normalize()
}

/// A gap for `service` reading `what`.
pub fn gap(service: Service, what: impl std::fmt::Display) -> autosub_core::Gap {
    autosub_core::Gap {
        service,
        detail: what.to_string(),
    }
}
