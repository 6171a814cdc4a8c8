//! The price-jump guard's flag file, `DATA_DIR/price-guard/flags.jsonl`: written by the server's
//! guard (`fxdesk_server::reopening::guard`), read by the plan as the evidence that a journaled
//! quote was off-market.
//!
//! # Format
//!
//! Append-only, one JSON object per line, each ending in `\n`; the field `record` says what it
//! is:
//!
//! - `"flag"`: a quote the guard held, written when it is held and again, whole, whenever its
//!   outcome changes (`held` -> `confirmed` / `discarded`; `confirmed` -> `reverted` /
//!   `off_market`). The last line for an id wins. `applied_from_ns` is the source time of the
//!   quote that applied the confirmed level (the first quote at the bad level that reached the
//!   engine).
//! - `"off_market"`: applied quotes of one instrument that were off-market: every journaled
//!   quote of `instrument` whose `source_time_ns` is in `[from_ns, until_ns)`. `by` says who
//!   decided: `reverted` (the guard saw the market come back to the level before the jump
//!   within its revert window) or `operator` (marked by hand, with the user and a reason).
//!
//! Times are the quotes' own source times (`CommandKind::Quote::source_time_ns`), which the
//! sequencer journals unchanged, so a span names journaled quotes exactly.
//!
//! # Damage
//!
//! A last line without its `\n` is a torn write (the server stopped mid-line): [`read`] skips
//! it and says so, and the server truncates it when it opens the file again. Any other line
//! that does not parse is corruption: [`read`] refuses the file, naming the line, because the
//! plan cannot tell which quotes that line marked.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use fxdesk_engine::{InstrumentId, Price, TimeNs};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BackfillError;

/// Where the file lives under the data directory.
pub const FLAGS_FILE: &str = "price-guard/flags.jsonl";
/// Largest flag file read (a guard holding a quote a second for a year writes about 10 GB;
/// far beyond anything the plan should trust without a person looking first).
pub const FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Longest line written or read.
pub const LINE_BYTES_MAX: usize = 4096;
/// Longest operator reason kept, in bytes.
pub const REASON_BYTES_MAX: usize = 200;

/// The flag file of a data directory.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FLAGS_FILE)
}

/// What became of a held quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still waiting for confirmation.
    Held,
    /// The market stayed at the new level; the level was applied.
    Confirmed,
    /// The market came back (or moved elsewhere): never applied.
    Discarded,
    /// Confirmed and applied, then the market came back to the level before the jump within
    /// the revert window: the applied quotes at the bad level were off-market.
    Reverted,
    /// Confirmed and applied, then marked off-market by an operator.
    OffMarket,
}

/// One held quote and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagRecord {
    pub id: u64,
    pub instrument: InstrumentId,
    /// The instrument's symbol, checked against the engine's when the plan reads the file.
    pub symbol: String,
    /// The quote's own time (source time), UTC ns.
    pub time_ns: TimeNs,
    pub bid: Price,
    pub ask: Price,
    pub good_bid: Price,
    pub good_ask: Price,
    pub jump_pips: i64,
    pub outcome: Outcome,
    /// For a confirmed level: the source time of the quote that applied it.
    pub applied_from_ns: Option<TimeNs>,
}

/// Who found a span off-market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkedBy {
    /// The guard: the market came back to the level before the jump within the revert window.
    Reverted,
    /// An operator, by hand (`POST /v1/admin/price-guard/flags/{id}/off-market`).
    Operator { user: String, reason: String },
}

/// Applied quotes of one instrument that were off-market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffMarketSpan {
    pub instrument: InstrumentId,
    pub symbol: String,
    /// Source times: quotes in `[from_ns, until_ns)` are off-market.
    pub from_ns: TimeNs,
    pub until_ns: TimeNs,
    /// The guard flags of the confirmed level.
    pub flags: Vec<u64>,
    pub by: MarkedBy,
}

