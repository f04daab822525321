//! The reports of a run, in the seed's files and shapes (SEED-SPEC §17) plus
//! what the seed lacked:
//!
//! * `quality_results.csv` — the seed's 12 columns in order, then `sample`,
//!   `error_class`, `request_id`, `queued`, `code_kind`, `exec_seconds`,
//!   `output_tokens_per_second`;
//! * `quality_summary.json` — the seed's keys in order, then `pass_at_k`
//!   (every k ≤ samples), p99 latencies, tokens, tokens/s, the finer
//!   `error_class_breakdown` and the run's settings;
//! * `quality_report.md` — the seed's sections plus pass@k, failure classes,
//!   settings and the sandbox in force;
//! * `quality_samples.jsonl` — per sample: the model text, the program run, its
//!   captured output (for debugging a model's failures);
//! * `quality_comparison.md` — from several summaries (`tollgate eval compare`).
//!
//! Percentiles use the seed's rule here: `sorted[min(int(n·p/100), n−1)]`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use super::SampleResult;
use super::passk::mean_pass_at_k;

/// Settings of a run, recorded in the summary.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub model: String,
    pub run_timestamp: String,
    pub total_problems: usize,
    pub samples: u32,
    pub prompt_style: String,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    pub concurrency: usize,
    pub dataset: String,
    pub base_url: String,
    pub user_id: String,
    pub project_id: String,
    pub sandbox: Vec<String>,
    pub wall_seconds: f64,
}

/// Files written by [`write_all`].
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub csv: PathBuf,
    pub summary: PathBuf,
    pub markdown: PathBuf,
    pub samples: PathBuf,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    // `+ 0.0` turns -0.0 (an empty f64 sum) into 0.0.
    (x * f).round() / f + 0.0
}

/// The seed's percentile: `sorted[min(int(n*p/100), n-1)]`, rounded to 4.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * p / 100.0) as usize).min(v.len() - 1);
    Some(round(v[i], 4))
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round(values.iter().sum::<f64>() / values.len() as f64, 4))
}

