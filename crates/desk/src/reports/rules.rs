//! Pure reporting rules: whether an incident is reportable, DORA classification, UK impact
//! tolerances, and the obligations (report, deadline, status) an incident carries at a time.
//! No storage, no clock: everything comes in as arguments, so tests pin every deadline.

use serde::{Deserialize, Serialize};

use super::config::{DoraConfig, ReportRule, ReportsConfig, SciConfig};
use super::{Classification, ImpactInput, Regulator, ReportKind};
use crate::clock::UnixMs;
use crate::model::Incident;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

fn minutes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / MINUTE_MS) * MINUTE_MS
}

fn hours(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS
}

/// The outage's length: impact start to recovery (or resolution), or to `now` while it lasts.
pub fn outage_duration_ms(incident: &Incident, now_ms: UnixMs) -> i64 {
    let end = incident
        .recovered_at_ms
        .or(incident.resolved_at_ms)
        .unwrap_or(now_ms);
    end.saturating_sub(incident.impact_started_at_ms).max(0)
}

/// Whether one rule matches.
pub fn rule_matches(
    rule: &ReportRule,
    incident: &Incident,
    impact: Option<&ImpactInput>,
    now_ms: UnixMs,
) -> bool {
    if !rule.components.is_empty() && !rule.components.contains(&incident.component) {
        return false;
    }
    if incident.impact < rule.min_impact {
        return false;
    }
    if let Some(min) = rule.min_duration_minutes {
        if outage_duration_ms(incident, now_ms) <= minutes(min) {
            return false;
        }
    }
    if let Some(min) = rule.min_customers_affected {
        // Unknown impact cannot show the threshold was passed; the check lists the rule as
        // waiting for the impact figures instead of guessing.
        if impact.is_none_or(|impact| impact.customers_affected <= min) {
            return false;
        }
    }
    true
}

/// The names of the rules that make the incident reportable (empty: not reportable).
pub fn matching_rules(
    rules: &[ReportRule],
    incident: &Incident,
    impact: Option<&ImpactInput>,
    now_ms: UnixMs,
) -> Vec<String> {
    rules
        .iter()
        .filter(|rule| rule_matches(rule, incident, impact, now_ms))
        .map(|rule| rule.name.clone())
        .collect()
}

// ---------------------------------------------------------------- DORA classification

/// What compliance knows about a DORA candidate beyond the incident and impact figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoraAssessment {
    /// Overrides whether critical services were affected (default: the component is one of
    /// `critical_components`).
    #[serde(default)]
    pub critical_services_affected: Option<bool>,
    /// Overrides the affected client count (default: the impact figures).
    #[serde(default)]
    pub clients_affected: Option<u64>,
    #[serde(default)]
    pub counterparts_affected_percent: Option<f64>,
    /// Overrides the transactions share (default: the impact figures).
    #[serde(default)]
    pub transactions_affected_percent: Option<f64>,
    /// Art. 9(1)(f): clients or counterparts identified as relevant were affected.
    #[serde(default)]
    pub relevant_clients_affected: bool,
    /// Art. 9(2): reputational impact.
    #[serde(default)]
    pub reputational_impact: bool,
    /// Art. 9(4): member states where clients or counterparts were affected.
    #[serde(default)]
    pub member_states_affected: u32,
    /// Art. 9(5)(a): loss of availability, authenticity, integrity or confidentiality of data.
    #[serde(default)]
    pub data_losses: bool,
    /// Art. 9(5)(b): malicious unauthorised access that may lead to data losses (alone enough).
    #[serde(default)]
    pub malicious_access: bool,
    /// Art. 9(6): gross direct and indirect costs and losses, EUR.
    #[serde(default)]
    pub economic_impact_eur: Option<u64>,
}

/// Outcome of the DORA classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraOutcome {
    pub major: bool,
    pub critical_services_affected: bool,
    /// Thresholds met, named by article.
    pub criteria_met: Vec<String>,
    pub reason: String,
}

