//! `[aws]`: how to reach AWS, and the region and account id rules other sections share.

use serde::Deserialize;

use crate::Problems;

/// `aws.regions = ["all"]`: every region enabled in the account (EC2 DescribeRegions).
pub const ALL_REGIONS: &str = "all";

/// How to reach AWS. Credentials always come from the default chain.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// The regions to reconcile, one pass each, or `["all"]` for every region enabled in the
    /// account; defaults to `AWS_REGION` / the profile's region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// The account to reconcile; defaults to the caller's (STS GetCallerIdentity).
    pub account_id: Option<String>,
    /// An endpoint for every service (an emulator or a proxy); overrides `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Attempts per AWS call, including the first (default 10: under throttling a call waits
    /// longer rather than fails; see `partition` in autosub-aws).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// AWS calls in flight at once while observing.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            regions: Vec::new(),
            account_id: None,
            endpoint_url: None,
            max_attempts: default_max_attempts(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_max_attempts() -> u32 {
    10
}

fn default_concurrency() -> usize {
    8
}

impl AwsConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        if let Some(account) = &self.account_id
            && !is_account_id(account)
        {
            p.add(
                "aws.account_id",
                format!("{account:?} is not a 12-digit account id"),
            );
        }
        region_list_problems("aws.regions", &self.regions, p);
        if self.max_attempts == 0 {
            p.add(
                "aws.max_attempts",
                "must be at least 1 (the first attempt counts)",
            );
        }
        if self.concurrency == 0 {
            p.add("aws.concurrency", "must be at least 1");
        }
    }
}

/// Problems of a region list at `key`: region codes, or `["all"]` alone.
pub(crate) fn region_list_problems(key: &str, regions: &[String], p: &mut Problems) {
    if regions.iter().any(|r| r == ALL_REGIONS) {
        if regions.len() > 1 {
            p.add(
                key,
                "\"all\" means every region enabled in the account; list it alone or list regions",
            );
        }
        return;
    }
    for (i, region) in regions.iter().enumerate() {
        if !looks_like_region(region) {
            p.add(
                format!("{key}[{i}]"),
                format!("{region:?} is not an AWS region code such as \"us-east-1\", or \"all\""),
            );
        }
    }
}

/// True for a region code's shape: lowercase words and digits joined by `-`, at least three,
/// the last all digits (`us-east-1`, `us-gov-west-1`).
pub(crate) fn looks_like_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// True for a 12-digit account id.
pub(crate) fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}
