//! [`SecretsApi`] on the AWS SDK: a secret is read in its own region.

use async_trait::async_trait;
use autosub_core::{AccountId, SecretArn};

use crate::apis::SecretsApi;
use crate::clients::Target;
use crate::error::{AwsError, ErrorClass};
use crate::sdk_error::aws_error;

/// Secrets Manager through the SDK; each secret is read with the client of the secret's region.
pub(crate) struct SdkSecrets {
    target: Target,
}

impl SdkSecrets {
    pub(crate) fn new(target: Target) -> Self {
        Self { target }
    }
}

#[async_trait]
impl SecretsApi for SdkSecrets {
    async fn secret_string(&self, secret: &SecretArn) -> Result<String, AwsError> {
        const OP: &str = "secretsmanager:GetSecretValue";
        let account: &AccountId = &self.target.account;
        let out = self
            .target
            .clients
            .secretsmanager(account, secret.region())
            .get_secret_value()
            .secret_id(secret.as_str())
            .send()
            .await
            .map_err(|e| aws_error(OP, e))?;
        out.secret_string()
            .map(str::to_owned)
            .ok_or_else(|| AwsError {
                class: ErrorClass::Invalid,
                operation: OP,
                code: None,
                message: format!(
                    "secret {secret} holds binary data, not a string; store the api key as text"
                ),
            })
    }
}
