//! [`ElbApi`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// ElbApi through the SDK.
pub(crate) struct SdkElb {
    _target: Target,
}

impl SdkElb {
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
impl ElbApi for SdkElb {
    async fn load_balancers(&self) -> Result<Vec<Resource>, AwsError> {
        Err(stub("elb"))
    }

    async fn access_log(&self, name: &str) -> Result<Option<AccessLogTarget>, AwsError> {
        Err(stub("elb"))
    }

    async fn tags(&self, names: &[String]) -> Result<BTreeMap<String, Tags>, AwsError> {
        Err(stub("elb"))
    }
}
