//! `--variants SLOT=FILE,FILE,...`: the same scenario, with the same seed,
//! once per policy variant. Each variant is swapped into the slot through the
//! admin API (`PUT /admin/policies/{slot}`), with the policy state
//! (`POST /admin/state/reset`) and the metrics (`POST /metrics/reset`) reset
//! and the gateway drained before its run. Writes each run's reports into
//! `OUT/variants/<file stem>/` and the comparison into
//! `OUT/variants_comparison.{md,json,svg}`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::report;
use super::runner::{RunOptions, run};
use super::scenario::Scenario;

/// `SLOT=FILE,FILE,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSpec {
    pub slot: String,
    pub files: Vec<PathBuf>,
}

impl VariantSpec {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (slot, files) = s.split_once('=').ok_or_else(|| {
            format!("--variants {s:?}: expected SLOT=FILE,FILE,... (e.g. degradation=strict.wasm,lenient.wasm)")
        })?;
        let slot = slot.trim();
        if slot.is_empty() {
            return Err(format!("--variants {s:?}: the slot name is empty"));
        }
        let files: Vec<PathBuf> = files
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect();
        if files.is_empty() {
            return Err(format!(
                "--variants {s:?}: name at least one component file after `=`"
            ));
        }
        Ok(Self {
            slot: slot.to_owned(),
            files,
        })
    }

    /// Report folder names: file stems, made unique with `-2`, `-3`, ...
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for f in &self.files {
            let stem = match f.to_str().and_then(|s| s.strip_prefix("builtin:")) {
                Some(builtin) => builtin.to_owned(),
                None => f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "variant".into()),
            };
            let mut name = stem.clone();
            let mut k = 2;
            while names.contains(&name) {
                name = format!("{stem}-{k}");
                k += 1;
            }
            names.push(name);
        }
        names
    }
}

/// One variant's run.
#[derive(Debug, Clone)]
pub struct VariantRun {
    pub name: String,
    pub file: PathBuf,
    /// The gateway's view of the swapped-in policy (`name`, `version`, ...).
    pub policy: Value,
    pub summary: Value,
    /// Figures over all requests (e2e over the completed ones).
    pub overall: Map<String, Value>,
}

async fn admin_call(req: reqwest::RequestBuilder, what: &str) -> Result<Value, String> {
    let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let detail = body["detail"].as_str().map_or(text.clone(), str::to_owned);
        return Err(format!("{what}: HTTP {}: {detail}", status.as_u16()));
    }
    Ok(body)
}