/// Art. 8(1) of Delegated Regulation 2024/1772: major when critical services are affected and
/// either the malicious-access data-loss threshold (Art. 9(5)(b)) is met, or two or more of the
/// other thresholds of Art. 9(1) to (6) are.
pub fn classify_dora(
    config: &DoraConfig,
    incident: &Incident,
    impact: Option<&ImpactInput>,
    assessment: &DoraAssessment,
    now_ms: UnixMs,
) -> DoraOutcome {
    let t = &config.thresholds;
    let critical = assessment
        .critical_services_affected
        .unwrap_or_else(|| config.critical_components.contains(&incident.component));
    let clients = assessment
        .clients_affected
        .or(impact.map(|i| i.customers_affected))
        .unwrap_or(0);
    let transactions_percent = assessment.transactions_affected_percent.or(impact
        .and_then(|i| i.transactions_affected_percent)
        .map(f64::from));
    let mut met = Vec::new();
    let clients_share_above = config.total_clients > 0
        && (clients as f64) * 100.0 > t.clients_percent * config.total_clients as f64;
    if clients_share_above
        || clients > t.clients_count
        || assessment
            .counterparts_affected_percent
            .is_some_and(|p| p > t.counterparts_percent)
        || transactions_percent.is_some_and(|p| p > t.transactions_percent)
        || assessment.relevant_clients_affected
    {
        met.push("Art. 9(1) clients, financial counterparts and transactions".to_owned());
    }
    if assessment.reputational_impact {
        met.push("Art. 9(2) reputational impact".to_owned());
    }
    let duration = outage_duration_ms(incident, now_ms);
    if duration > hours(t.duration_hours) || (critical && duration > hours(t.downtime_hours)) {
        met.push("Art. 9(3) duration and service downtime".to_owned());
    }
    if assessment.member_states_affected >= t.member_states {
        met.push("Art. 9(4) geographical spread".to_owned());
    }
    if assessment.data_losses || assessment.malicious_access {
        met.push("Art. 9(5) data losses".to_owned());
    }
    if assessment
        .economic_impact_eur
        .is_some_and(|eur| eur > t.economic_eur)
    {
        met.push("Art. 9(6) economic impact".to_owned());
    }
    let (major, reason) = if !critical {
        (false, "no critical service affected (Art. 8(1))".to_owned())
    } else if assessment.malicious_access {
        (
            true,
            "critical service affected and malicious unauthorised access (Art. 8(1)(a))".to_owned(),
        )
    } else if met.len() >= 2 {
        (
            true,
            format!(
                "critical service affected and {} thresholds met (Art. 8(1)(b))",
                met.len()
            ),
        )
    } else {
        (
            false,
            format!(
                "critical service affected but only {} threshold(s) met; two are needed (Art. 8(1)(b))",
                met.len()
            ),
        )
    };
    DoraOutcome {
        major,
        critical_services_affected: critical,
        criteria_met: met,
        reason,
    }
}

// ---------------------------------------------------------------- UK impact tolerances

/// Whether one important business service stayed within its impact tolerance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToleranceAssessment {
    pub service_id: String,
    pub service_name: String,
    pub impact_tolerance_minutes: u64,
    pub disruption_minutes: i64,
    pub within_tolerance: bool,
    /// The disruption is still going on (the figure can still grow).
    pub ongoing: bool,
}

/// The UK assessment of an incident against every service its component supports.
pub fn uk_tolerances(
    config: &ReportsConfig,
    incident: &Incident,
    now_ms: UnixMs,
) -> Vec<ToleranceAssessment> {
    let disruption_ms = outage_duration_ms(incident, now_ms);
    config
        .uk
        .services
        .iter()
        .filter(|service| service.components.contains(&incident.component))
        .map(|service| ToleranceAssessment {
            service_id: service.id.clone(),
            service_name: service.name.clone(),
            impact_tolerance_minutes: service.impact_tolerance_minutes,
            disruption_minutes: disruption_ms / MINUTE_MS,
            within_tolerance: disruption_ms <= minutes(service.impact_tolerance_minutes),
            ongoing: incident.recovered_at_ms.is_none() && incident.resolved_at_ms.is_none(),
        })
        .collect()
}

// ---------------------------------------------------------------- obligations

/// Where one required report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationStatus {
    /// Not filed, and the deadline (if any) is still ahead.
    Pending,
    /// Not filed, and the deadline has passed.
    Overdue,
    /// Filed by the deadline.
    OnTime,
    /// Filed after the deadline.
    Late,
}

impl ObligationStatus {
    /// Overdue or late: what the completeness check fails on.
    pub fn is_problem(self) -> bool {
        matches!(self, ObligationStatus::Overdue | ObligationStatus::Late)
    }
}

