//! Outside signals as a desk monitor: configured streams (our broker's and the peers' dat
//! threads, RSS/Atom feeds, pushed counts such as the call centre's calls per minute) are polled
//! or pushed into a [`SignalsMonitor`]; each alarm it raises opens an incident through the desk,
//! or annotates the one open for the component, with the alarm's own explanation (our rate, the
//! expected rate, the peers' rates).
//!
//! The file (`--signals-config`, TOML):
//!
//! ```toml
//! sensitivity = "standard"      # low | standard | high
//! component = "trading"         # incidents are opened for this component
//! severity = "partial_outage"   # their impact
//! poll_interval_s = 60
//! [[streams]]
//! name = "5ch/ours"
//! role = "ours"
//! groups = ["5ch"]
//! source = { kind = "dat", url = "http://board.example/test/dat/1700000000.dat" }
//! [[streams]]
//! name = "5ch/peer-a"
//! role = "peer"
//! groups = ["5ch", "calls"]
//! source = { kind = "dat", file = "/var/lib/boards/peer-a.dat" }
//! [[streams]]
//! name = "calls/ours"           # no source: counts are pushed to
//! role = "ours"                 # POST /api/signals/calls%2Fours/counts
//! groups = ["calls"]
//! [outage_words]                # optional
//! groups = ["5ch"]              # default: every group whose streams are all polled
//! terms = ["鯖落ち", "..."]      # default: fxdesk_signals::words::DEFAULT_OUTAGE_TERMS
//! ```
//!
//! A group in `outage_words` is also judged on its posts that contain outage words (the words
//! are read from dat bodies and feed titles; a pushed count has no text, so every stream of such
//! a group must have a `source`). `groups = []` turns it off.
//!
//! Push: `POST /api/signals/{stream}/counts` with `{"minute": "2026-11-23T12:05:00Z",
//! "count": 17}` or `{"counts": [{"minute": ..., "count": ...}, ...]}` (at most
//! [`PUSH_ENTRIES_MAX`]); `minute` is RFC 3339 (the minute containing it is meant) or Unix
//! milliseconds. A push sets the minute's count (a retry does not double it) and is
//! all-or-nothing: one bad entry refuses the whole request (400) and stores nothing. Needs a desk
//! token whose role may push signals (operator, approver, admin).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fxdesk_desk::{Clock, ComponentStatus, Desk, ExternalReport, UnixMs};
use fxdesk_signals::counts::{
    COUNT_HISTORY_MINUTES, COUNT_PER_MINUTE_MAX, FUTURE_SKEW_MINUTES_MAX,
};
use fxdesk_signals::feeds::FeedPoller;
use fxdesk_signals::poll::DatPoller;
use fxdesk_signals::words::OUTAGE_WORDS_SUFFIX;
use fxdesk_signals::{
    Alarm, OutageWordsConfig, Sensitivity, SignalsConfig, SignalsMonitor, Source, StreamConfig,
    StreamRole, UnixMinute,
};
use serde::{Deserialize, Serialize};

/// Entries one push may carry (a day of minutes).
pub const PUSH_ENTRIES_MAX: usize = COUNT_HISTORY_MINUTES;
/// Shortest and longest poll interval accepted.
pub const POLL_INTERVAL_S_MIN: u64 = 5;
pub const POLL_INTERVAL_S_MAX: u64 = 3_600;
/// Largest signals configuration file read.
pub const CONFIG_BYTES_MAX: u64 = 1 << 20;

/// The signals configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsSetup {
    #[serde(default)]
    pub sensitivity: Sensitivity,
    #[serde(default = "default_component")]
    pub component: String,
    #[serde(default = "default_severity")]
    pub severity: ComponentStatus,
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    pub streams: Vec<StreamSetup>,
    #[serde(default)]
    pub outage_words: Option<OutageWordsSetup>,
}

/// Which groups are watched for outage words, and the words.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageWordsSetup {
    /// None: every group whose streams all have a source.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Empty: the default list.
    #[serde(default)]
    pub terms: Vec<String>,
}

fn default_component() -> String {
    "trading".to_owned()
}
fn default_severity() -> ComponentStatus {
    ComponentStatus::PartialOutage
}
fn default_poll_interval_s() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSetup {
    pub name: String,
    pub role: StreamRole,
    pub groups: Vec<String>,
    /// Where the stream is polled from; none: its counts are pushed.
    #[serde(default)]
    pub source: Option<SourceSetup>,
}