/// Waits until nothing is queued or running (best effort: a server without
/// these `/queue/status` fields is not waited for).
pub async fn drain(client: &reqwest::Client, base: &str, limit: Duration) {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let Ok(resp) = client.get(format!("{base}/queue/status")).send().await else {
            return;
        };
        let Ok(v) = resp.json::<Value>().await else {
            return;
        };
        match (v["queue_size"].as_u64(), v["active_requests"].as_u64()) {
            (Some(0), Some(0)) => return,
            (Some(_), Some(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => return,
        }
    }
}

/// Runs every variant in turn; `on_run` is told after each run (for printing).
pub async fn run_variants(
    scenario: Arc<Scenario>,
    client: reqwest::Client,
    opts: RunOptions,
    spec: &VariantSpec,
    token: &str,
    out: &Path,
    mut on_run: impl FnMut(&VariantRun, &Path),
) -> Result<Vec<VariantRun>, String> {
    let base = opts.base_url.trim_end_matches('/').to_owned();
    // Read every file first: a typo should fail before any traffic.
    // `builtin:NAME` names a policy compiled into the gateway.
    let mut bytes = Vec::new();
    for f in &spec.files {
        bytes.push(match f.to_str().and_then(|s| s.strip_prefix("builtin:")) {
            Some(name) => (
                serde_json::json!({ "builtin": name })
                    .to_string()
                    .into_bytes(),
                "application/json",
            ),
            None => (
                std::fs::read(f).map_err(|e| format!("--variants: {}: {e}", f.display()))?,
                "application/wasm",
            ),
        });
    }
    let mut runs = Vec::new();
    for ((file, name), (body, content_type)) in spec.files.iter().zip(spec.names()).zip(bytes) {
        drain(&client, &base, Duration::from_secs(60)).await;
        let swapped = admin_call(
            client
                .put(format!("{base}/admin/policies/{}", spec.slot))
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body),
            &format!("swapping {} into slot `{}`", file.display(), spec.slot),
        )
        .await?;
        admin_call(
            client
                .post(format!("{base}/admin/state/reset"))
                .bearer_auth(token),
            "resetting the policy state",
        )
        .await?;
        admin_call(
            client
                .post(format!("{base}/metrics/reset"))
                .bearer_auth(token),
            "resetting the metrics",
        )
        .await?;
        let outcome = run(scenario.clone(), client.clone(), opts.clone()).await;
        let dir = out.join("variants").join(&name);
        let written = report::write_reports(&dir, &scenario, &outcome, opts.seed)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let overall = report::overall_stats(&scenario, &outcome);
        let run = VariantRun {
            name,
            file: file.clone(),
            policy: swapped["policy"].clone(),
            summary: written.summary,
            overall,
        };
        on_run(&run, &dir);
        runs.push(run);
    }
    drain(&client, &base, Duration::from_secs(60)).await;
    Ok(runs)
}

fn policy_label(p: &Value) -> String {
    match (p["name"].as_str(), p["version"].as_str()) {
        (Some(n), Some(v)) => format!("{n}@{v}"),
        (Some(n), None) => n.to_owned(),
        _ => "?".into(),
    }
}

/// `variants_comparison.json`.
pub fn comparison_json(scenario: &Scenario, seed: u64, slot: &str, runs: &[VariantRun]) -> Value {
    let classes: Vec<String> = scenario
        .classes()
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let variants: Vec<Value> = runs
        .iter()
        .map(|r| {
            let mut by_class = Map::new();
            for c in &classes {
                let g = &r.summary["by_priority_class"][c];
                by_class.insert(
                    c.clone(),
                    json!({
                        "requests": g["requests"],
                        "rejected": g["rejected"],
                        "rejection_rate": g["rejection_rate"],
                        "completed": g["completed_final"],
                        "e2e_p50_seconds": g["e2e_p50_seconds"],
                        "e2e_p95_seconds": g["e2e_p95_seconds"],
                        "e2e_p99_seconds": g["e2e_p99_seconds"],
                        "goodput": g["goodput"],
                        "rejection_reasons": g["rejection_reasons"],
                    }),
                );
            }
            let o = &r.overall;
            json!({
                "variant": r.name,
                "file": r.file.display().to_string(),
                "policy": policy_label(&r.policy),
                "reports": format!("variants/{}", r.name),
                "requests": o["requests"],
                "rejected": o["rejected"],
                "rejection_rate": o["rejection_rate"],
                "completed": o["completed_final"],
                "e2e_p50_seconds": o["e2e_p50_seconds"],
                "e2e_p95_seconds": o["e2e_p95_seconds"],
                "e2e_p99_seconds": o["e2e_p99_seconds"],
                "goodput": r.summary["goodput"]["share"],
                "achieved_rate_per_second": r.summary["achieved_rate_per_second"],
                "duration_seconds": r.summary["duration_seconds"],
                "by_priority_class": by_class,
            })
        })
        .collect();
    json!({
        "scenario": scenario.name,
        "seed": seed,
        "slot": slot,
        "classes": classes,
        "slo": r_slo(scenario),
        "variants": variants,
    })
}

fn r_slo(scenario: &Scenario) -> Value {
    Value::Object(
        scenario
            .slo
            .iter()
            .map(|(c, t)| (c.as_str().to_owned(), json!({ "e2e_p95_seconds": t })))
            .collect(),
    )
}

