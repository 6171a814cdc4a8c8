//! Reading segment files: listing them, and a cursor over their records that checks frames,
//! checksums, sequence continuity and time order, and tells a torn tail from corruption.
//!
//! Nothing here writes: readers (verify, inspect, state-at) never modify the journal. Recovery
//! uses the same cursor and does the truncation itself.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{
    self, Frame, RecordRef, MAX_RECORD_PAYLOAD_BYTES, RECORD_OVERHEAD_BYTES, SEGMENT_HEADER_BYTES,
};

/// Largest segment size the writer may be configured to (1 GiB). A segment is read whole into
/// memory, so this also bounds the reader's memory.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// A segment may exceed its configured size by one record (a record never straddles segments).
const MAX_SEGMENT_FILE_BYTES: u64 = MAX_SEGMENT_BYTES
    + (SEGMENT_HEADER_BYTES + RECORD_OVERHEAD_BYTES + MAX_RECORD_PAYLOAD_BYTES) as u64;

/// A segment file and the first sequence number its name declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub first_seq: u64,
}

/// The end of the last segment holds bytes that are not a whole valid record, and nothing valid
/// follows them: a write that was cut short, so never acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Where the valid records end (the length the file is truncated to).
    pub offset: u64,
    /// How many bytes follow that offset.
    pub bytes: u64,
}

/// Segment files of `dir`, ordered by first sequence number. A missing directory is an empty
/// journal.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>> {
    let mut segments = Vec::new();
    for path in list_dir(dir)? {
        if let Some(first_seq) = format::parse_segment_file_name(&path) {
            segments.push(SegmentFile { path, first_seq });
        }
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(JournalError::io("list directory", dir, error)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| JournalError::io("list directory", dir, error))?;
        paths.push(entry.path());
    }
    Ok(paths)
}

/// A record located in the current segment.
struct Found {
    unit_offset: u32,
    seq: u64,
    time_ns: i64,
    payload_start: usize,
    payload_end: usize,
}

struct LoadedSegment {
    path: PathBuf,
    bytes: Vec<u8>,
    position: usize,
    is_last: bool,
}

/// Walks the records of a journal in sequence order, starting at a given sequence number.
///
/// Yields borrowed records through [`RecordCursor::next_record`] (no allocation per record, which
/// is what makes replay fast). Stops with `Ok(None)` at the end of the journal or at a torn tail
/// (then [`RecordCursor::torn_tail`] says where); returns [`JournalError::Corruption`] for
/// anything that could hide acknowledged commands.
pub struct RecordCursor {
    segments: Vec<SegmentFile>,
    next_segment: usize,
    current: Option<LoadedSegment>,
    expected_seq: u64,
    from_seq: u64,
    last_seq: u64,
    last_time_ns: Option<i64>,
    torn_tail: Option<TornTail>,
    failed: bool,
}

impl RecordCursor {
    /// A cursor over the journal in `dir` that yields records with `seq >= from_seq`.
    /// Records before `from_seq` in the same segment are still checked, but not yielded.
    pub fn open(dir: &Path, from_seq: u64) -> Result<Self> {
        let segments = list_segments(dir)?;
        Self::over(segments, from_seq)
    }

    pub(crate) fn over(segments: Vec<SegmentFile>, from_seq: u64) -> Result<Self> {
        let from_seq = from_seq.max(1);
        let start = segments
            .iter()
            .rposition(|segment| segment.first_seq <= from_seq)
            .unwrap_or(0);
        let mut expected_seq = 1;
        if let Some(first) = segments.get(start) {
            if first.first_seq > from_seq {
                return Err(JournalError::corruption(
                    &first.path,
                    0,
                    format!(
                        "journal segments start at seq {} but seq {from_seq} is needed",
                        first.first_seq
                    ),
                ));
            }
            expected_seq = first.first_seq;
        }
        Ok(RecordCursor {
            segments,
            next_segment: start,
            current: None,
            expected_seq,
            from_seq,
            last_seq: expected_seq - 1,
            last_time_ns: None,
            torn_tail: None,
            failed: false,
        })
    }

    /// Sequence number of the last valid record seen so far (0 if none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Time of the last valid record seen so far.
    pub fn last_time_ns(&self) -> Option<i64> {
        self.last_time_ns
    }

