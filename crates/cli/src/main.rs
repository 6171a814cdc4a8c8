//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

use clap::{Parser, Subcommand};

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
    /// Benchmarks; each prints JSON.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Orders per second through POST /v1/orders from concurrent clients on loopback.
    Http(bench_http::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Drill(args) => drill::run(args),
        Command::Bench { target } => match target {
            BenchTarget::Http(args) => bench_http::run(args),
        },
    }
}
