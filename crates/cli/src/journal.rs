//! `fxdesk journal verify | inspect | state-at`: read-only tools over a data directory's journal.
//!
//! `verify` needs only frames and checksums. `inspect` and `state-at` decode commands and states;
//! they are generic over the journaled state machine, and the binary wires in the dealing engine.
//! `state-at` prints the engine as a customer desk would read it: accounts with their balance,
//! equity and margin, positions, working orders, and the quotes of that moment.

use std::fmt::Debug;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use fxdesk_engine::{Engine, EngineConfig, InstrumentId};
use fxdesk_journal::{At, StateMachine};
use serde::Serialize;
use serde_json::json;

/// The state machine whose journal the tools read: the dealing engine, as `fxdesk serve` runs it.
pub type JournaledMachine = Engine;

fn initial_state() -> anyhow::Result<Engine> {
    Ok(Engine::new(EngineConfig::default())?)
}

/// What `state-at` prints of the engine.
fn engine_view(engine: &Engine) -> serde_json::Value {
    let symbol = |id: InstrumentId| {
        engine
            .instrument(id)
            .map_or_else(|| id.to_string(), |s| s.symbol.clone())
    };
    let money = |amount: i128| {
        i64::try_from(amount).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX })
    };
    let accounts: Vec<serde_json::Value> = engine
        .accounts()
        .map(|account| {
            let valuation = engine.valuation(account.id);
            let positions: Vec<serde_json::Value> = engine
                .positions_of(account.id)
                .into_iter()
                .map(|p| {
                    json!({
                        "id": p.id.0, "instrument": symbol(p.instrument), "side": format!("{:?}", p.side),
                        "qty": p.qty, "open_price_ticks": p.open_price, "opened_ns": p.opened_ns,
                        "swap_minor": p.swap_minor,
                    })
                })
                .collect();
            let orders: Vec<serde_json::Value> = engine
                .orders_of(account.id)
                .into_iter()
                .map(|o| {
                    json!({
                        "id": o.id.0, "client_order_id": o.client_order_id, "instrument": symbol(o.instrument),
                        "side": format!("{:?}", o.side), "qty": o.qty, "kind": format!("{:?}", o.kind),
                        "time_in_force": format!("{:?}", o.time_in_force), "active": o.active,
                        "close_position": o.close_position.map(|p| p.0), "placed_ns": o.placed_ns,
                    })
                })
                .collect();
            json!({
                "id": account.id.0,
                "group": account.group.0,
                "currency": account.currency.code(),
                "mode": format!("{:?}", account.mode),
                "balance_minor": account.balance_minor,
                "equity_minor": valuation.as_ref().map(|v| money(v.equity)),
                "required_margin_minor": valuation.as_ref().map(|v| money(v.required_margin)),
                "maintenance_ratio_bp": valuation.as_ref().and_then(|v| v.ratio_bp()),
                "margin_call": account.margin_call,
                "positions": positions,
                "working_orders": orders,
            })
        })
        .collect();
    let quotes: Vec<serde_json::Value> = engine
        .instruments()
        .filter_map(|(id, spec)| {
            engine.quote_of(id).map(|q| {
                json!({"instrument": spec.symbol, "bid_ticks": q.bid, "ask_ticks": q.ask, "halted": engine.is_halted(id)})
            })
        })
        .collect();
    json!({
        "engine_time_ns": engine.now_ns(),
        "halted_globally": engine.is_halted_globally(),
        "quotes": quotes,
        "accounts": accounts,
    })
}

/// Most records `inspect` prints in one run.
pub const INSPECT_LIMIT_MAX: u64 = 1_000_000;

#[derive(Args, Debug)]
pub struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Subcommand, Debug)]
enum JournalCommand {
    /// Check every segment (frames, checksums, sequence, time order) and every snapshot frame.
    /// Exits non-zero on corruption, naming the file and byte offset. Never modifies anything.
    Verify(VerifyArgs),
    /// Print records in human form (or JSON lines), filtered by seq, time and text.
    Inspect(InspectArgs),
    /// Print the state as it was after a sequence number or at an instant, as JSON.
    StateAt(StateAtArgs),
}

#[derive(Args, Debug)]
pub struct DirArgs {
    /// Data directory; the journal lives in its `journal/` subdirectory.
    #[arg(long, default_value = "fxdesk-data")]
    data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// Also decode every command with the journaled command type.
    #[arg(long)]
    decode: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// First sequence number to show.
    #[arg(long, default_value_t = 1)]
    from_seq: u64,
    /// Last sequence number to show.
    #[arg(long)]
    to_seq: Option<u64>,
    /// Show records at or after this instant (RFC 3339, e.g. 2026-11-24T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Show records at or before this instant (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Show only records whose command, printed, contains this text.
    #[arg(long)]
    contains: Option<String>,
    /// Stop after this many records (at most 1,000,000).
    #[arg(long, default_value_t = 1000)]
    limit: u64,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct StateAtArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The state after applying every record up to and including this sequence number.
    #[arg(long, conflicts_with = "time", required_unless_present = "time")]
    seq: Option<u64>,
    /// The state after every record at or before this instant (RFC 3339).
    #[arg(long)]
    time: Option<String>,
}

/// The journal directory inside a data directory.
pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

pub fn run(args: JournalArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.command {
        JournalCommand::Verify(args) => {
            let dir = journal_dir(&args.dir.data_dir);
            verify(&dir, &mut out)?;
            if args.decode {
                let decoded = fxdesk_journal::verify_commands::<JournaledMachine>(&dir)?;
                writeln!(out, "decoded commands: {decoded}")?;
            }
        }
        JournalCommand::Inspect(args) => inspect::<JournaledMachine>(&args, &mut out)?,
        JournalCommand::StateAt(args) => {
            let initial = initial_state()?;
            state_at::<JournaledMachine>(&args, || initial, engine_view, &mut out)?
        }
    }
    out.flush().context("write to stdout")
}

