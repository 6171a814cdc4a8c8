//! The shipped sample tick file reads cleanly against the engine's default instruments.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::path::Path;

use fxdesk_engine::{Engine, EngineConfig};
use fxdesk_market::{read_tick_file, ReplaySchedule};

#[test]
fn sample_file_reads_without_bad_rows() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ticks_sample.csv");
    let file = read_tick_file(&path, |symbol| {
        let id = engine.instrument_by_symbol(symbol)?;
        Some((id, engine.instrument(id)?.price_decimals))
    })
    .unwrap();
    assert_eq!(file.ticks.len(), 400);
    assert!(file.ticks.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
    let span_ns = file.ticks[399].time_ns - file.ticks[0].time_ns;
    let schedule = ReplaySchedule::new(file.ticks, 3600.0).unwrap();
    let last = schedule.last().unwrap().0;
    // An hour of recording per second of replay.
    assert_eq!(last.as_nanos(), (span_ns / 3600) as u128);
}
