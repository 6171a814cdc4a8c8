//! Property tests standing in for fuzz targets of the importers and the archive reader: garbage
//! never panics, every line is accounted for (used, rejected with a reason, blank or header),
//! and what the archive is given it gives back, merged in time order.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::Write;

use fxdesk_engine::InstrumentId;
use fxdesk_market::archive::{read_all, ArchiveWriter};
use fxdesk_market::{import, Catalog, Format, Source, Tick};
use proptest::prelude::*;

fn sources(catalog: &Catalog) -> Vec<Source<'_>> {
    let usdjpy = catalog.scale("USD/JPY").unwrap();
    vec![
        Source::Csv(catalog),
        Source::Single(Format::HistData, usdjpy),
        Source::Single(Format::Dukascopy, usdjpy),
    ]
}

fn blank_lines(text: &[u8]) -> u64 {
    text.split(|&b| b == b'\n')
        .filter(|line| {
            !line.is_empty()
                && std::str::from_utf8(line).is_ok_and(|l| {
                    l.trim_end_matches('\r')
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .is_empty()
                })
        })
        .count() as u64
}

proptest! {
    #[test]
    fn importers_never_panic_and_account_for_every_line(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        let catalog = Catalog::defaults();
        for source in sources(&catalog) {
            // A Dukascopy header without the needed columns is a whole-file error, not a panic.
            let Ok(imported) = import(bytes.as_slice(), &source) else { continue };
            let report = &imported.report;
            prop_assert_eq!(report.ticks_used, imported.ticks.len() as u64);
            prop_assert!(report.ticks_used + report.rejected_total() + report.header_lines <= report.lines);
        }
    }

    #[test]
    fn histdata_lines_are_used_or_rejected(
        lines in proptest::collection::vec(
            prop_oneof![
                (0u32..86_400_000, 100_000i64..200_000, 0i64..50).prop_map(|(ms, bid, spread)| {
                    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
                    format!("20240102 {h:02}{m:02}{s:02}{milli:03},{}.{:03}000,{}.{:03}000,0",
                        bid / 1000, bid % 1000, (bid + spread) / 1000, (bid + spread) % 1000)
                }),
                "[0-9 ,.]{1,40}",
            ],
            1..60,
        )
    ) {
        let text = lines.join("\n") + "\n";
        let catalog = Catalog::defaults();
        let usdjpy = catalog.scale("USD/JPY").unwrap();
        let imported = import(text.as_bytes(), &Source::Single(Format::HistData, usdjpy)).unwrap();
        let report = &imported.report;
        prop_assert_eq!(
            report.ticks_used + report.rejected_total() + blank_lines(text.as_bytes()),
            lines.len() as u64
        );
        prop_assert!(imported.ticks.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        prop_assert!(imported.ticks.iter().all(|t| t.bid <= t.ask));
        prop_assert!(imported.ticks.iter().all(|t| (30_000..=500_000).contains(&t.bid)));
    }

    #[test]
    fn archive_gives_back_what_it_was_given_in_time_order(
        steps in proptest::collection::vec((0u16..3, 0i64..3_000_000_000_000, 100_000i64..110_000), 1..200)
    ) {
        // Per instrument, times only go forward (as the writer requires); days vary.
        let mut clocks = [1_704_153_600_000_000_000i64; 3];
        let ticks: Vec<Tick> = steps
            .iter()
            .map(|&(instrument, step, bid)| {
                clocks[usize::from(instrument)] += step;
                Tick { time_ns: clocks[usize::from(instrument)], instrument: InstrumentId(instrument), bid, ask: bid + 7 }
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        for tick in &ticks {
            writer.append(tick).unwrap();
        }
        writer.close().unwrap();
        let (read, report) = read_all(dir.path(), &Catalog::defaults(), i64::MIN, i64::MAX).unwrap();
        prop_assert_eq!(report.corrupt_lines, 0);
        let mut expected = ticks.clone();
        expected.sort_by_key(|t| (t.time_ns, t.instrument.0));
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn archive_reader_never_panics_on_garbage_files(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let dir = tempfile::tempdir().unwrap();
        let instrument_dir = dir.path().join("USDJPY");
        std::fs::create_dir_all(&instrument_dir).unwrap();
        let mut file = std::fs::File::create(instrument_dir.join("2024-01-02.ticks")).unwrap();
        file.write_all(b"# fxdesk ticks v1 USD/JPY decimals=3 day=2024-01-02\n").unwrap();
        file.write_all(&bytes).unwrap();
        drop(file);
        let (ticks, report) = read_all(dir.path(), &Catalog::defaults(), i64::MIN, i64::MAX).unwrap();
        prop_assert!(report.corrupt_lines + ticks.len() as u64 + report.torn_tails.len() as u64 <= bytes.len() as u64 + 1);
        // Appending after garbage never panics either, and the new tick reads back.
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        let tick = Tick { time_ns: 1_704_240_000_000_000_000 - 1, instrument: InstrumentId(0), bid: 150_000, ask: 150_005 };
        writer.append(&tick).unwrap();
        writer.close().unwrap();
        let (after, _) = read_all(dir.path(), &Catalog::defaults(), i64::MIN, i64::MAX).unwrap();
        prop_assert!(after.contains(&tick) || after.iter().any(|t| t.time_ns > tick.time_ns));
    }
}
