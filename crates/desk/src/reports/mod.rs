//! Regulator reports: which incidents must be reported to whom ([`rules`]), by when, drafts
//! filled from the incident and the impact figures the caller records ([`draft`]), every
//! submitted version kept and audited ([`store`], [`service`]), the completeness check and
//! reminders, and the inspection export ([`export`]).
//!
//! The desk never reads the engine or the journal: the impact on customers (who had positions
//! or working orders during the outage, orders affected, the backfill) arrives as an
//! [`ImpactInput`] that `fxdesk-server` or a person records.

pub mod config;
pub mod draft;
pub mod export;
pub mod rules;
pub mod service;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::UnixMs;
use crate::error::{DeskError, Result};

pub use config::ReportsConfig;

/// Longest free-text field compliance may enter.
pub const MAX_FIELD_CHARS: usize = 20_000;
/// Most extra fields on one report.
pub const MAX_EXTRA_FIELDS: usize = 64;

/// Who a report goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regulator {
    /// Japan Financial Services Agency.
    JpFsa,
    /// EU DORA competent authority.
    EuDora,
    /// US SEC, Regulation SCI.
    UsSci,
}

impl Regulator {
    pub fn as_str(self) -> &'static str {
        match self {
            Regulator::JpFsa => "jp_fsa",
            Regulator::EuDora => "eu_dora",
            Regulator::UsSci => "us_sci",
        }
    }
}

/// Every report (and the DORA classification, which starts DORA's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReportKind {
    /// 第一報: the fact of the failure, at once.
    #[serde(rename = "jp_fsa.first")]
    FsaFirst,
    /// 復旧報告: on recovery.
    #[serde(rename = "jp_fsa.recovery")]
    FsaRecovery,
    /// 原因及び再発防止策の報告: when the cause is found.
    #[serde(rename = "jp_fsa.cause_prevention")]
    FsaCausePrevention,
    /// 現状報告: if the cause is still unknown a month after the failure.
    #[serde(rename = "jp_fsa.status")]
    FsaStatus,
    /// Classification as major or not (a record, not a report).
    #[serde(rename = "eu_dora.classification")]
    DoraClassification,
    #[serde(rename = "eu_dora.initial")]
    DoraInitial,
    #[serde(rename = "eu_dora.intermediate")]
    DoraIntermediate,
    #[serde(rename = "eu_dora.final")]
    DoraFinal,
    /// Rule 1002(b)(1): immediate notification (may be oral; record when it was made).
    #[serde(rename = "us_sci.immediate")]
    SciImmediate,
    /// Rule 1002(b)(2): written notification on Form SCI within 24 hours.
    #[serde(rename = "us_sci.form_sci")]
    SciFormSci,
    /// Rule 1002(b)(4): interim report at 30 days if unresolved.
    #[serde(rename = "us_sci.interim")]
    SciInterim,
    /// Rule 1002(b)(4): final report within 5 business days of resolution.
    #[serde(rename = "us_sci.final")]
    SciFinal,
}

impl ReportKind {
    pub const ALL: &'static [ReportKind] = &[
        ReportKind::FsaFirst,
        ReportKind::FsaRecovery,
        ReportKind::FsaCausePrevention,
        ReportKind::FsaStatus,
        ReportKind::DoraClassification,
        ReportKind::DoraInitial,
        ReportKind::DoraIntermediate,
        ReportKind::DoraFinal,
        ReportKind::SciImmediate,
        ReportKind::SciFormSci,
        ReportKind::SciInterim,
        ReportKind::SciFinal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::FsaFirst => "jp_fsa.first",
            ReportKind::FsaRecovery => "jp_fsa.recovery",
            ReportKind::FsaCausePrevention => "jp_fsa.cause_prevention",
            ReportKind::FsaStatus => "jp_fsa.status",
            ReportKind::DoraClassification => "eu_dora.classification",
            ReportKind::DoraInitial => "eu_dora.initial",
            ReportKind::DoraIntermediate => "eu_dora.intermediate",
            ReportKind::DoraFinal => "eu_dora.final",
            ReportKind::SciImmediate => "us_sci.immediate",
            ReportKind::SciFormSci => "us_sci.form_sci",
            ReportKind::SciInterim => "us_sci.interim",
            ReportKind::SciFinal => "us_sci.final",
        }
    }

    pub fn parse(text: &str) -> Result<ReportKind> {
        ReportKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                DeskError::invalid(
                    "report kind",
                    format!(
                        "unknown {text:?}; one of {}",
                        ReportKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    pub fn regulator(self) -> Regulator {
        match self {
            ReportKind::FsaFirst
            | ReportKind::FsaRecovery
            | ReportKind::FsaCausePrevention
            | ReportKind::FsaStatus => Regulator::JpFsa,
            ReportKind::DoraClassification
            | ReportKind::DoraInitial
            | ReportKind::DoraIntermediate
            | ReportKind::DoraFinal => Regulator::EuDora,
            ReportKind::SciImmediate
            | ReportKind::SciFormSci
            | ReportKind::SciInterim
            | ReportKind::SciFinal => Regulator::UsSci,
        }
    }

    /// A report one can draft and submit (the DORA classification is recorded instead).
    pub fn is_report(self) -> bool {
        self != ReportKind::DoraClassification
    }

    /// The title printed on the report.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::FsaFirst => "システム障害発生報告（第一報）",
            ReportKind::FsaRecovery => "システム障害報告（復旧報告）",
            ReportKind::FsaCausePrevention => "システム障害報告（原因及び再発防止策）",
            ReportKind::FsaStatus => "システム障害報告（現状報告）",
            ReportKind::DoraClassification => "DORA classification",
            ReportKind::DoraInitial => "DORA major ICT-related incident: initial notification",
            ReportKind::DoraIntermediate => "DORA major ICT-related incident: intermediate report",
            ReportKind::DoraFinal => "DORA major ICT-related incident: final report",
            ReportKind::SciImmediate => "Regulation SCI: immediate notification of SCI event",
            ReportKind::SciFormSci => "Regulation SCI: Form SCI written notification",
            ReportKind::SciInterim => "Regulation SCI: interim report",
            ReportKind::SciFinal => "Regulation SCI: final report",
        }
    }

    /// Fields compliance must fill before this report can be submitted.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            ReportKind::FsaCausePrevention | ReportKind::DoraFinal | ReportKind::SciFinal => {
                &["cause", "prevention"]
            }
            _ => &[],
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outage's effect on customers, from the engine, the journal and the backfill plan.
/// The caller (server, or a person with a JSON file) computes it; the desk only records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactInput {
    /// Customers with open positions when the outage began.
    #[serde(default)]
    pub customers_with_positions: u64,
    /// Customers with working orders during the outage.
    #[serde(default)]
    pub customers_with_working_orders: u64,
    /// Distinct customers affected (positions or working orders, or locked out).
    #[serde(default)]
    pub customers_affected: u64,
    /// Orders that would have triggered, or were sent and not answered, during the outage.
    #[serde(default)]
    pub orders_affected: u64,
    /// Transactions affected, as a share (percent) of a normal day's, if known.
    #[serde(default)]
    pub transactions_affected_percent: Option<u32>,
    #[serde(default)]
    pub backfill: Option<BackfillSummary>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// What the backfill did about the outage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillSummary {
    pub plan_id: String,
    /// Orders executed afterwards at the backfilled price.
    #[serde(default)]
    pub orders_executed: u64,
    /// Customers whose accounts were corrected.
    #[serde(default)]
    pub customers_corrected: u64,
    /// Total paid to customers, in the minor unit of `currency`.
    #[serde(default)]
    pub amount_minor: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub approved_by: Vec<String>,
    #[serde(default)]
    pub applied_at_ms: Option<UnixMs>,
}

