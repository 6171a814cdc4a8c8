//! The HTML page and the Atom feed, rendered from template files with minijinja.

use minijinja::Environment;
use serde::Serialize;

use fxdesk_desk::Incident;

use super::lang::Lang;
use super::snapshot::{
    component_name, component_status_code, component_status_label, human_time, impact_code,
    incident_status, rfc3339, state_label, Snapshot,
};
use super::uptime::{self, escape};

/// The page's templates, compiled once.
pub fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".xml") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_template(
        "page.html",
        include_str!("../../templates/status/page.html"),
    )?;
    env.add_template("feed.xml", include_str!("../../templates/status/feed.xml"))?;
    Ok(env)
}

#[derive(Serialize)]
struct Texts {
    title: &'static str,
    heading: &'static str,
    language: &'static str,
    active: &'static str,
    components: &'static str,
    uptime_caption: &'static str,
    uptime: &'static str,
    days_ago: &'static str,
    today: &'static str,
    past: &'static str,
    no_past: &'static str,
    no_updates: &'static str,
    started: &'static str,
    resolved: &'static str,
    updated: &'static str,
    feed: &'static str,
}

fn texts(lang: Lang) -> Texts {
    match lang {
        Lang::Ja => Texts {
            title: "システム稼働状況 | fxdesk",
            heading: "システム稼働状況",
            language: "言語",
            active: "発生中の障害",
            components: "サービス別の状況",
            uptime_caption: "過去90日間の稼働状況（日本時間の日ごと）",
            uptime: "稼働",
            days_ago: "90日前",
            today: "今日",
            past: "過去の障害（90日間）",
            no_past: "過去90日間に障害はありません。",
            no_updates: "状況を確認しています。詳細は分かり次第お知らせします。",
            started: "発生",
            resolved: "解決",
            updated: "最終更新",
            feed: "Atomフィード",
        },
        Lang::En => Texts {
            title: "System status | fxdesk",
            heading: "System status",
            language: "Language",
            active: "Current incidents",
            components: "Services",
            uptime_caption: "Uptime over the past 90 days (days in Japan time)",
            uptime: "uptime",
            days_ago: "90 days ago",
            today: "Today",
            past: "Past incidents (90 days)",
            no_past: "No incidents in the past 90 days.",
            no_updates: "We are looking into it and will post details as soon as we know more.",
            started: "Started",
            resolved: "Resolved",
            updated: "Last updated",
            feed: "Atom feed",
        },
    }
}

#[derive(Serialize)]
struct IndicatorView {
    code: &'static str,
    text: &'static str,
}

#[derive(Serialize)]
struct ComponentView {
    id: String,
    name: String,
    status_code: &'static str,
    status_label: &'static str,
    uptime_svg: String,
    uptime_percent: String,
}

#[derive(Serialize)]
struct UpdateView {
    status_label: &'static str,
    at: String,
    iso: String,
    body: String,
}

#[derive(Serialize)]
struct IncidentView {
    id: i64,
    name: String,
    status: &'static str,
    status_label: &'static str,
    impact: &'static str,
    component_name: String,
    started: String,
    started_iso: String,
    resolved: Option<String>,
    updated_iso: String,
    /// Newest first.
    updates: Vec<UpdateView>,
}

fn incident_view(snapshot: &Snapshot, incident: &Incident, lang: Lang) -> IncidentView {
    let status = incident_status(snapshot, incident);
    let component = snapshot
        .components
        .iter()
        .find(|c| c.id == incident.component)
        .map_or_else(|| incident.component.clone(), |c| component_name(c, lang));
    let mut updates: Vec<UpdateView> = snapshot
        .notices_of(incident.id)
        .iter()
        .map(|notice| UpdateView {
            status_label: state_label(&notice.state, lang),
            at: human_time(notice.at_ms, lang),
            iso: rfc3339(notice.at_ms),
            body: match lang {
                Lang::Ja => notice.body_ja.clone(),
                Lang::En => notice.body_en.clone(),
            },
        })
        .collect();
    updates.reverse();
    IncidentView {
        id: incident.id,
        name: incident.title.clone(),
        status,
        status_label: state_label(status, lang),
        impact: impact_code(incident.impact),
        component_name: component,
        started: human_time(incident.impact_started_at_ms, lang),
        started_iso: rfc3339(incident.impact_started_at_ms),
        resolved: incident.resolved_at_ms.map(|at| human_time(at, lang)),
        updated_iso: rfc3339(snapshot.incident_updated_ms(incident)),
        updates,
    }
}

/// The status page in one language.
pub fn page(
    env: &Environment<'static>,
    snapshot: &Snapshot,
    lang: Lang,
) -> Result<String, minijinja::Error> {
    let indicator = snapshot.indicator();
    let components: Vec<ComponentView> = snapshot
        .components
        .iter()
        .map(|component| {
            let days = uptime::days(&component.id, &snapshot.incidents, snapshot.now_ms);
            let name = component_name(component, lang);
            ComponentView {
                id: component.id.clone(),
                uptime_svg: uptime::svg(&days, lang, &name),
                uptime_percent: uptime::format_percent(uptime::uptime_basis_points(&days)),
                name,
                status_code: component_status_code(component.status),
                status_label: component_status_label(component.status, lang),
            }
        })
        .collect();
    let active: Vec<IncidentView> = snapshot
        .open_incidents()
        .map(|i| incident_view(snapshot, i, lang))
        .collect();
    let past: Vec<IncidentView> = snapshot
        .resolved_incidents()
        .map(|i| incident_view(snapshot, i, lang))
        .collect();
    env.get_template("page.html")?.render(minijinja::context! {
        lang => lang.code(),
        other_lang => lang.other().code(),
        t => texts(lang),
        indicator => IndicatorView { code: indicator.code(), text: indicator.describe(lang) },
        components => components,
        active => active,
        past => past,
        updated_text => human_time(snapshot.updated_ms().max(0), lang),
    })
}

#[derive(Serialize)]
struct FeedEntry {
    #[serde(flatten)]
    view: IncidentView,
    /// The entry's HTML content (escaped once more by the XML template).
    content_html: String,
}

fn feed_content(view: &IncidentView, t: &Texts) -> String {
    let mut html = format!(
        "<p>{} · {} {}",
        escape(&view.component_name),
        t.started,
        escape(&view.started)
    );
    if let Some(resolved) = &view.resolved {
        html.push_str(&format!(" · {} {}", t.resolved, escape(resolved)));
    }
    html.push_str("</p>");
    for update in &view.updates {
        html.push_str(&format!(
            "<p><strong>{}</strong> ({})<br>{}</p>",
            update.status_label,
            escape(&update.at),
            escape(&update.body).replace('\n', "<br>")
        ));
    }
    html
}

/// The Atom feed in one language: every incident of the window, newest first.
pub fn feed(
    env: &Environment<'static>,
    snapshot: &Snapshot,
    lang: Lang,
) -> Result<String, minijinja::Error> {
    let texts = texts(lang);
    let incidents: Vec<FeedEntry> = snapshot
        .incidents
        .iter()
        .map(|i| {
            let view = incident_view(snapshot, i, lang);
            FeedEntry {
                content_html: feed_content(&view, &texts),
                view,
            }
        })
        .collect();
    env.get_template("feed.xml")?.render(minijinja::context! {
        lang => lang.code(),
        t => texts,
        base_url => snapshot.base_url,
        updated_iso => rfc3339(snapshot.updated_ms().max(0)),
        incidents => incidents,
    })
}