fn require_journal(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("no journal directory at {}", dir.display());
    }
    Ok(())
}

/// Parses an RFC 3339 instant into UTC nanoseconds.
pub fn parse_time_ns(text: &str) -> anyhow::Result<i64> {
    let timestamp: jiff::Timestamp = text.parse().with_context(|| {
        format!("{text:?} is not an RFC 3339 instant (e.g. 2026-11-24T09:00:00Z)")
    })?;
    i64::try_from(timestamp.as_nanosecond()).with_context(|| format!("{text:?} is out of range"))
}

/// Formats UTC nanoseconds as RFC 3339 (falls back to the raw number if out of range).
pub fn format_time_ns(time_ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(time_ns)) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => format!("{time_ns}ns"),
    }
}

pub fn verify(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    require_journal(dir)?;
    let report = fxdesk_journal::verify(dir).with_context(|| {
        format!(
            "journal {} is corrupt; recovery will refuse to start. `fxdesk journal inspect` shows the records before the damage",
            dir.display()
        )
    })?;
    writeln!(out, "journal {}: OK", dir.display())?;
    writeln!(out, "segments: {}", report.segments)?;
    writeln!(out, "records: {}", report.records)?;
    if let (Some(first_seq), Some(first_time_ns), Some(last_time_ns)) =
        (report.first_seq, report.first_time_ns, report.last_time_ns)
    {
        writeln!(out, "seq: {first_seq}..={}", report.last_seq)?;
        writeln!(
            out,
            "time: {} .. {}",
            format_time_ns(first_time_ns),
            format_time_ns(last_time_ns)
        )?;
    }
    if let Some(torn) = &report.torn_tail {
        writeln!(
            out,
            "torn tail: {} bytes at offset {} of {} (never acknowledged; recovery truncates it)",
            torn.bytes,
            torn.offset,
            torn.file.display()
        )?;
    }
    for snapshot in &report.snapshots {
        match &snapshot.problem {
            None => writeln!(out, "snapshot {}: OK", snapshot.file.display())?,
            Some(problem) => writeln!(
                out,
                "snapshot {}: UNUSABLE ({problem}); recovery falls back",
                snapshot.file.display()
            )?,
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct InspectLine<'a, C> {
    seq: u64,
    time: String,
    time_ns: i64,
    command: &'a C,
}

pub fn inspect<S>(args: &InspectArgs, out: &mut impl Write) -> anyhow::Result<()>
where
    S: StateMachine,
    S::Command: Debug,
{
    let dir = journal_dir(&args.dir.data_dir);
    require_journal(&dir)?;
    if args.limit > INSPECT_LIMIT_MAX {
        bail!(
            "--limit {} is above the maximum {INSPECT_LIMIT_MAX}",
            args.limit
        );
    }
    let since_ns = args.since.as_deref().map(parse_time_ns).transpose()?;
    let until_ns = args.until.as_deref().map(parse_time_ns).transpose()?;
    let mut shown = 0;
    let records = fxdesk_journal::records::<S>(&dir, args.from_seq)?;
    for record in records {
        let record = record?;
        if args.to_seq.is_some_and(|to_seq| record.seq > to_seq)
            || until_ns.is_some_and(|until| record.time_ns > until)
        {
            break;
        }
        if since_ns.is_some_and(|since| record.time_ns < since) {
            continue;
        }
        let text = format!("{:?}", record.command);
        if args
            .contains
            .as_deref()
            .is_some_and(|needle| !text.contains(needle))
        {
            continue;
        }
        if shown == args.limit {
            writeln!(out, "(stopped after --limit {} records)", args.limit)?;
            break;
        }
        let time = format_time_ns(record.time_ns);
        if args.json {
            let line = InspectLine {
                seq: record.seq,
                time,
                time_ns: record.time_ns,
                command: &record.command,
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{:>10}  {time}  {text}", record.seq)?;
        }
        shown += 1;
    }
    Ok(())
}

#[derive(Serialize)]
struct StateAtOutput {
    seq: u64,
    time: Option<String>,
    time_ns: Option<i64>,
    snapshot: Option<String>,
    records_replayed: u64,
    rejected_snapshots: Vec<String>,
    state_hash: String,
    state: serde_json::Value,
}

pub fn state_at<S>(
    args: &StateAtArgs,
    initial_state: impl FnOnce() -> S,
    view: impl Fn(&S) -> serde_json::Value,
    out: &mut impl Write,
) -> anyhow::Result<()>
where
    S: StateMachine,
{
    let dir = journal_dir(&args.dir.data_dir);
    require_journal(&dir)?;
    let at = match (args.seq, args.time.as_deref()) {
        (Some(seq), None) => At::Seq(seq),
        (None, Some(time)) => At::Time(parse_time_ns(time)?),
        _ => bail!("give exactly one of --seq or --time"),
    };
    let point = fxdesk_journal::state_at::<S>(&dir, at, initial_state)?;
    let output = StateAtOutput {
        seq: point.seq,
        time: point.time_ns.map(format_time_ns),
        time_ns: point.time_ns,
        snapshot: point.snapshot.map(|path| path.display().to_string()),
        records_replayed: point.records_replayed,
        rejected_snapshots: point
            .rejected_snapshots
            .iter()
            .map(|rejected| format!("{}: {}", rejected.file.display(), rejected.reason))
            .collect(),
        state_hash: format!("{:#018x}", point.state.state_hash()),
        state: view(&point.state),
    };
    serde_json::to_writer_pretty(&mut *out, &output)?;
    writeln!(out)?;
    Ok(())
}
