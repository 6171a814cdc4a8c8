//! The desk's view of the live sequencer: an [`EngineHealth`] fed by sampling the trading
//! server in-process, at the desk clock's time.
//!
//! Each [`EngineWatch::sample`] (once a second in production, by hand in tests):
//! - **liveness**: sends a query through the sequencer's queue (`EngineState`) and records a
//!   heartbeat only if it is answered within [`LIVENESS_PROBE_TIMEOUT`]. Queries are answered
//!   only after the earlier batches are durable, so a stopped sequencer, a failed journal and a
//!   stalled fsync all stop the heartbeat; an idle engine keeps beating.
//! - **quotes**: an instrument whose accepted-quote mark moved since the last sample was quoted
//!   "now" (so staleness has the sampling interval's resolution, 1 s). Instruments never quoted
//!   since the start are not watched, like the desk's own recorder.
//! - **latencies**: reads the cumulative ack and fsync histograms of `/metrics`; the p99 over
//!   [`LATENCY_WINDOW_MS`] is taken from the difference between the newest reading and the one
//!   a window ago, as the upper bound of the bucket holding the 99th percentile. The hot path
//!   pays nothing extra for this.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use fxdesk_desk::{Clock, EngineHealth, EngineHealthSnapshot, UnixMs};

use crate::trading::metrics::{HistogramReading, BUCKETS_S};
use crate::trading::sequencer::Request;
use crate::trading::serve::AppState;

