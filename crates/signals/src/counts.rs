//! Per-minute counts per stream, and the configuration that says which streams are ours and
//! which are the peers we compare them with.
//!
//! Memory is bounded: each stream keeps the last [`COUNT_HISTORY_MINUTES`] minutes in a ring,
//! and there are at most [`STREAMS_MAX`] streams.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detector::Sensitivity;
use crate::error::SignalsError;
use crate::time::UnixMinute;
use crate::words::{outage_words_stream, OutageWords, OutageWordsConfig, OUTAGE_WORDS_SUFFIX};

/// Minutes of counts kept per stream (one day). Older minutes are forgotten.
pub const COUNT_HISTORY_MINUTES: usize = 24 * 60;
/// Streams one configuration may name.
pub const STREAMS_MAX: usize = 64;
/// Groups one stream may be in.
pub const GROUPS_PER_STREAM_MAX: usize = 8;
/// A single minute's count above this is refused as implausible (no board or call centre
/// receives a million posts or calls in a minute).
pub const COUNT_PER_MINUTE_MAX: u32 = 1_000_000;
/// A count may be for a minute this far after `now`: a board's clock running a little ahead of
/// ours must not lose posts.
pub const FUTURE_SKEW_MINUTES_MAX: i64 = 2;
/// A stream name longer than this is refused.
pub const STREAM_NAME_BYTES_MAX: usize = 128;

/// Whether a stream is about us or about a peer broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRole {
    Ours,
    Peer,
}

/// One stream of events counted per minute (posts of one board thread, entries of one feed,
/// calls to one call centre).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Unique name, e.g. `"5ch/ours"`.
    pub name: String,
    pub role: StreamRole,
    /// Streams are compared within a group: the one `ours` stream of a group against the group's
    /// `peer` streams (e.g. group `"5ch"`: our thread and the threads of three other brokers).
    /// A stream may be in several groups: the call centre has no peers of its own, so its group
    /// `"calls"` can use the peers' board threads as the measure of how excited the market is.
    pub groups: Vec<String>,
}

/// The signals configuration (TOML-friendly):
///
/// ```toml
/// sensitivity = "standard"
/// [[streams]]
/// name = "5ch/ours"
/// role = "ours"
/// groups = ["5ch"]
/// [[streams]]
/// name = "5ch/peer-a"
/// role = "peer"
/// groups = ["5ch", "calls"]
/// [[streams]]
/// name = "5ch/peer-b"
/// role = "peer"
/// groups = ["5ch", "calls"]
/// [[streams]]
/// name = "calls/ours"
/// role = "ours"
/// groups = ["calls"]
/// [outage_words]
/// groups = ["5ch"]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalsConfig {
    #[serde(default)]
    pub sensitivity: Sensitivity,
    pub streams: Vec<StreamConfig>,
    /// Groups also judged on their posts that contain outage words (see [`crate::words`]).
    #[serde(default)]
    pub outage_words: OutageWordsConfig,
}

/// One group after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonGroup {
    pub name: String,
    pub ours: String,
    pub peers: Vec<String>,
}

