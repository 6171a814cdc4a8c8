//! The durable journal: open with recovery, append with group commit, snapshots.

use std::fs::{self, File, OpenOptions};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::error::{JournalError, Result};
use crate::format::{self, MAX_RECORD_PAYLOAD_BYTES};
use crate::machine::{decode_command, encode_command, StateMachine};
use crate::segments::{self, RecordCursor, TornTail, MAX_SEGMENT_BYTES};
use crate::snapshot::{self, RejectedSnapshot, MAX_SNAPSHOTS_KEPT};
use crate::writer::{self, AppendRequest, Reply, SegmentWriter, Shared};

/// Largest number of records one group commit may take.
pub const GROUP_COMMIT_RECORDS_LIMIT: usize = 65_536;
/// Largest number of records that may wait in the writer's queue.
pub const QUEUE_CAPACITY_LIMIT: usize = 1 << 20;
/// Smallest allowed segment size.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

/// Tunables of a journal; [`JournalOptions::default`] suits the dealing engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    /// A new segment starts before a record that would take the current one past this size.
    /// Between [`MIN_SEGMENT_BYTES`] and [`MAX_SEGMENT_BYTES`]; default 64 MiB.
    pub segment_bytes_max: u64,
    /// Most records made durable by one fdatasync; 1 ..= [`GROUP_COMMIT_RECORDS_LIMIT`];
    /// default 4096. (Bytes per group commit are bounded by [`writer::GROUP_COMMIT_BYTES_MAX`].)
    pub group_commit_records_max: usize,
    /// Records that may wait for the writer before appenders block; 1 ..= [`QUEUE_CAPACITY_LIMIT`];
    /// default 16384.
    pub queue_capacity: usize,
    /// [`Journal::snapshot_due`] turns true every this many commands; 0 turns periodic
    /// snapshots off. Default 1,000,000.
    pub snapshot_every_commands: u64,
    /// Snapshots kept after a new one is written; 1 ..= [`MAX_SNAPSHOTS_KEPT`]; default 3.
    pub snapshots_kept: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes_max: 64 << 20,
            group_commit_records_max: 4096,
            queue_capacity: 16_384,
            snapshot_every_commands: 1_000_000,
            snapshots_kept: 3,
        }
    }
}

impl JournalOptions {
    /// Checks every option against its documented range.
    pub fn validate(&self) -> Result<()> {
        fn invalid(name: &'static str, reason: String) -> Result<()> {
            Err(JournalError::InvalidOption { name, reason })
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes_max) {
            return invalid(
                "segment_bytes_max",
                format!(
                    "{} is outside {MIN_SEGMENT_BYTES}..={MAX_SEGMENT_BYTES}",
                    self.segment_bytes_max
                ),
            );
        }
        if !(1..=GROUP_COMMIT_RECORDS_LIMIT).contains(&self.group_commit_records_max) {
            return invalid(
                "group_commit_records_max",
                format!(
                    "{} is outside 1..={GROUP_COMMIT_RECORDS_LIMIT}",
                    self.group_commit_records_max
                ),
            );
        }
        if !(1..=QUEUE_CAPACITY_LIMIT).contains(&self.queue_capacity) {
            return invalid(
                "queue_capacity",
                format!(
                    "{} is outside 1..={QUEUE_CAPACITY_LIMIT}",
                    self.queue_capacity
                ),
            );
        }
        if !(1..=MAX_SNAPSHOTS_KEPT).contains(&self.snapshots_kept) {
            return invalid(
                "snapshots_kept",
                format!(
                    "{} is outside 1..={MAX_SNAPSHOTS_KEPT}",
                    self.snapshots_kept
                ),
            );
        }
        Ok(())
    }
}

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryReport {
    /// The snapshot recovery started from (None: from the initial state).
    pub snapshot: Option<PathBuf>,
    /// Sequence number of that snapshot (0 without one).
    pub snapshot_seq: u64,
    /// Newer snapshots that were damaged and skipped (the fallback), newest first.
    pub rejected_snapshots: Vec<RejectedSnapshot>,
    /// Records applied on top of the snapshot.
    pub records_replayed: u64,
    /// The torn tail that was cut off, if any.
    pub truncated_tail: Option<TornTail>,
    /// Temp files of interrupted snapshot or segment creations that were removed.
    pub removed_temp_files: Vec<PathBuf>,
}

/// The state rebuilt by [`Journal::open`].
#[derive(Debug)]
pub struct Recovered<S> {
    pub state: S,
    /// Sequence number of the last durable record (0 for an empty journal).
    pub last_seq: u64,
    /// Time of that record, if there is one.
    pub last_time_ns: Option<i64>,
    pub report: RecoveryReport,
}

struct Sequencer {
    next_seq: u64,
    last_time_ns: Option<i64>,
    sender: Option<SyncSender<AppendRequest>>,
}

/// An append whose sequence number is fixed and whose durability is pending.
#[derive(Debug)]
pub struct PendingAppend {
    seq: u64,
    receiver: Receiver<Result<u64>>,
}

