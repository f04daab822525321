//! Reports: the seed's `latest_results.csv`, `latest_summary.json` and
//! `latest_comparison.md` (SEED-SPEC §16: same columns, keys, order and
//! layout), with Tollgate's breakdowns appended to the summary after the
//! seed's keys, and the plan as `latest_plan.csv`.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::plan::plan;
use super::runner::{RequestResult, RunOutcome};
use super::scenario::Scenario;

/// `latest_results.csv` columns, in the seed's order.
pub const CSV_COLUMNS: [&str; 16] = [
    "request_index",
    "user_id",
    "project_id",
    "model",
    "backend_name",
    "request_type",
    "http_status",
    "backend_status",
    "request_id",
    "latency_seconds",
    "final_backend_status",
    "final_latency_seconds",
    "end_to_end_latency_seconds",
    "polling_attempts",
    "polling_error",
    "error",
];

/// `latest_summary.json` keys, in the seed's order.
pub const SEED_SUMMARY_KEYS: [&str; 30] = [
    "total_requests",
    "successful_http_requests",
    "failed_http_requests",
    "accepted_or_completed",
    "queued",
    "rejected",
    "completed_final",
    "failed_final",
    "timed_out_final",
    "queued_initial",
    "completed_immediate",
    "average_latency_seconds",
    "p50_latency_seconds",
    "p95_latency_seconds",
    "p99_latency_seconds",
    "average_end_to_end_latency_seconds",
    "p50_end_to_end_latency_seconds",
    "p95_end_to_end_latency_seconds",
    "p99_end_to_end_latency_seconds",
    "status_code_distribution",
    "backend_status_distribution",
    "final_backend_status_distribution",
    "requests_by_model",
    "requests_by_backend",
    "latency_by_model",
    "latency_by_backend",
    "end_to_end_latency_by_model",
    "end_to_end_latency_by_backend",
    "final_status_by_model",
    "final_status_by_backend",
];

/// Tollgate's keys, after the seed's.
pub const EXTRA_SUMMARY_KEYS: [&str; 10] = [
    "by_tenant",
    "by_priority_class",
    "goodput",
    "scenario",
    "seed",
    "mode",
    "duration_seconds",
    "achieved_rate_per_second",
    "send_lateness_seconds",
    "slo",
];

/// The file names written into the output directory.
pub const RESULTS_CSV: &str = "latest_results.csv";
pub const SUMMARY_JSON: &str = "latest_summary.json";
pub const COMPARISON_MD: &str = "latest_comparison.md";
pub const PLAN_CSV: &str = "latest_plan.csv";