/// A report an incident requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    pub incident_id: i64,
    pub regulator: Regulator,
    pub kind: ReportKind,
    /// When it is late; `None` while it has no deadline yet (say, the recovery report before
    /// recovery).
    pub due_at_ms: Option<UnixMs>,
    /// Why it is required and how the deadline is counted.
    pub basis: String,
    /// When the first version was filed (or the classification recorded).
    pub submitted_at_ms: Option<UnixMs>,
    pub status: ObligationStatus,
}

/// What is known about one incident when computing its obligations.
#[derive(Clone, Copy)]
pub struct IncidentFacts<'a> {
    pub incident: &'a Incident,
    pub impact: Option<&'a ImpactInput>,
    /// The latest DORA classification, if any.
    pub dora_classification: Option<&'a Classification>,
    /// First submission time of each report kind, and the last one's for intermediate reports.
    pub first_submitted: &'a dyn Fn(ReportKind) -> Option<UnixMs>,
    pub last_submitted: &'a dyn Fn(ReportKind) -> Option<UnixMs>,
}

fn status_of(due: Option<UnixMs>, submitted: Option<UnixMs>, now_ms: UnixMs) -> ObligationStatus {
    match (submitted, due) {
        (Some(at), Some(due)) if at > due => ObligationStatus::Late,
        (Some(_), _) => ObligationStatus::OnTime,
        (None, Some(due)) if now_ms > due => ObligationStatus::Overdue,
        (None, _) => ObligationStatus::Pending,
    }
}

/// Adds whole calendar months in UTC (Jan 31 + 1 month = Feb 28/29, jiff's rule).
pub fn add_months(at_ms: UnixMs, months: u32) -> UnixMs {
    let Ok(timestamp) = jiff::Timestamp::from_millisecond(at_ms) else {
        return at_ms.saturating_add(i64::from(months) * 31 * DAY_MS);
    };
    timestamp
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().months(i64::from(months)))
        .map(|zoned| zoned.timestamp().as_millisecond())
        .unwrap_or_else(|_| at_ms.saturating_add(i64::from(months) * 31 * DAY_MS))
}

/// Adds business days (skipping Saturdays, Sundays and `holidays`, judged on the UTC date),
/// keeping the time of day: a conservative reading of "within N business days after".
pub fn add_business_days(at_ms: UnixMs, days: u32, holidays: &[String]) -> UnixMs {
    use jiff::civil::Weekday;
    let Ok(timestamp) = jiff::Timestamp::from_millisecond(at_ms) else {
        return at_ms;
    };
    let holidays: Vec<jiff::civil::Date> = holidays.iter().filter_map(|d| d.parse().ok()).collect();
    let mut zoned = timestamp.to_zoned(jiff::tz::TimeZone::UTC);
    let mut left = days;
    // Bounded: each business day needs at most a week of calendar days plus holidays.
    for _ in 0..(u64::from(days) * 7 + holidays.len() as u64 + 7) {
        if left == 0 {
            break;
        }
        let Ok(next) = zoned.checked_add(jiff::Span::new().days(1)) else {
            break;
        };
        zoned = next;
        let weekend = matches!(zoned.weekday(), Weekday::Saturday | Weekday::Sunday);
        if !weekend && !holidays.contains(&zoned.date()) {
            left -= 1;
        }
    }
    zoned.timestamp().as_millisecond()
}

