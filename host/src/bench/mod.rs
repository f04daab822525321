//! `tollgate bench`: the whole `/generate` request path measured in one run,
//! with the load generator in the same process.
//!
//! Four servers run in-process on free loopback ports, each on its own OS
//! thread and tokio runtime (the same number of worker threads each; only one
//! is under load at a time):
//!
//! - FULL: the real gateway (shipped config, the Wasm policy chain, accounting
//!   in a temporary SQLite file) with a zero-latency simulated model and the
//!   rate limits, quotas and concurrency caps lifted so nothing is refused;
//! - NO-SQLITE: FULL without the usage database (what accounting costs);
//! - PASSTHROUGH: FULL with an empty policy chain (what the policies cost);
//! - BARE: an axum handler that parses the same JSON body and answers a small
//!   JSON of the same shape (the physical limit of this HTTP stack).
//!
//! For each: max requests/s (closed loop), p50/p99 latency and errors at fixed
//! open-loop rates (the stress runner; latency from the planned send time),
//! and the process RSS (`/proc/self/status`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;

use crate::accounting::Accounting;
use crate::clock::{Clock, SystemClock};
use crate::config::{Backend, Config};
use crate::gateway::Gateway;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds per measurement.
    pub seconds: f64,
    /// Open-loop rates (requests/s).
    pub rates: Vec<f64>,
    /// Concurrent connections of the closed-loop max-throughput run.
    pub connections: usize,
    /// The config directory.
    pub config_dir: PathBuf,
    /// Worker threads of each server's runtime.
    pub server_threads: usize,
    /// Which of [`SERVERS`] to measure (all when empty), e.g. only FULL for a profile.
    pub servers: Vec<String>,
}

/// The servers, in table order.
pub const SERVERS: [&str; 4] = ["FULL", "NO-SQLITE", "PASSTHROUGH", "BARE"];

/// One open-loop measurement.
#[derive(Debug, Clone, Default)]
pub struct RateResult {
    pub rate: f64,
    pub sent: usize,
    pub achieved: f64,
    pub errors: usize,
    /// Seconds, from the planned send time.
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// The failures by kind, most frequent first (`code x count`).
    pub error_kinds: String,
}

/// Everything measured for one server.
#[derive(Debug, Clone, Default)]
pub struct ServerResult {
    pub name: String,
    pub max_rps: f64,
    pub max_errors: u64,
    pub max_p50: Option<f64>,
    pub max_p99: Option<f64>,
    pub rates: Vec<RateResult>,
    /// VmRSS right after this server's measurements, bytes.
    pub rss_after: Option<u64>,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seconds: f64,
    pub connections: usize,
    pub server_threads: usize,
    pub cores: usize,
    pub servers: Vec<ServerResult>,
    pub rss_idle: Option<u64>,
    pub rss_peak: Option<u64>,
}

/// Nearest-rank percentile `p` (0..=100) of ascending `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `a / b`, if `b` is positive.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |s| format!("{:.2}", s * 1e3))
}

fn mb(v: Option<u64>) -> String {
    v.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1}", b as f64 / 1048576.0),
    )
}

