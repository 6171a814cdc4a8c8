//! Append, reopen, recover: round trip, group commit, torn tails, corruption, snapshots, rolling.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use fxdesk_journal::format::{encode_snapshot, snapshot_file_name, SEGMENT_HEADER_BYTES};
use fxdesk_journal::sample::{Ledger, LedgerCommand};
use fxdesk_journal::{
    records, verify, Durable, Journal, JournalError, JournalOptions, StateMachine,
};

#[test]
fn round_trip_recovers_the_same_state_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(500);
    write_journal(dir.path(), JournalOptions::default(), &commands);

    let (journal, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.last_seq, 500);
    assert_eq!(recovered.state, apply_all(&commands));
    assert_eq!(recovered.report.records_replayed, 500);
    assert_eq!(recovered.report.truncated_tail, None);
    assert_eq!(recovered.last_time_ns, Some(START_NS + 499 * STEP_NS));
    // Appending continues the sequence.
    let next = LedgerCommand::Deposit {
        time_ns: START_NS + 500 * STEP_NS,
        account: 1,
        amount_minor: 5,
    };
    assert_eq!(journal.append(&next).unwrap(), 501);
    journal.close();

    let stored: Vec<_> = records::<Ledger>(dir.path(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 501);
    for (index, record) in stored.iter().enumerate() {
        assert_eq!(record.seq, index as u64 + 1);
        let expected = commands.get(index).unwrap_or(&next);
        assert_eq!(&record.command, expected);
        assert_eq!(record.time_ns, Ledger::command_time_ns(expected));
    }
    let from_250: Vec<u64> = records::<Ledger>(dir.path(), 250)
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(from_250, (250..=501).collect::<Vec<u64>>());
}

#[test]
fn concurrent_appenders_share_fsyncs_and_every_acknowledged_seq_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), small_segments(), Ledger::default).unwrap();
    let journal = Arc::new(journal);
    let threads = 16;
    let per_thread = 100;
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for index in 0..per_thread {
                    // Every command carries the same time so concurrent appends never go back.
                    let command = LedgerCommand::Deposit {
                        time_ns: START_NS,
                        account: thread,
                        amount_minor: i64::from(index) + 1,
                    };
                    acknowledged.push((journal.append(&command).unwrap(), command));
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged: Vec<(u64, LedgerCommand)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let total = u64::from(threads * per_thread);
    let group_commits = journal.group_commits();
    assert!(
        group_commits < total,
        "{group_commits} fsyncs for {total} appends: no grouping happened"
    );
    Arc::try_unwrap(journal).ok().unwrap().close();

    let seqs: BTreeSet<u64> = acknowledged.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=total).collect(), "seqs are unique and dense");
    let stored: Vec<_> = records::<Ledger>(dir.path(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len() as u64, total);
    for (seq, command) in &acknowledged {
        assert_eq!(
            &stored[(*seq - 1) as usize].command,
            command,
            "seq {seq} holds what was acknowledged"
        );
    }
    assert!(segment_paths(dir.path()).len() > 1, "small segments rolled");
    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), small_segments(), Ledger::default).unwrap();
    let total_deposited: i64 = recovered.state.balances_minor.values().sum();
    assert_eq!(
        total_deposited,
        i64::from(threads) * (1..=i64::from(per_thread)).sum::<i64>()
    );
}

#[test]
fn submit_fixes_seq_at_once_and_callbacks_report_durability() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    let commands = commands(20);
    let pending: Vec<_> = commands[..10]
        .iter()
        .map(|c| journal.submit(c).unwrap())
        .collect();
    assert_eq!(
        pending.iter().map(|p| p.seq()).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let (sender, receiver) = std::sync::mpsc::channel();
    for command in &commands[10..] {
        let sender = sender.clone();
        journal
            .submit_with(command, move |outcome| {
                sender.send(outcome.unwrap()).unwrap()
            })
            .unwrap();
    }
    for pending in pending {
        let seq = pending.seq();
        assert_eq!(pending.wait().unwrap(), seq);
    }
    let called: Vec<u64> = (0..10).map(|_| receiver.recv().unwrap()).collect();
    assert_eq!(called, (11..=20).collect::<Vec<_>>());
    assert_eq!(journal.durable_seq(), 20);
}

