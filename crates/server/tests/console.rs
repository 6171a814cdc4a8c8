//! The operator console over a real socket: cookie login, role-aware pages, CSRF, acknowledging,
//! publishing a notice from a template (seen on the public page in both languages), editing
//! templates, and live updates by server-sent events.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod status_common;

use status_common::{csrf_in, start, OPERATOR, VIEWER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_required_and_wrong_passwords_are_refused() {
    let site = start().await;
    let (status, _) = site.console_get("", "/console").await;
    assert_eq!(status, 303);
    let (status, _) = site.console_get("fxdesk_session=forged", "/console").await;
    assert_eq!(status, 303);
    let response = site
        .http
        .post(format!("{}/console/login", site.base))
        .form(&[("username", "olga"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    let cookie = site.console_login(OPERATOR).await;
    let (status, html) = site.console_get(&cookie, "/console").await;
    assert_eq!(status, 200);
    assert!(html.contains("olga (operator)"));
    // On call now: the rotation started Monday 00:00 with Aiko, 24 h shifts.
    assert!(html.contains("<li class=\"now\">Aiko Tanaka"), "{html}");
    // Logging out ends the session on the server, not only in the browser.
    let csrf = csrf_in(&html);
    let (status, _) = site
        .console_post(&cookie, "/console/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    let (status, _) = site.console_get(&cookie, "/console").await;
    assert_eq!(status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_buttons_and_cannot_act() {
    let site = start().await;
    let id = site.open_incident("Trading stopped").await;
    let viewer = site.console_login(VIEWER).await;
    let (status, html) = site
        .console_get(&viewer, &format!("/console/incidents/{id}"))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("Trading stopped"));
    for absent in ["id=\"ack\"", "id=\"resolve\"", "id=\"notice-form\""] {
        assert!(!html.contains(absent), "viewer sees {absent}");
    }
    let (_, templates) = site.console_get(&viewer, "/console/templates").await;
    assert!(
        !templates.contains("<textarea"),
        "viewer sees an editable template"
    );
    // Posting anyway is refused by the desk.
    let csrf = csrf_in(&html);
    let (status, _) = site
        .console_post(
            &viewer,
            &format!("/console/incidents/{id}/ack"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = site
        .console_post(
            &viewer,
            "/console/templates/first/ja",
            &[("csrf", &csrf), ("body", "x")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(site
        .desk
        .store()
        .get_incident(id)
        .await
        .unwrap()
        .acknowledged_at_ms
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_acknowledges_and_publishes_a_notice_seen_in_both_languages() {
    let site = start().await;
    let id = site.open_incident("Trading stopped").await;
    let cookie = site.console_login(OPERATOR).await;
    let path = format!("/console/incidents/{id}");
    let (_, html) = site.console_get(&cookie, &path).await;
    assert!(html.contains("id=\"ack\""));
    let csrf = csrf_in(&html);

    // Without the CSRF token nothing happens.
    let (status, _) = site
        .console_post(&cookie, &format!("{path}/ack"), &[])
        .await;
    assert_eq!(status, 403);
    let (status, _) = site
        .console_post(&cookie, &format!("{path}/ack"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    let (_, html) = site.console_get(&cookie, &path).await;
    assert!(html.contains("by user:olga"));
    assert!(
        !html.contains("id=\"ack\""),
        "acknowledged: no second button"
    );

    // Preview renders page, phone script and email without publishing.
    let form = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "first".to_owned()),
            ("action", action.to_owned()),
            ("message_ja", "次回は30分後にお知らせします。".to_owned()),
            ("message_en", "Next update in 30 minutes.".to_owned()),
        ]
    };
    let preview_form = form("preview");
    let preview_form: Vec<(&str, &str)> =
        preview_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, preview) = site
        .console_post(&cookie, &format!("{path}/notice"), &preview_form)
        .await;
    assert_eq!(status, 200);
    assert!(preview.contains("id=\"preview\""));
    assert!(preview.contains("お電話でのご注文はお受けできません"));
    assert!(preview.contains("Thank you for calling"));
    assert!(preview.contains("件名: 【障害発生】お取引の障害について"));
    let (_, public) = site.get_text("/?lang=en", &[]).await;
    assert!(
        !public.contains("Next update in 30 minutes."),
        "preview must not publish"
    );

    let publish_form = form("publish");
    let publish_form: Vec<(&str, &str)> =
        publish_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = site
        .console_post(&cookie, &format!("{path}/notice"), &publish_form)
        .await;
    assert_eq!(status, 303);
    let (_, ja) = site.get_text("/?lang=ja", &[]).await;
    assert!(ja.contains("全力で取り組んでおります"), "{ja}");
    assert!(ja.contains("次回は30分後にお知らせします。"));
    let (_, en) = site.get_text("/?lang=en", &[]).await;
    assert!(en.contains("We are working at full effort to find the cause"));
    assert!(en.contains("Next update in 30 minutes."));

    // The explanation needs a resolved incident; the recovery notice resolves it.
    let explanation = [
        ("csrf", csrf.as_str()),
        ("kind", "explanation"),
        ("cause_ja", "ディスクの故障"),
        ("cause_en", "a failed disk"),
        ("backfill_orders", "314"),
        ("backfill_customers", "97"),
        ("backfill_rule_ja", "指値注文は注文価格で約定"),
        ("backfill_rule_en", "limit orders at the order price"),
    ];
    let (status, _) = site
        .console_post(&cookie, &format!("{path}/notice"), &explanation)
        .await;
    assert_eq!(status, 409);
    let (status, _) = site
        .console_post(
            &cookie,
            &format!("{path}/notice"),
            &[("csrf", &csrf), ("kind", "recovery")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(!site.desk.store().get_incident(id).await.unwrap().is_open());
    let (status, _) = site
        .console_post(&cookie, &format!("{path}/notice"), &explanation)
        .await;
    assert_eq!(status, 303);
    let incidents = site.get_json("/api/v2/incidents.json").await;
    assert_eq!(incidents["incidents"][0]["status"], "postmortem");
    let body = incidents["incidents"][0]["incident_updates"][0]["body"]
        .as_str()
        .unwrap();
    assert!(body.contains("314 orders (97 customers)"), "{body}");
    assert!(body.contains("limit orders at the order price"));
    // Bad numbers are refused, not published.
    let (status, _) = site
        .console_post(
            &cookie,
            &format!("{path}/notice"),
            &[
                ("csrf", &csrf),
                ("kind", "explanation"),
                ("backfill_orders", "many"),
            ],
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_edit_templates_and_broken_ones_are_refused() {
    let site = start().await;
    let cookie = site.console_login(OPERATOR).await;
    let (_, html) = site.console_get(&cookie, "/console/templates").await;
    assert!(html.contains("id=\"template-first-ja\""));
    let csrf = csrf_in(&html);
    let (status, page) = site
        .console_post(
            &cookie,
            "/console/templates/first/en",
            &[("csrf", &csrf), ("body", "{% if %}broken")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("does not render"));
    let new_body = "We are down ({{ incident.component }}). We cannot take orders by phone.";
    let (status, _) = site
        .console_post(
            &cookie,
            "/console/templates/first/en",
            &[("csrf", &csrf), ("body", new_body)],
        )
        .await;
    assert_eq!(status, 303);
    let stored = site.desk.notice_templates().await.unwrap();
    let first_en = stored
        .iter()
        .find(|t| t.kind == "first" && t.lang == "en")
        .unwrap();
    assert_eq!(first_en.body, new_body);
    assert_eq!(first_en.updated_by, "user:olga");
    // The edit is used for the next notice.
    let id = site.open_incident("Trading stopped").await;
    let (status, _) = site
        .console_post(
            &cookie,
            &format!("/console/incidents/{id}/notice"),
            &[("csrf", &csrf), ("kind", "first")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, en) = site.get_text("/?lang=en", &[]).await;
    assert!(en.contains("We are down (Trading). We cannot take orders by phone."));

    // Resolving without a notice closes the incident; a second resolve is a conflict.
    let resolve = format!("/console/incidents/{id}/resolve");
    let form = [
        ("csrf", csrf.as_str()),
        ("message", "restarted the gateway"),
    ];
    let (status, _) = site.console_post(&cookie, &resolve, &form).await;
    assert_eq!(status, 303);
    assert!(!site.desk.store().get_incident(id).await.unwrap().is_open());
    let (status, page) = site.console_post(&cookie, &resolve, &form).await;
    assert_eq!(status, 409);
    assert!(page.contains("already resolved"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_page_lists_configured_probes() {
    let site = start().await;
    let cookie = site.console_login(VIEWER).await;
    let (status, html) = site.console_get(&cookie, "/console/monitors").await;
    assert_eq!(status, 200);
    assert!(html.contains("probe.website"));
    assert!(html.contains("not checked yet"));
    site.desk
        .run_probes(fxdesk_desk::Clock::now_ms(&*site.clock))
        .await
        .unwrap();
    let (_, html) = site.console_get(&cookie, "/console/monitors").await;
    assert!(html.contains("failing") || html.contains("DOWN"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_announce_changes() {
    use futures_util::StreamExt;
    let site = start().await;
    let cookie = site.console_login(VIEWER).await;
    let unauthenticated = site.get("/console/events", &[]).await;
    assert_eq!(unauthenticated.status().as_u16(), 303);
    let response = site
        .http
        .get(format!("{}/console/events", site.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut stream = response.bytes_stream();
    site.open_incident("Trading stopped").await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("event: change") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("data: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_client_errors_not_crashes() {
    let site = start().await;
    let cookie = site.console_login(OPERATOR).await;
    let (_, html) = site.console_get(&cookie, "/console").await;
    let csrf = csrf_in(&html);
    for path in [
        "/console/incidents/abc",
        "/console/incidents/0",
        "/console/incidents/999",
    ] {
        let (status, _) = site.console_get(&cookie, path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = site
        .console_post(&cookie, "/console/incidents/999/ack", &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 404);
    let id = site.open_incident("Trading stopped").await;
    let notice = format!("/console/incidents/{id}/notice");
    for form in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("kind", "haiku")],
        vec![
            ("csrf", csrf.as_str()),
            ("kind", "update"),
            ("state", "resolved"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            ("kind", "update"),
            ("state", "exploded"),
        ],
    ] {
        let (status, _) = site.console_post(&cookie, &notice, &form).await;
        assert!((400..500).contains(&status), "{form:?} -> {status}");
    }
    let (status, _) = site
        .console_post(
            &cookie,
            "/console/templates/haiku/ja",
            &[("csrf", &csrf), ("body", "x")],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = site
        .console_post(
            &cookie,
            "/console/templates/first/fr",
            &[("csrf", &csrf), ("body", "x")],
        )
        .await;
    assert_eq!(status, 400);
    // The public page shrugs off odd headers and queries.
    for (path, header) in [
        ("/?lang=xx", "q=;;,,"),
        ("/?lang=", "ja;q=2, en;q=-1"),
        ("/feed.atom?lang=%ff", "*"),
    ] {
        let (status, _) = site.get_text(path, &[("accept-language", header)]).await;
        assert_eq!(status, 200, "{path}");
    }
    let bad_date = site
        .get(
            "/api/v2/status.json",
            &[("if-modified-since", "yesterday-ish")],
        )
        .await;
    assert_eq!(bad_date.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_page_lists_what_the_regulators_are_owed() {
    let site = start().await;
    let id = site.open_incident("Trading stopped").await;
    let operator = site.console_login(OPERATOR).await;
    let (status, html) = site.console_get(&operator, "/console/reports").await;
    assert_eq!(status, 200, "{html}");
    // A customer-facing trading outage owes the FSA its first report at once.
    let pending = html
        .split("id=\"report-pending\"")
        .nth(1)
        .expect("a table of reports due");
    assert!(
        pending.contains(&format!("/console/incidents/{id}")),
        "{pending}"
    );
    assert!(pending.contains("jp_fsa.first"), "{pending}");
    assert!(
        html.contains("href=\"/console/reports\""),
        "the nav links it"
    );
    // A viewer may not see reports: no link, and the page itself is refused.
    let viewer = site.console_login(VIEWER).await;
    let (_, dashboard) = site.console_get(&viewer, "/console").await;
    assert!(!dashboard.contains("href=\"/console/reports\""));
    let (status, _) = site.console_get(&viewer, "/console/reports").await;
    assert_eq!(status, 403);
}
