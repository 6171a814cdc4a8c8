//! The price archive: an append-only tick store, one file per instrument and UTC day, and a
//! reader that merges all instruments in time order over a time range.
//!
//! # Format (version 1)
//!
//! ```text
//! DIR/USDJPY/2024-01-02.ticks        one file per instrument (symbol without '/') and UTC day
//!
//! # fxdesk ticks v1 USD/JPY decimals=3 day=2024-01-02      header line, written once
//! 1704153600000000000 141100 141105 5f1c2a9e                 one tick per line
//! ```
//!
//! A tick line is `TIME_NS BID ASK CRC`: the time in UTC nanoseconds since the epoch, bid and ask
//! as integers in the instrument's smallest increment (the header's `decimals`: 141100 is
//! 141.100), and the CRC-32C of the bytes before the last space, as 8 lower-case hex digits.
//! Lines end with `\n`. Times never go backwards within a file; several ticks may share a time.
//! A text format was chosen over binary because a person can read it with `tail` during an
//! incident, and at about 45 bytes a tick a day of a busy pair (~200,000 ticks) is about 9 MB.
//!
//! Reading: a last line without its `\n` (the writer was killed mid-line) is a *torn tail*: it
//! is skipped and reported. Any other line that fails its checksum or does not parse is
//! *corrupt*: skipped and reported with file and line number; never used.
//!
//! Writing: [`ArchiveWriter`] keeps one open file per instrument. Opening an existing day file
//! for appending first truncates a torn tail (it was never complete), then continues after the
//! last tick. A tick older than the instrument's last archived tick, or equal to one already
//! archived at that same time, is not written ([`Appended`] says why), so re-feeding a recording
//! after a crash continues where the archive stopped instead of duplicating ticks.
//! [`ArchiveWriter::flush`] hands buffered lines to the operating system (they survive the
//! process being killed); [`ArchiveWriter::sync`] also fdatasyncs them (they survive power loss).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fxdesk_engine::{InstrumentId, Price, TimeNs};

use crate::catalog::Catalog;
use crate::civil::{days_from_civil, utc_date, NS_PER_DAY};
use crate::csv::Tick;

/// File name suffix of a day file.
pub const DAY_FILE_SUFFIX: &str = ".ticks";
/// Longest line a reader accepts; a tick line is under 64 bytes.
pub const ARCHIVE_LINE_BYTES_MAX: usize = 256;
/// Corrupt lines kept with their place in the report; the rest are only counted.
pub const CORRUPT_KEPT_MAX: usize = 20;
/// Ticks remembered at the last archived time per instrument (to refuse repeats).
pub const SAME_TIME_TICKS_MAX: usize = 256;

const MAGIC: &str = "# fxdesk ticks v1";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("archive file {path}: {message}")]
    Header { path: PathBuf, message: String },
    #[error("instrument {0:?} is not in the catalog")]
    UnknownInstrument(InstrumentId),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory name of an instrument: its symbol without '/'.
