//! Command-line arguments and the commands they run.

use std::path::PathBuf;

use std::sync::Arc;

use autosub_aws::apis::{S3Api, TargetApis};
use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_config::Config;
use autosub_core::{AccountId, Region};
use autosub_engine::memo::MemoS3;
use autosub_engine::{Mode, PassReport, Run, Target, run_pass};
use clap::{Parser, Subcommand, ValueEnum};

use crate::exit;
use crate::output;
use crate::progress::TerminalProgress;

const EXIT_CODES: &str = "Exit codes: 0 success; 1 error (doctor: a check failed); 2 changes pending (plan --detailed-exitcode); \
3 partial failure (a change failed or discovery had gaps); 4 invalid configuration.";

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

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the changes a reconcile would make, and what it would skip and why.
    Plan {
        /// Exit 2 when there are changes to apply, 0 when there are none.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Apply the plan: add missing triggers, remove stale ones autosub owns.
    Reconcile {
        /// Print the plan instead of applying it (the same output as `plan`).
        #[arg(long)]
        dry_run: bool,
    },
    /// List the log sources the discoverers find.
    Discover,
    /// Print the least-privilege IAM policy (JSON) for the enabled services and the backends.
    IamPolicy {
        /// For every service, whatever the configuration enables.
        #[arg(long)]
        all: bool,
    },
    /// Check the configuration file and exit.
    ValidateConfig,
    /// Preflight: credentials, forwarders and their policies, AWS endpoints, Datadog PrivateLink
    /// and telemetry, one line per check with the fix; exit 1 when a check fails.
    Doctor,
}

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let config = match load_config(&cli.config) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::BAD_CONFIG;
        }
    };
    match cli.command {
        Command::ValidateConfig => {
            println!("{}: configuration is valid", cli.config.display());
            return exit::OK;
        }
        Command::IamPolicy { all } => {
            let policy = autosub_engine::iam::policy(&config, all);
            println!(
                "{}",
                serde_json::to_string_pretty(&policy).unwrap_or_default()
            );
            return exit::OK;
        }
        Command::Doctor => return crate::doctor::run(cli.output, &config).await,
        _ => {}
    }
    match execute(&cli, &config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}

fn load_config(path: &PathBuf) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the configuration file {}: {e}; pass --config or set AUTOSUB_CONFIG (an annotated example is config/autosub.example.toml)",
            path.display()
        )
    })?;
    Config::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

async fn execute(cli: &Cli, config: &Config) -> anyhow::Result<u8> {
    let factory = ClientFactory::new(AwsSettings {
        endpoint_url: config.aws.endpoint_url.clone(),
        max_attempts: config.aws.max_attempts,
        region: config.aws.regions.first().map(|r| Region::new(r.as_str())),
    })
    .await;
    let account = match &config.aws.account_id {
        Some(account) => AccountId::new(account.as_str()),
        None => factory.caller_account().await.map_err(|e| {
            anyhow::anyhow!("cannot tell which account to reconcile ({e}); check the AWS credentials or set aws.account_id")
        })?,
    };
    let regions: Vec<Region> = if config.aws.regions.is_empty() {
        let region = factory.home_region().cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "no region to reconcile: set aws.regions in the configuration or AWS_REGION"
            )
        })?;
        vec![region]
    } else {
        config
            .aws
            .regions
            .iter()
            .map(|r| Region::new(r.as_str()))
            .collect()
    };

    let mode = match cli.command {
        Command::Reconcile { dry_run: false } => Mode::Apply,
        _ => Mode::Plan,
    };
    let started = std::time::Instant::now();
    let progress = TerminalProgress::new();
    let run = Run::new(regions.iter().cloned());
    let mut reports: Vec<PassReport> = Vec::new();
    // One bucket list and one region lookup per bucket for the whole run, whatever the regions.
    let s3: Arc<dyn S3Api> = Arc::new(MemoS3::new(factory.apis(&account, &regions[0]).s3));
    for region in regions {
        let target = Target {
            account: account.clone(),
            region,
        };
        let apis = TargetApis {
            s3: Arc::clone(&s3),
            ..factory.apis(&target.account, &target.region)
        };
        reports.push(run_pass(&apis, &target, &run, config, mode, &progress).await);
    }
    progress.finish();
    if let Command::Reconcile { .. } = cli.command {
        crate::telemetry::send(config, &factory, &reports, started.elapsed()).await;
    }
    let calls = factory.calls().snapshot();

    let code = match &cli.command {
        Command::Discover => output::discovery(cli.output, &reports, &calls),
        Command::Plan { .. } | Command::Reconcile { .. } => {
            output::plans(cli.output, &reports, &calls)
        }
        Command::ValidateConfig | Command::IamPolicy { .. } | Command::Doctor => exit::OK,
    };
    let pending = reports.iter().any(|r| !r.plan.is_empty());
    Ok(match &cli.command {
        _ if code != exit::OK => code,
        Command::Plan {
            detailed_exitcode: true,
        } if pending => exit::CHANGES_PENDING,
        _ => exit::OK,
    })
}
