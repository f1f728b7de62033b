//! WAFv2 discoverers (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers the logging of REGIONAL web ACLs in the target region.
pub struct Wafv2Discoverer;

/// Discovers the logging of CLOUDFRONT web ACLs (global, answered in us-east-1).
pub struct Wafv2CloudFrontDiscoverer;

#[async_trait]
impl Discoverer for Wafv2Discoverer {
    fn service(&self) -> Service {
        Service::Wafv2
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}

#[async_trait]
impl Discoverer for Wafv2CloudFrontDiscoverer {
    fn service(&self) -> Service {
        Service::Wafv2
    }

    fn global(&self) -> bool {
        true
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
