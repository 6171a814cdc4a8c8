//! Importers for vendor tick files, with a report of everything that was not used.
//!
//! Formats (checked against the vendors' published descriptions):
//!
//! - **csv** — ours: `time,instrument,bid,ask` (see [`crate::csv`]); the instrument is per row.
//! - **histdata** — HistData.com "Generic ASCII" ticks, e.g. `DAT_ASCII_EURUSD_T_201202.csv`:
//!   `YYYYMMDD HHMMSSNNN,bid,ask,volume`, no header, one instrument per file, times in Eastern
//!   Standard Time **without** daylight-saving adjustment (a fixed UTC-5: 00:00 is 05:00 UTC).
//! - **dukascopy** — Dukascopy tick CSV exports. The header names the columns and their order
//!   varies between export tools: `Time (UTC),Ask,Bid,AskVolume,BidVolume` (JForex),
//!   `Gmt time,Ask,Bid,...` (web export), `time,ask,bid,ask_volume,bid_volume`,
//!   `timestamp,askPrice,bidPrice,...`. The time column is the first one whose name holds "time"
//!   or "date"; ask and bid are found by name. Without a header the order is `time,ask,bid,...`.
//!   Times: `YYYY.MM.DD HH:MM:SS.mmm`, `DD.MM.YYYY HH:MM:SS.mmm`, `YYYY-MM-DD HH:MM:SS.mmm`,
//!   RFC 3339, or integer milliseconds since the epoch, all UTC; a trailing ` GMT+hhmm` offset is
//!   applied. A "Local time" column is refused: its zone is the exporting machine's, unknown here.
//!
//! Prices are converted to the instrument's integer scale exactly ([`crate::price::parse_ticks`]):
//! "1.306600" is 130660 for EUR/USD (5 decimals); "1.3066015" is refused as too precise.
//!
//! Every line that is not used gets one [`Reason`]; the report counts each reason and keeps the
//! line numbers (and messages) of the first [`EXAMPLES_PER_REASON_MAX`]. Nothing is used silently:
//! - `malformed`: not a tick line of the format (fields, time, price syntax, UTF-8, too long);
//! - `unknown_instrument` (csv only);
//! - `too_precise`: a price with more decimals than the instrument has;
//! - `off_scale`: a price outside the instrument's `[price_min_ticks, price_max_ticks]`;
//! - `crossed`: bid above ask;
//! - `out_of_order`: time before the previous accepted tick's (the file is one time line);
//! - `duplicate`: the same instrument, time, bid and ask as the previous accepted tick of that
//!   instrument (several different ticks in one millisecond are normal and kept).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use fxdesk_engine::{InstrumentId, Price, TimeNs};

use crate::catalog::{Catalog, Scale};
use crate::civil::{digits, parse_clock, Civil};
use crate::csv::{parse_time_ns, Tick, LINE_BYTES_MAX, TICKS_PER_FILE_MAX};
use crate::price::{parse_ticks, PriceError};

/// Bad lines kept (line number and message) per reason; the rest are only counted.
pub const EXAMPLES_PER_REASON_MAX: usize = 5;

/// HistData's fixed offset: Eastern Standard Time all year.
pub const HISTDATA_OFFSET_SECONDS: i64 = -5 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    HistData,
    Dukascopy,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "histdata" => Ok(Format::HistData),
            "dukascopy" => Ok(Format::Dukascopy),
            other => Err(format!(
                "unknown format {other:?} (csv, histdata, dukascopy)"
            )),
        }
    }
}

/// Why a line was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Malformed,
    UnknownInstrument,
    TooPrecise,
    OffScale,
    Crossed,
    OutOfOrder,
    Duplicate,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Malformed,
        Reason::UnknownInstrument,
        Reason::TooPrecise,
        Reason::OffScale,
        Reason::Crossed,
        Reason::OutOfOrder,
        Reason::Duplicate,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownInstrument => "unknown_instrument",
            Reason::TooPrecise => "too_precise",
            Reason::OffScale => "off_scale",
            Reason::Crossed => "crossed",
            Reason::OutOfOrder => "out_of_order",
            Reason::Duplicate => "duplicate",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One line that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the file.
    pub line: u64,
    pub message: String,
}

