//! On-call schedules: a rotation of people with fixed-length shifts, and overrides.

use crate::clock::UnixMs;
use crate::config::ScheduleConfig;
use crate::error::{DeskError, Result};

/// Members per rotation and overrides per schedule.
pub const MAX_MEMBERS: usize = 100;
pub const MAX_OVERRIDES: usize = 1_000;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: String,
    rotation_start_ms: UnixMs,
    shift_ms: i64,
    members: Vec<String>,
    overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Override {
    person: String,
    start_ms: UnixMs,
    end_ms: UnixMs,
}

pub(crate) fn parse_instant(what: &str, text: &str) -> Result<UnixMs> {
    let instant: jiff::Timestamp = text
        .parse()
        .map_err(|err| DeskError::config(what, format!("{text:?} is not RFC 3339: {err}")))?;
    Ok(instant.as_millisecond())
}

impl Schedule {
    pub fn from_config(config: &ScheduleConfig) -> Result<Schedule> {
        let at = format!("schedules.{}", config.id);
        if config.members.is_empty() || config.members.len() > MAX_MEMBERS {
            return Err(DeskError::config(at, format!("1..={MAX_MEMBERS} members")));
        }
        if config.overrides.len() > MAX_OVERRIDES {
            return Err(DeskError::config(
                at,
                format!("at most {MAX_OVERRIDES} overrides"),
            ));
        }
        if config.shift_hours == 0 || config.shift_hours > 24 * 366 {
            return Err(DeskError::config(at, "shift_hours must be 1..=8784"));
        }
        let mut overrides = Vec::with_capacity(config.overrides.len());
        for over in &config.overrides {
            let start_ms = parse_instant(&at, &over.start)?;
            let end_ms = parse_instant(&at, &over.end)?;
            if end_ms <= start_ms {
                return Err(DeskError::config(at, "override ends before it starts"));
            }
            overrides.push(Override {
                person: over.person.clone(),
                start_ms,
                end_ms,
            });
        }
        Ok(Schedule {
            id: config.id.clone(),
            rotation_start_ms: parse_instant(&at, &config.rotation_start)?,
            shift_ms: i64::try_from(config.shift_hours).unwrap_or(1) * 3_600_000,
            members: config.members.clone(),
            overrides,
        })
    }

    /// Who to call at `at_ms`, in order: an override (latest-starting first) if one covers the
    /// moment, then the rotation from the member on shift onwards. Each person appears once.
    pub fn on_call_order(&self, at_ms: UnixMs) -> Vec<String> {
        let mut order: Vec<String> = Vec::new();
        let mut covering: Vec<&Override> = self
            .overrides
            .iter()
            .filter(|over| over.start_ms <= at_ms && at_ms < over.end_ms)
            .collect();
        covering.sort_by_key(|over| std::cmp::Reverse(over.start_ms));
        for over in covering {
            if !order.contains(&over.person) {
                order.push(over.person.clone());
            }
        }
        let count = i64::try_from(self.members.len()).unwrap_or(1);
        let shift_index = (at_ms - self.rotation_start_ms).div_euclid(self.shift_ms);
        let first = usize::try_from(shift_index.rem_euclid(count)).unwrap_or(0);
        for offset in 0..self.members.len() {
            let member = &self.members[(first + offset) % self.members.len()];
            if !order.contains(member) {
                order.push(member.clone());
            }
        }
        order
    }

    /// The person at `level` of the on-call order (0 = on call now, 1 = next, ...), wrapping.
    pub fn at_level(&self, at_ms: UnixMs, level: u32) -> String {
        let order = self.on_call_order(at_ms);
        let index = usize::try_from(level).unwrap_or(0) % order.len().max(1);
        order.get(index).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OverrideConfig;

    fn config() -> ScheduleConfig {
        ScheduleConfig {
            id: "support".into(),
            rotation_start: "2026-11-23T00:00:00Z".into(),
            shift_hours: 24,
            members: vec!["aiko".into(), "ben".into(), "chen".into()],
            overrides: vec![OverrideConfig {
                person: "dan".into(),
                start: "2026-11-25T06:00:00Z".into(),
                end: "2026-11-25T18:00:00Z".into(),
            }],
        }
    }

    fn at(text: &str) -> UnixMs {
        parse_instant("test", text).unwrap()
    }

    #[test]
    fn rotation_hands_over_each_shift() {
        let schedule = Schedule::from_config(&config()).unwrap();
        assert_eq!(
            schedule.on_call_order(at("2026-11-23T12:00:00Z")),
            ["aiko", "ben", "chen"]
        );
        assert_eq!(
            schedule.on_call_order(at("2026-11-24T00:00:00Z")),
            ["ben", "chen", "aiko"]
        );
        assert_eq!(schedule.at_level(at("2026-11-26T01:00:00Z"), 0), "aiko");
        // Before the rotation start the order runs backwards in time too.
        assert_eq!(schedule.at_level(at("2026-11-22T12:00:00Z"), 0), "chen");
    }

    #[test]
    fn override_goes_first_during_its_window() {
        let schedule = Schedule::from_config(&config()).unwrap();
        assert_eq!(
            schedule.on_call_order(at("2026-11-25T07:00:00Z")),
            ["dan", "chen", "aiko", "ben"]
        );
        assert_eq!(schedule.at_level(at("2026-11-25T07:00:00Z"), 1), "chen");
        assert_eq!(schedule.at_level(at("2026-11-25T18:00:00Z"), 0), "chen");
    }

    #[test]
    fn bad_schedules_are_refused() {
        let mut bad = config();
        bad.members.clear();
        assert!(Schedule::from_config(&bad).is_err());
        let mut bad = config();
        bad.rotation_start = "yesterday".into();
        assert!(Schedule::from_config(&bad).is_err());
        let mut bad = config();
        bad.overrides[0].end = "2026-11-25T05:00:00Z".into();
        assert!(Schedule::from_config(&bad).is_err());
    }
}