/// The seed's percentile: `sorted[round_half_even((n-1)·p/100)]`, `None` when empty.
pub fn percentile(sorted: &[f64], p: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((sorted.len() as u64 - 1) * u64::from(p)) as f64 / 100.0;
    let i = (rank.round_ties_even() as usize).min(sorted.len() - 1);
    Some(sorted[i])
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integers,
/// exponent form below 1e-4 and from 1e16 (`1e-05`, `1e+16`).
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{x:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn stats(values: &[f64]) -> Value {
    let s = sorted(values.to_vec());
    json!({
        "count": s.len(),
        "average": opt_f64(mean(&s)),
        "p50": opt_f64(percentile(&s, 50)),
        "p95": opt_f64(percentile(&s, 95)),
        "p99": opt_f64(percentile(&s, 99)),
    })
}

fn count_into(map: &mut IndexMap<String, u64>, key: String) {
    *map.entry(key).or_default() += 1;
}

fn to_value(map: IndexMap<String, u64>) -> Value {
    Value::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect())
}

fn status_key(s: Option<u16>) -> String {
    s.map_or_else(|| "None".into(), |s| s.to_string())
}

fn is_success(r: &RequestResult) -> bool {
    r.http_status.is_some_and(|s| (200..300).contains(&s))
}

fn completed(r: &RequestResult) -> bool {
    r.final_backend_status.as_deref() == Some("completed")
}

/// Whether a request met its class's SLO: completed, within the threshold if any.
pub fn meets_slo(r: &RequestResult, threshold: Option<f64>) -> bool {
    completed(r) && threshold.is_none_or(|t| r.end_to_end_latency_seconds.is_some_and(|e| e <= t))
}

/// Per-tenant / per-class figures (e2e percentiles over the completed requests).
fn group_stats<'a>(
    rows: impl Iterator<Item = &'a RequestResult>,
    threshold: impl Fn(&RequestResult) -> Option<f64>,
) -> Map<String, Value> {
    let (mut n, mut ok, mut done, mut failed, mut timed_out, mut met) = (0u64, 0u64, 0, 0, 0, 0);
    let mut codes = IndexMap::new();
    let mut reasons = IndexMap::new();
    let mut e2e = Vec::new();
    for r in rows {
        n += 1;
        count_into(&mut codes, status_key(r.http_status));
        if is_success(r) {
            ok += 1;
        } else {
            let reason = r
                .code
                .clone()
                .or_else(|| r.error.clone())
                .unwrap_or_else(|| "unknown".into());
            count_into(&mut reasons, reason);
        }
        match r.final_backend_status.as_deref() {
            Some("completed") => {
                done += 1;
                if let Some(e) = r.end_to_end_latency_seconds {
                    e2e.push(e);
                }
            }
            Some("failed") => failed += 1,
            Some("timed_out") => timed_out += 1,
            _ => {}
        }
        if meets_slo(r, threshold(r)) {
            met += 1;
        }
    }
    let e2e = sorted(e2e);
    let share = |k: u64| {
        if n == 0 {
            Value::Null
        } else {
            (k as f64 / n as f64).into()
        }
    };
    let mut m = Map::new();
    m.insert("requests".into(), n.into());
    m.insert("successful_http_requests".into(), ok.into());
    m.insert("rejected".into(), (n - ok).into());
    m.insert("rejection_rate".into(), share(n - ok));
    m.insert("completed_final".into(), done.into());
    m.insert("failed_final".into(), failed.into());
    m.insert("timed_out_final".into(), timed_out.into());
    m.insert("status_code_distribution".into(), to_value(codes));
    m.insert("rejection_reasons".into(), to_value(reasons));
    m.insert("e2e_p50_seconds".into(), opt_f64(percentile(&e2e, 50)));
    m.insert("e2e_p95_seconds".into(), opt_f64(percentile(&e2e, 95)));
    m.insert("e2e_p99_seconds".into(), opt_f64(percentile(&e2e, 99)));
    m.insert("slo_met".into(), met.into());
    m.insert("goodput".into(), share(met));
    m
}

