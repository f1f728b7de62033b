//! What a targeted pass is about: the resources, log groups and buckets that events touched in
//! one target. Such a pass re-discovers only the focused resources, plans from the last full
//! discovery with their sources replaced, and reads and plans only the locations in play; what
//! it does not read it neither changes nor forgets.

use std::collections::{BTreeMap, BTreeSet};

use crate::cloudtrail::Touched;
use crate::ledger::TargetLedger;
use crate::{BucketName, Discovery, Location, LogGroupName, Service};

/// What the events of one target touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Focus {
    /// Resources by service: the names, ids or ARNs the events gave.
    pub resources: BTreeMap<Service, BTreeSet<String>>,
    /// Log groups touched directly (created, deleted, their filters changed).
    pub log_groups: BTreeSet<LogGroupName>,
    /// Buckets touched directly (their notifications changed, deleted).
    pub buckets: BTreeSet<BucketName>,
    /// The region's account-level subscription filter policies changed.
    pub account_policies: bool,
}

/// The locations a targeted pass reads and plans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InPlay {
    /// Log groups.
    pub log_groups: BTreeSet<LogGroupName>,
    /// Buckets.
    pub buckets: BTreeSet<BucketName>,
}

impl Focus {
    /// Adds what one event touched.
    pub fn add(&mut self, touched: Touched) {
        match touched {
            Touched::Resource { service, key } => {
                self.resources.entry(service).or_default().insert(key);
            }
            Touched::LogGroup(name) => {
                self.log_groups.insert(name);
            }
            Touched::Bucket(name) => {
                self.buckets.insert(name);
            }
            Touched::AccountPolicies => self.account_policies = true,
        }
    }

    /// Adds everything `other` touched.
    pub fn merge(&mut self, other: Focus) {
        for (service, keys) in other.resources {
            self.resources.entry(service).or_default().extend(keys);
        }
        self.log_groups.extend(other.log_groups);
        self.buckets.extend(other.buckets);
        self.account_policies |= other.account_policies;
    }

    /// The services with focused resources.
    pub fn services(&self) -> BTreeSet<Service> {
        self.resources.keys().copied().collect()
    }

    /// True when the resource of `service` with this ARN (a listed resource's, or the
    /// `resource_arn` of its sources) is one the focus names: an event gave its ARN, or one of
    /// the ARN's `:`/`/`-separated parts (its name or id).
    pub fn names(&self, service: Service, arn: &str) -> bool {
        self.resources.get(&service).is_some_and(|keys| {
            keys.contains(arn) || arn.split([':', '/']).any(|part| keys.contains(part))
        })
    }

    /// The discovery a targeted pass plans from: `remembered` (the target's last full
    /// discovery) with every source and unsubscribable resource of a focused resource replaced
    /// by what `fresh` found of it; `fresh`'s gaps are the pass's.
    pub fn refresh(&self, remembered: &Discovery, fresh: Discovery) -> Discovery {
        let mut merged = Discovery {
            sources: remembered
                .sources
                .iter()
                .filter(|s| !self.names(s.service, &s.resource_arn))
                .cloned()
                .collect(),
            unsubscribable: remembered
                .unsubscribable
                .iter()
                .filter(|u| !self.names(u.service, &u.resource_arn))
                .cloned()
                .collect(),
            gaps: Vec::new(),
            loops: remembered
                .loops
                .iter()
                .filter(|l| !self.names(l.service, &l.resource_arn))
                .cloned()
                .collect(),
        };
        merged.merge(fresh);
        merged.normalize()
    }

    /// The locations in play: those touched directly, and every location a focused resource
    /// wrote to before (`remembered`) or writes to now (`fresh`).
    pub fn in_play(&self, remembered: &Discovery, fresh: &Discovery) -> InPlay {
        let mut in_play = InPlay {
            log_groups: self.log_groups.clone(),
            buckets: self.buckets.clone(),
        };
        let focused = remembered
            .sources
            .iter()
            .filter(|s| self.names(s.service, &s.resource_arn))
            .chain(&fresh.sources);
        for source in focused {
            match &source.location {
                Location::LogGroup { name } => {
                    in_play.log_groups.insert(name.clone());
                }
                Location::S3 { bucket, .. } => {
                    in_play.buckets.insert(bucket.clone());
                }
            }
        }
        in_play
    }
}

impl InPlay {
    /// True when the ledger location (`log-group:<name>`, `s3://<bucket>`) is in play.
    pub fn holds(&self, location: &str) -> bool {
        if let Some(name) = location.strip_prefix("log-group:") {
            self.log_groups.contains(&LogGroupName::new(name))
        } else if let Some(bucket) = location.strip_prefix("s3://") {
            self.buckets.contains(&BucketName::new(bucket))
        } else {
            false
        }
    }

