//! Identifiers of AWS things autosub reasons about, as validated newtypes.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw value; callers are trusted to pass what AWS returned or the user wrote.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The raw value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

string_id!(
    /// A 12-digit AWS account id.
    AccountId
);
string_id!(
    /// An AWS region code such as `us-east-1`.
    Region
);
string_id!(
    /// An S3 bucket name.
    BucketName
);
string_id!(
    /// A CloudWatch Logs log group name.
    LogGroupName
);

/// The AWS partition a region belongs to; it is the second field of every ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    /// Commercial regions.
    Aws,
    /// China regions.
    AwsCn,
    /// GovCloud regions.
    AwsUsGov,
}

impl Partition {
    /// The partition of a region, from its well-known name prefix.
    pub fn of(region: &Region) -> Self {
        let r = region.as_str();
        if r.starts_with("cn-") {
            Self::AwsCn
        } else if r.starts_with("us-gov-") {
            Self::AwsUsGov
        } else {
            Self::Aws
        }
    }

    /// The partition as written in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }
}

impl LogGroupName {
    /// The ARN CloudWatch Logs presents as `SourceArn` when it invokes a subscription destination.
    pub fn arn(&self, account: &AccountId, region: &Region) -> String {
        format!(
            "arn:{}:logs:{region}:{account}:log-group:{}:*",
            Partition::of(region).as_str(),
            self.0
        )
    }
}

impl BucketName {
    /// The bucket's ARN, which S3 presents as `SourceArn` when it invokes a Lambda.
    pub fn arn(&self, partition: Partition) -> String {
        format!("arn:{}:s3:::{}", partition.as_str(), self.0)
    }
}

/// An unqualified Lambda function ARN: `arn:<partition>:lambda:<region>:<account>:function:<name>`.
///
/// Qualifiers (`:alias`, `:42`) are dropped when parsing so that a trigger pointing at a version
/// or alias of the forwarder still counts as pointing at the forwarder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionArn {
    partition: String,
    region: Region,
    account: AccountId,
    name: String,
}

/// A string that is not a Lambda function ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAFunctionArn(pub String);

impl fmt::Display for NotAFunctionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a Lambda function ARN (expected arn:aws:lambda:<region>:<account>:function:<name>)",
            self.0
        )
    }
}

impl std::error::Error for NotAFunctionArn {}

impl FunctionArn {
    /// Parses a function ARN, dropping any version or alias qualifier.
    pub fn parse(arn: &str) -> Result<Self, NotAFunctionArn> {
        let bad = || NotAFunctionArn(arn.to_owned());
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() < 7 || parts.len() > 8 || parts[0] != "arn" {
            return Err(bad());
        }
        if parts[2] != "lambda" || parts[5] != "function" {
            return Err(bad());
        }
        if parts[1].is_empty() || parts[3].is_empty() || parts[4].is_empty() || parts[6].is_empty()
        {
            return Err(bad());
        }
        Ok(Self {
            partition: parts[1].to_owned(),
            region: Region::new(parts[3]),
            account: AccountId::new(parts[4]),
            name: parts[6].to_owned(),
        })
    }

    /// Builds the ARN of a function from its parts.
    pub fn from_parts(account: &AccountId, region: &Region, name: &str) -> Self {
        Self {
            partition: Partition::of(region).as_str().to_owned(),
            region: region.clone(),
            account: account.clone(),
            name: name.to_owned(),
        }
    }

    /// The function's region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The function's account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when `other` (any ARN string, possibly qualified) names this function.
    pub fn is(&self, other: &str) -> bool {
        Self::parse(other).is_ok_and(|o| &o == self)
    }
}

impl fmt::Display for FunctionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

impl TryFrom<String> for FunctionArn {
    type Error = NotAFunctionArn;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<FunctionArn> for String {
    fn from(value: FunctionArn) -> Self {
        value.to_string()
    }
}

/// A Secrets Manager secret ARN: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`.
/// The secret is read in its own region, whatever region autosub runs in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct SecretArn {
    arn: String,
    region: Region,
}

/// A string that is not a Secrets Manager secret ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotASecretArn(pub String);

impl fmt::Display for NotASecretArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a Secrets Manager secret ARN (expected arn:aws:secretsmanager:<region>:<account>:secret:<name>)",
            self.0
        )
    }
}

impl std::error::Error for NotASecretArn {}

impl SecretArn {
    /// Parses a secret ARN.
    pub fn parse(arn: &str) -> Result<Self, NotASecretArn> {
        let parts: Vec<&str> = arn.trim().splitn(7, ':').collect();
        match parts.as_slice() {
            [
                "arn",
                partition,
                "secretsmanager",
                region,
                account,
                "secret",
                name,
            ] if !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && !name.is_empty() =>
            {
                Ok(Self {
                    arn: arn.trim().to_owned(),
                    region: Region::new(*region),
                })
            }
            _ => Err(NotASecretArn(arn.to_owned())),
        }
    }

    /// The secret's region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl fmt::Display for SecretArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl From<SecretArn> for String {
    fn from(value: SecretArn) -> Self {
        value.arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_arns_name_their_region() {
        let arn = SecretArn::parse(
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-api-key-AbCdEf",
        )
        .unwrap();
        assert_eq!(arn.region().as_str(), "eu-west-1");
        for bad in [
            "",
            "dd-api-key",
            "arn:aws:lambda:eu-west-1:1:function:x",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:",
        ] {
            assert!(SecretArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn function_arns_parse_and_drop_qualifiers() {
        let plain =
            FunctionArn::parse("arn:aws:lambda:eu-west-1:111122223333:function:fwd").unwrap();
        let alias =
            FunctionArn::parse("arn:aws:lambda:eu-west-1:111122223333:function:fwd:live").unwrap();
        assert_eq!(plain, alias);
        assert_eq!(
            plain.to_string(),
            "arn:aws:lambda:eu-west-1:111122223333:function:fwd"
        );
        assert_eq!(plain.region().as_str(), "eu-west-1");
        for bad in [
            "",
            "fwd",
            "arn:aws:s3:::b",
            "arn:aws:lambda:eu-west-1:1:layer:x",
        ] {
            assert!(FunctionArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partitions_follow_the_region() {
        let check = |region: &str, want: &str| {
            assert_eq!(Partition::of(&Region::new(region)).as_str(), want)
        };
        check("us-east-1", "aws");
        check("cn-north-1", "aws-cn");
        check("us-gov-west-1", "aws-us-gov");
        let arn = LogGroupName::new("/aws/lambda/x")
            .arn(&AccountId::new("111122223333"), &Region::new("cn-north-1"));
        assert_eq!(
            arn,
            "arn:aws-cn:logs:cn-north-1:111122223333:log-group:/aws/lambda/x:*"
        );
    }
}
