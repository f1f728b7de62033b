//! Elb discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers Elb log locations.
pub struct ElbDiscoverer;

#[async_trait]
impl Discoverer for ElbDiscoverer {
    fn service(&self) -> Service {
        Service::Elb
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