/// Builds `latest_summary.json`.
pub fn summary(scenario: &Scenario, outcome: &RunOutcome, seed: u64) -> Value {
    let rows = &outcome.results;
    let model_of = |r: &RequestResult| &*scenario.models[r.model as usize].0;
    let mut m = Map::new();
    let n = rows.len() as u64;
    let ok = rows.iter().filter(|r| is_success(r)).count() as u64;
    let count = |f: &dyn Fn(&RequestResult) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    let backend_is = |r: &RequestResult, s: &str| r.backend_status.as_deref() == Some(s);
    let final_is = |r: &RequestResult, s: &str| r.final_backend_status.as_deref() == Some(s);
    m.insert("total_requests".into(), n.into());
    m.insert("successful_http_requests".into(), ok.into());
    m.insert("failed_http_requests".into(), (n - ok).into());
    m.insert(
        "accepted_or_completed".into(),
        count(&|r| backend_is(r, "accepted") || backend_is(r, "completed")).into(),
    );
    m.insert("queued".into(), count(&|r| backend_is(r, "queued")).into());
    m.insert("rejected".into(), (n - ok).into());
    m.insert(
        "completed_final".into(),
        count(&|r| final_is(r, "completed")).into(),
    );
    m.insert(
        "failed_final".into(),
        count(&|r| final_is(r, "failed")).into(),
    );
    m.insert(
        "timed_out_final".into(),
        count(&|r| final_is(r, "timed_out")).into(),
    );
    m.insert(
        "queued_initial".into(),
        count(&|r| backend_is(r, "queued")).into(),
    );
    m.insert(
        "completed_immediate".into(),
        count(&|r| backend_is(r, "completed") && final_is(r, "completed")).into(),
    );
    let lat = sorted(rows.iter().filter_map(|r| r.latency_seconds).collect());
    let e2e = sorted(
        rows.iter()
            .filter_map(|r| r.end_to_end_latency_seconds)
            .collect(),
    );
    for (prefix, values) in [("", &lat), ("end_to_end_", &e2e)] {
        m.insert(
            format!("average_{prefix}latency_seconds"),
            opt_f64(mean(values)),
        );
        for p in [50, 95, 99] {
            m.insert(
                format!("p{p}_{prefix}latency_seconds"),
                opt_f64(percentile(values, p)),
            );
        }
    }
    let mut codes = IndexMap::new();
    let mut backend_statuses = IndexMap::new();
    let mut final_statuses = IndexMap::new();
    let mut by_model = IndexMap::new();
    let mut by_backend = IndexMap::new();
    let unknown = |s: &Option<String>| s.clone().unwrap_or_else(|| "unknown".into());
    for r in rows {
        count_into(&mut codes, status_key(r.http_status));
        count_into(&mut backend_statuses, unknown(&r.backend_status));
        count_into(&mut final_statuses, unknown(&r.final_backend_status));
        count_into(&mut by_model, model_of(r).to_owned());
        count_into(&mut by_backend, r.backend_name.to_string());
    }
    m.insert("status_code_distribution".into(), to_value(codes));
    m.insert(
        "backend_status_distribution".into(),
        to_value(backend_statuses),
    );
    m.insert(
        "final_backend_status_distribution".into(),
        to_value(final_statuses),
    );
    m.insert("requests_by_model".into(), to_value(by_model));
    m.insert("requests_by_backend".into(), to_value(by_backend));
    type Key<'a> = &'a dyn Fn(&RequestResult) -> String;
    let by_model_key: Key = &|r| model_of(r).to_owned();
    let by_backend_key: Key = &|r| r.backend_name.to_string();
    let grouped = |key: Key, value: &dyn Fn(&RequestResult) -> Option<f64>| {
        let mut groups: IndexMap<String, Vec<f64>> = IndexMap::new();
        for r in rows {
            if let Some(v) = value(r) {
                groups.entry(key(r)).or_default().push(v);
            }
        }
        Value::Object(groups.into_iter().map(|(k, v)| (k, stats(&v))).collect())
    };
    m.insert(
        "latency_by_model".into(),
        grouped(by_model_key, &|r| r.latency_seconds),
    );
    m.insert(
        "latency_by_backend".into(),
        grouped(by_backend_key, &|r| r.latency_seconds),
    );
    m.insert(
        "end_to_end_latency_by_model".into(),
        grouped(by_model_key, &|r| r.end_to_end_latency_seconds),
    );
    m.insert(
        "end_to_end_latency_by_backend".into(),
        grouped(by_backend_key, &|r| r.end_to_end_latency_seconds),
    );
    let final_by = |key: Key| {
        let mut groups: IndexMap<String, IndexMap<String, u64>> = IndexMap::new();
        for r in rows {
            count_into(
                groups.entry(key(r)).or_default(),
                unknown(&r.final_backend_status),
            );
        }
        Value::Object(groups.into_iter().map(|(k, v)| (k, to_value(v))).collect())
    };
    m.insert("final_status_by_model".into(), final_by(by_model_key));
    m.insert("final_status_by_backend".into(), final_by(by_backend_key));

    // Tollgate's additions.
    let class_of = |r: &RequestResult| scenario.users[r.user as usize].priority;
    let threshold = |r: &RequestResult| scenario.slo.get(&class_of(r)).copied();
    let mut tenants = Map::new();
    for u in &scenario.users {
        if tenants.contains_key(&*u.id) {
            continue; // the same user listed twice: counted under its first entry
        }
        let ids: Vec<usize> = scenario
            .users
            .iter()
            .enumerate()
            .filter(|(_, v)| v.id == u.id)
            .map(|(j, _)| j)
            .collect();
        let mut g = Map::new();
        g.insert("project_id".into(), (*u.project_id).into());
        g.insert("priority_class".into(), u.priority.as_str().into());
        g.extend(group_stats(
            rows.iter().filter(|r| ids.contains(&(r.user as usize))),
            threshold,
        ));
        tenants.insert(u.id.to_string(), Value::Object(g));
    }
    m.insert("by_tenant".into(), Value::Object(tenants));
    let classes = scenario.classes();
    let mut by_class = Map::new();
    for c in &classes {
        by_class.insert(
            c.as_str().into(),
            Value::Object(group_stats(
                rows.iter().filter(|r| class_of(r) == *c),
                threshold,
            )),
        );
    }
    m.insert("by_priority_class".into(), Value::Object(by_class));
    let met_overall = rows.iter().filter(|r| meets_slo(r, threshold(r))).count() as u64;
    let mut goodput_classes = Map::new();
    for c in &classes {
        let class_rows: Vec<&RequestResult> = rows.iter().filter(|r| class_of(r) == *c).collect();
        let met = class_rows
            .iter()
            .filter(|r| meets_slo(r, threshold(r)))
            .count();
        goodput_classes.insert(
            c.as_str().into(),
            json!({
                "slo_e2e_seconds": opt_f64(scenario.slo.get(c).copied()),
                "requests": class_rows.len(),
                "met": met,
                "share": if class_rows.is_empty() { Value::Null } else { (met as f64 / class_rows.len() as f64).into() },
            }),
        );
    }
    m.insert(
        "goodput".into(),
        json!({
            "share": if n == 0 { Value::Null } else { (met_overall as f64 / n as f64).into() },
            "met": met_overall,
            "requests": n,
            "by_priority_class": goodput_classes,
        }),
    );
    m.insert("scenario".into(), scenario.name.clone().into());
    m.insert("seed".into(), seed.into());
    m.insert(
        "mode".into(),
        if scenario.is_open_loop() {
            "open_loop"
        } else {
            "closed_loop"
        }
        .into(),
    );
    m.insert("duration_seconds".into(), outcome.duration_seconds.into());
    m.insert(
        "achieved_rate_per_second".into(),
        outcome.achieved_rate_per_second().into(),
    );
    let late = sorted(rows.iter().filter_map(|r| r.lateness_seconds).collect());
    m.insert(
        "send_lateness_seconds".into(),
        if late.is_empty() {
            Value::Null
        } else {
            json!({
                "p50": opt_f64(percentile(&late, 50)),
                "p99": opt_f64(percentile(&late, 99)),
                "max": opt_f64(late.last().copied()),
            })
        },
    );
    m.insert(
        "slo".into(),
        Value::Object(
            scenario
                .slo
                .iter()
                .map(|(c, t)| (c.as_str().to_owned(), json!({ "e2e_p95_seconds": t })))
                .collect(),
        ),
    );
    Value::Object(m)
}

