//! 2channel / 5channel "dat" threads: one post per line, Shift_JIS, fields separated by `<>`:
//!
//! ```text
//! name<>mail<>2024/08/05(月) 09:12:34.56 ID:AbCdEf0<>body<>title
//! ```
//!
//! The title is written on the first line only. The date is Japan time (JST, UTC+9). A post
//! deleted by a moderator keeps its line (its number) but its fields read `あぼーん`.
//!
//! Parsing never fails as a whole and never panics: each bad line is skipped and counted by reason
//! in a [`DatParseReport`], with the first few kept with their line number and byte offset.

use std::borrow::Cow;

use serde::Serialize;

use crate::time::{days_from_civil, days_in_month, JST_OFFSET_S};

/// A dat line longer than this is not a post (real posts are a few KiB at most); it is skipped.
pub const DAT_LINE_BYTES_MAX: usize = 64 * 1024;
/// The first this many bad lines of a parse are kept with their position, the rest only counted.
pub const DAT_ERRORS_KEPT_MAX: usize = 16;
/// Field separator of the dat format.
const FIELD_SEPARATOR: &str = "<>";
/// What a board writes in place of a deleted post's fields.
const DELETED_MARKER: &str = "あぼーん";
/// Years outside this range are not a board's dates (and keep the arithmetic far from overflow).
const YEAR_RANGE: std::ops::RangeInclusive<i64> = 1990..=2200;

/// One post of a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatPost {
    /// 1-based post number: the line number in the thread (deleted and broken lines count too).
    pub number: u32,
    pub name: String,
    pub mail: String,
    /// When the board stamped the post, in milliseconds since the Unix epoch (UTC).
    pub posted_at_unix_ms: i64,
    /// The poster's daily ID (`ID:AbCdEf0`), when the board shows one.
    pub poster_id: Option<String>,
    /// The body as stored: HTML-escaped, lines joined by `<br>`.
    pub body: String,
}

/// Why a line was not turned into a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DatLineProblem {
    /// Not valid Shift_JIS.
    Undecodable,
    /// Fewer than the five `<>`-separated fields.
    MissingFields { fields_found: usize },
    /// The date field is not a board date.
    BadDate { date_field: String },
    /// Deleted by the board (`あぼーん`): not an error, but not a post we can time either.
    Deleted,
    /// Longer than [`DAT_LINE_BYTES_MAX`].
    LineTooLong { line_bytes: usize },
}

/// One bad line, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatLineError {
    /// 1-based line (= post number) in the thread.
    pub line_number: u32,
    /// Byte offset of the line's start in the thread file.
    pub byte_offset: u64,
    #[serde(flatten)]
    pub problem: DatLineProblem,
}

/// Counts of what a parse saw, by outcome. `lines_total` is the sum of all the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatParseReport {
    pub lines_total: u64,
    pub posts_parsed: u64,
    pub undecodable: u64,
    pub missing_fields: u64,
    pub bad_date: u64,
    pub deleted: u64,
    pub line_too_long: u64,
    /// The first [`DAT_ERRORS_KEPT_MAX`] bad lines, with their positions.
    pub first_errors: Vec<DatLineError>,
}

impl DatParseReport {
    pub fn lines_rejected(&self) -> u64 {
        self.undecodable + self.missing_fields + self.bad_date + self.deleted + self.line_too_long
    }

    /// Adds another report's counts (and as many of its kept errors as fit) to this one.
    pub fn absorb(&mut self, other: &DatParseReport) {
        self.lines_total += other.lines_total;
        self.posts_parsed += other.posts_parsed;
        self.undecodable += other.undecodable;
        self.missing_fields += other.missing_fields;
        self.bad_date += other.bad_date;
        self.deleted += other.deleted;
        self.line_too_long += other.line_too_long;
        for error in &other.first_errors {
            if self.first_errors.len() >= DAT_ERRORS_KEPT_MAX {
                break;
            }
            self.first_errors.push(error.clone());
        }
    }

    fn count(&mut self, line_number: u32, byte_offset: u64, problem: DatLineProblem) {
        match &problem {
            DatLineProblem::Undecodable => self.undecodable += 1,
            DatLineProblem::MissingFields { .. } => self.missing_fields += 1,
            DatLineProblem::BadDate { .. } => self.bad_date += 1,
            DatLineProblem::Deleted => self.deleted += 1,
            DatLineProblem::LineTooLong { .. } => self.line_too_long += 1,
        }
        if self.first_errors.len() < DAT_ERRORS_KEPT_MAX {
            self.first_errors.push(DatLineError {
                line_number,
                byte_offset,
                problem,
            });
        }
    }
}