/// What an import read, used and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read, blank and header lines included.
    pub lines: u64,
    pub header_lines: u64,
    pub ticks_used: u64,
    /// Count per [`Reason`] (indexed as [`Reason::ALL`]).
    counts: [u64; 7],
    examples: [Vec<Rejected>; 7],
    /// True when more than [`TICKS_PER_FILE_MAX`] ticks were found and reading stopped.
    pub truncated: bool,
}

impl ImportReport {
    pub fn count(&self, reason: Reason) -> u64 {
        self.counts[reason.index()]
    }

    pub fn examples(&self, reason: Reason) -> &[Rejected] {
        &self.examples[reason.index()]
    }

    pub fn rejected_total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True when every line was used (or was blank or a header).
    pub fn is_clean(&self) -> bool {
        self.rejected_total() == 0 && !self.truncated
    }

    fn reject(&mut self, reason: Reason, line: u64, message: String) {
        self.counts[reason.index()] += 1;
        let examples = &mut self.examples[reason.index()];
        if examples.len() < EXAMPLES_PER_REASON_MAX {
            examples.push(Rejected { line, message });
        }
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "lines read {}, header {}, ticks used {}, rejected {}{}",
            self.lines,
            self.header_lines,
            self.ticks_used,
            self.rejected_total(),
            if self.truncated {
                format!(" (stopped after {TICKS_PER_FILE_MAX} ticks)")
            } else {
                String::new()
            }
        )?;
        for reason in Reason::ALL {
            let count = self.count(reason);
            if count == 0 {
                continue;
            }
            writeln!(f, "  {:<20} {count}", reason.code())?;
            for example in self.examples(reason) {
                writeln!(f, "    line {}: {}", example.line, example.message)?;
            }
        }
        Ok(())
    }
}

/// Ticks and the report of one import.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub ticks: Vec<Tick>,
    pub report: ImportReport,
}

/// What the importer was told about the file.
pub enum Source<'a> {
    /// Our CSV: instruments by symbol from the catalog.
    Csv(&'a Catalog),
    /// A single-instrument vendor file.
    Single(Format, Scale),
}

/// A fatal problem with the file as a whole (not one line).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Header(String),
}

/// Imports a tick file. Bad lines are reported, never fatal; Err only for I/O or a header that
/// makes the file unusable (e.g. a Dukascopy export in local time).
pub fn import(reader: impl Read, source: &Source<'_>) -> Result<Imported, ImportError> {
    let mut reader = BufReader::new(reader);
    let mut out = Imported::default();
    let mut line_bytes = Vec::with_capacity(128);
    let mut line_number: u64 = 0;
    let mut columns: Option<DukascopyColumns> = None;
    let mut checker = Checker::default();
    loop {
        line_bytes.clear();
        let read = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line_bytes)?;
        if read == 0 {
            break;
        }
        line_number += 1;
        out.report.lines += 1;
        if line_bytes.len() > LINE_BYTES_MAX && !line_bytes.ends_with(b"\n") {
            skip_rest_of_line(&mut reader)?;
            out.report.reject(
                Reason::Malformed,
                line_number,
                format!("line longer than {LINE_BYTES_MAX} bytes"),
            );
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line_bytes) else {
            out.report
                .reject(Reason::Malformed, line_number, "not UTF-8".to_owned());
            continue;
        };
        let text = text
            .trim_end_matches(['\n', '\r'])
            .trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            continue;
        }
        let raw = match source {
            Source::Csv(catalog) => {
                if out.report.ticks_used == 0
                    && out.report.header_lines == 0
                    && text.split(',').next().map(str::trim) == Some("time")
                {
                    out.report.header_lines += 1;
                    continue;
                }
                parse_csv_row(text, catalog)
            }
            Source::Single(Format::HistData, scale) => parse_histdata_row(text, *scale),
            Source::Single(Format::Dukascopy, scale) => {
                if columns.is_none() && DukascopyColumns::is_header(text) {
                    columns = Some(DukascopyColumns::from_header(text)?);
                    out.report.header_lines += 1;
                    continue;
                }
                let columns = columns.get_or_insert(DukascopyColumns::DEFAULT);
                parse_dukascopy_row(text, columns, *scale)
            }
            Source::Single(Format::Csv, _) => Err((
                Reason::Malformed,
                "our CSV names the instrument per row; import it with the catalog".to_owned(),
            )),
        };
        let checked = raw.and_then(|raw| checker.check(raw));
        match checked {
            Ok(tick) => {
                if out.ticks.len() >= TICKS_PER_FILE_MAX {
                    out.report.truncated = true;
                    break;
                }
                out.ticks.push(tick);
                out.report.ticks_used += 1;
            }
            Err((reason, message)) => out.report.reject(reason, line_number, message),
        }
    }
    Ok(out)
}