fn secs(v: &Value) -> String {
    v.as_f64().map_or_else(|| "–".into(), |x| format!("{x:.3}"))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0))
}

/// `variants_comparison.md`.
pub fn comparison_markdown(cmp: &Value) -> String {
    let mut s = String::new();
    let classes: Vec<&str> = cmp["classes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let variants = cmp["variants"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "# Policy variants: slot `{}` under scenario `{}` (seed {})\n",
        cmp["slot"].as_str().unwrap_or(""),
        cmp["scenario"].as_str().unwrap_or(""),
        cmp["seed"]
    );
    let _ = writeln!(
        s,
        "Each variant was swapped into the slot through the admin API, with the policy state and the metrics reset and the gateway drained before its run; the same seed sent the same requests, at the same planned times, to every variant. Latencies are end-to-end, in seconds, over the requests that completed; a rejection is any non-2xx answer; goodput is the share of requests that completed within their priority class's SLO (or completed, for a class without one). Read latencies with the rejection rates: a variant that refuses more requests, or refuses them when the queue is longest, completes a luckier sample and can show lower percentiles; goodput counts a refusal as a miss.\n"
    );
    if let Some(slo) = cmp["slo"].as_object().filter(|m| !m.is_empty()) {
        let list: Vec<String> = slo
            .iter()
            .map(|(c, v)| format!("{c} ≤ {} s", v["e2e_p95_seconds"]))
            .collect();
        let _ = writeln!(s, "SLOs (e2e): {}.\n", list.join(", "));
    }
    s.push_str("| variant | policy | requests | rejected | rejection rate | completed | goodput | e2e p50 | e2e p95 | e2e p99 |\n");
    s.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for v in &variants {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            v["variant"].as_str().unwrap_or(""),
            v["policy"].as_str().unwrap_or(""),
            v["requests"],
            v["rejected"],
            pct(&v["rejection_rate"]),
            v["completed"],
            pct(&v["goodput"]),
            secs(&v["e2e_p50_seconds"]),
            secs(&v["e2e_p95_seconds"]),
            secs(&v["e2e_p99_seconds"]),
        );
    }
    s.push_str(
        "\n## End-to-end latency by priority class (completed requests, seconds)\n\n| variant |",
    );
    for c in &classes {
        let _ = write!(s, " {c} p50 | {c} p95 | {c} p99 |");
    }
    s.push_str("\n| --- |");
    for _ in &classes {
        s.push_str(" ---: | ---: | ---: |");
    }
    s.push('\n');
    for v in &variants {
        let _ = write!(s, "| {} |", v["variant"].as_str().unwrap_or(""));
        for c in &classes {
            let g = &v["by_priority_class"][c];
            let _ = write!(
                s,
                " {} | {} | {} |",
                secs(&g["e2e_p50_seconds"]),
                secs(&g["e2e_p95_seconds"]),
                secs(&g["e2e_p99_seconds"])
            );
        }
        s.push('\n');
    }
    for (title, key, overall) in [
        (
            "Rejection rate by priority class",
            "rejection_rate",
            "rejection_rate",
        ),
        ("Goodput by priority class", "goodput", "goodput"),
    ] {
        let _ = write!(s, "\n## {title}\n\n| variant |");
        for c in &classes {
            let _ = write!(s, " {c} |");
        }
        s.push_str(" all |\n| --- |");
        for _ in 0..=classes.len() {
            s.push_str(" ---: |");
        }
        s.push('\n');
        for v in &variants {
            let _ = write!(s, "| {} |", v["variant"].as_str().unwrap_or(""));
            for c in &classes {
                let g = &v["by_priority_class"][c];
                let _ = write!(
                    s,
                    " {} ({}/{}) |",
                    pct(&g[key]),
                    count_for(g, key),
                    g["requests"]
                );
            }
            let _ = writeln!(s, " {} |", pct(&v[overall]));
        }
    }
    s.push_str("\n## Rejection reasons\n\n| variant | class | reason | count |\n| --- | --- | --- | ---: |\n");
    for v in &variants {
        for c in &classes {
            if let Some(m) = v["by_priority_class"][c]["rejection_reasons"].as_object() {
                for (reason, n) in m {
                    let _ = writeln!(
                        s,
                        "| {} | {c} | {} | {n} |",
                        v["variant"].as_str().unwrap_or(""),
                        reason.replace('|', "\\|")
                    );
                }
            }
        }
    }
    s.push_str("\n![e2e p95 and rejection rate per priority class](variants_comparison.svg)\n\nEach variant's own reports: `variants/<variant>/latest_summary.json` (and `.csv`, `.md`).\n");
    s
}