pub fn instrument_dir_name(symbol: &str) -> String {
    symbol
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// `2024-01-02` for the UTC day holding `time_ns`.
pub fn day_name(time_ns: TimeNs) -> String {
    let (year, month, day) = utc_date(time_ns);
    format!("{year:04}-{month:02}-{day:02}")
}

fn day_index(time_ns: TimeNs) -> i64 {
    time_ns.div_euclid(NS_PER_DAY)
}

fn header_line(symbol: &str, decimals: u32, day: &str) -> String {
    format!("{MAGIC} {symbol} decimals={decimals} day={day}\n")
}

/// The body of a tick line (what the checksum covers).
fn tick_body(tick: &Tick) -> String {
    format!("{} {} {}", tick.time_ns, tick.bid, tick.ask)
}

fn tick_line(tick: &Tick) -> String {
    let body = tick_body(tick);
    let crc = crc32c::crc32c(body.as_bytes());
    format!("{body} {crc:08x}\n")
}

/// Parses one complete tick line (without its `\n`).
fn parse_tick_line(text: &str, instrument: InstrumentId) -> Result<Tick, String> {
    let (body, crc_text) = text
        .rsplit_once(' ')
        .ok_or_else(|| "no checksum".to_owned())?;
    let crc = u32::from_str_radix(crc_text, 16)
        .ok()
        .filter(|_| crc_text.len() == 8)
        .ok_or_else(|| format!("checksum {crc_text:?} is not 8 hex digits"))?;
    if crc32c::crc32c(body.as_bytes()) != crc {
        return Err("checksum mismatch".to_owned());
    }
    let mut fields = body.split(' ');
    let mut number = |name: &str| -> Result<i64, String> {
        fields
            .next()
            .and_then(|f| f.parse::<i64>().ok())
            .ok_or_else(|| format!("no {name}"))
    };
    let time_ns = number("time")?;
    let bid: Price = number("bid")?;
    let ask: Price = number("ask")?;
    if fields.next().is_some() {
        return Err("too many fields".to_owned());
    }
    Ok(Tick {
        time_ns,
        instrument,
        bid,
        ask,
    })
}

/// What [`ArchiveWriter::append`] did with a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Written,
    /// Older than the instrument's last archived tick (at this time, in ns).
    OutOfOrder {
        last_time_ns: TimeNs,
    },
    /// Already archived (same instrument, time, bid and ask).
    Duplicate,
}

struct DayFile {
    path: PathBuf,
    day: i64,
    writer: BufWriter<File>,
    last_time_ns: Option<TimeNs>,
    /// (bid, ask) of the ticks archived at `last_time_ns`.
    at_last_time: Vec<(Price, Price)>,
}

/// Appends ticks to the archive; one open file per instrument.
pub struct ArchiveWriter {
    dir: PathBuf,
    catalog: Catalog,
    open: HashMap<InstrumentId, DayFile>,
    /// Per instrument: the last tick archived before this writer started (None: no tick).
    floors: HashMap<InstrumentId, Option<TimeNs>>,
    /// Torn tails cut off when reopening day files (path, bytes removed).
    pub torn_tails_truncated: Vec<(PathBuf, u64)>,
}

