//! The inspection export: one uncompressed tar archive (any `tar`, 7-Zip or Windows 11 opens
//! it) with an `index.html` an inspector opens first, and for every incident detected in the
//! range its record, timeline, deliveries, impact, classification, obligations and every
//! report version (Markdown, printable HTML, JSON), plus the whole audit chain and the result
//! of verifying it.
//!
//! Layout:
//! ```text
//! index.html                     the inspector's entry page
//! audit/verification.json        result of recomputing the chain, with its head hash
//! audit/chain.jsonl              every audit row with seq, prev_hash and hash
//! audit/money_actions.jsonl      backfill approvals/applications and manual corrections in range
//! incidents/<id>/incident.json   incident, figures, timeline, deliveries
//! incidents/<id>/reports.json    impact, classification, obligations and deadlines
//! incidents/<id>/<kind>-v<n>.md|.html|.json   each submitted version
//! ```

use std::io::Write;

use serde::Serialize;

use super::draft::{escape_html, markdown_to_html, DraftTime};
use super::rules::ObligationStatus;
use crate::clock::UnixMs;
use crate::desk::Desk;
use crate::error::{DeskError, Result};
use crate::model::Incident;
use crate::store::{incident_from_row, Store, INCIDENT_SELECT, MAX_LIST_ROWS};

/// Incidents with id above `after_id`, oldest first.
pub async fn incidents_after(store: &Store, after_id: i64, limit: i64) -> Result<Vec<Incident>> {
    let rows = sqlx::query(&format!(
        "{INCIDENT_SELECT} WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(limit.clamp(1, MAX_LIST_ROWS))
    .fetch_all(store.pool())
    .await
    .map_err(DeskError::storage("list incidents"))?;
    rows.iter().map(incident_from_row).collect()
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub from_ms: UnixMs,
    pub to_ms: UnixMs,
    pub incidents: usize,
    pub report_versions: usize,
    pub audit_entries: u64,
    pub audit_ok: bool,
    pub audit_head_hash: String,
    pub files: usize,
}

struct Archive<W: Write> {
    builder: tar::Builder<W>,
    mtime: u64,
    files: usize,
}

impl<W: Write> Archive<W> {
    fn add(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|err| DeskError::invalid("export archive", format!("{path}: {err}")))?;
        self.files += 1;
        Ok(())
    }

    fn add_json<T: Serialize>(&mut self, path: &str, value: &T) -> Result<()> {
        let text = serde_json::to_vec_pretty(value)
            .map_err(|err| DeskError::invalid("export", err.to_string()))?;
        self.add(path, &text)
    }
}

fn status_text(status: ObligationStatus) -> &'static str {
    match status {
        ObligationStatus::Pending => "pending",
        ObligationStatus::Overdue => "OVERDUE (not filed)",
        ObligationStatus::OnTime => "filed on time",
        ObligationStatus::Late => "LATE",
    }
}

