//! Prometheus metrics of the trading core, rendered in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fxdesk_engine::InstrumentId;

use crate::trading::dto::Instruments;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const BUCKETS_S: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A cumulative histogram with fixed buckets (atomic, lock-free).
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_S.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(index) = BUCKETS_S.iter().position(|&bound| seconds <= bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far: per bucket (not cumulative), total count (including those above
    /// the last bound) and sum, for readers that difference two readings over a window.
    pub fn reading(&self) -> HistogramReading {
        HistogramReading {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum_s = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum_s}\n{name}_count {count}");
    }
}

/// One reading of a [`Histogram`] (see [`Histogram::reading`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistogramReading {
    pub buckets: [u64; BUCKETS_S.len()],
    pub count: u64,
    pub sum_ns: u64,
}

/// Everything `/metrics` shows about trading.
pub struct Metrics {
    started: Instant,
    commands_total: AtomicU64,
    ack_latency: Histogram,
    fsync_latency: Histogram,
    /// Per instrument: nanoseconds after `started` of the last accepted quote, +1 (0: none yet).
    last_quote_ns: Vec<AtomicU64>,
    /// (window start, commands at window start, rate of the last full window).
    rate: Mutex<(Instant, u64, f64)>,
}

impl Metrics {
    pub fn new(instruments: usize) -> Metrics {
        let started = Instant::now();
        Metrics {
            started,
            commands_total: AtomicU64::new(0),
            ack_latency: Histogram::default(),
            fsync_latency: Histogram::default(),
            last_quote_ns: (0..instruments).map(|_| AtomicU64::new(0)).collect(),
            rate: Mutex::new((started, 0, 0.0)),
        }
    }

    pub fn count_command(&self) {
        self.commands_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn commands_total(&self) -> u64 {
        self.commands_total.load(Ordering::Relaxed)
    }

    /// From the request's arrival to its durable answer.
    pub fn observe_ack(&self, elapsed: Duration) {
        self.ack_latency.observe(elapsed);
    }

    /// From a batch's last submit to its durability (write + fdatasync).
    pub fn observe_fsync(&self, elapsed: Duration) {
        self.fsync_latency.observe(elapsed);
    }

    pub fn ack_latency(&self) -> &Histogram {
        &self.ack_latency
    }

    pub fn fsync_latency(&self) -> &Histogram {
        &self.fsync_latency
    }

    /// Per instrument id: a mark that changes whenever a quote is accepted (0: none yet).
    pub fn quote_marks(&self) -> Vec<u64> {
        self.last_quote_ns
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .collect()
    }

    pub fn quote_taken(&self, instrument: InstrumentId) {
        if let Some(slot) = self.last_quote_ns.get(usize::from(instrument.0)) {
            let since = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            slot.store(since.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Commands per second over the last complete window of at least one second.
    fn commands_per_second(&self) -> f64 {
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let total = self.commands_total();
        let elapsed = now.duration_since(rate.0);
        if elapsed >= Duration::from_secs(1) {
            rate.2 = (total - rate.1) as f64 / elapsed.as_secs_f64();
            *rate = (now, total, rate.2);
        }
        rate.2
    }

    pub fn render(&self, instruments: &Instruments, ready: bool) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP fxdesk_commands_total Commands applied and journaled since start.\n\
             # TYPE fxdesk_commands_total counter\nfxdesk_commands_total {}",
            self.commands_total()
        );
        let _ = writeln!(
            out,
            "# HELP fxdesk_commands_per_second Commands per second over the last scrape window (at least 1 s).\n\
             # TYPE fxdesk_commands_per_second gauge\nfxdesk_commands_per_second {}",
            self.commands_per_second()
        );
        self.ack_latency.render(
            &mut out,
            "fxdesk_ack_latency_seconds",
            "From a command's arrival to its answer, which is sent only once it is durable.",
        );
        self.fsync_latency.render(
            &mut out,
            "fxdesk_fsync_latency_seconds",
            "From a batch's last journal submit to its durability (the group commit: write and fdatasync).",
        );
        let _ = writeln!(
            out,
            "# HELP fxdesk_quote_age_seconds Time since the last accepted quote (absent: none since start).\n\
             # TYPE fxdesk_quote_age_seconds gauge"
        );
        let now_ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        for (id, spec) in instruments.iter() {
            let Some(slot) = self.last_quote_ns.get(usize::from(id.0)) else {
                continue;
            };
            let last = slot.load(Ordering::Relaxed);
            if last > 0 {
                let age_s = now_ns.saturating_sub(last - 1) as f64 / 1e9;
                let _ = writeln!(
                    out,
                    "fxdesk_quote_age_seconds{{instrument=\"{}\"}} {age_s}",
                    spec.symbol
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP fxdesk_ready 1 when recovery finished and the sequencer runs.\n\
             # TYPE fxdesk_ready gauge\nfxdesk_ready {}",
            u8::from(ready)
        );
        out
    }
}
