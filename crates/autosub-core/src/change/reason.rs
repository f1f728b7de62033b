//! Why a change is planned: the facts the planner decided on, as data ([`ChangeReason`]), and
//! the one sentence each renders to. The planner never writes words; tables, logs, JSON and the
//! skips that quote a held-back delete all show this rendering.

use std::fmt;

use serde::{Serialize, Serializer};

use super::SkipReason;
use crate::ids::{AccountId, FunctionArn};
use crate::notification::OBJECT_CREATED_ALL;
use crate::permission::Invoker;

/// Why a change is planned. `Display` renders the sentence a reviewer checks; JSON carries that
/// sentence as a string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeReason {
    /// Discovered sources write to a log group or key prefix that nothing subscribes yet.
    NotSubscribed {
        /// The first of the sources (by ARN), when there is one.
        first_source: Option<String>,
        /// How many sources write there.
        sources: usize,
        /// What they write to.
        place: Place,
    },
    /// No discovered source writes to the location any more.
    NoSource,
    /// The location is no longer wanted, for the reason the desire skipped it.
    NoLongerWanted {
        /// The skip's label.
        reason: SkipReason,
        /// The skip's words.
        detail: String,
    },
    /// An account policy delivers the log group, so our filter would deliver every event twice.
    CoveredByAccountPolicy {
        /// The policy's name.
        policy: String,
    },
    /// Another filter already delivers the log group to the forwarder.
    AdoptedFilter {
        /// That filter's name.
        filter: String,
    },
    /// Our filter's pattern is not the configured one.
    FilterPattern {
        /// Our filter's pattern.
        found: String,
        /// The configured pattern.
        wanted: String,
    },
    /// Our filter delivers somewhere other than the forwarder.
    FilterDestination {
        /// Where it delivers.
        found: String,
        /// The forwarder.
        forwarder: FunctionArn,
    },
    /// An adopted entry already sends the objects under our entry's prefix to the forwarder.
    AdoptedEntry,
    /// The bucket's prefixes were collapsed anew and ours is no longer in the minimal set.
    PrefixNotMinimal,
    /// Our entry invokes something else, or on other events, than the forwarder on
    /// `s3:ObjectCreated:*`.
    EntryDiffers {
        /// What it invokes.
        destination: String,
        /// On which events.
        events: Vec<String>,
    },
    /// Triggers of ours need the invoker's statement on the forwarder, and no statement grants it.
    PermissionNeeded {
        /// How many of our triggers need it.
        triggers: usize,
        /// Who invokes.
        invoker: Invoker,
        /// The account the triggers live in.
        account: AccountId,
        /// What is there instead.
        gap: PermissionGap,
    },
    /// Both of our statement ids are held (an update stopped between its add and its remove);
    /// the other one grants the same.
    DuplicateStatement {
        /// The statement id that stays.
        kept: String,
    },
    /// No trigger invokes the forwarder through the invoker any more.
    PermissionUnused {
        /// The invoker whose statement goes.
        invoker: Invoker,
    },
    /// Our account policy is new: it delivers the discovered log groups and every later one.
    AccountPolicyNew {
        /// Discovered log groups it delivers.
        covered: usize,
        /// Log groups it excludes.
        excluded: usize,
    },
    /// Our account policy differs from the one wanted.
    AccountPolicyDiffers(PolicyDifference),
    /// The region left account-policy mode; its log groups get per-group filters.
    AccountPolicyDisabled,
}

/// What the sources of [`ChangeReason::NotSubscribed`] write to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// A log group.
    LogGroup,
    /// A key prefix of a bucket.
    KeyPrefix,
}

/// Why the forwarder's policy does not grant what our triggers need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PermissionGap {
    /// No statement allows it: ours is added.
    NoStatement,
    /// Our statement no longer covers them: its replacement goes in under our other id first.
    Replaced,
    /// Both of our ids are held and neither covers them: one is rewritten in place.
    Rewritten,
}

/// How our account policy differs from the wanted one (each part `None` when it agrees).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyDifference {
    /// Where ours delivers, and the forwarder.
    pub destination: Option<(String, String)>,
    /// Our pattern, and the configured one.
    pub pattern: Option<(String, String)>,
    /// Log groups newly to exclude, and log groups no longer excluded.
    pub exclusions: Option<(usize, usize)>,
    /// Our selection criteria, when autosub cannot read them.
    pub unrecognised_selection: Option<String>,
}

