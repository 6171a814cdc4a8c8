//! Our tick CSV: `time,instrument,bid,ask`, one tick per line, header line optional.
//!
//! `time` is RFC 3339 (`2017-04-19T09:00:00.250Z`) or integer UTC nanoseconds since the epoch;
//! `instrument` is a symbol such as `USD/JPY`; `bid` and `ask` are plain decimals with at most the
//! instrument's price decimals. Times must not go backwards (the file is one merged time line).
//! Blank lines are skipped. A bad row is counted and reported with its line number; it never
//! stops the reader, so a caller sees every problem of a file at once.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::str::FromStr;

use fxdesk_engine::{InstrumentId, Price, TimeNs};

use crate::error::MarketError;
use crate::price::parse_ticks;

/// Longest line accepted, in bytes (a tick line is about 60).
pub const LINE_BYTES_MAX: usize = 1024;
/// Most ticks one file may hold (about 400 MB of memory at the limit).
pub const TICKS_PER_FILE_MAX: usize = 10_000_000;
/// Bad rows kept with their message; the rest are only counted.
pub const BAD_ROWS_KEPT_MAX: usize = 20;

/// One price from the file, converted to the engine's instrument index and ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    pub time_ns: TimeNs,
    pub instrument: InstrumentId,
    pub bid: Price,
    pub ask: Price,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number.
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Everything read from a tick file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickFile {
    pub ticks: Vec<Tick>,
    pub bad_rows: u64,
    /// The first [`BAD_ROWS_KEPT_MAX`] bad rows.
    pub first_bad_rows: Vec<BadRow>,
    /// True when the file had more than [`TICKS_PER_FILE_MAX`] ticks and the rest were not read.
    pub truncated: bool,
}

/// Reads ticks; `instrument` maps a symbol to its index and price decimals (None: unknown).
pub fn read_ticks(
    reader: impl Read,
    instrument: impl Fn(&str) -> Option<(InstrumentId, u32)>,
) -> std::io::Result<TickFile> {
    let mut reader = BufReader::new(reader);
    let mut file = TickFile::default();
    let mut line_bytes = Vec::with_capacity(128);
    let mut line_number: u64 = 0;
    let mut last_time_ns: Option<TimeNs> = None;
    loop {
        line_bytes.clear();
        let read = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut line_bytes)?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let mut bad = |reason: String| {
            file.bad_rows += 1;
            if file.first_bad_rows.len() < BAD_ROWS_KEPT_MAX {
                file.first_bad_rows.push(BadRow {
                    line: line_number,
                    reason,
                });
            }
        };
        if line_bytes.len() > LINE_BYTES_MAX && !line_bytes.ends_with(b"\n") {
            skip_rest_of_line(&mut reader)?;
            bad(format!("line longer than {LINE_BYTES_MAX} bytes"));
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line_bytes) else {
            bad("not UTF-8".to_owned());
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if line_number == 1 && text.split(',').next().map(str::trim) == Some("time") {
            continue;
        }
        match parse_row(text, &instrument) {
            Ok(tick) => {
                if let Some(last) = last_time_ns {
                    if tick.time_ns < last {
                        bad(format!(
                            "time {} is before the previous row's {last}",
                            tick.time_ns
                        ));
                        continue;
                    }
                }
                if file.ticks.len() >= TICKS_PER_FILE_MAX {
                    file.truncated = true;
                    break;
                }
                last_time_ns = Some(tick.time_ns);
                file.ticks.push(tick);
            }
            Err(reason) => bad(reason),
        }
    }
    Ok(file)
}

/// Reads a tick file; any bad row or overflow is an error naming the file and the first bad line.
pub fn read_tick_file(
    path: &Path,
    instrument: impl Fn(&str) -> Option<(InstrumentId, u32)>,
) -> Result<TickFile, MarketError> {
    let io = |source| MarketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = read_ticks(File::open(path).map_err(io)?, instrument).map_err(io)?;
    if let Some(first) = file.first_bad_rows.first() {
        return Err(MarketError::BadRows {
            path: path.to_path_buf(),
            bad_rows: file.bad_rows,
            first: first.clone(),
        });
    }
    if file.truncated {
        return Err(MarketError::TooManyTicks {
            path: path.to_path_buf(),
            limit: TICKS_PER_FILE_MAX,
        });
    }
    Ok(file)
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

fn parse_row(
    text: &str,
    instrument: &impl Fn(&str) -> Option<(InstrumentId, u32)>,
) -> Result<Tick, String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [time, symbol, bid, ask] = fields.as_slice() else {
        return Err(format!(
            "expected 4 fields (time,instrument,bid,ask), found {}",
            fields.len()
        ));
    };
    let time_ns = parse_time_ns(time)?;
    let (id, decimals) =
        instrument(symbol).ok_or_else(|| format!("unknown instrument {symbol:?}"))?;
    let bid = parse_ticks(bid, decimals).map_err(|e| format!("bid: {e}"))?;
    let ask = parse_ticks(ask, decimals).map_err(|e| format!("ask: {e}"))?;
    if bid > ask {
        return Err(format!("bid {bid} is above ask {ask} (ticks)"));
    }
    Ok(Tick {
        time_ns,
        instrument: id,
        bid,
        ask,
    })
}

