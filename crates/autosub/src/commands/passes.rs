//! `plan`, `reconcile` and `discover`: one run over every target, printed, with the exit code
//! the README's table gives.

use autosub_aws::factory::ClientFactory;
use autosub_config::Config;
use autosub_engine::Mode;
use autosub_engine::reconcile::{self, RunCx};
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::exit;
use crate::output;
use crate::progress::TerminalProgress;
use crate::runtime::Stores;

/// Runs `cli`'s pass command; its exit code.
pub async fn run(
    cli: &Cli,
    config: &Config,
    factory: &ClientFactory,
    stores: &Stores,
) -> anyhow::Result<u8> {
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
    let progress = TerminalProgress::new();
    let cx = RunCx {
        factory,
        config,
        ledger: stores.ledger.as_ref(),
        leases: &stores.leases,
        mode,
        stale_passes_before_delete: 1,
        progress: &progress,
        now: reconcile::now_secs(),
        full_audit,
        targeting: Default::default(),
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
        crate::telemetry::send(config, factory, &report).await;
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