impl OffMarketSpan {
    pub fn covers(&self, instrument: InstrumentId, source_time_ns: TimeNs) -> bool {
        self.instrument == instrument
            && self.from_ns <= source_time_ns
            && source_time_ns < self.until_ns
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Flag(FlagRecord),
    OffMarket(OffMarketSpan),
}

/// The file as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagFile {
    /// The newest line of every flag id.
    pub flags: BTreeMap<u64, FlagRecord>,
    pub spans: Vec<OffMarketSpan>,
    /// Complete lines read.
    pub lines: u64,
    /// A torn last line (no `\n`) was skipped: its byte offset.
    pub torn_tail_at: Option<u64>,
    /// Bytes up to the end of the last complete line (where a writer appends).
    pub good_len: u64,
    /// SHA-256 of the whole file as read (torn tail included: a plan made on it is a plan made
    /// on those bytes).
    pub sha256: String,
}

impl FlagFile {
    /// The span that marks this quote off-market, if one does (the first recorded).
    pub fn span_for(
        &self,
        instrument: InstrumentId,
        source_time_ns: TimeNs,
    ) -> Option<&OffMarketSpan> {
        self.spans
            .iter()
            .find(|s| s.covers(instrument, source_time_ns))
    }
}

/// Parses the file's bytes (see the module doc for what is skipped and what is refused).
pub fn parse(bytes: &[u8], path: &Path) -> Result<FlagFile, BackfillError> {
    let mut file = FlagFile {
        sha256: hex::encode(Sha256::digest(bytes)),
        ..FlagFile::default()
    };
    let mut offset = 0usize;
    let mut line_no = 0u64;
    while offset < bytes.len() {
        line_no += 1;
        let rest = &bytes[offset..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            file.torn_tail_at = Some(offset as u64);
            break;
        };
        let line = &rest[..end];
        let bad = |why: String| {
            BackfillError::Input(format!(
                "{}: line {line_no} (byte {offset}) {why}; the price-jump guard's flags cannot be trusted, look at the file",
                path.display()
            ))
        };
        if line.len() > LINE_BYTES_MAX {
            return Err(bad(format!("is longer than {LINE_BYTES_MAX} bytes")));
        }
        let record: Record =
            serde_json::from_slice(line).map_err(|e| bad(format!("is not a flag record: {e}")))?;
        match record {
            Record::Flag(flag) => {
                file.flags.insert(flag.id, flag);
            }
            Record::OffMarket(span) => {
                if span.until_ns <= span.from_ns {
                    return Err(bad("is a span that ends before it starts".to_owned()));
                }
                file.spans.push(span);
            }
        }
        file.lines += 1;
        offset += end + 1;
        file.good_len = offset as u64;
    }
    Ok(file)
}

/// Reads the flag file; `Ok(None)`: there is none.
pub fn read(path: &Path) -> Result<Option<FlagFile>, BackfillError> {
    let bytes = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > FILE_BYTES_MAX => {
            return Err(BackfillError::Input(format!(
                "{}: {} bytes, more than the {FILE_BYTES_MAX} read",
                path.display(),
                meta.len()
            )))
        }
        Ok(_) => std::fs::read(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| BackfillError::Input(format!("read {}: {e}", path.display())))?;
    parse(&bytes, path).map(Some)
}

