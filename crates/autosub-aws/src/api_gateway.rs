//! [`ApiGatewayApi`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// ApiGatewayApi through the SDK.
pub(crate) struct SdkApiGateway {
    _target: Target,
}

impl SdkApiGateway {
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
impl ApiGatewayApi for SdkApiGateway {
    async fn rest_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
        Err(stub("api_gateway"))
    }

    async fn rest_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
        Err(stub("api_gateway"))
    }

    async fn http_apis(&self) -> Result<Vec<GatewayApi>, AwsError> {
        Err(stub("api_gateway"))
    }

    async fn http_stages(&self, api_id: &str) -> Result<Vec<Stage>, AwsError> {
        Err(stub("api_gateway"))
    }
}