impl SignalsConfig {
    /// Checks the configuration and returns its groups in name order: names unique and
    /// non-empty, at most [`STREAMS_MAX`] streams, exactly one `ours` and at least one `peer`
    /// stream per group.
    pub fn groups(&self) -> Result<Vec<ComparisonGroup>, SignalsError> {
        if self.streams.len() > STREAMS_MAX {
            return Err(SignalsError::Config(format!(
                "{} streams configured, at most {STREAMS_MAX} allowed",
                self.streams.len()
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut groups: BTreeMap<&str, (Vec<&str>, Vec<String>)> = BTreeMap::new();
        for stream in &self.streams {
            check_stream_name(&stream.name)?;
            if stream.name.ends_with(OUTAGE_WORDS_SUFFIX)
                || stream
                    .groups
                    .iter()
                    .any(|g| g.ends_with(OUTAGE_WORDS_SUFFIX))
            {
                return Err(SignalsError::Config(format!(
                    "stream {:?}: names ending in {OUTAGE_WORDS_SUFFIX:?} are reserved for the \
                     outage-word streams",
                    stream.name
                )));
            }
            if stream.groups.is_empty() || stream.groups.len() > GROUPS_PER_STREAM_MAX {
                return Err(SignalsError::Config(format!(
                    "stream {:?} must be in 1..={GROUPS_PER_STREAM_MAX} groups",
                    stream.name
                )));
            }
            if stream.groups.iter().any(|group| group.trim().is_empty()) {
                return Err(SignalsError::Config(format!(
                    "stream {:?} has an empty group name",
                    stream.name
                )));
            }
            if !names.insert(stream.name.as_str()) {
                return Err(SignalsError::Config(format!(
                    "stream {:?} is configured twice",
                    stream.name
                )));
            }
            let mut seen_groups = std::collections::BTreeSet::new();
            for group in &stream.groups {
                if !seen_groups.insert(group.as_str()) {
                    return Err(SignalsError::Config(format!(
                        "stream {:?} lists group {group:?} twice",
                        stream.name
                    )));
                }
                let entry = groups.entry(group.as_str()).or_default();
                match stream.role {
                    StreamRole::Ours => entry.0.push(&stream.name),
                    StreamRole::Peer => entry.1.push(stream.name.clone()),
                }
            }
        }
        let mut out = Vec::new();
        for (group, (ours, peers)) in groups {
            let [ours] = ours.as_slice() else {
                return Err(SignalsError::Config(format!(
                    "group {group:?} has {} `ours` streams; it needs exactly one",
                    ours.len()
                )));
            };
            if peers.is_empty() {
                return Err(SignalsError::Config(format!(
                    "group {group:?} has no `peer` stream: without peers a market-wide rise \
                     cannot be told from an outage"
                )));
            }
            out.push(ComparisonGroup {
                name: group.to_owned(),
                ours: (*ours).to_owned(),
                peers,
            });
        }
        if out.is_empty() {
            return Err(SignalsError::Config("no streams configured".to_owned()));
        }
        self.check_outage_words(&out)?;
        Ok(out)
    }

    /// The groups judged on outage-word posts: for each group named in `outage_words.groups`,
    /// a group `<group>#outage-words` of the derived streams `<stream>#outage-words` of the
    /// same streams. Validates the whole configuration first.
    pub fn outage_word_groups(&self) -> Result<Vec<ComparisonGroup>, SignalsError> {
        let groups = self.groups()?;
        Ok(groups
            .into_iter()
            .filter(|group| self.outage_words.groups.contains(&group.name))
            .map(|group| ComparisonGroup {
                name: format!("{}{OUTAGE_WORDS_SUFFIX}", group.name),
                ours: outage_words_stream(&group.ours),
                peers: group.peers.iter().map(|p| outage_words_stream(p)).collect(),
            })
            .collect())
    }

    fn check_outage_words(&self, groups: &[ComparisonGroup]) -> Result<(), SignalsError> {
        let mut seen = std::collections::BTreeSet::new();
        for name in &self.outage_words.groups {
            if !groups.iter().any(|group| &group.name == name) {
                return Err(SignalsError::Config(format!(
                    "outage_words: group {name:?} is not a configured group"
                )));
            }
            if !seen.insert(name.as_str()) {
                return Err(SignalsError::Config(format!(
                    "outage_words: group {name:?} is listed twice"
                )));
            }
        }
        OutageWords::from_config(&self.outage_words).map(|_| ())
    }
}

fn check_stream_name(name: &str) -> Result<(), SignalsError> {
    if name.trim().is_empty() || name.len() > STREAM_NAME_BYTES_MAX {
        return Err(SignalsError::Config(format!(
            "stream name {:?} must be 1..={STREAM_NAME_BYTES_MAX} bytes",
            name.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

/// The counts of one stream: a ring of the last [`COUNT_HISTORY_MINUTES`] minutes.
#[derive(Debug, Clone)]
pub struct StreamCounts {
    /// `(minute, count)` per slot; a slot belongs to `minute` only if the tag matches.
    slots: Vec<(i64, u32)>,
    /// Every minute before this one is complete for this stream (exclusive watermark).
    complete_before: Option<UnixMinute>,
}

impl Default for StreamCounts {
    fn default() -> Self {
        StreamCounts {
            slots: vec![(i64::MIN, 0); COUNT_HISTORY_MINUTES],
            complete_before: None,
        }
    }
}

impl StreamCounts {
    fn slot_index(minute: UnixMinute) -> usize {
        // rem_euclid of a positive modulus is in [0, COUNT_HISTORY_MINUTES).
        minute.0.rem_euclid(COUNT_HISTORY_MINUTES as i64) as usize
    }

    /// The count of `minute`, 0 if nothing was recorded (or it is older than the history).
    pub fn get(&self, minute: UnixMinute) -> u32 {
        let (tag, count) = self.slots[Self::slot_index(minute)];
        if tag == minute.0 {
            count
        } else {
            0
        }
    }

    fn slot_mut(&mut self, minute: UnixMinute) -> &mut u32 {
        let slot = &mut self.slots[Self::slot_index(minute)];
        if slot.0 != minute.0 {
            *slot = (minute.0, 0);
        }
        &mut slot.1
    }

    pub fn complete_before(&self) -> Option<UnixMinute> {
        self.complete_before
    }

    fn mark_complete_before(&mut self, minute: UnixMinute) {
        if self.complete_before.is_none_or(|current| minute > current) {
            self.complete_before = Some(minute);
        }
    }
}

/// Counts of all configured streams, with the bounds that keep a bad client from doing harm.
#[derive(Debug, Clone, Default)]
pub struct CountStore {
    streams: BTreeMap<String, StreamCounts>,
}

impl CountStore {
    pub fn new<'a>(stream_names: impl IntoIterator<Item = &'a str>) -> Self {
        CountStore {
            streams: stream_names
                .into_iter()
                .map(|name| (name.to_owned(), StreamCounts::default()))
                .collect(),
        }
    }

    pub fn stream(&self, name: &str) -> Option<&StreamCounts> {
        self.streams.get(name)
    }

    /// Sets the count of a finished minute (push API: e.g. the call centre's calls per minute).
    /// Setting, not adding, makes a retried push harmless. The minute is then complete for that
    /// stream. `now` bounds the minute: not in the future, not older than the history.
    pub fn record_count(
        &mut self,
        stream: &str,
        minute: UnixMinute,
        count: u32,
        now: UnixMinute,
    ) -> Result<(), SignalsError> {
        let counts = self.checked_stream(stream, minute, now)?;
        if count > COUNT_PER_MINUTE_MAX {
            return Err(rejected(
                stream,
                minute,
                format!("count {count} is above the limit of {COUNT_PER_MINUTE_MAX}"),
            ));
        }
        *counts.slot_mut(minute) = count;
        counts.mark_complete_before(minute.plus(1));
        Ok(())
    }

    /// Adds `events` to the count of `minute` (posts and feed items, one by one as polled).
    pub fn add_events(
        &mut self,
        stream: &str,
        minute: UnixMinute,
        events: u32,
        now: UnixMinute,
    ) -> Result<(), SignalsError> {
        let counts = self.checked_stream(stream, minute, now)?;
        let slot = counts.slot_mut(minute);
        *slot = slot.saturating_add(events).min(COUNT_PER_MINUTE_MAX);
        Ok(())
    }

    /// Declares every minute before `minute` complete for `stream` (its poller succeeded at a
    /// time when those minutes were over).
    pub fn mark_complete_before(
        &mut self,
        stream: &str,
        minute: UnixMinute,
    ) -> Result<(), SignalsError> {
        self.streams
            .get_mut(stream)
            .ok_or_else(|| SignalsError::UnknownStream(stream.to_owned()))?
            .mark_complete_before(minute);
        Ok(())
    }

    fn checked_stream(
        &mut self,
        stream: &str,
        minute: UnixMinute,
        now: UnixMinute,
    ) -> Result<&mut StreamCounts, SignalsError> {
        if minute > now.plus(FUTURE_SKEW_MINUTES_MAX) {
            return Err(rejected(stream, minute, format!("is after now ({now})")));
        }
        if minute.0 <= now.0.saturating_sub(COUNT_HISTORY_MINUTES as i64) {
            return Err(rejected(
                stream,
                minute,
                format!("is older than the {COUNT_HISTORY_MINUTES} minutes kept"),
            ));
        }
        self.streams
            .get_mut(stream)
            .ok_or_else(|| SignalsError::UnknownStream(stream.to_owned()))
    }
}

fn rejected(stream: &str, minute: UnixMinute, reason: String) -> SignalsError {
    SignalsError::CountRejected {
        stream: stream.to_owned(),
        minute: minute.0,
        reason,
    }
}