impl PendingAppend {
    /// The sequence number the command will have once durable. Commands must be applied to the
    /// live state in this order, which is the order replay will use.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Blocks until the command is durable (or the writer failed).
    pub fn wait(self) -> Result<u64> {
        self.receiver.recv().unwrap_or(Err(JournalError::Closed))
    }
}

/// An open journal directory: the only writer of its segment files.
///
/// `Journal` is `Sync`: many threads may append at once. Sequence numbers are assigned in the
/// order appends are accepted, and records reach the disk in that order.
pub struct Journal<S: StateMachine> {
    dir: PathBuf,
    options: JournalOptions,
    sequencer: Mutex<Sequencer>,
    shared: Arc<Shared>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    last_snapshot_seq: AtomicU64,
    snapshot_writer: Mutex<()>,
    /// Held while open so a second writer cannot open the same directory.
    _lock: File,
    _machine: PhantomData<fn() -> S>,
}

impl<S: StateMachine> Journal<S> {
    /// Opens (creating if needed) the journal in `dir` and recovers the state: the newest valid
    /// snapshot (falling back past damaged ones) plus replay of the records after it. A torn tail
    /// is truncated; corruption is refused with [`JournalError::Corruption`].
    pub fn open(
        dir: &Path,
        options: JournalOptions,
        initial_state: impl FnOnce() -> S,
    ) -> Result<(Self, Recovered<S>)> {
        options.validate()?;
        fs::create_dir_all(dir)
            .map_err(|error| JournalError::io("create journal directory", dir, error))?;
        let lock = lock_dir(dir)?;
        let mut report = RecoveryReport {
            removed_temp_files: remove_temp_files(dir)?,
            ..RecoveryReport::default()
        };

        let (snapshot, rejected) = snapshot::newest_usable::<S>(dir, |_| true)?;
        report.rejected_snapshots = rejected;
        let (mut state, snapshot_seq, snapshot_time_ns) = match snapshot {
            Some(loaded) => {
                report.snapshot = Some(loaded.file);
                (loaded.state, loaded.header.seq, Some(loaded.header.time_ns))
            }
            None => (initial_state(), 0, None),
        };
        report.snapshot_seq = snapshot_seq;

        let segment_files = segments::list_segments(dir)?;
        let mut cursor = RecordCursor::over(segment_files.clone(), snapshot_seq + 1)?;
        while let Some(record) = cursor.next_record()? {
            let command = decode_command::<S>(record.payload, record.seq)?;
            state.apply(&command);
            report.records_replayed += 1;
        }
        let last_seq = cursor.last_seq();
        if last_seq < snapshot_seq {
            return Err(JournalError::SnapshotBeyondJournal {
                file: report.snapshot.clone().unwrap_or_default(),
                snapshot_seq,
                journal_last_seq: last_seq,
            });
        }
        let last_time_ns = cursor.last_time_ns().or(snapshot_time_ns);
        if let Some(torn) = cursor.torn_tail() {
            truncate_segment(&torn.file, torn.offset)?;
            report.truncated_tail = Some(torn.clone());
        }
        drop(cursor);

        let segment = match segment_files.last() {
            Some(last) => SegmentWriter::open_existing(dir, &last.path, options.segment_bytes_max)?,
            None => SegmentWriter::create(dir, 1, options.segment_bytes_max)?,
        };
        let shared = Arc::new(Shared::default());
        shared.durable_seq.store(last_seq, Ordering::Release);
        let (sender, receiver) = mpsc::sync_channel(options.queue_capacity);
        let writer_shared = Arc::clone(&shared);
        let batch_records_max = options.group_commit_records_max;
        let writer_thread = std::thread::Builder::new()
            .name("fxdesk-journal-writer".to_string())
            .spawn(move || writer::run_writer(segment, receiver, writer_shared, batch_records_max))
            .map_err(|error| JournalError::io("spawn journal writer thread", dir, error))?;

        let journal = Journal {
            dir: dir.to_path_buf(),
            options,
            sequencer: Mutex::new(Sequencer {
                next_seq: last_seq + 1,
                last_time_ns,
                sender: Some(sender),
            }),
            shared,
            writer_thread: Mutex::new(Some(writer_thread)),
            last_snapshot_seq: AtomicU64::new(snapshot_seq),
            snapshot_writer: Mutex::new(()),
            _lock: lock,
            _machine: PhantomData,
        };
        let recovered = Recovered {
            state,
            last_seq,
            last_time_ns,
            report,
        };
        Ok((journal, recovered))
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the journal was opened with.
    pub fn options(&self) -> &JournalOptions {
        &self.options
    }

    /// Highest sequence number that is durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Number of group commits so far (each made a batch durable with one fdatasync).
    pub fn group_commits(&self) -> u64 {
        self.shared.group_commits.load(Ordering::Relaxed)
    }

    /// Appends a command and blocks until it is durable; returns its sequence number.
    /// Safe to call from many threads at once: their commands share fsyncs.
    pub fn append(&self, command: &S::Command) -> Result<u64> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let seq = self.enqueue(command, Reply::Channel(sender))?;
        PendingAppend { seq, receiver }.wait()
    }