impl ArchiveWriter {
    pub fn open(dir: impl Into<PathBuf>, catalog: Catalog) -> Result<ArchiveWriter, ArchiveError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(ArchiveWriter {
            dir,
            catalog,
            open: HashMap::new(),
            floors: HashMap::new(),
            torn_tails_truncated: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one tick (buffered; see [`ArchiveWriter::flush`]).
    pub fn append(&mut self, tick: &Tick) -> Result<Appended, ArchiveError> {
        if !self.floors.contains_key(&tick.instrument) {
            let floor = self.archived_until(tick.instrument)?;
            self.floors.insert(tick.instrument, floor);
        }
        if let Some(Some(floor)) = self.floors.get(&tick.instrument) {
            if tick.time_ns < *floor {
                return Ok(Appended::OutOfOrder {
                    last_time_ns: *floor,
                });
            }
        }
        let day = day_index(tick.time_ns);
        let needs_open = match self.open.get(&tick.instrument) {
            Some(file) => file.day != day,
            None => true,
        };
        if needs_open {
            if let Some(file) = self.open.get(&tick.instrument) {
                if let Some(last) = file.last_time_ns {
                    if tick.time_ns < last {
                        return Ok(Appended::OutOfOrder { last_time_ns: last });
                    }
                }
            }
            if let Some(mut old) = self.open.remove(&tick.instrument) {
                close_day_file(&mut old)?;
            }
            let file = self.open_day_file(tick.instrument, tick.time_ns)?;
            self.open.insert(tick.instrument, file);
        }
        let Some(file) = self.open.get_mut(&tick.instrument) else {
            return Err(ArchiveError::UnknownInstrument(tick.instrument));
        };
        if let Some(last) = file.last_time_ns {
            if tick.time_ns < last {
                return Ok(Appended::OutOfOrder { last_time_ns: last });
            }
            if tick.time_ns == last && file.at_last_time.contains(&(tick.bid, tick.ask)) {
                return Ok(Appended::Duplicate);
            }
        }
        file.writer
            .write_all(tick_line(tick).as_bytes())
            .map_err(io_error(&file.path))?;
        if file.last_time_ns != Some(tick.time_ns) {
            file.at_last_time.clear();
        }
        if file.at_last_time.len() < SAME_TIME_TICKS_MAX {
            file.at_last_time.push((tick.bid, tick.ask));
        }
        file.last_time_ns = Some(tick.time_ns);
        Ok(Appended::Written)
    }

    /// Hands every buffered line to the operating system.
    pub fn flush(&mut self) -> Result<(), ArchiveError> {
        for file in self.open.values_mut() {
            file.writer.flush().map_err(io_error(&file.path))?;
        }
        Ok(())
    }

    /// Flushes and fdatasyncs every open file.
    pub fn sync(&mut self) -> Result<(), ArchiveError> {
        for file in self.open.values_mut() {
            file.writer.flush().map_err(io_error(&file.path))?;
            file.writer
                .get_ref()
                .sync_data()
                .map_err(io_error(&file.path))?;
        }
        Ok(())
    }

    /// Syncs and closes every file.
    pub fn close(mut self) -> Result<(), ArchiveError> {
        for (_, mut file) in self.open.drain() {
            close_day_file(&mut file)?;
        }
        Ok(())
    }

    /// The time of the instrument's last archived tick before this writer started (in its
    /// newest day file), so a later start never appends older ticks to an older day's file.
    fn archived_until(&self, instrument: InstrumentId) -> Result<Option<TimeNs>, ArchiveError> {
        let spec = self
            .catalog
            .spec(instrument)
            .ok_or(ArchiveError::UnknownInstrument(instrument))?;
        let instrument_dir = self.dir.join(instrument_dir_name(&spec.symbol));
        let mut days = day_files(&instrument_dir)?;
        days.sort();
        // The newest file with a tick in it (a torn or empty newest file has none).
        for (_, path) in days.iter().rev() {
            let scan = scan_day_file(path, instrument, &spec.symbol, spec.price_decimals)?;
            if let Some(last) = scan.ticks.last() {
                return Ok(Some(last.time_ns));
            }
        }
        Ok(None)
    }

    fn open_day_file(
        &mut self,
        instrument: InstrumentId,
        time_ns: TimeNs,
    ) -> Result<DayFile, ArchiveError> {
        let spec = self
            .catalog
            .spec(instrument)
            .ok_or(ArchiveError::UnknownInstrument(instrument))?;
        let symbol = spec.symbol.clone();
        let decimals = spec.price_decimals;
        let instrument_dir = self.dir.join(instrument_dir_name(&symbol));
        std::fs::create_dir_all(&instrument_dir).map_err(io_error(&instrument_dir))?;
        let day = day_name(time_ns);
        let path = instrument_dir.join(format!("{day}{DAY_FILE_SUFFIX}"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let length = file.metadata().map_err(io_error(&path))?.len();
        let mut last_time_ns = None;
        let mut at_last_time = Vec::new();
        if length == 0 {
            file.write_all(header_line(&symbol, decimals, &day).as_bytes())
                .map_err(io_error(&path))?;
            // The new file's directory entry must survive a crash too.
            File::open(&instrument_dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(&instrument_dir))?;
        } else {
            let scan = scan_day_file(&path, instrument, &symbol, decimals)?;
            if scan.complete_bytes < length {
                file.set_len(scan.complete_bytes).map_err(io_error(&path))?;
                file.seek(SeekFrom::End(0)).map_err(io_error(&path))?;
                self.torn_tails_truncated
                    .push((path.clone(), length - scan.complete_bytes));
                if scan.complete_bytes == 0 {
                    // Even the header was torn.
                    file.write_all(header_line(&symbol, decimals, &day).as_bytes())
                        .map_err(io_error(&path))?;
                }
            }
            if let Some(last) = scan.ticks.last() {
                last_time_ns = Some(last.time_ns);
                at_last_time = scan
                    .ticks
                    .iter()
                    .rev()
                    .take_while(|t| t.time_ns == last.time_ns)
                    .take(SAME_TIME_TICKS_MAX)
                    .map(|t| (t.bid, t.ask))
                    .collect();
            }
        }
        Ok(DayFile {
            path,
            day: day_index(time_ns),
            writer: BufWriter::with_capacity(64 * 1024, file),
            last_time_ns,
            at_last_time,
        })
    }
}

fn close_day_file(file: &mut DayFile) -> Result<(), ArchiveError> {
    file.writer.flush().map_err(io_error(&file.path))?;
    file.writer
        .get_ref()
        .sync_data()
        .map_err(io_error(&file.path))
}

/// A problem line found while reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    pub message: String,
}

/// What a read of the archive skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    pub files_read: u64,
    pub ticks_read: u64,
    /// Last lines without `\n` (a writer killed mid-line): skipped.
    pub torn_tails: Vec<BadLine>,
    /// Lines that failed their checksum or did not parse: skipped.
    pub corrupt_lines: u64,
    pub first_corrupt: Vec<BadLine>,
}

impl ArchiveReport {
    fn corrupt(&mut self, bad: BadLine) {
        self.corrupt_lines += 1;
        if self.first_corrupt.len() < CORRUPT_KEPT_MAX {
            self.first_corrupt.push(bad);
        }
    }

    fn merge(&mut self, other: ArchiveReport) {
        self.files_read += other.files_read;
        self.ticks_read += other.ticks_read;
        self.torn_tails.extend(other.torn_tails);
        self.corrupt_lines += other.corrupt_lines;
        for bad in other.first_corrupt {
            if self.first_corrupt.len() < CORRUPT_KEPT_MAX {
                self.first_corrupt.push(bad);
            }
        }
    }
}

impl std::fmt::Display for ArchiveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "files read {}, ticks read {}, torn tails {}, corrupt lines {}",
            self.files_read,
            self.ticks_read,
            self.torn_tails.len(),
            self.corrupt_lines
        )?;
        for bad in self.torn_tails.iter().chain(&self.first_corrupt) {
            writeln!(
                f,
                "  {} line {}: {}",
                bad.path.display(),
                bad.line,
                bad.message
            )?;
        }
        Ok(())
    }
}

