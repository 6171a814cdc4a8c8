//! The one error type of the journal crate.

use std::path::PathBuf;

/// Everything that can go wrong in the journal. Each variant says what was being done and,
/// where it applies, on which file and at which byte offset.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system call failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The journal on disk is damaged in a way that could lose acknowledged commands: a bad
    /// record followed by valid data, a sequence gap, a bad segment header. Recovery refuses
    /// to start; `fxdesk journal verify` shows the same file and offset.
    #[error("journal corruption in {file} at byte offset {offset}: {reason}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A snapshot file is unusable (bad header, checksum, length, state or hash).
    #[error("bad snapshot {file}: {reason}")]
    BadSnapshot { file: PathBuf, reason: String },

    /// The newest usable snapshot claims a sequence number the journal does not reach; using it
    /// would resurrect state the journal cannot explain.
    #[error(
        "snapshot {file} is at seq {snapshot_seq} but the journal ends at seq {journal_last_seq}"
    )]
    SnapshotBeyondJournal {
        file: PathBuf,
        snapshot_seq: u64,
        journal_last_seq: u64,
    },

    /// A command could not be encoded, or a stored command could not be decoded.
    #[error("cannot {action} command at seq {seq}: {reason}")]
    Codec {
        action: &'static str,
        seq: u64,
        reason: String,
    },

    /// An encoded command is larger than [`crate::MAX_RECORD_PAYLOAD_BYTES`].
    #[error("command of {size_bytes} bytes exceeds the record limit of {limit_bytes} bytes")]
    RecordTooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },

    /// Command timestamps must not go backwards; point-in-time queries by time rely on it.
    #[error(
        "command time {time_ns} ns is before the previous command's time {previous_time_ns} ns"
    )]
    TimeWentBackwards { time_ns: i64, previous_time_ns: i64 },

    /// A write or fsync failed earlier; nothing more is accepted because what reached the disk
    /// is unknown. Restart: recovery decides from what is on disk.
    #[error("journal writer failed earlier and accepts no more commands: {reason}")]
    WriterFailed { reason: String },

    /// Another journal (in this or another process) has the directory open for writing.
    #[error("journal {dir} is already open for writing by another process or handle")]
    Locked { dir: PathBuf },

    /// The journal was closed.
    #[error("journal is closed")]
    Closed,

    /// A snapshot was requested for a sequence number that is not yet durable.
    #[error("cannot snapshot at seq {seq}: only seq {durable_seq} is durable")]
    SnapshotNotDurable { seq: u64, durable_seq: u64 },

    /// A point-in-time query asked for a sequence number past the end of the journal.
    #[error("seq {requested} is past the end of the journal (last seq {last_seq})")]
    PointBeyondJournal { requested: u64, last_seq: u64 },

    /// An option is out of its documented range.
    #[error("invalid journal option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
}

impl JournalError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        JournalError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        JournalError::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;