/// A dat thread or a feed, from a file or an `http://` URL (exactly one of the two).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSetup {
    pub kind: SourceKind,
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A 2ch/5ch dat thread.
    Dat,
    /// RSS, Atom or JSON Feed.
    Feed,
}

/// Why a signals setup or push was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignalsSetupError {
    #[error("signals config {path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("signals config: {0}")]
    Invalid(String),
}

impl SignalsSetup {
    pub fn load(path: &Path) -> Result<SignalsSetup, SignalsSetupError> {
        let bad = |detail: String| SignalsSetupError::File {
            path: path.to_owned(),
            detail,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > CONFIG_BYTES_MAX {
            return Err(bad(format!("larger than {CONFIG_BYTES_MAX} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.to_string()))
    }

    /// The detector's view of the streams (roles and groups).
    pub fn signals_config(&self) -> SignalsConfig {
        SignalsConfig {
            sensitivity: self.sensitivity,
            streams: self
                .streams
                .iter()
                .map(|s| StreamConfig {
                    name: s.name.clone(),
                    role: s.role,
                    groups: s.groups.clone(),
                })
                .collect(),
            outage_words: OutageWordsConfig {
                groups: self.outage_word_groups(),
                terms: self
                    .outage_words
                    .as_ref()
                    .map(|w| w.terms.clone())
                    .unwrap_or_default(),
            },
        }
    }

    /// The groups named in `[outage_words]`, or by default those whose streams are all polled
    /// (in name order).
    fn outage_word_groups(&self) -> Vec<String> {
        if let Some(groups) = self.outage_words.as_ref().and_then(|w| w.groups.clone()) {
            return groups;
        }
        let names: std::collections::BTreeSet<&String> =
            self.streams.iter().flat_map(|s| &s.groups).collect();
        names
            .into_iter()
            .filter(|group| {
                self.streams
                    .iter()
                    .filter(|s| s.groups.contains(group))
                    .all(|s| s.source.is_some())
            })
            .cloned()
            .collect()
    }

    fn validate(&self) -> Result<(), SignalsSetupError> {
        if !(POLL_INTERVAL_S_MIN..=POLL_INTERVAL_S_MAX).contains(&self.poll_interval_s) {
            return Err(SignalsSetupError::Invalid(format!(
                "poll_interval_s must be {POLL_INTERVAL_S_MIN}..={POLL_INTERVAL_S_MAX}"
            )));
        }
        for stream in &self.streams {
            if let Some(source) = &stream.source {
                if source.file.is_some() == source.url.is_some() {
                    return Err(SignalsSetupError::Invalid(format!(
                        "stream {:?}: a source needs exactly one of `file` and `url`",
                        stream.name
                    )));
                }
            }
        }
        let config = self.signals_config();
        for group in &config.outage_words.groups {
            if let Some(pushed) = self
                .streams
                .iter()
                .find(|s| s.groups.contains(group) && s.source.is_none())
            {
                return Err(SignalsSetupError::Invalid(format!(
                    "outage_words: group {group:?} has stream {:?} without a source; pushed \
                     counts carry no text to look for outage words in",
                    pushed.name
                )));
            }
        }
        config
            .groups()
            .map(|_| ())
            .map_err(|e| SignalsSetupError::Invalid(e.to_string()))
    }
}

impl SourceSetup {
    fn source(&self) -> Source {
        match (&self.file, &self.url) {
            (Some(file), _) => Source::File(file.clone()),
            (None, Some(url)) => Source::Http(url.clone()),
            // validate() refused this; an empty URL fails every poll, visibly.
            (None, None) => Source::Http(String::new()),
        }
    }
}

enum Poller {
    Dat(DatPoller),
    Feed(FeedPoller),
}

struct StreamPoller {
    stream: String,
    poller: Poller,
}

/// What one poll of a source brought, to be counted once the blocking work is done.
enum Polled {
    Dat(fxdesk_signals::poll::DatPoll),
    Feed(fxdesk_signals::feeds::FeedPoll),
}

/// The running signals monitor of a desk.
pub struct SignalsWatch {
    desk: Arc<Desk>,
    clock: Arc<dyn Clock>,
    component: String,
    severity: ComponentStatus,
    poll_interval_ms: i64,
    stream_names: Vec<String>,
    monitor: Mutex<SignalsMonitor>,
    /// Taken out while a poll pass runs (polls block: they run on the blocking pool).
    pollers: tokio::sync::Mutex<Vec<StreamPoller>>,
    next_poll_ms: Mutex<UnixMs>,
    counts_pushed_total: AtomicU64,
    polls_failed_total: AtomicU64,
    alarms_total: AtomicU64,
    incidents_opened_total: AtomicU64,
}

/// One entry of a push.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedCount {
    pub minute: MinuteText,
    pub count: u64,
}

/// RFC 3339 text or Unix milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MinuteText {
    UnixMs(i64),
    Text(String),
}

/// The body of a push: one entry or many.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PushBody {
    Many { counts: Vec<PushedCount> },
    One(PushedCount),
}

/// What a push (or a monitor pass) did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignalsOutcome {
    pub recorded: usize,
    /// The alarms raised, each with the incident it opened or annotated.
    pub alarms: Vec<AlarmOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmOutcome {
    pub group: String,
    pub summary: String,
    pub incident_id: Option<i64>,
    pub opened: bool,
}

/// A refused push, with the HTTP status it deserves.
#[derive(Debug)]
pub enum PushError {
    UnknownStream(String),
    Invalid(String),
    /// The counts were stored, but the desk failed to act on an alarm.
    Desk(fxdesk_desk::DeskError),
}

impl SignalsWatch {
    /// Starts judging at the clock's current minute.
    pub fn new(
        setup: &SignalsSetup,
        desk: Arc<Desk>,
        clock: Arc<dyn Clock>,
    ) -> Result<SignalsWatch, SignalsSetupError> {
        setup.validate()?;
        if desk.config().component_name(&setup.component).is_none() {
            return Err(SignalsSetupError::Invalid(format!(
                "component {:?} is not a desk component",
                setup.component
            )));
        }
        let now_ms = clock.now_ms();
        let monitor =
            SignalsMonitor::new(&setup.signals_config(), UnixMinute::containing_ms(now_ms))
                .map_err(|e| SignalsSetupError::Invalid(e.to_string()))?;
        let pollers = setup
            .streams
            .iter()
            .filter_map(|stream| {
                let source = stream.source.as_ref()?;
                let poller = match source.kind {
                    SourceKind::Dat => Poller::Dat(DatPoller::new(source.source())),
                    SourceKind::Feed => Poller::Feed(FeedPoller::new(source.source())),
                };
                Some(StreamPoller {
                    stream: stream.name.clone(),
                    poller,
                })
            })
            .collect();
        Ok(SignalsWatch {
            desk,
            clock,
            component: setup.component.clone(),
            severity: setup.severity,
            poll_interval_ms: i64::try_from(setup.poll_interval_s).unwrap_or(60) * 1_000,
            stream_names: setup.streams.iter().map(|s| s.name.clone()).collect(),
            monitor: Mutex::new(monitor),
            pollers: tokio::sync::Mutex::new(pollers),
            next_poll_ms: Mutex::new(i64::MIN),
            counts_pushed_total: AtomicU64::new(0),
            polls_failed_total: AtomicU64::new(0),
            alarms_total: AtomicU64::new(0),
            incidents_opened_total: AtomicU64::new(0),
        })
    }

    fn monitor(&self) -> std::sync::MutexGuard<'_, SignalsMonitor> {
        self.monitor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One pass at `now_ms`: polls the sources if due, judges the finished minutes, and acts on
    /// the alarms. Poll failures are logged and counted; the stream's minutes then wait (and
    /// are skipped after a few minutes) rather than look like a quiet peer.
    pub async fn step(&self, now_ms: UnixMs) -> Result<SignalsOutcome, fxdesk_desk::DeskError> {
        let due = {
            let mut next = self
                .next_poll_ms
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if now_ms >= *next {
                *next = now_ms + self.poll_interval_ms;
                true
            } else {
                false
            }
        };
        if due {
            self.poll_all(now_ms).await;
        }
        self.judge(now_ms, 0).await
    }

    async fn poll_all(&self, now_ms: UnixMs) {
        let mut guard = self.pollers.lock().await;
        if guard.is_empty() {
            return;
        }
        let mut pollers = std::mem::take(&mut *guard);
        let polled = tokio::task::spawn_blocking(move || {
            let results: Vec<Result<Polled, String>> = pollers
                .iter_mut()
                .map(|p| match &mut p.poller {
                    Poller::Dat(dat) => dat.poll().map(Polled::Dat).map_err(|e| e.to_string()),
                    Poller::Feed(feed) => feed.poll().map(Polled::Feed).map_err(|e| e.to_string()),
                })
                .collect();
            (pollers, results)
        })
        .await;
        let Ok((pollers, results)) = polled else {
            tracing::error!("signals poll task failed; pollers restart from scratch");
            return;
        };
        {
            let mut monitor = self.monitor();
            for (poller, result) in pollers.iter().zip(results) {
                let recorded = match result {
                    Ok(Polled::Dat(poll)) => monitor
                        .record_dat_poll(&poller.stream, &poll, now_ms)
                        .map_err(|e| e.to_string()),
                    Ok(Polled::Feed(poll)) => monitor
                        .record_feed_poll(&poller.stream, &poll, now_ms)
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error),
                };
                if let Err(error) = recorded {
                    self.polls_failed_total.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(stream = %poller.stream, "signals poll failed: {error}");
                }
            }
        }
        *guard = pollers;
    }

    /// Judges every finished minute that is complete and acts on the alarms.
    async fn judge(
        &self,
        now_ms: UnixMs,
        recorded: usize,
    ) -> Result<SignalsOutcome, fxdesk_desk::DeskError> {
        let alarms = self.monitor().advance(UnixMinute::containing_ms(now_ms));
        let mut outcome = SignalsOutcome {
            recorded,
            alarms: Vec::new(),
        };
        for alarm in alarms {
            self.alarms_total.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(group = %alarm.group, "outside signals alarm: {}", alarm.summary);
            let reported = self.desk.report_external(self.report(&alarm)).await?;
            if reported.opened {
                self.incidents_opened_total.fetch_add(1, Ordering::Relaxed);
            }
            outcome.alarms.push(AlarmOutcome {
                group: alarm.group.clone(),
                summary: alarm.summary.clone(),
                incident_id: Some(reported.incident_id),
                opened: reported.opened,
            });
        }
        Ok(outcome)
    }

    fn report(&self, alarm: &Alarm) -> ExternalReport {
        ExternalReport {
            monitor: format!("signals.{}", alarm.group),
            component: self.component.clone(),
            severity: self.severity,
            impact_started_at_ms: alarm.onset.start_unix_s().saturating_mul(1_000),
            title: match alarm.ours_stream.strip_suffix(OUTAGE_WORDS_SUFFIX) {
                Some(stream) => format!(
                    "Outside signals: {stream} posts naming an outage at {:.1}/min, {:.1}/min \
                     expected from the peers",
                    alarm.ours_per_minute, alarm.expected_per_minute
                ),
                None => format!(
                    "Outside signals: {} at {:.1}/min, {:.1}/min expected from the peers",
                    alarm.ours_stream, alarm.ours_per_minute, alarm.expected_per_minute
                ),
            },
            message: format!("outside signals ({}): {}", alarm.group, alarm.summary),
        }
    }

    /// Push API: sets the counts of `stream`'s finished minutes, then judges what became
    /// complete. All or nothing: a bad entry refuses the whole push.
    pub async fn push(&self, stream: &str, body: PushBody) -> Result<SignalsOutcome, PushError> {
        if !self.stream_names.iter().any(|name| name == stream) {
            return Err(PushError::UnknownStream(stream.to_owned()));
        }
        let entries = match body {
            PushBody::Many { counts } => counts,
            PushBody::One(one) => vec![one],
        };
        if entries.is_empty() || entries.len() > PUSH_ENTRIES_MAX {
            return Err(PushError::Invalid(format!(
                "a push carries 1..={PUSH_ENTRIES_MAX} counts"
            )));
        }
        let now_ms = self.clock.now_ms();
        let now = UnixMinute::containing_ms(now_ms);
        let mut checked = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let minute = parse_minute(&entry.minute).map_err(|detail| {
                PushError::Invalid(format!("counts[{index}].minute: {detail}"))
            })?;
            // The same bounds the count store applies, checked first so nothing is stored
            // from a push that is refused.
            if minute > now.plus(FUTURE_SKEW_MINUTES_MAX) {
                return Err(PushError::Invalid(format!(
                    "counts[{index}]: minute {minute} is after now ({now})"
                )));
            }
            if minute.0 <= now.0 - COUNT_HISTORY_MINUTES as i64 {
                return Err(PushError::Invalid(format!(
                    "counts[{index}]: minute {minute} is older than the {COUNT_HISTORY_MINUTES} minutes kept"
                )));
            }
            let count = u32::try_from(entry.count)
                .ok()
                .filter(|c| *c <= COUNT_PER_MINUTE_MAX)
                .ok_or_else(|| {
                    PushError::Invalid(format!(
                        "counts[{index}].count {} is above the limit of {COUNT_PER_MINUTE_MAX}",
                        entry.count
                    ))
                })?;
            checked.push((minute, count));
        }
        {
            let mut monitor = self.monitor();
            for &(minute, count) in &checked {
                monitor
                    .record_count(stream, minute, count, now)
                    .map_err(|e| PushError::Invalid(e.to_string()))?;
            }
        }
        self.counts_pushed_total
            .fetch_add(checked.len() as u64, Ordering::Relaxed);
        self.judge(now_ms, checked.len())
            .await
            .map_err(PushError::Desk)
    }

