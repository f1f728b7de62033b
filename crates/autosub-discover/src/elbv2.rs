//! Elbv2 discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers Elbv2 log locations.
pub struct Elbv2Discoverer;

#[async_trait]
impl Discoverer for Elbv2Discoverer {
    fn service(&self) -> Service {
        Service::Elbv2
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
