//! Redshift discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers Redshift log locations.
pub struct RedshiftDiscoverer;

#[async_trait]
impl Discoverer for RedshiftDiscoverer {
    fn service(&self) -> Service {
        Service::Redshift
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
