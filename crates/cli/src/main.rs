//! `fxdesk`: argument parsing and wiring only; the work lives in the library crates.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fxdesk", version, about = "Back office for a retail FX broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
