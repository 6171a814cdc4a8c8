//! Incremental reading of a growing dat thread: each poll reads only the bytes added since the
//! last one (HTTP `Range`, or a file seek) and yields only the new posts.
//!
//! To notice a thread that was replaced or rewritten (a new thread at the same address, a file
//! truncated), each poll re-reads the one byte before the resume offset and checks that it is
//! still the newline that ended the last post read — the check 2ch browsers have always made.
//! When it is not, or the source got shorter, the thread is read again from the start and the
//! poll says `restarted`. Boards also rewrite a thread in place when they delete a post, which
//! changes its length: when the re-read thread has the same title, the posts already yielded
//! (by number) are not yielded again, so a deletion never double-counts a thread.

use serde::Serialize;

use crate::dat::{DatLineReader, DatParseReport, DatPost, DatThread, DAT_LINE_BYTES_MAX};
use crate::error::SignalsError;
use crate::fetch::{fetch_from, http_agent, Fetched, Source};

/// At most this many bytes are read in one poll; a thread that grew more is caught up over the
/// following polls. Real dat threads end near 512 KiB (1000 posts), so one poll reads any thread.
pub const DAT_POLL_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// The new posts one poll found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DatPoll {
    pub new_posts: Vec<DatPost>,
    /// Counts for the lines read by this poll only.
    pub report: DatParseReport,
    /// The thread was found replaced or shorter and was read again from its start.
    pub restarted: bool,
    pub bytes_read: u64,
}

/// Polls one thread. Keep one per thread and call [`DatPoller::poll`] on a timer.
#[derive(Debug)]
pub struct DatPoller {
    source: Source,
    agent: ureq::Agent,
    reader: DatLineReader,
    /// Inside a line longer than [`DAT_LINE_BYTES_MAX`]: drop bytes until its newline.
    skipping_long_line: bool,
    /// Counts since the poller was made.
    report_total: DatParseReport,
    title: Option<String>,
    /// Set by a restart: the old title and how many posts had been read, to recognise the same
    /// thread rewritten in place.
    restart_pending: Option<(Option<String>, u32)>,
    /// Posts up to this number were already yielded before a same-thread restart.
    skip_posts_through: u32,
}

impl DatPoller {
    pub fn new(source: Source) -> Self {
        DatPoller {
            source,
            agent: http_agent(),
            reader: DatLineReader::new(),
            skipping_long_line: false,
            report_total: DatParseReport::default(),
            title: None,
            restart_pending: None,
            skip_posts_through: 0,
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Byte offset up to which the thread has been read (always just after a newline).
    pub fn offset_bytes(&self) -> u64 {
        self.reader.bytes_consumed
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Counts over every poll so far.
    pub fn report_total(&self) -> &DatParseReport {
        &self.report_total
    }

    /// Reads what was added since the last poll. An I/O or HTTP failure is an error and loses
    /// nothing: the offset does not move, and the next poll asks for the same bytes again.
    pub fn poll(&mut self) -> Result<DatPoll, SignalsError> {
        let mut poll = DatPoll::default();
        let mut chunk = match self.fetch_after_check()? {
            Some(chunk) => chunk,
            None => {
                self.restart();
                poll.restarted = true;
                match fetch_from(&self.source, &self.agent, 0, DAT_POLL_BYTES_MAX)? {
                    Fetched::From { bytes } => bytes,
                    Fetched::Shrunk => Vec::new(),
                }
            }
        };
        poll.bytes_read = chunk.len() as u64;

        if self.skipping_long_line {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(newline_at) => {
                    self.reader.bytes_consumed += newline_at as u64 + 1;
                    chunk.drain(..=newline_at);
                    self.skipping_long_line = false;
                }
                None => {
                    self.reader.bytes_consumed += chunk.len() as u64;
                    return Ok(poll);
                }
            }
        }

        let mut parsed = DatThread::default();
        let was_first_line = self.reader.next_line_number == 1;
        let consumed = self.reader.parse_complete_lines(&chunk, &mut parsed);
        let unterminated = chunk.len() - consumed;
        if unterminated > DAT_LINE_BYTES_MAX {
            // A line this long is not a post; count it once and skip the rest of it.
            let line_too_long = &chunk[consumed..];
            self.reader.parse_one_line(line_too_long, &mut parsed);
            self.skipping_long_line = true;
        }
        if was_first_line && parsed.title.is_some() {
            self.title = parsed.title.clone();
        }
        if parsed.report.lines_total > 0 {
            if let Some((old_title, posts_read_before)) = self.restart_pending.take() {
                let same_thread = old_title.is_some() && parsed.title == old_title;
                self.skip_posts_through = if same_thread { posts_read_before } else { 0 };
            }
        }
        let skip_through = self.skip_posts_through;
        parsed.posts.retain(|post| post.number > skip_through);
        self.report_total.absorb(&parsed.report);
        poll.new_posts = parsed.posts;
        poll.report = parsed.report;
        Ok(poll)
    }

    /// Fetches the bytes after the resume offset, checking the newline just before it.
    /// `None` means the thread is not the one we were reading (replaced or shorter).
    fn fetch_after_check(&mut self) -> Result<Option<Vec<u8>>, SignalsError> {
        let offset = self.reader.bytes_consumed;
        if offset == 0 || self.skipping_long_line {
            return match fetch_from(&self.source, &self.agent, offset, DAT_POLL_BYTES_MAX)? {
                Fetched::From { bytes } => Ok(Some(bytes)),
                Fetched::Shrunk => Ok(None),
            };
        }
        match fetch_from(&self.source, &self.agent, offset - 1, DAT_POLL_BYTES_MAX)? {
            Fetched::From { mut bytes } => {
                if bytes.first() != Some(&b'\n') {
                    return Ok(None);
                }
                bytes.remove(0);
                Ok(Some(bytes))
            }
            Fetched::Shrunk => Ok(None),
        }
    }

    fn restart(&mut self) {
        let posts_read = self
            .reader
            .next_line_number
            .saturating_sub(1)
            .max(self.skip_posts_through);
        self.restart_pending = Some((self.title.take(), posts_read));
        self.reader = DatLineReader::new();
        self.skipping_long_line = false;
    }
}
