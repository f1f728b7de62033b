//! Discoverers find where each AWS resource writes its logs. They only read, and they never fail
//! a pass: each returns the sources it found plus the gaps it could not read.

use std::collections::BTreeSet;

use async_trait::async_trait;
use autosub_aws::apis::TargetApis;
use autosub_core::{AccountId, Discovery, FunctionArn, Region, Service};

pub mod lambda;
pub mod s3_access_logs;

pub use lambda::LambdaDiscoverer;
pub use s3_access_logs::S3AccessLogsDiscoverer;

/// What a discoverer needs to know about the target it runs for.
pub struct DiscoverCx<'a> {
    /// The target account.
    pub account: &'a AccountId,
    /// The target region.
    pub region: &'a Region,
    /// The target's AWS capabilities.
    pub apis: &'a TargetApis,
    /// Every configured forwarder; their own resources are never sources.
    pub forwarders: &'a BTreeSet<FunctionArn>,
    /// AWS calls in flight at once.
    pub concurrency: usize,
}

/// Finds the log sources of one service.
#[async_trait]
pub trait Discoverer: Send + Sync {
    /// The service this discoverer covers.
    fn service(&self) -> Service;

    /// The sources found and the gaps hit; never an error.
    async fn discover(&self, cx: &DiscoverCx<'_>) -> Discovery;
}

/// The discoverers for the enabled services, in a fixed order.
pub fn discoverers(enabled: &BTreeSet<Service>) -> Vec<Box<dyn Discoverer>> {
    let all: Vec<Box<dyn Discoverer>> =
        vec![Box::new(LambdaDiscoverer), Box::new(S3AccessLogsDiscoverer)];
    all.into_iter()
        .filter(|d| enabled.contains(&d.service()))
        .collect()
}

/// Runs the discoverers one after another and merges what they found.
pub async fn discover_all(cx: &DiscoverCx<'_>, discoverers: &[Box<dyn Discoverer>]) -> Discovery {
    let mut all = Discovery::default();
    for discoverer in discoverers {
        let found = discoverer.discover(cx).await;
        tracing::info!(
            service = %discoverer.service(),
            sources = found.sources.len(),
            gaps = found.gaps.len(),
            "discovered"
        );
        all.sources.extend(found.sources);
        all.gaps.extend(found.gaps);
    }
    all.normalize()
}
