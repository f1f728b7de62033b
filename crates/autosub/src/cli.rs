//! Command-line arguments and the commands they run.

use std::path::{Path, PathBuf};

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_aws::pacing::Rates;
use autosub_config::Config;
use autosub_core::Region;
use autosub_engine::lease::Leases;
use autosub_engine::reconcile::{self, RunCx};
use autosub_engine::{Mode, ledger};
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::output;
use crate::progress::TerminalProgress;
use crate::serve;

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

impl From<PolicyRole> for autosub_engine::iam::Role {
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

/// A loaded configuration and the directory relative ledger paths start from.
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Where it came from, for messages.
    pub source: String,
    /// The configuration file's directory (the working directory for `AUTOSUB_CONFIG_TOML`).
    pub base: PathBuf,
}

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let loaded = match load_config(&cli.config) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_CONFIG;
        }
    };
    let config = &loaded.config;
    match cli.command {
        Command::ValidateConfig => {
            println!("{}: configuration is valid", loaded.source);
            return exit::OK;
        }
        Command::Healthcheck => return serve::healthcheck(config.run.listen).await,
        Command::IamPolicy { all, role } => {
            let policy = autosub_engine::iam::policy_for(config, role.into(), all);
            println!(
                "{}",
                serde_json::to_string_pretty(&policy).unwrap_or_default()
            );
            return exit::OK;
        }
        Command::Doctor => return crate::doctor::run(cli.output, config).await,
        _ => {}
    }
    let factory = client_factory(config).await;
    if let Command::Run = cli.command {
        return serve::run(&loaded, &factory).await;
    }
    match execute(&cli, &loaded, &factory).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}

/// Reads the configuration from `AUTOSUB_CONFIG_TOML` or the file, with the environment
/// overrides applied.
fn load_config(path: &Path) -> Result<Loaded, String> {
    let env = |var: &str| std::env::var(var).ok();
    let (text, source, base) = match env(CONFIG_TEXT_ENV) {
        Some(text) => (
            text,
            CONFIG_TEXT_ENV.to_owned(),
            std::env::current_dir().unwrap_or_default(),
        ),
        None => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read the configuration file {}: {e}; pass --config, set AUTOSUB_CONFIG, or put the configuration itself in {CONFIG_TEXT_ENV} (an annotated example is config/autosub.example.toml)",
                    path.display()
                )
            })?;
            let base = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (text, path.display().to_string(), base)
        }
    };
    let config = Config::parse_with_env(&text, &source, env).map_err(|e| e.to_string())?;
    Ok(Loaded {
        config,
        source,
        base,
    })
}

/// The SDK client factory the configuration asks for.
pub async fn client_factory(config: &Config) -> ClientFactory {
    ClientFactory::new(AwsSettings {
        endpoint_url: config.aws.endpoint_url.clone(),
        max_attempts: config.aws.max_attempts,
        region: config.first_region(),
        rates: Rates::aws_quotas_with(&config.pacing.calls_per_sec),
    })
    .await
}

/// The region the ledger's DynamoDB table (and the S3 bucket lookup) is reached in.
pub fn ledger_region(factory: &ClientFactory, config: &Config) -> Region {
    config
        .first_region()
        .or_else(|| factory.home_region().cloned())
        .unwrap_or_else(|| Region::new("us-east-1"))
}

async fn execute(cli: &Cli, loaded: &Loaded, factory: &ClientFactory) -> anyhow::Result<u8> {
    let config = &loaded.config;
    let mode = match cli.command {
        Command::Reconcile { dry_run: false, .. } => Mode::Apply,
        _ => Mode::Plan,
    };
    let full_audit = matches!(
        cli.command,
        Command::Plan {
            full_audit: true,
            ..
        } | Command::Reconcile {
            full_audit: true,
            ..
        }
    );
    let ledger = ledger::open(
        config,
        &loaded.base,
        factory,
        &ledger_region(factory, config),
    );
    let leases = Leases::from_config(&config.lease, factory, &ledger_region(factory, config));
    let progress = TerminalProgress::new();
    let cx = RunCx {
        factory,
        config,
        ledger: ledger.as_ref(),
        leases: &leases,
        mode,
        stale_passes_before_delete: 1,
        progress: &progress,
        now: reconcile::now_secs(),
        full_audit,
    };
    let report = reconcile::run(&cx, &CancellationToken::new()).await;
    progress.finish();
    let report = report?;
    for failure in &report.failures {
        eprintln!("error: {failure}");
    }
    for held in &report.held {
        let (target, owner) = (&held.target, &held.owner);
        eprintln!("warning: {target}: skipped, another autosub ({owner}) holds its lease");
    }
    if let Command::Reconcile { dry_run: false, .. } = cli.command {
        crate::telemetry::send(
            config,
            factory,
            &report.passes,
            &report.failures,
            report.duration,
        )
        .await;
    }
    for problem in &report.ledger_errors {
        eprintln!("warning: ledger: {problem}");
    }

    // Every call of the process, the account lookup included.
    let calls = factory.calls().snapshot();
    let code = match &cli.command {
        Command::Discover => {
            output::discovery(cli.output, &report.passes, &report.failures, &calls)
        }
        Command::Plan { .. } | Command::Reconcile { .. } => {
            output::plans(cli.output, &report.passes, &report.failures, &calls)
        }
        Command::ValidateConfig
        | Command::IamPolicy { .. }
        | Command::Run
        | Command::Healthcheck
        | Command::Doctor => exit::OK,
    };
    let code = if code == exit::OK
        && (!report.ledger_errors.is_empty()
            || !report.failures.is_empty()
            || !report.held.is_empty())
    {
        exit::PARTIAL
    } else {
        code
    };
    let pending = report.passes.iter().any(|r| !r.plan.is_empty());
    Ok(match &cli.command {
        _ if code != exit::OK => code,
        Command::Plan {
            detailed_exitcode: true,
            ..
        } if pending => exit::CHANGES_PENDING,
        _ => exit::OK,
    })
}
