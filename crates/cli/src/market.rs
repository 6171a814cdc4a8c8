//! `fxdesk market ...`: tick data tools.
//!
//! - `import --format histdata|dukascopy|csv FILE [--instrument SYM] [--out-csv F] [--archive D]`
//!   converts a vendor file to our CSV and/or the price archive and prints the import report
//!   (every line left out, per reason, with the first line numbers).
//! - `ticks-from-bars --bars FILE --instrument SYM [--seed N] ...` generates a deterministic tick
//!   path through real hourly bars (see `fxdesk_market::bars`: the path between each bar's
//!   open, high, low and close is invented).
//! - `read --archive DIR [--from T] [--to T] [--out-csv F]` merges the archive's instruments in
//!   time order into our CSV and reports torn or corrupt lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, Subcommand};
use fxdesk_market::archive::{read_all, Appended, ArchiveWriter};
use fxdesk_market::bars::{read_bars, tick_path, PathOptions};
use fxdesk_market::csv::parse_time_ns;
use fxdesk_market::{import, write_ticks, Catalog, Format, Source, Tick};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: MarketCommand,
}

#[derive(Subcommand, Debug)]
pub enum MarketCommand {
    /// Import a vendor tick file; print what was used and what was left out.
    Import(ImportArgs),
    /// Generate a deterministic tick path through hourly bars (real extremes, invented path).
    TicksFromBars(BarsArgs),
    /// Read the price archive, all instruments merged in time order.
    Read(ReadArgs),
}

#[derive(ClapArgs, Debug)]
pub struct ImportArgs {
    /// histdata (ASCII ticks, EST without DST), dukascopy (CSV export, UTC) or csv (ours).
    #[arg(long)]
    pub format: String,
    /// The file to import.
    pub file: PathBuf,
    /// The instrument of a single-instrument vendor file, e.g. USD/JPY.
    #[arg(long)]
    pub instrument: Option<String>,
    /// Write the used ticks as our CSV here.
    #[arg(long)]
    pub out_csv: Option<PathBuf>,
    /// Append the used ticks to the price archive in this directory.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Exit non-zero if any line was left out.
    #[arg(long)]
    pub strict: bool,
}

#[derive(ClapArgs, Debug)]
pub struct BarsArgs {
    /// Hourly bars: time,Open,High,Low,Close[,Volume] (times read as UTC).
    #[arg(long)]
    pub bars: PathBuf,
    #[arg(long, default_value = "EUR/USD")]
    pub instrument: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 120)]
    pub ticks_per_bar: u32,
    /// Fixed spread in ticks (8 = 0.8 pips on a 5-decimal pair).
    #[arg(long, default_value_t = 8)]
    pub spread_ticks: i64,
    /// Only bars at or after this time (RFC 3339 or ns).
    #[arg(long)]
    pub from: Option<String>,
    /// Only bars before this time.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub out_csv: Option<PathBuf>,
    #[arg(long)]
    pub archive: Option<PathBuf>,
}

#[derive(ClapArgs, Debug)]
pub struct ReadArgs {
    #[arg(long)]
    pub archive: PathBuf,
    /// From this time (RFC 3339 or ns), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// To this time, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Write our CSV here (default: standard output).
    #[arg(long)]
    pub out_csv: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        MarketCommand::Import(args) => run_import(args),
        MarketCommand::TicksFromBars(args) => run_bars(args),
        MarketCommand::Read(args) => run_read(args),
    }
}

fn time_arg(text: Option<&str>, default: i64) -> anyhow::Result<i64> {
    match text {
        Some(text) => parse_time_ns(text).map_err(anyhow::Error::msg),
        None => Ok(default),
    }
}

fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let catalog = Catalog::defaults();
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    let scale = match (&format, &args.instrument) {
        (Format::Csv, _) => None,
        (_, Some(symbol)) => Some(
            catalog
                .scale(symbol)
                .with_context(|| format!("unknown instrument {symbol:?}"))?,
        ),
        (_, None) => bail!("--instrument is required for {} files", args.format),
    };
    let source = match scale {
        Some(scale) => Source::Single(format, scale),
        None => Source::Csv(&catalog),
    };
    let file =
        File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let imported =
        import(file, &source).with_context(|| format!("cannot import {}", args.file.display()))?;
    let report = &imported.report;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "import {} ({})", args.file.display(), args.format)?;
    write!(stdout, "{report}")?;
    if let Some(out) = &args.out_csv {
        write_csv(out, &imported.ticks, &catalog)?;
        writeln!(
            stdout,
            "wrote {} ticks to {}",
            imported.ticks.len(),
            out.display()
        )?;
    }
    if let Some(dir) = &args.archive {
        let (written, skipped) = archive_ticks(dir, &imported.ticks, &catalog)?;
        writeln!(
            stdout,
            "archived {written} ticks in {} ({skipped} already there or older)",
            dir.display()
        )?;
    }
    if args.strict && !report.is_clean() {
        bail!("{} lines were left out", report.rejected_total());
    }
    Ok(())
}

fn run_bars(args: BarsArgs) -> anyhow::Result<()> {
    let catalog = Catalog::defaults();
    let (instrument, spec) = catalog
        .by_symbol(&args.instrument)
        .with_context(|| format!("unknown instrument {:?}", args.instrument))?;
    let file =
        File::open(&args.bars).with_context(|| format!("cannot open {}", args.bars.display()))?;
    let bars_file = read_bars(file, spec.price_decimals)?;
    if let Some(bad) = bars_file.bad_rows.first() {
        eprintln!(
            "{} bad bar rows left out; first: {bad}",
            bars_file.bad_rows.len()
        );
    }
    let from = time_arg(args.from.as_deref(), i64::MIN)?;
    let to = time_arg(args.to.as_deref(), i64::MAX)?;
    let bars: Vec<_> = bars_file
        .bars
        .into_iter()
        .filter(|b| b.time_ns >= from && b.time_ns < to)
        .collect();
    let ticks = tick_path(
        &bars,
        PathOptions {
            instrument,
            seed: args.seed,
            ticks_per_bar: args.ticks_per_bar,
            spread_ticks: args.spread_ticks,
        },
    );
    eprintln!("{} bars -> {} ticks", bars.len(), ticks.len());
    match (&args.out_csv, &args.archive) {
        (None, None) => write_ticks(
            BufWriter::new(std::io::stdout().lock()),
            &ticks,
            symbol_of(&catalog),
        )?,
        (out, archive) => {
            if let Some(out) = out {
                write_csv(out, &ticks, &catalog)?;
            }
            if let Some(dir) = archive {
                archive_ticks(dir, &ticks, &catalog)?;
            }
        }
    }
    Ok(())
}

fn run_read(args: ReadArgs) -> anyhow::Result<()> {
    let catalog = Catalog::defaults();
    let from = time_arg(args.from.as_deref(), i64::MIN)?;
    let to = time_arg(args.to.as_deref(), i64::MAX)?;
    let (ticks, report) = read_all(&args.archive, &catalog, from, to)?;
    eprint!("{report}");
    match &args.out_csv {
        Some(out) => write_csv(out, &ticks, &catalog),
        None => Ok(write_ticks(
            BufWriter::new(std::io::stdout().lock()),
            &ticks,
            symbol_of(&catalog),
        )?),
    }
}

fn symbol_of(
    catalog: &Catalog,
) -> impl Fn(fxdesk_engine::InstrumentId) -> Option<(String, u32)> + '_ {
    |id| {
        catalog
            .spec(id)
            .map(|s| (s.symbol.clone(), s.price_decimals))
    }
}

fn write_csv(path: &Path, ticks: &[Tick], catalog: &Catalog) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    write_ticks(BufWriter::new(file), ticks, symbol_of(catalog))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Appends ticks to the archive; (written, skipped as already there or older).
fn archive_ticks(dir: &Path, ticks: &[Tick], catalog: &Catalog) -> anyhow::Result<(u64, u64)> {
    let mut writer = ArchiveWriter::open(dir, catalog.clone())?;
    let (mut written, mut skipped) = (0u64, 0u64);
    for tick in ticks {
        match writer.append(tick)? {
            Appended::Written => written += 1,
            Appended::Duplicate | Appended::OutOfOrder { .. } => skipped += 1,
        }
    }
    writer.close()?;
    Ok((written, skipped))
}