fn count_for(g: &Value, key: &str) -> String {
    match key {
        "rejection_rate" => g["rejected"].to_string(),
        _ => {
            // goodput share × requests, rounded: the number that met the SLO
            match (g["goodput"].as_f64(), g["requests"].as_f64()) {
                (Some(share), Some(n)) => format!("{}", (share * n).round() as u64),
                _ => "–".into(),
            }
        }
    }
}

const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum above `max` (1, 2, 2.5, 5 × 10^k).
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let exp = max.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * base >= max {
            return m * base;
        }
    }
    10.0 * base
}

/// A bar or axis label: three significant digits or so.
fn short_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// One grouped bar panel.
#[allow(clippy::too_many_arguments)]
fn panel(
    svg: &mut String,
    (x0, y0, w, h): (f64, f64, f64, f64),
    title: &str,
    groups: &[String],
    series: &[(String, Vec<Option<f64>>)],
    fixed_max: Option<f64>,
    label: impl Fn(f64) -> String,
) {
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        x0,
        y0 - 12.0,
        esc(title)
    );
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(0.0f64, f64::max);
    let top = fixed_max.unwrap_or_else(|| nice_max(max));
    let (left, bottom) = (x0 + 50.0, y0 + h);
    let plot_w = w - 60.0;
    let y_of = |v: f64| bottom - (v / top).clamp(0.0, 1.0) * h;
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = y_of(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            esc(&label(v))
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333"/>"##,
        left + plot_w
    );
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (si, (_, values)) in series.iter().enumerate() {
            let x = gx + si as f64 * bar_w;
            match values.get(gi).copied().flatten() {
                Some(v) => {
                    let y = y_of(v);
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                        (bar_w - 2.0).max(1.0),
                        (bottom - y).max(0.0),
                        COLORS[si % COLORS.len()],
                        x + bar_w / 2.0,
                        y - 3.0,
                        esc(&label(v))
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#888">n/a</text>"##,
                        x + bar_w / 2.0,
                        bottom - 3.0
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            left + gi as f64 * group_w + group_w / 2.0,
            bottom + 16.0,
            esc(g)
        );
    }
}

