//! The monitor the desk runs: counts from pollers and pushes go in, alarms come out.
//!
//! Each group's minutes are judged in order, once every stream of the group has reported the
//! minute complete (a push of that minute's count, or a successful poll after it ended), so a
//! poller that is late or failing cannot look like a drop in the peers' posts (which would raise
//! our share and page someone). A minute that stays incomplete for [`STREAM_WAIT_MINUTES_MAX`]
//! is skipped: not judged, and counted in [`GroupStatus::minutes_skipped`].
//!
//! Wiring (for the desk and the server): call [`SignalsMonitor::record_count`] from the push
//! endpoint (e.g. `POST /signals/counts` with `{stream, minute, count}`), feed poll results
//! through [`SignalsMonitor::record_dat_poll`] / [`SignalsMonitor::record_feed_poll`], and call
//! [`SignalsMonitor::advance`] about once a minute; each returned [`Alarm`] opens an incident, or
//! annotates the open one for the same group.
//!
//! Groups listed in the configuration's `outage_words` are judged twice: on all their posts, and
//! on the posts that contain outage words (derived streams `<stream>#outage-words`, group
//! `<group>#outage-words`, counted from the text of polled posts and feed titles). The second
//! finds a doubling of all posts in two or three minutes even at a quiet hour; see
//! [`crate::words`]. Pushed counts carry no text, so a pushed stream has no outage-word count.

use serde::Serialize;

use crate::counts::{ComparisonGroup, CountStore, SignalsConfig, COUNT_HISTORY_MINUTES};
use crate::detector::{Alarm, Detector, DetectorParams, DetectorStatus};
use crate::error::SignalsError;
use crate::feeds::FeedPoll;
use crate::poll::DatPoll;
use crate::time::UnixMinute;
use crate::words::{outage_words_stream, OutageWords};

/// A minute some stream has not completed is waited for this long, then skipped.
pub const STREAM_WAIT_MINUTES_MAX: i64 = 5;
/// Posts on a board appear a little after their timestamp; a poll at time T is taken to have
/// seen every post stamped before T minus this.
pub const POLL_SETTLE_MS: i64 = 10_000;

/// What happened to the events of one poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub counted: u64,
    /// Events whose time is outside the window kept (too old, or too far in the future).
    pub out_of_window: u64,
    /// Events for a minute that was already judged (counted, but too late to change anything).
    pub late: u64,
    /// Of the events counted, those whose text contains an outage word (counted again in the
    /// stream's outage-word stream, when it has one).
    pub outage_words: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatus {
    pub group: String,
    /// `posts` (all posts) or `outage_words` (the posts containing outage words).
    pub evidence: &'static str,
    pub ours: String,
    pub peers: Vec<String>,
    /// The next minute to judge.
    pub next_minute: UnixMinute,
    pub minutes_judged: u64,
    pub minutes_skipped: u64,
    /// Streams holding up the next minute.
    pub waiting_for: Vec<String>,
    pub detector: DetectorStatus,
}

#[derive(Debug)]
struct GroupState {
    group: ComparisonGroup,
    evidence: &'static str,
    detector: Detector,
    next_minute: UnixMinute,
    minutes_judged: u64,
    minutes_skipped: u64,
}

/// Counts plus one detector per configured group.
#[derive(Debug)]
pub struct SignalsMonitor {
    store: CountStore,
    groups: Vec<GroupState>,
    /// The terms, when some group is watched for outage words.
    outage_words: Option<OutageWords>,
}

impl SignalsMonitor {
    /// `start`: the first minute to judge (normally the current minute).
    pub fn new(config: &SignalsConfig, start: UnixMinute) -> Result<Self, SignalsError> {
        Self::with_params(
            config,
            &DetectorParams::for_sensitivity(config.sensitivity),
            start,
        )
    }

