//! The desk's report actions: record impact, classify, draft, submit, check, remind, and the
//! audit-chain actions other crates need (money-moving actions, role changes, verification).

use serde::Serialize;
use serde_json::json;

use super::draft::{self, DraftInputs, Format, ReportDraft};
use super::rules::{self, DoraAssessment, IncidentFacts, Obligation, ObligationStatus};
use super::{store as report_store, Classification, ComplianceFields, ImpactInput, Regulator};
use super::{ReportKind, ReportVersion};
use crate::audit::{ChainVerification, MoneyAction};
use crate::auth::{self, Permission};
use crate::clock::UnixMs;
use crate::config::PersonConfig;
use crate::desk::{actor_of, Desk};
use crate::error::{DeskError, Result};
use crate::model::{Incident, Principal, Role, User};
use crate::store::{QueuedDelivery, MAX_LIST_ROWS};

/// Incidents one completeness check looks at, at most (newest first beyond this is refused
/// rather than silently cut: see [`Desk::check_reports_at`]).
pub const MAX_CHECKED_INCIDENTS: usize = 100_000;
/// Resolved incidents detected longer ago than this get no reminders (their deadlines are
/// past; the completeness check still lists them).
pub const REMINDER_HORIZON_DAYS: i64 = 180;

/// A report version that does not match the audit chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VersionProblem {
    pub incident_id: i64,
    pub kind: String,
    pub version: i64,
    pub problem: String,
}

/// The audit chain plus the cross-check of every kept report version against it: the
/// internal record and the reports filed, checked against each other as an inspector would.
#[derive(Debug, Clone, Serialize)]
pub struct RecordsVerification {
    pub ok: bool,
    pub chain: ChainVerification,
    pub report_versions_checked: usize,
    pub report_version_problems: Vec<VersionProblem>,
}

/// SHA-256 of a version's content, as recorded in `report.submit`.
pub fn content_sha256(markdown: &str, body_json: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(markdown.as_bytes());
    hasher.update([0u8]);
    hasher.update(body_json.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// Everything about one incident's reports.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReports {
    pub incident: Incident,
    pub impact: Option<ImpactInput>,
    pub classification: Option<Classification>,
    pub obligations: Vec<Obligation>,
    pub versions: Vec<ReportVersion>,
    pub uk_tolerances: Vec<rules::ToleranceAssessment>,
}

/// One line of the completeness check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckItem {
    pub incident_id: i64,
    pub title: String,
    pub component: String,
    pub detected_at_ms: UnixMs,
    #[serde(flatten)]
    pub obligation: Obligation,
}

/// The completeness check: every reportable incident lacking a required report or whose
/// report was late (`problems`), what is still open but not late (`pending`), and UK impact
/// tolerance breaches.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub checked_at_ms: UnixMs,
    pub incidents_checked: usize,
    pub problems: Vec<CheckItem>,
    pub pending: Vec<CheckItem>,
    pub uk_breaches: Vec<(i64, rules::ToleranceAssessment)>,
}

impl CheckResult {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn check_kind(kind: ReportKind) -> Result<()> {
    if kind.is_report() {
        Ok(())
    } else {
        Err(DeskError::invalid(
            "report kind",
            "the DORA classification is recorded with classify, not drafted",
        ))
    }
}

impl Desk {
    // ------------------------------------------------------------------ audit chain

    /// Appends a money-moving action (backfill proposals, approvals, applications, manual
    /// corrections) to the audit chain. Called by trusted code (`fxdesk-server`, the CLI)
    /// after the action is durable; `actor` is who did it (`user:<name>`).
    pub async fn record_money_action(
        &self,
        actor: &str,
        action: MoneyAction,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        if actor.is_empty() || actor.len() > 200 || subject.is_empty() || subject.len() > 200 {
            return Err(DeskError::invalid(
                "audit entry",
                "actor and subject must be 1..=200 bytes",
            ));
        }
        self.store()
            .append_audit(self.now_ms(), actor, action.as_str(), subject, detail)
            .await
    }

    /// Recomputes the audit chain (compliance and admin).
    pub async fn verify_audit(
        &self,
        actor: &Principal,
        expect_head: Option<&str>,
    ) -> Result<ChainVerification> {
        auth::require(actor.role, Permission::ViewAudit)?;
        self.store().verify_audit_chain(expect_head).await
    }

