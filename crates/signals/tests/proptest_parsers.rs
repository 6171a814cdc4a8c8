//! Parsers never panic, whatever the bytes, and their counts always add up.
#![allow(clippy::unwrap_used)]

use fxdesk_signals::dat::{parse_board_date, parse_thread};
use fxdesk_signals::feeds::parse_feed;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dat_parser_survives_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let thread = parse_thread(&bytes);
        let report = &thread.report;
        prop_assert_eq!(report.posts_parsed + report.lines_rejected(), report.lines_total);
        prop_assert_eq!(report.posts_parsed as usize, thread.posts.len());
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let unterminated = u64::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
        prop_assert_eq!(report.lines_total, newlines + unterminated);
    }

    #[test]
    fn dat_parser_survives_near_valid_lines(
        name in "\\PC{0,8}",
        date in "[0-9/() :.]{0,30}",
        body in "\\PC{0,20}",
        cut in 0usize..80,
    ) {
        let line = format!("{name}<>sage<>{date} ID:x<>{body}<>title\n");
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&line);
        let bytes = &bytes[..cut.min(bytes.len())];
        let thread = parse_thread(bytes);
        prop_assert!(thread.report.lines_total <= 1);
    }

    #[test]
    fn board_date_survives_any_text(text in "\\PC{0,40}") {
        let _ = parse_board_date(&text);
    }

    #[test]
    fn feed_parser_survives_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_feed(&bytes, "random");
    }
}