/// One CSV field, quoted as Python's csv module does (QUOTE_MINIMAL).
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_row(out: &mut String, fields: &[Option<String>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(f) = f {
            csv_field(out, f);
        }
    }
    out.push_str("\r\n"); // Python's csv line terminator
}

/// `latest_results.csv`.
pub fn results_csv(scenario: &Scenario, rows: &[RequestResult]) -> String {
    let mut out = String::with_capacity(200 * (rows.len() + 1));
    csv_row(&mut out, &CSV_COLUMNS.map(|c| Some(c.to_owned())));
    let f = |v: Option<f64>| v.map(py_float);
    for r in rows {
        let user = &scenario.users[r.user as usize];
        csv_row(
            &mut out,
            &[
                Some(r.index.to_string()),
                Some(user.id.to_string()),
                Some(user.project_id.to_string()),
                Some(scenario.models[r.model as usize].0.to_string()),
                Some(r.backend_name.to_string()),
                Some(r.request_type.as_str().to_owned()),
                r.http_status.map(|s| s.to_string()),
                r.backend_status.clone(),
                r.request_id.clone(),
                f(r.latency_seconds),
                r.final_backend_status.clone(),
                f(r.final_latency_seconds),
                f(r.end_to_end_latency_seconds),
                Some(r.polling_attempts.to_string()),
                r.polling_error.clone(),
                r.error.clone(),
            ],
        );
    }
    out
}

