//! What every command that touches AWS shares, built once: the loaded configuration, the SDK
//! client factory, and the state stores (ledger and leases) a run needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use autosub_aws::factory::{AwsSettings, ClientFactory};
use autosub_aws::pacing::Rates;
use autosub_config::Config;
use autosub_core::Region;
use autosub_engine::lease::Leases;
use autosub_engine::ledger::{self, LedgerStore};

use crate::cli::CONFIG_TEXT_ENV;

/// A loaded configuration and the directory relative ledger paths start from.
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Where it came from, for messages.
    pub source: String,
    /// The configuration file's directory (the working directory for `AUTOSUB_CONFIG_TOML`).
    pub base: PathBuf,
}

/// Reads the configuration from `AUTOSUB_CONFIG_TOML` or the file, with the environment
/// overrides applied.
pub fn load_config(path: &Path) -> Result<Loaded, String> {
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
fn ledger_region(factory: &ClientFactory, config: &Config) -> Region {
    config
        .first_region()
        .or_else(|| factory.home_region().cloned())
        .unwrap_or_else(|| Region::new("us-east-1"))
}

/// The ledger and the leases of a run, opened once from the configuration.
pub struct Stores {
    /// Where each target's ledger is kept.
    pub ledger: Arc<dyn LedgerStore>,
    /// The per-target leases (local, or DynamoDB when `[lease]` names a table).
    pub leases: Leases,
}

impl Stores {
    /// The stores `loaded`'s configuration names, reached with `factory`.
    pub fn open(loaded: &Loaded, factory: &ClientFactory) -> Self {
        let config = &loaded.config;
        let region = ledger_region(factory, config);
        Self {
            ledger: ledger::open(config, &loaded.base, factory, &region),
            leases: Leases::from_config(&config.lease, factory, &region),
        }
    }
}
