//! `tollgate serve`: runs the gateway until SIGTERM or Ctrl-C, then drains.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::accounting::Accounting;
use crate::clock::{Clock, SystemClock};
use crate::gateway::Gateway;

/// `tollgate serve` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The config directory.
    #[arg(long, default_value = "config")]
    pub config: PathBuf,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// The SQLite usage database (created with its folder if missing).
    #[arg(long, default_value = "data/usage.db")]
    pub db: PathBuf,
    /// Environment variable holding the admin API's bearer token (unset: admin API disabled).
    #[arg(long, default_value = "TOLLGATE_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// Requests `/requests/{id}` keeps in memory with their lifecycle (older ones come from the usage database).
    #[arg(long, default_value_t = crate::gateway::REGISTRY_CAPACITY, value_parser = clap::value_parser!(u64).range(1..))]
    pub registry_capacity: u64,
    /// How long in-flight and queued requests may take to finish at shutdown.
    #[arg(long, default_value_t = 30.0, value_parser = non_negative_seconds)]
    pub shutdown_grace_seconds: f64,
}

/// Runs the server; exit code 2 for an invalid configuration.
pub fn run(args: Args) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tollgate=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Some(config) = super::load_config(&args.config) else {
        return ExitCode::from(2);
    };
    let clock = Arc::new(SystemClock);
    let (accounting, recovered) = match Accounting::open(&args.db, clock.now_ms()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("usage database: {e:#}");
            return ExitCode::from(2);
        }
    };
    if recovered.interrupted > 0 {
        eprintln!(
            "usage database: {} request(s) left open by the previous run were marked failed (interrupted)",
            recovered.interrupted
        );
    }
    let gateway = match Gateway::new(config, clock, Some(accounting), &recovered.pools) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    gateway.set_registry_capacity(args.registry_capacity as usize);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(gateway, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(gateway: Arc<Gateway>, args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (choose another --addr)",
                args.addr
            )
        })?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("tollgate listening on http://{addr}");
    tracing::info!(%addr, config = %gateway.config().dir.display(), "serving");

    let housekeeping = tokio::spawn(housekeeping(gateway.clone()));

    let auth = crate::api::admin::AdminAuth {
        token: std::env::var(&args.admin_token_env)
            .ok()
            .filter(|t| !t.is_empty())
            .map(Arc::from),
        env: Arc::from(args.admin_token_env.as_str()),
    };
    let watcher = crate::watch::spawn(gateway.clone());
    let app = crate::api::router(gateway.clone(), auth);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shutting down: draining in-flight and queued requests");
    gateway
        .drain(Duration::from_secs_f64(args.shutdown_grace_seconds))
        .await;
    housekeeping.abort();
    drop(watcher);
    Ok(())
}

/// Every 100 ms: time out queued requests that waited too long. Every
/// minute: drop expired policy counters. Every hour: prune usage rows older
/// than `retention_days`.
async fn housekeeping(gw: Arc<Gateway>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        gw.expire_queued().await;
        n += 1;
        if n.is_multiple_of(600) {
            gw.state().sweep(gw.clock_ms());
        }
        if n % 36_000 == 1
            && let (Some(days), Some(accounting)) =
                (gw.config().limits.retention_days, gw.accounting())
        {
            let cutoff = gw.clock_ms().saturating_sub(u64::from(days) * 86_400_000);
            if let Err(e) = accounting.prune(cutoff).await {
                tracing::error!("pruning usage rows: {e}");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A number of seconds >= 0 (a clear error for anything else, never a clamp).
fn non_negative_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds >= 0 (e.g. 30)")),
    }
}
