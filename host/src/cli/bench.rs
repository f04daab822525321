//! `tollgate bench`: the FULL gateway vs NO-SQLITE (no usage database) vs
//! PASSTHROUGH (no Wasm policies) vs a BARE axum endpoint, in one process;
//! writes a markdown table.

use std::path::PathBuf;
use std::process::ExitCode;

/// `tollgate bench` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Open-loop rates in requests/s, comma separated.
    #[arg(long, default_value = "1000,2000,5000", value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Concurrent connections of the closed-loop max-throughput run.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// The config directory (the FULL and PASSTHROUGH gateways load it).
    #[arg(long, default_value = "config")]
    pub config: PathBuf,
    /// Worker threads of each server's runtime (default: the number of cores).
    #[arg(long)]
    pub server_threads: Option<usize>,
    /// Measure only these servers (FULL, NO-SQLITE, PASSTHROUGH, BARE), comma separated.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::bench::SERVERS))]
    pub servers: Vec<String>,
    /// Also write bench.md into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the benchmark, prints the table and writes `reports/bench.md`.
pub fn run(args: Args) -> ExitCode {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(args.seconds) || args.connections == 0 || !args.rates.iter().all(|r| positive(*r))
    {
        eprintln!("--seconds, --connections and every --rates value must be positive");
        return ExitCode::from(2);
    }
    let opts = crate::bench::Options {
        seconds: args.seconds,
        rates: args.rates.clone(),
        connections: args.connections,
        config_dir: args.config.clone(),
        server_threads: args
            .server_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        servers: args.servers.clone(),
    };
    let report = match crate::bench::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let table = crate::bench::render(&report);
    println!("{table}");
    let mut dirs = vec![PathBuf::from("reports")];
    dirs.extend(args.out.clone());
    for dir in dirs {
        let path = dir.join("bench.md");
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &table)) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
