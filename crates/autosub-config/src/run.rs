//! `[run]`: the long-running service (`autosub run`).

use std::fmt;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::Problems;

/// The long-running service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// When passes start (UTC). A pass also runs at start-up.
    pub schedule: Schedule,
    /// Each scheduled pass starts after a random delay of up to this many seconds, so many
    /// deployments on one schedule do not hit AWS at the same instant.
    pub jitter_secs: u64,
    /// Address of the health and metrics server.
    pub listen: SocketAddr,
    /// `/readyz` fails when the last pass finished longer ago than this; unset: twice the
    /// schedule's interval plus the jitter and five minutes.
    pub ready_max_age_secs: Option<u64>,
    /// On SIGTERM, how long the in-flight change may take before autosub exits anyway (ECS kills
    /// the task 30 s after SIGTERM by default).
    pub shutdown_grace_secs: u64,
    /// A pass still running after this many seconds is stopped at its next safe point and
    /// counts as failed; `/healthz` fails when one runs this long plus five minutes (it did not
    /// stop), so the orchestrator replaces the task. A full audit reads 5 log groups a second
    /// per region: keep this above the largest region's groups / 5 (default 24 h: 432,000
    /// groups).
    pub pass_deadline_secs: u64,
}

/// `[run]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunConfig {
    /// A cron expression with seconds (`sec min hour day month weekday`, UTC).
    #[serde(default = "default_schedule")]
    pub(crate) schedule: String,
    #[serde(default)]
    pub(crate) jitter_secs: u64,
    #[serde(default = "default_listen")]
    pub(crate) listen: String,
    ready_max_age_secs: Option<u64>,
    #[serde(default = "default_grace")]
    shutdown_grace_secs: u64,
    #[serde(default = "default_pass_deadline")]
    pass_deadline_secs: u64,
}

impl Default for RawRunConfig {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            jitter_secs: 0,
            listen: default_listen(),
            ready_max_age_secs: None,
            shutdown_grace_secs: default_grace(),
            pass_deadline_secs: default_pass_deadline(),
        }
    }
}

fn default_pass_deadline() -> u64 {
    24 * 60 * 60
}

fn default_schedule() -> String {
    "0 */15 * * * *".into()
}

fn default_listen() -> String {
    "0.0.0.0:8080".into()
}

fn default_grace() -> u64 {
    20
}

impl RawRunConfig {
    pub(crate) fn validate(self, p: &mut Problems) -> Option<RunConfig> {
        let schedule = p.check("run.schedule", Schedule::parse(&self.schedule));
        let listen = p.check(
            "run.listen",
            self.listen.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "{:?} is not an address and port such as \"0.0.0.0:8080\"",
                    self.listen
                )
            }),
        );
        if self.pass_deadline_secs == 0 {
            p.add(
                "run.pass_deadline_secs",
                "must be at least 1; it bounds how long one pass may run",
            );
        }
        if self.shutdown_grace_secs == 0 {
            p.add(
                "run.shutdown_grace_secs",
                "must be at least 1; keep it below the container's stop timeout (ECS: 30 s)",
            );
        }
        Some(RunConfig {
            schedule: schedule?,
            jitter_secs: self.jitter_secs,
            listen: listen?,
            ready_max_age_secs: self.ready_max_age_secs,
            shutdown_grace_secs: self.shutdown_grace_secs,
            pass_deadline_secs: self.pass_deadline_secs,
        })
    }
}

/// A parsed `run.schedule`: a cron expression with seconds, read the way the daemon's
/// scheduler (tokio-cron-scheduler) reads it: six or seven fields, seconds first, day-of-month
/// and day-of-week both applying.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses an expression; the error names it, says why, and gives an example.
    pub fn parse(expression: &str) -> Result<Self, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expression)
            .map(|cron| Self {
                expression: expression.to_owned(),
                cron,
            })
            .map_err(|e| {
                format!(
                    "{expression:?} is not a cron expression with seconds ({e}); e.g. \"0 */15 * * * *\" runs every 15 minutes"
                )
            })
    }

    /// The expression as written (what the scheduler is given).
    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// The parsed expression, to compute its ticks.
    pub fn cron(&self) -> &croner::Cron {
        &self.cron
    }
}

/// Two schedules are the same when written the same.
impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{MINIMAL, problem_keys};

    #[test]
    fn a_bad_schedule_or_listen_address_is_a_problem_at_its_key() {
        let err = Schedule::parse("*/15 * * * *").unwrap_err();
        assert!(
            err.contains("not a cron expression with seconds") && err.contains("0 */15 * * * *"),
            "{err}"
        );
        assert_eq!(
            Schedule::parse("0 0 * * * MON").unwrap().as_str(),
            "0 0 * * * MON"
        );
        assert_eq!(
            problem_keys(&format!(
                "{MINIMAL}[run]\nschedule = \"61 * * * * *\"\nlisten = \"8080\"\nshutdown_grace_secs = 0\n"
            )),
            ["run.schedule", "run.listen", "run.shutdown_grace_secs"]
        );
    }
}
