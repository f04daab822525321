//! `tollgate stress`: runs a scenario against a gateway (Tollgate or the
//! seed's Python server: same API) and writes the reports; with `--variants`,
//! once per policy variant, and a comparison.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::stress::report::{self, COMPARISON_MD, RESULTS_CSV, SUMMARY_JSON};
use crate::stress::scenario::{self, Load};
use crate::stress::variants::{self, VariantSpec};
use crate::stress::{RunOptions, Scenario, client, run};

/// `true`/`false` (also `1`/`0`, `yes`/`no`), as the seed's `--poll-queued true`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number of seconds >= 0, got {s:?}")),
    }
}

/// `tollgate stress` options (the seed's flags, plus Tollgate's).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The gateway's base URL, e.g. http://127.0.0.1:8000.
    #[arg(long, required_unless_present_any = ["list_scenarios", "dry_run"])]
    pub base_url: Option<String>,
    /// A built-in scenario (see --list-scenarios) or the path of a scenario YAML file.
    #[arg(long, required_unless_present = "list_scenarios")]
    pub scenario: Option<String>,
    /// Poll /requests/{id} for requests answered `queued` (true or false).
    #[arg(long, default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub poll_queued: bool,
    /// Seconds between polls.
    #[arg(long, default_value = "0.2", value_parser = parse_seconds)]
    pub poll_interval: f64,
    /// Seconds to poll a queued request before recording it `timed_out` (poll_timeout).
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    pub poll_timeout: f64,
    /// The seed of every random choice: the same seed and scenario send the same requests.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The reports' folder.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Run once per policy variant: SLOT=FILE,FILE,... (component files swapped in
    /// through the admin API; state and metrics reset between runs).
    #[arg(long, value_name = "SLOT=FILE,FILE,...")]
    pub variants: Option<String>,
    /// Environment variable holding the admin API's bearer token (for --variants).
    #[arg(long, default_value = "TOLLGATE_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// Per-request HTTP timeout in seconds (the seed's client: 30).
    #[arg(long, default_value = "30", value_parser = parse_seconds)]
    pub http_timeout: f64,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    pub list_scenarios: bool,
    /// Write only the plan (OUT/latest_plan.csv: the requests the seed decides) and exit.
    #[arg(long)]
    pub dry_run: bool,
}

fn describe(s: &Scenario) -> String {
    let load = match &s.load {
        Load::Closed {
            concurrency,
            delay_seconds,
        } => format!("closed loop, concurrency {concurrency}, delay {delay_seconds} s"),
        Load::Open(a) => format!(
            "open loop, {} arrivals at {} requests/s{}",
            match a.process {
                crate::stress::scenario::Process::Poisson => "Poisson".to_owned(),
                crate::stress::scenario::Process::Constant => "evenly spaced".to_owned(),
                crate::stress::scenario::Process::Gamma { shape } =>
                    format!("gamma (burstiness {shape})"),
            },
            a.rate_per_second,
            if a.ramp.is_empty() { "" } else { " (ramped)" }
        ),
    };
    let mut stop = Vec::new();
    if let Some(t) = s.total {
        stop.push(format!("{t} requests"));
    }
    if let Some(d) = s.duration_seconds {
        stop.push(format!("{d} s"));
    }
    format!("{load}; {}", stop.join(" or "))
}

