//! What the console pages show, gathered from the desk into template values.

use fxdesk_desk::model::PublicNotice;
use fxdesk_desk::{Desk, DeskError, Incident, Principal, UnixMs};
use minijinja::{context, Value};

use crate::notices::{self, Channel, NoticeInputs};
use crate::status::lang::Lang;
use crate::status::snapshot::{component_status_label, human_time, state_label};

/// Incidents listed on the dashboard.
const DASHBOARD_INCIDENTS: i64 = 50;

fn time(at_ms: Option<UnixMs>) -> Option<String> {
    at_ms.map(|at| human_time(at, Lang::En))
}

fn incident_row(incident: &Incident) -> Value {
    context! {
        id => incident.id,
        title => incident.title,
        component => incident.component,
        state => incident.state.as_str(),
        impact => incident.impact.as_str(),
        impact_label => component_status_label(incident.impact, Lang::En),
        started => time(Some(incident.impact_started_at_ms)),
        acknowledged => time(incident.acknowledged_at_ms),
        acknowledged_by => incident.acknowledged_by,
        recovered => time(incident.recovered_at_ms),
        resolved => time(incident.resolved_at_ms),
        open => incident.is_open(),
    }
}

pub async fn dashboard(desk: &Desk, actor: &Principal) -> Result<Value, DeskError> {
    let incidents = desk.incidents(actor, DASHBOARD_INCIDENTS).await?;
    let open: Vec<Value> = incidents
        .iter()
        .filter(|i| i.is_open())
        .map(incident_row)
        .collect();
    let recent: Vec<Value> = incidents
        .iter()
        .filter(|i| !i.is_open())
        .map(incident_row)
        .collect();
    let on_call = desk.on_call(actor, desk.now_ms())?;
    let monitors = desk.monitors(actor).await?;
    let down: Vec<&fxdesk_desk::MonitorView> = monitors.iter().filter(|m| m.down).collect();
    let components = desk.components(actor).await?;
    let components: Vec<Value> = components
        .iter()
        .map(|c| {
            context! {
                id => c.id, name => c.name, status => c.status.as_str(),
                status_label => component_status_label(c.status, Lang::En),
            }
        })
        .collect();
    Ok(context! {
        open => open,
        recent => recent,
        on_call => on_call,
        monitors_total => monitors.len(),
        monitors_down => down,
        components => components,
        now => human_time(desk.now_ms(), Lang::En),
    })
}

pub async fn monitors(desk: &Desk, actor: &Principal) -> Result<Value, DeskError> {
    let monitors = desk.monitors(actor).await?;
    let rows: Vec<Value> = monitors
        .iter()
        .map(|m| {
            context! {
                key => m.key, component => m.component, severity => m.severity.as_str(),
                checked => m.checked, down => m.down,
                failing_since => time(m.failing_since_ms),
                consecutive_failures => m.consecutive_failures, detail => m.detail,
            }
        })
        .collect();
    Ok(context! { monitors => rows, now => human_time(desk.now_ms(), Lang::En) })
}

/// A notice rendered for every language and channel.
#[derive(Debug, Clone)]
pub struct RenderedNotice {
    pub page_ja: String,
    pub page_en: String,
    pub email_ja: String,
    pub email_en: String,
    pub phone_ja: String,
    pub phone_en: String,
    pub subject_ja: String,
    pub subject_en: String,
}

/// Renders a notice of `kind` for incident `id` from the stored templates.
pub async fn render_notice(
    desk: &Desk,
    incident_id: i64,
    kind: &str,
    inputs: &NoticeInputs,
) -> Result<RenderedNotice, DeskError> {
    let incident = desk.store().get_incident(incident_id).await?;
    render_for(desk, &incident, kind, inputs, desk.now_ms()).await
}

