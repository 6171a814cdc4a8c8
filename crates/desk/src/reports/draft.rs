//! Report drafts: a [`ReportDraft`] filled from the incident, its timeline, the recorded impact
//! and what compliance wrote, rendered through a minijinja template (built in, or a file of the
//! same name in `reports.templates_dir` that compliance edits) to Markdown, printable HTML or
//! JSON.

use serde::Serialize;

use super::rules::{Obligation, ToleranceAssessment};
use super::{Classification, ComplianceFields, ImpactInput, ReportKind, ReportsConfig};
use crate::clock::UnixMs;
use crate::error::{DeskError, Result};
use crate::model::{ComponentStatus, Incident, IncidentState, TimelineEvent};

/// Largest template file read from `templates_dir`.
pub const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// Built-in templates by file name.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    (
        "jp_fsa_first.md.j2",
        include_str!("../../templates/reports/jp_fsa_first.md.j2"),
    ),
    (
        "jp_fsa_followup.md.j2",
        include_str!("../../templates/reports/jp_fsa_followup.md.j2"),
    ),
    (
        "eu_dora.md.j2",
        include_str!("../../templates/reports/eu_dora.md.j2"),
    ),
    (
        "us_sci.md.j2",
        include_str!("../../templates/reports/us_sci.md.j2"),
    ),
];

/// The template file a report kind is rendered with.
pub fn template_name(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::FsaFirst => "jp_fsa_first.md.j2",
        ReportKind::FsaRecovery | ReportKind::FsaCausePrevention | ReportKind::FsaStatus => {
            "jp_fsa_followup.md.j2"
        }
        ReportKind::DoraClassification
        | ReportKind::DoraInitial
        | ReportKind::DoraIntermediate
        | ReportKind::DoraFinal => "eu_dora.md.j2",
        ReportKind::SciImmediate
        | ReportKind::SciFormSci
        | ReportKind::SciInterim
        | ReportKind::SciFinal => "us_sci.md.j2",
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Markdown,
    Html,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format> {
        match text {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            other => Err(DeskError::invalid(
                "format",
                format!("{other:?}: one of md, html, json"),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// A moment, written for each audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraftTime {
    pub ms: UnixMs,
    /// RFC 3339 in UTC.
    pub utc: String,
    /// `2026年11月23日 21時00分`, Japan Standard Time (UTC+9, no daylight saving).
    pub jst: String,
}

impl DraftTime {
    pub fn at(ms: UnixMs) -> DraftTime {
        let utc = jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|_| ms.to_string());
        let jst = jiff::Timestamp::from_millisecond(ms)
            .map(|t| {
                let z = t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)));
                format!(
                    "{}年{}月{}日 {:02}時{:02}分",
                    z.year(),
                    z.month(),
                    z.day(),
                    z.hour(),
                    z.minute()
                )
            })
            .unwrap_or_else(|_| ms.to_string());
        DraftTime { ms, utc, jst }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DraftIncident {
    pub id: i64,
    pub title: String,
    pub component: String,
    pub component_name: String,
    pub state: IncidentState,
    pub state_ja: &'static str,
    pub impact: ComponentStatus,
    pub impact_ja: &'static str,
    pub impact_started_at: DraftTime,
    pub detected_at: DraftTime,
    pub acknowledged_at: Option<DraftTime>,
    pub recovered_at: Option<DraftTime>,
    pub resolved_at: Option<DraftTime>,
    pub duration_minutes: i64,
    pub ongoing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DraftEvent {
    pub at: DraftTime,
    pub kind: String,
    pub actor: String,
    /// The message on one line with `|` escaped, safe inside a Markdown table cell.
    pub message: String,
}

/// Everything a report template sees, and the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct ReportDraft {
    pub kind: ReportKind,
    pub title: &'static str,
    pub regulator: super::Regulator,
    pub firm_name: String,
    pub generated_at: DraftTime,
    pub incident: DraftIncident,
    pub timeline: Vec<DraftEvent>,
    pub impact: Option<ImpactInput>,
    pub fields: ComplianceFields,
    /// Fields compliance still has to fill before submitting.
    pub missing_fields: Vec<&'static str>,
    pub obligation: Option<Obligation>,
    pub due_at: Option<DraftTime>,
    pub classification: Option<Classification>,
    pub classified_at: Option<DraftTime>,
    pub uk_tolerances: Vec<ToleranceAssessment>,
}

fn state_ja(state: IncidentState) -> &'static str {
    match state {
        IncidentState::Investigating => "原因調査中",
        IncidentState::Identified => "原因特定済み・対応中",
        IncidentState::Monitoring => "復旧・経過観察中",
        IncidentState::Resolved => "解決",
    }
}

fn impact_ja(impact: ComponentStatus) -> &'static str {
    match impact {
        ComponentStatus::Operational => "影響なし",
        ComponentStatus::Maintenance => "メンテナンス",
        ComponentStatus::DegradedPerformance => "性能低下",
        ComponentStatus::PartialOutage => "一部停止",
        ComponentStatus::MajorOutage => "全面停止",
    }
}