#[test]
fn torn_tail_is_truncated_at_every_cut_of_the_last_record() {
    let master = tempfile::tempdir().unwrap();
    let commands = commands(30);
    write_journal(master.path(), JournalOptions::default(), &commands);
    let segment = segment_paths(master.path()).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let last_record_at = *record_offsets(&bytes).last().unwrap();

    for cut in last_record_at..bytes.len() {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(master.path(), dir.path());
        let segment = segment_paths(dir.path()).pop().unwrap();
        std::fs::write(&segment, &bytes[..cut]).unwrap();

        // Readers report the tail and leave it in place.
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.last_seq, 29);
        assert_eq!(
            report.torn_tail.is_some(),
            cut > last_record_at,
            "cut {cut}"
        );
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), cut as u64);

        let (journal, recovered) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default)
                .unwrap();
        assert_eq!(recovered.last_seq, 29, "cut {cut}");
        assert_eq!(recovered.state, apply_all(&commands[..29]));
        if cut > last_record_at {
            let torn = recovered.report.truncated_tail.clone().unwrap();
            assert_eq!(
                (torn.offset, torn.bytes),
                (last_record_at as u64, (cut - last_record_at) as u64)
            );
        }
        assert_eq!(
            std::fs::metadata(&segment).unwrap().len(),
            last_record_at as u64
        );
        // The lost (never acknowledged) command can be appended again as seq 30.
        assert_eq!(journal.append(&commands[29]).unwrap(), 30);
        journal.close();
        let (_, again) =
            Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default)
                .unwrap();
        assert_eq!(again.state, apply_all(&commands));
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail_but_a_valid_record_after_damage_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(10);
    write_journal(dir.path(), JournalOptions::default(), &commands);
    let segment = segment_paths(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let good_len = bytes.len();
    bytes.extend_from_slice(&[0u8; 300]);
    std::fs::write(&segment, &bytes).unwrap();
    let (journal, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.last_seq, 10);
    assert_eq!(
        recovered.report.truncated_tail.unwrap().offset,
        good_len as u64
    );
    journal.close();

    // Damage the 5th record's payload: records 6..10 are valid after it.
    let bytes = std::fs::read(&segment).unwrap();
    let offsets = record_offsets(&bytes);
    let mut damaged = bytes.clone();
    damaged[offsets[4] + 22] ^= 0x01;
    std::fs::write(&segment, &damaged).unwrap();
    let expect_corruption = |error: JournalError| match error {
        JournalError::Corruption {
            file,
            offset,
            reason,
        } => {
            assert_eq!(file, segment);
            assert_eq!(offset, offsets[4] as u64);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected corruption, got {other}"),
    };
    expect_corruption(verify(dir.path()).unwrap_err());
    expect_corruption(
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default)
            .err()
            .unwrap(),
    );
    // Refusing changed nothing.
    assert_eq!(std::fs::read(&segment).unwrap(), damaged);
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_is_corruption_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), small_segments(), &commands(400));
    let segments = segment_paths(dir.path());
    assert!(segments.len() >= 3);
    let first = &segments[0];
    let bytes = std::fs::read(first).unwrap();
    let last_at = *record_offsets(&bytes).last().unwrap();
    std::fs::write(first, &bytes[..bytes.len() - 1]).unwrap();
    match Journal::<Ledger>::open(dir.path(), small_segments(), Ledger::default)
        .err()
        .unwrap()
    {
        JournalError::Corruption { file, offset, .. } => {
            assert_eq!((file, offset), (first.clone(), last_at as u64))
        }
        other => panic!("expected corruption, got {other}"),
    }

    // A missing middle segment is a sequence gap.
    std::fs::write(first, &bytes).unwrap();
    std::fs::remove_file(&segments[1]).unwrap();
    match verify(dir.path()).unwrap_err() {
        JournalError::Corruption {
            file,
            offset,
            reason,
        } => {
            assert_eq!((file, offset), (segments[2].clone(), 0));
            assert!(reason.contains("segment starts at seq"), "{reason}");
        }
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn segments_roll_at_the_configured_size_and_are_named_by_first_seq() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(1000);
    write_journal(dir.path(), small_segments(), &commands);
    let segments = fxdesk_journal::list_segments(dir.path()).unwrap();
    assert!(segments.len() > 5, "{} segments", segments.len());
    let mut expected_first = 1;
    for segment in &segments {
        assert_eq!(segment.first_seq, expected_first);
        let bytes = std::fs::read(&segment.path).unwrap();
        assert!(
            bytes.len() <= 4096,
            "{} is {} bytes",
            segment.path.display(),
            bytes.len()
        );
        assert!(
            bytes.len() + 64 > 4096 || segment == segments.last().unwrap(),
            "rolled too early"
        );
        expected_first += record_offsets(&bytes).len() as u64;
    }
    assert_eq!(expected_first, 1001);
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (
            report.segments,
            report.records,
            report.first_seq,
            report.last_seq
        ),
        (segments.len(), 1000, Some(1), 1000)
    );
    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), small_segments(), Ledger::default).unwrap();
    assert_eq!(recovered.state, apply_all(&commands));
}