/// `latest_plan.csv`: what the seed decided, request by request.
pub fn plan_csv(scenario: &Scenario, seed: u64, count: usize) -> String {
    let mut out = String::new();
    out.push_str("request_index,intended_send_seconds,user_id,project_id,priority_class,model,request_type,prompt_size,prompt_chars,max_tokens\r\n");
    for p in plan(scenario, seed, Some(count)) {
        let u = &scenario.users[p.user as usize];
        let prompt = &scenario.prompts[p.prompt as usize];
        csv_row(
            &mut out,
            &[
                Some(p.index.to_string()),
                Some(py_float(p.at_seconds)),
                Some(u.id.to_string()),
                Some(u.project_id.to_string()),
                Some(u.priority.as_str().to_owned()),
                Some(scenario.models[p.model as usize].0.to_string()),
                Some(p.request_type.as_str().to_owned()),
                Some(prompt.label.clone()),
                Some(prompt.text.chars().count().to_string()),
                Some(p.max_tokens.to_string()),
            ],
        );
    }
    out
}

fn md_counts(lines: &mut Vec<String>, v: &Value) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, n) in m {
                lines.push(format!("- {k}: {n}"));
            }
        }
        _ => lines.push("- none".into()),
    }
}

fn md_num(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Number(n) if n.is_f64() => py_float(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

fn md_table(lines: &mut Vec<String>, v: &Value) {
    lines.push("| Name | Count | Average | P50 | P95 | P99 |".into());
    lines.push("| --- | ---: | ---: | ---: | ---: | ---: |".into());
    if let Some(m) = v.as_object() {
        for (name, s) in m {
            lines.push(format!(
                "| {name} | {} | {} | {} | {} | {} |",
                md_num(&s["count"]),
                md_num(&s["average"]),
                md_num(&s["p50"]),
                md_num(&s["p95"]),
                md_num(&s["p99"])
            ));
        }
    }
}

/// `latest_comparison.md`, in the seed's layout.
pub fn comparison_markdown(summary: &Value) -> String {
    let mut l: Vec<String> = vec![
        "# LLM Throughput Comparison Report".into(),
        String::new(),
        format!("- Total requests: {}", summary["total_requests"]),
        String::new(),
    ];
    for (title, key) in [
        ("Status Distribution", "status_code_distribution"),
        (
            "Final Status Distribution",
            "final_backend_status_distribution",
        ),
        ("Requests By Backend", "requests_by_backend"),
        ("Requests By Model", "requests_by_model"),
    ] {
        l.push(format!("## {title}"));
        md_counts(&mut l, &summary[key]);
        l.push(String::new());
    }
    for (title, key) in [
        ("Latency By Backend", "latency_by_backend"),
        ("Latency By Model", "latency_by_model"),
        (
            "End-To-End Latency By Backend",
            "end_to_end_latency_by_backend",
        ),
        ("End-To-End Latency By Model", "end_to_end_latency_by_model"),
    ] {
        l.push(format!("## {title}"));
        md_table(&mut l, &summary[key]);
        l.push(String::new());
    }
    l.push("## Notes".into());
    l.push(
        "- Ollama results depend on local hardware, available RAM/VRAM, model size, and Ollama configuration."
            .into(),
    );
    l.push(
        "- Simulated backend results are artificial and intended for architecture validation."
            .into(),
    );
    l.push(String::new());
    l.join("\n")
}

/// Where a run's reports went.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub summary: Value,
}

/// Writes the three seed reports and the plan into `dir` (created if missing).
pub fn write_reports(
    dir: &Path,
    scenario: &Scenario,
    outcome: &RunOutcome,
    seed: u64,
) -> io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let summary = summary(scenario, outcome, seed);
    std::fs::write(
        dir.join(RESULTS_CSV),
        results_csv(scenario, &outcome.results),
    )?;
    let mut json = serde_json::to_string_pretty(&summary).expect("JSON");
    json.push('\n');
    std::fs::write(dir.join(SUMMARY_JSON), json)?;
    std::fs::write(dir.join(COMPARISON_MD), comparison_markdown(&summary))?;
    std::fs::write(
        dir.join(PLAN_CSV),
        plan_csv(scenario, seed, outcome.results.len()),
    )?;
    Ok(Written {
        dir: dir.to_path_buf(),
        summary,
    })
}

