//! [`Wafv2Api`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// Wafv2Api through the SDK.
pub(crate) struct SdkWafv2 {
    _target: Target,
}

impl SdkWafv2 {
    pub(crate) fn new(target: Target) -> Self {
        Self { _target: target }
    }
}

fn stub(service: &'static str) -> AwsError {
    AwsError {
        class: ErrorClass::Fatal,
        operation: service,
        code: None,
        message: "not implemented yet".into(),
    }
}

#[async_trait]
impl Wafv2Api for SdkWafv2 {
    async fn web_acls(&self, scope: WafScope) -> Result<Vec<Resource>, AwsError> {
        Err(stub("wafv2"))
    }

    async fn log_destinations(&self, acl_arn: &str) -> Result<Vec<String>, AwsError> {
        Err(stub("wafv2"))
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        Err(stub("wafv2"))
    }
}
