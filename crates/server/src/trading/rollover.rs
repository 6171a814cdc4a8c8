//! The daily rollover: the sequencer's clock, not the engine, knows when it is 17:00 in New
//! York. Monday to Friday at 17:00 America/New_York a `Rollover` command goes through the
//! sequencer; Friday's is the weekly one. Swap rates are not configured yet (empty list).
//! A rollover missed while the server was down is not sent late.

use std::time::Duration;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::trading::sequencer::{Request, SequencerHandle};

/// The next rollover strictly after `after`, and whether it is the weekly one.
pub fn next_rollover(after: Timestamp) -> Result<(Timestamp, bool), jiff::Error> {
    let new_york = TimeZone::get("America/New_York")?;
    let mut day = after.to_zoned(new_york.clone()).date();
    for _ in 0..8 {
        let weekday = day.weekday();
        if !matches!(weekday, Weekday::Saturday | Weekday::Sunday) {
            let at = day
                .to_datetime(Time::constant(17, 0, 0, 0))
                .to_zoned(new_york.clone())?
                .timestamp();
            if at > after {
                return Ok((at, weekday == Weekday::Friday));
            }
        }
        day = day.tomorrow()?;
    }
    Err(jiff::Error::from_args(format_args!(
        "no weekday rollover within a week of {after}"
    )))
}

/// Sends each rollover when it is due, until the sequencer stops.
pub async fn run(handle: SequencerHandle) {
    loop {
        let (at, weekly) = match next_rollover(Timestamp::now()) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "cannot compute the next rollover; rollovers stopped");
                return;
            }
        };
        let wait = at.duration_since(Timestamp::now());
        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        match handle.call(Request::Rollover { weekly }).await {
            Ok(_) => tracing::info!(weekly, "rollover sent"),
            Err(error) if error.status.is_server_error() && error.code != "overloaded" => {
                return;
            }
            Err(error) => tracing::warn!(%error.message, "rollover refused"),
        }
        // Never fire twice for the same instant.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;

    #[test]
    fn rollover_is_at_five_pm_new_york_on_weekdays() {
        // Tuesday 2026-01-13 12:00 UTC (07:00 EST) -> same day 17:00 EST = 22:00 UTC.
        let (at, weekly) = next_rollover("2026-01-13T12:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(at.to_string(), "2026-01-13T22:00:00Z");
        assert!(!weekly);
        // Summer time: 17:00 EDT = 21:00 UTC; Friday's is weekly.
        let (at, weekly) = next_rollover("2026-07-10T21:30:00Z".parse().unwrap()).unwrap();
        assert_eq!(at.to_string(), "2026-07-13T21:00:00Z");
        assert!(!weekly);
        let (at, weekly) = next_rollover("2026-07-10T20:59:59Z".parse().unwrap()).unwrap();
        assert_eq!(at.to_string(), "2026-07-10T21:00:00Z");
        assert!(weekly);
    }
}
