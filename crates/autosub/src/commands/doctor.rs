//! `autosub doctor`: runs the engine's preflight checks and prints one line per check.

use autosub_config::Config;
use autosub_ops::doctor::{
    DoctorCx, Net, SystemResolver, TcpDialer, all_passed, doctor, render_text,
};
use autosub_ops::telemetry::ApiKeySource;
use serde_json::json;

use crate::cli::Format;
use crate::exit;

/// Runs every check; exit 0 when none failed, 1 otherwise.
pub async fn run(format: Format, config: &Config) -> u8 {
    let factory = crate::runtime::client_factory(config).await;
    let resolver = SystemResolver::default();
    let dialer = TcpDialer::default();
    let cx = DoctorCx {
        config,
        factory: &factory,
        net: Net {
            resolver: &resolver,
            dialer: &dialer,
        },
        api_key: ApiKeySource::from_env(|name| std::env::var(name).ok()),
    };
    let checks = doctor(&cx).await;
    let ok = all_passed(&checks);
    match format {
        Format::Text => print!("{}", render_text(&checks)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "ok": ok, "checks": checks }))
                .unwrap_or_default()
        ),
    }
    if ok { exit::OK } else { exit::ERROR }
}
