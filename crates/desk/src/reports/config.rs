//! The `[reports]` section of the desk configuration: which incidents each regulator must
//! hear about, the deadlines, the UK impact tolerances and where reminders go. Every field
//! has a default; `crates/desk/config/desk.example.toml` writes them all out.

use serde::Deserialize;

use crate::config::TargetConfig;
use crate::error::{DeskError, Result};
use crate::model::ComponentStatus;

/// Upper bounds of the section.
pub const MAX_RULES_PER_REGULATOR: usize = 32;
pub const MAX_UK_SERVICES: usize = 64;
pub const MAX_REMINDER_LEADS: usize = 8;
pub const MAX_HOLIDAYS: usize = 400;

/// An incident is reportable to a regulator when any of its rules matches; a rule matches when
/// every condition it sets holds (unset conditions hold).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportRule {
    /// Shown in the check and the drafts ("customer-facing trading outage").
    pub name: String,
    /// Components the rule covers; empty means any component.
    #[serde(default)]
    pub components: Vec<String>,
    /// The incident's impact must be at least this bad.
    #[serde(default = "default_min_impact")]
    pub min_impact: ComponentStatus,
    /// The outage (impact start to recovery, or to now while it lasts) must be longer.
    #[serde(default)]
    pub min_duration_minutes: Option<u64>,
    /// More customers than this must be affected (from the impact figures the caller records).
    #[serde(default)]
    pub min_customers_affected: Option<u64>,
}

fn default_min_impact() -> ComponentStatus {
    ComponentStatus::PartialOutage
}

fn rule(name: &str, components: &[&str]) -> ReportRule {
    ReportRule {
        name: name.into(),
        components: components.iter().map(|c| (*c).to_owned()).collect(),
        min_impact: ComponentStatus::PartialOutage,
        min_duration_minutes: None,
        min_customers_affected: None,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// A directory with template files that replace the built-in ones of the same name
    /// (`jp_fsa_first.md.j2`, `jp_fsa_followup.md.j2`, `eu_dora.md.j2`, `us_sci.md.j2`).
    pub templates_dir: Option<String>,
    /// The firm's name as printed on reports.
    pub firm_name: String,
    pub jp_fsa: FsaConfig,
    pub eu_dora: DoraConfig,
    pub us_sci: SciConfig,
    pub uk: UkConfig,
    pub reminders: ReminderConfig,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            templates_dir: None,
            firm_name: "(firm name)".into(),
            jp_fsa: FsaConfig::default(),
            eu_dora: DoraConfig::default(),
            us_sci: SciConfig::default(),
            uk: UkConfig::default(),
            reminders: ReminderConfig::default(),
        }
    }
}

/// Japan FSA system-failure reports (監督指針: report at once, again on recovery and when the
/// cause is found, and on the state of things within a month if the cause is still unknown).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FsaConfig {
    pub enabled: bool,
    pub rules: Vec<ReportRule>,
    /// "At once" as the firm's policy puts it: the first report (第一報) is late after this
    /// many minutes from detection.
    pub first_report_within_minutes: u64,
    /// The recovery report is late this many hours after recovery.
    pub recovery_report_within_hours: u64,
    /// A status report is due this many months after detection if the cause and prevention
    /// report has not been filed by then.
    pub status_report_after_months: u32,
    /// Optional internal deadline for the cause and prevention report (days after detection);
    /// none by default, as the guideline ties it to when the cause is found.
    pub cause_report_within_days: Option<u64>,
}

impl Default for FsaConfig {
    fn default() -> Self {
        FsaConfig {
            enabled: true,
            rules: vec![
                rule(
                    "customer-facing trading outage",
                    &["trading", "login", "funds"],
                ),
                rule("price-feed outage", &["price-feed"]),
            ],
            first_report_within_minutes: 60,
            recovery_report_within_hours: 24,
            status_report_after_months: 1,
            cause_report_within_days: None,
        }
    }
}