type RowResult = Result<RawTick, (Reason, String)>;

/// A row parsed but not yet checked against the previous ticks.
struct RawTick {
    time_ns: TimeNs,
    scale: Scale,
    bid: Price,
    ask: Price,
}

/// Order and duplicate checks across rows.
#[derive(Default)]
struct Checker {
    last_time_ns: Option<TimeNs>,
    last_by_instrument: HashMap<InstrumentId, Tick>,
}

impl Checker {
    fn check(&mut self, raw: RawTick) -> Result<Tick, (Reason, String)> {
        let RawTick {
            time_ns,
            scale,
            bid,
            ask,
        } = raw;
        if bid > ask {
            return Err((
                Reason::Crossed,
                format!("bid {bid} is above ask {ask} (ticks)"),
            ));
        }
        for (side, price) in [("bid", bid), ("ask", ask)] {
            if price < scale.price_min_ticks || price > scale.price_max_ticks {
                return Err((
                    Reason::OffScale,
                    format!(
                        "{side} {price} is outside the instrument's range {}..={} (ticks)",
                        scale.price_min_ticks, scale.price_max_ticks
                    ),
                ));
            }
        }
        if let Some(last) = self.last_time_ns {
            if time_ns < last {
                return Err((
                    Reason::OutOfOrder,
                    format!("time {time_ns} ns is before the previous tick's {last} ns"),
                ));
            }
        }
        let tick = Tick {
            time_ns,
            instrument: scale.instrument,
            bid,
            ask,
        };
        if self.last_by_instrument.get(&scale.instrument) == Some(&tick) {
            return Err((
                Reason::Duplicate,
                format!("same time, bid and ask as the previous tick ({time_ns} ns)"),
            ));
        }
        self.last_time_ns = Some(time_ns);
        self.last_by_instrument.insert(scale.instrument, tick);
        Ok(tick)
    }
}

fn price(text: &str, side: &str, scale: Scale) -> Result<Price, (Reason, String)> {
    parse_ticks(text.trim(), scale.decimals).map_err(|error| {
        let reason = match error {
            PriceError::TooManyDecimals { .. } => Reason::TooPrecise,
            PriceError::TooLarge { .. } => Reason::OffScale,
            _ => Reason::Malformed,
        };
        (reason, format!("{side}: {error}"))
    })
}

fn malformed(message: String) -> (Reason, String) {
    (Reason::Malformed, message)
}

fn parse_csv_row(text: &str, catalog: &Catalog) -> RowResult {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [time, symbol, bid, ask] = fields.as_slice() else {
        return Err(malformed(format!(
            "expected 4 fields (time,instrument,bid,ask), found {}",
            fields.len()
        )));
    };
    let time_ns = parse_time_ns(time).map_err(malformed)?;
    let scale = catalog.scale(symbol).ok_or_else(|| {
        (
            Reason::UnknownInstrument,
            format!("unknown instrument {symbol:?}"),
        )
    })?;
    Ok(RawTick {
        time_ns,
        scale,
        bid: price(bid, "bid", scale)?,
        ask: price(ask, "ask", scale)?,
    })
}

/// `YYYYMMDD HHMMSSNNN,bid,ask,volume` in EST without daylight saving.
fn parse_histdata_row(text: &str, scale: Scale) -> RowResult {
    let fields: Vec<&str> = text.split(',').collect();
    let (time, bid, ask) = match fields.as_slice() {
        [time, bid, ask] | [time, bid, ask, _] => (*time, *bid, *ask),
        _ => {
            return Err(malformed(format!(
                "expected 4 fields (YYYYMMDD HHMMSSNNN,bid,ask,volume), found {}",
                fields.len()
            )))
        }
    };
    let time_ns = parse_histdata_time(time.trim()).map_err(malformed)?;
    Ok(RawTick {
        time_ns,
        scale,
        bid: price(bid, "bid", scale)?,
        ask: price(ask, "ask", scale)?,
    })
}

