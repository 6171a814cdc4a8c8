//! FX market hours and rollovers, in New York time: the market trades from Sunday 17:00 to
//! Friday 17:00 New York time; the daily rollover is at 17:00 New York on weekdays (Friday's is
//! the weekly one), as `fxdesk serve` sends it.

use fxdesk_engine::TimeNs;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::shadow::RolloverAt;

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").unwrap_or(TimeZone::UTC)
}

fn at_five_pm(day: Date, tz: &TimeZone) -> Option<TimeNs> {
    let ts = day
        .to_datetime(Time::constant(17, 0, 0, 0))
        .to_zoned(tz.clone())
        .ok()?
        .timestamp();
    i64::try_from(ts.as_nanosecond()).ok()
}

fn date_of(time_ns: TimeNs, tz: &TimeZone) -> Option<Date> {
    Some(
        Timestamp::from_nanosecond(i128::from(time_ns))
            .ok()?
            .to_zoned(tz.clone())
            .date(),
    )
}

/// The weekend closures `[Friday 17:00, Sunday 17:00)` New York that overlap `[from, to)`.
fn closures(from_ns: TimeNs, to_ns: TimeNs) -> Vec<(TimeNs, TimeNs)> {
    let tz = new_york();
    let mut out = Vec::new();
    let Some(mut day) = date_of(from_ns, &tz) else {
        return out;
    };
    // Start from the Friday on or before `from`.
    for _ in 0..7 {
        if day.weekday() == Weekday::Friday {
            break;
        }
        match day.yesterday() {
            Ok(d) => day = d,
            Err(_) => return out,
        }
    }
    for _ in 0..1_000 {
        let (Some(start), Some(end)) = (
            at_five_pm(day, &tz),
            day.checked_add(jiff::Span::new().days(2))
                .ok()
                .and_then(|sunday| at_five_pm(sunday, &tz)),
        ) else {
            return out;
        };
        if start >= to_ns {
            break;
        }
        if end > from_ns {
            out.push((start.max(from_ns), end.min(to_ns)));
        }
        match day.checked_add(jiff::Span::new().days(7)) {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

/// Nanoseconds of `[from, to)` during which the FX market trades.
pub fn market_open_ns(from_ns: TimeNs, to_ns: TimeNs) -> TimeNs {
    if to_ns <= from_ns {
        return 0;
    }
    let closed: TimeNs = closures(from_ns, to_ns).iter().map(|(a, b)| b - a).sum();
    (to_ns - from_ns) - closed
}

/// The rollovers (weekday 17:00 New York) in `(from, to]`.
pub fn rollovers_between(from_ns: TimeNs, to_ns: TimeNs) -> Vec<RolloverAt> {
    let tz = new_york();
    let mut out = Vec::new();
    let Some(mut day) = date_of(from_ns, &tz) else {
        return out;
    };
    for _ in 0..400 {
        let Some(at) = at_five_pm(day, &tz) else {
            break;
        };
        if at > to_ns {
            break;
        }
        let weekday = day.weekday();
        if at > from_ns && !matches!(weekday, Weekday::Saturday | Weekday::Sunday) {
            out.push(RolloverAt {
                time_ns: at,
                weekly: weekday == Weekday::Friday,
            });
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

/// RFC 3339 text of a time (UTC), for reports.
pub fn rfc3339(time_ns: TimeNs) -> String {
    Timestamp::from_nanosecond(i128::from(time_ns))
        .map_or_else(|_| time_ns.to_string(), |t| t.to_string())
}

/// Parses RFC 3339 (or integer nanoseconds).
pub fn parse_time(text: &str) -> Result<TimeNs, String> {
    fxdesk_market::csv::parse_time_ns(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ns(text: &str) -> TimeNs {
        parse_time(text).unwrap()
    }

    #[test]
    fn the_weekend_is_not_market_time() {
        // Friday 2026-07-10 20:00 UTC (16:00 EDT) to Sunday 22:00 UTC (18:00 EDT):
        // open 1 h on Friday, closed until Sunday 21:00 UTC, open 1 h after.
        let open = market_open_ns(ns("2026-07-10T20:00:00Z"), ns("2026-07-12T22:00:00Z"));
        assert_eq!(open, 2 * 3_600 * 1_000_000_000);
        let weekday = market_open_ns(ns("2026-07-14T10:00:00Z"), ns("2026-07-14T11:30:00Z"));
        assert_eq!(weekday, 90 * 60 * 1_000_000_000);
        assert_eq!(
            market_open_ns(ns("2026-07-11T10:00:00Z"), ns("2026-07-11T11:00:00Z")),
            0
        );
    }

    #[test]
    fn rollovers_inside_a_window() {
        let r = rollovers_between(ns("2026-07-10T20:00:00Z"), ns("2026-07-13T22:00:00Z"));
        assert_eq!(
            r,
            vec![
                RolloverAt {
                    time_ns: ns("2026-07-10T21:00:00Z"),
                    weekly: true
                },
                RolloverAt {
                    time_ns: ns("2026-07-13T21:00:00Z"),
                    weekly: false
                },
            ]
        );
        assert!(
            rollovers_between(ns("2026-07-14T10:00:00Z"), ns("2026-07-14T12:00:00Z")).is_empty()
        );
    }
}