/// A whole thread, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DatThread {
    /// The title from the first line, when that line could be read.
    pub title: Option<String>,
    pub posts: Vec<DatPost>,
    pub report: DatParseReport,
}

/// Parses a complete thread. A last line without its newline is parsed too (the file is taken as
/// complete); for a thread still being written use [`crate::poll::DatPoller`], which waits for it.
pub fn parse_thread(bytes: &[u8]) -> DatThread {
    let mut thread = DatThread::default();
    let mut reader = DatLineReader::new();
    reader.parse_complete_lines(bytes, &mut thread);
    let consumed = reader.bytes_consumed as usize;
    if let Some(tail) = bytes.get(consumed..) {
        if !tail.is_empty() {
            reader.parse_one_line(tail, &mut thread);
        }
    }
    thread
}

/// Stateful line parser: remembers the next post number and byte offset across chunks, so a
/// thread can be parsed as it grows.
#[derive(Debug, Clone, Default)]
pub(crate) struct DatLineReader {
    pub(crate) next_line_number: u32,
    pub(crate) bytes_consumed: u64,
}

impl DatLineReader {
    pub(crate) fn new() -> Self {
        DatLineReader {
            next_line_number: 1,
            bytes_consumed: 0,
        }
    }

    /// Parses every newline-terminated line of `chunk` (which starts at `self.bytes_consumed`)
    /// into `out`; returns how many bytes were consumed (up to and including the last `\n`).
    pub(crate) fn parse_complete_lines(&mut self, chunk: &[u8], out: &mut DatThread) -> usize {
        let mut start = 0usize;
        while let Some(newline_at) = chunk[start..].iter().position(|&b| b == b'\n') {
            let line = &chunk[start..start + newline_at];
            self.parse_one_line(line, out);
            // parse_one_line advanced over the line; account for the newline too.
            self.bytes_consumed += 1;
            start += newline_at + 1;
        }
        start
    }

    /// Parses one line (without its `\n`) as the next post.
    pub(crate) fn parse_one_line(&mut self, line: &[u8], out: &mut DatThread) {
        let line_number = self.next_line_number;
        let byte_offset = self.bytes_consumed;
        self.next_line_number = self.next_line_number.saturating_add(1);
        self.bytes_consumed += line.len() as u64;
        out.report.lines_total += 1;
        match parse_line(line, line_number) {
            Ok((post, title)) => {
                if line_number == 1 {
                    out.title = title;
                }
                out.report.posts_parsed += 1;
                out.posts.push(post);
            }
            Err(problem) => out.report.count(line_number, byte_offset, problem),
        }
    }
}

/// Parses one dat line into a post and the title field (meaningful on line 1 only).
pub fn parse_line(line: &[u8], number: u32) -> Result<(DatPost, Option<String>), DatLineProblem> {
    if line.len() > DAT_LINE_BYTES_MAX {
        return Err(DatLineProblem::LineTooLong {
            line_bytes: line.len(),
        });
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text: Cow<'_, str> = encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(line)
        .ok_or(DatLineProblem::Undecodable)?;
    let fields: Vec<&str> = text.splitn(5, FIELD_SEPARATOR).collect();
    if fields.len() < 5 {
        // A deleted post is sometimes written with its fields collapsed: still a deletion.
        if text.contains(DELETED_MARKER) {
            return Err(DatLineProblem::Deleted);
        }
        return Err(DatLineProblem::MissingFields {
            fields_found: fields.len(),
        });
    }
    let date_field = fields[2].trim();
    if date_field.starts_with(DELETED_MARKER) {
        return Err(DatLineProblem::Deleted);
    }
    let stamp = parse_board_date(date_field).ok_or_else(|| DatLineProblem::BadDate {
        date_field: date_field.chars().take(80).collect(),
    })?;
    let title = fields[4].trim();
    Ok((
        DatPost {
            number,
            name: fields[0].trim().to_owned(),
            mail: fields[1].trim().to_owned(),
            posted_at_unix_ms: stamp.unix_ms,
            poster_id: stamp.poster_id,
            body: fields[3].trim().to_owned(),
        },
        (!title.is_empty()).then(|| title.to_owned()),
    ))
}

/// What the date field of a post says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardDate {
    pub unix_ms: i64,
    pub poster_id: Option<String>,
}