/// `quality_summary.json`'s object.
pub fn summary(results: &[SampleResult], info: &RunInfo) -> Value {
    if results.is_empty() {
        return json!({});
    }
    let total = results.len();
    let passed = results.iter().filter(|r| r.passed).count();
    let failed = total - passed;
    let latencies: Vec<f64> = results.iter().filter_map(|r| r.latency_seconds).collect();
    let e2e: Vec<f64> = results
        .iter()
        .filter_map(|r| r.end_to_end_latency_seconds)
        .collect();
    let total_cost: f64 = results.iter().filter_map(|r| r.estimated_cost_eur).sum();
    let mut breakdown: BTreeMap<&str, u64> = BTreeMap::new();
    let mut classes: BTreeMap<&str, u64> = BTreeMap::new();
    for r in results.iter().filter(|r| !r.passed) {
        *breakdown
            .entry(r.error_type.unwrap_or("unknown"))
            .or_default() += 1;
        *classes.entry(r.error_class.as_str()).or_default() += 1;
    }
    let rejected = results
        .iter()
        .filter(|r| r.error_type == Some("simulator_rejected"))
        .count();

    // Per-problem (n, c) for pass@k.
    let mut per_problem: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for r in results {
        let e = per_problem.entry(&r.task_id).or_default();
        e.0 += 1;
        e.1 += u32::from(r.passed);
    }
    let counts: Vec<(u32, u32)> = per_problem.values().copied().collect();
    let max_n = counts.iter().map(|c| c.0).max().unwrap_or(0);
    let mut pass_at_k = Map::new();
    for k in 1..=max_n {
        if let Some(v) = mean_pass_at_k(&counts, k) {
            pass_at_k.insert(k.to_string(), json!(round(v, 4)));
        }
    }
    let solved = counts.iter().filter(|c| c.1 > 0).count();

    let completed: Vec<&SampleResult> = results
        .iter()
        .filter(|r| r.simulator_status == "completed")
        .collect();
    let input_tokens: u64 = completed
        .iter()
        .filter_map(|r| r.estimated_input_tokens)
        .sum();
    let output_tokens: u64 = completed
        .iter()
        .filter_map(|r| r.estimated_output_tokens)
        .sum();
    let timed: Vec<(u64, f64)> = completed
        .iter()
        .filter_map(|r| Some((r.estimated_output_tokens?, r.latency_seconds?)))
        .filter(|(_, l)| *l > 0.0)
        .collect();
    let busy: f64 = timed.iter().map(|t| t.1).sum();
    let per_request_tps =
        (busy > 0.0).then(|| round(timed.iter().map(|t| t.0 as f64).sum::<f64>() / busy, 2));
    let throughput =
        (info.wall_seconds > 0.0).then(|| round(output_tokens as f64 / info.wall_seconds, 2));

    let mut m = Map::new();
    m.insert("model".into(), json!(info.model));
    m.insert("run_timestamp".into(), json!(info.run_timestamp));
    m.insert("total_problems".into(), json!(info.total_problems));
    m.insert("passed".into(), json!(passed));
    m.insert("failed".into(), json!(failed));
    m.insert(
        "pass_at_1".into(),
        json!(round(passed as f64 / total as f64, 4)),
    );
    m.insert("avg_latency_seconds".into(), json!(mean(&latencies)));
    m.insert(
        "p50_latency_seconds".into(),
        json!(percentile(&latencies, 50.0)),
    );
    m.insert(
        "p95_latency_seconds".into(),
        json!(percentile(&latencies, 95.0)),
    );
    m.insert("avg_end_to_end_latency_seconds".into(), json!(mean(&e2e)));
    m.insert(
        "p95_end_to_end_latency_seconds".into(),
        json!(percentile(&e2e, 95.0)),
    );
    m.insert("total_cost_eur".into(), json!(round(total_cost, 6)));
    m.insert(
        "cost_per_passed_problem_eur".into(),
        json!((passed > 0).then(|| round(total_cost / passed as f64, 6))),
    );
    m.insert("error_breakdown".into(), json!(breakdown));
    m.insert("simulator_rejected".into(), json!(rejected));
    // Beyond the seed.
    m.insert("samples_per_problem".into(), json!(info.samples));
    m.insert("total_samples".into(), json!(total));
    m.insert("problems_solved".into(), json!(solved));
    m.insert("pass_at_k".into(), Value::Object(pass_at_k));
    m.insert(
        "p99_latency_seconds".into(),
        json!(percentile(&latencies, 99.0)),
    );
    m.insert(
        "p50_end_to_end_latency_seconds".into(),
        json!(percentile(&e2e, 50.0)),
    );
    m.insert(
        "p99_end_to_end_latency_seconds".into(),
        json!(percentile(&e2e, 99.0)),
    );
    m.insert("completed_requests".into(), json!(completed.len()));
    m.insert("total_input_tokens".into(), json!(input_tokens));
    m.insert("total_output_tokens".into(), json!(output_tokens));
    m.insert("output_tokens_per_second".into(), json!(per_request_tps));
    m.insert(
        "throughput_output_tokens_per_second".into(),
        json!(throughput),
    );
    m.insert("wall_seconds".into(), json!(round(info.wall_seconds, 3)));
    m.insert("error_class_breakdown".into(), json!(classes));
    m.insert("prompt_style".into(), json!(info.prompt_style));
    m.insert("max_tokens".into(), json!(info.max_tokens));
    m.insert("temperature".into(), json!(info.temperature));
    m.insert("concurrency".into(), json!(info.concurrency));
    m.insert("dataset".into(), json!(info.dataset));
    m.insert("base_url".into(), json!(info.base_url));
    m.insert("user_id".into(), json!(info.user_id));
    m.insert("project_id".into(), json!(info.project_id));
    m.insert("sandbox".into(), json!(info.sandbox));
    Value::Object(m)
}

