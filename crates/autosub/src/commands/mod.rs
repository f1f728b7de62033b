//! One module per subcommand; `run` loads the configuration and hands each command what it
//! needs.

mod doctor;
mod passes;
mod serve;

use crate::cli::{Cli, Command};
use crate::exit;
use crate::runtime::{self, Stores};

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let loaded = match runtime::load_config(&cli.config) {
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
            let policy = autosub_ops::iam::policy_for(config, role.into(), all);
            println!(
                "{}",
                serde_json::to_string_pretty(&policy).unwrap_or_default()
            );
            return exit::OK;
        }
        Command::Doctor => return doctor::run(cli.output, config).await,
        _ => {}
    }
    let factory = runtime::client_factory(config).await;
    let stores = Stores::open(&loaded, &factory);
    if let Command::Run = cli.command {
        return serve::run(config, &factory, &stores).await;
    }
    match passes::run(&cli, config, &factory, &stores).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}