fn table_cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// What a draft is built from.
pub struct DraftInputs<'a> {
    pub kind: ReportKind,
    pub config: &'a ReportsConfig,
    pub component_name: &'a str,
    pub incident: &'a Incident,
    pub timeline: &'a [TimelineEvent],
    pub impact: Option<&'a ImpactInput>,
    pub fields: &'a ComplianceFields,
    pub obligation: Option<&'a Obligation>,
    pub classification: Option<&'a Classification>,
    pub uk_tolerances: Vec<ToleranceAssessment>,
    pub now_ms: UnixMs,
}

/// Fills a draft (no rendering yet).
pub fn build(inputs: DraftInputs<'_>) -> ReportDraft {
    let incident = inputs.incident;
    let recovered = incident.recovered_at_ms.or(incident.resolved_at_ms);
    let duration_ms = super::rules::outage_duration_ms(incident, inputs.now_ms);
    ReportDraft {
        kind: inputs.kind,
        title: inputs.kind.title(),
        regulator: inputs.kind.regulator(),
        firm_name: inputs.config.firm_name.clone(),
        generated_at: DraftTime::at(inputs.now_ms),
        incident: DraftIncident {
            id: incident.id,
            title: incident.title.clone(),
            component: incident.component.clone(),
            component_name: inputs.component_name.to_owned(),
            state: incident.state,
            state_ja: state_ja(incident.state),
            impact: incident.impact,
            impact_ja: impact_ja(incident.impact),
            impact_started_at: DraftTime::at(incident.impact_started_at_ms),
            detected_at: DraftTime::at(incident.detected_at_ms),
            acknowledged_at: incident.acknowledged_at_ms.map(DraftTime::at),
            recovered_at: recovered.map(DraftTime::at),
            resolved_at: incident.resolved_at_ms.map(DraftTime::at),
            duration_minutes: duration_ms / 60_000,
            ongoing: recovered.is_none(),
        },
        timeline: inputs
            .timeline
            .iter()
            .map(|event| DraftEvent {
                at: DraftTime::at(event.at_ms),
                kind: event.kind.clone(),
                actor: table_cell(&event.actor),
                message: table_cell(&event.message),
            })
            .collect(),
        impact: inputs.impact.cloned(),
        fields: inputs.fields.clone(),
        missing_fields: inputs
            .kind
            .required_fields()
            .iter()
            .copied()
            .filter(|name| inputs.fields.get(name).is_none())
            .collect(),
        obligation: inputs.obligation.cloned(),
        due_at: inputs
            .obligation
            .and_then(|o| o.due_at_ms)
            .map(DraftTime::at),
        classification: inputs.classification.cloned(),
        classified_at: inputs
            .classification
            .map(|c| DraftTime::at(c.classified_at_ms)),
        uk_tolerances: inputs.uk_tolerances,
    }
}

/// The template source for a kind: `templates_dir/<name>` if that file exists, else built in.
pub fn template_source(config: &ReportsConfig, kind: ReportKind) -> Result<String> {
    let name = template_name(kind);
    if let Some(dir) = &config.templates_dir {
        let path = std::path::Path::new(dir).join(name);
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.len() > MAX_TEMPLATE_BYTES {
                return Err(DeskError::config(
                    path.display().to_string(),
                    format!("larger than {MAX_TEMPLATE_BYTES} bytes"),
                ));
            }
            return std::fs::read_to_string(&path)
                .map_err(|err| DeskError::config(path.display().to_string(), err.to_string()));
        }
    }
    BUILTIN_TEMPLATES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, source)| (*source).to_owned())
        .ok_or_else(|| DeskError::config("templates", format!("no template {name}")))
}

/// Renders the Markdown body.
pub fn render_markdown(config: &ReportsConfig, draft: &ReportDraft) -> Result<String> {
    let source = template_source(config, draft.kind)?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.render_str(&source, draft).map_err(|err| {
        DeskError::config(
            format!("template {}", template_name(draft.kind)),
            err.to_string(),
        )
    })
}

/// Markdown to a printable HTML page. Raw HTML in the Markdown (say, typed into a field)
/// is shown as text, never interpreted.
pub fn markdown_to_html(title: &str, markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>\nbody {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.5; }}\n\
         table {{ border-collapse: collapse; width: 100%; }}\n\
         th, td {{ border: 1px solid #444; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }}\n\
         @media print {{ body {{ margin: 0; max-width: none; }} a {{ color: inherit; }} }}\n\
         </style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape_html(title),
        body
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a draft in `format`.
pub fn render(config: &ReportsConfig, draft: &ReportDraft, format: Format) -> Result<String> {
    match format {
        Format::Markdown => render_markdown(config, draft),
        Format::Html => Ok(markdown_to_html(
            draft.title,
            &render_markdown(config, draft)?,
        )),
        Format::Json => serde_json::to_string_pretty(draft)
            .map_err(|err| DeskError::invalid("draft", err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_is_utc_plus_nine() {
        // 2026-11-23 12:00:00 UTC = 21:00 JST.
        let time = DraftTime::at(1_795_435_200_000);
        assert_eq!(time.utc, "2026-11-23T12:00:00Z");
        assert_eq!(time.jst, "2026年11月23日 21時00分");
    }

    #[test]
    fn raw_html_in_markdown_is_shown_not_run() {
        let html = markdown_to_html("t", "原因: <script>alert(1)</script>\n");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn every_kind_has_a_builtin_template() {
        for kind in ReportKind::ALL {
            let name = template_name(*kind);
            assert!(BUILTIN_TEMPLATES.iter().any(|(n, _)| *n == name), "{name}");
        }
    }
}
