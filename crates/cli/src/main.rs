//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

mod api_client;
mod backfill;
mod bench_backfill;
mod bench_engine;
mod bench_http;
mod bench_journal;
mod bench_signals;
mod demo;
mod desk;
mod drill;
mod journal;
mod market;
mod record;
mod report;
mod serve;
mod serve_desk;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fxdesk", version, about = "Back office for a retail FX broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The outage story end to end on localhost: trading, outage, detection, escalation, recovery.
    Demo(demo::Args),
    /// Run the trading server (engine, journal, HTTP API) with the incident desk (unless --no-desk).
    Serve(serve::Args),
    /// Run the incident desk on its own: API, monitors, escalation, notifications.
    Desk(desk::Args),
    /// Drills that break things on purpose and check what survives.
    Drill(drill::Args),
    /// Read-only journal tools: verify, inspect, state-at.
    Journal(journal::JournalArgs),
    /// Record the price feed into the price archive, independent of the engine.
    Record(record::Args),
    /// Tick data tools: import vendor files, generate ticks from bars, read the archive.
    Market(market::Args),
    /// Outage backfill: gaps, plan, approve, apply, report.
    Backfill(backfill::BackfillArgs),
    /// Measure a part of fxdesk and print the figures (JSON with --json).
    #[command(subcommand)]
    Bench(BenchTarget),
    /// The tamper-evident audit chain: verify.
    #[command(subcommand)]
    Audit(report::AuditCommand),
    /// Regulator reports: check, draft, submit, impact, classify, export.
    #[command(subcommand)]
    Report(report::ReportCommand),
}

#[derive(Subcommand)]
enum BenchTarget {
    /// The dealing engine alone: throughput, latency, memory, and how quote cost scales.
    Engine(bench_engine::EngineBenchArgs),
    /// Orders per second through POST /v1/orders from concurrent clients on loopback.
    Http(bench_http::Args),
    /// Durable appends/s and acknowledgement latency with group commit, next to the raw fsync rate.
    Journal(bench_journal::JournalBenchArgs),
    /// Seconds to recover a journal of 10,000,000 commands (replay rate).
    Recovery(bench_journal::RecoveryBenchArgs),
    /// Outside-signals detector on simulated weeks: recall, false alarms, delay.
    Signals(bench_signals::BenchSignalsArgs),
    /// Outage backfill plan over 100,000 accounts and 1,000,000 working orders, one hour of ticks.
    Backfill(bench_backfill::BackfillBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Desk(args) => desk::run(args),
        Command::Drill(args) => drill::run(args),
        Command::Journal(args) => journal::run(args),
        Command::Record(args) => record::run(args),
        Command::Market(args) => market::run(args),
        Command::Backfill(args) => backfill::run(args),
        Command::Audit(command) => report::run_audit(command),
        Command::Report(command) => report::run_report(command),
        Command::Bench(target) => match target {
            BenchTarget::Engine(args) => bench_engine::run(args),
            BenchTarget::Http(args) => bench_http::run(args),
            BenchTarget::Journal(args) => bench_journal::run_journal(args),
            BenchTarget::Recovery(args) => bench_journal::run_recovery(args),
            BenchTarget::Signals(args) => bench_signals::run(args),
            BenchTarget::Backfill(args) => bench_backfill::run(args),
        },
    }
}
