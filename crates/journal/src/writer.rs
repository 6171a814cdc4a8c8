//! The group-commit writer: one thread owns the open segment; appenders queue records to it.
//!
//! Each round the writer takes what is queued (up to the batch limits), writes it with one
//! `write`, makes it durable with one `fdatasync`, and only then acknowledges every record of
//! the round. After any write or sync error it acknowledges nothing more: the page cache may
//! have dropped the data, so only a restart (recovery from what is on disk) can tell.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{JournalError, Result};
use crate::format::{self, RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES};
use crate::snapshot::sync_dir;

/// Upper bound on the bytes written by one group commit (16 MiB). A round stops taking queued
/// records once it reaches this, so a burst cannot make one write unbounded.
pub const GROUP_COMMIT_BYTES_MAX: usize = 16 << 20;

/// Where an acknowledgement goes.
pub(crate) enum Reply {
    Channel(std::sync::mpsc::SyncSender<Result<u64>>),
    Callback(Box<dyn FnOnce(Result<u64>) + Send>),
}

impl Reply {
    fn send(self, outcome: Result<u64>) {
        match self {
            // The appender may have stopped waiting; the record is durable either way.
            Reply::Channel(sender) => {
                let _ = sender.send(outcome);
            }
            // A panicking callback must not take the writer (and every later append) down.
            Reply::Callback(callback) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    callback(outcome)
                }));
            }
        }
    }
}

pub(crate) struct AppendRequest {
    pub seq: u64,
    pub time_ns: i64,
    pub payload: Vec<u8>,
    pub reply: Reply,
}

/// State the writer shares with the appenders.
#[derive(Default)]
pub(crate) struct Shared {
    /// Highest sequence number known to be durable.
    pub durable_seq: AtomicU64,
    /// Set once by the writer when a write or sync failed.
    pub failure: Mutex<Option<String>>,
    /// Group commits done (one fdatasync each, plus one per segment roll).
    pub group_commits: AtomicU64,
}

impl Shared {
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_failure(&self, reason: String) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }
}

/// The open segment the writer appends to.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    size_bytes: u64,
    segment_bytes_max: u64,
}

impl SegmentWriter {
    /// Creates the segment whose first record is `first_seq`, atomically: the header is written
    /// and synced under a temp name, then renamed and the directory synced, so a segment file
    /// never exists without a whole header.
    pub fn create(dir: &Path, first_seq: u64, segment_bytes_max: u64) -> Result<Self> {
        let path = dir.join(format::segment_file_name(first_seq));
        let temp_path = dir.join(format!(
            "{}{}",
            format::segment_file_name(first_seq),
            format::TEMP_SUFFIX
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)
            .map_err(|error| JournalError::io("create segment", &temp_path, error))?;
        file.write_all(&format::encode_segment_header(first_seq))
            .map_err(|error| JournalError::io("write segment header", &temp_path, error))?;
        file.sync_all()
            .map_err(|error| JournalError::io("fsync segment", &temp_path, error))?;
        fs::rename(&temp_path, &path)
            .map_err(|error| JournalError::io("rename segment", &path, error))?;
        sync_dir(dir)?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            path,
            file,
            size_bytes: SEGMENT_HEADER_BYTES as u64,
            segment_bytes_max,
        })
    }

    /// Opens an existing, already checked segment for appending at its end.
    pub fn open_existing(dir: &Path, path: &Path, segment_bytes_max: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|error| JournalError::io("open segment for append", path, error))?;
        let size_bytes = file
            .metadata()
            .map_err(|error| JournalError::io("stat segment", path, error))?
            .len();
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            path: path.to_path_buf(),
            file,
            size_bytes,
            segment_bytes_max,
        })
    }

    fn flush(&mut self, buffer: &mut Vec<u8>) -> Result<()> {
        if buffer.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(buffer)
            .map_err(|error| JournalError::io("append to segment", &self.path, error))?;
        self.file
            .sync_data()
            .map_err(|error| JournalError::io("fdatasync segment", &self.path, error))?;
        self.size_bytes += buffer.len() as u64;
        buffer.clear();
        Ok(())
    }

    /// Writes and syncs a batch. Rolls to a new segment before a record that would take the
    /// current one past its configured size (a segment always holds at least one record).
    fn write_batch(&mut self, batch: &[AppendRequest], buffer: &mut Vec<u8>) -> Result<()> {
        buffer.clear();
        let mut unit_offset: u32 = 0;
        for request in batch {
            let frame_bytes = (RECORD_OVERHEAD_BYTES + request.payload.len()) as u64;
            let filled = self.size_bytes + buffer.len() as u64;
            if filled > SEGMENT_HEADER_BYTES as u64 && filled + frame_bytes > self.segment_bytes_max
            {
                self.flush(buffer)?;
                *self = SegmentWriter::create(&self.dir, request.seq, self.segment_bytes_max)?;
                unit_offset = 0;
            }
            format::encode_record(
                buffer,
                unit_offset,
                request.seq,
                request.time_ns,
                &request.payload,
            );
            // A unit holds at most one batch, whose length is bounded far below u32::MAX.
            unit_offset += 1;
        }
        self.flush(buffer)
    }
}

/// The writer thread's loop; returns when every appender handle is gone.
pub(crate) fn run_writer(
    mut segment: SegmentWriter,
    requests: Receiver<AppendRequest>,
    shared: Arc<Shared>,
    batch_records_max: usize,
) {
    let mut batch: Vec<AppendRequest> = Vec::with_capacity(batch_records_max);
    let mut buffer: Vec<u8> = Vec::new();
    let mut failure: Option<String> = None;
    while let Ok(first) = requests.recv() {
        let mut batch_bytes = RECORD_OVERHEAD_BYTES + first.payload.len();
        batch.push(first);
        while batch.len() < batch_records_max && batch_bytes < GROUP_COMMIT_BYTES_MAX {
            match requests.try_recv() {
                Ok(request) => {
                    batch_bytes += RECORD_OVERHEAD_BYTES + request.payload.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        if failure.is_none() {
            let expected_first = shared.durable_seq.load(Ordering::Acquire) + 1;
            debug_assert_eq!(
                batch[0].seq, expected_first,
                "records reach the writer in seq order"
            );
            match segment.write_batch(&batch, &mut buffer) {
                Ok(()) => {
                    let last_seq = batch[batch.len() - 1].seq;
                    shared.durable_seq.store(last_seq, Ordering::Release);
                    shared.group_commits.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    let reason = error.to_string();
                    shared.set_failure(reason.clone());
                    failure = Some(reason);
                }
            }
        }
        for request in batch.drain(..) {
            let outcome = match &failure {
                None => Ok(request.seq),
                Some(reason) => Err(JournalError::WriterFailed {
                    reason: reason.clone(),
                }),
            };
            request.reply.send(outcome);
        }
    }
}
