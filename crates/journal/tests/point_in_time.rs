//! The state at any sequence number or instant, with and without snapshots; readers never write.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod common;

use common::*;
use fxdesk_journal::sample::Ledger;
use fxdesk_journal::{state_at, verify, At, Durable, JournalError, JournalOptions};

fn journal_with_snapshots(
    dir: &std::path::Path,
    count: usize,
) -> Vec<fxdesk_journal::sample::LedgerCommand> {
    let commands = commands(count);
    let options = JournalOptions {
        snapshot_every_commands: 40,
        snapshots_kept: 3,
        segment_bytes_max: 4096,
        ..JournalOptions::default()
    };
    let (mut durable, _) = Durable::<Ledger>::open(dir, options, Ledger::default).unwrap();
    for command in &commands {
        let (_, _outcome) = durable.execute(command).unwrap();
        durable.snapshot_if_due().unwrap();
    }
    durable.close();
    commands
}

#[test]
fn state_at_seq_equals_applying_that_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let commands = journal_with_snapshots(dir.path(), 300);
    // Snapshots 200, 240, 280 are kept; earlier points replay from the start.
    for seq in [
        0u64, 1, 39, 40, 41, 199, 200, 201, 239, 240, 255, 280, 299, 300,
    ] {
        let point = state_at::<Ledger>(dir.path(), At::Seq(seq), Ledger::default).unwrap();
        assert_eq!(point.seq, seq);
        assert_eq!(
            point.state,
            apply_all(&commands[..seq as usize]),
            "seq {seq}"
        );
        let expected_snapshot = [280u64, 240, 200].into_iter().find(|&s| s <= seq);
        assert_eq!(
            point.snapshot.is_some(),
            expected_snapshot.is_some(),
            "seq {seq}"
        );
        assert_eq!(point.records_replayed, seq - expected_snapshot.unwrap_or(0));
    }
    match state_at::<Ledger>(dir.path(), At::Seq(301), Ledger::default) {
        Err(JournalError::PointBeyondJournal {
            requested: 301,
            last_seq: 300,
        }) => {}
        other => panic!("expected PointBeyondJournal, got {other:?}"),
    }
}

#[test]
fn state_at_time_includes_every_command_at_or_before_the_instant() {
    let dir = tempfile::tempdir().unwrap();
    let commands = journal_with_snapshots(dir.path(), 300);
    // Command i (0-based) has time START_NS + i * STEP_NS.
    let cases = [
        (START_NS - 1, 0usize),
        (START_NS, 1),
        (START_NS + STEP_NS / 2, 1),
        (START_NS + 239 * STEP_NS, 240),
        (START_NS + 239 * STEP_NS + 1, 240),
        (START_NS + 299 * STEP_NS, 300),
        (i64::MAX, 300),
    ];
    for (time_ns, applied) in cases {
        let point = state_at::<Ledger>(dir.path(), At::Time(time_ns), Ledger::default).unwrap();
        assert_eq!(point.seq, applied as u64, "time {time_ns}");
        assert_eq!(
            point.state,
            apply_all(&commands[..applied]),
            "time {time_ns}"
        );
        if let Some(record_time) = point.time_ns {
            assert!(record_time <= time_ns);
        }
    }
}

#[test]
fn readers_leave_the_directory_untouched_even_with_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let commands = journal_with_snapshots(dir.path(), 100);
    let segment = segment_paths(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&segment, &bytes).unwrap();
    std::fs::write(
        dir.path().join("snapshot-00000000000000000099.bin.tmp"),
        b"half a snapshot",
    )
    .unwrap();
    let before = dir_contents(dir.path());

    let report = verify(dir.path()).unwrap();
    assert_eq!(report.last_seq, 99);
    assert!(report.torn_tail.is_some());
    let point = state_at::<Ledger>(dir.path(), At::Time(i64::MAX), Ledger::default).unwrap();
    assert_eq!(point.state, apply_all(&commands[..99]));
    let all: Vec<_> = fxdesk_journal::records::<Ledger>(dir.path(), 1)
        .unwrap()
        .collect();
    assert_eq!(all.len(), 99);

    assert_eq!(dir_contents(dir.path()), before);
}

#[test]
fn state_at_skips_a_damaged_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let commands = journal_with_snapshots(dir.path(), 300);
    let newest = fxdesk_journal::list_snapshots(dir.path())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    std::fs::write(&newest, b"not a snapshot").unwrap();
    let point = state_at::<Ledger>(dir.path(), At::Seq(290), Ledger::default).unwrap();
    assert_eq!(point.state, apply_all(&commands[..290]));
    assert_eq!(point.rejected_snapshots.len(), 1);
    assert_eq!(point.records_replayed, 50);
}
