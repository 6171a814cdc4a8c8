//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

mod bench_engine;
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
    /// Measure a part of fxdesk and print the figures (JSON with --json).
    #[command(subcommand)]
    Bench(BenchTarget),
}

#[derive(Subcommand)]
enum BenchTarget {
    /// The dealing engine alone: throughput, latency, memory, and how quote cost scales.
    Engine(bench_engine::EngineBenchArgs),
    /// Outside-signals detector on simulated weeks: recall, false alarms, delay.
    Signals(bench_signals::BenchSignalsArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(target) => match target {
            BenchTarget::Engine(args) => bench_engine::run(args),
            BenchTarget::Signals(args) => bench_signals::run(args),
        },
    }
}