    /// Same as [`SignalsMonitor::new`] with tuned detector parameters for all posts (every
    /// group shares them); outage-word groups use
    /// [`DetectorParams::for_outage_words`] at the configured sensitivity.
    pub fn with_params(
        config: &SignalsConfig,
        params: &DetectorParams,
        start: UnixMinute,
    ) -> Result<Self, SignalsError> {
        let words_params = DetectorParams::for_outage_words(config.sensitivity);
        let state = |group: ComparisonGroup, params: &DetectorParams, evidence| GroupState {
            detector: Detector::new(params.clone(), &group.name, &group.ours, &group.peers),
            group,
            evidence,
            next_minute: start,
            minutes_judged: 0,
            minutes_skipped: 0,
        };
        let word_groups = config.outage_word_groups()?;
        let mut stream_names: Vec<String> = config.streams.iter().map(|s| s.name.clone()).collect();
        for group in &word_groups {
            for stream in std::iter::once(&group.ours).chain(&group.peers) {
                if !stream_names.contains(stream) {
                    stream_names.push(stream.clone());
                }
            }
        }
        let outage_words = if word_groups.is_empty() {
            None
        } else {
            Some(OutageWords::from_config(&config.outage_words)?)
        };
        let groups = config
            .groups()?
            .into_iter()
            .map(|group| state(group, params, "posts"))
            .chain(
                word_groups
                    .into_iter()
                    .map(|group| state(group, &words_params, "outage_words")),
            )
            .collect();
        let store = CountStore::new(stream_names.iter().map(String::as_str));
        Ok(SignalsMonitor {
            store,
            groups,
            outage_words,
        })
    }

    /// Push API: sets `stream`'s count for the finished `minute` (idempotent: a retried push
    /// sets the same value). `now` is the current minute; a minute after it, or older than the
    /// history kept, is refused. Calls per minute from the call centre come in this way.
    pub fn record_count(
        &mut self,
        stream: &str,
        minute: UnixMinute,
        count: u32,
        now: UnixMinute,
    ) -> Result<(), SignalsError> {
        self.store.record_count(stream, minute, count, now)
    }

    /// Adds one event (a post, a feed item) at `at_unix_ms`.
    pub fn record_event(
        &mut self,
        stream: &str,
        at_unix_ms: i64,
        now: UnixMinute,
    ) -> Result<(), SignalsError> {
        self.store
            .add_events(stream, UnixMinute::containing_ms(at_unix_ms), 1, now)
    }

    /// Counts a dat poll's new posts for `stream` (and those whose body has an outage word for
    /// its outage-word stream) and marks the minutes before
    /// `polled_at_unix_ms − POLL_SETTLE_MS` complete.
    pub fn record_dat_poll(
        &mut self,
        stream: &str,
        poll: &DatPoll,
        polled_at_unix_ms: i64,
    ) -> Result<IngestReport, SignalsError> {
        let words = self.outage_words.as_ref();
        let events: Vec<(i64, bool)> = poll
            .new_posts
            .iter()
            .map(|post| {
                let worded = words.is_some_and(|w| w.matches(&[&post.body]));
                (post.posted_at_unix_ms, worded)
            })
            .collect();
        self.ingest(stream, &events, polled_at_unix_ms)
    }

    /// Same as [`SignalsMonitor::record_dat_poll`] for a feed poll (outage words are looked for
    /// in the item's title).
    pub fn record_feed_poll(
        &mut self,
        stream: &str,
        poll: &FeedPoll,
        polled_at_unix_ms: i64,
    ) -> Result<IngestReport, SignalsError> {
        let words = self.outage_words.as_ref();
        let events: Vec<(i64, bool)> = poll
            .new_items
            .iter()
            .map(|item| {
                let worded = words
                    .zip(item.title.as_deref())
                    .is_some_and(|(w, title)| w.matches(&[title]));
                (item.published_at_unix_ms, worded)
            })
            .collect();
        self.ingest(stream, &events, polled_at_unix_ms)
    }

    /// The outage-word stream of `stream`, when some group watches it for outage words.
    fn words_stream_of(&self, stream: &str) -> Option<String> {
        let derived = outage_words_stream(stream);
        self.store.stream(&derived).map(|_| derived)
    }

