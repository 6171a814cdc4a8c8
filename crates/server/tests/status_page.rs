//! The public status page over a real socket: Statuspage v2 JSON shapes and values, HTML in
//! both languages, the Atom feed, conditional requests, and serving from memory.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod status_common;

use std::collections::BTreeSet;

use fxdesk_desk::notices::NewNotice;
use fxdesk_desk::IncidentState;
use serde_json::Value;
use status_common::{start, OPERATOR};

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// Statuspage's public API v2 field names.
const PAGE: &[&str] = &["id", "name", "url", "time_zone", "updated_at"];
const STATUS: &[&str] = &["indicator", "description"];
const COMPONENT: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
];
const INCIDENT: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE: &[&str] = &[
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
];
const COMPONENT_STATUSES: &[&str] = &[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];
const INCIDENT_STATUSES: &[&str] = &[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
];
const IMPACTS: &[&str] = &["none", "minor", "major", "critical"];

fn check_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|err| panic!("{text}: {err}"));
}

fn check_component(c: &Value) {
    assert_eq!(keys(c), set(COMPONENT));
    assert!(
        COMPONENT_STATUSES.contains(&c["status"].as_str().unwrap()),
        "{c}"
    );
    check_time(&c["created_at"]);
    check_time(&c["updated_at"]);
    assert!(c["position"].is_u64());
}

