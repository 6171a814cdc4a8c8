//! Property tests standing in for fuzz targets: the CSV reader and the price parser never panic,
//! and every non-blank line of input is either a tick or a counted bad row.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use fxdesk_engine::InstrumentId;
use fxdesk_market::{parse_ticks, read_ticks};
use proptest::prelude::*;

fn lookup(symbol: &str) -> Option<(InstrumentId, u32)> {
    (symbol == "USD/JPY").then_some((InstrumentId(0), 3))
}

proptest! {
    #[test]
    fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let file = read_ticks(bytes.as_slice(), lookup).unwrap();
        prop_assert!(file.first_bad_rows.len() as u64 <= file.bad_rows);
    }

    #[test]
    fn every_line_is_a_tick_or_a_bad_row(
        lines in proptest::collection::vec(
            prop_oneof![
                (0i64..1_000_000, 100_000i64..200_000, 0i64..50).prop_map(|(t, bid, spread)| {
                    format!("{t},USD/JPY,{}.{:03},{}.{:03}", bid / 1000, bid % 1000, (bid + spread) / 1000, (bid + spread) % 1000)
                }),
                "[a-z0-9,./:-]{1,40}",
            ],
            1..50,
        )
    ) {
        let text = lines.join("\n") + "\n";
        let file = read_ticks(text.as_bytes(), lookup).unwrap();
        let non_blank = lines.iter().filter(|l| !l.trim().is_empty()).count() as u64;
        let header = u64::from(lines[0].split(',').next().map(str::trim) == Some("time"));
        prop_assert_eq!(file.ticks.len() as u64 + file.bad_rows + header, non_blank);
        prop_assert!(file.ticks.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        prop_assert!(file.ticks.iter().all(|t| t.bid <= t.ask));
    }

    #[test]
    fn price_parser_never_panics(text in "\\PC{0,40}", decimals in 0u32..10) {
        if let Ok(ticks) = parse_ticks(&text, decimals) {
            prop_assert!(ticks > 0);
        }
    }
}