/// The markdown table (metric rows × server columns), the ratios and RSS.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let names: Vec<&str> = report.servers.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(out, "| metric | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(names.len()));
    let mut row = |label: String, cell: &dyn Fn(&ServerResult) -> String| {
        let cells: Vec<String> = report.servers.iter().map(cell).collect();
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    };
    row(
        format!(
            "max requests/s (closed loop, {} connections)",
            report.connections
        ),
        &|s| format!("{:.0}", s.max_rps),
    );
    row("p50 / p99 ms at max (closed loop)".into(), &|s| {
        format!("{} / {}", ms(s.max_p50), ms(s.max_p99))
    });
    row("errors at max (closed loop)".into(), &|s| {
        s.max_errors.to_string()
    });
    let rates: Vec<f64> = report
        .servers
        .first()
        .map(|s| s.rates.iter().map(|r| r.rate).collect())
        .unwrap_or_default();
    for (i, rate) in rates.iter().enumerate() {
        let at = |s: &ServerResult| s.rates.get(i).cloned().unwrap_or_default();
        row(format!("p50 ms at {rate:.0}/s (open loop)"), &|s| {
            ms(at(s).p50)
        });
        row(format!("p99 ms at {rate:.0}/s (open loop)"), &|s| {
            ms(at(s).p99)
        });
        row(format!("errors at {rate:.0}/s / sent"), &|s| {
            let r = at(s);
            format!("{} / {}", r.errors, r.sent)
        });
        row(format!("achieved send rate at {rate:.0}/s"), &|s| {
            format!("{:.0}", at(s).achieved)
        });
    }
    row("error kinds (open loop, all rates)".into(), &|s| {
        let kinds: Vec<String> = s
            .rates
            .iter()
            .filter(|r| !r.error_kinds.is_empty())
            .map(|r| format!("{:.0}/s: {}", r.rate, r.error_kinds))
            .collect();
        if kinds.is_empty() {
            "-".to_owned()
        } else {
            kinds.join("; ")
        }
    });
    row("process RSS after this server's load (MB)".into(), &|s| {
        mb(s.rss_after)
    });
    out.push('\n');
    let find = |n: &str| report.servers.iter().find(|s| s.name == n);
    if let Some(bare) = find("BARE") {
        for n in ["FULL", "NO-SQLITE", "PASSTHROUGH"] {
            if let Some(s) = find(n) {
                let r = ratio(s.max_rps, bare.max_rps);
                let _ = writeln!(
                    out,
                    "- {n}/BARE max requests/s: {}",
                    r.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "- process RSS idle ({} servers started, before load): {} MB; peak under load (VmHWM): {} MB",
        report.servers.len(),
        mb(report.rss_idle),
        mb(report.rss_peak)
    );
    let _ = writeln!(
        out,
        "- {} s per measurement, {} cores, {} worker thread(s) per server runtime, load generator in the same process",
        report.seconds, report.cores, report.server_threads
    );
    out
}

/// A `/proc/self/status` field (`VmRSS`, `VmHWM`) in bytes.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kb(&status, field).map(|kb| kb * 1024)
}

fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

// ---------------------------------------------------------------- servers

/// A server on its own thread and tokio runtime, on a free loopback port;
/// dropping it stops the runtime, backlog and all.
pub struct InProcServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcServer {
    /// Starts `make()` (called inside the server's runtime) on a free port.
    pub fn start<F>(name: &str, threads: usize, make: F) -> anyhow::Result<Self>
    where
        F: FnOnce() -> anyhow::Result<Router> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let thread_name = format!("bench-{name}");
        let thread = std::thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .thread_name(thread_name)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let app = {
                    let _guard = rt.enter();
                    make()
                };
                let app = match app {
                    Ok(a) => {
                        let _ = ready_tx.send(Ok(()));
                        a
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Stopping is abrupt on purpose: the runtime is shut down with
                // whatever work is left, so a backlog of one server does not
                // steal CPU from the next one's measurements.
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        ready_rx
            .recv()
            .map_err(|_| anyhow::anyhow!("{name} server thread died"))??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for InProcServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The shipped config made benchable: zero-latency simulated models, no rate
/// limits, quotas, budgets or concurrency caps, a large scheduler.
pub fn bench_config(mut config: Config, pass_through: bool) -> Config {
    for model in config.models.values_mut() {
        if let Backend::Simulated(sim) = &mut model.backend {
            sim.average_latency = Duration::ZERO;
            sim.latency_model = None;
        }
    }
    for rl in config.limits.rate_limits.values_mut() {
        rl.requests_per_minute = None;
        rl.tokens_per_minute = None;
    }
    for p in config.projects.values_mut() {
        p.monthly_token_quota = None;
        p.monthly_budget_nano_eur = None;
        p.max_concurrent_requests = None;
    }
    config.limits.max_active_requests = 100_000;
    config.limits.max_queue_size = 100_000;
    if pass_through {
        config.policies.chain = vec![];
    }
    config
}

/// The gateway, with its usage database at `db` (none: no accounting).
fn gateway_router(config: Config, db: Option<&Path>) -> anyhow::Result<Router> {
    let clock = Arc::new(SystemClock);
    let (accounting, pools) = match db {
        Some(db) => {
            let (accounting, recovered) = Accounting::open(db, clock.now_ms())?;
            (Some(accounting), recovered.pools)
        }
        None => (None, vec![]),
    };
    let gw = Gateway::new(config, clock, accounting, &pools)?;
    Ok(crate::api::router(
        gw,
        crate::api::admin::AdminAuth {
            token: None,
            env: Arc::from("TOLLGATE_ADMIN_TOKEN"),
        },
    ))
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct BareBody {
    user_id: String,
    project_id: String,
    model: String,
    prompt: String,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    request_type: Option<String>,
}

#[derive(serde::Serialize)]
struct BareReply<'a> {
    request_id: String,
    status: &'static str,
    message: &'static str,
    estimated_input_tokens: u32,
    estimated_output_tokens: u32,
    estimated_cost_eur: f64,
    model: &'a str,
    backend_name: &'static str,
    latency_seconds: f64,
    adjustments: [&'static str; 0],
}

async fn bare_generate(body: axum::body::Bytes) -> axum::response::Response {
    match serde_json::from_slice::<BareBody>(&body) {
        Ok(b) => {
            let reply = BareReply {
                request_id: uuid::Uuid::new_v4().to_string(),
                status: "completed",
                message: "ok",
                estimated_input_tokens: crate::gateway::estimate_tokens(&b.prompt),
                estimated_output_tokens: b.max_tokens.unwrap_or(256),
                estimated_cost_eur: 0.0,
                model: &b.model,
                backend_name: "bare",
                latency_seconds: 0.0,
                adjustments: [],
            };
            let bytes = serde_json::to_vec(&reply).unwrap_or_default();
            ([(CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(e) => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            [(CONTENT_TYPE, "application/json")],
            serde_json::json!({"detail": e.to_string()}).to_string(),
        )
            .into_response(),
    }
}

fn bare_router() -> Router {
    Router::new().route("/generate", post(bare_generate))
}

// ---------------------------------------------------------------- load

const BODY: &str = r#"{"user_id":"user_vip_01","project_id":"vip_project","model":"simulated-small","prompt":"Explain the difference between a process and a thread in two sentences.","max_tokens":64,"request_type":"interactive"}"#;

/// Closed loop: `connections` tasks each sending one request after another
/// for `seconds`. Returns (ok/s, errors, sorted latencies in s).
async fn closed_loop(
    client: &reqwest::Client,
    base: &str,
    connections: usize,
    seconds: f64,
) -> (f64, u64, Vec<f64>) {
    let url = format!("{base}/generate");
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut err = 0u64;
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(BODY)
                    .send()
                    .await;
                let good = match r {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        resp.bytes().await.is_ok() && status == 200
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed().as_secs_f64());
                if good { ok += 1 } else { err += 1 }
            }
            (ok, err, lat)
        }));
    }
    let (mut ok, mut err, mut lat) = (0u64, 0u64, Vec::new());
    for t in tasks {
        if let Ok((o, e, l)) = t.await {
            ok += o;
            err += e;
            lat.extend(l);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    (ok as f64 / elapsed.max(1e-9), err, lat)
}

/// Open loop at `rate`/s for `seconds` through the stress runner.
async fn open_loop(base: &str, rate: f64, seconds: f64) -> anyhow::Result<RateResult> {
    let s = crate::stress::scenario::parse(
        &format!(
            "arrivals: {{process: constant, rate_per_second: {rate}}}\n\
             duration_seconds: {seconds}\n\
             users: [user_vip_01, user_standard_01]\n\
             models: [simulated-small]\n\
             prompt_sizes: [{{size: short}}, {{size: long}}]\n"
        ),
        "bench",
    )
    .map_err(|e| anyhow::anyhow!("bench scenario: {}", e.join("; ")))?;
    let mut opts = crate::stress::RunOptions::new(base, 42);
    opts.poll_queued = false;
    opts.http_timeout = Duration::from_secs(10);
    let http = crate::stress::client(opts.http_timeout);
    let outcome = crate::stress::run(Arc::new(s), http, opts).await;
    let errors = outcome
        .results
        .iter()
        .filter(|r| r.http_status != Some(200))
        .count();
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for r in outcome
        .results
        .iter()
        .filter(|r| r.http_status != Some(200))
    {
        let key = match (&r.code, r.http_status) {
            (Some(c), Some(s)) => format!("{s} {c}"),
            (None, Some(s)) => format!("HTTP {s}"),
            (Some(c), None) => c.clone(),
            (None, None) => {
                let e = r.error.as_deref().unwrap_or("transport error");
                e.rsplit(": ")
                    .next()
                    .unwrap_or(e)
                    .chars()
                    .take(60)
                    .collect::<String>()
                    .replace('|', "/")
            }
        };
        *kinds.entry(key).or_default() += 1;
    }
    let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    let error_kinds = kinds
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lat: Vec<f64> = outcome
        .results
        .iter()
        .filter_map(|r| r.latency_seconds)
        .collect();
    lat.sort_by(f64::total_cmp);
    Ok(RateResult {
        error_kinds,
        rate,
        sent: outcome.results.len(),
        achieved: outcome.achieved_rate_per_second(),
        errors,
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
    })
}

/// Runs every measurement; progress goes to stderr.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    let loaded = crate::config::load(&opts.config_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", opts.config_dir.display()))?;
    let tmp = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let threads = opts.server_threads.max(1);

    let full_cfg = bench_config(loaded.clone(), false);
    let nosqlite_cfg = full_cfg.clone();
    let pass_cfg = bench_config(loaded, true);
    let full_db = tmp.join("full.db");
    let pass_db = tmp.join("passthrough.db");
    let wanted = |name: &str| opts.servers.is_empty() || opts.servers.iter().any(|s| s == name);
    let mut servers = Vec::new();
    if wanted("FULL") {
        let server = InProcServer::start("full", threads, move || {
            gateway_router(full_cfg, Some(&full_db))
        })?;
        servers.push(("FULL", server));
    }
    if wanted("NO-SQLITE") {
        let server = InProcServer::start("nosqlite", threads, move || {
            gateway_router(nosqlite_cfg, None)
        })?;
        servers.push(("NO-SQLITE", server));
    }
    if wanted("PASSTHROUGH") {
        let server = InProcServer::start("passthrough", threads, move || {
            gateway_router(pass_cfg, Some(&pass_db))
        })?;
        servers.push(("PASSTHROUGH", server));
    }
    if wanted("BARE") {
        servers.push((
            "BARE",
            InProcServer::start("bare", threads, || Ok(bare_router()))?,
        ));
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle = proc_status_bytes("VmRSS");

    let load = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = crate::stress::client(Duration::from_secs(10));
    let mut report = Report {
        seconds: opts.seconds,
        connections: opts.connections,
        server_threads: threads,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        rss_idle,
        ..Default::default()
    };
    for (name, server) in servers {
        let base = server.base_url();
        eprintln!("bench: {name} at {base}");
        let result = load.block_on(async {
            // Warm-up (not reported): connections, pages, JIT-compiled policies.
            let _ = closed_loop(&client, &base, opts.connections, 0.5).await;
            let (max_rps, max_errors, lat) =
                closed_loop(&client, &base, opts.connections, opts.seconds).await;
            eprintln!("bench: {name} max {max_rps:.0} requests/s ({max_errors} errors)");
            let mut rates = Vec::new();
            for &rate in &opts.rates {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let r = open_loop(&base, rate, opts.seconds).await?;
                eprintln!(
                    "bench: {name} at {rate:.0}/s: p50 {} ms, p99 {} ms, {} errors of {} {}",
                    ms(r.p50),
                    ms(r.p99),
                    r.errors,
                    r.sent,
                    r.error_kinds
                );
                rates.push(r);
            }
            anyhow::Ok(ServerResult {
                name: name.to_owned(),
                max_rps,
                max_errors,
                max_p50: percentile(&lat, 50.0),
                max_p99: percentile(&lat, 99.0),
                rates,
                rss_after: proc_status_bytes("VmRSS"),
            })
        })?;
        report.servers.push(result);
        // Stop it (dropping its backlog) and let the machine settle.
        drop(server);
        std::thread::sleep(Duration::from_millis(500));
    }
    report.rss_peak = proc_status_bytes("VmHWM");
    drop(load);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn status_parsing() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kb(s, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kb(s, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kb(s, "VmSwap"), None);
    }

    #[test]
    fn table_has_servers_metrics_and_ratios() {
        let server = |name: &str, rps: f64| ServerResult {
            name: name.into(),
            max_rps: rps,
            rates: vec![RateResult {
                rate: 1000.0,
                sent: 1000,
                achieved: 1000.0,
                errors: 0,
                p50: Some(0.0005),
                p99: Some(0.002),
                error_kinds: String::new(),
            }],
            rss_after: Some(50 * 1048576),
            ..Default::default()
        };
        let report = Report {
            seconds: 5.0,
            connections: 64,
            server_threads: 2,
            cores: 2,
            servers: vec![
                server("FULL", 5000.0),
                server("NO-SQLITE", 6000.0),
                server("PASSTHROUGH", 8000.0),
                server("BARE", 10000.0),
            ],
            rss_idle: Some(20 * 1048576),
            rss_peak: Some(60 * 1048576),
        };
        let t = render(&report);
        assert!(t.starts_with(
            "| metric | FULL | NO-SQLITE | PASSTHROUGH | BARE |\n|---|---:|---:|---:|---:|\n"
        ));
        assert!(t.contains(
            "| max requests/s (closed loop, 64 connections) | 5000 | 6000 | 8000 | 10000 |"
        ));
        assert!(t.contains("| p99 ms at 1000/s (open loop) | 2.00 | 2.00 | 2.00 | 2.00 |"));
        assert!(
            t.contains("| errors at 1000/s / sent | 0 / 1000 | 0 / 1000 | 0 / 1000 | 0 / 1000 |")
        );
        assert!(t.contains("FULL/BARE max requests/s: 50.0%"));
        assert!(t.contains("PASSTHROUGH/BARE max requests/s: 80.0%"));
        assert!(t.contains("NO-SQLITE/BARE max requests/s: 60.0%"));
        assert!(t.contains("| error kinds (open loop, all rates) | - | - | - | - |"));
        assert!(t.contains("idle (4 servers started, before load): 20.0 MB"));
        // Every table row has one cell per server.
        for line in t.lines().filter(|l| l.starts_with('|')) {
            assert_eq!(line.matches('|').count(), 6, "{line}");
        }
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