/// EU DORA major ICT-related incidents: classification under Delegated Regulation 2024/1772,
/// timing under Delegated Regulation 2025/301.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoraConfig {
    pub enabled: bool,
    /// Components that carry critical services (Art. 6); only incidents touching them can
    /// be major, and only those need a classification.
    pub critical_components: Vec<String>,
    /// Clients using the affected services (for the 10 % threshold).
    pub total_clients: u64,
    pub thresholds: DoraThresholds,
    /// Initial notification: within this many hours of classification ...
    pub initial_within_hours_of_classification: u64,
    /// ... and no later than this many hours after becoming aware (detection).
    pub initial_latest_hours_after_detection: u64,
    /// Intermediate report: within this many hours of the initial notification.
    pub intermediate_within_hours: u64,
    /// Final report: within this many months of the last intermediate report.
    pub final_within_months: u32,
}

impl Default for DoraConfig {
    fn default() -> Self {
        DoraConfig {
            enabled: false,
            critical_components: vec!["trading".into(), "price-feed".into()],
            total_clients: 0,
            thresholds: DoraThresholds::default(),
            initial_within_hours_of_classification: 4,
            initial_latest_hours_after_detection: 24,
            intermediate_within_hours: 72,
            final_within_months: 1,
        }
    }
}

/// The materiality thresholds of Art. 9 of Delegated Regulation 2024/1772 (defaults are the
/// regulation's values; change them only if the regulation changes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoraThresholds {
    /// Art. 9(1)(a): affected clients above this share of all clients of the service.
    pub clients_percent: f64,
    /// Art. 9(1)(b): affected clients above this number.
    pub clients_count: u64,
    /// Art. 9(1)(c): affected financial counterparts above this share.
    pub counterparts_percent: f64,
    /// Art. 9(1)(d)/(e): affected transactions above this share of the daily average.
    pub transactions_percent: f64,
    /// Art. 9(3): incident longer than this ...
    pub duration_hours: u64,
    /// ... or critical-service downtime longer than this.
    pub downtime_hours: u64,
    /// Art. 9(4): impact in at least this many member states.
    pub member_states: u32,
    /// Art. 9(6): costs and losses above this (EUR).
    pub economic_eur: u64,
}

impl Default for DoraThresholds {
    fn default() -> Self {
        DoraThresholds {
            clients_percent: 10.0,
            clients_count: 100_000,
            counterparts_percent: 30.0,
            transactions_percent: 10.0,
            duration_hours: 24,
            downtime_hours: 2,
            member_states: 2,
            economic_eur: 100_000,
        }
    }
}

/// US SEC Regulation SCI (Rule 1002(b)), for firms it covers; off by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SciConfig {
    pub enabled: bool,
    pub rules: Vec<ReportRule>,
    /// "Immediately" as the firm's policy puts it, in minutes from detection.
    pub immediate_within_minutes: u64,
    /// Written notification on Form SCI, hours from detection.
    pub form_sci_within_hours: u64,
    /// An interim report is due this many days after the event if it is not resolved by then.
    pub interim_after_days: u64,
    /// Final report: business days after resolution.
    pub final_within_business_days: u32,
    /// Days (YYYY-MM-DD) that are not business days besides Saturdays and Sundays.
    pub holidays: Vec<String>,
}

impl Default for SciConfig {
    fn default() -> Self {
        SciConfig {
            enabled: false,
            rules: vec![rule("systems disruption of trading", &["trading"])],
            immediate_within_minutes: 60,
            form_sci_within_hours: 24,
            interim_after_days: 30,
            final_within_business_days: 5,
            holidays: Vec::new(),
        }
    }
}

/// UK operational resilience: an impact tolerance per important business service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UkConfig {
    pub services: Vec<BusinessServiceConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessServiceConfig {
    pub id: String,
    pub name: String,
    /// Components whose outage disrupts the service.
    pub components: Vec<String>,
    /// Maximum tolerable disruption.
    pub impact_tolerance_minutes: u64,
}

/// Reminders before a report is due, through the escalation channels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReminderConfig {
    /// Minutes before the deadline to remind; 0 reminds once the deadline has passed.
    pub lead_minutes: Vec<u64>,
    /// Channel ids from `[[channels]]`; none means no reminders.
    pub channels: Vec<String>,
    /// People or schedules to remind.
    pub notify: Vec<TargetConfig>,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        ReminderConfig {
            lead_minutes: vec![30, 0],
            channels: Vec::new(),
            notify: Vec::new(),
        }
    }
}