/// Window of the latency percentiles.
pub const LATENCY_WINDOW_MS: i64 = 60_000;
/// How long a liveness query may take before the beat counts as missed.
pub const LIVENESS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Histogram readings kept (a window's worth at one sample a second, plus slack).
pub const READINGS_MAX: usize = 600;

/// Samples the trading server for the desk.
pub struct EngineWatch {
    /// Set once the trading server exists (the desk is opened before it, for its routes).
    trading: OnceLock<AppState>,
    clock: Arc<dyn Clock>,
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    last_heartbeat_ms: Option<UnixMs>,
    quote_marks: Vec<u64>,
    last_quote_ms: BTreeMap<String, UnixMs>,
    ack: Readings,
    fsync: Readings,
}

impl EngineWatch {
    /// A watch that sees nothing (a silent engine) until [`EngineWatch::attach`].
    pub fn new(clock: Arc<dyn Clock>) -> EngineWatch {
        EngineWatch {
            trading: OnceLock::new(),
            clock,
            state: Mutex::new(WatchState::default()),
        }
    }

    /// Points the watch at the trading server (the first call wins).
    pub fn attach(&self, trading: AppState) {
        let _ = self.trading.set(trading);
    }

    fn with<T>(&self, f: impl FnOnce(&mut WatchState) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of plain numbers.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// One sample at `now_ms` (the desk clock's time). Returns whether the engine answered.
    pub async fn sample(&self, now_ms: UnixMs) -> bool {
        let Some(trading) = self.trading.get() else {
            return false;
        };
        let alive = probe_liveness(trading).await;
        let metrics = &trading.metrics;
        let marks = metrics.quote_marks();
        let ack = metrics.ack_latency().reading();
        let fsync = metrics.fsync_latency().reading();
        self.with(|state| {
            if alive {
                state.last_heartbeat_ms =
                    Some(state.last_heartbeat_ms.map_or(now_ms, |t| t.max(now_ms)));
            }
            for (id, spec) in trading.instruments.iter() {
                let index = usize::from(id.0);
                let mark = marks.get(index).copied().unwrap_or(0);
                let previous = state.quote_marks.get(index).copied().unwrap_or(0);
                if mark != 0 && mark != previous {
                    state.last_quote_ms.insert(spec.symbol.clone(), now_ms);
                }
            }
            state.quote_marks = marks;
            state.ack.push(now_ms, ack);
            state.fsync.push(now_ms, fsync);
        });
        alive
    }
}

/// True if the sequencer answers a query in time (so it runs and its journal is moving).
async fn probe_liveness(trading: &AppState) -> bool {
    let Ok(handle) = trading.sequencer() else {
        return false;
    };
    if !handle.status.is_running() {
        return false;
    }
    matches!(
        tokio::time::timeout(LIVENESS_PROBE_TIMEOUT, handle.call(Request::EngineState)).await,
        Ok(Ok(_))
    )
}

impl EngineHealth for EngineWatch {
    fn snapshot(&self) -> EngineHealthSnapshot {
        let now_ms = self.clock.now_ms();
        self.with(|state| EngineHealthSnapshot {
            last_heartbeat_ms: state.last_heartbeat_ms,
            last_quote_ms: state.last_quote_ms.clone(),
            order_ack_p99_us: state.ack.p99_us(now_ms),
            journal_fsync_p99_us: state.fsync.p99_us(now_ms),
        })
    }
}

/// Timed readings of one cumulative histogram.
#[derive(Default)]
struct Readings {
    readings: VecDeque<(UnixMs, HistogramReading)>,
}

impl Readings {
    fn push(&mut self, at_ms: UnixMs, reading: HistogramReading) {
        self.readings.push_back((at_ms, reading));
        // Keep one reading at or before the window's start: it is the baseline.
        while self.readings.len() > 2
            && self
                .readings
                .get(1)
                .is_some_and(|(t, _)| *t <= at_ms - LATENCY_WINDOW_MS)
        {
            self.readings.pop_front();
        }
        while self.readings.len() > READINGS_MAX {
            self.readings.pop_front();
        }
    }

    /// p99 in microseconds of what was observed between the baseline and the newest reading;
    /// `None` without observations in the window.
    fn p99_us(&self, now_ms: UnixMs) -> Option<u64> {
        let (newest_ms, newest) = self.readings.back()?;
        if *newest_ms <= now_ms - LATENCY_WINDOW_MS {
            return None; // no sample inside the window: nothing to say
        }
        let (_, base) = self.readings.front()?;
        let count = newest.count.saturating_sub(base.count);
        if count == 0 {
            return None;
        }
        // Nearest rank: the smallest bucket bound with at least 99% of observations below it.
        let rank = (count * 99).div_ceil(100).max(1);
        let mut cumulative = 0u64;
        for (i, bound_s) in BUCKETS_S.iter().enumerate() {
            cumulative += newest.buckets[i].saturating_sub(base.buckets[i]);
            if cumulative >= rank {
                return Some((bound_s * 1e6).round() as u64);
            }
        }
        // Above the last bound: the mean of the window is the best figure left, and at least
        // the last bound.
        let last_bound_us = (BUCKETS_S[BUCKETS_S.len() - 1] * 1e6) as u64;
        let mean_us = newest.sum_ns.saturating_sub(base.sum_ns) / count / 1_000;
        Some(mean_us.max(last_bound_us + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(per_bucket: &[(usize, u64)], over: u64) -> HistogramReading {
        let mut r = HistogramReading::default();
        for &(i, n) in per_bucket {
            r.buckets[i] = n;
            r.count += n;
            r.sum_ns += n * (BUCKETS_S[i] * 1e9) as u64;
        }
        r.count += over;
        r.sum_ns += over * 4_000_000_000;
        r
    }

    #[test]
    fn p99_is_the_bucket_bound_of_the_windows_difference() {
        let mut readings = Readings::default();
        // Before the window: 1000 slow observations that must not count.
        readings.push(0, reading(&[(11, 1_000)], 0));
        // In the window: 990 fast (<= 1 ms) and 10 at <= 10 ms.
        readings.push(
            LATENCY_WINDOW_MS,
            reading(&[(11, 1_000), (3, 990), (6, 10)], 0),
        );
        assert_eq!(readings.p99_us(LATENCY_WINDOW_MS), Some(1_000));
        readings.push(
            LATENCY_WINDOW_MS + 1_000,
            reading(&[(11, 1_000), (3, 990), (6, 30)], 0),
        );
        assert_eq!(readings.p99_us(LATENCY_WINDOW_MS + 1_000), Some(10_000));
    }

    #[test]
    fn nothing_new_in_the_window_is_no_figure() {
        let mut readings = Readings::default();
        readings.push(0, reading(&[(3, 5)], 0));
        readings.push(1_000, reading(&[(3, 5)], 0));
        assert_eq!(readings.p99_us(1_000), None);
        // Observations above the last bound report at least that bound.
        readings.push(2_000, reading(&[(3, 5)], 3));
        assert!(readings.p99_us(2_000).unwrap() > 2_500_000);
        // No reading for a whole window: stale, no figure.
        assert_eq!(readings.p99_us(2_000 + LATENCY_WINDOW_MS), None);
    }
}
