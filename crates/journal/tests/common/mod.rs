//! Helpers shared by the journal's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fxdesk_journal::format::{self, Frame, SEGMENT_HEADER_BYTES};
use fxdesk_journal::sample::{CommandStream, Ledger, LedgerCommand};
use fxdesk_journal::{Journal, JournalOptions, StateMachine};

pub const START_NS: i64 = 1_700_000_000_000_000_000;
pub const STEP_NS: i64 = 1_000;

pub fn commands(count: usize) -> Vec<LedgerCommand> {
    CommandStream::new(7, 50, START_NS, STEP_NS)
        .take(count)
        .collect()
}

/// The ledger after applying `commands` directly, without a journal.
pub fn apply_all(commands: &[LedgerCommand]) -> Ledger {
    let mut ledger = Ledger::default();
    for command in commands {
        // Rejected commands count too: the outcome is part of the state.
        let _outcome = ledger.apply(command);
    }
    ledger
}

pub fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes_max: 4096,
        ..JournalOptions::default()
    }
}

/// Opens a journal in `dir`, appends `commands`, closes it.
pub fn write_journal(dir: &Path, options: JournalOptions, commands: &[LedgerCommand]) {
    let (journal, _) = Journal::<Ledger>::open(dir, options, Ledger::default).unwrap();
    for command in commands {
        journal.append(command).unwrap();
    }
    journal.close();
}

pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    fxdesk_journal::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|segment| segment.path)
        .collect()
}

/// Start offsets of the records of a valid segment file.
pub fn record_offsets(segment_bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = SEGMENT_HEADER_BYTES;
    while at < segment_bytes.len() {
        match format::parse_record(&segment_bytes[at..]) {
            Frame::Record(_, length) => {
                offsets.push(at);
                at += length;
            }
            other => panic!("test segment is not valid at {at}: {other:?}"),
        }
    }
    offsets
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// File name and bytes of every file in `dir`, sorted.
pub fn dir_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut contents: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect();
    contents.sort();
    contents
}
