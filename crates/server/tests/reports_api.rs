//! Regulator reports and the audit chain over real HTTP: roles, the console's completeness
//! list, drafts in three formats, submissions, and verification catching a tampered row in
//! the real SQLite file.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use std::sync::Arc;

use common::{Api, TempDir, MONDAY_NOON_MS};
use fxdesk_desk::{Desk, DeskConfig, ManualClock, Store};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_audit_over_http() {
    let dir = TempDir::new();
    let db = dir.0.join("desk.sqlite");
    let store = Store::open_sqlite(&db).await.unwrap();
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let config = DeskConfig::from_toml(
        "[engine]\nenabled = false\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
    )
    .unwrap();
    let desk = Desk::open(config, store, clock.clone(), None)
        .await
        .unwrap();
    desk.bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = Api {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(fxdesk_server::desk::serve(listener, desk.clone()));
    let admin = api.login("admin", "admin password 1").await;
    for (name, role) in [("olga", "operator"), ("cora", "viewer")] {
        let (status, body) = api
            .post(
                "/api/users",
                Some(&admin),
                json!({"username": name, "password": "long enough password", "role": role}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let operator = api.login("olga", "long enough password").await;
    let cora = api.login("cora", "long enough password").await;

    // Viewers see neither the audit verification nor the reports list.
    assert_eq!(api.get("/api/audit/verify", Some(&cora)).await.0, 403);
    assert_eq!(api.get("/api/reports/check", Some(&cora)).await.0, 403);
    // Role change by an admin (audited); only admins may.
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/api/users/cora/role",
            Some(&operator),
            Some(json!({"role": "compliance"}).to_string()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "/api/users/cora/role",
            Some(&admin),
            Some(json!({"role": "compliance"}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let compliance = cora;
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/api/users/admin/role",
            Some(&admin),
            Some(json!({"role": "viewer"}).to_string()),
        )
        .await;
    assert_eq!(status, 409, "an admin cannot demote themselves");
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "/api/users/nobody/role",
            Some(&admin),
            Some(json!({"role": "viewer"}).to_string()),
        )
        .await;
    assert_eq!(status, 404);

    let (status, incident) = api
        .post(
            "/api/incidents",
            Some(&operator),
            json!({"component": "trading", "title": "Trading halted"}),
        )
        .await;
    assert_eq!(status, 201, "{incident}");
    let id = incident["id"].as_i64().unwrap();
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            &format!("/api/incidents/{id}/impact"),
            Some(&operator),
            Some(json!({"customers_affected": 88, "orders_affected": 12}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Drafts: Markdown, printable HTML, JSON.
    let (status, markdown) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/incidents/{id}/reports/jp_fsa.first/draft?format=md"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, 200, "{markdown}");
    assert!(
        markdown.contains("影響を受けた顧客数（重複除く）: 88名"),
        "{markdown}"
    );
    let (status, html) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/incidents/{id}/reports/jp_fsa.first/draft?format=html"),
            Some(&operator),
            Some(json!({"cause": "<b>disk</b>"}).to_string()),
        )
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("&lt;b&gt;disk&lt;/b&gt;"), "{html}");
    let (status, bad) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/incidents/{id}/reports/fsa.nope/draft"),
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/incidents/{id}/reports/jp_fsa.first/draft"),
            Some(&operator),
            Some("{not json".into()),
        )
        .await;
    assert_eq!(status, 400);

    // The console's list: nothing late yet; an hour later the first report is overdue.
    let (status, check) = api.get("/api/reports/check", Some(&operator)).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["ok"], true);
    clock.advance_ms(61 * 60_000);
    let (_, check) = api.get("/api/reports/check", Some(&compliance)).await;
    assert_eq!(check["ok"], false);
    assert_eq!(check["check"]["problems"][0]["incident_id"], id);
    assert_eq!(check["check"]["problems"][0]["kind"], "jp_fsa.first");
    assert_eq!(check["check"]["problems"][0]["status"], "overdue");

    // Submitting: compliance only; the version is kept.
    let submit = format!("/api/incidents/{id}/reports/jp_fsa.first/submit");
    assert_eq!(api.post(&submit, Some(&operator), json!({})).await.0, 403);
    let (status, version) = api.post(&submit, Some(&compliance), json!({})).await;
    assert_eq!(status, 201, "{version}");
    assert_eq!(version["version"], 1);
    assert_eq!(version["submitted_by"], "user:cora");
    let (_, reports) = api
        .get(&format!("/api/incidents/{id}/reports"), Some(&compliance))
        .await;
    assert_eq!(reports["versions"].as_array().unwrap().len(), 1);
    let first = reports["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "jp_fsa.first")
        .unwrap();
    assert_eq!(first["status"], "late");

    // The chain verifies; then a row is changed in the SQLite file behind the desk's back.
    let (status, verified) = api.get("/api/audit/verify", Some(&compliance)).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["report_versions_checked"], 1);
    let actions: Vec<String> = api
        .get("/api/audit?limit=1000", Some(&admin))
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "user.role",
        "report.impact",
        "report.submit",
        "incident.opened",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE desk_audit SET actor = 'user:nobody' WHERE action = 'report.submit'")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (_, verified) = api.get("/api/audit/verify", Some(&compliance)).await;
    assert_eq!(verified["ok"], false);
    assert_eq!(verified["chain"]["first_bad"]["problem"], "content_changed");
    assert!(verified["chain"]["first_bad"]["message"]
        .as_str()
        .unwrap()
        .contains("was changed"));
}
