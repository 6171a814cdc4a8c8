//! The JSON of Statuspage's public API v2 (`/api/v2/*.json`), field for field, so existing
//! widgets and tools read our page. Update bodies are in the language asked for (`?lang=`,
//! English by default, as most such tools expect).
//!
//! What has no counterpart in the desk is filled the way Statuspage fills it for a simple
//! page: no component groups (`group: false`, `group_id: null`), `showcase: true`, no tweets,
//! and `scheduled_maintenances` empty (the desk does not schedule maintenance).

use fxdesk_desk::model::Component;
use fxdesk_desk::Incident;
use serde_json::{json, Value};

use super::lang::Lang;
use super::snapshot::{component_status_code, impact_code, incident_status, rfc3339, Snapshot};

/// The page id used in every object.
pub const PAGE_ID: &str = "fxdesk";
/// Statuspage's `incidents.json` lists up to 50 incidents.
pub const MAX_INCIDENTS: usize = 50;

fn page(snapshot: &Snapshot) -> Value {
    json!({
        "id": PAGE_ID,
        "name": "fxdesk",
        "url": snapshot.base_url,
        "time_zone": "Asia/Tokyo",
        "updated_at": rfc3339(snapshot.updated_ms()),
    })
}

fn component(component: &Component, position: usize) -> Value {
    json!({
        "id": component.id,
        "name": component.name,
        "status": component_status_code(component.status),
        "created_at": rfc3339(component.updated_at_ms),
        "updated_at": rfc3339(component.updated_at_ms),
        "position": position,
        "description": null,
        "showcase": true,
        "start_date": null,
        "group_id": null,
        "page_id": PAGE_ID,
        "group": false,
        "only_show_if_degraded": false,
    })
}

fn components(snapshot: &Snapshot) -> Vec<Value> {
    snapshot
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| component(c, i + 1))
        .collect()
}

fn incident(snapshot: &Snapshot, incident: &Incident, lang: Lang) -> Value {
    let id = incident.id.to_string();
    let mut updates: Vec<Value> = snapshot
        .notices_of(incident.id)
        .iter()
        .map(|notice| {
            let body = match lang {
                Lang::Ja => &notice.body_ja,
                Lang::En => &notice.body_en,
            };
            json!({
                "id": notice.id.to_string(),
                "status": notice.state,
                "body": body,
                "incident_id": id,
                "created_at": rfc3339(notice.at_ms),
                "updated_at": rfc3339(notice.at_ms),
                "display_at": rfc3339(notice.at_ms),
                "affected_components": null,
                "deliver_notifications": true,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    // Statuspage lists updates newest first.
    updates.reverse();
    let affected: Vec<Value> = snapshot
        .components
        .iter()
        .enumerate()
        .filter(|(_, c)| c.id == incident.component)
        .map(|(i, c)| component(c, i + 1))
        .collect();
    json!({
        "id": id,
        "name": incident.title,
        "status": incident_status(snapshot, incident),
        "created_at": rfc3339(incident.detected_at_ms),
        "updated_at": rfc3339(snapshot.incident_updated_ms(incident)),
        "monitoring_at": incident.recovered_at_ms.map(rfc3339),
        "resolved_at": incident.resolved_at_ms.map(rfc3339),
        "impact": impact_code(incident.impact),
        "shortlink": format!("{}/#incident-{}", snapshot.base_url, incident.id),
        "started_at": rfc3339(incident.impact_started_at_ms),
        "page_id": PAGE_ID,
        "incident_updates": updates,
        "components": affected,
    })
}

fn status(snapshot: &Snapshot) -> Value {
    let indicator = snapshot.indicator();
    json!({ "indicator": indicator.code(), "description": indicator.describe(Lang::En) })
}

fn unresolved(snapshot: &Snapshot, lang: Lang) -> Vec<Value> {
    snapshot
        .open_incidents()
        .map(|i| incident(snapshot, i, lang))
        .collect()
}

/// `/api/v2/summary.json`.
pub fn summary(snapshot: &Snapshot, lang: Lang) -> Value {
    json!({
        "page": page(snapshot),
        "components": components(snapshot),
        "incidents": unresolved(snapshot, lang),
        "scheduled_maintenances": [],
        "status": status(snapshot),
    })
}

/// `/api/v2/status.json`.
pub fn status_json(snapshot: &Snapshot) -> Value {
    json!({ "page": page(snapshot), "status": status(snapshot) })
}

/// `/api/v2/components.json`.
pub fn components_json(snapshot: &Snapshot) -> Value {
    json!({ "page": page(snapshot), "components": components(snapshot) })
}

/// `/api/v2/incidents.json`: the latest 50, resolved or not.
pub fn incidents_json(snapshot: &Snapshot, lang: Lang) -> Value {
    let incidents: Vec<Value> = snapshot
        .incidents
        .iter()
        .take(MAX_INCIDENTS)
        .map(|i| incident(snapshot, i, lang))
        .collect();
    json!({ "page": page(snapshot), "incidents": incidents })
}

/// `/api/v2/incidents/unresolved.json`.
pub fn unresolved_json(snapshot: &Snapshot, lang: Lang) -> Value {
    json!({ "page": page(snapshot), "incidents": unresolved(snapshot, lang) })
}

/// `/api/v2/scheduled-maintenances.json` (and its `upcoming` / `active` variants).
pub fn scheduled_maintenances_json(snapshot: &Snapshot) -> Value {
    json!({ "page": page(snapshot), "scheduled_maintenances": [] })
}
