//! [`CloudFrontApi`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// CloudFrontApi through the SDK.
pub(crate) struct SdkCloudFront {
    _target: Target,
}

impl SdkCloudFront {
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
impl CloudFrontApi for SdkCloudFront {
    async fn distributions(&self) -> Result<Vec<Resource>, AwsError> {
        Err(stub("cloudfront"))
    }

    async fn logging(&self, distribution_id: &str) -> Result<Option<AccessLogTarget>, AwsError> {
        Err(stub("cloudfront"))
    }

    async fn tags(&self, arn: &str) -> Result<Tags, AwsError> {
        Err(stub("cloudfront"))
    }
}