/// Writes ticks in our format (`time,instrument,bid,ask`, header line, RFC 3339 times with
/// nanoseconds as needed); `symbol_and_decimals` names each instrument and its price scale.
/// Reading the output back with [`read_ticks`] gives the same ticks.
pub fn write_ticks(
    mut writer: impl std::io::Write,
    ticks: &[Tick],
    symbol_and_decimals: impl Fn(InstrumentId) -> Option<(String, u32)>,
) -> std::io::Result<()> {
    writeln!(writer, "time,instrument,bid,ask")?;
    for tick in ticks {
        let (symbol, decimals) = symbol_and_decimals(tick.instrument).ok_or_else(|| {
            std::io::Error::other(format!("unknown instrument {}", tick.instrument.0))
        })?;
        writeln!(
            writer,
            "{},{symbol},{},{}",
            format_time(tick.time_ns),
            crate::price::format_ticks(tick.bid, decimals),
            crate::price::format_ticks(tick.ask, decimals)
        )?;
    }
    writer.flush()
}

/// RFC 3339 in UTC (`2024-01-02T00:00:00.5Z`); integer nanoseconds if out of jiff's range.
pub fn format_time(time_ns: TimeNs) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(time_ns))
        .map_or_else(|_| time_ns.to_string(), |t| t.to_string())
}

/// Parses RFC 3339 or integer nanoseconds since the Unix epoch.
pub fn parse_time_ns(text: &str) -> Result<TimeNs, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("time {text:?} does not fit in i64 nanoseconds"));
    }
    let timestamp = jiff::Timestamp::from_str(text)
        .map_err(|e| format!("time {text:?} is neither RFC 3339 nor integer ns: {e}"))?;
    i64::try_from(timestamp.as_nanosecond()).map_err(|_| format!("time {text:?} is out of range"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    fn lookup(symbol: &str) -> Option<(InstrumentId, u32)> {
        match symbol {
            "USD/JPY" => Some((InstrumentId(0), 3)),
            "EUR/USD" => Some((InstrumentId(1), 5)),
            _ => None,
        }
    }

    #[test]
    fn reads_both_time_forms_with_and_without_header() {
        let text = "time,instrument,bid,ask\n\
                    2024-01-02T00:00:00Z,USD/JPY,141.100,141.105\n\
                    1704153600500000000,EUR/USD,1.10001,1.10008\r\n\
                    \n";
        let file = read_ticks(text.as_bytes(), lookup).unwrap();
        assert_eq!(file.bad_rows, 0, "{:?}", file.first_bad_rows);
        assert_eq!(
            file.ticks,
            vec![
                Tick {
                    time_ns: 1_704_153_600_000_000_000,
                    instrument: InstrumentId(0),
                    bid: 141_100,
                    ask: 141_105
                },
                Tick {
                    time_ns: 1_704_153_600_500_000_000,
                    instrument: InstrumentId(1),
                    bid: 110_001,
                    ask: 110_008
                },
            ]
        );
        let headless = "1,USD/JPY,141.1,141.2\n";
        assert_eq!(
            read_ticks(headless.as_bytes(), lookup).unwrap().ticks.len(),
            1
        );
    }

    #[test]
    fn counts_bad_rows_with_line_numbers() {
        let long = format!("1,USD/JPY,141.1,{}\n", "9".repeat(LINE_BYTES_MAX));
        let text = format!(
            "1,USD/JPY,141.1,141.2\n\
             2,XXX/YYY,1,2\n\
             3,USD/JPY,141.1\n\
             4,USD/JPY,141.3,141.2\n\
             yesterday,USD/JPY,141.1,141.2\n\
             {long}\
             0,USD/JPY,141.1,141.2\n\
             9,USD/JPY,141.1234,141.2\n\
             10,USD/JPY,141.1,141.2\n"
        );
        let file = read_ticks(text.as_bytes(), lookup).unwrap();
        assert_eq!(file.ticks.len(), 2);
        assert_eq!(file.bad_rows, 7);
        let lines: Vec<u64> = file.first_bad_rows.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8]);
        assert!(file.first_bad_rows[0].reason.contains("unknown instrument"));
        assert!(file.first_bad_rows[4].reason.contains("longer than"));
        assert!(file.first_bad_rows[5]
            .reason
            .contains("before the previous"));
    }

    #[test]
    fn truncated_last_line_without_newline_is_read_or_reported() {
        let file = read_ticks("1,USD/JPY,141.1,141.2\n2,USD/JPY,141".as_bytes(), lookup).unwrap();
        assert_eq!(file.ticks.len(), 1);
        assert_eq!(file.bad_rows, 1);
        assert_eq!(file.first_bad_rows[0].line, 2);
    }
}