async fn render_for(
    desk: &Desk,
    incident: &Incident,
    kind: &str,
    inputs: &NoticeInputs,
    now_ms: UnixMs,
) -> Result<RenderedNotice, DeskError> {
    let templates = desk.notice_templates().await?;
    let components = desk.public_components().await?;
    let component = components.iter().find(|c| c.id == incident.component);
    let one = |lang: Lang, channel| -> Result<String, DeskError> {
        let source =
            notices::template_for(&templates, kind, lang).ok_or_else(|| DeskError::NotFound {
                what: format!("notice template {kind}.{}", lang.code()),
            })?;
        notices::render(source, lang, channel, incident, component, inputs, now_ms).map_err(|err| {
            DeskError::Invalid {
                what: format!("notice template {kind}.{}", lang.code()),
                detail: format!("{err:#}"),
            }
        })
    };
    let component_ja = component.map_or_else(
        || incident.component.clone(),
        |c| crate::status::snapshot::component_name(c, Lang::Ja),
    );
    let component_en = component.map_or_else(|| incident.component.clone(), |c| c.name.clone());
    Ok(RenderedNotice {
        page_ja: one(Lang::Ja, Channel::Page)?,
        page_en: one(Lang::En, Channel::Page)?,
        email_ja: one(Lang::Ja, Channel::Email)?,
        email_en: one(Lang::En, Channel::Email)?,
        phone_ja: one(Lang::Ja, Channel::Phone)?,
        phone_en: one(Lang::En, Channel::Phone)?,
        subject_ja: notices::email_subject(kind, Lang::Ja, &component_ja),
        subject_en: notices::email_subject(kind, Lang::En, &component_en),
    })
}

pub fn preview_value(rendered: &RenderedNotice) -> Value {
    context! {
        page_ja => rendered.page_ja, page_en => rendered.page_en,
        email_ja => rendered.email_ja, email_en => rendered.email_en,
        phone_ja => rendered.phone_ja, phone_en => rendered.phone_en,
        subject_ja => rendered.subject_ja, subject_en => rendered.subject_en,
    }
}

async fn notice_value(desk: &Desk, incident: &Incident, notice: &PublicNotice) -> Value {
    let inputs: NoticeInputs = serde_json::from_value(notice.inputs.clone()).unwrap_or_default();
    // Email and phone script from the notice's own inputs, as of its publication.
    // The status-page text is what was published, whatever the templates say today.
    let channels = render_for(desk, incident, &notice.kind, &inputs, notice.at_ms)
        .await
        .map(|rendered| {
            preview_value(&RenderedNotice {
                page_ja: notice.body_ja.clone(),
                page_en: notice.body_en.clone(),
                ..rendered
            })
        })
        .ok();
    context! {
        id => notice.id, kind => notice.kind, state => notice.state,
        state_label => state_label(&notice.state, Lang::En),
        at => human_time(notice.at_ms, Lang::En), actor => notice.actor,
        body_ja => notice.body_ja, body_en => notice.body_en,
        channels => channels,
    }
}

pub async fn incident(desk: &Desk, actor: &Principal, id: i64) -> Result<Value, DeskError> {
    let detail = desk.incident_detail(actor, id).await?;
    let notices = desk.incident_notices(actor, id).await?;
    let mut notice_values = Vec::new();
    for notice in notices.iter().rev() {
        notice_values.push(notice_value(desk, &detail.incident, notice).await);
    }
    let timeline: Vec<Value> = detail
        .timeline
        .iter()
        .map(|event| {
            context! {
                at => human_time(event.at_ms, Lang::En), kind => event.kind,
                actor => event.actor, message => event.message,
            }
        })
        .collect();
    let figures = detail.figures;
    let has_notices = !notices.is_empty();
    Ok(context! {
        incident => incident_row(&detail.incident),
        figures => context! {
            detect_s => figures.time_to_detect_ms / 1000,
            acknowledge_s => figures.time_to_acknowledge_ms.map(|ms| ms / 1000),
            resolve_s => figures.time_to_resolve_ms.map(|ms| ms / 1000),
        },
        timeline => timeline,
        notices => notice_values,
        suggested_kind => match (detail.incident.is_open(), has_notices) {
            (true, false) => "first",
            (true, true) => "update",
            (false, _) => "explanation",
        },
        deliveries => detail.deliveries.len(),
    })
}
