//! S3 bucket notification configurations as data, complete enough to round-trip every entry.
//!
//! S3 replaces a bucket's whole configuration on every write, so autosub reads it, swaps only
//! its own Lambda entries and writes every other entry back exactly as read.

use serde::{Deserialize, Serialize};

/// The event autosub subscribes its forwarder to.
pub const OBJECT_CREATED_ALL: &str = "s3:ObjectCreated:*";

/// A filter rule of a notification entry (`prefix` or `suffix`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FilterRule {
    /// The rule name as S3 returned it; real S3 answers `Prefix`/`Suffix`, so compare ignoring case.
    pub name: String,
    /// The key prefix or suffix.
    pub value: String,
}

/// The kind of destination a notification entry delivers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// An SNS topic.
    Topic,
    /// An SQS queue.
    Queue,
    /// A Lambda function.
    Lambda,
}

/// One Topic, Queue or Lambda entry of a bucket's notification configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NotificationEntry {
    /// The entry's `Id`; S3 generates one when the writer gives none.
    pub id: Option<String>,
    /// Topic, queue or function.
    pub kind: DestinationKind,
    /// The destination ARN.
    pub arn: String,
    /// Event types, e.g. `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// Key filter rules, in the order S3 returned them.
    pub filter_rules: Vec<FilterRule>,
}

impl NotificationEntry {
    /// The value of the key filter rule called `name` (case-insensitive), or "" when absent.
    pub fn rule(&self, name: &str) -> &str {
        self.filter_rules
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map_or("", |r| r.value.as_str())
    }

    /// The key prefix this entry filters on ("" = every key).
    pub fn prefix(&self) -> &str {
        self.rule("prefix")
    }

    /// The key suffix this entry filters on ("" = every key).
    pub fn suffix(&self) -> &str {
        self.rule("suffix")
    }

    /// True when S3 would call this entry and `other` "ambiguously defined": they share an event
    /// type and both their prefixes and their suffixes overlap.
    pub fn overlaps(&self, other: &NotificationEntry) -> bool {
        let events = self
            .events
            .iter()
            .any(|a| other.events.iter().any(|b| events_overlap(a, b)));
        events
            && prefixes_overlap(self.prefix(), other.prefix())
            && suffixes_overlap(self.suffix(), other.suffix())
    }

    /// A short human description, e.g. `queue entry "audit" (arn:aws:sqs:…) on prefix "logs/"`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            DestinationKind::Topic => "topic",
            DestinationKind::Queue => "queue",
            DestinationKind::Lambda => "lambda",
        };
        format!(
            "{kind} entry {:?} ({}) on prefix {:?} suffix {:?}",
            self.id.as_deref().unwrap_or(""),
            self.arn,
            self.prefix(),
            self.suffix()
        )
    }
}

/// A bucket's whole notification configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfig {
    /// Topic, queue and Lambda entries, in the order S3 returned them.
    pub entries: Vec<NotificationEntry>,
    /// Whether delivery to EventBridge is on (`EventBridgeConfiguration` present).
    pub event_bridge: bool,
}

impl NotificationConfig {
    /// True when both say the same to S3, whatever S3 rewrote on the way: entry order, and the
    /// case of filter rule names (written `prefix`, read back `Prefix`).
    pub fn equivalent(&self, other: &NotificationConfig) -> bool {
        self.event_bridge == other.event_bridge && self.canonical() == other.canonical()
    }

    fn canonical(&self) -> Vec<NotificationEntry> {
        let mut entries: Vec<NotificationEntry> = self
            .entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.events.sort();
                for rule in &mut e.filter_rules {
                    rule.name.make_ascii_lowercase();
                }
                e.filter_rules.sort();
                e
            })
            .collect();
        entries.sort();
        entries
    }
}

