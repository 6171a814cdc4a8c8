//! The shipped real EUR/USD bars: they read cleanly, the tick path through them keeps every bar's
//! open/high/low/close, our CSV round-trips it exactly, and the 2017-04-23 weekend gap is there.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::path::Path;

use fxdesk_market::bars::{read_bars, tick_path, PathOptions};
use fxdesk_market::csv::parse_time_ns;
use fxdesk_market::{import, write_ticks, Catalog, Source};

fn bars_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/EURUSD_H1_2017-04_2018-02.csv")
}

#[test]
fn real_bars_read_cleanly_and_the_french_election_gap_is_there() {
    let file = read_bars(std::fs::File::open(bars_path()).unwrap(), 5).unwrap();
    assert!(
        file.bad_rows.is_empty(),
        "{:?}",
        &file.bad_rows[..3.min(file.bad_rows.len())]
    );
    assert_eq!(file.bars.len(), 5_000);

    let from = parse_time_ns("2017-04-21T18:00:00Z").unwrap();
    let to = parse_time_ns("2017-04-24T00:00:00Z").unwrap();
    let window: Vec<_> = file
        .bars
        .iter()
        .copied()
        .filter(|b| b.time_ns >= from && b.time_ns < to)
        .collect();
    let catalog = Catalog::defaults();
    let (eurusd, _) = catalog.by_symbol("EUR/USD").unwrap();
    let options = PathOptions {
        instrument: eurusd,
        seed: 42,
        ticks_per_bar: 120,
        spread_ticks: 8,
    };
    let ticks = tick_path(&window, options);
    assert_eq!(ticks, tick_path(&window, options), "deterministic");

    // Friday's last tick and Sunday's first are 166 pips apart (mid 1.07268 -> 1.08930).
    let sunday_open = parse_time_ns("2017-04-23T21:00:00Z").unwrap();
    let first_sunday = ticks.iter().position(|t| t.time_ns >= sunday_open).unwrap();
    let mid = |i: usize| ticks[i].bid + 4;
    assert_eq!(mid(first_sunday - 1), 107_268);
    assert_eq!(mid(first_sunday), 108_930);

    // Our CSV carries the ticks exactly.
    let mut text = Vec::new();
    write_ticks(&mut text, &ticks, |id| {
        catalog
            .spec(id)
            .map(|s| (s.symbol.clone(), s.price_decimals))
    })
    .unwrap();
    let imported = import(text.as_slice(), &Source::Csv(&catalog)).unwrap();
    assert!(imported.report.is_clean(), "{}", imported.report);
    assert_eq!(imported.ticks, ticks);
}
