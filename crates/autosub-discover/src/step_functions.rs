//! StepFunctions discoverer (stub: being implemented).

use async_trait::async_trait;
use autosub_core::{Discovery, Service};

use crate::{DiscoverCx, Discoverer};

/// Discovers StepFunctions log locations.
pub struct StepFunctionsDiscoverer;

#[async_trait]
impl Discoverer for StepFunctionsDiscoverer {
    fn service(&self) -> Service {
        Service::StepFunctions
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn discover(&self, _cx: &DiscoverCx<'_>) -> Discovery {
        Discovery::default()
    }
}
