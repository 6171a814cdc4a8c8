//! Time source of the desk. Everything time-dependent reads an injected [`Clock`], so tests move
//! time forward by hand instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMs = i64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time in Unix milliseconds.
    fn now_ms(&self) -> UnixMs;
}

/// The machine's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMs {
        // A clock before 1970 is a broken machine; report the epoch rather than panic.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: UnixMs) -> Self {
        ManualClock {
            now_ms: AtomicI64::new(start_ms),
        }
    }

    /// Moves the clock forward by `delta_ms` (negative values are ignored: time never goes back).
    pub fn advance_ms(&self, delta_ms: i64) -> UnixMs {
        let delta_ms = delta_ms.max(0);
        self.now_ms.fetch_add(delta_ms, Ordering::SeqCst) + delta_ms
    }

    /// Sets the clock, but never backwards.
    pub fn set_ms(&self, at_ms: UnixMs) {
        self.now_ms.fetch_max(at_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> UnixMs {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.advance_ms(500), 1_500);
        clock.set_ms(1_200);
        assert_eq!(clock.now_ms(), 1_500);
        clock.advance_ms(-10_000);
        assert_eq!(clock.now_ms(), 1_500);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