    /// `events`: (time, whether the text has an outage word).
    fn ingest(
        &mut self,
        stream: &str,
        events: &[(i64, bool)],
        polled_at_unix_ms: i64,
    ) -> Result<IngestReport, SignalsError> {
        if self.store.stream(stream).is_none() {
            return Err(SignalsError::UnknownStream(stream.to_owned()));
        }
        let words_stream = self.words_stream_of(stream);
        let now = UnixMinute::containing_ms(polled_at_unix_ms);
        let judged_before = self
            .groups
            .iter()
            .filter(|g| g.group.ours == stream || g.group.peers.iter().any(|p| p == stream))
            .map(|g| g.next_minute)
            .min();
        let mut report = IngestReport::default();
        for &(stamp, worded) in events {
            let minute = UnixMinute::containing_ms(stamp);
            match self.store.add_events(stream, minute, 1, now) {
                Ok(()) => {
                    report.counted += 1;
                    if judged_before.is_some_and(|next| minute < next) {
                        report.late += 1;
                    }
                    if worded {
                        report.outage_words += 1;
                        if let Some(words_stream) = &words_stream {
                            // Same bounds as the line above, which passed.
                            self.store.add_events(words_stream, minute, 1, now)?;
                        }
                    }
                }
                Err(SignalsError::CountRejected { .. }) => report.out_of_window += 1,
                Err(other) => return Err(other),
            }
        }
        let settled = UnixMinute::containing_ms(polled_at_unix_ms.saturating_sub(POLL_SETTLE_MS));
        self.mark_complete_before(stream, settled)?;
        Ok(report)
    }

    /// Declares the minutes before `minute` complete for `stream` and its outage-word stream
    /// (e.g. a poll found nothing new).
    pub fn mark_complete_before(
        &mut self,
        stream: &str,
        minute: UnixMinute,
    ) -> Result<(), SignalsError> {
        self.store.mark_complete_before(stream, minute)?;
        if let Some(words_stream) = self.words_stream_of(stream) {
            self.store.mark_complete_before(&words_stream, minute)?;
        }
        Ok(())
    }

    /// Judges every minute before `now` that is ready, in order, and returns the alarms raised.
    pub fn advance(&mut self, now: UnixMinute) -> Vec<Alarm> {
        let mut alarms = Vec::new();
        let oldest_kept = now.plus(1 - COUNT_HISTORY_MINUTES as i64);
        for state in &mut self.groups {
            if state.next_minute < oldest_kept {
                // Counts that old are gone: those minutes can no longer be judged.
                let skipped = oldest_kept.0 - state.next_minute.0;
                state.minutes_skipped += skipped as u64;
                state.next_minute = oldest_kept;
            }
            while state.next_minute < now {
                let minute = state.next_minute;
                let complete = std::iter::once(&state.group.ours)
                    .chain(&state.group.peers)
                    .all(|stream| is_complete(&self.store, stream, minute));
                if complete {
                    let ours = self
                        .store
                        .stream(&state.group.ours)
                        .map_or(0, |s| s.get(minute));
                    let peers: Vec<u32> = state
                        .group
                        .peers
                        .iter()
                        .map(|peer| self.store.stream(peer).map_or(0, |s| s.get(minute)))
                        .collect();
                    if let Some(alarm) = state.detector.observe(minute, ours, &peers) {
                        alarms.push(alarm);
                    }
                    state.minutes_judged += 1;
                } else if now.0 - minute.0 > STREAM_WAIT_MINUTES_MAX {
                    state.minutes_skipped += 1;
                } else {
                    break;
                }
                state.next_minute = minute.plus(1);
            }
        }
        alarms
    }

    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups
            .iter()
            .map(|state| GroupStatus {
                group: state.group.name.clone(),
                evidence: state.evidence,
                ours: state.group.ours.clone(),
                peers: state.group.peers.clone(),
                next_minute: state.next_minute,
                minutes_judged: state.minutes_judged,
                minutes_skipped: state.minutes_skipped,
                waiting_for: std::iter::once(&state.group.ours)
                    .chain(&state.group.peers)
                    .filter(|stream| !is_complete(&self.store, stream, state.next_minute))
                    .cloned()
                    .collect(),
                detector: state.detector.status(),
            })
            .collect()
    }
}

fn is_complete(store: &CountStore, stream: &str, minute: UnixMinute) -> bool {
    store
        .stream(stream)
        .and_then(|s| s.complete_before())
        .is_some_and(|before| minute < before)
}