fn fsa_obligations(
    config: &ReportsConfig,
    facts: &IncidentFacts<'_>,
    rules: &[String],
    now_ms: UnixMs,
) -> Vec<Obligation> {
    let fsa = &config.jp_fsa;
    let incident = facts.incident;
    let because = format!("reportable: {}", rules.join(", "));
    let mut out = Vec::new();
    let mut push = |kind: ReportKind, due: Option<UnixMs>, basis: String| {
        let submitted = (facts.first_submitted)(kind);
        out.push(Obligation {
            incident_id: incident.id,
            regulator: Regulator::JpFsa,
            kind,
            due_at_ms: due,
            basis,
            submitted_at_ms: submitted,
            status: status_of(due, submitted, now_ms),
        });
    };
    push(
        ReportKind::FsaFirst,
        Some(
            incident
                .detected_at_ms
                .saturating_add(minutes(fsa.first_report_within_minutes)),
        ),
        format!(
            "{because}; 第一報 at once after the failure (firm policy: within {} min of detection)",
            fsa.first_report_within_minutes
        ),
    );
    let recovered = incident.recovered_at_ms.or(incident.resolved_at_ms);
    push(
        ReportKind::FsaRecovery,
        recovered.map(|at| at.saturating_add(hours(fsa.recovery_report_within_hours))),
        format!(
            "復旧時に報告: within {} h of recovery{}",
            fsa.recovery_report_within_hours,
            if recovered.is_none() {
                " (not recovered yet)"
            } else {
                ""
            }
        ),
    );
    let cause_due = fsa
        .cause_report_within_days
        .map(|days| incident.detected_at_ms.saturating_add(hours(days * 24)));
    push(
        ReportKind::FsaCausePrevention,
        cause_due,
        match fsa.cause_report_within_days {
            Some(days) => format!("原因解明時に報告: firm deadline {days} days after detection"),
            None => "原因解明時に報告: when the cause is found".to_owned(),
        },
    );
    let month_after = add_months(incident.detected_at_ms, fsa.status_report_after_months);
    let cause_filed = (facts.first_submitted)(ReportKind::FsaCausePrevention);
    // The status report is needed only if the cause report was not filed within the month.
    if cause_filed.is_none_or(|at| at > month_after) {
        push(
            ReportKind::FsaStatus,
            Some(month_after),
            format!(
                "原因未解明でも{}か月以内に現状を報告 (unless the cause report is filed first)",
                fsa.status_report_after_months
            ),
        );
    }
    out
}

fn dora_obligations(
    config: &DoraConfig,
    facts: &IncidentFacts<'_>,
    now_ms: UnixMs,
) -> Vec<Obligation> {
    let incident = facts.incident;
    let mut out = Vec::new();
    let mut push = |kind: ReportKind, due: Option<UnixMs>, submitted: Option<UnixMs>, basis| {
        out.push(Obligation {
            incident_id: incident.id,
            regulator: Regulator::EuDora,
            kind,
            due_at_ms: due,
            basis,
            submitted_at_ms: submitted,
            status: status_of(due, submitted, now_ms),
        });
    };
    let latest_initial = incident
        .detected_at_ms
        .saturating_add(hours(config.initial_latest_hours_after_detection));
    let classification = facts.dora_classification;
    push(
        ReportKind::DoraClassification,
        Some(latest_initial),
        classification.map(|c| c.classified_at_ms),
        format!(
            "critical service component {:?}: classify under Delegated Regulation 2024/1772 \
             (before the initial notification's {} h limit after awareness)",
            incident.component, config.initial_latest_hours_after_detection
        ),
    );
    let Some(classification) = classification.filter(|c| c.major) else {
        return out;
    };
    let initial_due = classification
        .classified_at_ms
        .saturating_add(hours(config.initial_within_hours_of_classification))
        .min(latest_initial);
    let initial_at = (facts.first_submitted)(ReportKind::DoraInitial);
    push(
        ReportKind::DoraInitial,
        Some(initial_due),
        initial_at,
        format!(
            "major incident: within {} h of classification and {} h of awareness \
             (Delegated Regulation 2025/301)",
            config.initial_within_hours_of_classification,
            config.initial_latest_hours_after_detection
        ),
    );
    let intermediate_due = initial_at
        .unwrap_or(initial_due)
        .saturating_add(hours(config.intermediate_within_hours));
    let intermediate_first = (facts.first_submitted)(ReportKind::DoraIntermediate);
    push(
        ReportKind::DoraIntermediate,
        Some(intermediate_due),
        intermediate_first,
        format!(
            "within {} h of the initial notification",
            config.intermediate_within_hours
        ),
    );
    let last_intermediate = (facts.last_submitted)(ReportKind::DoraIntermediate);
    let final_due = add_months(
        last_intermediate.unwrap_or(intermediate_due),
        config.final_within_months,
    );
    push(
        ReportKind::DoraFinal,
        Some(final_due),
        (facts.first_submitted)(ReportKind::DoraFinal),
        format!(
            "within {} month(s) of the last intermediate report",
            config.final_within_months
        ),
    );
    out
}

