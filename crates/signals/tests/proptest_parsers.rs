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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Reading a thread as it grows, in arbitrary pieces, yields exactly the posts of reading it
    /// whole: none lost, none twice.
    #[test]
    fn polling_in_pieces_equals_parsing_whole(
        posts in proptest::collection::vec(("[a-zぁ-ん]{0,6}", 0u32..86_400, any::<bool>()), 1..30),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        use fxdesk_signals::poll::DatPoller;
        use fxdesk_signals::Source;
        use std::io::Write;

        let mut text = String::new();
        for (i, (body, second, broken)) in posts.iter().enumerate() {
            if *broken {
                text.push_str(&format!("壊れた行<>{body}\n"));
            } else {
                let (h, m, s) = (second / 3600, second / 60 % 60, second % 60);
                let title = if i == 0 { "スレ" } else { "" };
                text.push_str(&format!(
                    "名無し<>sage<>2024/08/05(月) {h:02}:{m:02}:{s:02}.00 ID:p{i}<>{body}<>{title}\n"
                ));
            }
        }
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
        let whole = parse_thread(&bytes);

        let mut cut_points: Vec<usize> = cuts.iter().map(|ix| ix.index(bytes.len())).collect();
        cut_points.push(bytes.len());
        cut_points.sort_unstable();
        let path = std::env::temp_dir().join(format!(
            "fxdesk-signals-prop-{}-{:?}.dat",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, b"").unwrap();
        let mut poller = DatPoller::new(Source::File(path.clone()));
        let mut seen = Vec::new();
        let mut written = 0;
        for cut in cut_points {
            let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&bytes[written..cut]).unwrap();
            written = cut;
            seen.extend(poller.poll().unwrap().new_posts);
        }
        std::fs::remove_file(&path).unwrap();
        prop_assert_eq!(seen, whole.posts);
        prop_assert_eq!(poller.report_total().lines_total, whole.report.lines_total);
    }
}
