//! `autosub run` and `autosub healthcheck`: the HTTP server (`/healthz`, `/readyz`,
//! `/metrics`), signal handling and exit codes around the engine's daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use autosub_aws::factory::ClientFactory;
use autosub_config::Config;
use autosub_engine::daemon::{self, DaemonCx, DaemonState};
use autosub_engine::internal_events::RunEvents;
use autosub_engine::reconcile::RunReport;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::runtime::Stores;
use crate::telemetry;

/// The exit code when a second signal cuts the shutdown short (128 + SIGINT, as shells do).
const INTERRUPTED: i32 = 130;

/// Runs the daemon until SIGTERM/SIGINT; the process exit code.
pub async fn run(config: &Config, factory: &ClientFactory, stores: &Stores) -> u8 {
    let addr = config.run.listen;
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {addr} (run.listen, AUTOSUB_LISTEN): {e}");
            return exit::ERROR;
        }
    };
    let state = Arc::new(DaemonState::new(config));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::clone(&state));
    let stop_server = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_server.clone().cancelled_owned())
            .into_future(),
    );
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");

    let shutdown = CancellationToken::new();
    let grace = Duration::from_secs(config.run.shutdown_grace_secs);
    let signals = match signal(SignalKind::terminate()) {
        Ok(sigterm) => tokio::spawn(watch_signals(sigterm, shutdown.clone(), grace)),
        Err(e) => {
            eprintln!("error: cannot watch for SIGTERM: {e}");
            return exit::ERROR;
        }
    };
    // Telemetry to Datadog (when configured) goes out beside the next wait, never in a pass's way.
    let (telemetry_config, telemetry_factory) = (config.clone(), factory.clone());
    let after_run = move |report: &RunReport, run: &RunEvents| {
        let (config, factory) = (telemetry_config.clone(), telemetry_factory.clone());
        let (passes, failures, run) = (report.passes.clone(), report.failures.clone(), run.clone());
        tokio::spawn(async move {
            telemetry::send_events(&config, &factory, &passes, &failures, &run).await;
        });
    };
    let cx = DaemonCx {
        factory,
        config,
        ledger: stores.ledger.as_ref(),
        leases: &stores.leases,
        state,
        after_run: &after_run,
    };
    let result = daemon::run(cx, shutdown).await;
    signals.abort();
    stop_server.cancel();
    let _ = server.await;
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::ERROR
        }
    }
}

/// The first SIGTERM or SIGINT starts the shutdown; a second one, or the grace period running
/// out, exits at once.
async fn watch_signals(
    mut sigterm: tokio::signal::unix::Signal,
    shutdown: CancellationToken,
    grace: Duration,
) {
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new pass starts, the change in flight finishes"
    );
    shutdown.cancel();
    tokio::select! {
        _ = sigterm.recv() => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(INTERRUPTED);
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(INTERRUPTED);
        }
        () = tokio::time::sleep(grace) => {
            tracing::error!("the pass did not stop within run.shutdown_grace_secs; exiting now");
            std::process::exit(i32::from(exit::ERROR));
        }
    }
}

async fn healthz(State(state): State<Arc<DaemonState>>) -> impl IntoResponse {
    match state.live() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {why}\n"),
        ),
    }
}

async fn readyz(State(state): State<Arc<DaemonState>>) -> impl IntoResponse {
    match state.ready() {
        Ok(body) => (StatusCode::OK, body),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn metrics(State(state): State<Arc<DaemonState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// GETs `/healthz` from the local server on `listen`; 0 when it answers 200.
pub async fn healthcheck(mut addr: SocketAddr) -> u8 {
    // A wildcard listen address is reached on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let probe = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(reply))
            if reply.starts_with(b"HTTP/1.1 200") || reply.starts_with(b"HTTP/1.0 200") =>
        {
            exit::OK
        }
        Ok(Ok(reply)) => {
            let status = String::from_utf8_lossy(&reply);
            eprintln!(
                "unhealthy: http://{addr}/healthz answered {}",
                status.lines().next().unwrap_or_default()
            );
            exit::ERROR
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: http://{addr}/healthz: {e}");
            exit::ERROR
        }
        Err(_) => {
            eprintln!("unhealthy: http://{addr}/healthz did not answer within 3 s");
            exit::ERROR
        }
    }
}