struct Scan {
    ticks: Vec<Tick>,
    complete_bytes: u64,
}

/// Reads a whole day file (used when reopening it for appending).
fn scan_day_file(
    path: &Path,
    instrument: InstrumentId,
    symbol: &str,
    decimals: u32,
) -> Result<Scan, ArchiveError> {
    let mut lines = DayLines::open(path, instrument, symbol, decimals)?;
    let mut ticks = Vec::new();
    for tick in lines.by_ref() {
        ticks.push(tick?);
    }
    Ok(Scan {
        ticks,
        complete_bytes: lines.complete_bytes,
    })
}

/// The ticks of one day file, in file order.
struct DayLines {
    path: PathBuf,
    instrument: InstrumentId,
    reader: BufReader<File>,
    line: u64,
    buffer: Vec<u8>,
    /// Bytes of the file up to the end of the last complete line.
    complete_bytes: u64,
    /// Bytes read so far.
    consumed: u64,
    report: ArchiveReport,
    done: bool,
}

impl DayLines {
    fn open(
        path: &Path,
        instrument: InstrumentId,
        symbol: &str,
        decimals: u32,
    ) -> Result<DayLines, ArchiveError> {
        let file = File::open(path).map_err(io_error(path))?;
        let mut lines = DayLines {
            path: path.to_path_buf(),
            instrument,
            reader: BufReader::with_capacity(64 * 1024, file),
            line: 0,
            buffer: Vec::with_capacity(128),
            complete_bytes: 0,
            consumed: 0,
            report: ArchiveReport {
                files_read: 1,
                ..ArchiveReport::default()
            },
            done: false,
        };
        let header_error = |message: String| ArchiveError::Header {
            path: path.to_path_buf(),
            message,
        };
        match lines.next_line()? {
            Some(Line::Complete) => {
                let header = String::from_utf8_lossy(lines.complete_text()).into_owned();
                let expected = format!("{MAGIC} {symbol} decimals={decimals} ");
                if !header.starts_with(&expected) {
                    return Err(header_error(format!(
                        "header {header:?} does not start with {expected:?}"
                    )));
                }
            }
            Some(Line::Overlong) => {
                return Err(header_error("the header line is overlong".to_owned()))
            }
            // An empty file, or a header torn before its '\n': nothing was archived yet.
            Some(Line::Torn { .. }) | None => lines.done = true,
        }
        Ok(lines)
    }

