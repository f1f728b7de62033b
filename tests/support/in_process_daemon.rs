//! `autosub run`'s daemon (`autosub_engine::daemon::run`, the scheduled passes and the event
//! loop) in this process, on any SDK configuration: what the event-driven burst test and the
//! events benchmark share. Included with `#[path]` by both.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use autosub_aws::ClientFactory;
use autosub_config::Config;
use autosub_engine::daemon::{self, DaemonCx, DaemonState};
use autosub_engine::lease::Leases;
use autosub_engine::ledger;
use tokio_util::sync::CancellationToken;

/// How long [`InProcessDaemon::started`] waits for the startup pass (tokio time).
const STARTUP_LIMIT: Duration = Duration::from_secs(600);

/// A daemon's configuration for one account and region whose forwarder is
/// `datadog-forwarder`: a file ledger in `dir`, a daily schedule (after the startup pass only
/// events bring changes), `[events]` following `queue_url` with the default debounce, and
/// `extra` appended (e.g. services turned off).
pub fn following_config(
    account: &str,
    region: &str,
    dir: &Path,
    queue_url: &str,
    extra: &str,
) -> Config {
    let text = format!(
        "[aws]\naccount_id = \"{account}\"\nregions = [\"{region}\"]\n[forwarders]\n{region} = \"datadog-forwarder\"\n[ledger]\nlocation = \"{}\"\n[run]\nschedule = \"0 0 3 * * *\"\n[events]\nqueue_url = \"{queue_url}\"\n{extra}",
        dir.join("ledger.json").display()
    );
    Config::parse(&text, "following.toml").expect("a valid daemon config")
}

/// A daemon to run in this process.
pub struct InProcessDaemon {
    /// Its SDK clients.
    pub factory: ClientFactory,
    /// Its configuration (a file ledger, `[events]` naming the queue to follow).
    pub config: Config,
    /// Its metrics, readiness and event-loop counters.
    pub state: Arc<DaemonState>,
}

impl InProcessDaemon {
    /// A daemon on `factory` with `config`, not yet running.
    pub fn new(factory: ClientFactory, config: Config) -> Self {
        let state = Arc::new(DaemonState::new(&config));
        Self {
            factory,
            config,
            state,
        }
    }

    /// Runs the daemon until `driver` ends, then shuts it down and waits for it to stop;
    /// `driver`'s output.
    pub async fn run_until<T>(&self, driver: impl Future<Output = T>) -> T {
        let region = self
            .config
            .first_region()
            .unwrap_or_else(|| self.factory.own_region());
        let store = ledger::open(&self.config, Path::new("."), &self.factory, &region);
        let leases = Leases::local();
        let shutdown = CancellationToken::new();
        let cx = DaemonCx {
            factory: &self.factory,
            config: &self.config,
            ledger: store.as_ref(),
            leases: &leases,
            state: Arc::clone(&self.state),
            after_run: &|_, _| {},
        };
        let (stopped, out) = tokio::join!(daemon::run(cx, shutdown.clone()), async {
            let out = driver.await;
            shutdown.cancel();
            out
        });
        stopped.expect("the daemon stops cleanly");
        out
    }

    /// Waits until the startup pass finished (what `/readyz` reports).
    pub async fn started(&self) {
        let waited = tokio::time::Instant::now();
        while let Err(why) = self.state.ready() {
            assert!(
                waited.elapsed() < STARTUP_LIMIT,
                "the startup pass did not finish: {why}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