/// `20120201 000003660` (EST, no DST) to UTC ns.
pub fn parse_histdata_time(text: &str) -> Result<TimeNs, String> {
    let bytes = text.as_bytes();
    if bytes.len() != 18 || bytes.get(8) != Some(&b' ') || !text.is_ascii() {
        return Err(format!("time {text:?} is not YYYYMMDD HHMMSSNNN"));
    }
    let field = |range: std::ops::Range<usize>| -> Result<u32, String> {
        digits(text.get(range).unwrap_or_default())
            .map_err(|_| format!("time {text:?} is not YYYYMMDD HHMMSSNNN"))
    };
    let civil = Civil {
        year: i64::from(field(0..4)?),
        month: field(4..6)?,
        day: field(6..8)?,
        hour: field(9..11)?,
        minute: field(11..13)?,
        second: field(13..15)?,
        nanosecond: field(15..18)? * 1_000_000,
    };
    civil
        .to_ns(HISTDATA_OFFSET_SECONDS)
        .map_err(|e| format!("time {text:?}: {e}"))
}

/// Column positions of a Dukascopy export.
#[derive(Debug, Clone, Copy)]
struct DukascopyColumns {
    time: usize,
    ask: usize,
    bid: usize,
}

impl DukascopyColumns {
    const DEFAULT: DukascopyColumns = DukascopyColumns {
        time: 0,
        ask: 1,
        bid: 2,
    };

    fn is_header(text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        lower.contains("ask") && lower.contains("bid")
    }

    fn from_header(text: &str) -> Result<DukascopyColumns, ImportError> {
        let names: Vec<String> = text
            .split(',')
            .map(|n| n.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let find = |wanted: &dyn Fn(&str) -> bool| names.iter().position(|n| wanted(n));
        let time = find(&|n| n.contains("time") || n.contains("date"));
        let ask = find(&|n| n == "ask" || n == "askprice" || n == "ask price");
        let bid = find(&|n| n == "bid" || n == "bidprice" || n == "bid price");
        let (Some(time), Some(ask), Some(bid)) = (time, ask, bid) else {
            return Err(ImportError::Header(format!(
                "Dukascopy header {text:?} lacks a time, ask or bid column"
            )));
        };
        if names.get(time).is_some_and(|n| n.contains("local")) {
            return Err(ImportError::Header(format!(
                "Dukascopy header {text:?}: times are in the exporting machine's local time; \
                 export in UTC (\"Time (UTC)\" or \"Gmt time\")"
            )));
        }
        Ok(DukascopyColumns { time, ask, bid })
    }
}

fn parse_dukascopy_row(text: &str, columns: &DukascopyColumns, scale: Scale) -> RowResult {
    let fields: Vec<&str> = text
        .split(',')
        .map(|f| f.trim().trim_matches('"'))
        .collect();
    let get = |index: usize, name: &str| {
        fields
            .get(index)
            .copied()
            .ok_or_else(|| malformed(format!("no {name} column (found {})", fields.len())))
    };
    let time_ns = parse_dukascopy_time(get(columns.time, "time")?).map_err(malformed)?;
    Ok(RawTick {
        time_ns,
        scale,
        bid: price(get(columns.bid, "bid")?, "bid", scale)?,
        ask: price(get(columns.ask, "ask")?, "ask", scale)?,
    })
}

/// The time forms Dukascopy tools write, all UTC unless a ` GMT+hhmm` suffix says otherwise.
pub fn parse_dukascopy_time(text: &str) -> Result<TimeNs, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Milliseconds since the epoch (dukascopy-node's "timestamp").
        let ms: i64 = text
            .parse()
            .map_err(|_| format!("time {text:?} does not fit in i64 milliseconds"))?;
        return ms
            .checked_mul(1_000_000)
            .ok_or_else(|| format!("time {text:?} is out of range"));
    }
    if text.as_bytes().get(10) == Some(&b'T') {
        // RFC 3339 (`2019-01-02T00:00:03Z`).
        return parse_time_ns(text);
    }
    let (stamp, offset_seconds) = match text.split_once(" GMT") {
        Some((stamp, offset)) => (stamp, parse_gmt_offset(offset)?),
        None => (text, 0),
    };
    let (date, clock) = stamp
        .split_once(' ')
        .ok_or_else(|| format!("time {text:?} has no date and time of day"))?;
    let parts: Vec<&str> = date.split(['.', '-', '/']).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(format!("date {date:?} is not three numbers"));
    };
    let (year, month, day) = match (a.len(), c.len()) {
        (4, 2) => (*a, *b, *c),
        (2, 4) => (*c, *b, *a),
        _ => {
            return Err(format!(
                "date {date:?} is neither YYYY.MM.DD nor DD.MM.YYYY"
            ))
        }
    };
    if month.len() != 2 || day.len() != 2 {
        return Err(format!(
            "date {date:?} is neither YYYY.MM.DD nor DD.MM.YYYY"
        ));
    }
    let (hour, minute, second, nanosecond) = parse_clock(clock)?;
    Civil {
        year: i64::from(digits(year)?),
        month: digits(month)?,
        day: digits(day)?,
        hour,
        minute,
        second,
        nanosecond,
    }
    .to_ns(offset_seconds)
    .map_err(|e| format!("time {text:?}: {e}"))
}