    /// The text of the line just read as [`Line::Complete`], without its '\n'.
    fn complete_text(&self) -> &[u8] {
        self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer)
    }

    /// Reads the next line into the buffer; None at the end of the file.
    fn next_line(&mut self) -> Result<Option<Line>, ArchiveError> {
        self.buffer.clear();
        let read = (&mut self.reader)
            .take(ARCHIVE_LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut self.buffer)
            .map_err(io_error(&self.path))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.consumed += read as u64;
        if self.buffer.ends_with(b"\n") {
            self.complete_bytes = self.consumed;
            return Ok(Some(Line::Complete));
        }
        if read <= ARCHIVE_LINE_BYTES_MAX {
            // The file ends without '\n': a torn tail.
            return Ok(Some(Line::Torn { bytes: read }));
        }
        // An overlong line: skip to its end.
        let mut bytes = read;
        loop {
            self.buffer.clear();
            let more = (&mut self.reader)
                .take(ARCHIVE_LINE_BYTES_MAX as u64)
                .read_until(b'\n', &mut self.buffer)
                .map_err(io_error(&self.path))?;
            self.consumed += more as u64;
            bytes += more;
            if more == 0 {
                return Ok(Some(Line::Torn { bytes }));
            }
            if self.buffer.ends_with(b"\n") {
                self.complete_bytes = self.consumed;
                return Ok(Some(Line::Overlong));
            }
        }
    }
}

/// What [`DayLines::next_line`] found.
enum Line {
    /// A line ending in '\n' (its text is in the buffer).
    Complete,
    /// A line longer than [`ARCHIVE_LINE_BYTES_MAX`], skipped.
    Overlong,
    /// The file ends inside this line.
    Torn { bytes: usize },
}

impl Iterator for DayLines {
    type Item = Result<Tick, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.next_line() {
                Ok(line) => line,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            let parsed = match line {
                None => {
                    self.done = true;
                    continue;
                }
                Some(Line::Torn { bytes }) => {
                    self.report.torn_tails.push(BadLine {
                        path: self.path.clone(),
                        line: self.line,
                        message: format!("torn last line ({bytes} bytes, no newline)"),
                    });
                    self.done = true;
                    continue;
                }
                Some(Line::Overlong) => Err(format!("longer than {ARCHIVE_LINE_BYTES_MAX} bytes")),
                Some(Line::Complete) => match std::str::from_utf8(self.complete_text()) {
                    Ok(text) => parse_tick_line(text, self.instrument),
                    Err(_) => Err("not UTF-8".to_owned()),
                },
            };
            match parsed {
                Ok(tick) => {
                    self.report.ticks_read += 1;
                    return Some(Ok(tick));
                }
                Err(message) => self.report.corrupt(BadLine {
                    path: self.path.clone(),
                    line: self.line,
                    message,
                }),
            }
        }
        None
    }
}

