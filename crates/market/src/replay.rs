//! Pacing a recorded tick sequence in real time at a speed factor.

use std::time::Duration;

use crate::csv::Tick;
use crate::error::MarketError;

/// Largest speed factor (ticks an hour apart arrive about 0.4 ms apart).
pub const SPEED_MAX: f64 = 10_000_000.0;

/// When each tick of a recording is due, measured from the start of the replay.
#[derive(Debug, Clone)]
pub struct ReplaySchedule {
    ticks: Vec<Tick>,
    speed: f64,
    next: usize,
}

impl ReplaySchedule {
    /// `speed` 1.0 replays in the recording's own time, 60.0 a minute per second.
    pub fn new(ticks: Vec<Tick>, speed: f64) -> Result<ReplaySchedule, MarketError> {
        if !(speed.is_finite() && speed > 0.0 && speed <= SPEED_MAX) {
            return Err(MarketError::InvalidSpeed { speed });
        }
        Ok(ReplaySchedule {
            ticks,
            speed,
            next: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }
}

impl Iterator for ReplaySchedule {
    /// The tick and how long after the replay's start it is due.
    type Item = (Duration, Tick);

    fn next(&mut self) -> Option<(Duration, Tick)> {
        let first = self.ticks.first()?.time_ns;
        let tick = *self.ticks.get(self.next)?;
        self.next += 1;
        // Times never go backwards in a read file, so the offset is never negative; floats only
        // pace the replay, they never touch a price.
        let offset_ns = tick.time_ns.saturating_sub(first).max(0) as f64 / self.speed;
        Some((Duration::from_nanos(offset_ns as u64), tick))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;
    use fxdesk_engine::InstrumentId;

    fn tick(time_ns: i64) -> Tick {
        Tick {
            time_ns,
            instrument: InstrumentId(0),
            bid: 1,
            ask: 2,
        }
    }

    #[test]
    fn offsets_scale_with_speed() {
        let ticks = vec![
            tick(1_000_000_000),
            tick(3_000_000_000),
            tick(11_000_000_000),
        ];
        let offsets: Vec<Duration> = ReplaySchedule::new(ticks, 2.0)
            .unwrap()
            .map(|(at, _)| at)
            .collect();
        assert_eq!(
            offsets,
            vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(5)
            ]
        );
    }

    #[test]
    fn refuses_bad_speeds() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, SPEED_MAX * 2.0] {
            assert!(ReplaySchedule::new(vec![], speed).is_err());
        }
    }
}
