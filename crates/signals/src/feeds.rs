//! RSS and Atom feeds (via feed-rs): items with a timestamp, for counting per minute.
//!
//! An entry without any date is counted in the report and skipped (it cannot be placed in a
//! minute). A feed that is not a feed at all is an error naming the source. A [`FeedPoller`]
//! re-reads a feed and yields only entries it has not yielded before (by entry id).

use std::collections::{HashSet, VecDeque};

use serde::Serialize;

use crate::error::SignalsError;
use crate::fetch::{fetch_from, http_agent, Fetched, Source};

/// A feed document larger than this is refused.
pub const FEED_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// A feed with more entries than this is cut: the rest are counted as `entries_over_limit`.
pub const FEED_ENTRIES_MAX: usize = 10_000;
/// A poller remembers this many entry ids to skip entries it already yielded (oldest forgotten).
pub const FEED_SEEN_IDS_MAX: usize = 50_000;

/// One feed entry placed in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedItem {
    pub id: String,
    pub title: Option<String>,
    /// `published`, or `updated` when the feed gives no publication date (UTC, ms).
    pub published_at_unix_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedParseReport {
    pub entries_total: u64,
    pub items_parsed: u64,
    /// Entries with neither a published nor an updated date.
    pub missing_date: u64,
    pub entries_over_limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<FeedItem>,
    pub report: FeedParseReport,
}

/// Parses an RSS (0.9x, 1.0, 2.0), Atom or JSON Feed document. `source_name` is only for the
/// error message.
pub fn parse_feed(bytes: &[u8], source_name: &str) -> Result<ParsedFeed, SignalsError> {
    if bytes.len() as u64 > FEED_BYTES_MAX {
        return Err(SignalsError::TooLarge {
            what: format!("feed {source_name}"),
            size_bytes: bytes.len() as u64,
            limit_bytes: FEED_BYTES_MAX,
        });
    }
    let feed = feed_rs::parser::parse(bytes).map_err(|error| SignalsError::Feed {
        source_name: source_name.to_owned(),
        message: error.to_string(),
    })?;
    let mut parsed = ParsedFeed {
        title: feed.title.map(|text| text.content),
        ..ParsedFeed::default()
    };
    for (index, entry) in feed.entries.into_iter().enumerate() {
        parsed.report.entries_total += 1;
        if index >= FEED_ENTRIES_MAX {
            parsed.report.entries_over_limit += 1;
            continue;
        }
        let Some(stamp) = entry.published.or(entry.updated) else {
            parsed.report.missing_date += 1;
            continue;
        };
        parsed.report.items_parsed += 1;
        parsed.items.push(FeedItem {
            id: entry.id,
            title: entry.title.map(|text| text.content),
            published_at_unix_ms: stamp.timestamp_millis(),
        });
    }
    Ok(parsed)
}

/// The new entries one poll found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeedPoll {
    pub new_items: Vec<FeedItem>,
    /// Counts over the whole document read by this poll.
    pub report: FeedParseReport,
}

/// Re-reads a feed and yields the entries not seen before.
#[derive(Debug)]
pub struct FeedPoller {
    source: Source,
    agent: ureq::Agent,
    seen_ids: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl FeedPoller {
    pub fn new(source: Source) -> Self {
        FeedPoller {
            source,
            agent: http_agent(),
            seen_ids: HashSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Fetches and parses the feed; entries already yielded are left out.
    pub fn poll(&mut self) -> Result<FeedPoll, SignalsError> {
        let name = self.source.describe();
        // Read one byte past the limit so an oversized feed is refused, not silently cut.
        let bytes = match fetch_from(&self.source, &self.agent, 0, FEED_BYTES_MAX + 1)? {
            Fetched::From { bytes } => bytes,
            Fetched::Shrunk => Vec::new(),
        };
        let parsed = parse_feed(&bytes, &name)?;
        Ok(self.take_new(parsed))
    }

    /// Same as [`FeedPoller::poll`] for a document obtained some other way.
    pub fn take_new(&mut self, parsed: ParsedFeed) -> FeedPoll {
        let mut poll = FeedPoll {
            report: parsed.report,
            ..FeedPoll::default()
        };
        for item in parsed.items {
            if self.seen_ids.contains(&item.id) {
                continue;
            }
            if self.seen_order.len() >= FEED_SEEN_IDS_MAX {
                if let Some(oldest) = self.seen_order.pop_front() {
                    self.seen_ids.remove(&oldest);
                }
            }
            self.seen_ids.insert(item.id.clone());
            self.seen_order.push_back(item.id.clone());
            poll.new_items.push(item);
        }
        poll
    }
}