impl fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSubscribed {
                first_source,
                sources,
                place,
            } => {
                let verb = match place {
                    Place::LogGroup => "write to this log group",
                    Place::KeyPrefix => "write under this prefix",
                };
                match (first_source, sources) {
                    (Some(one), 1) => {
                        write!(f, "{one} and nothing subscribes it yet: its logs {verb}")
                    }
                    (Some(first), n) => write!(
                        f,
                        "{first} and {} more {verb}; nothing subscribes them yet",
                        n.saturating_sub(1)
                    ),
                    (None, _) => f.write_str("wanted"),
                }
            }
            Self::NoSource => f.write_str("no discovered source writes here any more"),
            Self::NoLongerWanted { reason, detail } => {
                write!(f, "no longer wanted ({reason}: {detail})")
            }
            Self::CoveredByAccountPolicy { policy } => write!(
                f,
                "account policy {policy:?} delivers this log group; our filter would deliver every event twice"
            ),
            Self::AdoptedFilter { filter } => write!(
                f,
                "filter {filter:?} already delivers this log group to the forwarder; ours would duplicate every event"
            ),
            Self::FilterPattern { found, wanted } => write!(
                f,
                "our filter's pattern is {found:?}; the configured pattern is {wanted:?}"
            ),
            Self::FilterDestination { found, forwarder } => write!(
                f,
                "our filter delivers to {found}; the forwarder is {forwarder}"
            ),
            Self::AdoptedEntry => {
                f.write_str("an adopted entry already sends these objects to the forwarder")
            }
            Self::PrefixNotMinimal => f.write_str(
                "the bucket's log prefixes changed; this prefix is no longer in the minimal set",
            ),
            Self::EntryDiffers {
                destination,
                events,
            } => write!(
                f,
                "our entry invokes {destination} on events {events:?}; want the forwarder on {OBJECT_CREATED_ALL}"
            ),
            Self::PermissionNeeded {
                triggers,
                invoker,
                account,
                gap,
            } => {
                let gap = match gap {
                    PermissionGap::NoStatement => "no statement of the forwarder's policy allows it",
                    PermissionGap::Replaced => {
                        "our statement no longer covers them; its replacement is added before it is removed, so the grant never lapses"
                    }
                    PermissionGap::Rewritten => "our statement no longer covers them",
                };
                write!(
                    f,
                    "{triggers} {} trigger(s) need {} to invoke the forwarder from account {account}; {gap}",
                    invoker.as_str(),
                    invoker.principal()
                )
            }
            Self::DuplicateStatement { kept } => write!(
                f,
                "statement {kept} grants the same; an earlier update stopped before removing this one"
            ),
            Self::PermissionUnused { invoker } => write!(
                f,
                "no trigger invokes the forwarder through {} any more",
                invoker.principal()
            ),
            Self::AccountPolicyNew { covered, excluded } => write!(
                f,
                "delivers the {covered} discovered log group(s) and every log group created later, {excluded} excluded, with no filter slot taken"
            ),
            Self::AccountPolicyDiffers(difference) => {
                write!(f, "our account policy differs: {difference}")
            }
            Self::AccountPolicyDisabled => f.write_str(
                "account_policy is not enabled for this region; its log groups get per-group filters",
            ),
        }
    }
}

impl fmt::Display for PolicyDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some((found, forwarder)) = &self.destination {
            parts.push(format!(
                "it delivers to {found}; the forwarder is {forwarder}"
            ));
        }
        if let Some((found, wanted)) = &self.pattern {
            parts.push(format!(
                "its pattern is {found:?}; the configured pattern is {wanted:?}"
            ));
        }
        if let Some((added, removed)) = self.exclusions {
            parts.push(format!(
                "its exclusions change: {added} log group(s) to exclude, {removed} no longer excluded"
            ));
        }
        if let Some(raw) = &self.unrecognised_selection {
            parts.push(format!("its selection criteria {raw:?} are not autosub's"));
        }
        f.write_str(&parts.join("; "))
    }
}

/// JSON carries the rendered sentence, as it always has.
impl Serialize for ChangeReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
