//! [`Elbv2Api`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// Elbv2Api through the SDK.
pub(crate) struct SdkElbv2 {
    _target: Target,
}

impl SdkElbv2 {
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
impl Elbv2Api for SdkElbv2 {
    async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError> {
        Err(stub("elbv2"))
    }

    async fn attributes(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        Err(stub("elbv2"))
    }

    async fn tags(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
        Err(stub("elbv2"))
    }
}