#[test]
fn a_segment_header_cut_short_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), JournalOptions::default(), &commands(3));
    let segment = segment_paths(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..SEGMENT_HEADER_BYTES - 1]).unwrap();
    assert!(matches!(
        verify(dir.path()),
        Err(JournalError::Corruption { offset: 0, .. })
    ));
}

fn durable_with_snapshots(
    dir: &std::path::Path,
    commands: &[LedgerCommand],
    every: u64,
    kept: usize,
) {
    let options = JournalOptions {
        snapshot_every_commands: every,
        snapshots_kept: kept,
        ..JournalOptions::default()
    };
    let (mut durable, _) = Durable::<Ledger>::open(dir, options, Ledger::default).unwrap();
    for command in commands {
        let (_, _outcome) = durable.execute(command).unwrap();
        durable.snapshot_if_due().unwrap();
    }
    durable.close();
}

#[test]
fn periodic_snapshots_keep_the_last_k_and_recovery_starts_from_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(260);
    durable_with_snapshots(dir.path(), &commands, 50, 2);
    let kept: Vec<u64> = fxdesk_journal::list_snapshots(dir.path())
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(kept, vec![200, 250]);

    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.report.snapshot_seq, 250);
    assert_eq!(recovered.report.records_replayed, 10);
    assert_eq!(recovered.state, apply_all(&commands));
}

#[test]
fn corrupt_newest_snapshot_falls_back_to_an_older_one_plus_replay() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(260);
    durable_with_snapshots(dir.path(), &commands, 50, 3);
    let newest = dir.path().join(snapshot_file_name(250));
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2 + 20;
    bytes[middle] ^= 0x40;
    std::fs::write(&newest, &bytes).unwrap();
    // A second damaged snapshot whose frame is fine but whose state does not match its hash.
    let wrong_state = postcard_state(&apply_all(&commands[..150]));
    let lying = encode_snapshot(
        200,
        START_NS + 199 * STEP_NS,
        apply_all(&commands[..200]).state_hash(),
        &wrong_state,
    );
    std::fs::write(dir.path().join(snapshot_file_name(200)), lying).unwrap();

    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.report.snapshot_seq, 150);
    assert_eq!(recovered.report.records_replayed, 110);
    let rejected: Vec<_> = recovered
        .report
        .rejected_snapshots
        .iter()
        .map(|r| (r.file.clone(), r.reason.clone()))
        .collect();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, newest);
    assert!(rejected[0].1.contains("checksum"), "{}", rejected[0].1);
    assert!(rejected[1].1.contains("state hash"), "{}", rejected[1].1);
    assert_eq!(recovered.state, apply_all(&commands));
}

