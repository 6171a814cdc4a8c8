//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

mod bench_signals;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fxdesk", version, about = "Back office for a retail FX broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmarks that print their figures (JSON with --json).
    #[command(subcommand)]
    Bench(BenchTarget),
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Outside-signals detector on simulated weeks: recall, false alarms, delay.
    Signals(bench_signals::BenchSignalsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(target) => match target {
            BenchTarget::Signals(args) => bench_signals::run(args),
        },
    }
}