fn sci_obligations(
    config: &SciConfig,
    facts: &IncidentFacts<'_>,
    rules: &[String],
    now_ms: UnixMs,
) -> Vec<Obligation> {
    let incident = facts.incident;
    let because = format!("SCI event: {}", rules.join(", "));
    let mut out = Vec::new();
    let mut push = |kind: ReportKind, due: Option<UnixMs>, basis: String| {
        let submitted = (facts.first_submitted)(kind);
        out.push(Obligation {
            incident_id: incident.id,
            regulator: Regulator::UsSci,
            kind,
            due_at_ms: due,
            basis,
            submitted_at_ms: submitted,
            status: status_of(due, submitted, now_ms),
        });
    };
    let detected = incident.detected_at_ms;
    push(
        ReportKind::SciImmediate,
        Some(detected.saturating_add(minutes(config.immediate_within_minutes))),
        format!(
            "{because}; Rule 1002(b)(1) immediately (firm policy: within {} min)",
            config.immediate_within_minutes
        ),
    );
    push(
        ReportKind::SciFormSci,
        Some(detected.saturating_add(hours(config.form_sci_within_hours))),
        format!(
            "Rule 1002(b)(2): Form SCI within {} h",
            config.form_sci_within_hours
        ),
    );
    let interim_at = detected.saturating_add(hours(config.interim_after_days * 24));
    if incident.resolved_at_ms.is_none_or(|at| at > interim_at) {
        push(
            ReportKind::SciInterim,
            Some(interim_at),
            format!(
                "Rule 1002(b)(4): interim report if not resolved within {} days",
                config.interim_after_days
            ),
        );
    }
    push(
        ReportKind::SciFinal,
        incident
            .resolved_at_ms
            .map(|at| add_business_days(at, config.final_within_business_days, &config.holidays)),
        format!(
            "Rule 1002(b)(4): final report within {} business days of resolution",
            config.final_within_business_days
        ),
    );
    out
}