    /// The torn tail found at the end, if the cursor has reached it.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn_tail.as_ref()
    }

    /// The segment files this cursor walks (from its starting segment on).
    pub fn segments(&self) -> &[SegmentFile] {
        &self.segments
    }

    /// The next record, `Ok(None)` at the end (or at a torn tail).
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        if self.failed {
            return Ok(None);
        }
        match self.advance() {
            Ok(Some(found)) => {
                // `advance` found the record in the current segment; borrow it only now, after
                // all mutation, so the returned payload can point into the segment's bytes.
                let Some(segment) = self.current.as_ref() else {
                    return Ok(None);
                };
                Ok(Some(RecordRef {
                    unit_offset: found.unit_offset,
                    seq: found.seq,
                    time_ns: found.time_ns,
                    payload: &segment.bytes[found.payload_start..found.payload_end],
                }))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.failed = true;
                Err(error)
            }
        }
    }

    /// Moves to the next record to yield; returns its seq, time and payload range in the
    /// current segment.
    fn advance(&mut self) -> Result<Option<Found>> {
        loop {
            if self.current.is_none() {
                if self.next_segment >= self.segments.len() || self.torn_tail.is_some() {
                    return Ok(None);
                }
                let index = self.next_segment;
                self.next_segment += 1;
                self.current = Some(self.load_segment(index)?);
            }
            let Some(segment) = self.current.as_mut() else {
                continue;
            };
            if segment.position == segment.bytes.len() {
                self.current = None;
                continue;
            }
            let offset = segment.position;
            let (unit_offset, seq, time_ns, frame_len) =
                match format::parse_record(&segment.bytes[offset..]) {
                    Frame::Record(record, frame_len) => {
                        (record.unit_offset, record.seq, record.time_ns, frame_len)
                    }
                    damaged => {
                        let torn = judge_damage(segment, offset, &damaged, self.expected_seq)?;
                        self.torn_tail = Some(torn);
                        self.current = None;
                        return Ok(None);
                    }
                };
            if seq != self.expected_seq {
                return Err(JournalError::corruption(
                    &segment.path,
                    offset as u64,
                    format!(
                        "expected seq {}, found a valid record with seq {seq}",
                        self.expected_seq
                    ),
                ));
            }
            if let Some(previous_time_ns) = self.last_time_ns {
                if time_ns < previous_time_ns {
                    return Err(JournalError::corruption(
                        &segment.path,
                        offset as u64,
                        format!(
                            "record seq {seq} time {time_ns} ns is before the previous record's {previous_time_ns} ns"
                        ),
                    ));
                }
            }
            segment.position += frame_len;
            self.expected_seq += 1;
            self.last_seq = seq;
            self.last_time_ns = Some(time_ns);
            if seq >= self.from_seq {
                let payload_start = offset + format::RECORD_HEADER_BYTES;
                let payload_end = offset + frame_len - format::RECORD_TRAILER_BYTES;
                return Ok(Some(Found {
                    unit_offset,
                    seq,
                    time_ns,
                    payload_start,
                    payload_end,
                }));
            }
        }
    }

    fn load_segment(&self, index: usize) -> Result<LoadedSegment> {
        let segment = &self.segments[index];
        let is_last = index + 1 == self.segments.len();
        if segment.first_seq != self.expected_seq {
            return Err(JournalError::corruption(
                &segment.path,
                0,
                format!(
                    "segment starts at seq {} but the previous segment ends before seq {}",
                    segment.first_seq, self.expected_seq
                ),
            ));
        }
        let size = fs::metadata(&segment.path)
            .map_err(|error| JournalError::io("stat segment", &segment.path, error))?
            .len();
        if size > MAX_SEGMENT_FILE_BYTES {
            return Err(JournalError::corruption(
                &segment.path,
                0,
                format!("segment of {size} bytes exceeds the limit of {MAX_SEGMENT_FILE_BYTES}"),
            ));
        }
        let bytes = fs::read(&segment.path)
            .map_err(|error| JournalError::io("read segment", &segment.path, error))?;
        let declared = format::parse_segment_header(&bytes)
            .map_err(|reason| JournalError::corruption(&segment.path, 0, reason))?;
        if declared != segment.first_seq {
            return Err(JournalError::corruption(
                &segment.path,
                0,
                format!(
                    "header declares first seq {declared}, file name says {}",
                    segment.first_seq
                ),
            ));
        }
        Ok(LoadedSegment {
            path: segment.path.clone(),
            bytes,
            position: SEGMENT_HEADER_BYTES,
            is_last,
        })
    }
}

/// Decides whether damage at `offset` is a torn tail (returned) or corruption (error).
///
/// The damaged record would have carried `expected_seq`. Valid records after it prove the damage
/// hit durable data only if they come from a later write unit: the writer starts a unit only after
/// the previous one was fsynced. Valid records of the damaged record's own unit prove nothing, since
/// an unfinished write may reach the disk out of order; they are part of the torn tail.
fn judge_damage(
    segment: &LoadedSegment,
    offset: usize,
    damaged: &Frame<'_>,
    expected_seq: u64,
) -> Result<TornTail> {
    let what = match damaged {
        Frame::Incomplete => "record cut short".to_string(),
        Frame::BadLength(length) => format!("record length {length} exceeds the limit"),
        Frame::BadChecksum => "record checksum mismatch".to_string(),
        Frame::Record(..) => "valid record".to_string(),
    };
    if !segment.is_last {
        return Err(JournalError::corruption(
            &segment.path,
            offset as u64,
            format!("{what} (seq {expected_seq} expected) in a segment that is followed by another segment"),
        ));
    }
    if let Some((valid_at, valid_seq)) =
        later_durable_record(&segment.bytes, offset + 1, expected_seq)
    {
        return Err(JournalError::corruption(
            &segment.path,
            offset as u64,
            format!(
                "{what} (seq {expected_seq} expected), followed by a valid record (seq {valid_seq}) at offset {valid_at} written after it was durable"
            ),
        ));
    }
    Ok(TornTail {
        file: segment.path.clone(),
        offset: offset as u64,
        bytes: (segment.bytes.len() - offset) as u64,
    })
}

/// The first valid record at or after `from` that is not part of the write unit holding
/// `expected_seq`: its offset and seq.
fn later_durable_record(bytes: &[u8], from: usize, expected_seq: u64) -> Option<(usize, u64)> {
    let last_start = bytes.len().checked_sub(RECORD_OVERHEAD_BYTES)?;
    (from..=last_start).find_map(|at| match format::parse_record(&bytes[at..]) {
        Frame::Record(record, _) => {
            let unit_first_seq = record.seq.checked_sub(u64::from(record.unit_offset));
            let same_unit = record.seq >= expected_seq
                && unit_first_seq.is_some_and(|first| first <= expected_seq);
            (!same_unit).then_some((at, record.seq))
        }
        _ => None,
    })
}