    /// The chain and the report versions checked against it (compliance and admin).
    pub async fn verify_records(
        &self,
        actor: &Principal,
        expect_head: Option<&str>,
    ) -> Result<RecordsVerification> {
        auth::require(actor.role, Permission::ViewAudit)?;
        self.verify_records_unchecked(expect_head).await
    }

    /// Like [`Desk::verify_records`] without a role check (CLI, export).
    pub async fn verify_records_unchecked(
        &self,
        expect_head: Option<&str>,
    ) -> Result<RecordsVerification> {
        use std::collections::BTreeMap;
        let chain = self.store().verify_audit_chain(expect_head).await?;
        // (incident, kind, version) -> content hash, from every `report.submit` in the chain.
        let mut submitted: BTreeMap<(i64, String, i64), String> = BTreeMap::new();
        let mut after_id = i64::MIN;
        loop {
            let page = self
                .store()
                .audit_chain_rows(after_id, MAX_LIST_ROWS)
                .await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            for row in page.iter().filter(|r| r.action == "report.submit") {
                let detail: serde_json::Value =
                    serde_json::from_str(&row.detail).unwrap_or_default();
                let incident = row
                    .subject
                    .strip_prefix("incident:")
                    .and_then(|id| id.parse::<i64>().ok());
                if let (Some(incident), Some(kind), Some(version), Some(sha)) = (
                    incident,
                    detail["kind"].as_str(),
                    detail["version"].as_i64(),
                    detail["content_sha256"].as_str(),
                ) {
                    submitted.insert((incident, kind.to_owned(), version), sha.to_owned());
                }
            }
        }
        let mut problems = Vec::new();
        let mut checked = 0;
        for incident in self.all_incidents().await? {
            for version in report_store::versions(self.store(), incident.id).await? {
                checked += 1;
                let key = (
                    incident.id,
                    version.kind.as_str().to_owned(),
                    version.version,
                );
                let recomputed = content_sha256(&version.body_markdown, &version.body_json);
                let problem = match submitted.remove(&key) {
                    None => Some("not in the audit chain: added behind the desk's back"),
                    Some(sha) if sha != version.content_sha256 => {
                        Some("its hash differs from the one in the audit chain")
                    }
                    Some(_) if recomputed != version.content_sha256 => {
                        Some("its content was changed after submission")
                    }
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    problems.push(VersionProblem {
                        incident_id: incident.id,
                        kind: key.1,
                        version: version.version,
                        problem: problem.to_owned(),
                    });
                }
            }
        }
        for ((incident_id, kind, version), _) in submitted {
            problems.push(VersionProblem {
                incident_id,
                kind,
                version,
                problem: "submitted according to the audit chain, but the version is gone"
                    .to_owned(),
            });
        }
        Ok(RecordsVerification {
            ok: chain.ok && problems.is_empty(),
            chain,
            report_versions_checked: checked,
            report_version_problems: problems,
        })
    }

    /// Changes a user's role (admins only), audited as `user.role`.
    pub async fn set_user_role(
        &self,
        actor: &Principal,
        username: &str,
        role: Role,
    ) -> Result<User> {
        auth::require(actor.role, Permission::ManageUsers)?;
        if actor.username == username {
            // Another admin must do it: an admin demoting themselves could leave no admin.
            return Err(DeskError::Conflict {
                detail: "you cannot change your own role".into(),
            });
        }
        let before = self.store().set_user_role(username, role).await?;
        self.store()
            .append_audit(
                self.now_ms(),
                &actor_of(actor),
                "user.role",
                &format!("user:{username}"),
                &json!({ "from": before.role, "to": role }),
            )
            .await?;
        Ok(User { role, ..before })
    }

    // ------------------------------------------------------------------ inputs

    /// Records an incident's impact figures (from the engine, journal and backfill).
    pub async fn record_impact(
        &self,
        actor: &Principal,
        incident_id: i64,
        impact: &ImpactInput,
    ) -> Result<()> {
        auth::require(actor.role, Permission::RecordImpact)?;
        self.record_impact_as(&actor_of(actor), incident_id, impact)
            .await
    }