fn postcard_state(ledger: &Ledger) -> Vec<u8> {
    // The journal's snapshot encoding of a state, taken from a real snapshot write.
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    journal.append(&commands(1)[0]).unwrap();
    let path = journal.write_snapshot(ledger, 1, START_NS).unwrap();
    fxdesk_journal::read_snapshot_file(&path).unwrap().1
}

#[test]
fn a_snapshot_beyond_the_journal_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(100);
    durable_with_snapshots(dir.path(), &commands, 100, 3);
    // Lose the journal but keep the snapshot.
    for segment in segment_paths(dir.path()) {
        std::fs::remove_file(segment).unwrap();
    }
    let error = Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default)
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            JournalError::SnapshotBeyondJournal {
                snapshot_seq: 100,
                journal_last_seq: 0,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn appends_that_break_the_rules_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    let later = LedgerCommand::Deposit {
        time_ns: START_NS + 10,
        account: 1,
        amount_minor: 1,
    };
    let earlier = LedgerCommand::Deposit {
        time_ns: START_NS,
        account: 1,
        amount_minor: 1,
    };
    assert_eq!(journal.append(&later).unwrap(), 1);
    assert!(matches!(
        journal.append(&earlier),
        Err(JournalError::TimeWentBackwards { .. })
    ));
    assert!(matches!(
        journal.write_snapshot(&Ledger::default(), 2, START_NS),
        Err(JournalError::SnapshotNotDurable {
            seq: 2,
            durable_seq: 1
        })
    ));
    assert_eq!(
        journal.append(&later).unwrap(),
        2,
        "the refused append used no seq"
    );
    journal.close();
    assert_eq!(verify(dir.path()).unwrap().records, 2);

    let bad_options = JournalOptions {
        segment_bytes_max: 10,
        ..JournalOptions::default()
    };
    assert!(matches!(
        Journal::<Ledger>::open(dir.path(), bad_options, Ledger::default),
        Err(JournalError::InvalidOption {
            name: "segment_bytes_max",
            ..
        })
    ));
}

/// A command type whose payload can exceed the record limit.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Blobs(u64);

impl StateMachine for Blobs {
    type Command = Vec<u8>;
    type Output = ();
    fn apply(&mut self, command: &Vec<u8>) {
        self.0 += command.len() as u64;
    }
    fn state_hash(&self) -> u64 {
        self.0
    }
    fn command_time_ns(_: &Vec<u8>) -> i64 {
        0
    }
}

#[test]
fn oversized_commands_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Blobs>::open(dir.path(), JournalOptions::default(), Blobs::default).unwrap();
    let too_big = vec![0u8; fxdesk_journal::MAX_RECORD_PAYLOAD_BYTES];
    assert!(matches!(
        journal.append(&too_big),
        Err(JournalError::RecordTooLarge { .. })
    ));
    let fits = vec![7u8; fxdesk_journal::MAX_RECORD_PAYLOAD_BYTES - 8];
    assert_eq!(journal.append(&fits).unwrap(), 1);
    journal.close();
    let (_, recovered) =
        Journal::<Blobs>::open(dir.path(), JournalOptions::default(), Blobs::default).unwrap();
    assert_eq!(recovered.state.0, fits.len() as u64);
}

/// Rewrites the journal's only segment so records `unit_start..=unit_end` form one write unit
/// (as one group commit writes them) and every other record is its own unit; then damages the
/// payload of record `damaged_seq`. Returns the segment path and the damaged record's offset.
fn regroup_and_damage(
    dir: &std::path::Path,
    unit_start: u64,
    unit_end: u64,
    damaged_seq: u64,
) -> (std::path::PathBuf, usize) {
    use fxdesk_journal::format::{encode_record, encode_segment_header, parse_record, Frame};
    let segment = segment_paths(dir).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let mut rebuilt = encode_segment_header(1).to_vec();
    let mut damaged_at = 0;
    for offset in record_offsets(&bytes) {
        let Frame::Record(record, _) = parse_record(&bytes[offset..]) else {
            unreachable!()
        };
        let unit_offset = if (unit_start..=unit_end).contains(&record.seq) {
            record.seq - unit_start
        } else {
            0
        };
        let start = rebuilt.len();
        encode_record(
            &mut rebuilt,
            unit_offset as u32,
            record.seq,
            record.time_ns,
            record.payload,
        );
        if record.seq == damaged_seq {
            damaged_at = start;
            rebuilt[start + 24] ^= 0x08;
        }
    }
    std::fs::write(&segment, &rebuilt).unwrap();
    (segment, damaged_at)
}

