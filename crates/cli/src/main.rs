//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

mod desk;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fxdesk", version, about = "Back office for a retail FX broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the incident desk on its own: API, monitors, escalation, notifications.
    Desk(desk::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Desk(args) => desk::run(args),
    }
}
