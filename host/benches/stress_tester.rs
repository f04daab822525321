//! The stress tester must not be the bottleneck: drives a trivial in-process
//! server (its own thread and runtime, answering the `/generate` shape at
//! once) open-loop and reports the achieved send rate, how late requests left
//! after their planned times, and the latency measured from the planned times.
//!
//! Run: `cargo bench --bench stress_tester` (optionally
//! `STRESS_BENCH_SECONDS=5 STRESS_BENCH_RATES=5000,10000`).

use std::sync::Arc;

use tollgate::stress::report::percentile;
use tollgate::stress::{RunOptions, client, run, scenario};

fn main() {
    let seconds: f64 = std::env::var("STRESS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rates: Vec<f64> = std::env::var("STRESS_BENCH_RATES")
        .ok()
        .map(|s| s.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![5000.0, 10000.0]);
    let server = tollgate::stress::trivial::start(1).expect("trivial server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "stress tester vs trivial server ({} cores), open loop, {seconds} s per run",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<9} {:>7} {:>9} {:>9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "process",
        "planned",
        "sent",
        "rate/s",
        "errors",
        "late p50",
        "late p99",
        "late max",
        "lat p50",
        "lat p99"
    );
    // Warm-up (not reported): grows the connection pool and faults the pages in.
    let mut runs: Vec<(f64, &str, bool)> =
        vec![(rates.iter().copied().fold(0.0, f64::max), "poisson", false)];
    for &rate in &rates {
        for process in ["constant", "poisson"] {
            runs.push((rate, process, true));
        }
    }
    for (rate, process, report) in runs {
        let seconds = if report { seconds } else { 1.0 };
        {
            let s = scenario::parse(
                &format!(
                    "arrivals: {{process: {process}, rate_per_second: {rate}}}\n\
                     duration_seconds: {seconds}\n\
                     users: [user_vip_01, user_standard_01]\n\
                     models: [simulated-small]\n\
                     prompt_sizes: [{{size: short}}, {{size: long}}]\n"
                ),
                "bench",
            )
            .expect("scenario");
            let planned = tollgate::stress::plan(&s, 42, None).len();
            let mut opts = RunOptions::new(&server.base_url(), 42);
            opts.poll_queued = false;
            let http = client(opts.http_timeout);
            let s = Arc::new(s);
            let outcome = runtime.block_on(run(s.clone(), http, opts));
            let errors = outcome
                .results
                .iter()
                .filter(|r| r.http_status != Some(200))
                .count();
            let mut late: Vec<f64> = outcome
                .results
                .iter()
                .filter_map(|r| r.lateness_seconds)
                .collect();
            late.sort_by(f64::total_cmp);
            let mut lat: Vec<f64> = outcome
                .results
                .iter()
                .filter_map(|r| r.latency_seconds)
                .collect();
            lat.sort_by(f64::total_cmp);
            if !report {
                continue;
            }
            let ms = |v: Option<f64>| format!("{:.2} ms", v.unwrap_or(f64::NAN) * 1e3);
            println!(
                "{:<9} {:>7} {:>9} {:>9.0} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
                process,
                planned,
                outcome.results.len(),
                outcome.achieved_rate_per_second(),
                errors,
                ms(percentile(&late, 50)),
                ms(percentile(&late, 99)),
                ms(late.last().copied()),
                ms(percentile(&lat, 50)),
                ms(percentile(&lat, 99)),
            );
        }
    }
}