impl Desk {
    /// Writes the inspection archive for incidents detected in `[from_ms, to_ms)` to `out`.
    /// The audit chain is verified first and the result is part of the archive whatever it is.
    pub async fn export_inspection<W: Write>(
        &self,
        from_ms: UnixMs,
        to_ms: UnixMs,
        out: W,
    ) -> Result<ExportSummary> {
        if from_ms >= to_ms {
            return Err(DeskError::invalid("range", "--from must be before --to"));
        }
        let now_ms = self.now_ms();
        let mut archive = Archive {
            builder: tar::Builder::new(out),
            mtime: u64::try_from(now_ms / 1_000).unwrap_or(0),
            files: 0,
        };
        let records = self.verify_records_unchecked(None).await?;
        let verification = records.chain.clone();
        let (head_seq, head_hash) = self.store().audit_head().await?;
        archive.add_json(
            "audit/verification.json",
            &serde_json::json!({
                "verified_at_ms": now_ms,
                "head_seq": head_seq,
                "head_hash": head_hash,
                "result": records,
            }),
        )?;

        // The whole chain, so the inspector can recompute it with the documented encoding.
        let mut chain = Vec::new();
        let mut money = Vec::new();
        let mut after_id = i64::MIN;
        loop {
            let page = self
                .store()
                .audit_chain_rows(after_id, MAX_LIST_ROWS)
                .await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            for row in page {
                let line = serde_json::to_string(&row)
                    .map_err(|err| DeskError::invalid("export", err.to_string()))?;
                if row.action.starts_with("money.") && (from_ms..to_ms).contains(&row.at_ms) {
                    money.extend_from_slice(line.as_bytes());
                    money.push(b'\n');
                }
                chain.extend_from_slice(line.as_bytes());
                chain.push(b'\n');
            }
        }
        archive.add("audit/chain.jsonl", &chain)?;
        archive.add("audit/money_actions.jsonl", &money)?;

        let mut rows_html = String::new();
        let mut incidents = 0;
        let mut versions_total = 0;
        for incident in self.all_incidents().await? {
            if !(from_ms..to_ms).contains(&incident.detected_at_ms) {
                continue;
            }
            incidents += 1;
            let id = incident.id;
            let timeline = self.store().timeline(id).await?;
            let deliveries = self.store().deliveries_for(id).await?;
            archive.add_json(
                &format!("incidents/{id}/incident.json"),
                &serde_json::json!({
                    "incident": incident,
                    "figures": incident.figures(),
                    "timeline": timeline,
                    "deliveries": deliveries,
                }),
            )?;
            let reports = self.reports_of(incident.clone(), now_ms).await?;
            archive.add_json(&format!("incidents/{id}/reports.json"), &reports)?;
            let mut links = String::new();
            for version in &reports.versions {
                let base = format!("incidents/{id}/{}-v{}", version.kind, version.version);
                archive.add(&format!("{base}.md"), version.body_markdown.as_bytes())?;
                archive.add(
                    &format!("{base}.html"),
                    markdown_to_html(version.kind.title(), &version.body_markdown).as_bytes(),
                )?;
                archive.add_json(&format!("{base}.json"), version)?;
                links.push_str(&format!(
                    "<li><a href=\"{base}.html\">{} v{}</a> ({} by {}, sha256 {}) \
                     <a href=\"{base}.md\">md</a> <a href=\"{base}.json\">json</a></li>",
                    escape_html(version.kind.as_str()),
                    version.version,
                    escape_html(&DraftTime::at(version.submitted_at_ms).utc),
                    escape_html(&version.submitted_by),
                    escape_html(&version.content_sha256.chars().take(16).collect::<String>()),
                ));
            }
            versions_total += reports.versions.len();
            let mut duties = String::new();
            for obligation in &reports.obligations {
                duties.push_str(&format!(
                    "<li class=\"{}\">{}: due {}; {}{}</li>",
                    if obligation.status.is_problem() {
                        "bad"
                    } else {
                        "ok"
                    },
                    escape_html(obligation.kind.as_str()),
                    obligation
                        .due_at_ms
                        .map_or("-".to_owned(), |due| DraftTime::at(due).utc),
                    status_text(obligation.status),
                    obligation
                        .submitted_at_ms
                        .map_or(String::new(), |at| format!(
                            " (filed {})",
                            DraftTime::at(at).utc
                        )),
                ));
            }
            for tolerance in &reports.uk_tolerances {
                duties.push_str(&format!(
                    "<li class=\"{}\">UK {}: {} min of {} min tolerance{}</li>",
                    if tolerance.within_tolerance {
                        "ok"
                    } else {
                        "bad"
                    },
                    escape_html(&tolerance.service_name),
                    tolerance.disruption_minutes,
                    tolerance.impact_tolerance_minutes,
                    if tolerance.within_tolerance {
                        ""
                    } else {
                        ": OUTSIDE tolerance"
                    },
                ));
            }
            if duties.is_empty() {
                duties.push_str("<li>not reportable under the configured rules</li>");
            }
            rows_html.push_str(&format!(
                "<tr><td><a href=\"incidents/{id}/incident.json\">#{id}</a></td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td><ul>{duties}</ul></td><td><ul>{links}</ul>\
                 <a href=\"incidents/{id}/reports.json\">reports.json</a></td></tr>\n",
                escape_html(&incident.title),
                escape_html(&incident.component),
                escape_html(&DraftTime::at(incident.impact_started_at_ms).utc),
                incident
                    .recovered_at_ms
                    .or(incident.resolved_at_ms)
                    .map_or("not recovered".to_owned(), |at| DraftTime::at(at).utc),
            ));
        }
        let mut verdict = if verification.ok {
            format!(
                "<p class=\"ok\">Audit chain intact: {} entries, head hash <code>{}</code>.</p>",
                verification.entries_checked,
                escape_html(&head_hash)
            )
        } else {
            format!(
                "<p class=\"bad\">Audit chain BROKEN: {}</p>",
                escape_html(
                    &verification
                        .first_bad
                        .as_ref()
                        .map_or(String::new(), |bad| bad.message.clone())
                )
            )
        };
        if records.report_version_problems.is_empty() {
            verdict.push_str(&format!(
                "<p class=\"ok\">All {} kept report versions match the audit chain.</p>",
                records.report_versions_checked
            ));
        } else {
            for problem in &records.report_version_problems {
                verdict.push_str(&format!(
                    "<p class=\"bad\">Report {} v{} of incident #{}: {}</p>",
                    escape_html(&problem.kind),
                    problem.version,
                    problem.incident_id,
                    escape_html(&problem.problem)
                ));
            }
        }
        let index = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
             <title>fxdesk inspection export</title><style>\
             body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} \
             td,th{{border:1px solid #555;padding:.3em .5em;vertical-align:top}} \
             .bad{{color:#a00;font-weight:bold}} .ok{{color:#060}}</style></head>\n<body>\n\
             <h1>Inspection export: {}</h1>\n<p>Incidents detected from {} to {} (UTC). \
             Generated {}.</p>\n{verdict}\n<p><a href=\"audit/verification.json\">verification</a> · \
             <a href=\"audit/chain.jsonl\">full audit chain</a> (encoding: SHA-256 over the \
             fields as documented in fxdesk's <code>crates/desk/src/audit.rs</code>) · \
             <a href=\"audit/money_actions.jsonl\">backfill approvals, applications and \
             corrections</a></p>\n<table>\n<tr><th>incident</th><th>title</th><th>component</th>\
             <th>impact start</th><th>recovered</th><th>required reports</th><th>filed versions</th></tr>\n\
             {rows_html}</table>\n</body>\n</html>\n",
            escape_html(&self.config().reports.firm_name),
            escape_html(&DraftTime::at(from_ms).utc),
            escape_html(&DraftTime::at(to_ms).utc),
            escape_html(&DraftTime::at(now_ms).utc),
        );
        archive.add("index.html", index.as_bytes())?;
        let files = archive.files;
        archive
            .builder
            .into_inner()
            .and_then(|mut out| out.flush())
            .map_err(|err| DeskError::invalid("export archive", err.to_string()))?;
        Ok(ExportSummary {
            from_ms,
            to_ms,
            incidents,
            report_versions: versions_total,
            audit_entries: verification.entries_checked,
            audit_ok: records.ok,
            audit_head_hash: head_hash,
            files,
        })
    }
}
