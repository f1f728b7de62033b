//! What discoverers return: log sources and the gaps in what they could read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{BucketName, LogGroupName};
pub use crate::service::Service;

/// Where a resource writes its logs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Location {
    /// Objects under `prefix` in `bucket` (an empty prefix is the whole bucket).
    S3 {
        /// The bucket the logs are written to.
        bucket: BucketName,
        /// The key prefix the logs are written under.
        prefix: String,
    },
    /// A CloudWatch Logs log group in the target's region.
    LogGroup {
        /// The log group's name.
        name: LogGroupName,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Self::LogGroup { name } => write!(f, "log-group:{name}"),
        }
    }
}

/// One resource and the place its logs land.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogSource {
    /// The service the resource belongs to.
    pub service: Service,
    /// The ARN of the resource that writes the logs.
    pub resource_arn: String,
    /// Where its logs land.
    pub location: Location,
}

/// Something a discoverer could not read, which makes its service's view of the estate partial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gap {
    /// The service whose discovery is incomplete.
    pub service: Service,
    /// What could not be read and why, e.g. `GetBucketLogging on logs-bucket: access denied`.
    pub detail: String,
}

/// A resource whose logs go somewhere autosub cannot subscribe a forwarder to (a Firehose
/// stream, say): reported, never silently dropped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unsubscribable {
    /// The service the resource belongs to.
    pub service: Service,
    /// The ARN of the resource that writes the logs.
    pub resource_arn: String,
    /// Where its logs go.
    pub destination: String,
    /// Why that cannot be subscribed, and what to do instead.
    pub why: String,
}

/// An S3 location the forwarder must never read: its reads there would write new objects
/// there (a trail recording S3 read data events of its own log location). Every source whose
/// prefix in the bucket overlaps it is a loop guard skip.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LoopingLocation {
    /// The service of the resource that makes the loop.
    pub service: Service,
    /// The ARN of that resource.
    pub resource_arn: String,
    /// The bucket and prefix never to subscribe.
    pub location: Location,
    /// Why, naming the resource, and how to end the loop.
    pub why: String,
}

/// Everything the discoverers found in one pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The sources found, sorted.
    pub sources: Vec<LogSource>,
    /// Resources whose logs land where no trigger can be put, sorted.
    #[serde(default)]
    pub unsubscribable: Vec<Unsubscribable>,
    /// What could not be read; any gap forbids deletes for the pass.
    pub gaps: Vec<Gap>,
    /// S3 locations whose reads by the forwarder would come back to them, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loops: Vec<LoopingLocation>,
}

impl Discovery {
    /// Adds everything `other` found.
    pub fn merge(&mut self, other: Discovery) {
        self.sources.extend(other.sources);
        self.unsubscribable.extend(other.unsubscribable);
        self.gaps.extend(other.gaps);
        self.loops.extend(other.loops);
    }

    /// Sorts sources and gaps so that equal discoveries compare and render equal.
    pub fn normalize(mut self) -> Self {
        self.sources.sort();
        self.sources.dedup();
        self.unsubscribable.sort();
        self.unsubscribable.dedup();
        self.gaps.sort();
        self.gaps.dedup();
        self.loops.sort();
        self.loops.dedup();
        self
    }
}
