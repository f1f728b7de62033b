//! The one place SDK errors become [`AwsError`]s.
//!
//! Typed SDK results go through [`aws_error`]. Interceptors and retry classifiers only see a
//! type-erased operation error, so [`erased_meta`] recovers its code by trying every operation
//! error type this crate calls; an operation missing from that list falls back to the HTTP status.

use aws_smithy_runtime_api::client::interceptors::context::Error as ErasedError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};

use crate::error::{AwsError, ErrorClass};

/// Maps a failed SDK call of `operation` (`"s3:HeadBucket"` style) to an [`AwsError`].
pub(crate) fn aws_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (class, code, message) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_owned);
            let message = match (e.message(), &code, status) {
                (Some(message), _, _) => message.to_owned(),
                // HEAD replies have a code from their status but no body; a proxy or an
                // emulator may answer a bare HTTP error page.
                (None, _, Some(status)) => format!("http status {status}"),
                (None, _, _) => DisplayErrorContext(&err).to_string(),
            };
            (ErrorClass::of_reply(code.as_deref(), status), code, message)
        }
        SdkError::TimeoutError(_) => (
            ErrorClass::Retryable,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
        SdkError::DispatchFailure(d) => {
            // A user error (e.g. a malformed endpoint URL) will not heal by retrying.
            let class = if d.is_user() {
                ErrorClass::Fatal
            } else {
                ErrorClass::Retryable
            };
            (class, None, DisplayErrorContext(&err).to_string())
        }
        SdkError::ResponseError(_) => {
            let class = match status {
                Some(500..=599) => ErrorClass::Retryable,
                _ => ErrorClass::Fatal,
            };
            (class, None, DisplayErrorContext(&err).to_string())
        }
        _ => (
            ErrorClass::Fatal,
            None,
            DisplayErrorContext(&err).to_string(),
        ),
    };
    AwsError {
        class,
        operation,
        code,
        message,
    }
}

/// The error class of a finished operation as an interceptor sees it.
pub(crate) fn erased_class(
    error: &OrchestratorError<ErasedError>,
    response: Option<&HttpResponse>,
) -> ErrorClass {
    if error.is_timeout_error() {
        return ErrorClass::Retryable;
    }
    if let Some(connector) = error.as_connector_error() {
        return if connector.is_user() {
            ErrorClass::Fatal
        } else {
            ErrorClass::Retryable
        };
    }
    let status = response.map(|r| r.status().as_u16());
    if error.is_operation_error() {
        let code = error
            .as_operation_error()
            .and_then(erased_meta)
            .and_then(|m| m.code());
        return ErrorClass::of_reply(code, status);
    }
    match status {
        Some(500..=599) => ErrorClass::Retryable,
        _ => ErrorClass::Fatal,
    }
}

/// The AWS error code of a type-erased operation error, when it is one this crate calls.
pub(crate) fn erased_code(error: &OrchestratorError<ErasedError>) -> Option<&str> {
    error
        .as_operation_error()
        .and_then(erased_meta)
        .and_then(|m| m.code())
}

/// The metadata (code, message) of a type-erased operation error.
fn erased_meta(error: &ErasedError) -> Option<&ErrorMetadata> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $(if let Some(e) = error.downcast_ref::<$t>() {
                return Some(e.meta());
            })*
        };
    }
    try_types!(
        aws_sdk_s3::operation::list_buckets::ListBucketsError,
        aws_sdk_s3::operation::head_bucket::HeadBucketError,
        aws_sdk_s3::operation::get_bucket_logging::GetBucketLoggingError,
        aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationError,
        aws_sdk_s3::operation::put_bucket_notification_configuration::PutBucketNotificationConfigurationError,
        aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsError,
        aws_sdk_cloudwatchlogs::operation::describe_subscription_filters::DescribeSubscriptionFiltersError,
        aws_sdk_cloudwatchlogs::operation::put_subscription_filter::PutSubscriptionFilterError,
        aws_sdk_cloudwatchlogs::operation::delete_subscription_filter::DeleteSubscriptionFilterError,
        aws_sdk_lambda::operation::list_functions::ListFunctionsError,
        aws_sdk_lambda::operation::get_policy::GetPolicyError,
        aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationError,
        aws_sdk_lambda::operation::add_permission::AddPermissionError,
        aws_sdk_lambda::operation::remove_permission::RemovePermissionError,
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::operation::put_object::PutObjectError,
        aws_sdk_dynamodb::operation::query::QueryError,
        aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::operation::get_item::GetItemError,
        aws_sdk_organizations::operation::list_accounts::ListAccountsError,
        aws_sdk_organizations::operation::list_accounts_for_parent::ListAccountsForParentError,
        aws_sdk_organizations::operation::list_children::ListChildrenError,
        aws_sdk_organizations::operation::list_tags_for_resource::ListTagsForResourceError,
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
    );
    None
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatchlogs::operation::put_subscription_filter::PutSubscriptionFilterError;
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn erased(code: &str) -> OrchestratorError<ErasedError> {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let err = PutSubscriptionFilterError::generic(meta);
        OrchestratorError::operation(ErasedError::erase(err))
    }

    #[test]
    fn service_errors_keep_code_message_and_class() {
        use aws_sdk_lambda::operation::get_policy::GetPolicyError;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let reply = |status: u16| {
            let status = StatusCode::try_from(status).expect("valid status");
            HttpResponse::new(status, SdkBody::empty())
        };
        let meta = ErrorMetadata::builder()
            .code("ResourceNotFoundException")
            .message("no policy")
            .build();
        let err = SdkError::service_error(GetPolicyError::generic(meta), reply(404));
        let mapped = aws_error("lambda:GetPolicy", err);
        assert_eq!(mapped.class, ErrorClass::NotFound);
        assert_eq!(mapped.code.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(mapped.message, "no policy");
        assert_eq!(
            mapped.to_string(),
            "lambda:GetPolicy failed (not_found, ResourceNotFoundException): no policy"
        );
        let bare = ErrorMetadata::builder().code("NotFound").build();
        let err = SdkError::service_error(GetPolicyError::generic(bare), reply(404));
        assert_eq!(aws_error("x:Y", err).message, "http status 404");
    }

    #[test]
    fn erased_errors_reveal_their_code() {
        let err = erased("LimitExceededException");
        assert_eq!(erased_code(&err), Some("LimitExceededException"));
        assert_eq!(erased_class(&err, None), ErrorClass::LimitExceeded);
        assert_eq!(
            erased_class(&erased("ThrottlingException"), None),
            ErrorClass::Throttled
        );
        let other = OrchestratorError::<ErasedError>::timeout("slow".into());
        assert_eq!(erased_class(&other, None), ErrorClass::Retryable);
    }
}
