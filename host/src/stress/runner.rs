//! Sends a scenario's plan and records what happened to each request.
//!
//! Open loop: a scheduler sleeps until each request's planned time and spawns
//! it; latency is measured from the planned time, so a slow server cannot hide
//! its queueing by slowing the sender down (no coordinated omission). Closed
//! loop (the seed's): at most `concurrency` requests in flight, latency from
//! just before the POST, a queued request's polling holding its slot.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};

use super::plan::{PlanIter, Planned};
use super::scenario::{Load, RequestType, Scenario};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// e.g. `http://127.0.0.1:8000` (a trailing `/` is stripped).
    pub base_url: String,
    pub seed: u64,
    /// Poll `/requests/{id}` for requests answered `queued`.
    pub poll_queued: bool,
    pub poll_interval: Duration,
    pub poll_timeout: Duration,
    /// Per HTTP call (the seed's client: 30 s).
    pub http_timeout: Duration,
    /// Draw a progress bar on stderr (only if stderr is a terminal).
    pub progress: bool,
}

impl RunOptions {
    /// The seed's defaults: polling on, every 0.2 s, for up to 30 s.
    pub fn new(base_url: &str, seed: u64) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            seed,
            poll_queued: true,
            poll_interval: Duration::from_secs_f64(0.2),
            poll_timeout: Duration::from_secs(30),
            http_timeout: Duration::from_secs(30),
            progress: false,
        }
    }
}

/// One row of `latest_results.csv` (the seed's fields), plus what the
/// summary's extra sections need.
#[derive(Debug, Clone)]
pub struct RequestResult {
    pub index: u64,
    /// Index into the scenario's users / models.
    pub user: u32,
    pub model: u32,
    pub request_type: RequestType,
    pub max_tokens: u32,
    pub backend_name: Cow<'static, str>,
    pub http_status: Option<u16>,
    pub backend_status: Option<String>,
    pub request_id: Option<String>,
    pub latency_seconds: Option<f64>,
    pub final_backend_status: Option<String>,
    pub final_latency_seconds: Option<f64>,
    pub end_to_end_latency_seconds: Option<f64>,
    pub polling_attempts: u32,
    pub polling_error: Option<String>,
    pub error: Option<String>,
    /// A refusal's machine-readable `code` (Tollgate; absent from the seed's server).
    pub code: Option<String>,
    /// Open loop: how late the request left after its planned time.
    pub lateness_seconds: Option<f64>,
    /// When it left, in seconds after the run's start.
    pub sent_at_seconds: f64,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Sorted by request index.
    pub results: Vec<RequestResult>,
    /// From the start until the last request ended.
    pub duration_seconds: f64,
    /// From the first send to the last.
    pub send_window_seconds: f64,
}

impl RunOutcome {
    /// Requests sent per second over the send window (the whole run for one request).
    pub fn achieved_rate_per_second(&self) -> f64 {
        let n = self.results.len() as f64;
        if self.send_window_seconds > 0.0 && self.results.len() > 1 {
            // n requests span n-1 gaps; scale so a perfectly paced run reports its rate.
            (n - 1.0) / self.send_window_seconds
        } else if self.duration_seconds > 0.0 {
            n / self.duration_seconds
        } else {
            0.0
        }
    }
}

/// The HTTP client the tester uses: one shared pool, sized for many
/// concurrent connections to one host.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(16_384)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .timeout(timeout)
        .no_proxy()
        .build()
        .expect("HTTP client")
}

#[derive(Serialize)]
struct Body<'a> {
    user_id: &'a str,
    project_id: &'a str,
    model: &'a str,
    prompt: &'a str,
    max_tokens: u32,
    request_type: &'static str,
}

/// The parts of a `/generate` or `/requests/{id}` answer the tester reads.
#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    request_id: Option<serde_json::Value>,
    #[serde(default)]
    backend_name: Option<serde_json::Value>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

fn as_string(v: &Option<serde_json::Value>) -> Option<String> {
    match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

struct Ctx {
    client: reqwest::Client,
    scenario: Arc<Scenario>,
    generate_url: String,
    requests_url: String,
    opts: RunOptions,
    start: Instant,
}

fn inferred_backend(model: &str) -> Cow<'static, str> {
    if model.starts_with("simulated") {
        Cow::Borrowed("simulated")
    } else if model.starts_with("ollama") {
        Cow::Borrowed("ollama")
    } else if model.starts_with("openai") {
        Cow::Borrowed("openai")
    } else {
        Cow::Borrowed("unknown")
    }
}

