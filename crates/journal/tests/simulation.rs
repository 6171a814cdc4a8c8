//! Seeded simulation: random runs of appends, snapshots and crashes that leave an unfinished
//! write at the end (cut short, or with a hole and later records of the same write). After every
//! reopen the journal must hold every acknowledged command, then at most the whole records of the
//! unfinished write that come before its first damage, and the state must equal the model's.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod common;

use common::*;
use fxdesk_journal::format::{encode_record, segment_file_name};
use fxdesk_journal::sample::{CommandStream, Ledger, LedgerCommand};
use fxdesk_journal::{state_at, At, Journal, JournalOptions, StateMachine};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// Submit this many commands at once (they share group commits), wait for all.
    Append(usize),
    Snapshot,
    /// Close, then leave an unfinished write of `records` records at the end of the last segment:
    /// cut at `cut_per_mille` of its length, or with a hole of `hole_bytes` at that point.
    Crash {
        records: usize,
        cut_per_mille: u32,
        hole_bytes: usize,
        hole: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..40).prop_map(Step::Append),
        1 => Just(Step::Snapshot),
        2 => (1usize..6, 0u32..1000, 1usize..30, any::<bool>())
            .prop_map(|(records, cut_per_mille, hole_bytes, hole)| Step::Crash { records, cut_per_mille, hole_bytes, hole }),
    ]
}

fn options() -> JournalOptions {
    JournalOptions {
        segment_bytes_max: 4096,
        snapshots_kept: 2,
        ..JournalOptions::default()
    }
}

/// Appends the bytes of an unfinished group-commit write of `commands` (seqs from `first_seq`)
/// to the last segment, damaged as `step` says. Returns how many of its records are whole and
/// lie entirely before the damage.
fn leave_unfinished_write(
    dir: &std::path::Path,
    first_seq: u64,
    commands: &[LedgerCommand],
    cut_per_mille: u32,
    hole_bytes: usize,
    hole: bool,
) -> usize {
    let mut unit = Vec::new();
    let mut record_ends = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        let payload = postcard_bytes(command);
        encode_record(
            &mut unit,
            index as u32,
            first_seq + index as u64,
            Ledger::command_time_ns(command),
            &payload,
        );
        record_ends.push(unit.len());
    }
    let at = unit.len() * cut_per_mille as usize / 1000;
    let damaged_from = if hole {
        // Pages of an unfinished write can land in any order: zero a range, keep what follows.
        // Zeroing bytes that were already zero damages nothing there.
        let end = (at + hole_bytes).min(unit.len());
        let first_changed = unit[at..end].iter().position(|&byte| byte != 0);
        unit[at..end].iter_mut().for_each(|byte| *byte = 0);
        first_changed.map_or(unit.len(), |changed| at + changed)
    } else {
        unit.truncate(at);
        at
    };
    let intact = record_ends
        .iter()
        .filter(|&&record_end| record_end <= damaged_from)
        .count();
    let segments = fxdesk_journal::list_segments(dir).unwrap();
    let last = segments
        .last()
        .map(|s| s.path.clone())
        .unwrap_or_else(|| dir.join(segment_file_name(1)));
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&unit);
    std::fs::write(&last, bytes).unwrap();
    intact
}

fn postcard_bytes(command: &LedgerCommand) -> Vec<u8> {
    // The payload exactly as the journal writes it, read back from a scratch journal.
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::<Ledger>::open(dir.path(), JournalOptions::default(), Ledger::default).unwrap();
    journal.append(command).unwrap();
    journal.close();
    let mut cursor = fxdesk_journal::RecordCursor::open(dir.path(), 1).unwrap();
    cursor.next_record().unwrap().unwrap().payload.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_exactly_the_acknowledged_commands(steps in proptest::collection::vec(step(), 1..12), seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut stream = CommandStream::new(seed, 8, START_NS, STEP_NS);
        let mut acknowledged: Vec<LedgerCommand> = Vec::new();
        let (mut journal, recovered) = Journal::<Ledger>::open(dir.path(), options(), Ledger::default).unwrap();
        let mut state = recovered.state;
        for step in steps {
            match step {
                Step::Append(count) => {
                    let batch: Vec<LedgerCommand> = stream.by_ref().take(count).collect();
                    let pending: Vec<_> = batch.iter().map(|c| journal.submit(c).unwrap()).collect();
                    for (pending, command) in pending.into_iter().zip(batch) {
                        prop_assert_eq!(pending.wait().unwrap(), acknowledged.len() as u64 + 1);
                        let _outcome = state.apply(&command);
                        acknowledged.push(command);
                    }
                }
                Step::Snapshot => {
                    if let Some(last) = acknowledged.last() {
                        journal.write_snapshot(&state, acknowledged.len() as u64, Ledger::command_time_ns(last)).unwrap();
                    }
                }
                Step::Crash { records, cut_per_mille, hole_bytes, hole } => {
                    journal.close();
                    // Commands of the unfinished write were never acknowledged.
                    let unfinished: Vec<LedgerCommand> = stream.by_ref().take(records).collect();
                    let intact = leave_unfinished_write(dir.path(), acknowledged.len() as u64 + 1, &unfinished, cut_per_mille, hole_bytes, hole);
                    let (reopened, recovered) = Journal::<Ledger>::open(dir.path(), options(), Ledger::default).unwrap();
                    journal = reopened;
                    // Whole records before the damage survive (allowed: nobody was told either
                    // way); nothing at or after the damage does, even if valid.
                    prop_assert_eq!(recovered.last_seq, (acknowledged.len() + intact) as u64);
                    acknowledged.extend_from_slice(&unfinished[..intact]);
                    prop_assert_eq!(&recovered.state, &apply_all(&acknowledged));
                    state = recovered.state;
                }
            }
        }
        journal.close();
        let (_, recovered) = Journal::<Ledger>::open(dir.path(), options(), Ledger::default).unwrap();
        prop_assert_eq!(&recovered.state, &apply_all(&acknowledged));
        let middle = acknowledged.len() / 2;
        let point = state_at::<Ledger>(dir.path(), At::Seq(middle as u64), Ledger::default).unwrap();
        prop_assert_eq!(&point.state, &apply_all(&acknowledged[..middle]));
    }
}
