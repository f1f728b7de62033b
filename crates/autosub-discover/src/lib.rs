//! Discoverers find where each AWS resource writes its logs. They only read, and they never fail
//! a pass: each returns the sources it found, the resources whose logs cannot be subscribed, and
//! the gaps it could not read.
//!
//! Each service's module holds only what is particular to it: its listing calls and how its
//! logging settings map to locations. The steps they share (select by name and tags, bounded
//! per-resource reads, gone-versus-gap) are in [`pipeline`], and the reading of destination ARNs
//! (log group, S3 bucket, Firehose) in [`destination`].

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use autosub_aws::apis::TargetApis;
use autosub_core::focus::Focus;
use autosub_core::selection::ResourceFilter;
use autosub_core::{AccountId, Discovery, FunctionArn, Region, Service};

pub mod api_gateway;
pub mod cloudfront;
pub mod cloudtrail;
pub mod destination;
pub mod elb;
pub mod elbv2;
pub mod lambda;
pub mod pipeline;
pub mod redshift;
pub mod s3_access_logs;
pub mod step_functions;
#[cfg(test)]
mod testing;
pub mod vpc_flow_logs;
pub mod wafv2;

pub use api_gateway::ApiGatewayDiscoverer;
pub use cloudfront::CloudFrontDiscoverer;
pub use cloudtrail::CloudTrailDiscoverer;
pub use elb::ElbDiscoverer;
pub use elbv2::Elbv2Discoverer;
pub use lambda::LambdaDiscoverer;
pub use redshift::RedshiftDiscoverer;
pub use s3_access_logs::S3AccessLogsDiscoverer;
pub use step_functions::StepFunctionsDiscoverer;
pub use vpc_flow_logs::VpcFlowLogsDiscoverer;
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
    /// In a targeted pass, the only resources to read (the others are listed, never read).
    pub focus: Option<&'a Focus>,
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

    /// The sources found, the unsubscribable resources and the gaps hit; never an error.
    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery;
}

/// The discoverers of the enabled services, by where they run, each in the order of
/// [`Service::ALL`].
#[derive(Default)]
pub struct Discoverers {
    /// Run by every region's pass.
    pub regional: Vec<Box<dyn Discoverer>>,
    /// Run once per account (in [`autosub_core::GLOBAL_LOG_REGION`]); their sources are shared
    /// by every region's pass.
    pub global: Vec<Box<dyn Discoverer>>,
}

/// The discoverers of one service: one per part its [`autosub_core::Scope`] names.
struct Parts {
    regional: Option<Box<dyn Discoverer>>,
    global: Option<Box<dyn Discoverer>>,
}

/// The discoverer of each part of `service`; `service_parts_follow_the_registry_s_scope`
/// checks them against the registry's [`autosub_core::Scope`].
fn parts(service: Service) -> Parts {
    fn regional(d: impl Discoverer + 'static) -> Parts {
        Parts {
            regional: Some(Box::new(d)),
            global: None,
        }
    }
    match service {
        Service::Lambda => regional(LambdaDiscoverer),
        Service::S3AccessLogs => regional(S3AccessLogsDiscoverer),
        Service::CloudFront => Parts {
            regional: None,
            global: Some(Box::new(CloudFrontDiscoverer)),
        },
        Service::Elbv2 => regional(Elbv2Discoverer),
        Service::Elb => regional(ElbDiscoverer),
        Service::Redshift => regional(RedshiftDiscoverer),
        Service::StepFunctions => regional(StepFunctionsDiscoverer),
        Service::Wafv2 => Parts {
            regional: Some(Box::new(Wafv2Discoverer)),
            global: Some(Box::new(Wafv2CloudFrontDiscoverer)),
        },
        Service::ApiGateway => regional(ApiGatewayDiscoverer),
        Service::CloudTrail => regional(CloudTrailDiscoverer),
        Service::VpcFlowLogs => regional(VpcFlowLogsDiscoverer),
    }
}

/// The discoverers of the enabled services, split by the registry's scope of each.
pub fn discoverers_by_scope(enabled: &BTreeSet<Service>) -> Discoverers {
    let mut all = Discoverers::default();
    for service in Service::ALL.into_iter().filter(|s| enabled.contains(s)) {
        let parts = parts(service);
        if service.is_regional() {
            all.regional.extend(parts.regional);
        }
        if service.is_global() {
            all.global.extend(parts.global);
        }
    }
    all
}

/// Every discoverer of the enabled services, in the order of [`Service::ALL`] (a service's
/// regional part before its global one).
pub fn discoverers(enabled: &BTreeSet<Service>) -> Vec<Box<dyn Discoverer>> {
    let mut all = Vec::new();
    for service in Service::ALL.into_iter().filter(|s| enabled.contains(s)) {
        let parts = parts(service);
        all.extend(parts.regional.filter(|_| service.is_regional()));
        all.extend(parts.global.filter(|_| service.is_global()));
    }
    all
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_parts_follow_the_registry_s_scope() {
        for service in Service::ALL {
            let parts = parts(service);
            assert_eq!(parts.regional.is_some(), service.is_regional(), "{service}");
            assert_eq!(parts.global.is_some(), service.is_global(), "{service}");
            for d in parts.regional.iter().chain(&parts.global) {
                assert_eq!(d.service(), service);
            }
        }
    }
}