/// The seed's CSV columns, then Tollgate's.
pub const CSV_COLUMNS: &[&str] = &[
    "task_id",
    "model",
    "passed",
    "http_status",
    "simulator_status",
    "latency_seconds",
    "end_to_end_latency_seconds",
    "estimated_input_tokens",
    "estimated_output_tokens",
    "estimated_cost_eur",
    "error_type",
    "error_message",
    "sample",
    "error_class",
    "request_id",
    "queued",
    "code_kind",
    "exec_seconds",
    "output_tokens_per_second",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// Python's spelling of a bool (the seed's CSV).
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// `quality_results.csv`'s text.
pub fn csv(results: &[SampleResult]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for r in results {
        let row = [
            r.task_id.clone(),
            r.model.clone(),
            py_bool(r.passed).to_owned(),
            opt(&r.http_status),
            r.simulator_status.clone(),
            opt(&r.latency_seconds.map(|v| round(v, 4))),
            opt(&r.end_to_end_latency_seconds.map(|v| round(v, 4))),
            opt(&r.estimated_input_tokens),
            opt(&r.estimated_output_tokens),
            opt(&r.estimated_cost_eur),
            opt(&r.error_type),
            opt(&r.error_message),
            r.sample.to_string(),
            r.error_class.as_str().to_owned(),
            opt(&r.request_id),
            py_bool(r.queued).to_owned(),
            opt(&r.code_kind),
            opt(&r.exec_seconds.map(|v| round(v, 4))),
            opt(&r.output_tokens_per_second.map(|v| round(v, 2))),
        ];
        out.push_str(
            &row.iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

fn f4(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.4}"))
        .unwrap_or_else(|| "N/A".into())
}

fn f6(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.6}"))
        .unwrap_or_else(|| "N/A".into())
}

fn f2(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.2}"))
        .unwrap_or_else(|| "N/A".into())
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "N/A".into())
}

