//! `[forwarders]` (and a fleet account's own): the forwarder of each region.

use std::collections::BTreeMap;

use autosub_core::{AccountId, FunctionArn, Region};

use crate::Problems;
use crate::aws::looks_like_region;

/// The forwarder of each region.
pub type Forwarders = BTreeMap<Region, ForwarderRef>;

/// A configured forwarder: an ARN, or a name to resolve in the target account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwarderRef {
    /// A full function ARN.
    Arn(FunctionArn),
    /// A function name in the target account.
    Name(String),
}

impl ForwarderRef {
    /// A function ARN (a value starting `arn:`), else a function name; the error says why it
    /// is neither.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.starts_with("arn:") {
            FunctionArn::parse(value)
                .map(Self::Arn)
                .map_err(|e| e.to_string())
        } else if value.is_empty() || value.contains(':') || value.len() > 64 {
            Err(format!(
                "{value:?} is neither a function ARN nor a function name (1-64 letters, digits, '-' or '_')"
            ))
        } else {
            Ok(Self::Name(value.to_owned()))
        }
    }

    /// The forwarder's ARN in `account` for `region`.
    pub fn resolve(&self, account: &AccountId, region: &Region) -> FunctionArn {
        match self {
            Self::Arn(arn) => arn.clone(),
            Self::Name(name) => FunctionArn::from_parts(account, region, name),
        }
    }
}

/// The forwarders of the table at `key`, each checked at `key.<region>`: a region code, and a
/// function in that region (S3 and CloudWatch Logs only invoke a function of their own region).
pub(crate) fn validate(
    key: &str,
    raw: BTreeMap<String, String>,
    p: &mut Problems,
) -> Option<Forwarders> {
    let mut forwarders = Forwarders::new();
    let mut complete = true;
    for (region, value) in raw {
        let key = format!("{key}.{region}");
        let mut valid = true;
        if !looks_like_region(&region) {
            p.add(
                key.clone(),
                format!("{region:?} is not an AWS region code such as \"us-east-1\""),
            );
            valid = false;
        }
        let forwarder = match p.check(key.clone(), ForwarderRef::parse(&value)) {
            Some(ForwarderRef::Arn(arn)) if arn.region().as_str() != region => {
                p.add(
                    key,
                    format!(
                        "the function is in {} but is listed for {region}; S3 and CloudWatch Logs can only invoke a forwarder in their own region",
                        arn.region()
                    ),
                );
                None
            }
            forwarder => forwarder,
        };
        match forwarder {
            Some(forwarder) if valid => {
                forwarders.insert(Region::new(region), forwarder);
            }
            _ => complete = false,
        }
    }
    complete.then_some(forwarders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarder_is_an_arn_or_a_name_never_a_bad_arn_taken_as_a_name() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:fwd:live";
        assert_eq!(
            ForwarderRef::parse(arn),
            Ok(ForwarderRef::Arn(FunctionArn::parse(arn).unwrap()))
        );
        assert_eq!(
            ForwarderRef::parse("datadog-forwarder"),
            Ok(ForwarderRef::Name("datadog-forwarder".into()))
        );
        let err = ForwarderRef::parse("arn:aws:lambda:us-east-1:function:fwd").unwrap_err();
        assert!(err.contains("is not a Lambda function ARN"), "{err}");
        assert!(ForwarderRef::parse("").is_err());
        assert!(ForwarderRef::parse(&"f".repeat(65)).is_err());
    }
}
