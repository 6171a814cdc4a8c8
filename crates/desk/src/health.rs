//! Engine health as the desk sees it, through a small trait so the desk never depends on the
//! engine. The server implements [`EngineHealth`] over the real engine (or feeds a
//! [`HealthRecorder`] from the engine loop); the desk only reads snapshots.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use crate::clock::UnixMs;
use crate::error::{DeskError, Result};

/// Samples kept per latency window; older ones are dropped first.
pub const MAX_LATENCY_SAMPLES: usize = 10_000;
/// Instruments tracked by a [`HealthRecorder`].
pub const MAX_INSTRUMENTS: usize = 1_000;

/// What the engine reports about itself at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineHealthSnapshot {
    /// When the engine loop last proved it was alive; `None` if it never did.
    pub last_heartbeat_ms: Option<UnixMs>,
    /// Last quote time per instrument (sorted by instrument).
    pub last_quote_ms: BTreeMap<String, UnixMs>,
    /// p99 of order acknowledgement latency over the provider's window, microseconds.
    pub order_ack_p99_us: Option<u64>,
    /// p99 of journal fsync latency over the provider's window, microseconds.
    pub journal_fsync_p99_us: Option<u64>,
}

/// A source of engine health snapshots.
pub trait EngineHealth: Send + Sync {
    fn snapshot(&self) -> EngineHealthSnapshot;
}

/// Latency samples over a sliding time window, with percentiles.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    window_ms: i64,
    samples: VecDeque<(UnixMs, u64)>,
}

