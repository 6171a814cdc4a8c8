//! Calendar arithmetic for vendor time stamps, in integers only (no clock, no time zone data).
//!
//! Vendors write local wall-clock fields ("20120201 000003660", "2019.01.02 00:00:00.123"); these
//! helpers check the fields and turn them into nanoseconds since the Unix epoch at a fixed UTC
//! offset. Days are counted with the proleptic Gregorian calendar (H. Hinnant's
//! `days_from_civil`).

use fxdesk_engine::TimeNs;

pub const NS_PER_SECOND: i64 = 1_000_000_000;
pub const NS_PER_DAY: i64 = 86_400 * NS_PER_SECOND;

/// Wall-clock fields of one time stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanosecond: u32,
}

impl Civil {
    /// Nanoseconds since the epoch of these fields read at `offset_seconds` east of UTC
    /// (EST is -5 h: `-18_000`). Err if a field is out of range.
    pub fn to_ns(self, offset_seconds: i64) -> Result<TimeNs, String> {
        if !(1970..=2200).contains(&self.year) {
            return Err(format!("year {} is outside 1970..=2200", self.year));
        }
        if !(1..=12).contains(&self.month) {
            return Err(format!("month {} is not 1..=12", self.month));
        }
        if self.day < 1 || self.day > days_in_month(self.year, self.month) {
            return Err(format!(
                "day {} does not exist in {}-{:02}",
                self.day, self.year, self.month
            ));
        }
        if self.hour > 23 || self.minute > 59 || self.second > 59 {
            return Err(format!(
                "time {:02}:{:02}:{:02} is not a time of day",
                self.hour, self.minute, self.second
            ));
        }
        if self.nanosecond >= 1_000_000_000 {
            return Err("fraction of a second is not below 1".to_owned());
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - offset_seconds;
        Ok(seconds * NS_PER_SECOND + i64::from(self.nanosecond))
    }
}

/// The UTC calendar date `(year, month, day)` of a time in ns since the epoch.
pub fn utc_date(time_ns: TimeNs) -> (i64, u32, u32) {
    civil_from_days(time_ns.div_euclid(NS_PER_DAY))
}

/// Days since 1970-01-01 of a Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            if leap {
                29
            } else {
                28
            }
        }
    }
}

/// Parses a run of ASCII digits (1..=9 of them) as a number.
pub fn digits(text: &str) -> Result<u32, String> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a number"));
    }
    text.parse::<u32>()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// A fraction of a second ("123" -> 123 ms) in nanoseconds; at most 9 digits.
pub fn fraction_ns(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let value = digits(text)?;
    Ok(value * 10u32.pow(9 - text.len() as u32))
}

/// Parses `HH:MM:SS[.fff]` (colon-separated) into (hour, minute, second, ns).
pub fn parse_clock(text: &str) -> Result<(u32, u32, u32, u32), String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let parts: Vec<&str> = whole.split(':').collect();
    let [hour, minute, second] = parts.as_slice() else {
        return Err(format!("time of day {text:?} is not HH:MM:SS"));
    };
    if hour.len() != 2 || minute.len() != 2 || second.len() != 2 {
        return Err(format!("time of day {text:?} is not HH:MM:SS"));
    }
    Ok((
        digits(hour)?,
        digits(minute)?,
        digits(second)?,
        fraction_ns(fraction)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(19_724), (2024, 1, 2));
        let civil = Civil {
            year: 2024,
            month: 1,
            day: 2,
            hour: 0,
            minute: 0,
            second: 0,
            nanosecond: 500_000_000,
        };
        assert_eq!(civil.to_ns(0), Ok(1_704_153_600_500_000_000));
        // Read as EST (UTC-5), midnight is 05:00 UTC.
        assert_eq!(civil.to_ns(-18_000), Ok(1_704_171_600_500_000_000));
        assert!(Civil {
            day: 30,
            month: 2,
            ..civil
        }
        .to_ns(0)
        .is_err());
        assert!(Civil { hour: 24, ..civil }.to_ns(0).is_err());
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -100_000i64..200_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