    /// Like [`Desk::record_impact`], for trusted callers that are not users (the server
    /// computing the impact from the engine).
    pub async fn record_impact_as(
        &self,
        actor: &str,
        incident_id: i64,
        impact: &ImpactInput,
    ) -> Result<()> {
        if impact
            .notes
            .as_ref()
            .is_some_and(|n| n.chars().count() > super::MAX_FIELD_CHARS)
        {
            return Err(DeskError::invalid("notes", "too long"));
        }
        self.store().get_incident(incident_id).await?;
        report_store::put_impact(self.store(), incident_id, impact, actor, self.now_ms()).await
    }

    /// Classifies an incident under DORA (compliance): evaluates the thresholds of Delegated
    /// Regulation 2024/1772 from the incident, its impact and `assessment`, and records the
    /// outcome; the classification time starts the initial notification's clock.
    pub async fn classify_dora(
        &self,
        actor: &Principal,
        incident_id: i64,
        assessment: &DoraAssessment,
    ) -> Result<Classification> {
        auth::require(actor.role, Permission::ManageReports)?;
        let incident = self.store().get_incident(incident_id).await?;
        let impact = report_store::get_impact(self.store(), incident_id).await?;
        let now_ms = self.now_ms();
        let outcome = rules::classify_dora(
            &self.config().reports.eu_dora,
            &incident,
            impact.as_ref(),
            assessment,
            now_ms,
        );
        let classification = Classification {
            incident_id,
            regulator: Regulator::EuDora,
            major: outcome.major,
            criteria: json!({ "assessment": assessment, "outcome": outcome }),
            classified_at_ms: now_ms,
            classified_by: actor_of(actor),
        };
        report_store::put_classification(self.store(), &classification).await?;
        Ok(classification)
    }

    // ------------------------------------------------------------------ reading

    pub(crate) async fn reports_of(
        &self,
        incident: Incident,
        now_ms: UnixMs,
    ) -> Result<IncidentReports> {
        let config = &self.config().reports;
        let impact = report_store::get_impact(self.store(), incident.id).await?;
        let classification =
            report_store::latest_classification(self.store(), incident.id, Regulator::EuDora)
                .await?;
        let versions = report_store::versions(self.store(), incident.id).await?;
        let first = |kind: ReportKind| {
            versions
                .iter()
                .filter(|v| v.kind == kind)
                .map(|v| v.submitted_at_ms)
                .min()
        };
        let last = |kind: ReportKind| {
            versions
                .iter()
                .filter(|v| v.kind == kind)
                .map(|v| v.submitted_at_ms)
                .max()
        };
        let obligations = rules::obligations(
            config,
            &IncidentFacts {
                incident: &incident,
                impact: impact.as_ref(),
                dora_classification: classification.as_ref(),
                first_submitted: &first,
                last_submitted: &last,
            },
            now_ms,
        );
        let uk_tolerances = rules::uk_tolerances(config, &incident, now_ms);
        Ok(IncidentReports {
            incident,
            impact,
            classification,
            obligations,
            versions,
            uk_tolerances,
        })
    }

    /// The reports an incident requires, their deadlines and every submitted version.
    pub async fn incident_reports(
        &self,
        actor: &Principal,
        incident_id: i64,
    ) -> Result<IncidentReports> {
        auth::require(actor.role, Permission::ViewReports)?;
        let incident = self.store().get_incident(incident_id).await?;
        self.reports_of(incident, self.now_ms()).await
    }

    /// A draft of `kind` for an incident, filled from storage and `fields`.
    pub async fn draft_report(
        &self,
        actor: &Principal,
        incident_id: i64,
        kind: ReportKind,
        fields: &ComplianceFields,
    ) -> Result<ReportDraft> {
        auth::require(actor.role, Permission::ViewReports)?;
        self.build_draft(incident_id, kind, fields, self.now_ms())
            .await
    }

    /// Builds a draft without a role check (for the CLI, which holds the database itself).
    pub async fn build_draft(
        &self,
        incident_id: i64,
        kind: ReportKind,
        fields: &ComplianceFields,
        now_ms: UnixMs,
    ) -> Result<ReportDraft> {
        check_kind(kind)?;
        fields.validate()?;
        let incident = self.store().get_incident(incident_id).await?;
        let timeline = self.store().timeline(incident_id).await?;
        let reports = self.reports_of(incident.clone(), now_ms).await?;
        let obligation = reports.obligations.iter().find(|o| o.kind == kind);
        let component_name = self
            .config()
            .component_name(&incident.component)
            .unwrap_or(&incident.component)
            .to_owned();
        Ok(draft::build(DraftInputs {
            kind,
            config: &self.config().reports,
            component_name: &component_name,
            incident: &incident,
            timeline: &timeline,
            impact: reports.impact.as_ref(),
            fields,
            obligation,
            classification: reports.classification.as_ref(),
            uk_tolerances: reports.uk_tolerances,
            now_ms,
        }))
    }

