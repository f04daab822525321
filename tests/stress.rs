//! The stress tester against the real `tollgate serve`: every seed scenario
//! through the `tollgate stress` CLI with its reports' invariants, the strict
//! and lenient degradation variants compared on a burst, and seeded plans.

mod common;

use common::{ADMIN_TOKEN, Server, edit};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tollgate::stress::report::{CSV_COLUMNS, EXTRA_SUMMARY_KEYS, SEED_SUMMARY_KEYS};
use tollgate::stress::scenario;

fn tollgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.env("TOLLGATE_ADMIN_TOKEN", ADMIN_TOKEN);
    c
}

/// Runs `tollgate stress ARGS`, asserting success.
fn stress(args: &[&str]) -> String {
    let out: Output = tollgate().arg("stress").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tollgate stress {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn components() -> PathBuf {
    PathBuf::from(tollgate::builtin::COMPONENTS_DIR)
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Zero simulated latency, and `ollama-llama` enabled but pointing at a closed
/// local port, so the Ollama scenarios exercise the failure path (fast 502s).
fn fast_with_unreachable_ollama(d: &Path) {
    edit(
        d,
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.0",
    );
    edit(
        d,
        "models.yaml",
        "average_latency_seconds: 2.0",
        "average_latency_seconds: 0.0",
    );
    let text = std::fs::read_to_string(d.join("models.yaml")).unwrap();
    let (head, tail) = text.split_once("  ollama-llama:").unwrap();
    let tail = tail
        .replacen("enabled: false", "enabled: true", 1)
        .replacen(
            "ollama_base_url: \"http://localhost:11434\"",
            &format!("ollama_base_url: \"http://127.0.0.1:{}\"", closed_port()),
            1,
        );
    // The openai_* scenarios' model, also unreachable.
    let openai = format!(
        "\n  openai-llama:\n    backend: \"openai\"\n    enabled: true\n    base_url: \"http://127.0.0.1:{}\"\n    api: completions\n    max_output_tokens: 512\n",
        closed_port()
    );
    std::fs::write(
        d.join("models.yaml"),
        format!("{head}  ollama-llama:{tail}{openai}"),
    )
    .unwrap();
}

/// A parsed `latest_results.csv` (no field of these runs holds a comma).
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>())
            .collect();
        Self { header, rows }
    }

    fn col(&self, name: &str) -> Vec<&str> {
        let i = self.header.iter().position(|h| h == name).unwrap();
        self.rows.iter().map(|r| r[i].as_str()).collect()
    }
}

