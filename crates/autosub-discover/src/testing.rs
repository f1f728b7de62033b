//! What the discoverers' unit tests share: refused calls, a run over a fake API, and the check
//! that a refused read is one gap naming the resource.

use autosub_aws::error::{AwsError, ErrorClass};
use autosub_core::selection::ResourceFilter;
use autosub_core::{AccountId, Discovery, Region, Service};
use futures::future::BoxFuture;

use crate::pipeline::Pipeline;

/// The account the fakes' resources are in.
pub(crate) const ACCOUNT: &str = "123456789012";

/// `operation` refused with `class`.
pub(crate) fn refused(class: ErrorClass, operation: &'static str) -> AwsError {
    AwsError {
        class,
        operation,
        code: Some("AccessDeniedException".into()),
        message: "not authorized".into(),
    }
}

/// `operation` refused for want of a permission.
pub(crate) fn denied(operation: &'static str) -> AwsError {
    refused(ErrorClass::AccessDenied, operation)
}

/// What `discover` finds over `api` for `service` in [`ACCOUNT`] and `region`, selecting
/// everything.
pub(crate) fn run<A: ?Sized>(
    service: Service,
    region: &str,
    api: &A,
    discover: impl for<'a> FnOnce(&'a A, &'a Pipeline<'a>) -> BoxFuture<'a, Discovery>,
) -> Discovery {
    let (account, region) = (AccountId::new(ACCOUNT), Region::new(region));
    let p = Pipeline::new(service, &account, &region, ResourceFilter::default(), 2);
    futures::executor::block_on(discover(api, &p))
}

/// Checks that `found` is no source and one gap of `service` naming `resource` and the denial.
pub(crate) fn assert_denied_gap(found: &Discovery, service: Service, resource: &str) {
    assert!(found.sources.is_empty(), "{found:?}");
    assert_eq!(found.gaps.len(), 1, "{found:?}");
    assert_eq!(found.gaps[0].service, service);
    assert!(found.gaps[0].detail.contains(resource), "{found:?}");
    assert!(found.gaps[0].detail.contains("access_denied"), "{found:?}");
}