/// `variants_comparison.svg`: e2e p95 per priority class per variant, and the
/// rejection rate per class (and overall) per variant.
pub fn comparison_svg(cmp: &Value) -> String {
    let classes: Vec<String> = cmp["classes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let variants = cmp["variants"].as_array().cloned().unwrap_or_default();
    let (width, height) = (960.0, 420.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="20" y="28" font-size="16" font-weight="bold">Slot `{}` variants under `{}` (seed {})</text>"#,
        esc(cmp["slot"].as_str().unwrap_or("")),
        esc(cmp["scenario"].as_str().unwrap_or("")),
        cmp["seed"]
    );
    for (i, v) in variants.iter().enumerate() {
        let x = 20.0 + i as f64 * 190.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="44" width="14" height="14" fill="{}"/><text x="{}" y="56" font-size="12">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 20.0,
            esc(v["variant"].as_str().unwrap_or(""))
        );
    }
    let p95: Vec<(String, Vec<Option<f64>>)> = variants
        .iter()
        .map(|v| {
            (
                v["variant"].as_str().unwrap_or("").to_owned(),
                classes
                    .iter()
                    .map(|c| v["by_priority_class"][c]["e2e_p95_seconds"].as_f64())
                    .collect(),
            )
        })
        .collect();
    panel(
        &mut svg,
        (20.0, 110.0, 440.0, 260.0),
        "e2e p95 of completed requests (s)",
        &classes,
        &p95,
        None,
        short_number,
    );
    let mut groups = classes.clone();
    groups.push("all".into());
    let rejected: Vec<(String, Vec<Option<f64>>)> = variants
        .iter()
        .map(|v| {
            let mut values: Vec<Option<f64>> = classes
                .iter()
                .map(|c| v["by_priority_class"][c]["rejection_rate"].as_f64())
                .collect();
            values.push(v["rejection_rate"].as_f64());
            (v["variant"].as_str().unwrap_or("").to_owned(), values)
        })
        .collect();
    let max_rate = rejected
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(0.0f64, f64::max);
    panel(
        &mut svg,
        (500.0, 110.0, 440.0, 260.0),
        "rejection rate (non-2xx share)",
        &groups,
        &rejected,
        Some(nice_max(max_rate).min(1.0)),
        |v| format!("{:.0}%", v * 100.0),
    );
    svg.push_str("</svg>\n");
    svg
}

/// Writes `variants_comparison.{md,json,svg}` into `out`.
pub fn write_comparison(
    out: &Path,
    scenario: &Scenario,
    seed: u64,
    slot: &str,
    runs: &[VariantRun],
) -> std::io::Result<Value> {
    std::fs::create_dir_all(out)?;
    let cmp = comparison_json(scenario, seed, slot, runs);
    let mut json = serde_json::to_string_pretty(&cmp).expect("JSON");
    json.push('\n');
    std::fs::write(out.join("variants_comparison.json"), json)?;
    std::fs::write(
        out.join("variants_comparison.md"),
        comparison_markdown(&cmp),
    )?;
    std::fs::write(out.join("variants_comparison.svg"), comparison_svg(&cmp))?;
    Ok(cmp)
}

/// The comparison as a terminal table.
pub fn comparison_table(cmp: &Value) -> String {
    let classes: Vec<&str> = cmp["classes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut header = vec!["variant".to_owned(), "rejected".into(), "goodput".into()];
    for c in &classes {
        header.push(format!("{c} p95"));
        header.push(format!("{c} rej"));
    }
    let mut rows = vec![header];
    for v in cmp["variants"].as_array().into_iter().flatten() {
        let mut row = vec![
            v["variant"].as_str().unwrap_or("").to_owned(),
            pct(&v["rejection_rate"]),
            pct(&v["goodput"]),
        ];
        for c in &classes {
            let g = &v["by_priority_class"][*c];
            row.push(secs(&g["e2e_p95_seconds"]));
            row.push(pct(&g["rejection_rate"]));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                let _ = write!(s, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(s, "  {}{c}", " ".repeat(pad));
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_variants_are_named_after_the_builtin() {
        let spec = VariantSpec::parse(
            "degradation=builtin:degradation-strict,builtin:degradation-lenient,x/strict.wasm",
        )
        .unwrap();
        assert_eq!(
            spec.names(),
            ["degradation-strict", "degradation-lenient", "strict"]
        );
    }

    #[test]
    fn variant_specs() {
        let v =
            VariantSpec::parse("degradation=a/strict.wasm, b/lenient.wasm,c/strict.wasm").unwrap();
        assert_eq!(v.slot, "degradation");
        assert_eq!(v.files.len(), 3);
        assert_eq!(v.names(), ["strict", "lenient", "strict-2"]);
        assert!(
            VariantSpec::parse("strict.wasm")
                .unwrap_err()
                .contains("SLOT=FILE")
        );
        assert!(VariantSpec::parse("degradation=").is_err());
        assert_eq!(nice_max(0.37), 0.5);
        assert_eq!(nice_max(3.0), 5.0);
    }
}
