//! [`StepFunctionsApi`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// StepFunctionsApi through the SDK.
pub(crate) struct SdkStepFunctions {
    _target: Target,
}

impl SdkStepFunctions {
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
impl StepFunctionsApi for SdkStepFunctions {
    async fn state_machines(&self) -> Result<Vec<Resource>, AwsError> {
        Err(stub("step_functions"))
    }

    async fn log_group_arns(&self, arn: &str) -> Result<Vec<String>, AwsError> {
        Err(stub("step_functions"))
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        Err(stub("step_functions"))
    }
}
