//! Snapshot files: atomic write, checked load, newest-usable selection with fallback, pruning.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{self, SnapshotHeader, MAX_SNAPSHOT_PAYLOAD_BYTES, SNAPSHOT_HEADER_BYTES};
use crate::machine::StateMachine;
use crate::segments::list_dir;

/// Largest number of snapshots that may be kept.
pub const MAX_SNAPSHOTS_KEPT: usize = 1000;

/// A snapshot that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSnapshot {
    pub file: PathBuf,
    pub reason: String,
}

/// A snapshot that was loaded and checked.
#[derive(Debug)]
pub struct LoadedSnapshot<S> {
    pub file: PathBuf,
    pub header: SnapshotHeader,
    pub state: S,
}

/// Snapshot files of `dir` as (seq from the name, path), oldest first.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut snapshots: Vec<(u64, PathBuf)> = list_dir(dir)?
        .into_iter()
        .filter_map(|path| format::parse_snapshot_file_name(&path).map(|seq| (seq, path)))
        .collect();
    snapshots.sort_by_key(|(seq, _)| *seq);
    Ok(snapshots)
}

/// Reads a snapshot file and checks its frame (magic, version, length, checksum, name), without
/// decoding the state. Returns the header and the encoded state.
pub fn read_snapshot_file(path: &Path) -> Result<(SnapshotHeader, Vec<u8>)> {
    let bad = |reason: String| JournalError::BadSnapshot {
        file: path.to_path_buf(),
        reason,
    };
    let size = fs::metadata(path)
        .map_err(|error| JournalError::io("stat snapshot", path, error))?
        .len();
    if size > MAX_SNAPSHOT_PAYLOAD_BYTES + SNAPSHOT_HEADER_BYTES as u64 {
        return Err(bad(format!(
            "file of {size} bytes exceeds the snapshot limit"
        )));
    }
    let mut bytes =
        fs::read(path).map_err(|error| JournalError::io("read snapshot", path, error))?;
    let (header, _) = format::parse_snapshot(&bytes).map_err(bad)?;
    if format::parse_snapshot_file_name(path).is_some_and(|seq| seq != header.seq) {
        return Err(bad(format!(
            "header says seq {}, file name disagrees",
            header.seq
        )));
    }
    bytes.drain(..SNAPSHOT_HEADER_BYTES);
    Ok((header, bytes))
}

/// Decodes a snapshot's state and checks it against the stored state hash.
pub fn decode_snapshot_state<S: StateMachine>(
    path: &Path,
    header: &SnapshotHeader,
    payload: &[u8],
) -> Result<S> {
    let bad = |reason: String| JournalError::BadSnapshot {
        file: path.to_path_buf(),
        reason,
    };
    let state: S = match postcard::take_from_bytes::<S>(payload) {
        Ok((state, [])) => state,
        Ok((_, rest)) => {
            return Err(bad(format!(
                "{} trailing bytes after the state",
                rest.len()
            )))
        }
        Err(error) => return Err(bad(format!("state does not decode: {error}"))),
    };
    let hash = state.state_hash();
    if hash != header.state_hash {
        return Err(bad(format!(
            "state hash {hash:#018x} differs from the stored {:#018x}",
            header.state_hash
        )));
    }
    Ok(state)
}

/// Loads and fully checks one snapshot.
pub fn load_snapshot<S: StateMachine>(path: &Path) -> Result<LoadedSnapshot<S>> {
    let (header, payload) = read_snapshot_file(path)?;
    let state = decode_snapshot_state::<S>(path, &header, &payload)?;
    Ok(LoadedSnapshot {
        file: path.to_path_buf(),
        header,
        state,
    })
}

/// The newest snapshot that loads, passes every check and satisfies `wanted`, and the newer ones
/// that were rejected on the way (damaged, or not wanted are skipped silently).
pub fn newest_usable<S: StateMachine>(
    dir: &Path,
    wanted: impl Fn(&SnapshotHeader) -> bool,
) -> Result<(Option<LoadedSnapshot<S>>, Vec<RejectedSnapshot>)> {
    let mut rejected = Vec::new();
    for (_, path) in list_snapshots(dir)?.into_iter().rev() {
        // Check the frame first and decode only a snapshot that is wanted.
        let loaded = read_snapshot_file(&path).and_then(|(header, payload)| {
            if !wanted(&header) {
                return Ok(None);
            }
            let state = decode_snapshot_state::<S>(&path, &header, &payload)?;
            Ok(Some(LoadedSnapshot {
                file: path.clone(),
                header,
                state,
            }))
        });
        match loaded {
            Ok(Some(snapshot)) => return Ok((Some(snapshot), rejected)),
            Ok(None) => {}
            Err(JournalError::BadSnapshot { file, reason }) => {
                rejected.push(RejectedSnapshot { file, reason })
            }
            Err(other) => return Err(other),
        }
    }
    Ok((None, rejected))
}

/// Writes a snapshot atomically: a temp file, fsync, rename over the final name, fsync of the
/// directory. A crash at any point leaves either no snapshot or the whole one.
pub fn write_snapshot_file(
    dir: &Path,
    seq: u64,
    time_ns: i64,
    state_hash: u64,
    payload: &[u8],
) -> Result<PathBuf> {
    if payload.len() as u64 > MAX_SNAPSHOT_PAYLOAD_BYTES {
        return Err(JournalError::BadSnapshot {
            file: dir.join(format::snapshot_file_name(seq)),
            reason: format!(
                "state of {} bytes exceeds the snapshot limit",
                payload.len()
            ),
        });
    }
    let final_path = dir.join(format::snapshot_file_name(seq));
    let temp_path = dir.join(format!(
        "{}{}",
        format::snapshot_file_name(seq),
        format::TEMP_SUFFIX
    ));
    let bytes = format::encode_snapshot(seq, time_ns, state_hash, payload);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp_path)
        .map_err(|error| JournalError::io("create snapshot", &temp_path, error))?;
    file.write_all(&bytes)
        .map_err(|error| JournalError::io("write snapshot", &temp_path, error))?;
    file.sync_all()
        .map_err(|error| JournalError::io("fsync snapshot", &temp_path, error))?;
    drop(file);
    fs::rename(&temp_path, &final_path)
        .map_err(|error| JournalError::io("rename snapshot", &final_path, error))?;
    sync_dir(dir)?;
    Ok(final_path)
}

/// Deletes all but the newest `keep` snapshots.
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<()> {
    let snapshots = list_snapshots(dir)?;
    let excess = snapshots.len().saturating_sub(keep);
    if excess == 0 {
        return Ok(());
    }
    for (_, path) in &snapshots[..excess] {
        fs::remove_file(path)
            .map_err(|error| JournalError::io("remove old snapshot", path, error))?;
    }
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| JournalError::io("fsync directory", dir, error))
}