#[test]
fn valid_records_of_the_same_unfinished_write_after_damage_are_part_of_the_torn_tail() {
    // A crash during a group commit can leave any subset of its pages on disk; none of its
    // records were acknowledged, so a hole followed by more of the same write is a torn tail.
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(10);
    write_journal(dir.path(), JournalOptions::default(), &commands);
    let (segment, damaged_at) = regroup_and_damage(dir.path(), 6, 10, 7);
    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.last_seq, 6);
    assert_eq!(recovered.state, apply_all(&commands[..6]));
    assert_eq!(
        recovered.report.truncated_tail.unwrap().offset,
        damaged_at as u64
    );
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        damaged_at as u64
    );
}

#[test]
fn a_valid_record_of_a_later_write_after_damage_is_corruption() {
    // Records 6..=9 were one write; record 10 was written after that write was durable.
    let dir = tempfile::tempdir().unwrap();
    write_journal(dir.path(), JournalOptions::default(), &commands(10));
    let (segment, damaged_at) = regroup_and_damage(dir.path(), 6, 9, 7);
    let before = std::fs::read(&segment).unwrap();
    match Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default)
        .err()
        .unwrap()
    {
        JournalError::Corruption {
            file,
            offset,
            reason,
        } => {
            assert_eq!((file, offset), (segment.clone(), damaged_at as u64));
            assert!(
                reason.contains("seq 7 expected") && reason.contains("(seq 10)"),
                "{reason}"
            );
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        before,
        "refusing changed nothing"
    );
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert!(matches!(
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default),
        Err(JournalError::Locked { .. })
    ));
    // Readers need no lock.
    assert_eq!(verify(dir.path()).unwrap().records, 0);
    journal.close();
    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.last_seq, 0);
}

#[test]
fn a_panicking_durability_callback_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    let commands = commands(2);
    journal
        .submit_with(&commands[0], |_| panic!("callback panics on purpose"))
        .unwrap();
    assert_eq!(journal.append(&commands[1]).unwrap(), 2);
}

#[test]
fn a_crash_right_after_rolling_leaves_a_usable_empty_segment_and_temp_files_are_removed() {
    use fxdesk_journal::format::{encode_segment_header, segment_file_name};
    let dir = tempfile::tempdir().unwrap();
    let commands = commands(12);
    write_journal(dir.path(), JournalOptions::default(), &commands[..10]);
    // The writer had created segment 11 (header only) and was creating a snapshot when it died.
    std::fs::write(
        dir.path().join(segment_file_name(11)),
        encode_segment_header(11),
    )
    .unwrap();
    let temp = dir.path().join("snapshot-00000000000000000010.bin.tmp");
    std::fs::write(&temp, b"half").unwrap();
    let unrelated = dir.path().join("notes.tmp");
    std::fs::write(&unrelated, b"not ours").unwrap();

    let (journal, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.last_seq, 10);
    assert_eq!(recovered.report.removed_temp_files, vec![temp.clone()]);
    assert!(!temp.exists() && unrelated.exists());
    assert_eq!(journal.append(&commands[10]).unwrap(), 11);
    assert_eq!(journal.append(&commands[11]).unwrap(), 12);
    journal.close();
    let segments = fxdesk_journal::list_segments(dir.path()).unwrap();
    assert_eq!(
        segments.iter().map(|s| s.first_seq).collect::<Vec<_>>(),
        vec![1, 11]
    );
    let (_, recovered) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    assert_eq!(recovered.state, apply_all(&commands));
}
