//! `[events]`: event-driven mode, an SQS queue of CloudTrail events that `autosub run` follows.

use std::time::Duration;

use autosub_core::{AccountId, Region};
use serde::Deserialize;

use crate::Problems;

/// `[events]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEventsConfig {
    /// The queue's URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
    #[serde(default)]
    pub(crate) queue_url: Option<String>,
    /// How long a target's events are gathered before its targeted pass.
    #[serde(default = "default_debounce_ms")]
    debounce_ms: u64,
}

impl Default for RawEventsConfig {
    fn default() -> Self {
        Self {
            queue_url: None,
            debounce_ms: default_debounce_ms(),
        }
    }
}

fn default_debounce_ms() -> u64 {
    1_000
}

/// Event-driven mode: off without a queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventsConfig {
    /// The queue `autosub run` long-polls, when event-driven mode is on.
    pub queue: Option<QueueUrl>,
    /// How long a target's events are gathered before its targeted pass.
    pub debounce: Duration,
}

/// An SQS queue URL taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueUrl {
    /// The URL as configured.
    pub url: String,
    /// The queue's region, when the host names it (AWS endpoints do; emulators do not).
    pub region: Option<Region>,
    /// The account that owns the queue.
    pub account: AccountId,
    /// The queue's name.
    pub name: String,
}

impl QueueUrl {
    /// Parses `http[s]://<host>/<account>/<name>`; the region is read from an AWS host
    /// (`sqs.<region>.amazonaws.com[.cn]`, or the legacy `<region>.queue.amazonaws.com`).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{url:?} has no /<account>/<queue> path"))?;
        let [account, name] = path.trim_end_matches('/').split('/').collect::<Vec<_>>()[..] else {
            return Err(format!(
                "{url:?} is not a queue URL: the path must be /<account id>/<queue name>"
            ));
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{url:?}: {account:?} is not a 12-digit account id; copy the URL from the SQS console or `aws sqs get-queue-url`"
            ));
        }
        if name.ends_with(".fifo") {
            return Err(format!(
                "{url:?} is a FIFO queue; the EventBridge rules send to a standard queue, use one"
            ));
        }
        let valid_name = (1..=80).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(format!(
                "{url:?}: {name:?} is not a queue name (1-80 letters, digits, '-', '_')"
            ));
        }
        let host = host.split(':').next().unwrap_or(host);
        let region = host
            .strip_prefix("sqs.")
            .and_then(|h| h.split_once(".amazonaws.com"))
            .map(|(region, _)| region)
            .or_else(|| host.split_once(".queue.amazonaws.com").map(|(r, _)| r))
            .map(Region::new);
        Ok(Self {
            url: url.to_owned(),
            region,
            account: AccountId::new(account),
            name: name.to_owned(),
        })
    }
}

impl RawEventsConfig {
    /// The typed section; `None` when a problem was recorded.
    pub(crate) fn validate(self, p: &mut Problems) -> Option<EventsConfig> {
        let queue = match self.queue_url.filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => match QueueUrl::parse(&url) {
                Ok(queue) => Some(queue),
                Err(why) => {
                    p.add("events.queue_url", why);
                    return None;
                }
            },
        };
        if !(10..=20_000).contains(&self.debounce_ms) {
            p.add(
                "events.debounce_ms",
                "must be 10 to 20000: long enough to gather a burst of one target's events, short enough that a new source waits seconds (and that a received event is never held longer than its hold, 60 s)",
            );
            return None;
        }
        Some(EventsConfig {
            queue,
            debounce: Duration::from_millis(self.debounce_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_their_account_queue_and_region() {
        let q = QueueUrl::parse("https://sqs.eu-west-1.amazonaws.com/111111111111/autosub-events")
            .unwrap();
        assert_eq!(q.account.as_str(), "111111111111");
        assert_eq!(q.name, "autosub-events");
        assert_eq!(q.region, Some(Region::new("eu-west-1")));
        let cn = QueueUrl::parse("https://sqs.cn-north-1.amazonaws.com.cn/111111111111/q").unwrap();
        assert_eq!(cn.region, Some(Region::new("cn-north-1")));
        let legacy =
            QueueUrl::parse("https://us-west-2.queue.amazonaws.com/111111111111/q").unwrap();
        assert_eq!(legacy.region, Some(Region::new("us-west-2")));
        let moto = QueueUrl::parse("http://localhost:5000/123456789012/q").unwrap();
        assert_eq!(moto.region, None);
        for (bad, why) in [
            (
                "sqs.eu-west-1.amazonaws.com/111111111111/q",
                "not an http(s) URL",
            ),
            ("https://sqs.eu-west-1.amazonaws.com/q", "path must be"),
            (
                "https://sqs.eu-west-1.amazonaws.com/1111/q",
                "12-digit account",
            ),
            (
                "https://sqs.eu-west-1.amazonaws.com/111111111111/a b",
                "not a queue name",
            ),
            (
                "https://sqs.eu-west-1.amazonaws.com/111111111111/q.fifo",
                "FIFO",
            ),
        ] {
            let err = QueueUrl::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
