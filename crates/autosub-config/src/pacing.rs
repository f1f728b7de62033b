//! `[pacing]`: client-side pacing of AWS calls.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Problems;

/// Client-side pacing: a token bucket per (account, region, API).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingConfig {
    /// Calls per second by `service:Operation` (IAM spelling, e.g. `logs:DescribeLogGroups`) or
    /// `service:*`; overrides the built-in table of AWS's published quotas.
    #[serde(default)]
    pub calls_per_sec: BTreeMap<String, f64>,
}

impl PacingConfig {
    pub(crate) fn check(&self, p: &mut Problems) {
        for (api, rate) in &self.calls_per_sec {
            let key = format!("pacing.calls_per_sec.\"{api}\"");
            let shape_ok = api.split_once(':').is_some_and(|(service, op)| {
                !service.is_empty()
                    && service
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && (op == "*"
                        || (!op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric())))
            });
            if !shape_ok {
                p.add(
                    key.clone(),
                    "name an API as IAM spells it, \"logs:DescribeLogGroups\", or a whole service, \"logs:*\"",
                );
            }
            if !(rate.is_finite() && *rate > 0.0) {
                p.add(
                    key,
                    format!("{rate} is not a positive number of calls per second"),
                );
            }
        }
    }
}
