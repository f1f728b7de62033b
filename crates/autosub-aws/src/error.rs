//! AWS errors classified once; the class drives retry, skip, give-up and the metric label.

use std::fmt;

/// What kind of failure an AWS call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// Rate limited even after the SDK's retries.
    Throttled,
    /// Transient (5xx, timeouts, connection errors) even after retries.
    Retryable,
    /// The caller lacks permission.
    AccessDenied,
    /// The resource does not exist.
    NotFound,
    /// A concurrent or conflicting change (e.g. a statement id already taken).
    Conflict,
    /// A hard quota was hit (no free subscription filter slot); never retried.
    LimitExceeded,
    /// The request was rejected as invalid.
    Invalid,
    /// Anything else.
    Fatal,
}

impl ErrorClass {
    /// The label used in reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Retryable => "retryable",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::LimitExceeded => "limit_exceeded",
            Self::Invalid => "invalid",
            Self::Fatal => "fatal",
        }
    }

    /// Classifies a service's error reply by its AWS error code, falling back to the HTTP status
    /// when the code is absent or unknown (HEAD replies carry no body, so no code).
    pub fn of_reply(code: Option<&str>, status: Option<u16>) -> Self {
        if let Some(class) = code.and_then(Self::of_code) {
            return class;
        }
        match status {
            Some(404) => Self::NotFound,
            Some(403) => Self::AccessDenied,
            Some(409 | 412) => Self::Conflict,
            Some(429) => Self::Throttled,
            Some(500..=599) => Self::Retryable,
            _ => Self::Fatal,
        }
    }

    /// The class of a known AWS error code, `None` for codes this table does not know.
    fn of_code(code: &str) -> Option<Self> {
        Some(match code {
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException" => Self::Throttled,
            "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "Forbidden"
            | "AllAccessDisabled"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException" => Self::AccessDenied,
            "NoSuchBucket"
            | "NoSuchKey"
            | "NotFound"
            | "ResourceNotFoundException"
            | "404"
            | "ParentNotFoundException"
            | "OrganizationalUnitNotFoundException"
            | "AccountNotFoundException"
            | "TargetNotFoundException"
            | "AWSOrganizationsNotInUseException" => Self::NotFound,
            "ResourceConflictException"
            | "ConflictException"
            | "OperationAbortedException"
            | "PreconditionFailed"
            | "PreconditionFailedException"
            | "ConditionalCheckFailedException"
            | "ConcurrentModificationException" => Self::Conflict,
            "LimitExceededException" => Self::LimitExceeded,
            "InvalidParameterException"
            | "InvalidParameterValueException"
            | "InvalidParameterCombinationException"
            | "ValidationException"
            | "InvalidArgument"
            | "InvalidRequest"
            | "MalformedXML" => Self::Invalid,
            "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "ServiceException"
            | "RequestTimeout"
            | "RequestTimeoutException" => Self::Retryable,
            _ => return None,
        })
    }
}

/// A failed AWS call: which operation, its class, and AWS's own code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    /// The failure class.
    pub class: ErrorClass,
    /// The operation, e.g. `s3:PutBucketNotificationConfiguration`.
    pub operation: &'static str,
    /// AWS's error code, when it sent one.
    pub code: Option<String>,
    /// AWS's message, or the transport error.
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed ({}", self.operation, self.class.as_str())?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, "): {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorClass::{self, *};

    #[test]
    fn replies_are_classified_by_code_then_status() {
        let check = |code: Option<&str>, status: Option<u16>, want: ErrorClass| {
            assert_eq!(
                ErrorClass::of_reply(code, status),
                want,
                "{code:?} {status:?}"
            );
        };
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "SlowDown",
            "RequestLimitExceeded",
        ] {
            check(Some(code), Some(400), Throttled);
        }
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
        ] {
            check(Some(code), Some(403), AccessDenied);
        }
        for code in [
            "NoSuchBucket",
            "NotFound",
            "ResourceNotFoundException",
            "404",
        ] {
            check(Some(code), Some(404), NotFound);
        }
        // Organizations sends its not-found codes as 400s.
        for code in [
            "ParentNotFoundException",
            "AccountNotFoundException",
            "AWSOrganizationsNotInUseException",
        ] {
            check(Some(code), Some(400), NotFound);
        }
        check(Some("ConcurrentModificationException"), Some(400), Conflict);
        for code in [
            "ResourceConflictException",
            "ConflictException",
            "OperationAbortedException",
            "PreconditionFailed",
        ] {
            check(Some(code), Some(409), Conflict);
        }
        // The code wins over the status: Logs sends LimitExceeded as a 400.
        check(Some("LimitExceededException"), Some(400), LimitExceeded);
        for code in [
            "InvalidParameterException",
            "ValidationException",
            "InvalidArgument",
        ] {
            check(Some(code), Some(400), Invalid);
        }
        check(Some("InternalError"), Some(500), Retryable);
        // No code (HEAD replies): the status decides.
        check(None, Some(404), NotFound);
        check(None, Some(403), AccessDenied);
        check(None, Some(503), Retryable);
        check(None, Some(429), Throttled);
        check(Some("SomethingNew"), Some(502), Retryable);
        check(Some("SomethingNew"), Some(400), Fatal);
        check(None, None, Fatal);
    }

    #[test]
    fn labels_are_snake_case() {
        assert_eq!(LimitExceeded.as_str(), "limit_exceeded");
        assert_eq!(AccessDenied.as_str(), "access_denied");
    }
}