/// True when two key prefixes overlap: one starts with the other (the empty prefix overlaps all).
pub fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// True when two key suffixes overlap: one ends with the other (the empty suffix overlaps all).
pub fn suffixes_overlap(a: &str, b: &str) -> bool {
    a.ends_with(b) || b.ends_with(a)
}

/// True when two S3 event types match a common event (`s3:ObjectCreated:*` covers `…:Put`).
pub fn events_overlap(a: &str, b: &str) -> bool {
    let covers = |wild: &str, other: &str| {
        wild.strip_suffix('*')
            .is_some_and(|stem| other.starts_with(stem))
    };
    a == b || covers(a, b) || covers(b, a)
}

/// True when `entry` carries our id prefix on a Lambda entry, the S3 ownership mark.
pub fn is_ours(entry: &NotificationEntry, id_prefix: &str) -> bool {
    entry.kind == DestinationKind::Lambda
        && entry
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with(id_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(events: &[&str], prefix: &str, suffix: &str) -> NotificationEntry {
        let mut filter_rules = Vec::new();
        if !prefix.is_empty() {
            filter_rules.push(FilterRule {
                name: "Prefix".into(),
                value: prefix.into(),
            });
        }
        if !suffix.is_empty() {
            filter_rules.push(FilterRule {
                name: "suffix".into(),
                value: suffix.into(),
            });
        }
        NotificationEntry {
            id: None,
            kind: DestinationKind::Queue,
            arn: "arn:aws:sqs:us-east-1:1:q".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            filter_rules,
        }
    }

    #[test]
    fn overlap_follows_s3s_ambiguity_rule() {
        let all = [OBJECT_CREATED_ALL];
        let check = |a: NotificationEntry, b: NotificationEntry, want: bool| {
            assert_eq!(a.overlaps(&b), want, "{a:?} vs {b:?}");
            assert_eq!(b.overlaps(&a), want, "symmetric: {b:?} vs {a:?}");
        };
        check(entry(&all, "logs/", ""), entry(&all, "logs/elb/", ""), true);
        check(entry(&all, "logs/", ""), entry(&all, "other/", ""), false);
        check(entry(&all, "", ""), entry(&all, "other/", ".gz"), true);
        check(entry(&all, "a/", ".gz"), entry(&all, "a/", ".json"), false);
        check(entry(&all, "a/", "x.gz"), entry(&all, "a/b", ".gz"), true);
        check(
            entry(&all, "", ""),
            entry(&["s3:ObjectCreated:Put"], "", ""),
            true,
        );
        check(
            entry(&all, "", ""),
            entry(&["s3:ObjectRemoved:*"], "", ""),
            false,
        );
    }

    #[test]
    fn rule_names_are_read_ignoring_case() {
        let e = entry(&[OBJECT_CREATED_ALL], "AWSLogs/", ".gz");
        assert_eq!(e.prefix(), "AWSLogs/");
        assert_eq!(e.suffix(), ".gz");
    }

    #[test]
    fn configurations_are_equivalent_whatever_s3_rewrote_and_differ_in_anything_else() {
        let entry = |id: &str, rule: &str| NotificationEntry {
            id: Some(id.into()),
            kind: DestinationKind::Lambda,
            arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            events: vec![OBJECT_CREATED_ALL.into()],
            filter_rules: vec![FilterRule {
                name: rule.into(),
                value: "logs/".into(),
            }],
        };
        let written = NotificationConfig {
            entries: vec![entry("a", "prefix"), entry("b", "prefix")],
            event_bridge: false,
        };
        let read = NotificationConfig {
            entries: vec![entry("b", "Prefix"), entry("a", "Prefix")],
            event_bridge: false,
        };
        assert!(written.equivalent(&read));
        let other = NotificationConfig {
            entries: vec![entry("a", "Prefix")],
            event_bridge: false,
        };
        assert!(!written.equivalent(&other));
        let bridged = NotificationConfig {
            event_bridge: true,
            ..read
        };
        assert!(!written.equivalent(&bridged));
    }
}