fn error_text(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

const TERMINAL: [&str; 4] = ["completed", "failed", "rejected", "timed_out"];

/// Sends one planned request (and polls it if queued). `origin` is when its
/// latency starts: the planned time (open loop) or just before the POST.
async fn execute(ctx: &Ctx, p: Planned, origin: Instant, open_loop: bool) -> RequestResult {
    let s = &ctx.scenario;
    let user = &s.users[p.user as usize];
    let model = &s.models[p.model as usize].0;
    let sent = Instant::now();
    let mut r = RequestResult {
        index: p.index,
        user: p.user,
        model: p.model,
        request_type: p.request_type,
        max_tokens: p.max_tokens,
        backend_name: inferred_backend(model),
        http_status: None,
        backend_status: None,
        request_id: None,
        latency_seconds: None,
        final_backend_status: None,
        final_latency_seconds: None,
        end_to_end_latency_seconds: None,
        polling_attempts: 0,
        polling_error: None,
        error: None,
        code: None,
        lateness_seconds: open_loop.then(|| sent.saturating_duration_since(origin).as_secs_f64()),
        sent_at_seconds: sent.saturating_duration_since(ctx.start).as_secs_f64(),
    };
    let body = serde_json::to_vec(&Body {
        user_id: &user.id,
        project_id: &user.project_id,
        model,
        prompt: &s.prompts[p.prompt as usize].text,
        max_tokens: p.max_tokens,
        request_type: p.request_type.as_str(),
    })
    .expect("serializable body");
    let answer = ctx
        .client
        .post(&ctx.generate_url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let response = match answer {
        Ok(resp) => {
            let status = resp.status().as_u16();
            resp.bytes().await.map(|b| (status, b))
        }
        Err(e) => Err(e),
    };
    let latency = origin.elapsed().as_secs_f64();
    r.latency_seconds = Some(latency);
    let (status, bytes) = match response {
        Ok(x) => x,
        Err(e) => {
            r.error = Some(error_text(&e));
            return r;
        }
    };
    let a: Answer = serde_json::from_slice(&bytes).unwrap_or_default();
    r.http_status = Some(status);
    r.backend_status = as_string(&a.status);
    r.request_id = as_string(&a.request_id);
    if let Some(name) = as_string(&a.backend_name).filter(|n| !n.is_empty()) {
        r.backend_name = Cow::Owned(name);
    }
    r.final_backend_status = r.backend_status.clone();
    r.final_latency_seconds = Some(latency);
    r.end_to_end_latency_seconds = Some(latency);
    if status >= 400 {
        r.code = as_string(&a.code);
        r.error = Some(
            as_string(&a.detail)
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        );
    }
    if ctx.opts.poll_queued
        && r.backend_status.as_deref() == Some("queued")
        && let Some(id) = r.request_id.clone()
    {
        poll(ctx, &mut r, &id, origin).await;
    }
    r
}

/// Polls `/requests/{id}` until a terminal status or the poll timeout (the seed's loop).
async fn poll(ctx: &Ctx, r: &mut RequestResult, id: &str, origin: Instant) {
    let poll_start = Instant::now();
    let url = format!("{}/{id}", ctx.requests_url);
    while poll_start.elapsed() < ctx.opts.poll_timeout {
        r.polling_attempts += 1;
        let got = match ctx.client.get(&url).send().await {
            Ok(resp) => resp.bytes().await,
            Err(e) => Err(e),
        };
        match got {
            Ok(bytes) => {
                let a: Answer = serde_json::from_slice(&bytes).unwrap_or_default();
                if let Some(status) = as_string(&a.status)
                    && TERMINAL.contains(&status.as_str())
                {
                    r.final_backend_status = Some(status);
                    r.final_latency_seconds = Some(poll_start.elapsed().as_secs_f64());
                    r.end_to_end_latency_seconds = Some(origin.elapsed().as_secs_f64());
                    r.polling_error = None;
                    return;
                }
            }
            Err(e) => {
                r.final_backend_status = Some("failed".into());
                r.polling_error = Some(error_text(&e));
                r.end_to_end_latency_seconds = Some(origin.elapsed().as_secs_f64());
                return;
            }
        }
        tokio::time::sleep(ctx.opts.poll_interval).await;
    }
    r.final_backend_status = Some("timed_out".into());
    r.polling_error = Some("poll_timeout".into());
    r.final_latency_seconds = Some(poll_start.elapsed().as_secs_f64());
    r.end_to_end_latency_seconds = Some(origin.elapsed().as_secs_f64());
}

fn progress_bar(len: Option<u64>, enabled: bool) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} done ({eta} left)",
            )
            .expect("template")
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{elapsed_precise} {spinner} {pos} done")
                .expect("template"),
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(5));
    bar
}

