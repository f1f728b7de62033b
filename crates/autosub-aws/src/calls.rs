//! Counts of AWS calls by service, operation and outcome, recorded by an SDK interceptor.
//!
//! Counting rule: one count per *operation* with its final outcome (after the SDK's retries), so
//! the numbers match what callers saw; retried attempts show in [`CallRecorder::attempts`] only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::ErrorClass;
use crate::sdk_error::erased_class;

/// Key of one counter: (service, operation, outcome), e.g. `("S3", "HeadBucket", "ok")`.
pub type CallKey = (String, String, String);

/// An SDK interceptor on every client the factory builds; clones share the same counters.
#[derive(Clone, Debug, Default)]
pub struct CallRecorder {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    calls: Mutex<BTreeMap<CallKey, u64>>,
    throttles: Mutex<BTreeMap<String, u64>>,
    attempts: AtomicU64,
}

impl CallRecorder {
    /// A recorder with no calls yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Operations so far by (service, operation, outcome); outcome is `ok` or an
    /// [`ErrorClass`] label. Service and operation are the SDK's names (`CloudWatch Logs`,
    /// `PutSubscriptionFilter`).
    pub fn snapshot(&self) -> BTreeMap<CallKey, u64> {
        self.calls().clone()
    }

    /// Operations so far, whatever their outcome.
    pub fn total(&self) -> u64 {
        self.calls().values().sum()
    }

    /// Attempts AWS answered with a throttling error, retried or not, by service.
    pub fn throttles(&self) -> BTreeMap<String, u64> {
        self.inner
            .throttles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// HTTP attempts so far, retries included (`attempts - total` is the number of retries).
    pub fn attempts(&self) -> u64 {
        self.inner.attempts.load(Ordering::Relaxed)
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, BTreeMap<CallKey, u64>> {
        // A panic while holding the lock cannot leave a half-updated counter map.
        self.inner
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, service: &str, operation: &str, outcome: &str) {
        let key = (service.to_owned(), operation.to_owned(), outcome.to_owned());
        *self.calls().entry(key).or_default() += 1;
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "autosub::CallRecorder"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some(Err(error)) = context.output_or_error()
            && erased_class(error, context.response()) == ErrorClass::Throttled
        {
            let service = cfg.load::<Metadata>().map_or("unknown", |m| m.service());
            *self
                .inner
                .throttles
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(service.to_owned())
                .or_default() += 1;
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            Some(Err(error)) => erased_class(error, context.response()).as_str(),
            // The operation stopped before producing a result (e.g. a failed interceptor).
            None => ErrorClass::Fatal.as_str(),
        };
        self.record(service, operation, outcome);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shared_between_clones() {
        let recorder = CallRecorder::new();
        let clone = recorder.clone();
        clone.record("S3", "HeadBucket", "ok");
        clone.record("S3", "HeadBucket", "ok");
        recorder.record("Lambda", "GetPolicy", "not_found");
        assert_eq!(recorder.total(), 3);
        let snapshot = recorder.snapshot();
        assert_eq!(
            snapshot[&("S3".into(), "HeadBucket".into(), "ok".into())],
            2
        );
        assert_eq!(snapshot.len(), 2);
    }
}
