//! Byte layout of segment files, records and snapshot files (all integers little-endian).
//!
//! This module only encodes and parses bytes; it never touches the file system, so every parser
//! here is total: any input gives a value or an error, never a panic.

use std::path::Path;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"FXJRNSEG";
/// Magic bytes at the start of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"FXJRNSNP";
/// Version of the segment and snapshot layouts written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// Segment header: magic (8), version (4), reserved zero (4), first seq (8), crc32c of the
/// previous 24 bytes (4), reserved zero (4).
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Record header: payload length u32, write-unit offset u32, seq u64, time_ns i64.
///
/// The write-unit offset says how many records before this one belong to the same write unit:
/// the records the writer wrote together and made durable with one fdatasync. Recovery uses it to
/// tell an unfinished last write (whose pages may reach the disk in any order, so a valid record
/// can follow a missing one) from damage to data that was already durable.
pub const RECORD_HEADER_BYTES: usize = 24;
/// Record trailer: crc32c over the record header and the payload.
pub const RECORD_TRAILER_BYTES: usize = 4;
/// Bytes a record takes beyond its payload.
pub const RECORD_OVERHEAD_BYTES: usize = RECORD_HEADER_BYTES + RECORD_TRAILER_BYTES;
/// Largest encoded command a record may carry. A larger command is refused at append, and a
/// length field above it on disk is damage, not a reason to allocate.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = 1 << 20;
/// Snapshot header: magic (8), version (4), reserved (4), seq (8), time_ns (8), state hash (8),
/// payload length (8), crc32c over header bytes 0..48 and the payload (4), reserved (4).
pub const SNAPSHOT_HEADER_BYTES: usize = 56;
/// Largest encoded state a snapshot may carry (4 GiB).
pub const MAX_SNAPSHOT_PAYLOAD_BYTES: u64 = 4 << 30;

/// Digits in the zero-padded sequence number of file names (u64::MAX has 20 digits).
const SEQ_DIGITS: usize = 20;
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshot-";
pub(crate) const SNAPSHOT_SUFFIX: &str = ".bin";
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// File name of the segment whose first record has sequence number `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:0SEQ_DIGITS$}{SEGMENT_SUFFIX}")
}

/// File name of the snapshot of the state after applying every record up to `seq`.
pub fn snapshot_file_name(seq: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{seq:0SEQ_DIGITS$}{SNAPSHOT_SUFFIX}")
}

fn parse_seq_digits(digits: &str) -> Option<u64> {
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The first sequence number named by a segment file name, if it is one.
pub fn parse_segment_file_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    parse_seq_digits(name.strip_suffix(SEGMENT_SUFFIX)?)
}

/// The sequence number named by a snapshot file name, if it is one.
pub fn parse_snapshot_file_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    parse_seq_digits(
        name.strip_prefix(SNAPSHOT_PREFIX)?
            .strip_suffix(SNAPSHOT_SUFFIX)?,
    )
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Encodes the header of a segment whose first record will be `first_seq`.
pub fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Parses a segment header and returns the first sequence number it declares.
pub fn parse_segment_header(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err(format!(
            "segment header needs {SEGMENT_HEADER_BYTES} bytes, file has {}",
            bytes.len()
        ));
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err("not a journal segment (bad magic)".to_string());
    }
    let crc_stored = u32_at(bytes, 24);
    if crc32c::crc32c(&bytes[0..24]) != crc_stored {
        return Err("segment header checksum mismatch".to_string());
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    if u32_at(bytes, 12) != 0 || u32_at(bytes, 28) != 0 {
        return Err("reserved segment header bytes are not zero".to_string());
    }
    Ok(u64_at(bytes, 16))
}

/// Appends one framed record to `out`; `unit_offset` is the number of records before it in the
/// same write unit.
pub fn encode_record(out: &mut Vec<u8>, unit_offset: u32, seq: u64, time_ns: i64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_RECORD_PAYLOAD_BYTES);
    debug_assert!(u64::from(unit_offset) < seq);
    let start = out.len();
    // Checked by the caller; the cast cannot truncate below the 1 MiB limit.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&unit_offset.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&time_ns.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A record parsed from a byte buffer; `payload` borrows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Records before this one in its write unit.
    pub unit_offset: u32,
    pub seq: u64,
    pub time_ns: i64,
    pub payload: &'a [u8],
}

/// What was found at one offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole record with a good checksum, and the length it takes.
    Record(RecordRef<'a>, usize),
    /// The buffer ends inside the record (a write cut short, or a damaged length).
    Incomplete,
    /// A length above [`MAX_RECORD_PAYLOAD_BYTES`].
    BadLength(u32),
    /// The checksum does not match.
    BadChecksum,
}