fn sum(v: &Value) -> u64 {
    v.as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The invariants every run's reports keep.
fn check_reports(dir: &Path, name: &str) -> (Csv, Value) {
    let s = scenario::builtin(name)
        .or_else(|| scenario::load_file(&dir.join("scenario.yaml")).ok())
        .unwrap_or_else(|| panic!("scenario {name}"));
    let csv = Csv::read(&dir.join("latest_results.csv"));
    let summary = read_json(&dir.join("latest_summary.json"));
    assert_eq!(csv.header, CSV_COLUMNS, "{name}: the seed's CSV header");
    let n = csv.rows.len() as u64;
    if let Some(total) = s.total {
        assert_eq!(n, total, "{name}: every planned request is a row");
    }
    for (i, r) in csv.rows.iter().enumerate() {
        assert_eq!(r.len(), CSV_COLUMNS.len(), "{name}: row {i}: {r:?}");
        assert_eq!(r[0], i.to_string(), "{name}: rows sorted by request_index");
    }
    // Summary keys: the seed's, in its order, then Tollgate's.
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: Vec<&str> = SEED_SUMMARY_KEYS
        .iter()
        .chain(&EXTRA_SUMMARY_KEYS)
        .copied()
        .collect();
    assert_eq!(keys, expected, "{name}: summary keys and order");
    // Counts add up.
    assert_eq!(summary["total_requests"], n);
    let ok = summary["successful_http_requests"].as_u64().unwrap();
    assert_eq!(ok + summary["failed_http_requests"].as_u64().unwrap(), n);
    assert_eq!(summary["rejected"], summary["failed_http_requests"]);
    for key in [
        "status_code_distribution",
        "backend_status_distribution",
        "final_backend_status_distribution",
        "requests_by_model",
        "requests_by_backend",
    ] {
        assert_eq!(sum(&summary[key]), n, "{name}: {key} sums to the total");
    }
    let statuses = csv.col("http_status");
    assert_eq!(
        statuses.iter().filter(|s| s.starts_with('2')).count() as u64,
        ok,
        "{name}: 2xx rows"
    );
    let finals = csv.col("final_backend_status");
    assert_eq!(
        finals.iter().filter(|s| **s == "completed").count() as u64,
        summary["completed_final"].as_u64().unwrap()
    );
    // Statuses are valid.
    for s in &statuses {
        assert!(
            ["200", "429", "502", "503", "504"].contains(s),
            "{name}: unexpected HTTP status {s:?}"
        );
    }
    for s in csv.col("backend_status") {
        assert!(
            ["completed", "queued", ""].contains(&s),
            "{name}: backend_status {s:?}"
        );
    }
    for s in &finals {
        assert!(
            ["completed", "failed", "rejected", "timed_out", ""].contains(s),
            "{name}: final status {s:?}"
        );
    }
    for (b, f) in csv.col("backend_status").iter().zip(&finals) {
        if *b == "queued" {
            assert_ne!(*f, "", "{name}: a queued request was followed to its end");
        }
    }
    // Breakdowns cover every request.
    let by_tenant: u64 = summary["by_tenant"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(by_tenant, n);
    let by_class: u64 = summary["by_priority_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(by_class, n);
    assert_eq!(summary["goodput"]["requests"], n);
    // VIP traffic is never refused by degradation: not as "standard", not by
    // priority, and interactive VIP requests not at all.
    for ((user, kind), error) in csv
        .col("user_id")
        .iter()
        .zip(csv.col("request_type"))
        .zip(csv.col("error"))
    {
        if *user == "user_vip_01" {
            assert!(
                !error.contains("Standard requests rejected")
                    && !error.contains("priority requests allowed"),
                "{name}: VIP refused by degradation: {error}"
            );
            if kind == "interactive" {
                assert!(
                    !error.contains("Batch requests rejected"),
                    "{name}: {error}"
                );
            }
        }
    }
    let high_reasons = &summary["by_priority_class"]["high"]["rejection_reasons"];
    if let Some(m) = high_reasons.as_object() {
        assert!(
            !m.contains_key("reject_standard") && !m.contains_key("allow_only_priority"),
            "{m:?}"
        );
    }
    // The seed's markdown layout.
    let md = std::fs::read_to_string(dir.join("latest_comparison.md")).unwrap();
    assert!(
        md.starts_with(&format!(
            "# LLM Throughput Comparison Report\n\n- Total requests: {n}\n\n## Status Distribution\n- "
        )),
        "{md}"
    );
    let mut at = 0;
    for section in [
        "## Final Status Distribution",
        "## Requests By Backend",
        "## Requests By Model",
        "## Latency By Backend\n| Name | Count | Average | P50 | P95 | P99 |\n| --- | ---: | ---: | ---: | ---: | ---: |",
        "## Latency By Model",
        "## End-To-End Latency By Backend",
        "## End-To-End Latency By Model",
        "## Notes",
    ] {
        let found = md[at..]
            .find(&format!("\n\n{section}"))
            .unwrap_or_else(|| panic!("{name}: {section} in order"));
        at += found + 1;
    }
    assert!(md.ends_with("intended for architecture validation.\n") && !md.ends_with("\n\n"));
    (csv, summary)
}

#[tokio::test]
async fn every_seed_scenario_runs_and_its_reports_add_up() {
    let s = Server::start(fast_with_unreachable_ollama);
    let out = tempfile::tempdir().unwrap();
    for name in scenario::builtin_names() {
        // Fresh windows and quotas for each scenario, as on a fresh server.
        let r = s
            .admin(Method::POST, "/admin/state/reset")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let dir = out.path().join(name);
        let mut args = vec![
            "--base-url",
            &s.base,
            "--scenario",
            name,
            "--out",
            dir.to_str().unwrap(),
            "--poll-timeout",
            "10",
        ];
        if name == "normal_load" {
            // The seed's flag spellings, both values.
            args.extend(["--poll-queued", "false", "--poll-interval", "0.1"]);
        } else {
            args.extend(["--poll-queued", "true"]);
        }
        let stdout = stress(&args);
        let total = scenario::builtin(name).unwrap().total.unwrap();
        assert!(
            stdout.starts_with(&format!("Scenario: {name}\nTotal requests: {total}\n")),
            "{stdout}"
        );
        assert!(stdout.contains("Reports written to "), "{stdout}");
        let (csv, summary) = check_reports(&dir, name);
        let statuses = csv.col("http_status");
        if let Some(backend) = ["ollama", "openai"]
            .into_iter()
            .find(|b| name.starts_with(b))
        {
            // Enabled but unreachable: every request that passes the policies ends in a 502 naming the backend.
            assert!(
                statuses.iter().all(|s| *s == "502" || *s == "429"),
                "{name}: {statuses:?}"
            );
            assert!(statuses.contains(&"502"), "{name}");
            assert_eq!(summary["completed_final"], 0);
            assert_eq!(
                sum(&summary["requests_by_backend"]),
                summary["requests_by_backend"][backend].as_u64().unwrap()
            );
            let err =
                csv.col("error")[statuses.iter().position(|s| *s == "502").unwrap()].to_owned();
            assert!(err.contains(backend), "{err}");
        } else {
            assert!(statuses.contains(&"200"), "{name}: {statuses:?}");
            assert!(summary["completed_final"].as_u64().unwrap() > 0);
            assert_eq!(
                summary["requests_by_backend"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .collect::<Vec<_>>(),
                ["simulated"]
            );
        }
        // The seed's users, and its rate limits at work (standard: 60 requests/minute).
        if name == "abusive_user" {
            assert_eq!(summary["successful_http_requests"], 60, "{summary}");
            assert_eq!(summary["status_code_distribution"]["429"], 240);
        }
        if name == "mixed_load" {
            let classes: Vec<&String> = summary["by_priority_class"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            assert_eq!(classes, ["high", "normal", "low"]);
            assert_eq!(
                summary["by_tenant"]["user_vip_01"]["priority_class"],
                "high"
            );
            assert_eq!(summary["by_tenant"]["user_vip_01"]["rejected"], 0);
        }
    }
}

/// Two active slots, a queue of 20, no rate limits in the way, and a
/// degradation slot whose variants use their built-in levels; `latency` is
/// simulated-small's line in models.yaml.
fn burst_config(d: &Path, latency: &str) {
    edit(
        d,
        "models.yaml",
        "    average_latency_seconds: 0.5\n",
        latency,
    );
    edit(
        d,
        "limits.yaml",
        "max_active_requests: 50",
        "max_active_requests: 2",
    );
    edit(
        d,
        "limits.yaml",
        "max_queue_size: 1000",
        "max_queue_size: 20",
    );
    for (from, to) in [
        ("requests_per_minute: 60", "requests_per_minute: 1000000"),
        ("requests_per_minute: 300", "requests_per_minute: 1000000"),
        ("requests_per_minute: 20", "requests_per_minute: 1000000"),
        ("tokens_per_minute: 500000", "tokens_per_minute: 1000000000"),
        (
            "tokens_per_minute: 50000\n",
            "tokens_per_minute: 1000000000\n",
        ),
        ("tokens_per_minute: 200000", "tokens_per_minute: 1000000000"),
    ] {
        edit(d, "limits.yaml", from, to);
    }
    edit(
        d,
        "policies.yaml",
        "    settings_file: degradation.yaml\n",
        "    settings: {}\n",
    );
}

/// A fixed 0.2 s per request, whatever max_tokens.
const FIXED_LATENCY: &str = "    average_latency_seconds: 0.2\n";
/// 20 ms to the first token, then 3 ms per output token: 64 tokens take 212 ms,
/// and a policy that lowers max_tokens shortens the work.
const PER_TOKEN_LATENCY: &str =
    "    latency_model: {time_to_first_token_ms: 20, time_per_output_token_ms: 3, jitter: 0.0}\n";

/// Poisson arrivals at 40/s against ~10/s of capacity: the queue fills in
/// about a second.
const BURST: &str = "\
name: degradation_burst
description: a mixed burst at 4x the service rate
arrivals: {process: poisson, rate_per_second: 40}
total: 120
users:
  - {id: user_vip_01, weight: 1}
  - {id: user_standard_01, weight: 2}
  - {id: user_batch_01, weight: 2, request_types: {batch: 1}}
models: [simulated-small]
prompt_sizes: [{size: short, weight: 2}, {size: medium, weight: 1}]
max_tokens: 64
slo:
  high: {e2e_p95_seconds: 1.5}
  normal: {e2e_p95_seconds: 3.0}
  low: {e2e_p95_seconds: 10.0}
";

fn class<'a>(variant: &'a Value, c: &str) -> &'a Value {
    &variant["by_priority_class"][c]
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn reasons(variant: &Value, c: &str, reason: &str) -> u64 {
    class(variant, c)["rejection_reasons"][reason]
        .as_u64()
        .unwrap_or(0)
}

/// Runs BURST with `--variants degradation=strict,lenient` against a server
/// configured with `latency`; checks what holds under any latency and returns
/// the two variants' comparison entries and a printable report.
fn strict_vs_lenient(latency: &'static str) -> (Value, Value, String) {
    let s = Server::start(|d| burst_config(d, latency));
    let out = tempfile::tempdir().unwrap();
    let scenario = out.path().join("scenario.yaml");
    std::fs::write(&scenario, BURST).unwrap();
    let strict = components().join("degradation-strict.wasm");
    let lenient = components().join("degradation-lenient.wasm");
    let variants = format!("degradation={},{}", strict.display(), lenient.display());
    let stdout = stress(&[
        "--base-url",
        &s.base,
        "--scenario",
        scenario.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--variants",
        &variants,
        "--poll-interval",
        "0.05",
    ]);
    eprintln!("{stdout}");
    assert!(stdout.contains("Comparison written to"), "{stdout}");
    for file in [
        "variants_comparison.md",
        "variants_comparison.json",
        "variants_comparison.svg",
    ] {
        assert!(out.path().join(file).is_file(), "{file}");
    }
    let cmp = read_json(&out.path().join("variants_comparison.json"));
    let v = cmp["variants"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    let (st, le) = (v[0].clone(), v[1].clone());
    assert_eq!(st["variant"], "degradation-strict");
    assert_eq!(st["policy"], "degradation-strict@0.1.0");
    assert_eq!(le["policy"], "degradation-lenient@0.1.0");
    // Each run's own reports, with the same invariants.
    for name in ["degradation-strict", "degradation-lenient"] {
        let dir = out.path().join("variants").join(name);
        std::fs::copy(&scenario, dir.join("scenario.yaml")).unwrap();
        let (csv, summary) = check_reports(&dir, name);
        assert_eq!(csv.rows.len(), 120);
        // The burst queues work, and every queued request was followed to its end.
        assert!(
            summary["queued_initial"].as_u64().unwrap() > 0,
            "{name}: nothing queued"
        );
        let rows = csv
            .col("backend_status")
            .into_iter()
            .zip(csv.col("final_backend_status"))
            .zip(csv.col("polling_attempts"));
        for ((b, f), attempts) in rows {
            if b == "queued" {
                assert!(
                    ["completed", "timed_out", "failed"].contains(&f),
                    "{name}: {f}"
                );
                assert_ne!(attempts, "0");
            }
        }
    }
    let md = std::fs::read_to_string(out.path().join("variants_comparison.md")).unwrap();
    assert!(
        md.contains("| degradation-strict | degradation-strict@0.1.0 |"),
        "{md}"
    );
    let svg = std::fs::read_to_string(out.path().join("variants_comparison.svg")).unwrap();
    assert!(
        svg.starts_with("<svg")
            && svg.contains("degradation-lenient")
            && svg.trim_end().ends_with("</svg>")
    );
    let report = format!(
        "strict: {}\nlenient: {}",
        serde_json::to_string_pretty(&st).unwrap(),
        serde_json::to_string_pretty(&le).unwrap()
    );
    // What the rules imply whatever the latency. Strict refuses batch from 50%
    // queue usage and everything but high priority from 70%; lenient refuses
    // batch only from 95% and interactive work never. So strict sheds more
    // batch, by policy, before the queue is full...
    assert!(
        f(&class(&st, "low")["rejection_rate"]) > f(&class(&le, "low")["rejection_rate"]),
        "{report}"
    );
    assert!(reasons(&st, "low", "reject_batch") > 0, "{report}");
    assert_eq!(reasons(&le, "normal", "reject_standard"), 0, "{report}");
    // ...neither ever refuses VIP by policy...
    for variant in [&st, &le] {
        assert_eq!(reasons(variant, "high", "reject_standard"), 0, "{report}");
        assert_eq!(
            reasons(variant, "high", "allow_only_priority"),
            0,
            "{report}"
        );
    }
    // ...and strict keeps room in the queue for VIP: VIP is refused (queue_full)
    // no more often and meets its SLO at least as often.
    assert!(
        f(&class(&st, "high")["rejection_rate"]) <= f(&class(&le, "high")["rejection_rate"]),
        "{report}"
    );
    assert!(
        f(&class(&st, "high")["goodput"]) >= f(&class(&le, "high")["goodput"]),
        "{report}"
    );
    (st, le, report)
}

#[test]
fn strict_degradation_sheds_more_batch_and_standard_work() {
    // With a fixed service time, shedding changes who waits, not how much work
    // there is: strict refuses more batch *and* standard requests, and
    // standard ones by policy (reject_standard) rather than by a full queue.
    let (st, le, report) = strict_vs_lenient(FIXED_LATENCY);
    let shed = |v: &Value, c: &str| class(v, c)["rejected"].as_u64().unwrap();
    assert!(shed(&st, "normal") > shed(&le, "normal"), "{report}");
    assert!(reasons(&st, "normal", "reject_standard") > 0, "{report}");
    // (The p95 of *completed* VIP requests is not compared here: lenient
    // refuses VIP exactly when the queue is full, when VIP would wait longest,
    // so its completed VIP requests are a luckier sample.)
    assert!(f(&class(&st, "high")["e2e_p95_seconds"]) <= 1.5, "{report}");
}

#[test]
fn strict_degradation_keeps_vip_faster_when_work_scales_with_tokens() {
    // When the backend's time grows with the output, strict's earlier
    // max_tokens cuts (x0.5 from 30% queue usage, x0.25 from 70%) shorten the
    // work in the slots: VIP's p95 is lower under strict, though VIP requests
    // are refused less and so include the ones lenient turns away.
    let (st, le, report) = strict_vs_lenient(PER_TOKEN_LATENCY);
    let (vip_st, vip_le) = (
        f(&class(&st, "high")["e2e_p95_seconds"]),
        f(&class(&le, "high")["e2e_p95_seconds"]),
    );
    assert!(
        vip_st < vip_le,
        "VIP p95 strict {vip_st} vs lenient {vip_le}\n{report}"
    );
}

const SMALL_OPEN: &str = "\
name: small_open
arrivals: {process: gamma, burstiness: 0.5, rate_per_second: 100, ramp: [{at_seconds: 0.3, rate_per_second: 200}]}
total: 80
users: [user_vip_01, user_standard_01, {id: user_batch_01, request_types: {batch: 1}}]
models: [simulated-small, {name: simulated-large, weight: 0.5}]
prompt_sizes: [{size: short}, {chars: 300}]
max_tokens: {uniform: {min: 8, max: 200}}
";

#[test]
fn the_same_seed_plans_the_same_requests() {
    // In the library: every built-in scenario and the shipped scenario file.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/burst_mixed.yaml");
    let mut all: Vec<_> = scenario::builtin_names()
        .into_iter()
        .map(|n| scenario::builtin(n).unwrap())
        .collect();
    all.push(scenario::load_file(&shipped).unwrap());
    all.push(scenario::parse(SMALL_OPEN, "x").unwrap());
    for s in &all {
        let a = tollgate::stress::plan(s, 42, None);
        assert!(!a.is_empty());
        assert_eq!(a, tollgate::stress::plan(s, 42, None), "{}", s.name);
        if s.users.len() > 1 || s.prompts.len() > 1 || s.models.len() > 1 || s.is_open_loop() {
            assert_ne!(a, tollgate::stress::plan(s, 43, None), "{}", s.name);
        }
    }
    // Through the CLI: the written plans.
    let out = tempfile::tempdir().unwrap();
    let plan_of = |seed: &str, dir: &str| {
        let d = out.path().join(dir);
        stress(&[
            "--scenario",
            shipped.to_str().unwrap(),
            "--seed",
            seed,
            "--dry-run",
            "--out",
            d.to_str().unwrap(),
        ]);
        std::fs::read_to_string(d.join("latest_plan.csv")).unwrap()
    };
    let (a, b, c) = (plan_of("7", "a"), plan_of("7", "b"), plan_of("8", "c"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.lines().count() > 100, "{}", a.lines().count());
}

#[tokio::test]
async fn two_runs_with_the_same_seed_send_the_same_requests() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 0.0",
        );
    });
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("scenario.yaml");
    std::fs::write(&file, SMALL_OPEN).unwrap();
    let run = |seed: &str, dir: &str| {
        let d = out.path().join(dir);
        let stdout = stress(&[
            "--base-url",
            &s.base,
            "--scenario",
            file.to_str().unwrap(),
            "--seed",
            seed,
            "--out",
            d.to_str().unwrap(),
        ]);
        assert!(stdout.contains("Total requests: 80"), "{stdout}");
        std::fs::copy(&file, d.join("scenario.yaml")).unwrap();
        let (csv, summary) = check_reports(&d, "small_open");
        assert_eq!(summary["mode"], "open_loop");
        assert_eq!(summary["seed"].as_u64().unwrap().to_string(), seed);
        assert!(summary["send_lateness_seconds"]["p99"].is_number());
        let sent: Vec<String> = csv
            .rows
            .iter()
            .map(|r| format!("{}|{}|{}|{}|{}", r[0], r[1], r[2], r[3], r[5]))
            .collect();
        (
            sent,
            std::fs::read_to_string(d.join("latest_plan.csv")).unwrap(),
        )
    };
    let (sent_a, plan_a) = run("5", "a");
    let (sent_b, plan_b) = run("5", "b");
    let (sent_c, plan_c) = run("6", "c");
    assert_eq!(sent_a, sent_b, "same seed, same requests");
    assert_eq!(
        plan_a, plan_b,
        "same seed, same plan (contents, max_tokens, planned send times)"
    );
    assert_ne!(sent_a, sent_c);
    assert_ne!(plan_a, plan_c);
    // The plan's max_tokens follow the scenario's uniform distribution.
    let tokens: HashSet<u32> = plan_a
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        tokens.len() > 20 && tokens.iter().all(|t| (8..=200).contains(t)),
        "{tokens:?}"
    );
}

#[test]
fn scenario_file_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "total: 10\narrivals: {process: poisson, rate_per_second: 5, burstyness: 2}\nusers: [user_vip_01]\nmodels: [m]\n",
    )
    .unwrap();
    let out = tollgate()
        .args(["stress", "--base-url", "http://127.0.0.1:9", "--scenario"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml: arrivals: unknown field `burstyness`"),
        "{err}"
    );
    std::fs::write(
        &file,
        "total: 10\nconcurrency: 2\nusers: [{id: tenant_a, priority: vip}]\nmodels: [m]\nslo: {low: {e2e_p95_seconds: -1}}\n",
    )
    .unwrap();
    let out = tollgate()
        .args(["stress", "--base-url", "http://127.0.0.1:9", "--scenario"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "bad.yaml: users[0].project_id: required for user `tenant_a`",
        "bad.yaml: users[0].priority: unknown priority class `vip`",
        "bad.yaml: slo.low.e2e_p95_seconds: must be a number > 0",
    ] {
        assert!(err.contains(expected), "{expected}\nin\n{err}");
    }
    let out = tollgate()
        .args([
            "stress",
            "--base-url",
            "http://127.0.0.1:9",
            "--scenario",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(
        "Unknown scenario 'nope'. Available scenarios: abusive_user, burst_load, mixed_load"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_against_the_trivial_server() {
    // The tester alone (the throughput figure is in BENCHMARKS.md: `cargo bench --bench stress_tester`).
    let server = tollgate::stress::trivial::start(1).unwrap();
    let s = scenario::parse(
        "arrivals: {process: constant, rate_per_second: 500}\nduration_seconds: 1\nusers: [user_vip_01]\nmodels: [simulated-small]\n",
        "trivial",
    )
    .unwrap();
    let opts = tollgate::stress::RunOptions::new(&server.base_url(), 1);
    let outcome = tollgate::stress::run(
        std::sync::Arc::new(s.clone()),
        tollgate::stress::client(opts.http_timeout),
        opts,
    )
    .await;
    assert_eq!(outcome.results.len(), 499);
    assert!(
        outcome
            .results
            .iter()
            .all(|r| r.http_status == Some(200) && r.backend_name == "trivial")
    );
    let summary = tollgate::stress::report::summary(&s, &outcome, 1);
    assert_eq!(summary["completed_final"], 499);
    assert!(summary["achieved_rate_per_second"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_with_only_a_duration_stops_at_its_deadline() {
    let server = tollgate::stress::trivial::start(1).unwrap();
    let s = scenario::parse(
        "concurrency: 4\ndelay_seconds: 0.01\nduration_seconds: 0.5\nusers: [user_standard_01]\nmodels: [simulated-small]\n",
        "endless",
    )
    .unwrap();
    let opts = tollgate::stress::RunOptions::new(&server.base_url(), 3);
    let started = std::time::Instant::now();
    let outcome = tollgate::stress::run(
        std::sync::Arc::new(s),
        tollgate::stress::client(opts.http_timeout),
        opts,
    )
    .await;
    assert!(started.elapsed().as_secs_f64() < 5.0);
    // Released every 10 ms for 0.5 s: about 50 requests, in plan order.
    let n = outcome.results.len();
    assert!((30..=51).contains(&n), "{n}");
    assert!(
        outcome
            .results
            .iter()
            .enumerate()
            .all(|(i, r)| r.index == i as u64)
    );
}
