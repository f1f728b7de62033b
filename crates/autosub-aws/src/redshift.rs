//! [`RedshiftApi`] on the AWS SDK. (Stub: being implemented.)

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::apis::AccessLogTarget;
use crate::error::{AwsError, ErrorClass};
use crate::factory::Target;
use crate::source_apis::*;

/// RedshiftApi through the SDK.
pub(crate) struct SdkRedshift {
    _target: Target,
}

impl SdkRedshift {
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
impl RedshiftApi for SdkRedshift {
    async fn clusters(&self) -> Result<Vec<TaggedResource>, AwsError> {
        Err(stub("redshift"))
    }

    async fn logging(&self, cluster_id: &str) -> Result<RedshiftLogging, AwsError> {
        Err(stub("redshift"))
    }
}