/// Runs `scenario` with `opts` through `client`.
pub async fn run(scenario: Arc<Scenario>, client: reqwest::Client, opts: RunOptions) -> RunOutcome {
    let base = opts.base_url.trim_end_matches('/').to_owned();
    let plan = PlanIter::new(&scenario, opts.seed);
    let finite = plan.is_finite();
    // A finite plan is drawn completely before the first send, so sending does no planning work.
    let planned: Option<Vec<Planned>> = finite.then(|| plan.collect());
    let len = planned.as_ref().map(|p| p.len() as u64);
    let bar = progress_bar(len, opts.progress);
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        client,
        scenario: scenario.clone(),
        generate_url: format!("{base}/generate"),
        requests_url: format!("{base}/requests"),
        opts,
        start,
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestResult>();
    let dispatch = {
        let ctx = ctx.clone();
        let scenario = scenario.clone();
        async move {
            match planned {
                Some(v) => dispatch(ctx, &scenario, v.into_iter(), tx).await,
                None => {
                    let seed = ctx.opts.seed;
                    dispatch(ctx.clone(), &scenario, PlanIter::new(&scenario, seed), tx).await
                }
            }
        }
    };
    let collect = async {
        let mut results = Vec::with_capacity(len.unwrap_or(1024) as usize);
        while let Some(r) = rx.recv().await {
            results.push(r);
            bar.inc(1);
        }
        results
    };
    let ((), mut results) = tokio::join!(dispatch, collect);
    bar.finish_and_clear();
    let duration_seconds = start.elapsed().as_secs_f64();
    results.sort_by_key(|r| r.index);
    let (first, last) = results.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
        (lo.min(r.sent_at_seconds), hi.max(r.sent_at_seconds))
    });
    RunOutcome {
        send_window_seconds: if results.is_empty() {
            0.0
        } else {
            last - first
        },
        results,
        duration_seconds,
    }
}

async fn dispatch(
    ctx: Arc<Ctx>,
    scenario: &Scenario,
    items: impl Iterator<Item = Planned>,
    tx: mpsc::UnboundedSender<RequestResult>,
) {
    let start = tokio::time::Instant::from_std(ctx.start);
    let deadline = scenario
        .duration_seconds
        .map(|d| start + Duration::from_secs_f64(d));
    match &scenario.load {
        Load::Open(_) => {
            // The pacing runs on a thread of its own: tokio's timers tick in
            // whole milliseconds (each send would leave up to 1 ms late and
            // in bursts), a thread's sleep is precise to tens of µs.
            let items: Vec<Planned> = items.collect();
            let runtime = tokio::runtime::Handle::current();
            let start = ctx.start;
            let pacer = tokio::task::spawn_blocking(move || {
                for p in items {
                    let at = start + Duration::from_secs_f64(p.at_seconds);
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                    let (ctx, tx) = (ctx.clone(), tx.clone());
                    runtime.spawn(async move {
                        let r = execute(&ctx, p, at, true).await;
                        let _ = tx.send(r);
                    });
                }
            });
            if let Err(e) = pacer.await {
                tracing::error!("the open-loop pacer stopped: {e}");
            }
        }
        Load::Closed { concurrency, .. } => {
            let slots = Arc::new(Semaphore::new(*concurrency));
            for p in items {
                let at = start + Duration::from_secs_f64(p.at_seconds);
                if deadline.is_some_and(|d| at >= d || tokio::time::Instant::now() >= d) {
                    break;
                }
                if at > tokio::time::Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                let permit = slots.clone().acquire_owned().await.expect("open semaphore");
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    break;
                }
                let (ctx, tx) = (ctx.clone(), tx.clone());
                tokio::spawn(async move {
                    let r = execute(&ctx, p, Instant::now(), false).await;
                    drop(permit);
                    let _ = tx.send(r);
                });
            }
        }
    }
}
