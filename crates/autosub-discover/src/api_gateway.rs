//! ApiGateway discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers ApiGateway log locations.
pub struct ApiGatewayDiscoverer;

#[async_trait]
impl Discoverer for ApiGatewayDiscoverer {
    fn service(&self) -> Service {
        Service::ApiGateway
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