/// Parses the date field as boards write it, in JST:
/// `2024/08/05(月) 09:12:34.56 ID:AbCdEf0`. Accepted variants: a two-digit year (`06/08/05`,
/// read as 20xx), no weekday, no fraction or a 1-3 digit fraction, and anything after the time
/// (`ID:...`, `BE:...`, `0` markers). Returns `None` for anything else; never panics.
pub fn parse_board_date(field: &str) -> Option<BoardDate> {
    let mut cursor = Cursor { rest: field.trim() };
    let year_digits_start = cursor.rest.len();
    let mut year = cursor.number(4)?;
    let year_digits = year_digits_start - cursor.rest.len();
    if year_digits == 2 {
        year += 2000;
    } else if year_digits != 4 {
        return None;
    }
    cursor.expect('/')?;
    let month = cursor.number(2)?;
    cursor.expect('/')?;
    let day = cursor.number(2)?;
    // Optional weekday in parentheses, any script: (月), (Mon), （月）.
    if let Some(after_open) = cursor
        .rest
        .strip_prefix('(')
        .or_else(|| cursor.rest.strip_prefix('（'))
    {
        let close_at = after_open.find([')', '）'])?;
        let close_len = after_open[close_at..].chars().next()?.len_utf8();
        if close_at > 16 {
            return None;
        }
        cursor.rest = &after_open[close_at + close_len..];
    }
    cursor.rest = cursor.rest.trim_start();
    let hour = cursor.number(2)?;
    cursor.expect(':')?;
    let minute = cursor.number(2)?;
    cursor.expect(':')?;
    let second = cursor.number(2)?;
    let mut millis = 0i64;
    if let Some(after_dot) = cursor.rest.strip_prefix('.') {
        cursor.rest = after_dot;
        let before = cursor.rest.len();
        let fraction = cursor.number(3)?;
        millis = match before - cursor.rest.len() {
            1 => fraction * 100,
            2 => fraction * 10,
            _ => fraction,
        };
    }
    // After the time: nothing, or a space and tokens (ID:..., BE:...).
    if !(cursor.rest.is_empty() || cursor.rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let month = u32::try_from(month).ok()?;
    let day = u32::try_from(day).ok()?;
    if !YEAR_RANGE.contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let local_s = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let unix_ms = (local_s - JST_OFFSET_S) * 1000 + millis;
    let poster_id = cursor
        .rest
        .split_whitespace()
        .find_map(|token| token.strip_prefix("ID:"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Some(BoardDate { unix_ms, poster_id })
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    /// Reads 1..=`digits_max` ASCII digits.
    fn number(&mut self, digits_max: usize) -> Option<i64> {
        let len = self
            .rest
            .bytes()
            .take(digits_max)
            .take_while(u8::is_ascii_digit)
            .count();
        if len == 0 {
            return None;
        }
        let value = self.rest[..len].parse().ok()?;
        self.rest = &self.rest[len..];
        Some(value)
    }

    fn expect(&mut self, c: char) -> Option<()> {
        self.rest = self.rest.strip_prefix(c)?;
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jst_ms(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - JST_OFFSET_S) * 1000
    }

    #[test]
    fn board_dates_as_written() {
        let date = parse_board_date("2024/08/05(月) 09:12:34.56 ID:AbCdEf0").unwrap();
        assert_eq!(date.unix_ms, jst_ms(2024, 8, 5, 9, 12, 34) + 560);
        assert_eq!(date.poster_id.as_deref(), Some("AbCdEf0"));
        // 09:12 JST is 00:12 UTC.
        assert_eq!(date.unix_ms / 1000 % 86_400, 12 * 60 + 34);

        let old = parse_board_date("06/08/05(土) 23:59:59").unwrap();
        assert_eq!(old.unix_ms, jst_ms(2006, 8, 5, 23, 59, 59));
        assert_eq!(old.poster_id, None);

        let be = parse_board_date("2024/08/05(月) 00:00:00.1 ID:x0 BE:123-2BP(1000)").unwrap();
        assert_eq!(be.unix_ms, jst_ms(2024, 8, 5, 0, 0, 0) + 100);
        // Midnight JST is the previous day in UTC.
        assert_eq!(
            be.unix_ms.div_euclid(86_400_000),
            days_from_civil(2024, 8, 4)
        );
        assert!(parse_board_date("2024/08/05 09:12:34").is_some());
    }

    #[test]
    fn bad_dates_are_none() {
        for bad in [
            "",
            "あぼーん",
            "Over 1000 Thread",
            "2024/13/05(月) 09:12:34",
            "2023/02/29(水) 09:12:34",
            "2024/08/05(月) 24:00:00",
            "2024/08/05(月) 09:12",
            "2024/08/05(月) 09:12:34x",
            "2024/08/05(月 09:12:34",
            "999/08/05 09:12:34",
            "20240/08/05 09:12:34",
            "1800/08/05 09:12:34",
        ] {
            assert_eq!(parse_board_date(bad), None, "{bad:?}");
        }
    }
}