/// Every report `facts.incident` requires at `now_ms`, with its deadline and status.
pub fn obligations(
    config: &ReportsConfig,
    facts: &IncidentFacts<'_>,
    now_ms: UnixMs,
) -> Vec<Obligation> {
    let mut out = Vec::new();
    if config.jp_fsa.enabled {
        let rules = matching_rules(&config.jp_fsa.rules, facts.incident, facts.impact, now_ms);
        if !rules.is_empty() {
            out.extend(fsa_obligations(config, facts, &rules, now_ms));
        }
    }
    if config.eu_dora.enabled
        && config
            .eu_dora
            .critical_components
            .contains(&facts.incident.component)
    {
        out.extend(dora_obligations(&config.eu_dora, facts, now_ms));
    }
    if config.us_sci.enabled {
        let rules = matching_rules(&config.us_sci.rules, facts.incident, facts.impact, now_ms);
        if !rules.is_empty() {
            out.extend(sci_obligations(&config.us_sci, facts, &rules, now_ms));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ComponentStatus, IncidentState};

    /// 2026-11-23 12:00:00 UTC, a Monday.
    const T0: i64 = 1_795_435_200_000;

    fn incident(component: &str) -> Incident {
        Incident {
            id: 7,
            title: "Trading: engine silent".into(),
            component: component.into(),
            state: IncidentState::Investigating,
            impact: ComponentStatus::MajorOutage,
            source_key: None,
            policy_id: None,
            impact_started_at_ms: T0 - 6_000,
            detected_at_ms: T0,
            acknowledged_at_ms: None,
            acknowledged_by: None,
            recovered_at_ms: None,
            resolved_at_ms: None,
            created_by: "monitor".into(),
        }
    }

    fn none(_: ReportKind) -> Option<UnixMs> {
        None
    }

    fn facts<'a>(
        incident: &'a Incident,
        classification: Option<&'a Classification>,
        submitted: &'a dyn Fn(ReportKind) -> Option<UnixMs>,
    ) -> IncidentFacts<'a> {
        IncidentFacts {
            incident,
            impact: None,
            dora_classification: classification,
            first_submitted: submitted,
            last_submitted: submitted,
        }
    }

    fn find(obligations: &[Obligation], kind: ReportKind) -> Option<&Obligation> {
        obligations.iter().find(|o| o.kind == kind)
    }

    #[test]
    fn default_rules_report_customer_facing_and_price_feed_outages_only() {
        let config = ReportsConfig::default();
        let rules = &config.jp_fsa.rules;
        assert!(!matching_rules(rules, &incident("trading"), None, T0).is_empty());
        assert!(!matching_rules(rules, &incident("price-feed"), None, T0).is_empty());
        let mut degraded = incident("trading");
        degraded.impact = ComponentStatus::DegradedPerformance;
        assert!(matching_rules(rules, &degraded, None, T0).is_empty());
        assert!(matching_rules(rules, &incident("back-office"), None, T0).is_empty());
    }

    #[test]
    fn duration_and_customer_thresholds_are_strictly_above() {
        let rule = ReportRule {
            name: "long".into(),
            components: vec![],
            min_impact: ComponentStatus::PartialOutage,
            min_duration_minutes: Some(10),
            min_customers_affected: Some(100),
        };
        let mut inc = incident("trading");
        inc.impact_started_at_ms = T0;
        inc.recovered_at_ms = Some(T0 + 10 * MINUTE_MS);
        let many = ImpactInput {
            customers_affected: 101,
            ..ImpactInput::default()
        };
        assert!(
            !rule_matches(&rule, &inc, Some(&many), T0),
            "exactly 10 min"
        );
        inc.recovered_at_ms = Some(T0 + 10 * MINUTE_MS + 1);
        assert!(rule_matches(&rule, &inc, Some(&many), T0));
        let hundred = ImpactInput {
            customers_affected: 100,
            ..ImpactInput::default()
        };
        assert!(!rule_matches(&rule, &inc, Some(&hundred), T0));
        assert!(!rule_matches(&rule, &inc, None, T0), "unknown impact");
    }

    #[test]
    fn fsa_deadlines_count_from_detection_and_recovery() {
        let config = ReportsConfig::default();
        let mut inc = incident("trading");
        let list = obligations(&config, &facts(&inc, None, &none), T0 + 30 * MINUTE_MS);
        let first = find(&list, ReportKind::FsaFirst).unwrap();
        assert_eq!(first.due_at_ms, Some(T0 + HOUR_MS));
        assert_eq!(first.status, ObligationStatus::Pending);
        assert_eq!(
            find(&list, ReportKind::FsaRecovery).unwrap().due_at_ms,
            None
        );
        let status = find(&list, ReportKind::FsaStatus).unwrap();
        // 2026-11-23 + 1 month = 2026-12-23.
        assert_eq!(status.due_at_ms, Some(T0 + 30 * DAY_MS));

        inc.recovered_at_ms = Some(T0 + 2 * HOUR_MS);
        let list = obligations(&config, &facts(&inc, None, &none), T0 + 2 * HOUR_MS);
        assert_eq!(
            find(&list, ReportKind::FsaFirst).unwrap().status,
            ObligationStatus::Overdue
        );
        assert_eq!(
            find(&list, ReportKind::FsaRecovery).unwrap().due_at_ms,
            Some(T0 + 26 * HOUR_MS)
        );

        let late_first =
            |kind: ReportKind| (kind == ReportKind::FsaFirst).then_some(T0 + 61 * MINUTE_MS);
        let list = obligations(&config, &facts(&inc, None, &late_first), T0 + 2 * HOUR_MS);
        assert_eq!(
            find(&list, ReportKind::FsaFirst).unwrap().status,
            ObligationStatus::Late
        );

        // A cause report filed within the month removes the status report.
        let cause =
            |kind: ReportKind| (kind == ReportKind::FsaCausePrevention).then_some(T0 + DAY_MS);
        let list = obligations(&config, &facts(&inc, None, &cause), T0 + 2 * DAY_MS);
        assert!(find(&list, ReportKind::FsaStatus).is_none());
    }

    #[test]
    fn dora_classification_follows_article_8() {
        let mut config = ReportsConfig::default().eu_dora;
        config.total_clients = 50_000;
        let mut inc = incident("trading");
        inc.impact_started_at_ms = T0;
        inc.recovered_at_ms = Some(T0 + 3 * HOUR_MS);
        let impact = ImpactInput {
            customers_affected: 6_000,
            ..ImpactInput::default()
        };
        // 12 % of clients and > 2 h critical downtime: two thresholds, major.
        let outcome = classify_dora(&config, &inc, Some(&impact), &DoraAssessment::default(), T0);
        assert!(outcome.major, "{outcome:?}");
        assert_eq!(outcome.criteria_met.len(), 2);
        // 8 % of clients: only the downtime threshold.
        let few = ImpactInput {
            customers_affected: 4_000,
            ..ImpactInput::default()
        };
        assert!(!classify_dora(&config, &inc, Some(&few), &DoraAssessment::default(), T0).major);
        // Malicious access alone is enough, but only with a critical service affected.
        let malicious = DoraAssessment {
            malicious_access: true,
            ..DoraAssessment::default()
        };
        assert!(classify_dora(&config, &inc, Some(&few), &malicious, T0).major);
        let other = incident("login");
        assert!(!classify_dora(&config, &other, Some(&impact), &malicious, T0).major);
    }

    #[test]
    fn dora_deadlines_chain_from_classification() {
        let mut config = ReportsConfig::default();
        config.eu_dora.enabled = true;
        config.jp_fsa.enabled = false;
        let inc = incident("trading");
        let list = obligations(&config, &facts(&inc, None, &none), T0);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].kind, ReportKind::DoraClassification);
        assert_eq!(list[0].due_at_ms, Some(T0 + 24 * HOUR_MS));

        // Classified major 22 h after detection: initial due at the 24 h limit, not 26 h.
        let classification = Classification {
            incident_id: 7,
            regulator: Regulator::EuDora,
            major: true,
            criteria: serde_json::json!({}),
            classified_at_ms: T0 + 22 * HOUR_MS,
            classified_by: "user:cora".into(),
        };
        let list = obligations(&config, &facts(&inc, Some(&classification), &none), T0);
        let initial = find(&list, ReportKind::DoraInitial).unwrap();
        assert_eq!(initial.due_at_ms, Some(T0 + 24 * HOUR_MS));
        // Initial filed at +23 h: intermediate due 72 h later; final one month after it.
        let filed = |kind: ReportKind| match kind {
            ReportKind::DoraInitial => Some(T0 + 23 * HOUR_MS),
            ReportKind::DoraIntermediate => Some(T0 + 50 * HOUR_MS),
            _ => None,
        };
        let list = obligations(&config, &facts(&inc, Some(&classification), &filed), T0);
        assert_eq!(
            find(&list, ReportKind::DoraIntermediate).unwrap().due_at_ms,
            Some(T0 + 95 * HOUR_MS)
        );
        assert_eq!(
            find(&list, ReportKind::DoraFinal).unwrap().due_at_ms,
            Some(add_months(T0 + 50 * HOUR_MS, 1))
        );
    }

    #[test]
    fn sci_final_counts_business_days_and_interim_only_if_unresolved() {
        let mut config = ReportsConfig::default();
        config.us_sci.enabled = true;
        config.jp_fsa.enabled = false;
        config.us_sci.holidays = vec!["2026-11-26".into()]; // Thanksgiving (a Thursday)
        let mut inc = incident("trading");
        inc.resolved_at_ms = Some(T0 + HOUR_MS); // Monday 13:00
        let list = obligations(&config, &facts(&inc, None, &none), T0);
        assert!(find(&list, ReportKind::SciInterim).is_none());
        assert_eq!(
            find(&list, ReportKind::SciFormSci).unwrap().due_at_ms,
            Some(T0 + 24 * HOUR_MS)
        );
        // Tue, Wed, (Thu holiday), Fri, (weekend), Mon, Tue: next Tuesday 13:00.
        assert_eq!(
            find(&list, ReportKind::SciFinal).unwrap().due_at_ms,
            Some(T0 + HOUR_MS + 8 * DAY_MS)
        );
        inc.resolved_at_ms = None;
        let list = obligations(&config, &facts(&inc, None, &none), T0);
        assert_eq!(
            find(&list, ReportKind::SciInterim).unwrap().due_at_ms,
            Some(T0 + 30 * DAY_MS)
        );
    }

    #[test]
    fn uk_tolerance_is_judged_per_service() {
        let mut config = ReportsConfig::default();
        config.uk.services = vec![super::super::config::BusinessServiceConfig {
            id: "retail-trading".into(),
            name: "Retail FX trading".into(),
            components: vec!["trading".into(), "price-feed".into()],
            impact_tolerance_minutes: 120,
        }];
        let mut inc = incident("trading");
        inc.impact_started_at_ms = T0;
        inc.recovered_at_ms = Some(T0 + 90 * MINUTE_MS);
        let result = uk_tolerances(&config, &inc, T0);
        assert_eq!(result.len(), 1);
        assert!(result[0].within_tolerance);
        inc.recovered_at_ms = Some(T0 + 121 * MINUTE_MS);
        assert!(!uk_tolerances(&config, &inc, T0)[0].within_tolerance);
        assert!(uk_tolerances(&config, &incident("login"), T0).is_empty());
    }
}
