//! Read-only tools over a journal directory: verify, decoded record iteration, and the state at
//! any point in time. None of these modify the journal (they open files read-only and leave a
//! torn tail in place, reporting it).

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::SnapshotHeader;
use crate::machine::{decode_command, StateMachine};
use crate::segments::{RecordCursor, TornTail};
use crate::snapshot::{self, RejectedSnapshot};

/// A point in the journal's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After applying every record up to and including this sequence number (0: initial state).
    Seq(u64),
    /// After applying every record whose time is at or before this instant (UTC ns).
    Time(i64),
}

/// The state at a point in time and how it was built.
#[derive(Debug)]
pub struct PointInTime<S> {
    pub state: S,
    /// Sequence number of the last record applied (0 if none).
    pub seq: u64,
    /// Time of that record.
    pub time_ns: Option<i64>,
    /// The snapshot replay started from.
    pub snapshot: Option<PathBuf>,
    /// Damaged snapshots skipped on the way.
    pub rejected_snapshots: Vec<RejectedSnapshot>,
    pub records_replayed: u64,
}

/// The state as it was at `at`: the newest valid snapshot at or before the point, plus replay.
/// A snapshot is only used if it loads and its state hash checks out; otherwise an older one (or
/// `initial_state`) is used. Asking for a seq past the end of the journal is an error; a time past
/// the end gives the latest state.
pub fn state_at<S: StateMachine>(
    dir: &Path,
    at: At,
    initial_state: impl FnOnce() -> S,
) -> Result<PointInTime<S>> {
    let wanted = |header: &SnapshotHeader| match at {
        At::Seq(seq) => header.seq <= seq,
        At::Time(time_ns) => header.time_ns <= time_ns,
    };
    let (snapshot, rejected_snapshots) = snapshot::newest_usable::<S>(dir, wanted)?;
    let (mut state, mut seq, mut time_ns, snapshot_file) = match snapshot {
        Some(loaded) => (
            loaded.state,
            loaded.header.seq,
            Some(loaded.header.time_ns),
            Some(loaded.file),
        ),
        None => (initial_state(), 0, None, None),
    };
    let mut records_replayed = 0;
    let mut cursor = RecordCursor::open(dir, seq + 1)?;
    let mut reached_point = false;
    while let Some(record) = cursor.next_record()? {
        let beyond = match at {
            At::Seq(point) => record.seq > point,
            At::Time(point) => record.time_ns > point,
        };
        if beyond {
            reached_point = true;
            break;
        }
        let command = decode_command::<S>(record.payload, record.seq)?;
        state.apply(&command);
        seq = record.seq;
        time_ns = Some(record.time_ns);
        records_replayed += 1;
    }
    if let At::Seq(point) = at {
        if !reached_point && seq < point {
            return Err(JournalError::PointBeyondJournal {
                requested: point,
                last_seq: cursor.last_seq().max(seq),
            });
        }
    }
    Ok(PointInTime {
        state,
        seq,
        time_ns,
        snapshot: snapshot_file,
        rejected_snapshots,
        records_replayed,
    })
}

/// One stored command, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRecord<C> {
    pub seq: u64,
    pub time_ns: i64,
    pub command: C,
}

/// Iterator over decoded records from a sequence number on; ends after the first error.
pub struct DecodedRecords<S: StateMachine> {
    cursor: RecordCursor,
    done: bool,
    _machine: PhantomData<fn() -> S>,
}

impl<S: StateMachine> DecodedRecords<S> {
    /// The torn tail at the end, once iteration reached it.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.cursor.torn_tail()
    }
}

impl<S: StateMachine> Iterator for DecodedRecords<S> {
    type Item = Result<DecodedRecord<S::Command>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.cursor.next_record() {
            Ok(Some(record)) => {
                decode_command::<S>(record.payload, record.seq).map(|command| DecodedRecord {
                    seq: record.seq,
                    time_ns: record.time_ns,
                    command,
                })
            }
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(error) => Err(error),
        };
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

/// Decoded records of the journal in `dir` with `seq >= from_seq`.
pub fn records<S: StateMachine>(dir: &Path, from_seq: u64) -> Result<DecodedRecords<S>> {
    Ok(DecodedRecords {
        cursor: RecordCursor::open(dir, from_seq)?,
        done: false,
        _machine: PhantomData,
    })
}

/// What `verify` found in one snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCheck {
    pub file: PathBuf,
    pub seq: Option<u64>,
    /// `None` if the frame (magic, version, length, checksum) is good and the seq is within the
    /// journal; otherwise why not. The state itself is not decoded here (that needs the state
    /// type); recovery decodes it and checks its hash.
    pub problem: Option<String>,
}

/// Summary of a journal that passed verification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: u64,
    pub first_time_ns: Option<i64>,
    pub last_time_ns: Option<i64>,
    /// An unacknowledged torn tail that recovery would truncate (left in place here).
    pub torn_tail: Option<TornTail>,
    pub snapshots: Vec<SnapshotCheck>,
}

/// Checks every segment (headers, frames, checksums, sequence continuity, time order) and the
/// frame of every snapshot. Returns [`JournalError::Corruption`] naming file and offset for the
/// first damage that recovery would refuse.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    let mut cursor = RecordCursor::open(dir, 1)?;
    let mut report = VerifyReport {
        segments: cursor.segments().len(),
        ..VerifyReport::default()
    };
    while let Some(record) = cursor.next_record()? {
        report.records += 1;
        if report.first_seq.is_none() {
            report.first_seq = Some(record.seq);
            report.first_time_ns = Some(record.time_ns);
        }
    }
    report.last_seq = cursor.last_seq();
    report.last_time_ns = cursor.last_time_ns();
    report.torn_tail = cursor.torn_tail().cloned();
    for (seq, file) in snapshot::list_snapshots(dir)? {
        let problem = match snapshot::read_snapshot_file(&file) {
            Ok((header, _)) if header.seq > report.last_seq => Some(format!(
                "snapshot at seq {} is beyond the journal's last seq {}",
                header.seq, report.last_seq
            )),
            Ok(_) => None,
            Err(error) => Some(error.to_string()),
        };
        report.snapshots.push(SnapshotCheck {
            file,
            seq: Some(seq),
            problem,
        });
    }
    Ok(report)
}

/// Decodes every stored command as `S::Command` and returns how many there are: finds records
/// whose frame is sound but whose payload the state machine cannot read (written by another
/// command type or version). [`verify`] checks frames only.
pub fn verify_commands<S: StateMachine>(dir: &Path) -> Result<u64> {
    let mut count = 0;
    for record in records::<S>(dir, 1)? {
        record?;
        count += 1;
    }
    Ok(count)
}
