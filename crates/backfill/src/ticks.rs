//! Where the window's ticks come from. Today: our CSV tick files through `fxdesk-market`'s
//! reader. [`read_source`] is the one function that reads a source, so the price archive's
//! reader plugs in there. Every source is hashed (SHA-256 of its bytes) for the plan's inputs.

use std::path::Path;

use fxdesk_engine::{Engine, InstrumentId, Price, TimeNs};
use fxdesk_market::Tick;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BackfillError;

/// One tick of the window, converted to the engine's instrument index and ticks.
pub type WindowTick = Tick;

/// What the plan records about one tick source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSummary {
    pub path: String,
    pub sha256: String,
    pub ticks: u64,
    pub ticks_in_window: u64,
    /// Rows the reader could not use (bad format, unknown instrument, out of order).
    pub bad_rows: u64,
    pub first_bad_rows: Vec<String>,
}

/// A tick held back by the off-market guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTick {
    pub time_ns: TimeNs,
    pub instrument: String,
    pub bid: Price,
    pub ask: Price,
    pub jump_ticks: Price,
}

/// The window's ticks, merged in time order, and what came right after it.
#[derive(Debug, Clone, Default)]
pub struct WindowTicks {
    pub ticks: Vec<WindowTick>,
    /// Per instrument index: the first tick at or after the window's end (reopening evidence).
    pub after: Vec<Option<WindowTick>>,
    pub sources: Vec<SourceSummary>,
    pub held: Vec<HeldTick>,
}

/// Reads one tick source. The archive reader plugs in here (by path kind) when it exists.
pub fn read_source(
    path: &Path,
    engine: &Engine,
) -> Result<(Vec<Tick>, SourceSummary), BackfillError> {
    let bytes = std::fs::read(path).map_err(|source| BackfillError::Io {
        what: format!("tick file {}", path.display()),
        source,
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let lookup = |symbol: &str| {
        let id = engine.instrument_by_symbol(symbol)?;
        Some((id, engine.instrument(id)?.price_decimals))
    };
    let file = fxdesk_market::read_ticks(bytes.as_slice(), lookup).map_err(|source| {
        BackfillError::Io {
            what: format!("tick file {}", path.display()),
            source,
        }
    })?;
    if file.truncated {
        return Err(BackfillError::Input(format!(
            "tick file {} has more than {} ticks",
            path.display(),
            fxdesk_market::csv::TICKS_PER_FILE_MAX
        )));
    }
    let summary = SourceSummary {
        path: path.display().to_string(),
        sha256,
        ticks: file.ticks.len() as u64,
        ticks_in_window: 0,
        bad_rows: file.bad_rows,
        first_bad_rows: file
            .first_bad_rows
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    Ok((file.ticks, summary))
}

/// Reads every source and keeps the ticks in `[from_ns, to_ns)`, merged in time order (ties
/// keep the order of the sources as given). `jump_ticks`: the off-market guard (see policy).
pub fn window_ticks(
    paths: &[impl AsRef<Path>],
    engine: &Engine,
    from_ns: TimeNs,
    to_ns: TimeNs,
    jump_ticks: Option<Price>,
) -> Result<WindowTicks, BackfillError> {
    let instruments = engine.instruments().count();
    let mut all: Vec<(usize, Tick)> = Vec::new();
    let mut window = WindowTicks {
        after: vec![None; instruments],
        ..WindowTicks::default()
    };
    for (source, path) in paths.iter().enumerate() {
        let (ticks, mut summary) = read_source(path.as_ref(), engine)?;
        for tick in ticks {
            if tick.time_ns >= from_ns && tick.time_ns < to_ns {
                summary.ticks_in_window += 1;
                all.push((source, tick));
            } else if tick.time_ns >= to_ns {
                if let Some(slot) = window.after.get_mut(usize::from(tick.instrument.0)) {
                    if slot.is_none_or(|t| tick.time_ns < t.time_ns) {
                        *slot = Some(tick);
                    }
                }
            }
        }
        window.sources.push(summary);
    }
    all.sort_by_key(|(source, tick)| (tick.time_ns, *source));
    let mut last_good: Vec<Option<Price>> = (0..instruments)
        .map(|i| {
            engine
                .quote_of(InstrumentId(i as u16))
                .map(|q| (q.bid + q.ask) / 2)
        })
        .collect();
    for (_, tick) in all {
        let mid = (tick.bid + tick.ask) / 2;
        let i = usize::from(tick.instrument.0);
        if let (Some(limit), Some(Some(last))) = (jump_ticks, last_good.get(i)) {
            let jump = (mid - last).abs();
            if jump > limit {
                window.held.push(HeldTick {
                    time_ns: tick.time_ns,
                    instrument: engine
                        .instrument(tick.instrument)
                        .map_or_else(|| tick.instrument.to_string(), |s| s.symbol.clone()),
                    bid: tick.bid,
                    ask: tick.ask,
                    jump_ticks: jump,
                });
                continue;
            }
        }
        if let Some(slot) = last_good.get_mut(i) {
            *slot = Some(mid);
        }
        window.ticks.push(tick);
    }
    Ok(window)
}
