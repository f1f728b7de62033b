//! The command line: arguments, subcommands and the exit-code table clap prints. A leaf: the
//! commands that run them are in `commands`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// The environment variable that carries the whole configuration text (e.g. an SSM parameter
/// handed to an ECS task as a secret); it wins over `--config`.
pub const CONFIG_TEXT_ENV: &str = "AUTOSUB_CONFIG_TOML";

const EXIT_CODES: &str = "Exit codes: 0 success; 1 error (doctor: a check failed); 2 changes pending (plan --detailed-exitcode); \
3 partial failure (a change failed or discovery had gaps); 4 invalid configuration; 64 wrong command line.";

/// Keeps a log-forwarder Lambda (e.g. the Datadog Forwarder) subscribed to every AWS log source.
#[derive(Debug, Parser)]
#[command(name = "autosub", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "AUTOSUB_CONFIG",
        default_value = "autosub.toml"
    )]
    pub config: PathBuf,
    /// Output format of the result on stdout.
    #[arg(long, short, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More logs (-v info, -vv debug); `AUTOSUB_LOG` overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Text,
    /// JSON for programs.
    Json,
}

/// The roles `iam-policy` prints a policy for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyRole {
    /// One role that does everything, for a process reconciling its own account.
    Single,
    /// The role assumed in every reconciled account: discovery and the trigger backends.
    Member,
    /// The role the fleet process runs as: ledger, lease, secret, assuming the member roles,
    /// Organizations reads.
    Central,
}

impl From<PolicyRole> for autosub_ops::iam::Role {
    fn from(role: PolicyRole) -> Self {
        match role {
            PolicyRole::Single => Self::Single,
            PolicyRole::Member => Self::Member,
            PolicyRole::Central => Self::Central,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the changes a reconcile would make, and what it would skip and why.
    Plan {
        /// Exit 2 when there are changes to apply, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Read every log group and bucket instead of trusting the ledger (see `[audit]`).
        #[arg(long)]
        full_audit: bool,
    },
    /// Apply the plan: add missing triggers, remove stale ones autosub owns.
    Reconcile {
        /// Print the plan instead of applying it (the same output as `plan`).
        #[arg(long)]
        dry_run: bool,
        /// Read every log group and bucket instead of trusting the ledger (see `[audit]`);
        /// the only pass that removes a permission statement nothing uses any more.
        #[arg(long)]
        full_audit: bool,
    },
    /// List the log sources the discoverers find.
    Discover,
    /// Print the least-privilege IAM policy (JSON) for the enabled services and the backends.
    IamPolicy {
        /// For every service, whatever the configuration enables (and, for the member role,
        /// `ec2:DescribeRegions` whatever the region lists say).
        #[arg(long)]
        all: bool,
        /// Which role's policy: one role doing everything, or the two roles of a fleet.
        #[arg(long, value_enum, default_value_t = PolicyRole::Single)]
        role: PolicyRole,
    },
    /// Check the configuration file and exit.
    ValidateConfig,
    /// Run as a service: a pass at start-up and on every tick of `run.schedule`, with
    /// `/healthz`, `/readyz` and `/metrics` on `run.listen`, until SIGTERM or SIGINT.
    Run,
    /// Exit 0 when the local `autosub run` answers `/healthz` (a container health check).
    Healthcheck,
    /// Preflight: credentials, forwarders and their policies, AWS endpoints, Datadog PrivateLink
    /// and telemetry, one line per check with the fix; exit 1 when a check fails.
    Doctor,
}
