//! Minutes since the Unix epoch and the little calendar arithmetic the board dates need.
//!
//! Boards write local Japan time (JST, UTC+9, no daylight saving), so a fixed offset is exact and
//! no time-zone database is needed.

use serde::{Deserialize, Serialize};

/// Japan Standard Time offset from UTC, in seconds. Japan has had no daylight saving since 1951.
pub const JST_OFFSET_S: i64 = 9 * 3600;

/// A whole minute, counted from 1970-01-01T00:00Z. Minute `m` covers `[m*60, m*60+60)` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMinute(pub i64);

impl UnixMinute {
    /// The minute that contains the instant `unix_ms` (floor, also for instants before 1970).
    pub fn containing_ms(unix_ms: i64) -> Self {
        UnixMinute(unix_ms.div_euclid(60_000))
    }

    pub fn start_unix_s(self) -> i64 {
        self.0.saturating_mul(60)
    }

    pub fn plus(self, minutes: i64) -> Self {
        UnixMinute(self.0.saturating_add(minutes))
    }

    /// RFC 3339 text of the minute's start, in UTC, for messages.
    pub fn to_rfc3339(self) -> String {
        let s = self.start_unix_s();
        let days = s.div_euclid(86_400);
        let secs_of_day = s.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:00Z",
            secs_of_day / 3600,
            (secs_of_day % 3600) / 60
        )
    }
}

impl std::fmt::Display for UnixMinute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
/// The caller validates the ranges; for any `i64` year in ±1e9 this cannot overflow.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 8, 5), 19_940);
        for days in [-800_000, -1, 0, 59, 10_000, 19_940, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }

    #[test]
    fn minute_floor_and_text() {
        assert_eq!(UnixMinute::containing_ms(59_999), UnixMinute(0));
        assert_eq!(UnixMinute::containing_ms(-1), UnixMinute(-1));
        assert_eq!(UnixMinute(28_713_612).to_rfc3339(), "2024-08-05T00:12:00Z");
    }
}