    /// The ledger after a targeted pass: `previous` with what the targeted pass learnt of the
    /// locations in play (`after`: its plan's ledger with the applied changes recorded). A
    /// targeted pass creates and updates but never deletes, so a trigger it found unwanted keeps
    /// the stale count the scheduled passes gave it; the pass time and the sweep cursors stay as
    /// the last scheduled pass left them, so the audit window is unaffected. Permission
    /// statements it added are recorded; none is removed.
    pub fn merge_ledger(&self, previous: &TargetLedger, after: &TargetLedger) -> TargetLedger {
        let mut merged = previous.clone();
        merged
            .triggers
            .retain(|key, e| !self.holds(&e.location) || after.triggers.contains_key(key));
        for (key, entry) in &after.triggers {
            if !self.holds(&entry.location) && !entry.location.starts_with("lambda:") {
                continue;
            }
            let mut entry = entry.clone();
            if let Some(before) = previous.triggers.get(key) {
                entry.stale_passes = before.stale_passes;
            }
            merged.triggers.insert(key.clone(), entry);
        }
        merged.verified.retain(|unit, _| !self.holds_unit(unit));
        merged.verified.extend(
            after
                .verified
                .iter()
                .filter(|(unit, _)| self.holds_unit(unit))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        merged
    }

    /// True when a verified unit (`log-group:<name>`, `s3://<bucket>/<prefix>`) is in play.
    fn holds_unit(&self, unit: &str) -> bool {
        match unit.strip_prefix("s3://") {
            Some(rest) => self.holds(&format!("s3://{}", rest.split('/').next().unwrap_or(rest))),
            None => self.holds(unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{LedgerEntry, Origin, Verified};
    use crate::{LogSource, Service};

    fn source(service: Service, arn: &str, location: Location) -> LogSource {
        LogSource {
            service,
            resource_arn: arn.to_owned(),
            location,
        }
    }

    fn group(name: &str) -> Location {
        Location::LogGroup {
            name: LogGroupName::new(name),
        }
    }

    fn focus_on(service: Service, key: &str) -> Focus {
        let mut focus = Focus::default();
        focus.add(Touched::Resource {
            service,
            key: key.to_owned(),
        });
        focus
    }

    #[test]
    fn a_focus_names_resources_by_arn_name_or_id() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders";
        assert!(focus_on(Service::Lambda, "orders").names(Service::Lambda, arn));
        assert!(focus_on(Service::Lambda, arn).names(Service::Lambda, arn));
        assert!(!focus_on(Service::Lambda, "order").names(Service::Lambda, arn));
        assert!(!focus_on(Service::StepFunctions, "orders").names(Service::Lambda, arn));
        // An API Gateway stage's source names its API's id.
        let stage = "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/prod";
        assert!(focus_on(Service::ApiGateway, "a1b2c3").names(Service::ApiGateway, stage));
    }

    #[test]
    fn a_refresh_replaces_only_the_focused_resources_sources() {
        let kept = source(
            Service::Lambda,
            "arn:aws:lambda:r:1:function:billing",
            group("/aws/lambda/billing"),
        );
        let old = source(
            Service::Lambda,
            "arn:aws:lambda:r:1:function:orders",
            group("/aws/lambda/orders"),
        );
        let new = source(
            Service::Lambda,
            "arn:aws:lambda:r:1:function:orders",
            group("/shared/orders"),
        );
        let remembered = Discovery {
            sources: vec![kept.clone(), old.clone()],
            ..Discovery::default()
        };
        let fresh = Discovery {
            sources: vec![new.clone()],
            ..Discovery::default()
        };
        let focus = focus_on(Service::Lambda, "orders");
        let merged = focus.refresh(&remembered, fresh.clone());
        assert_eq!(merged.sources, vec![kept, new]);
        let in_play = focus.in_play(&remembered, &fresh);
        assert_eq!(
            in_play.log_groups,
            BTreeSet::from([
                LogGroupName::new("/aws/lambda/orders"),
                LogGroupName::new("/shared/orders")
            ]),
            "where it wrote before and where it writes now"
        );
        assert!(in_play.buckets.is_empty());
    }

    fn entry(location: &str, stale_passes: u32) -> LedgerEntry {
        LedgerEntry {
            kind: "subscription-filter".into(),
            location: location.into(),
            origin: Origin::Created,
            stale_passes,
            last_seen: Some(1),
        }
    }

    #[test]
    fn a_targeted_ledger_changes_only_what_is_in_play_and_never_the_pass_clock() {
        let in_play = InPlay {
            log_groups: BTreeSet::from([LogGroupName::new("/a")]),
            buckets: BTreeSet::from([BucketName::new("b")]),
        };
        let mut previous = TargetLedger {
            last_pass_at: Some(100),
            ..TargetLedger::default()
        };
        previous
            .triggers
            .insert("a".into(), entry("log-group:/a", 1));
        previous
            .triggers
            .insert("z".into(), entry("log-group:/z", 2));
        previous.triggers.insert("b-old".into(), entry("s3://b", 0));
        previous.verified.insert(
            "s3://b/x/".into(),
            Verified {
                want: "w".into(),
                seen_at: 5,
            },
        );
        let mut after = TargetLedger {
            last_pass_at: Some(200),
            ..TargetLedger::default()
        };
        // Found unwanted: counted stale by the targeted plan, but a targeted pass never deletes.
        after.triggers.insert("a".into(), entry("log-group:/a", 2));
        after.triggers.insert("b-new".into(), entry("s3://b", 0));
        after.triggers.insert(
            "perm".into(),
            entry("lambda:arn:aws:lambda:r:1:function:f", 0),
        );
        // Out of play: not the targeted pass's to record.
        after.triggers.insert("y".into(), entry("log-group:/y", 0));
        after.verified.insert(
            "s3://b/y/".into(),
            Verified {
                want: "w".into(),
                seen_at: 9,
            },
        );
        let merged = in_play.merge_ledger(&previous, &after);
        assert_eq!(merged.last_pass_at, Some(100));
        assert_eq!(merged.triggers["a"].stale_passes, 1);
        assert_eq!(merged.triggers["z"], entry("log-group:/z", 2));
        assert!(!merged.triggers.contains_key("b-old"), "read, and gone");
        assert!(merged.triggers.contains_key("b-new"));
        assert!(merged.triggers.contains_key("perm"));
        assert!(!merged.triggers.contains_key("y"));
        assert_eq!(
            merged.verified.keys().collect::<Vec<_>>(),
            vec!["s3://b/y/"]
        );
    }
}