fn check_incident(i: &Value) {
    assert_eq!(keys(i), set(INCIDENT));
    assert!(
        INCIDENT_STATUSES.contains(&i["status"].as_str().unwrap()),
        "{i}"
    );
    assert!(IMPACTS.contains(&i["impact"].as_str().unwrap()), "{i}");
    assert!(i["id"].is_string());
    for field in ["created_at", "updated_at", "started_at"] {
        check_time(&i[field]);
    }
    for update in i["incident_updates"].as_array().unwrap() {
        assert_eq!(keys(update), set(UPDATE));
        assert!(INCIDENT_STATUSES.contains(&update["status"].as_str().unwrap()));
        assert_eq!(update["incident_id"], i["id"]);
        check_time(&update["display_at"]);
    }
    for component in i["components"].as_array().unwrap() {
        check_component(component);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuspage_v2_json_has_the_same_fields_and_values() {
    let site = start().await;

    let summary = site.get_json("/api/v2/summary.json").await;
    assert_eq!(
        keys(&summary),
        set(&[
            "page",
            "components",
            "incidents",
            "scheduled_maintenances",
            "status"
        ])
    );
    assert_eq!(keys(&summary["page"]), set(PAGE));
    assert_eq!(keys(&summary["status"]), set(STATUS));
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(summary["status"]["description"], "All Systems Operational");
    assert_eq!(summary["components"].as_array().unwrap().len(), 4);
    summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(check_component);
    assert_eq!(summary["incidents"], serde_json::json!([]));

    // A major outage on trading: critical, listed as unresolved, with the component down.
    let id = site.open_incident("Trading stopped").await;
    let status = site.get_json("/api/v2/status.json").await;
    assert_eq!(keys(&status), set(&["page", "status"]));
    assert_eq!(status["status"]["indicator"], "critical");
    assert_eq!(status["status"]["description"], "Major System Outage");
    let components = site.get_json("/api/v2/components.json").await;
    assert_eq!(keys(&components), set(&["page", "components"]));
    let trading = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "trading")
        .unwrap();
    assert_eq!(trading["status"], "major_outage");

    let operator = site.principal(OPERATOR).await;
    site.clock.advance_ms(60_000);
    site.desk
        .publish_notice(
            &operator,
            id,
            NewNotice {
                kind: "first".into(),
                state: "identified".into(),
                body_ja: "原因を特定しました".into(),
                body_en: "We found the cause".into(),
                inputs: Value::Null,
            },
        )
        .await
        .unwrap();
    let unresolved = site.get_json("/api/v2/incidents/unresolved.json").await;
    assert_eq!(keys(&unresolved), set(&["page", "incidents"]));
    let incident = &unresolved["incidents"][0];
    check_incident(incident);
    assert_eq!(incident["id"], id.to_string());
    assert_eq!(incident["status"], "identified");
    assert_eq!(incident["impact"], "critical");
    assert_eq!(
        incident["incident_updates"][0]["body"],
        "We found the cause"
    );
    assert_eq!(incident["components"][0]["id"], "trading");
    let japanese = site
        .get_json("/api/v2/incidents/unresolved.json?lang=ja")
        .await;
    assert_eq!(
        japanese["incidents"][0]["incident_updates"][0]["body"],
        "原因を特定しました"
    );

    // Resolved: gone from unresolved, kept in incidents.json, indicator back to none.
    site.clock.advance_ms(600_000);
    site.desk.resolve(&operator, id, "fixed").await.unwrap();
    let unresolved = site.get_json("/api/v2/incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"], serde_json::json!([]));
    let incidents = site.get_json("/api/v2/incidents.json").await;
    assert_eq!(keys(&incidents), set(&["page", "incidents"]));
    let incident = &incidents["incidents"][0];
    check_incident(incident);
    assert_eq!(incident["status"], "resolved");
    check_time(&incident["resolved_at"]);
    let summary = site.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "none");
    let maintenances = site.get_json("/api/v2/scheduled-maintenances.json").await;
    assert_eq!(
        keys(&maintenances),
        set(&["page", "scheduled_maintenances"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_both_languages_with_uptime_bars_and_no_script() {
    let site = start().await;
    let id = site.open_incident("Trading stopped").await;
    let operator = site.principal(OPERATOR).await;
    site.desk
        .update_incident(&operator, id, IncidentState::Investigating, "internal note")
        .await
        .unwrap();
    site.desk
        .publish_notice(
            &operator,
            id,
            NewNotice {
                kind: "first".into(),
                state: "investigating".into(),
                body_ja: "全力で復旧に取り組んでおります".into(),
                body_en: "We are working at full effort".into(),
                inputs: Value::Null,
            },
        )
        .await
        .unwrap();

    let (status, ja) = site.get_text("/", &[]).await;
    assert_eq!(status, 200);
    assert!(ja.contains("<html lang=\"ja\">"));
    assert!(ja.contains("サービスが停止しています"));
    assert!(ja.contains("全力で復旧に取り組んでおります"));
    assert!(ja.contains("お取引"));
    assert!(
        !ja.contains("<script"),
        "the page must work without JavaScript"
    );
    // One SVG per component, 90 days each, today red for trading.
    assert_eq!(ja.matches("<svg class=\"uptime\"").count(), 4);
    assert_eq!(ja.matches("<rect").count(), 4 * 90);
    assert!(ja.contains("#d62f2f"));

    let (_, en) = site
        .get_text("/", &[("accept-language", "en-US,en;q=0.9,ja;q=0.5")])
        .await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Major System Outage"));
    assert!(en.contains("We are working at full effort"));
    assert!(!en.contains("全力で"));
    let (_, switched) = site
        .get_text("/?lang=ja", &[("accept-language", "en")])
        .await;
    assert!(switched.contains("<html lang=\"ja\">"));
    assert!(switched.contains("href=\"/?lang=en\""));
    // Internal timeline text never reaches the public page.
    assert!(!ja.contains("internal note") && !en.contains("internal note"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_requests_get_304_until_something_changes() {
    let site = start().await;
    let first = site.get("/api/v2/summary.json", &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(etag.starts_with('"'));

    let again = site
        .get("/api/v2/summary.json", &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    let again = site
        .get(
            "/api/v2/summary.json",
            &[("if-modified-since", &last_modified)],
        )
        .await;
    assert_eq!(again.status().as_u16(), 304);

    // The HTML page has its own tag per language.
    let ja = site.get("/", &[]).await;
    let ja_tag = ja.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(ja.headers()["vary"].to_str().unwrap(), "Accept-Language");
    let en = site.get("/?lang=en", &[("if-none-match", &ja_tag)]).await;
    assert_eq!(en.status().as_u16(), 200);

    // A minute later with nothing changed: same bytes, same validators.
    site.clock.advance_ms(61_000);
    let later = site
        .get("/api/v2/summary.json", &[("if-none-match", &etag)])
        .await;
    assert_eq!(later.status().as_u16(), 304);

    // A change: new tag, full answer.
    site.open_incident("Login failing").await;
    let changed = site
        .get("/api/v2/summary.json", &[("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status().as_u16(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let stale = site.get("/", &[("if-none-match", &ja_tag)]).await;
    assert_eq!(stale.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_from_memory_when_the_database_is_gone() {
    let site = start().await;
    site.open_incident("Trading stopped").await;
    let (status, before) = site.get_text("/", &[]).await;
    assert_eq!(status, 200);
    // With the database closed, requests keep getting the page built before.
    site.desk.store().close().await;
    for _ in 0..20 {
        let (status, body) = site.get_text("/", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body, before);
    }
    // Even when the time-based rebuild fails, the last good page stays.
    site.clock.advance_ms(120_000);
    let (status, body) = site.get_text("/", &[]).await;
    assert_eq!((status, body), (200, before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atom_feed_parses_and_lists_incidents_in_each_language() {
    let site = start().await;
    let id = site.open_incident("Trading stopped").await;
    let operator = site.principal(OPERATOR).await;
    site.desk
        .publish_notice(
            &operator,
            id,
            NewNotice {
                kind: "first".into(),
                state: "investigating".into(),
                body_ja: "調査しております <確認中>".into(),
                body_en: "Looking into it <checking>".into(),
                inputs: Value::Null,
            },
        )
        .await
        .unwrap();
    for (lang, text) in [
        ("ja", "調査しております &lt;確認中&gt;"),
        ("en", "Looking into it &lt;checking&gt;"),
    ] {
        let response = site.get(&format!("/feed.atom?lang={lang}"), &[]).await;
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/atom+xml; charset=utf-8"
        );
        let body = response.text().await.unwrap();
        let feed = feed_rs::parser::parse(body.as_bytes()).unwrap();
        assert_eq!(feed.entries.len(), 1);
        let entry = &feed.entries[0];
        assert!(entry
            .title
            .as_ref()
            .unwrap()
            .content
            .contains("Trading stopped"));
        let content = entry.content.as_ref().unwrap().body.as_ref().unwrap();
        assert!(content.contains(text), "{content}");
    }
}