/// What compliance writes into a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceFields {
    /// 事象の概要 / what happened (defaults to the incident's title and timeline).
    #[serde(default)]
    pub what_happened: Option<String>,
    /// 対応状況 / response.
    #[serde(default)]
    pub response: Option<String>,
    /// 顧客対応 / handling of customers.
    #[serde(default)]
    pub customer_handling: Option<String>,
    /// 発生原因 / root cause.
    #[serde(default)]
    pub cause: Option<String>,
    /// 再発防止策 / recurrence prevention.
    #[serde(default)]
    pub prevention: Option<String>,
    /// 報告者 / reporting person or department.
    #[serde(default)]
    pub reporter: Option<String>,
    /// Anything else a template uses (`fields.extra.<name>`).
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl ComplianceFields {
    /// Checks sizes (a client sends these).
    pub fn validate(&self) -> Result<()> {
        let texts = [
            ("what_happened", &self.what_happened),
            ("response", &self.response),
            ("customer_handling", &self.customer_handling),
            ("cause", &self.cause),
            ("prevention", &self.prevention),
            ("reporter", &self.reporter),
        ];
        for (name, text) in texts {
            if text
                .as_ref()
                .is_some_and(|t| t.chars().count() > MAX_FIELD_CHARS)
            {
                return Err(DeskError::invalid(
                    name,
                    format!("longer than {MAX_FIELD_CHARS} characters"),
                ));
            }
        }
        if self.extra.len() > MAX_EXTRA_FIELDS {
            return Err(DeskError::invalid(
                "extra",
                format!("more than {MAX_EXTRA_FIELDS} fields"),
            ));
        }
        for (key, value) in &self.extra {
            if key.len() > 64 || value.chars().count() > MAX_FIELD_CHARS {
                return Err(DeskError::invalid(
                    "extra",
                    format!("field {key:?} too long"),
                ));
            }
        }
        Ok(())
    }

    /// The value of a named field, if filled in (blank counts as missing).
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = match name {
            "what_happened" => self.what_happened.as_deref(),
            "response" => self.response.as_deref(),
            "customer_handling" => self.customer_handling.as_deref(),
            "cause" => self.cause.as_deref(),
            "prevention" => self.prevention.as_deref(),
            "reporter" => self.reporter.as_deref(),
            other => self.extra.get(other).map(String::as_str),
        };
        value.filter(|v| !v.trim().is_empty())
    }
}

/// One submitted version of a report, as kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportVersion {
    pub id: i64,
    pub incident_id: i64,
    pub kind: ReportKind,
    pub version: i64,
    pub fields: ComplianceFields,
    pub body_markdown: String,
    pub body_json: serde_json::Value,
    /// SHA-256 of the Markdown and JSON bodies (also in the audit chain).
    pub content_sha256: String,
    pub submitted_at_ms: UnixMs,
    pub submitted_by: String,
}

/// A recorded DORA classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub incident_id: i64,
    pub regulator: Regulator,
    pub major: bool,
    pub criteria: serde_json::Value,
    pub classified_at_ms: UnixMs,
    pub classified_by: String,
}