impl ReportsConfig {
    /// Checks limits and references against the rest of the desk configuration.
    pub fn validate(&self, desk: &crate::config::DeskConfig) -> Result<()> {
        let component = |at: &str, id: &str| -> Result<()> {
            if desk.component_name(id).is_some() {
                Ok(())
            } else {
                Err(DeskError::config(at, format!("unknown component {id:?}")))
            }
        };
        for (at, rules) in [
            ("reports.jp_fsa.rules", &self.jp_fsa.rules),
            ("reports.us_sci.rules", &self.us_sci.rules),
        ] {
            if rules.len() > MAX_RULES_PER_REGULATOR {
                return Err(DeskError::config(
                    at,
                    format!("limit {MAX_RULES_PER_REGULATOR} rules"),
                ));
            }
            for rule in rules {
                for id in &rule.components {
                    component(at, id)?;
                }
            }
        }
        for id in &self.eu_dora.critical_components {
            component("reports.eu_dora.critical_components", id)?;
        }
        let t = &self.eu_dora.thresholds;
        for (name, percent) in [
            ("clients_percent", t.clients_percent),
            ("counterparts_percent", t.counterparts_percent),
            ("transactions_percent", t.transactions_percent),
        ] {
            if !(0.0..=100.0).contains(&percent) {
                return Err(DeskError::config(
                    "reports.eu_dora.thresholds",
                    format!("{name} must be 0..=100"),
                ));
            }
        }
        if self.uk.services.len() > MAX_UK_SERVICES {
            return Err(DeskError::config(
                "reports.uk.services",
                format!("limit {MAX_UK_SERVICES}"),
            ));
        }
        for service in &self.uk.services {
            for id in &service.components {
                component("reports.uk.services", id)?;
            }
        }
        if self.us_sci.holidays.len() > MAX_HOLIDAYS {
            return Err(DeskError::config(
                "reports.us_sci.holidays",
                format!("limit {MAX_HOLIDAYS}"),
            ));
        }
        for day in &self.us_sci.holidays {
            day.parse::<jiff::civil::Date>().map_err(|err| {
                DeskError::config("reports.us_sci.holidays", format!("{day:?}: {err}"))
            })?;
        }
        if self.reminders.lead_minutes.len() > MAX_REMINDER_LEADS {
            return Err(DeskError::config(
                "reports.reminders.lead_minutes",
                format!("limit {MAX_REMINDER_LEADS}"),
            ));
        }
        for channel in &self.reminders.channels {
            if desk.channel(channel).is_none() {
                return Err(DeskError::config(
                    "reports.reminders.channels",
                    format!("unknown channel {channel:?}"),
                ));
            }
        }
        for target in &self.reminders.notify {
            let known = match (&target.person, &target.schedule) {
                (Some(person), None) => desk.person(person).is_some(),
                (None, Some(schedule)) => desk.schedules.iter().any(|s| &s.id == schedule),
                _ => false,
            };
            if !known {
                return Err(DeskError::config(
                    "reports.reminders.notify",
                    "each target needs exactly one known person or schedule",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_writes_out_the_defaults() {
        let example =
            crate::config::DeskConfig::from_toml(include_str!("../../config/desk.example.toml"))
                .unwrap();
        let defaults = ReportsConfig::default();
        let reports = &example.reports;
        assert_eq!(reports.jp_fsa.rules, defaults.jp_fsa.rules);
        assert_eq!(reports.us_sci.rules, defaults.us_sci.rules);
        assert_eq!(
            reports.jp_fsa.first_report_within_minutes,
            defaults.jp_fsa.first_report_within_minutes
        );
        assert_eq!(
            reports.eu_dora.thresholds.clients_count,
            defaults.eu_dora.thresholds.clients_count
        );
        assert_eq!(reports.eu_dora.enabled, defaults.eu_dora.enabled);
        assert_eq!(reports.uk.services.len(), 1);
        assert_eq!(reports.reminders.channels, ["ops-slack", "email"]);
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "[[reports.jp_fsa.rules]]\nname = \"x\"\ncomponents = [\"nope\"]\n",
            "[reports.reminders]\nchannels = [\"nope\"]\n",
            "[reports.us_sci]\nholidays = [\"2026-13-01\"]\n",
            "[reports.eu_dora.thresholds]\nclients_percent = 120.0\n",
            "[reports]\nunknown = 1\n",
        ] {
            assert!(crate::config::DeskConfig::from_toml(bad).is_err(), "{bad}");
        }
    }
}
