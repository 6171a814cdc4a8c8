//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

mod bench_journal;
mod journal;

use clap::{Args, Parser, Subcommand};

mod api_client;
mod bench_http;
mod drill;
mod serve;

#[derive(Parser)]
#[command(name = "fxdesk", version, about = "Back office for a retail FX broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the trading server (engine, journal, HTTP API).
    Serve(serve::Args),
    /// Drills that break things on purpose and check what survives.
    Drill(drill::Args),
    /// Read-only journal tools: verify, inspect, state-at.
    Journal(journal::JournalArgs),
    /// Benchmarks that print JSON.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[command(subcommand)]
    target: BenchTarget,
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Orders per second through POST /v1/orders from concurrent clients on loopback.
    Http(bench_http::Args),
    /// Durable appends/s and acknowledgement latency with group commit, next to the raw fsync rate.
    Journal(bench_journal::JournalBenchArgs),
    /// Seconds to recover a journal of 10,000,000 commands (replay rate).
    Recovery(bench_journal::RecoveryBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Drill(args) => drill::run(args),
        Command::Journal(args) => journal::run(args),
        Command::Bench(bench) => match bench.target {
            BenchTarget::Http(args) => bench_http::run(args),
            BenchTarget::Journal(args) => bench_journal::run_journal(args),
            BenchTarget::Recovery(args) => bench_journal::run_recovery(args),
        },
    }
}