fn fmt_secs(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

fn fmt_share(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{:.1}%", x * 100.0))
}

/// The table printed at the end of a run: one row per priority class and one
/// for all requests.
pub fn summary_table(summary: &Value) -> String {
    let mut out = String::new();
    let header = [
        "class",
        "requests",
        "2xx",
        "rejected",
        "completed",
        "e2e p50",
        "e2e p95",
        "e2e p99",
        "goodput",
    ];
    let mut rows: Vec<[String; 9]> = Vec::new();
    if let Some(classes) = summary["by_priority_class"].as_object() {
        for (c, g) in classes {
            rows.push([
                c.clone(),
                g["requests"].to_string(),
                g["successful_http_requests"].to_string(),
                g["rejected"].to_string(),
                g["completed_final"].to_string(),
                fmt_secs(&g["e2e_p50_seconds"]),
                fmt_secs(&g["e2e_p95_seconds"]),
                fmt_secs(&g["e2e_p99_seconds"]),
                fmt_share(&g["goodput"]),
            ]);
        }
    }
    rows.push([
        "all".into(),
        summary["total_requests"].to_string(),
        summary["successful_http_requests"].to_string(),
        summary["failed_http_requests"].to_string(),
        summary["completed_final"].to_string(),
        fmt_secs(&summary["p50_end_to_end_latency_seconds"]),
        fmt_secs(&summary["p95_end_to_end_latency_seconds"]),
        fmt_secs(&summary["p99_end_to_end_latency_seconds"]),
        fmt_share(&summary["goodput"]["share"]),
    ]);
    let widths: Vec<usize> = (0..9)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(s, "{c:<w$}", w = widths[i]);
            } else {
                let _ = write!(s, "  {c:>w$}", w = widths[i]);
            }
        }
        s.push('\n');
        s
    };
    out.push_str(&line(&header));
    for r in &rows {
        out.push_str(&line(&r.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    let codes: Vec<String> = summary["status_code_distribution"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}: {v}")).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "status codes: {}", codes.join(", "));
    let _ = writeln!(
        out,
        "e2e of completed requests; goodput = completed within the class's SLO. {} ({}), seed {}, {} requests/s sent, {:.2} s",
        summary["scenario"].as_str().unwrap_or(""),
        summary["mode"].as_str().unwrap_or("").replace('_', " "),
        summary["seed"],
        summary["achieved_rate_per_second"]
            .as_f64()
            .map_or("-".into(), |r| format!("{r:.1}")),
        summary["duration_seconds"].as_f64().unwrap_or(0.0),
    );
    if let Some(l) = summary["send_lateness_seconds"].as_object() {
        let _ = writeln!(
            out,
            "send lateness: p50 {} ms, p99 {} ms, max {} ms",
            l["p50"]
                .as_f64()
                .map_or("-".into(), |x| format!("{:.2}", x * 1e3)),
            l["p99"]
                .as_f64()
                .map_or("-".into(), |x| format!("{:.2}", x * 1e3)),
            l["max"]
                .as_f64()
                .map_or("-".into(), |x| format!("{:.2}", x * 1e3)),
        );
    }
    out
}

/// The priority classes listed in a summary.
pub fn classes_in(summary: &Value) -> Vec<String> {
    summary["by_priority_class"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Figures over all of a run's requests, as for one priority class (e2e over
/// the completed requests, rejection rate, goodput).
pub fn overall_stats(scenario: &Scenario, outcome: &RunOutcome) -> Map<String, Value> {
    group_stats(outcome.results.iter(), |r| {
        scenario
            .slo
            .get(&scenario.users[r.user as usize].priority)
            .copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_percentile_rule() {
        let v = |n: usize| (0..n).map(|i| i as f64).collect::<Vec<_>>();
        assert_eq!(percentile(&v(2), 50), Some(0.0));
        assert_eq!(percentile(&v(4), 50), Some(2.0));
        assert_eq!(percentile(&v(10), 50), Some(4.0));
        assert_eq!(percentile(&v(10), 95), Some(9.0));
        assert_eq!(percentile(&v(20), 50), Some(10.0));
        assert_eq!(percentile(&v(20), 95), Some(18.0));
        assert_eq!(percentile(&v(20), 99), Some(19.0));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(1.089043309124993), "1.089043309124993");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(1.5e16), "1.5e+16");
        assert_eq!(py_float(1e15), "1000000000000000.0");
    }

    #[test]
    fn csv_quoting_like_python() {
        let mut s = String::new();
        csv_row(
            &mut s,
            &[
                Some("a".into()),
                None,
                Some("x, \"y\"".into()),
                Some("".into()),
            ],
        );
        assert_eq!(s, "a,,\"x, \"\"y\"\"\",\r\n");
    }
}