    /// Queues a command and returns at once with its sequence number fixed; the caller applies it
    /// to the live state in sequence order and answers its client after [`PendingAppend::wait`].
    pub fn submit(&self, command: &S::Command) -> Result<PendingAppend> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let seq = self.enqueue(command, Reply::Channel(sender))?;
        Ok(PendingAppend { seq, receiver })
    }

    /// Like [`Journal::submit`], but `on_durable` is called (on the writer thread) with the
    /// outcome. This is the bridge to async code: send on a `tokio::sync::oneshot` inside it.
    /// `on_durable` must be quick and must not block: it delays the next group commit. A panic in
    /// it is caught and does not affect the journal.
    pub fn submit_with(
        &self,
        command: &S::Command,
        on_durable: impl FnOnce(Result<u64>) + Send + 'static,
    ) -> Result<u64> {
        self.enqueue(command, Reply::Callback(Box::new(on_durable)))
    }

    fn enqueue(&self, command: &S::Command, reply: Reply) -> Result<u64> {
        let time_ns = S::command_time_ns(command);
        // Encoding happens before the lock so appenders encode in parallel.
        let payload = encode_command::<S>(command, 0)?;
        if payload.len() > MAX_RECORD_PAYLOAD_BYTES {
            return Err(JournalError::RecordTooLarge {
                size_bytes: payload.len(),
                limit_bytes: MAX_RECORD_PAYLOAD_BYTES,
            });
        }
        let mut sequencer = self
            .sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(reason) = self.shared.failure() {
            return Err(JournalError::WriterFailed { reason });
        }
        if let Some(previous_time_ns) = sequencer.last_time_ns {
            if time_ns < previous_time_ns {
                return Err(JournalError::TimeWentBackwards {
                    time_ns,
                    previous_time_ns,
                });
            }
        }
        let seq = sequencer.next_seq;
        let sender = sequencer.sender.as_ref().ok_or(JournalError::Closed)?;
        // Sending under the lock keeps the queue in seq order; a full queue blocks here, which
        // is the back-pressure on appenders.
        sender
            .send(AppendRequest {
                seq,
                time_ns,
                payload,
                reply,
            })
            .map_err(|_| JournalError::Closed)?;
        sequencer.next_seq += 1;
        sequencer.last_time_ns = Some(time_ns);
        Ok(seq)
    }

    /// True when `applied_seq` is at least `snapshot_every_commands` past the last snapshot.
    pub fn snapshot_due(&self, applied_seq: u64) -> bool {
        let every = self.options.snapshot_every_commands;
        every > 0
            && applied_seq
                >= self
                    .last_snapshot_seq
                    .load(Ordering::Acquire)
                    .saturating_add(every)
    }

    /// Writes a snapshot of `state`, which must be the state after applying every record up to
    /// `seq` (whose time is `time_ns`), then keeps only the newest `snapshots_kept`. `seq` must be
    /// durable already: a snapshot must never contain a command the journal could lose.
    pub fn write_snapshot(&self, state: &S, seq: u64, time_ns: i64) -> Result<PathBuf> {
        let durable_seq = self.durable_seq();
        if seq > durable_seq || seq == 0 {
            return Err(JournalError::SnapshotNotDurable { seq, durable_seq });
        }
        let payload = postcard::to_allocvec(state).map_err(|error| JournalError::BadSnapshot {
            file: self.dir.join(format::snapshot_file_name(seq)),
            reason: format!("state does not encode: {error}"),
        })?;
        let _one_writer = self
            .snapshot_writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path =
            snapshot::write_snapshot_file(&self.dir, seq, time_ns, state.state_hash(), &payload)?;
        snapshot::prune_snapshots(&self.dir, self.options.snapshots_kept)?;
        self.last_snapshot_seq.fetch_max(seq, Ordering::AcqRel);
        Ok(path)
    }

    /// Stops accepting commands, lets the writer finish what is queued, and joins it.
    pub fn close(self) {
        self.shutdown();
    }

    fn shutdown(&self) {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sender = None;
        let handle = self
            .writer_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // A panicking writer already failed every pending append; nothing to add here.
            let _ = handle.join();
        }
    }
}

impl<S: StateMachine> Drop for Journal<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Name of the lock file in a journal directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// Takes the directory's advisory lock (released when the process exits, even by a crash).
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| JournalError::io("open lock file", &path, error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(JournalError::io("lock journal directory", &path, error))
        }
    }
}

fn remove_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in segments::list_dir(dir)? {
        let is_temp = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| {
                name.strip_suffix(format::TEMP_SUFFIX).is_some_and(|stem| {
                    format::parse_segment_file_name(Path::new(stem)).is_some()
                        || format::parse_snapshot_file_name(Path::new(stem)).is_some()
                })
            });
        if is_temp {
            fs::remove_file(&path)
                .map_err(|error| JournalError::io("remove temp file", &path, error))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn truncate_segment(path: &Path, length: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| JournalError::io("open segment to truncate torn tail", path, error))?;
    file.set_len(length)
        .map_err(|error| JournalError::io("truncate torn tail", path, error))?;
    file.sync_all()
        .map_err(|error| JournalError::io("fsync truncated segment", path, error))
}