    /// Renders a draft in a format.
    pub fn render_draft(&self, draft: &ReportDraft, format: Format) -> Result<String> {
        draft::render(&self.config().reports, draft, format)
    }

    /// Submits a report (compliance): renders it, keeps the version (who, when, what, with a
    /// SHA-256 of the content) and appends `report.submit` to the audit chain.
    pub async fn submit_report(
        &self,
        actor: &Principal,
        incident_id: i64,
        kind: ReportKind,
        fields: &ComplianceFields,
    ) -> Result<ReportVersion> {
        auth::require(actor.role, Permission::ManageReports)?;
        let now_ms = self.now_ms();
        let draft = self.build_draft(incident_id, kind, fields, now_ms).await?;
        if !draft.missing_fields.is_empty() {
            return Err(DeskError::invalid(
                "report",
                format!(
                    "{kind} needs these fields filled in: {}",
                    draft.missing_fields.join(", ")
                ),
            ));
        }
        let markdown = self.render_draft(&draft, Format::Markdown)?;
        let body_json = serde_json::to_value(&draft)
            .map_err(|err| DeskError::invalid("draft", err.to_string()))?;
        let content_sha256 = content_sha256(&markdown, &body_json);
        report_store::insert_version(
            self.store(),
            &report_store::NewVersion {
                incident_id,
                kind,
                fields,
                body_markdown: &markdown,
                body_json: &body_json,
                content_sha256: &content_sha256,
                submitted_at_ms: now_ms,
                submitted_by: &actor_of(actor),
            },
        )
        .await
    }

    // ------------------------------------------------------------------ completeness

    /// Every incident, oldest first, paged (the check must see all of them, not the newest
    /// thousand).
    pub(crate) async fn all_incidents(&self) -> Result<Vec<Incident>> {
        let mut all = Vec::new();
        let mut after_id = 0;
        loop {
            let page =
                super::export::incidents_after(self.store(), after_id, MAX_LIST_ROWS).await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            all.extend(page);
            if all.len() > MAX_CHECKED_INCIDENTS {
                return Err(DeskError::invalid(
                    "completeness check",
                    format!("more than {MAX_CHECKED_INCIDENTS} incidents; check a date range"),
                ));
            }
        }
        Ok(all)
    }

    /// The completeness check for the console (any role that may view reports).
    pub async fn check_reports(&self, actor: &Principal) -> Result<CheckResult> {
        auth::require(actor.role, Permission::ViewReports)?;
        self.check_reports_at(self.now_ms()).await
    }

    /// The completeness check at `now_ms`, without a role check (CLI, background).
    pub async fn check_reports_at(&self, now_ms: UnixMs) -> Result<CheckResult> {
        self.check_incidents(self.all_incidents().await?, now_ms)
            .await
    }

    async fn check_incidents(
        &self,
        incidents: Vec<Incident>,
        now_ms: UnixMs,
    ) -> Result<CheckResult> {
        let mut result = CheckResult {
            checked_at_ms: now_ms,
            incidents_checked: incidents.len(),
            problems: Vec::new(),
            pending: Vec::new(),
            uk_breaches: Vec::new(),
        };
        for incident in incidents {
            let reports = self.reports_of(incident, now_ms).await?;
            for obligation in reports.obligations {
                let item = CheckItem {
                    incident_id: reports.incident.id,
                    title: reports.incident.title.clone(),
                    component: reports.incident.component.clone(),
                    detected_at_ms: reports.incident.detected_at_ms,
                    obligation,
                };
                match item.obligation.status {
                    ObligationStatus::Overdue | ObligationStatus::Late => {
                        result.problems.push(item)
                    }
                    ObligationStatus::Pending => result.pending.push(item),
                    ObligationStatus::OnTime => {}
                }
            }
            for tolerance in reports.uk_tolerances {
                if !tolerance.within_tolerance {
                    result.uk_breaches.push((reports.incident.id, tolerance));
                }
            }
        }
        Ok(result)
    }