/// `+0200`, `-0530`, `+02:00` or empty (UTC) to seconds east of UTC.
fn parse_gmt_offset(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(format!("GMT offset {text:?} has no sign")),
    };
    let rest = rest.replace(':', "");
    if rest.len() != 4 {
        return Err(format!("GMT offset {text:?} is not +hhmm"));
    }
    let hours = i64::from(digits(&rest[..2])?);
    let minutes = i64::from(digits(&rest[2..])?);
    if hours > 14 || minutes > 59 {
        return Err(format!("GMT offset {text:?} is out of range"));
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

fn skip_rest_of_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            reader.consume(end + 1);
            return Ok(());
        }
        let length = buffer.len();
        reader.consume(length);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    fn eurusd() -> Scale {
        Catalog::defaults().scale("EUR/USD").unwrap()
    }

    fn usdjpy() -> Scale {
        Catalog::defaults().scale("USD/JPY").unwrap()
    }

    #[test]
    fn histdata_sample_from_the_vendor_page() {
        // The first lines of HistData's own example, DAT_ASCII_EURUSD_T_201202.csv.
        let text = "20120201 000003660,1.306600,1.306770,0\n\
                    20120201 000003973,1.306580,1.306750,0\n";
        let imported =
            import(text.as_bytes(), &Source::Single(Format::HistData, eurusd())).unwrap();
        assert!(imported.report.is_clean(), "{}", imported.report);
        // 2012-02-01 00:00:03.660 EST = 05:00:03.660 UTC.
        let utc = Civil {
            year: 2012,
            month: 2,
            day: 1,
            hour: 5,
            minute: 0,
            second: 3,
            nanosecond: 660_000_000,
        }
        .to_ns(0)
        .unwrap();
        assert_eq!(
            imported.ticks[0],
            Tick {
                time_ns: utc,
                instrument: InstrumentId(1),
                bid: 130_660,
                ask: 130_677
            }
        );
        assert_eq!(imported.ticks[1].time_ns - utc, 313_000_000);
    }

    #[test]
    fn histdata_every_reason_is_counted_with_its_line() {
        let text = "20120201 000003660,1.306600,1.306770,0\n\
                    20120201 000003660,1.306600,1.306770,0\n\
                    20120201 000003000,1.306600,1.306770,0\n\
                    20120201 000004000,1.306800,1.306770,0\n\
                    20120201 000005000,9.306800,9.306870,0\n\
                    20120201 000006000,1.3068001,1.306870,0\n\
                    2012-02-01 00:00:07,1.306800,1.306870,0\n\
                    20120230 000008000,1.306800,1.306870,0\n\
                    20120201 000009000,1.306800,1.306870,0\n";
        let imported =
            import(text.as_bytes(), &Source::Single(Format::HistData, eurusd())).unwrap();
        let report = &imported.report;
        assert_eq!(report.ticks_used, 2);
        assert_eq!(report.count(Reason::Duplicate), 1);
        assert_eq!(report.examples(Reason::Duplicate)[0].line, 2);
        assert_eq!(report.count(Reason::OutOfOrder), 1);
        assert_eq!(report.examples(Reason::OutOfOrder)[0].line, 3);
        assert_eq!(report.count(Reason::Crossed), 1);
        assert_eq!(report.examples(Reason::Crossed)[0].line, 4);
        assert_eq!(report.count(Reason::OffScale), 1);
        assert_eq!(report.examples(Reason::OffScale)[0].line, 5);
        assert_eq!(report.count(Reason::TooPrecise), 1);
        assert_eq!(report.examples(Reason::TooPrecise)[0].line, 6);
        assert_eq!(report.count(Reason::Malformed), 2);
        let lines: Vec<u64> = report
            .examples(Reason::Malformed)
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(lines, vec![7, 8]);
        assert_eq!(report.rejected_total() + report.ticks_used, report.lines);
        let shown = report.to_string();
        assert!(shown.contains("duplicate"), "{shown}");
        assert!(shown.contains("line 5:"), "{shown}");
    }

    #[test]
    fn dukascopy_header_forms_and_time_forms() {
        let jforex = "Time (UTC),Ask,Bid,AskVolume,BidVolume\n\
                      2019.01.02 00:00:00.123,108.712,108.705,1.5,2.25\n\
                      02.01.2019 00:00:01.000,108.713,108.706,1,1\n\
                      2019-01-02 00:00:02.5,108.714,108.707,1,1\n\
                      2019-01-02T00:00:03Z,108.715,108.708,1,1\n\
                      1546387204000,108.716,108.709,1,1\n\
                      02.01.2019 02:00:05.000 GMT+0200,108.717,108.710,1,1\n";
        let imported = import(
            jforex.as_bytes(),
            &Source::Single(Format::Dukascopy, usdjpy()),
        )
        .unwrap();
        assert!(imported.report.is_clean(), "{}", imported.report);
        assert_eq!(imported.report.header_lines, 1);
        let base = 1_546_387_200_000_000_000; // 2019-01-02T00:00:00Z
        let times: Vec<i64> = imported.ticks.iter().map(|t| t.time_ns - base).collect();
        assert_eq!(
            times,
            vec![
                123_000_000,
                1_000_000_000,
                2_500_000_000,
                3_000_000_000,
                4_000_000_000,
                5_000_000_000
            ]
        );
        // Ask is the second column, bid the third.
        assert_eq!(imported.ticks[0].bid, 108_705);
        assert_eq!(imported.ticks[0].ask, 108_712);

        let reordered = "timestamp,bidPrice,askPrice,bidVolume,askVolume\n\
                         1546387200000,108.705,108.712,1,1\n";
        let imported = import(
            reordered.as_bytes(),
            &Source::Single(Format::Dukascopy, usdjpy()),
        )
        .unwrap();
        assert_eq!(imported.ticks[0].bid, 108_705);
        assert_eq!(imported.ticks[0].ask, 108_712);
    }

    #[test]
    fn dukascopy_local_time_is_refused() {
        let text = "Local time,Ask,Bid,AskVolume,BidVolume\n";
        let result = import(
            text.as_bytes(),
            &Source::Single(Format::Dukascopy, usdjpy()),
        );
        assert!(matches!(result, Err(ImportError::Header(m)) if m.contains("local time")));
    }

    #[test]
    fn csv_import_counts_unknown_instruments() {
        let catalog = Catalog::defaults();
        let text = "time,instrument,bid,ask\n\
                    1,USD/JPY,141.100,141.105\n\
                    2,XXX/YYY,1,2\n\
                    3,EUR/USD,1.10001,1.10008\n";
        let imported = import(text.as_bytes(), &Source::Csv(&catalog)).unwrap();
        assert_eq!(imported.ticks.len(), 2);
        assert_eq!(imported.report.count(Reason::UnknownInstrument), 1);
        assert_eq!(imported.ticks[1].instrument, InstrumentId(1));
    }
}