/// Runs the command; exit code 2 for bad arguments or scenario files, 1 when a run fails.
pub fn run_cli(args: Args) -> ExitCode {
    if args.list_scenarios {
        for name in scenario::builtin_names() {
            let s = scenario::builtin(name).expect("built-in");
            println!("{name:<22} {} ({})", s.description, describe(&s));
        }
        return ExitCode::SUCCESS;
    }
    let scenario_arg = args.scenario.clone().unwrap_or_default();
    let scenario = match scenario::resolve(&scenario_arg) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.dry_run {
        let count = crate::stress::PlanIter::new(&scenario, args.seed).is_finite();
        let n = if count {
            crate::stress::plan(&scenario, args.seed, None).len()
        } else {
            eprintln!(
                "{}: a closed-loop scenario with only a duration has no fixed length; writing its first 10000 requests",
                scenario.name
            );
            10_000
        };
        if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|()| {
            std::fs::write(
                args.out.join(report::PLAN_CSV),
                report::plan_csv(&scenario, args.seed, n),
            )
        }) {
            eprintln!("{}: {e}", args.out.display());
            return ExitCode::FAILURE;
        }
        println!("Scenario: {} ({})", scenario.name, describe(&scenario));
        println!("Planned requests: {n} (seed {})", args.seed);
        println!(
            "Plan written to {}",
            args.out.join(report::PLAN_CSV).display()
        );
        return ExitCode::SUCCESS;
    }
    let spec = match args.variants.as_deref().map(VariantSpec::parse).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let token = match &spec {
        Some(_) => match std::env::var(&args.admin_token_env) {
            Ok(t) if !t.is_empty() => Some(t),
            _ => {
                eprintln!(
                    "--variants swaps policies through the admin API: set {} to the gateway's admin token (or name another variable with --admin-token-env)",
                    args.admin_token_env
                );
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let base_url = args.base_url.clone().unwrap_or_default();
    let mut opts = RunOptions::new(&base_url, args.seed);
    opts.poll_queued = args.poll_queued;
    opts.poll_interval = Duration::from_secs_f64(args.poll_interval);
    opts.poll_timeout = Duration::from_secs_f64(args.poll_timeout);
    opts.http_timeout = Duration::from_secs_f64(args.http_timeout.max(0.001));
    opts.progress = true;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let http = client(opts.http_timeout);
    eprintln!(
        "{}: {} against {} (seed {})",
        scenario.name,
        describe(&scenario),
        opts.base_url,
        args.seed
    );
    match (spec, token) {
        (Some(spec), Some(token)) => {
            let result = runtime.block_on(variants::run_variants(
                scenario.clone(),
                http,
                opts,
                &spec,
                &token,
                &args.out,
                |run, dir| {
                    println!(
                        "Variant: {} ({}), reports in {}",
                        run.name,
                        run.policy["name"].as_str().unwrap_or("?"),
                        dir.display()
                    );
                    print!("{}", report::summary_table(&run.summary));
                    println!();
                },
            ));
            let runs = match result {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match variants::write_comparison(&args.out, &scenario, args.seed, &spec.slot, &runs) {
                Ok(cmp) => {
                    print!("{}", variants::comparison_table(&cmp));
                    let d = args.out.display();
                    println!(
                        "Comparison written to {d}/variants_comparison.md, {d}/variants_comparison.json and {d}/variants_comparison.svg"
                    );
                    println!(
                        "Slot `{}` now serves the last variant ({}); swap the production policy back in (PUT /admin/policies/{}) or roll back.",
                        spec.slot,
                        runs.last().map_or("?", |r| r.name.as_str()),
                        spec.slot
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", args.out.display());
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            let outcome = runtime.block_on(run(scenario.clone(), http, opts));
            let written = match report::write_reports(&args.out, &scenario, &outcome, args.seed) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("{}: {e}", args.out.display());
                    return ExitCode::FAILURE;
                }
            };
            let s = &written.summary;
            let d = args.out.display();
            println!("Scenario: {}", scenario.name);
            println!("Total requests: {}", s["total_requests"]);
            println!(
                "Successful HTTP requests: {}",
                s["successful_http_requests"]
            );
            println!("Failed HTTP requests: {}", s["failed_http_requests"]);
            println!(
                "Reports written to {d}/{RESULTS_CSV}, {d}/{SUMMARY_JSON} and {d}/{COMPARISON_MD}"
            );
            println!();
            print!("{}", report::summary_table(s));
            ExitCode::SUCCESS
        }
    }
}