/// One instrument's ticks across its day files, within the range.
struct InstrumentStream {
    instrument: InstrumentId,
    symbol: String,
    decimals: u32,
    files: std::vec::IntoIter<PathBuf>,
    current: Option<DayLines>,
    report: ArchiveReport,
    from_ns: TimeNs,
    to_ns: TimeNs,
    last_time_ns: Option<TimeNs>,
}

impl InstrumentStream {
    fn next_tick(&mut self) -> Option<Result<Tick, ArchiveError>> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match DayLines::open(&path, self.instrument, &self.symbol, self.decimals) {
                    Ok(lines) => self.current = Some(lines),
                    Err(error) => return Some(Err(error)),
                }
            }
            let lines = self.current.as_mut()?;
            match lines.next() {
                Some(Ok(tick)) => {
                    if tick.time_ns < self.from_ns {
                        continue;
                    }
                    if tick.time_ns >= self.to_ns {
                        self.finish_file();
                        self.files = Vec::new().into_iter();
                        return None;
                    }
                    if self.last_time_ns.is_some_and(|last| tick.time_ns < last) {
                        lines.report.corrupt(BadLine {
                            path: lines.path.clone(),
                            line: lines.line,
                            message: "time goes backwards".to_owned(),
                        });
                        continue;
                    }
                    self.last_time_ns = Some(tick.time_ns);
                    return Some(Ok(tick));
                }
                Some(Err(error)) => {
                    self.finish_file();
                    return Some(Err(error));
                }
                None => self.finish_file(),
            }
        }
    }

    fn finish_file(&mut self) {
        if let Some(mut lines) = self.current.take() {
            self.report.merge(std::mem::take(&mut lines.report));
        }
    }
}

/// All instruments' ticks in `[from_ns, to_ns)`, merged in time order (ties: instrument index,
/// then file order). Created by [`read_range`].
pub struct MergedTicks {
    streams: Vec<InstrumentStream>,
    heap: BinaryHeap<Reverse<(TimeNs, u16, usize)>>,
    pending: Vec<Option<Tick>>,
    primed: bool,
}

impl MergedTicks {
    /// What was skipped so far (complete once the iterator is exhausted).
    pub fn report(&self) -> ArchiveReport {
        let mut report = ArchiveReport::default();
        for stream in &self.streams {
            report.merge(stream.report.clone());
            if let Some(lines) = &stream.current {
                report.merge(lines.report.clone());
            }
        }
        report
    }

    fn pull(&mut self, index: usize) -> Option<ArchiveError> {
        let stream = self.streams.get_mut(index)?;
        match stream.next_tick() {
            Some(Ok(tick)) => {
                self.heap
                    .push(Reverse((tick.time_ns, tick.instrument.0, index)));
                if let Some(slot) = self.pending.get_mut(index) {
                    *slot = Some(tick);
                }
                None
            }
            Some(Err(error)) => Some(error),
            None => None,
        }
    }
}

impl Iterator for MergedTicks {
    type Item = Result<Tick, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for index in 0..self.streams.len() {
                if let Some(error) = self.pull(index) {
                    return Some(Err(error));
                }
            }
        }
        let Reverse((_, _, index)) = self.heap.pop()?;
        let tick = self.pending.get_mut(index)?.take()?;
        if let Some(error) = self.pull(index) {
            return Some(Err(error));
        }
        Some(Ok(tick))
    }
}