    // ------------------------------------------------------------------ reminders

    /// Sends reminders for reports coming due (and once when overdue) through the configured
    /// escalation channels; each (incident, report, deadline, lead) reminds once. Returns the
    /// reminders queued. The background loop calls this with the desk clock's time.
    pub async fn remind_reports(&self, now_ms: UnixMs) -> Result<usize> {
        let reminders = &self.config().reports.reminders;
        if reminders.channels.is_empty() || reminders.lead_minutes.is_empty() {
            return Ok(0);
        }
        // Deadlines lie at most a few months after detection (DORA's final report: a month
        // after an intermediate one); older resolved incidents cannot come due any more.
        let horizon_ms = now_ms.saturating_sub(REMINDER_HORIZON_DAYS * 86_400_000);
        let candidates = self
            .all_incidents()
            .await?
            .into_iter()
            .filter(|i| i.is_open() || i.detected_at_ms >= horizon_ms)
            .collect();
        let check = self.check_incidents(candidates, now_ms).await?;
        let mut sent = 0;
        for item in check.pending.iter().chain(check.problems.iter()) {
            let obligation = &item.obligation;
            if obligation.submitted_at_ms.is_some() {
                continue;
            }
            let Some(due) = obligation.due_at_ms else {
                continue;
            };
            // The reminder with the shortest lead that is due now; earlier leads that were
            // missed (the desk was down) are not sent late as well.
            let lead = reminders
                .lead_minutes
                .iter()
                .copied()
                .filter(|lead| {
                    let lead_ms = i64::try_from(*lead).unwrap_or(i64::MAX / 60_000) * 60_000;
                    if *lead == 0 {
                        now_ms > due
                    } else {
                        now_ms >= due.saturating_sub(lead_ms) && now_ms <= due
                    }
                })
                .min();
            let Some(lead) = lead else { continue };
            let people = self.resolve_targets(&reminders.notify, now_ms);
            let message = if lead == 0 {
                format!(
                    "OVERDUE: {} for incident #{} ({}) was due at {}",
                    obligation.kind,
                    item.incident_id,
                    item.title,
                    draft::DraftTime::at(due).utc
                )
            } else {
                format!(
                    "Report due in {lead} min: {} for incident #{} ({}) by {}",
                    obligation.kind,
                    item.incident_id,
                    item.title,
                    draft::DraftTime::at(due).utc
                )
            };
            let payload = |group: &[&PersonConfig]| {
                json!({
                    "event": "report.reminder",
                    "incident": { "id": item.incident_id, "title": item.title, "component": item.component },
                    "report": { "kind": obligation.kind, "due_at_ms": due, "basis": obligation.basis },
                    "lead_minutes": lead,
                    "message": message,
                    "recipients": group.iter().map(|p| json!({
                        "id": p.id, "name": p.name, "phone": p.phone, "email": p.email,
                    })).collect::<Vec<_>>(),
                    "sent_at_ms": now_ms,
                })
            };
            let mut queued = Vec::new();
            for channel_id in &reminders.channels {
                let Some(channel) = self.config().channel(channel_id) else {
                    continue;
                };
                if channel.is_per_person() {
                    for person in &people {
                        queued.push(QueuedDelivery {
                            channel_id: channel_id.clone(),
                            recipient: person.id.clone(),
                            payload: payload(&[person]),
                        });
                    }
                } else {
                    queued.push(QueuedDelivery {
                        channel_id: channel_id.clone(),
                        recipient: people
                            .iter()
                            .map(|p| p.id.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        payload: payload(&people),
                    });
                }
            }
            if report_store::fire_reminder(
                self.store(),
                item.incident_id,
                obligation.kind,
                due,
                lead,
                now_ms,
                &queued,
            )
            .await?
            {
                self.store()
                    .add_event(
                        item.incident_id,
                        now_ms,
                        "report_reminder",
                        "desk",
                        &message,
                    )
                    .await?;
                self.store()
                    .append_audit(
                        now_ms,
                        "desk",
                        "incident.report_reminder",
                        &format!("incident:{}", item.incident_id),
                        &json!({ "message": message }),
                    )
                    .await?;
                sent += 1;
            }
        }
        Ok(sent)
    }
}
