//! Random and mutated bytes fed to every reader: an error or a result, never a panic.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod common;

use common::*;
use fxdesk_journal::format::{self, encode_segment_header, segment_file_name, snapshot_file_name};
use fxdesk_journal::sample::Ledger;
use fxdesk_journal::{load_snapshot, records, state_at, verify, At, Journal, JournalOptions};
use proptest::prelude::*;

/// Runs every reader on `dir`; if verification passes, the readers must agree with it.
fn read_everything(dir: &std::path::Path) {
    let verified = verify(dir);
    let decoded: Vec<_> = match records::<Ledger>(dir, 1) {
        Ok(iter) => iter.collect(),
        Err(_) => Vec::new(),
    };
    let _ = state_at::<Ledger>(dir, At::Seq(3), Ledger::default);
    let _ = state_at::<Ledger>(dir, At::Time(START_NS), Ledger::default);
    if let Ok(report) = verified {
        let seqs: Vec<u64> = decoded
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.seq))
            .collect();
        let dense: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, dense, "records come back dense from 1");
        assert!(seqs.len() as u64 <= report.records);
    }
}

fn valid_segment_bytes() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            write_journal(dir.path(), JournalOptions::default(), &commands(12));
            std::fs::read(segment_paths(dir.path()).pop().unwrap()).unwrap()
        })
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_as_a_segment(body in proptest::collection::vec(any::<u8>(), 0..2048), with_header in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = if with_header { encode_segment_header(1).to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        std::fs::write(dir.path().join(segment_file_name(1)), &bytes).unwrap();
        read_everything(dir.path());
        // Recovery may refuse, but must not panic; when it accepts, it can append.
        if let Ok((journal, _)) = Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default) {
            journal.append(&commands(1)[0]).unwrap();
        }
    }

    #[test]
    fn mutated_valid_segment(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut bytes = valid_segment_bytes();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        let keep = format::SEGMENT_HEADER_BYTES + cut.index(bytes.len() - format::SEGMENT_HEADER_BYTES + 1);
        bytes.truncate(keep);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(segment_file_name(1)), &bytes).unwrap();
        read_everything(dir.path());
        let _ = Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default);
    }

    #[test]
    fn random_bytes_as_a_snapshot(body in proptest::collection::vec(any::<u8>(), 0..512), with_magic in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = if with_magic { format::SNAPSHOT_MAGIC.to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        let path = dir.path().join(snapshot_file_name(5));
        std::fs::write(&path, &bytes).unwrap();
        prop_assert!(load_snapshot::<Ledger>(&path).is_err());
        prop_assert!(format::parse_snapshot(&bytes).is_err() || with_magic);
        let _ = state_at::<Ledger>(dir.path(), At::Seq(0), Ledger::default);
    }

    #[test]
    fn random_state_in_a_well_framed_snapshot(state in proptest::collection::vec(any::<u8>(), 0..256), hash in any::<u64>()) {
        // Frame and checksum are right, so only decoding and the hash check stand in the way.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(snapshot_file_name(5));
        std::fs::write(&path, format::encode_snapshot(5, START_NS, hash, &state)).unwrap();
        let _ = load_snapshot::<Ledger>(&path);
    }

    #[test]
    fn random_bytes_as_one_record(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = format::parse_record(&bytes);
        let _ = format::parse_segment_header(&bytes);
        let _ = fxdesk_journal::decode_command::<Ledger>(&bytes, 1);
    }
}