/// Reads every instrument of the catalog found under `dir`, ticks in `[from_ns, to_ns)`.
pub fn read_range(
    dir: &Path,
    catalog: &Catalog,
    from_ns: TimeNs,
    to_ns: TimeNs,
) -> Result<MergedTicks, ArchiveError> {
    let first_day = day_index(from_ns);
    let last_day = day_index(to_ns.saturating_sub(1));
    let mut streams = Vec::new();
    for (instrument, spec) in catalog.iter() {
        let instrument_dir = dir.join(instrument_dir_name(&spec.symbol));
        let mut files: Vec<(i64, PathBuf)> = day_files(&instrument_dir)?
            .into_iter()
            .filter(|(day, _)| (first_day..=last_day).contains(day))
            .collect();
        if files.is_empty() {
            continue;
        }
        files.sort();
        streams.push(InstrumentStream {
            instrument,
            symbol: spec.symbol.clone(),
            decimals: spec.price_decimals,
            files: files
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .into_iter(),
            current: None,
            report: ArchiveReport::default(),
            from_ns,
            to_ns,
            last_time_ns: None,
        });
    }
    let count = streams.len();
    Ok(MergedTicks {
        streams,
        heap: BinaryHeap::with_capacity(count),
        pending: vec![None; count],
        primed: false,
    })
}

/// Reads a range completely: the merged ticks and the report. Err on I/O or a bad header.
pub fn read_all(
    dir: &Path,
    catalog: &Catalog,
    from_ns: TimeNs,
    to_ns: TimeNs,
) -> Result<(Vec<Tick>, ArchiveReport), ArchiveError> {
    let mut merged = read_range(dir, catalog, from_ns, to_ns)?;
    let mut ticks = Vec::new();
    for tick in merged.by_ref() {
        ticks.push(tick?);
    }
    Ok((ticks, merged.report()))
}

/// The day files of one instrument's directory, (day, path), unsorted; none if it is missing.
fn day_files(instrument_dir: &Path) -> Result<Vec<(i64, PathBuf)>, ArchiveError> {
    let entries = match std::fs::read_dir(instrument_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error(instrument_dir)(error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(instrument_dir))?;
        let name = entry.file_name();
        if let Some(day) = name
            .to_str()
            .and_then(|n| n.strip_suffix(DAY_FILE_SUFFIX))
            .and_then(parse_day)
        {
            files.push((day, entry.path()));
        }
    }
    Ok(files)
}