/// `quality_report.md`'s text.
pub fn markdown(summary: &Value) -> String {
    let s = summary;
    let model = s["model"].as_str().unwrap_or("unknown");
    let mut md = String::new();
    let _ = writeln!(md, "# HumanEval Quality Report — {model}\n");
    let _ = writeln!(md, "Run: {}\n", s["run_timestamp"].as_str().unwrap_or(""));
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| Metric | Value |\n|---|---|");
    let total_samples = s["total_samples"].as_u64().unwrap_or(0);
    let passed = s["passed"].as_u64().unwrap_or(0);
    let rows: Vec<(String, String)> = vec![
        ("Problems evaluated".into(), s["total_problems"].to_string()),
        (
            "Samples per problem".into(),
            s["samples_per_problem"].to_string(),
        ),
        (
            "Passed (pass@1)".into(),
            format!("{passed} / {total_samples} ({})", pct(&s["pass_at_1"])),
        ),
        ("Failed".into(), s["failed"].to_string()),
        (
            "Problems solved (≥ 1 sample passed)".into(),
            s["problems_solved"].to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if let Some(map) = s["pass_at_k"].as_object() {
        for (k, v) in map {
            let _ = writeln!(md, "| pass@{k} | {} ({}) |", f4(v), pct(v));
        }
    }
    let rows = [
        ("Avg latency (s)", f4(&s["avg_latency_seconds"])),
        ("P50 latency (s)", f4(&s["p50_latency_seconds"])),
        ("P95 latency (s)", f4(&s["p95_latency_seconds"])),
        ("P99 latency (s)", f4(&s["p99_latency_seconds"])),
        (
            "Avg E2E latency (s)",
            f4(&s["avg_end_to_end_latency_seconds"]),
        ),
        (
            "P50 E2E latency (s)",
            f4(&s["p50_end_to_end_latency_seconds"]),
        ),
        (
            "P95 E2E latency (s)",
            f4(&s["p95_end_to_end_latency_seconds"]),
        ),
        (
            "P99 E2E latency (s)",
            f4(&s["p99_end_to_end_latency_seconds"]),
        ),
        ("Output tokens", s["total_output_tokens"].to_string()),
        (
            "Output tokens/s per request",
            f2(&s["output_tokens_per_second"]),
        ),
        (
            "Output tokens/s overall (wall clock)",
            f2(&s["throughput_output_tokens_per_second"]),
        ),
        ("Total cost (EUR)", f6(&s["total_cost_eur"])),
        (
            "Cost per passed problem (EUR)",
            f6(&s["cost_per_passed_problem_eur"]),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(md, "| {k} | {v} |");
    }

    let _ = writeln!(md, "\n## Error Breakdown\n");
    match s["error_breakdown"].as_object().filter(|m| !m.is_empty()) {
        None => {
            let _ = writeln!(md, "No errors.");
        }
        Some(map) => {
            let _ = writeln!(md, "| Error type | Count |\n|---|---|");
            for (k, v) in map {
                let _ = writeln!(md, "| {k} | {v} |");
            }
        }
    }
    let _ = writeln!(md, "\n## Failure Classes\n");
    match s["error_class_breakdown"]
        .as_object()
        .filter(|m| !m.is_empty())
    {
        None => {
            let _ = writeln!(md, "No failures.");
        }
        Some(map) => {
            let _ = writeln!(md, "| Class | Count |\n|---|---|");
            for (k, v) in map {
                let _ = writeln!(md, "| {k} | {v} |");
            }
        }
    }

    let _ = writeln!(md, "\n## Run Settings\n");
    let text = |k: &str| match &s[k] {
        Value::String(v) => v.clone(),
        Value::Null => "default".into(),
        v => v.to_string(),
    };
    let _ = writeln!(md, "- Gateway: {}", text("base_url"));
    let _ = writeln!(
        md,
        "- Tenant: user `{}`, project `{}`",
        text("user_id"),
        text("project_id")
    );
    let _ = writeln!(
        md,
        "- Prompt style: {}; max_tokens {}; temperature {}; concurrency {}",
        text("prompt_style"),
        text("max_tokens"),
        text("temperature"),
        text("concurrency")
    );
    let _ = writeln!(md, "- Dataset: {}", text("dataset"));
    let _ = writeln!(md, "- Wall clock: {} s", text("wall_seconds"));

    let _ = writeln!(md, "\n## Sandbox\n");
    for line in s["sandbox"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- {}", line.as_str().unwrap_or(""));
    }

    let _ = writeln!(md, "\n## Notes\n");
    for note in [
        "Every sample was sent through the gateway's `POST /generate`, so it was rate limited, queued and accounted like any client; a refused or failed request counts as a failed sample (`simulator_rejected` / `no_completion`).",
        "pass@k is the unbiased estimator 1 − C(n−c, k) / C(n, k) (Chen et al., 2021) averaged over problems; pass@1 equals passed / samples.",
        "Tokens and cost are the gateway's figures for the finished request (the real usage the backend reported, settled by the cost policy); latency is the gateway's, E2E latency is measured by the client and includes queueing and polling.",
        "Model code ran in a separate python3 process per sample with the limits listed under Sandbox; `error_type` is the seed's taxonomy, `error_class` in the CSV is the finer one.",
    ] {
        let _ = writeln!(md, "- {note}");
    }
    md
}

/// Writes the CSV, the summary, the markdown report and the samples file into `out`.
pub fn write_all(out: &Path, results: &[SampleResult], summary: &Value) -> Result<ReportPaths> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the report directory {}", out.display()))?;
    let paths = ReportPaths {
        csv: out.join("quality_results.csv"),
        summary: out.join("quality_summary.json"),
        markdown: out.join("quality_report.md"),
        samples: out.join("quality_samples.jsonl"),
    };
    let write = |p: &Path, text: &str| {
        std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write(&paths.csv, &csv(results))?;
    write(
        &paths.summary,
        &(serde_json::to_string_pretty(summary)? + "\n"),
    )?;
    write(&paths.markdown, &markdown(summary))?;
    let mut jsonl = String::new();
    for r in results {
        jsonl.push_str(&serde_json::to_string(r)?);
        jsonl.push('\n');
    }
    write(&paths.samples, &jsonl)?;
    Ok(paths)
}

/// Reads `quality_summary.json` files (Tollgate's or the seed's).
pub fn read_summaries(paths: &[PathBuf]) -> Result<Vec<Value>> {
    if paths.is_empty() {
        bail!("name at least one quality_summary.json to compare");
    }
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow!("{}: cannot read: {e}", p.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| anyhow!("{}: not JSON: {e}", p.display()))?;
            if !v.is_object() || v.get("model").is_none() {
                bail!(
                    "{}: not a quality summary (no `model` key; an empty run writes {{}})",
                    p.display()
                );
            }
            Ok(v)
        })
        .collect()
}

/// The multi-model comparison table (`quality_comparison.md`).
pub fn comparison_markdown(summaries: &[Value]) -> String {
    // pass@k columns: every k some summary has, reduced to 1, 5, 10, 100 and
    // the largest when there are many.
    let mut ks: Vec<u64> = summaries
        .iter()
        .filter_map(|s| s["pass_at_k"].as_object())
        .flat_map(|m| {
            m.keys()
                .filter_map(|k| k.parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    ks.sort_unstable();
    ks.dedup();
    if ks.len() > 5 {
        let max = *ks.last().unwrap_or(&1);
        ks.retain(|k| matches!(k, 1 | 5 | 10 | 100) || *k == max);
    }
    ks.retain(|k| *k != 1);

    let mut md = String::from("# HumanEval Model Comparison\n\n");
    let mut header = vec![
        "Model".to_owned(),
        "Problems".into(),
        "Samples".into(),
        "pass@1".into(),
    ];
    header.extend(ks.iter().map(|k| format!("pass@{k}")));
    header.extend(
        [
            "Avg latency (s)",
            "P95 latency (s)",
            "P99 latency (s)",
            "Tokens/s",
            "Total cost (EUR)",
            "Cost/passed (EUR)",
            "Rejected",
            "Run",
        ]
        .map(String::from),
    );
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for s in summaries {
        let mut row = vec![
            s["model"].as_str().unwrap_or("?").to_owned(),
            s["total_problems"].to_string(),
            s.get("samples_per_problem")
                .map(Value::to_string)
                .unwrap_or_else(|| "1".into()),
            format!("{} ({})", f4(&s["pass_at_1"]), pct(&s["pass_at_1"])),
        ];
        for k in &ks {
            row.push(f4(&s["pass_at_k"][k.to_string()]));
        }
        row.extend([
            f4(&s["avg_latency_seconds"]),
            f4(&s["p95_latency_seconds"]),
            f4(&s["p99_latency_seconds"]),
            f2(&s["output_tokens_per_second"]),
            f6(&s["total_cost_eur"]),
            f6(&s["cost_per_passed_problem_eur"]),
            s["simulator_rejected"].to_string(),
            s["run_timestamp"].as_str().unwrap_or("").to_owned(),
        ]);
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_percentile_rule() {
        let v = [0.4, 0.1, 0.3, 0.2];
        assert_eq!(percentile(&v, 50.0), Some(0.3)); // sorted[2]
        assert_eq!(percentile(&v, 95.0), Some(0.4)); // sorted[min(3, 3)]
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("x\ny"), "\"x\ny\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn comparison_table() {
        let a = json!({"model": "m1", "total_problems": 3, "pass_at_1": 0.5, "pass_at_k": {"1": 0.5, "2": 0.75},
                       "samples_per_problem": 2, "avg_latency_seconds": 1.0, "total_cost_eur": 0.001,
                       "cost_per_passed_problem_eur": null, "simulator_rejected": 0, "run_timestamp": "t"});
        let seed = json!({"model": "seed", "total_problems": 2, "pass_at_1": 0.0, "simulator_rejected": 1});
        let md = comparison_markdown(&[a, seed]);
        assert!(
            md.contains("| Model | Problems | Samples | pass@1 | pass@2 |"),
            "{md}"
        );
        assert!(
            md.contains("| m1 | 3 | 2 | 0.5000 (50.0%) | 0.7500 |"),
            "{md}"
        );
        assert!(
            md.contains("| seed | 2 | 1 | 0.0000 (0.0%) | N/A |"),
            "{md}"
        );
    }
}