    /// Prometheus text of the signals monitor (`fxdesk_signals_*`).
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let counters = [
            (
                "counts_pushed_total",
                &self.counts_pushed_total,
                "Minute counts pushed.",
            ),
            (
                "polls_failed_total",
                &self.polls_failed_total,
                "Source polls that failed.",
            ),
            ("alarms_total", &self.alarms_total, "Detector alarms."),
            (
                "incidents_opened_total",
                &self.incidents_opened_total,
                "Incidents opened by outside signals (not annotations).",
            ),
        ];
        for (name, counter, help) in counters {
            let _ = writeln!(
                out,
                "# HELP fxdesk_signals_{name} {help}\n# TYPE fxdesk_signals_{name} counter\nfxdesk_signals_{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let status = self.monitor().status();
        let _ = writeln!(
            out,
            "# HELP fxdesk_signals_score Detector evidence per group (alarm at the threshold).\n# TYPE fxdesk_signals_score gauge"
        );
        for group in &status {
            let _ = writeln!(
                out,
                "fxdesk_signals_score{{group=\"{}\"}} {}",
                escape_label(&group.group),
                group.detector.score
            );
        }
        let _ = writeln!(
            out,
            "# HELP fxdesk_signals_minutes_skipped_total Minutes not judged because a stream never completed them.\n# TYPE fxdesk_signals_minutes_skipped_total counter"
        );
        for group in &status {
            let _ = writeln!(
                out,
                "fxdesk_signals_minutes_skipped_total{{group=\"{}\"}} {}",
                escape_label(&group.group),
                group.minutes_skipped
            );
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn parse_minute(text: &MinuteText) -> Result<UnixMinute, String> {
    match text {
        MinuteText::UnixMs(ms) => Ok(UnixMinute::containing_ms(*ms)),
        MinuteText::Text(text) => text
            .parse::<jiff::Timestamp>()
            .map(|t| UnixMinute::containing_ms(t.as_millisecond()))
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STREAMS: &str = r#"
[[streams]]
name = "5ch/ours"
role = "ours"
groups = ["5ch"]
source = { kind = "dat", file = "/boards/ours.dat" }
[[streams]]
name = "5ch/peer"
role = "peer"
groups = ["5ch", "calls"]
source = { kind = "dat", file = "/boards/peer.dat" }
[[streams]]
name = "calls/ours"
role = "ours"
groups = ["calls"]
"#;

    fn setup(extra: &str) -> SignalsSetup {
        toml::from_str(&format!("{STREAMS}{extra}")).unwrap()
    }

    #[test]
    fn outage_words_default_to_the_groups_whose_streams_are_all_polled() {
        let default = setup("");
        default.validate().unwrap();
        // "calls" has a pushed stream (no text to read words in): not watched by default.
        assert_eq!(default.signals_config().outage_words.groups, ["5ch"]);
        let off = setup("[outage_words]\ngroups = []\n");
        off.validate().unwrap();
        assert!(off.signals_config().outage_words.groups.is_empty());
        let terms = setup("[outage_words]\nterms = [\"down\"]\n");
        assert_eq!(terms.signals_config().outage_words.terms, ["down"]);
        assert_eq!(terms.signals_config().outage_words.groups, ["5ch"]);
    }

    #[test]
    fn outage_words_on_a_pushed_stream_or_an_unknown_group_are_refused() {
        let pushed = setup("[outage_words]\ngroups = [\"calls\"]\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            pushed.contains("calls/ours") && pushed.contains("without a source"),
            "{pushed}"
        );
        let unknown = setup("[outage_words]\ngroups = [\"nope\"]\n")
            .validate()
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("not a configured group"), "{unknown}");
        assert!(toml::from_str::<SignalsSetup>(&format!(
            "{STREAMS}[outage_words]\ngroup = [\"5ch\"]\n"
        ))
        .is_err());
    }
}