/// `2024-01-02` to days since the epoch.
fn parse_day(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = name.get(0..4)?.parse().ok()?;
    let month: u32 = name.get(5..7)?.parse().ok()?;
    let day: u32 = name.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    const DAY: i64 = NS_PER_DAY;
    const T0: i64 = 1_704_153_600_000_000_000; // 2024-01-02T00:00:00Z

    fn tick(time_ns: i64, instrument: u16, bid: i64) -> Tick {
        Tick {
            time_ns,
            instrument: InstrumentId(instrument),
            bid,
            ask: bid + 5,
        }
    }

    #[test]
    fn line_round_trip_and_checksum() {
        let t = tick(T0, 0, 141_100);
        let line = tick_line(&t);
        assert_eq!(parse_tick_line(line.trim_end(), InstrumentId(0)), Ok(t));
        let flipped = line.replace("141100", "141101");
        assert_eq!(
            parse_tick_line(flipped.trim_end(), InstrumentId(0)),
            Err("checksum mismatch".to_owned())
        );
    }

    #[test]
    fn writes_per_instrument_and_day_and_merges_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        let ticks = vec![
            tick(T0 - 10, 0, 141_000), // previous day
            tick(T0, 1, 110_000),
            tick(T0, 0, 141_100),
            tick(T0 + 5, 1, 110_001),
            tick(T0 + DAY + 1, 0, 141_200),
        ];
        for t in &ticks {
            assert_eq!(writer.append(t).unwrap(), Appended::Written);
        }
        writer.close().unwrap();
        assert!(dir.path().join("USDJPY/2024-01-01.ticks").exists());
        assert!(dir.path().join("USDJPY/2024-01-03.ticks").exists());
        assert!(dir.path().join("EURUSD/2024-01-02.ticks").exists());

        let (all, report) = read_all(dir.path(), &Catalog::defaults(), 0, i64::MAX).unwrap();
        assert_eq!(report.corrupt_lines, 0);
        assert_eq!(report.files_read, 4);
        let expected = vec![ticks[0], ticks[2], ticks[1], ticks[3], ticks[4]];
        assert_eq!(all, expected);

        let (window, _) = read_all(dir.path(), &Catalog::defaults(), T0, T0 + 5).unwrap();
        assert_eq!(window, vec![ticks[2], ticks[1]]);
    }

    #[test]
    fn refuses_older_and_repeated_ticks_also_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        writer.append(&tick(T0, 0, 141_100)).unwrap();
        writer.append(&tick(T0 + 1, 0, 141_101)).unwrap();
        writer.append(&tick(T0 + 1, 0, 141_102)).unwrap();
        assert_eq!(
            writer.append(&tick(T0, 0, 141_100)).unwrap(),
            Appended::OutOfOrder {
                last_time_ns: T0 + 1
            }
        );
        writer.close().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        assert_eq!(
            writer.append(&tick(T0 + 1, 0, 141_101)).unwrap(),
            Appended::Duplicate
        );
        assert_eq!(
            writer.append(&tick(T0 + 1, 0, 141_103)).unwrap(),
            Appended::Written
        );
        writer.close().unwrap();
        let (all, _) = read_all(dir.path(), &Catalog::defaults(), 0, i64::MAX).unwrap();
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn a_restarted_writer_never_appends_before_the_newest_archived_tick() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        writer.append(&tick(T0, 0, 141_100)).unwrap();
        writer.append(&tick(T0 + DAY, 0, 141_200)).unwrap();
        writer.close().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        // Later than the first day's last tick, but older than the newest day's.
        assert_eq!(
            writer.append(&tick(T0 + 1, 0, 141_101)).unwrap(),
            Appended::OutOfOrder {
                last_time_ns: T0 + DAY
            }
        );
        // Another instrument has its own history.
        assert_eq!(
            writer.append(&tick(T0 + 1, 1, 110_000)).unwrap(),
            Appended::Written
        );
        writer.close().unwrap();
    }

    #[test]
    fn torn_tail_is_reported_then_truncated_on_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        writer.append(&tick(T0, 0, 141_100)).unwrap();
        writer.close().unwrap();
        let path = dir.path().join("USDJPY/2024-01-02.ticks");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"1704153600000000001 1411").unwrap();
        drop(file);

        let (all, report) = read_all(dir.path(), &Catalog::defaults(), 0, i64::MAX).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(report.torn_tails.len(), 1);
        assert_eq!(report.torn_tails[0].line, 3);

        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        writer.append(&tick(T0 + 2, 0, 141_102)).unwrap();
        assert_eq!(writer.torn_tails_truncated.len(), 1);
        writer.close().unwrap();
        let (all, report) = read_all(dir.path(), &Catalog::defaults(), 0, i64::MAX).unwrap();
        assert_eq!(all.len(), 2);
        assert!(report.torn_tails.is_empty());
        assert_eq!(report.corrupt_lines, 0);
    }

    #[test]
    fn corrupt_line_in_the_middle_is_skipped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ArchiveWriter::open(dir.path(), Catalog::defaults()).unwrap();
        for i in 0..3 {
            writer.append(&tick(T0 + i, 0, 141_100 + i)).unwrap();
        }
        writer.close().unwrap();
        let path = dir.path().join("USDJPY/2024-01-02.ticks");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("141101", "141109", 1)).unwrap();
        let (all, report) = read_all(dir.path(), &Catalog::defaults(), 0, i64::MAX).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(report.corrupt_lines, 1);
        assert_eq!(report.first_corrupt[0].line, 3);
    }
}