/// Parses the record starting at `bytes[0]`.
pub fn parse_record(bytes: &[u8]) -> Frame<'_> {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Frame::Incomplete;
    }
    let payload_len = u32_at(bytes, 0);
    if payload_len as usize > MAX_RECORD_PAYLOAD_BYTES {
        return Frame::BadLength(payload_len);
    }
    let frame_len = RECORD_OVERHEAD_BYTES + payload_len as usize;
    if bytes.len() < frame_len {
        return Frame::Incomplete;
    }
    let crc_at = frame_len - RECORD_TRAILER_BYTES;
    if crc32c::crc32c(&bytes[..crc_at]) != u32_at(bytes, crc_at) {
        return Frame::BadChecksum;
    }
    let record = RecordRef {
        unit_offset: u32_at(bytes, 4),
        seq: u64_at(bytes, 8),
        time_ns: u64_at(bytes, 16) as i64,
        payload: &bytes[RECORD_HEADER_BYTES..crc_at],
    };
    Frame::Record(record, frame_len)
}

/// The fixed part of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The state is the one after applying every record up to and including this seq.
    pub seq: u64,
    /// Time of the record at `seq` (UTC ns).
    pub time_ns: i64,
    /// [`crate::StateMachine::state_hash`] of the state, checked after decoding.
    pub state_hash: u64,
    pub payload_len: u64,
}

/// Encodes a whole snapshot file: header followed by `payload`.
pub fn encode_snapshot(seq: u64, time_ns: i64, state_hash: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + payload.len());
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&time_ns.to_le_bytes());
    out.extend_from_slice(&state_hash.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let mut crc = crc32c::crc32c(&out[0..48]);
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Parses and checks a whole snapshot file; returns its header and its payload.
pub fn parse_snapshot(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), String> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err(format!(
            "snapshot header needs {SNAPSHOT_HEADER_BYTES} bytes, file has {}",
            bytes.len()
        ));
    }
    if bytes[0..8] != SNAPSHOT_MAGIC {
        return Err("not a snapshot (bad magic)".to_string());
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported snapshot format version {version}"));
    }
    let header = SnapshotHeader {
        seq: u64_at(bytes, 16),
        time_ns: u64_at(bytes, 24) as i64,
        state_hash: u64_at(bytes, 32),
        payload_len: u64_at(bytes, 40),
    };
    if header.payload_len > MAX_SNAPSHOT_PAYLOAD_BYTES {
        return Err(format!(
            "declared state length {} exceeds the limit {MAX_SNAPSHOT_PAYLOAD_BYTES}",
            header.payload_len
        ));
    }
    let body = &bytes[SNAPSHOT_HEADER_BYTES..];
    if body.len() as u64 != header.payload_len {
        return Err(format!(
            "declared state length {} but the file holds {} bytes after the header",
            header.payload_len,
            body.len()
        ));
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[0..48]), body);
    if crc != u32_at(bytes, 48) {
        return Err("snapshot checksum mismatch".to_string());
    }
    if u32_at(bytes, 12) != 0 || u32_at(bytes, 52) != 0 {
        return Err("reserved snapshot header bytes are not zero".to_string());
    }
    Ok((header, body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_detects_every_single_bit_flip() {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 2, 7, -3, b"hello");
        let Frame::Record(record, len) = parse_record(&bytes) else {
            panic!("valid record did not parse");
        };
        assert_eq!(record.unit_offset, 2);
        assert_eq!(
            (record.seq, record.time_ns, record.payload, len),
            (7, -3, &b"hello"[..], bytes.len())
        );
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !matches!(parse_record(&damaged), Frame::Record(..)),
                "bit {bit} flip undetected"
            );
        }
    }

    #[test]
    fn file_names_round_trip_and_reject_lookalikes() {
        let name = segment_file_name(42);
        assert_eq!(name, "00000000000000000042.seg");
        assert_eq!(parse_segment_file_name(Path::new(&name)), Some(42));
        assert_eq!(parse_segment_file_name(Path::new("42.seg")), None);
        assert_eq!(
            parse_segment_file_name(Path::new("0000000000000000004x.seg")),
            None
        );
        let snap = snapshot_file_name(u64::MAX);
        assert_eq!(parse_snapshot_file_name(Path::new(&snap)), Some(u64::MAX));
        assert_eq!(
            parse_snapshot_file_name(Path::new("snapshot-99999999999999999999.bin")),
            None
        );
    }

    #[test]
    fn snapshot_round_trips_and_rejects_damage() {
        let file = encode_snapshot(9, 100, 0xabcd, b"state");
        let (header, body) = parse_snapshot(&file).unwrap();
        assert_eq!(
            header,
            SnapshotHeader {
                seq: 9,
                time_ns: 100,
                state_hash: 0xabcd,
                payload_len: 5
            }
        );
        assert_eq!(body, b"state");
        for at in 0..file.len() {
            let mut damaged = file.clone();
            damaged[at] ^= 0x10;
            assert!(
                parse_snapshot(&damaged).is_err(),
                "byte {at} damage undetected"
            );
        }
        assert!(parse_snapshot(&file[..file.len() - 1]).is_err());
    }

    #[test]
    fn segment_header_round_trips() {
        let header = encode_segment_header(123);
        assert_eq!(parse_segment_header(&header), Ok(123));
        assert!(parse_segment_header(&header[..31]).is_err());
    }
}
