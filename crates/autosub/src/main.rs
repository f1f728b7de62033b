//! `autosub`: keeps a log-forwarder Lambda subscribed to every AWS log source.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;
mod runtime;
mod telemetry;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version print and succeed; anything else is a usage error.
            let _printed = e.print();
            return if e.use_stderr() {
                exit::USAGE.into()
            } else {
                exit::OK.into()
            };
        }
    };
    init_tracing(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR.into();
        }
    };
    let code = runtime.block_on(commands::run(args));
    ExitCode::from(code)
}

/// Human logs (warnings and up, unless `-v`) on a terminal; structured JSON logs otherwise.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 if std::io::stderr().is_terminal() => "warn",
        0 | 1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTOSUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.with_target(false).init();
    } else {
        builder.json().with_current_span(false).init();
    }
}