impl LatencyWindow {
    pub fn new(window_ms: i64) -> Self {
        LatencyWindow {
            window_ms: window_ms.max(1),
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample taken at `at_ms`; drops samples outside the window or beyond the limit.
    pub fn record(&mut self, at_ms: UnixMs, latency_us: u64) {
        self.samples.push_back((at_ms, latency_us));
        self.expire(at_ms);
        while self.samples.len() > MAX_LATENCY_SAMPLES {
            self.samples.pop_front();
        }
    }

    fn expire(&mut self, now_ms: UnixMs) {
        while let Some(&(at_ms, _)) = self.samples.front() {
            if at_ms <= now_ms - self.window_ms {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    /// The `percentile` (0..=100) of samples newer than `now_ms - window`, nearest-rank.
    pub fn percentile(&self, now_ms: UnixMs, percentile: u32) -> Option<u64> {
        let mut values: Vec<u64> = self
            .samples
            .iter()
            .filter(|(at_ms, _)| *at_ms > now_ms - self.window_ms)
            .map(|(_, latency_us)| *latency_us)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let percentile = u64::from(percentile.min(100));
        let count = values.len() as u64;
        // Nearest-rank: the smallest value with at least p% of samples at or below it.
        let rank = (percentile * count).div_ceil(100).max(1);
        let index = usize::try_from(rank - 1)
            .unwrap_or(usize::MAX)
            .min(values.len() - 1);
        values.get(index).copied()
    }
}

/// A thread-safe [`EngineHealth`] the engine loop feeds: heartbeats, quotes, latencies.
pub struct HealthRecorder {
    inner: Mutex<RecorderState>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

#[derive(Debug)]
struct RecorderState {
    last_heartbeat_ms: Option<UnixMs>,
    last_quote_ms: BTreeMap<String, UnixMs>,
    order_ack: LatencyWindow,
    journal_fsync: LatencyWindow,
}

impl HealthRecorder {
    /// A recorder whose latency percentiles cover the last `window_ms`, read at `clock`'s time.
    pub fn new(clock: std::sync::Arc<dyn crate::clock::Clock>, window_ms: i64) -> Self {
        HealthRecorder {
            inner: Mutex::new(RecorderState {
                last_heartbeat_ms: None,
                last_quote_ms: BTreeMap::new(),
                order_ack: LatencyWindow::new(window_ms),
                journal_fsync: LatencyWindow::new(window_ms),
            }),
            clock,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut RecorderState) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update of plain numbers.
        let mut guard = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn record_heartbeat(&self, at_ms: UnixMs) {
        self.with(|state| {
            state.last_heartbeat_ms = Some(state.last_heartbeat_ms.map_or(at_ms, |t| t.max(at_ms)))
        });
    }

    /// Records a quote; quotes for new instruments beyond [`MAX_INSTRUMENTS`] are refused.
    pub fn record_quote(&self, instrument: &str, at_ms: UnixMs) -> Result<()> {
        self.with(|state| {
            if !state.last_quote_ms.contains_key(instrument)
                && state.last_quote_ms.len() >= MAX_INSTRUMENTS
            {
                return Err(DeskError::invalid(
                    "instrument",
                    format!("more than {MAX_INSTRUMENTS} instruments"),
                ));
            }
            let entry = state
                .last_quote_ms
                .entry(instrument.to_owned())
                .or_insert(at_ms);
            *entry = (*entry).max(at_ms);
            Ok(())
        })
    }

    pub fn record_order_ack(&self, at_ms: UnixMs, latency_us: u64) {
        self.with(|state| state.order_ack.record(at_ms, latency_us));
    }

    pub fn record_journal_fsync(&self, at_ms: UnixMs, latency_us: u64) {
        self.with(|state| state.journal_fsync.record(at_ms, latency_us));
    }
}

impl EngineHealth for HealthRecorder {
    fn snapshot(&self) -> EngineHealthSnapshot {
        let now_ms = self.clock.now_ms();
        self.with(|state| EngineHealthSnapshot {
            last_heartbeat_ms: state.last_heartbeat_ms,
            last_quote_ms: state.last_quote_ms.clone(),
            order_ack_p99_us: state.order_ack.percentile(now_ms, 99),
            journal_fsync_p99_us: state.journal_fsync.percentile(now_ms, 99),
        })
    }
}

const MINUTES_PER_WEEK: i64 = 7 * 24 * 60;

/// The weekly FX market window in UTC (for example Sunday 21:00 to Friday 21:00). Quote
/// staleness is only a failure inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketHours {
    /// Minutes since Monday 00:00 UTC.
    open_minute_of_week: i64,
    close_minute_of_week: i64,
}

impl MarketHours {
    /// Parses `"Sun 21:00"`-style open and close times.
    pub fn parse(open: &str, close: &str) -> Result<MarketHours> {
        Ok(MarketHours {
            open_minute_of_week: parse_minute_of_week(open)?,
            close_minute_of_week: parse_minute_of_week(close)?,
        })
    }

    /// Whether the market is open at `at_ms`.
    pub fn is_open(&self, at_ms: UnixMs) -> bool {
        let minute = minute_of_week(at_ms);
        if self.open_minute_of_week == self.close_minute_of_week {
            return true;
        }
        if self.open_minute_of_week < self.close_minute_of_week {
            minute >= self.open_minute_of_week && minute < self.close_minute_of_week
        } else {
            // The window wraps over the week boundary (Sunday open, Friday close).
            minute >= self.open_minute_of_week || minute < self.close_minute_of_week
        }
    }
}

fn minute_of_week(at_ms: UnixMs) -> i64 {
    let minutes = at_ms.div_euclid(60_000);
    // 1970-01-01 was a Thursday: Monday-based offset 3 days.
    (minutes + 3 * 24 * 60).rem_euclid(MINUTES_PER_WEEK)
}

fn parse_minute_of_week(text: &str) -> Result<i64> {
    let bad = || {
        DeskError::config(
            "market hours",
            format!("{text:?}: expected like \"Sun 21:00\""),
        )
    };
    let (day, time) = text.trim().split_once(' ').ok_or_else(bad)?;
    let day_index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|name| name.eq_ignore_ascii_case(day))
        .ok_or_else(bad)?;
    let (hour, minute) = time.split_once(':').ok_or_else(bad)?;
    let hour: i64 = hour.parse().map_err(|_| bad())?;
    let minute: i64 = minute.parse().map_err(|_| bad())?;
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) {
        return Err(bad());
    }
    Ok(i64::try_from(day_index).unwrap_or(0) * 24 * 60 + hour * 60 + minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23 is a Monday.
    const MONDAY_NOON_MS: i64 = 1_795_435_200_000;

    #[test]
    fn p99_is_nearest_rank_inside_the_window() {
        let mut window = LatencyWindow::new(60_000);
        for i in 1..=100u64 {
            window.record(1_000 + i as i64, i * 10);
        }
        assert_eq!(window.percentile(2_000, 99), Some(990));
        assert_eq!(window.percentile(2_000, 50), Some(500));
        // Everything is older than the window a minute later.
        assert_eq!(window.percentile(70_000, 99), None);
    }

    #[test]
    fn market_hours_wrap_over_the_weekend() {
        let hours = MarketHours::parse("Sun 21:00", "Fri 21:00").unwrap();
        assert!(hours.is_open(MONDAY_NOON_MS));
        let saturday_noon = MONDAY_NOON_MS + 5 * 86_400_000;
        assert!(!hours.is_open(saturday_noon));
        let sunday_2130 = MONDAY_NOON_MS + 6 * 86_400_000 + 9 * 3_600_000 + 30 * 60_000;
        assert!(hours.is_open(sunday_2130));
        let friday_2100 = MONDAY_NOON_MS + 4 * 86_400_000 + 9 * 3_600_000;
        assert!(!hours.is_open(friday_2100));
        assert!(MarketHours::parse("Xyz 21:00", "Fri 21:00").is_err());
        assert!(MarketHours::parse("Sun 25:00", "Fri 21:00").is_err());
    }

    #[test]
    fn recorder_reports_what_it_was_fed() {
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(MONDAY_NOON_MS));
        let recorder = HealthRecorder::new(clock.clone(), 60_000);
        recorder.record_heartbeat(MONDAY_NOON_MS);
        recorder.record_heartbeat(MONDAY_NOON_MS - 5); // out of order: keeps the newest
        recorder.record_quote("USDJPY", MONDAY_NOON_MS).unwrap();
        recorder.record_order_ack(MONDAY_NOON_MS, 1_200);
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot.last_heartbeat_ms, Some(MONDAY_NOON_MS));
        assert_eq!(snapshot.last_quote_ms.get("USDJPY"), Some(&MONDAY_NOON_MS));
        assert_eq!(snapshot.order_ack_p99_us, Some(1_200));
        assert_eq!(snapshot.journal_fsync_p99_us, None);
    }
}