/// The appending side (the server's guard). Every line is written whole with one `write_all`
/// and flushed to the OS; off-market spans, the plan's evidence, are also fdatasynced.
#[derive(Debug)]
pub struct FlagWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl FlagWriter {
    /// Opens (creating the directory and file) for appending, after reading what is there.
    /// A torn last line is truncated away first (reported in the returned file's
    /// `torn_tail_at`), so the next line starts on a line of its own.
    pub fn open(path: &Path) -> Result<(FlagWriter, FlagFile), BackfillError> {
        let io = |what: &str, e: std::io::Error| {
            BackfillError::Input(format!("{what} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        }
        let existing = read(path)?.unwrap_or_default();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        if existing.torn_tail_at.is_some() {
            file.set_len(existing.good_len)
                .map_err(|e| io("truncate the torn last line of", e))?;
        }
        Ok((
            FlagWriter {
                file,
                path: path.to_owned(),
            },
            existing,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        if line.len() > LINE_BYTES_MAX {
            return Err(std::io::Error::other(format!(
                "a flag record of {} bytes is longer than {LINE_BYTES_MAX}",
                line.len()
            )));
        }
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()?;
        if matches!(record, Record::OffMarket(_)) {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn flag(id: u64, outcome: Outcome) -> Record {
        Record::Flag(FlagRecord {
            id,
            instrument: InstrumentId(0),
            symbol: "USDJPY".to_owned(),
            time_ns: 10,
            bid: 153_000,
            ask: 153_006,
            good_bid: 150_000,
            good_ask: 150_006,
            jump_pips: 300,
            outcome,
            applied_from_ns: None,
        })
    }

    fn span() -> Record {
        Record::OffMarket(OffMarketSpan {
            instrument: InstrumentId(0),
            symbol: "USDJPY".to_owned(),
            from_ns: 30,
            until_ns: 50,
            flags: vec![1, 2],
            by: MarkedBy::Reverted,
        })
    }

    #[test]
    fn written_records_read_back_the_last_line_of_a_flag_winning() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let (mut w, existing) = FlagWriter::open(&path).unwrap();
        assert_eq!(existing, FlagFile::default());
        w.append(&flag(1, Outcome::Held)).unwrap();
        w.append(&flag(1, Outcome::Reverted)).unwrap();
        w.append(&span()).unwrap();
        drop(w);
        let read = read(&path).unwrap().unwrap();
        assert_eq!(read.lines, 3);
        assert_eq!(read.flags[&1].outcome, Outcome::Reverted);
        assert_eq!(read.spans.len(), 1);
        assert!(read.span_for(InstrumentId(0), 30).is_some());
        assert!(
            read.span_for(InstrumentId(0), 50).is_none(),
            "until is excluded"
        );
        assert!(read.span_for(InstrumentId(1), 40).is_none());
        assert_eq!(read.torn_tail_at, None);
    }

    #[test]
    fn a_torn_last_line_is_skipped_by_the_reader_and_truncated_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let (mut w, _) = FlagWriter::open(&path).unwrap();
        w.append(&span()).unwrap();
        drop(w);
        let good_len = std::fs::metadata(&path).unwrap().len();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"record":"flag","id":7,"instr"#).unwrap();
        drop(f);
        let read_back = read(&path).unwrap().unwrap();
        assert_eq!(read_back.torn_tail_at, Some(good_len));
        assert_eq!(read_back.spans.len(), 1);
        let (mut w, existing) = FlagWriter::open(&path).unwrap();
        assert_eq!(existing.torn_tail_at, Some(good_len));
        w.append(&flag(2, Outcome::Held)).unwrap();
        drop(w);
        let again = read(&path).unwrap().unwrap();
        assert_eq!((again.lines, again.torn_tail_at), (2, None));
    }

    #[test]
    fn a_bad_line_followed_by_good_ones_is_refused_naming_the_line() {
        let text =
            "{\"record\":\"flag\"}\n".to_owned() + &serde_json::to_string(&span()).unwrap() + "\n";
        let e = parse(text.as_bytes(), Path::new("flags.jsonl")).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let backwards = r#"{"record":"off_market","instrument":0,"symbol":"USDJPY","from_ns":9,"until_ns":9,"flags":[],"by":"reverted"}"#.to_owned() + "\n";
        let e = parse(backwards.as_bytes(), Path::new("f")).unwrap_err();
        assert!(e.to_string().contains("ends before it starts"), "{e}");
    }

    #[test]
    fn no_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join("nothing.jsonl")).unwrap(), None);
    }
}
