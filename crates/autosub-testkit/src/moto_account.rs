//! How the seeders reach an account on a moto server: moto acts in the account a request's
//! `x-moto-account-id` header names, and in [`MOTO_DEFAULT_ACCOUNT`] without one.

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::moto::MOTO_DEFAULT_ACCOUNT;

/// Sends `x-moto-account-id` so moto acts in that account.
#[derive(Debug, Clone)]
pub(crate) struct MotoAccountHeader(String);

impl MotoAccountHeader {
    /// The header for `account`; `None` for moto's default account, which needs none.
    pub(crate) fn for_account(account: &str) -> Option<MotoAccountHeader> {
        (account != MOTO_DEFAULT_ACCOUNT).then(|| MotoAccountHeader(account.to_owned()))
    }
}

impl Intercept for MotoAccountHeader {
    fn name(&self) -> &'static str {
        "MotoAccountHeader"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// `sdk` with its region set to `region`.
pub(crate) fn in_region(sdk: &SdkConfig, region: &str) -> SdkConfig {
    sdk.to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// `moto_client!(sfn, sdk, account, region)`: a `sfn::Client` for `account` in `region` from an
/// SDK config that points at moto. Config builder calls may follow, as in
/// `moto_client!(s3, sdk, account, region, force_path_style(true))`.
macro_rules! moto_client {
    (
        $service:ident, $sdk:expr, $account:expr, $region:expr
        $(, $setting:ident($($arg:expr),*))* $(,)?
    ) => {{
        let sdk = $crate::moto_account::in_region($sdk, $region);
        let mut conf = $service::config::Builder::from(&sdk)$(.$setting($($arg),*))*;
        if let Some(header) = $crate::moto_account::MotoAccountHeader::for_account($account) {
            conf = conf.interceptor(header);
        }
        $service::Client::from_conf(conf.build())
    }};
}
pub(crate) use moto_client;
