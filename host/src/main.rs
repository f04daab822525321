//! `tollgate`: the command-line entry point.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc malloc: the request path allocates and frees many
/// small objects across threads; with glibc's allocator the gateway served
/// ~15% fewer requests/s (`tollgate bench`, see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An LLM serving gateway whose governance policies are WebAssembly components.
#[derive(Parser)]
#[command(name = "tollgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(tollgate::cli::serve::Args),
    /// Load-test a gateway with a scenario; compare policy variants.
    Stress(tollgate::cli::stress::Args),
    /// Benchmark the request path: full gateway vs no policies vs bare axum.
    Bench(tollgate::cli::bench::Args),
    /// Measure model quality through the gateway (HumanEval).
    Eval(tollgate::cli::eval::Args),
    /// Work with the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write, build and check a policy component of your own.
    Policy {
        #[command(subcommand)]
        command: tollgate::cli::policy::Command,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate every file of a config directory (and load its policies).
    Check {
        /// The config directory.
        #[arg(default_value = "config")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => tollgate::cli::serve::run(args),
        Command::Stress(args) => tollgate::cli::stress::run_cli(args),
        Command::Bench(args) => tollgate::cli::bench::run(args),
        Command::Eval(args) => tollgate::cli::eval::run(args),
        Command::Config {
            command: ConfigCommand::Check { dir },
        } => tollgate::cli::config_check(&dir),
        Command::Policy { command } => tollgate::cli::policy::run(command),
    }
}
