//! Which escalation steps are due for an incident: a pure function of the incident's times,
//! its policy, what already fired, and now. The desk fires what this returns, once each.

use std::collections::BTreeSet;

use crate::clock::UnixMs;
use crate::config::{PolicyConfig, StepTrigger};
use crate::model::Incident;

/// One step occurrence to fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueStep {
    pub step_index: usize,
    /// 0 for the first pass; n for the n-th repeat of an `unacknowledged_for` step.
    pub cycle: u32,
    /// When it became due.
    pub due_at_ms: UnixMs,
}

/// Steps of `policy` due at `now_ms` for `incident` that are not in `fired` ((step, cycle)).
///
/// - `down_for` steps count from the first failed check and fire once, only while the outage
///   lasts (not after recovery or resolution), acknowledged or not.
/// - `unacknowledged_for` steps count from detection, fire only while nobody acknowledged, and
///   repeat `repeat_times` more times, `repeat_every_s` apart.
///
/// Steps overdue at once (a tick was late) all fire, oldest first.
pub fn due_steps(
    incident: &Incident,
    policy: &PolicyConfig,
    fired: &BTreeSet<(i64, i64)>,
    now_ms: UnixMs,
) -> Vec<DueStep> {
    let mut due = Vec::new();
    if !incident.is_open() {
        return due;
    }
    for (step_index, step) in policy.steps.iter().enumerate() {
        let after_ms = i64::try_from(step.after_s)
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(1_000);
        let already = |cycle: u32| fired.contains(&(step_index as i64, i64::from(cycle)));
        match step.when {
            StepTrigger::DownFor => {
                let due_at_ms = incident.impact_started_at_ms.saturating_add(after_ms);
                if incident.recovered_at_ms.is_none() && now_ms >= due_at_ms && !already(0) {
                    due.push(DueStep {
                        step_index,
                        cycle: 0,
                        due_at_ms,
                    });
                }
            }
            StepTrigger::UnacknowledgedFor => {
                if incident.acknowledged_at_ms.is_some() {
                    continue;
                }
                let every_ms = i64::try_from(policy.repeat_every_s)
                    .unwrap_or(0)
                    .saturating_mul(1_000);
                for cycle in 0..=policy.repeat_times {
                    let due_at_ms = incident
                        .detected_at_ms
                        .saturating_add(after_ms)
                        .saturating_add(every_ms.saturating_mul(i64::from(cycle)));
                    if now_ms < due_at_ms {
                        break;
                    }
                    if !already(cycle) {
                        due.push(DueStep {
                            step_index,
                            cycle,
                            due_at_ms,
                        });
                    }
                }
            }
        }
    }
    due.sort_by_key(|step| (step.due_at_ms, step.step_index, step.cycle));
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{StepConfig, TargetConfig};
    use crate::model::{ComponentStatus, IncidentState};

    fn step(when: StepTrigger, after_s: u64) -> StepConfig {
        StepConfig {
            when,
            after_s,
            notify: vec![TargetConfig {
                person: Some("lead".into()),
                schedule: None,
                level: 0,
            }],
            channels: vec!["hook".into()],
            instruction: String::new(),
        }
    }

    fn policy() -> PolicyConfig {
        PolicyConfig {
            id: "p".into(),
            components: vec![],
            repeat_times: 1,
            repeat_every_s: 600,
            steps: vec![
                step(StepTrigger::UnacknowledgedFor, 0),
                step(StepTrigger::UnacknowledgedFor, 180),
                step(StepTrigger::DownFor, 300),
                step(StepTrigger::DownFor, 600),
            ],
        }
    }

    fn incident() -> Incident {
        Incident {
            id: 1,
            title: "t".into(),
            component: "trading".into(),
            state: IncidentState::Investigating,
            impact: ComponentStatus::MajorOutage,
            source_key: None,
            policy_id: Some("p".into()),
            impact_started_at_ms: 0,
            detected_at_ms: 5_000,
            acknowledged_at_ms: None,
            acknowledged_by: None,
            recovered_at_ms: None,
            resolved_at_ms: None,
            created_by: "monitor".into(),
        }
    }

    fn indices(due: &[DueStep]) -> Vec<(usize, u32)> {
        due.iter().map(|d| (d.step_index, d.cycle)).collect()
    }

    #[test]
    fn steps_become_due_at_their_times() {
        let none = BTreeSet::new();
        assert_eq!(
            indices(&due_steps(&incident(), &policy(), &none, 5_000)),
            [(0, 0)]
        );
        assert_eq!(
            indices(&due_steps(&incident(), &policy(), &none, 185_000)),
            [(0, 0), (1, 0)]
        );
        assert_eq!(
            indices(&due_steps(&incident(), &policy(), &none, 300_000)),
            [(0, 0), (1, 0), (2, 0)]
        );
        // Repeat of the first step 600 s after detection, before the 10-minute step.
        assert_eq!(
            indices(&due_steps(&incident(), &policy(), &none, 605_000)),
            [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]
        );
    }

    #[test]
    fn fired_steps_do_not_fire_again() {
        let fired: BTreeSet<(i64, i64)> = [(0, 0), (1, 0)].into_iter().collect();
        assert_eq!(
            indices(&due_steps(&incident(), &policy(), &fired, 300_000)),
            [(2, 0)]
        );
    }

    #[test]
    fn acknowledgement_stops_only_the_acknowledgement_steps() {
        let mut acked = incident();
        acked.acknowledged_at_ms = Some(60_000);
        let none = BTreeSet::new();
        assert_eq!(
            indices(&due_steps(&acked, &policy(), &none, 700_000)),
            [(2, 0), (3, 0)]
        );
    }

    #[test]
    fn recovery_stops_the_duration_steps() {
        let mut recovered = incident();
        recovered.recovered_at_ms = Some(200_000);
        let none = BTreeSet::new();
        assert_eq!(
            indices(&due_steps(&recovered, &policy(), &none, 700_000)),
            [(0, 0), (1, 0), (0, 1)]
        );
        let mut resolved = incident();
        resolved.resolved_at_ms = Some(200_000);
        assert!(due_steps(&resolved, &policy(), &none, 700_000).is_empty());
    }
}
