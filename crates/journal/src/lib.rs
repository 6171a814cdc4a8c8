//! Durable, checksummed command journal of fxdesk: group commit, snapshots, recovery, and the
//! state at any point in time. Generic over a deterministic [`StateMachine`] (the dealing engine).
//!
//! **Guarantees.** [`Journal::append`] returns only after the command's record is on disk
//! (`fdatasync`); concurrent appenders share one fsync per group commit. Once acknowledged, a
//! command survives a crash: recovery loads the newest valid snapshot and replays the records
//! after it. A torn tail was never acknowledged and is truncated: bytes at the end of the last
//! segment that are not a whole valid record, followed by nothing valid except records of the same
//! unfinished write (its pages may reach the disk in any order). Damage that could hide
//! acknowledged records makes recovery refuse with [`JournalError::Corruption`] naming the file and
//! byte offset: a bad record followed by a valid record of a later write, damage in any segment but
//! the last, a sequence gap, a bad segment header, time going backwards. A damaged snapshot is
//! skipped in favour of an older one plus replay. Segments are never deleted: the whole history
//! stays replayable for point-in-time queries.
//!
//! **On disk** (all integers little-endian), in one directory:
//! - `<first seq, 20 digits>.seg`: segment files. Header (32 bytes): magic `FXJRNSEG`, version
//!   u32 = 1, reserved u32 = 0, first seq u64, crc32c of the preceding 24 bytes, reserved u32 = 0.
//!   Then records: payload length u32, write-unit offset u32 (how many records before this one
//!   were written and fdatasynced together with it), seq u64, time_ns i64 (UTC), payload (the
//!   command in postcard, at most [`MAX_RECORD_PAYLOAD_BYTES`]), crc32c (Castagnoli) over header
//!   and payload. Seqs are consecutive from 1 across segments; times never decrease. A segment
//!   rolls before a record that would take it past `segment_bytes_max`; new segments appear
//!   atomically (temp file, fsync, rename, fsync of the directory).
//! - `snapshot-<seq, 20 digits>.bin`: the state after every record up to seq. Header (56 bytes):
//!   magic `FXJRNSNP`, version u32 = 1, reserved u32, seq u64, time_ns i64 (of the record at seq),
//!   state hash u64, state length u64, crc32c over header bytes 0..48 and the state, reserved u32;
//!   then the state in postcard. Written atomically; the newest `snapshots_kept` are kept.
//! - `LOCK`: held (advisory `flock`) by the one process that has the journal open for writing.
//!
//! **Encoding.** Commands and states are encoded with `postcard`, which is not self-describing:
//! journaled types must use externally tagged enums (serde's default) and must not use
//! `#[serde(tag = ..)]`, `#[serde(flatten)]` or `skip_serializing_if`.
//!
//! **Never.** The journal never interprets commands (it only stores them; events are derived by
//! replay), never reads a clock (times come from the commands), and its readers ([`verify`],
//! [`records`], [`state_at`]) never modify the directory.

mod durable;
pub mod engine;
mod error;
pub mod format;
mod journal;
mod machine;
mod read;
pub mod sample;
mod segments;
mod snapshot;
mod writer;

pub use durable::Durable;
pub use error::{JournalError, Result};
pub use format::MAX_RECORD_PAYLOAD_BYTES;
pub use journal::{
    Journal, JournalOptions, PendingAppend, Recovered, RecoveryReport, GROUP_COMMIT_RECORDS_LIMIT,
    LOCK_FILE_NAME, MIN_SEGMENT_BYTES, QUEUE_CAPACITY_LIMIT,
};
pub use machine::{decode_command, encoded_command_len, StateMachine};
pub use read::{
    records, state_at, verify, verify_commands, At, DecodedRecord, DecodedRecords, PointInTime,
    SnapshotCheck, VerifyReport,
};
pub use segments::{list_segments, RecordCursor, SegmentFile, TornTail, MAX_SEGMENT_BYTES};
pub use snapshot::{
    list_snapshots, load_snapshot, read_snapshot_file, LoadedSnapshot, RejectedSnapshot,
    MAX_SNAPSHOTS_KEPT,
};
pub use writer::GROUP_COMMIT_BYTES_MAX;
