//! CloudFront discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers CloudFront log locations.
pub struct CloudFrontDiscoverer;

#[async_trait]
impl Discoverer for CloudFrontDiscoverer {
    fn service(&self) -> Service {
        Service::CloudFront
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
