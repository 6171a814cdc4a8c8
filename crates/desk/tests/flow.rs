//! The desk end to end at the library level, on a simulated clock: engine stops, heartbeat
//! stops, probes fail, channels fail. Real storage, real HTTP and SMTP on loopback.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use std::sync::Arc;

use common::{fresh_store, Receiver, RunningEngine, SmtpSink, TestBackend, MONDAY_NOON_MS};
use fxdesk_desk::auth::sha256_hex;
use fxdesk_desk::model::{DeliveryStatus, Principal};
use fxdesk_desk::{
    Clock, ComponentStatus, Desk, DeskConfig, DeskError, HealthRecorder, IncidentState,
    ManualClock, NewIncident, Role,
};

const CHEAP_AUTH: &str = "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n";

fn engine_config(receiver: &Receiver, smtp_port: u16) -> DeskConfig {
    let text = format!(
        r#"
[[people]]
id = "aiko"
name = "Aiko Sato"
phone = "+81-90-0000-0001"
[[people]]
id = "ben"
name = "Ben Ito"
phone = "+81-90-0000-0002"
[[people]]
id = "lead"
name = "Support lead"
phone = "+81-90-0000-0009"
email = "lead@broker.example"

[[schedules]]
id = "support"
rotation_start = "2026-11-23T00:00:00Z"
shift_hours = 24
members = ["aiko", "ben"]

[[policies]]
id = "trading"
components = ["trading"]
repeat_times = 1
repeat_every_s = 400

[[policies.steps]]
when = "unacknowledged_for"
after_s = 0
notify = [{{ schedule = "support" }}]
channels = ["hook"]
instruction = "Outage detected: acknowledge and investigate"
[[policies.steps]]
when = "unacknowledged_for"
after_s = 180
notify = [{{ schedule = "support", level = 1 }}]
channels = ["hook"]
instruction = "Not acknowledged in 3 minutes: you are next"
[[policies.steps]]
when = "down_for"
after_s = 300
notify = [{{ person = "lead" }}]
channels = ["hook", "sms"]
instruction = "Down 5 minutes: call the support lead's mobile"
[[policies.steps]]
when = "down_for"
after_s = 600
notify = [{{ person = "lead" }}]
channels = ["hook", "mail"]
instruction = "Down 10 minutes: the support lead comes to the office"

[[channels]]
kind = "webhook"
id = "hook"
url = "{hook}"
bearer_token = "hook-secret"
[[channels]]
kind = "gateway"
id = "sms"
url = "{sms}"
body_format = "json"
body_template = '{{"to":"{{{{to}}}}","text":"{{{{message}}}}"}}'
[[channels]]
kind = "email"
id = "mail"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
from = "fxdesk <desk@broker.example>"

[links]
public_url = "http://desk.test"
{CHEAP_AUTH}"#,
        hook = receiver.url("hook"),
        sms = receiver.url("sms"),
    );
    DeskConfig::from_toml(&text).unwrap()
}

async fn operator(desk: &Desk) -> Principal {
    desk.bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap();
    let admin = desk.login("admin", "admin password 1").await.unwrap().user;
    desk.create_user(&admin, "olga", "operator password", Role::Operator)
        .await
        .unwrap();
    desk.login("olga", "operator password").await.unwrap().user
}

fn query_param<'a>(url: &'a str, name: &str) -> &'a str {
    url.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap()
}

async fn engine_stops(backend: TestBackend) {
    let receiver = Receiver::start(0).await;
    let smtp = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let recorder = Arc::new(HealthRecorder::new(clock.clone(), 60_000));
    let engine = RunningEngine::start(recorder.clone(), clock.clone());
    let (store, guard) = fresh_store(backend).await;
    let desk = Desk::open(
        engine_config(&receiver, smtp.port),
        store,
        clock.clone(),
        Some(recorder.clone()),
    )
    .await
    .unwrap();
    let olga = operator(&desk).await;

    // A healthy engine opens nothing.
    for _ in 0..3 {
        let now = clock.advance_ms(1_000);
        engine.wait_for_beat(now);
        assert!(desk.tick(now).await.unwrap().incidents_opened.is_empty());
    }
    let last_beat = engine.stop();

    // Detected within 10 s of the last heartbeat (6 s with the defaults and a 1 s tick).
    let mut incident_id = None;
    while incident_id.is_none() {
        let now = clock.advance_ms(1_000);
        assert!(now - last_beat <= 10_000, "not detected within 10 s");
        incident_id = desk
            .tick(now)
            .await
            .unwrap()
            .incidents_opened
            .first()
            .copied();
    }
    let incident_id = incident_id.unwrap();
    let incident = desk
        .incident_detail(&olga, incident_id)
        .await
        .unwrap()
        .incident;
    assert_eq!(incident.detected_at_ms, last_beat + 6_000);
    assert_eq!(
        incident.impact_started_at_ms,
        last_beat + 3_000,
        "first failed check"
    );
    assert_eq!(incident.component, "trading");
    let detected = incident.detected_at_ms;
    let impact_start = incident.impact_started_at_ms;
    let components = desk.components(&olga).await.unwrap();
    let status = |id: &str| components.iter().find(|c| c.id == id).unwrap().status;
    assert_eq!(status("trading"), ComponentStatus::MajorOutage);

    let first = receiver.on("hook");
    assert_eq!(first.len(), 1, "step 1 at detection");
    let payload = first[0].json();
    assert_eq!(
        first[0].authorization.as_deref(),
        Some("Bearer hook-secret")
    );
    assert_eq!(payload["step"]["index"], 0);
    assert_eq!(payload["recipients"][0]["id"], "aiko");
    assert_eq!(payload["sent_at_ms"], detected);

    // Tick every second; acknowledge (by the signed link ben gets) 200 s after detection.
    let mut acked = false;
    let until = detected + 700_000;
    while clock.now_ms() < until {
        let now = clock.advance_ms(1_000);
        if !acked && now >= detected + 200_000 {
            let ben = receiver
                .on("hook")
                .into_iter()
                .map(|r| r.json())
                .find(|p| p["recipients"][0]["id"] == "ben")
                .expect("ben was paged before the acknowledgement");
            let url = ben["recipients"][0]["ack_url"].as_str().unwrap().to_owned();
            assert!(url.starts_with(&format!(
                "http://desk.test/api/incidents/{incident_id}/ack-link?"
            )));
            let exp: i64 = query_param(&url, "exp").parse().unwrap();
            let sig = query_param(&url, "sig");
            assert!(
                desk.acknowledge_by_link(incident_id, "aiko", exp, sig)
                    .await
                    .is_err(),
                "link is bound to ben"
            );
            desk.acknowledge_by_link(incident_id, "ben", exp, sig)
                .await
                .unwrap();
            acked = true;
        }
        desk.tick(now).await.unwrap();
    }

    // Each step fired exactly once, at its time; the acknowledgement (at +200 s) stopped the
    // repeats of the acknowledgement steps (due at +400 s and +580 s), not the duration steps.
    let fired: Vec<(i64, i64, String)> = receiver
        .on("hook")
        .iter()
        .map(|r| {
            let p = r.json();
            (
                p["step"]["index"].as_i64().unwrap(),
                p["sent_at_ms"].as_i64().unwrap(),
                p["recipients"][0]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            (0, detected, "aiko".to_owned()),
            (1, detected + 180_000, "ben".to_owned()),
            (2, impact_start + 300_000, "lead".to_owned()),
            (3, impact_start + 600_000, "lead".to_owned()),
        ]
    );
    let sms = receiver.on("sms");
    assert_eq!(sms.len(), 1);
    let sms_body = sms[0].json();
    assert_eq!(sms_body["to"], "+81-90-0000-0009");
    assert!(sms_body["text"]
        .as_str()
        .unwrap()
        .contains("call the support lead's mobile"));
    assert_eq!(sms[0].content_type.as_deref(), Some("application/json"));
    let mails = smtp.messages.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: lead@broker.example"), "{}", mails[0]);
    assert!(
        mails[0].contains("the support lead comes to the office"),
        "{}",
        mails[0]
    );

    // The engine comes back: recovered, component operational, incident monitoring.
    let engine = RunningEngine::start(recorder.clone(), clock.clone());
    let now = clock.advance_ms(1_000);
    engine.wait_for_beat(now);
    let report = desk.tick(now).await.unwrap();
    assert!(report.incidents_recovered.contains(&incident_id));
    let recovered_at = now;
    let detail = desk.incident_detail(&olga, incident_id).await.unwrap();
    assert_eq!(detail.incident.state, IncidentState::Monitoring);
    assert_eq!(detail.incident.recovered_at_ms, Some(recovered_at));
    let components = desk.components(&olga).await.unwrap();
    assert_eq!(
        components
            .iter()
            .find(|c| c.id == "trading")
            .unwrap()
            .status,
        ComponentStatus::Operational
    );

    // Resolve: the figures are recorded.
    let resolve_at = clock.advance_ms(60_000);
    engine.wait_for_beat(resolve_at);
    desk.tick(resolve_at).await.unwrap();
    let resolved = desk
        .resolve(&olga, incident_id, "engine restarted")
        .await
        .unwrap();
    assert_eq!(resolved.state, IncidentState::Resolved);
    let figures = resolved.figures();
    assert_eq!(figures.time_to_detect_ms, 3_000);
    assert_eq!(figures.time_to_acknowledge_ms, Some(200_000));
    assert_eq!(figures.time_to_resolve_ms, Some(resolve_at - impact_start));
    assert!(matches!(
        desk.resolve(&olga, incident_id, "again").await,
        Err(DeskError::Conflict { .. })
    ));
    let summary = desk.figures(&olga).await.unwrap();
    assert_eq!(summary.mttd_ms, Some(3_000));
    assert_eq!(summary.mtta_ms, Some(200_000));

    let detail = desk.incident_detail(&olga, incident_id).await.unwrap();
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "escalation",
            "escalation",
            "acknowledged",
            "escalation",
            "escalation",
            "monitor_up",
            "resolved"
        ]
    );
    assert_eq!(detail.timeline[3].actor, "link:ben");
    assert!(detail
        .deliveries
        .iter()
        .all(|d| d.delivery.status == DeliveryStatus::Sent));
    // Stale quotes opened a price-feed incident of their own (no policy: no pages).
    let all = desk.incidents(&olga, 10).await.unwrap();
    assert!(all
        .iter()
        .any(|i| i.component == "price-feed" && i.impact == ComponentStatus::PartialOutage));
    // Everything went to the audit trail.
    let admin = Principal {
        user_id: 1,
        username: "admin".into(),
        role: Role::Admin,
    };
    let audit = desk.audit(&admin, 0, 1_000).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "incident.acknowledged" && a.actor == "link:ben"));
    drop(engine);
    desk.store().close().await;
    guard.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stop_escalates_on_sqlite() {
    engine_stops(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FXDESK_TEST_PG_URL (PostgreSQL); .ci/run sets it"]
async fn engine_stop_escalates_on_postgres() {
    engine_stops(TestBackend::Postgres).await;
}

#[tokio::test]
async fn missing_heartbeat_opens_and_recovers() {
    let receiver = Receiver::start(0).await;
    let token = "batch-secret-token";
    let text = format!(
        r#"
[engine]
enabled = false
[[heartbeats]]
id = "funds-batch"
component = "funds"
token_sha256 = "{sha}"
period_s = 60
grace_s = 30
[[people]]
id = "aiko"
name = "Aiko"
[[policies]]
id = "funds"
components = ["funds"]
[[policies.steps]]
when = "unacknowledged_for"
after_s = 0
notify = [{{ person = "aiko" }}]
channels = ["hook"]
instruction = "Deposits batch silent"
[[channels]]
kind = "slack"
id = "hook"
url = "{url}"
{CHEAP_AUTH}"#,
        sha = sha256_hex(token),
        url = receiver.url("slack"),
    );
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let (store, _dir) = fresh_store(TestBackend::Sqlite).await;
    let desk = Desk::open(
        DeskConfig::from_toml(&text).unwrap(),
        store,
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        desk.heartbeat("wrong").await,
        Err(DeskError::NotFound { .. })
    ));
    clock.advance_ms(30_000);
    assert_eq!(desk.heartbeat(token).await.unwrap(), "funds-batch");
    let last_ping = clock.now_ms();
    let mut opened = None;
    for _ in 0..200 {
        let now = clock.advance_ms(1_000);
        if let Some(id) = desk.tick(now).await.unwrap().incidents_opened.first() {
            opened = Some((*id, now));
            break;
        }
    }
    let (id, detected) = opened.expect("heartbeat loss detected");
    assert_eq!(detected, last_ping + 91_000, "period 60 s + grace 30 s");
    let incident = desk.store().get_incident(id).await.unwrap();
    assert_eq!(incident.impact_started_at_ms, last_ping + 61_000);
    assert_eq!(incident.component, "funds");
    let slack = receiver.on("slack");
    assert_eq!(slack.len(), 1);
    let text = slack[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("Deposits batch silent"), "{text}");
    assert!(
        text.contains("Acknowledge as Aiko: http://127.0.0.1:8080/api/incidents/"),
        "{text}"
    );

    // Pings again: recovered.
    desk.heartbeat(token).await.unwrap();
    let report = desk.tick(clock.advance_ms(1_000)).await.unwrap();
    assert_eq!(report.incidents_recovered, [id]);
    // No second incident while the first is open (dedup per component).
    clock.advance_ms(200_000);
    let report = desk.tick(clock.now_ms()).await.unwrap();
    assert!(report.incidents_opened.is_empty());
    let incident = desk.store().get_incident(id).await.unwrap();
    assert_eq!(
        incident.state,
        IncidentState::Investigating,
        "failing again reopens it"
    );
    assert!(incident.recovered_at_ms.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_channels_retry_with_backoff_and_never_block_the_others() {
    let receiver = Receiver::start(2).await;
    // A port nobody listens on, and a server that accepts and never answers.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let text = format!(
        r#"
[engine]
enabled = false
[[people]]
id = "aiko"
name = "Aiko"
[[policies]]
id = "all"
[[policies.steps]]
when = "unacknowledged_for"
after_s = 0
notify = [{{ person = "aiko" }}]
channels = ["flaky", "dead", "silent", "hook"]
instruction = "Look"
[[channels]]
kind = "webhook"
id = "flaky"
url = "{flaky}"
[[channels]]
kind = "webhook"
id = "dead"
url = "http://127.0.0.1:{closed_port}/x"
[[channels]]
kind = "webhook"
id = "silent"
url = "http://127.0.0.1:{silent_port}/x"
[[channels]]
kind = "webhook"
id = "hook"
url = "{hook}"
[delivery]
max_attempts = 4
backoff_initial_ms = 1000
backoff_max_ms = 4000
timeout_ms = 300
{CHEAP_AUTH}"#,
        flaky = receiver.url("flaky"),
        hook = receiver.url("hook"),
    );
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let (store, _dir) = fresh_store(TestBackend::Sqlite).await;
    let desk = Desk::open(
        DeskConfig::from_toml(&text).unwrap(),
        store,
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    let olga = operator(&desk).await;
    let incident = desk
        .open_incident(
            &olga,
            NewIncident {
                component: "login".into(),
                title: "Customers cannot log in".into(),
                message: None,
                impact: ComponentStatus::PartialOutage,
                impact_started_at_ms: None,
            },
        )
        .await
        .unwrap();
    let t0 = clock.now_ms();
    let started = std::time::Instant::now();
    let report = desk.tick(t0).await.unwrap();
    assert_eq!(report.deliveries_attempted, 4);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "sends run concurrently"
    );
    assert_eq!(
        receiver.on("hook").len(),
        1,
        "the good channel got through in the same pass"
    );

    for offset in [999, 1_000, 2_999, 3_000, 7_000] {
        desk.tick(t0 + offset).await.unwrap();
        clock.set_ms(t0 + offset);
    }
    let detail = desk.incident_detail(&olga, incident.id).await.unwrap();
    let by_channel = |id: &str| {
        detail
            .deliveries
            .iter()
            .find(|d| d.delivery.channel_id == id)
            .unwrap()
            .clone()
    };
    let flaky = by_channel("flaky");
    assert_eq!(flaky.delivery.status, DeliveryStatus::Sent);
    let times: Vec<(i64, bool)> = flaky
        .attempt_log
        .iter()
        .map(|a| (a.at_ms - t0, a.ok))
        .collect();
    assert_eq!(
        times,
        [(0, false), (1_000, false), (3_000, true)],
        "backoff 1 s, 2 s"
    );
    let dead = by_channel("dead");
    assert_eq!(dead.delivery.status, DeliveryStatus::Failed);
    let times: Vec<i64> = dead.attempt_log.iter().map(|a| a.at_ms - t0).collect();
    assert_eq!(
        times,
        [0, 1_000, 3_000, 7_000],
        "backoff 1, 2, 4 s (capped), then give up"
    );
    assert!(dead
        .attempt_log
        .iter()
        .all(|a| !a.ok && a.detail.starts_with("HTTP")));
    let silent = by_channel("silent");
    assert_eq!(silent.delivery.status, DeliveryStatus::Failed);
    assert_eq!(by_channel("hook").attempt_log.len(), 1);
    assert!(
        detail
            .timeline
            .iter()
            .filter(|e| e.kind == "delivery_failed")
            .count()
            == 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_declare_down_after_retries_and_recover() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let healthy = Arc::new(AtomicBool::new(true));
    let app = {
        let healthy = healthy.clone();
        axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let healthy = healthy.clone();
                async move {
                    if healthy.load(Ordering::SeqCst) {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        )
    };
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http_listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(http_listener, app).await.unwrap() });
    let tcp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp_listener.local_addr().unwrap();

    let text = format!(
        r#"
[engine]
enabled = false
[[probes]]
id = "login-page"
component = "login"
kind = "http"
target = "http://{http_addr}/health"
interval_s = 10
timeout_ms = 1000
retries = 1
[[probes]]
id = "fix"
component = "trading"
kind = "tcp"
target = "{tcp_addr}"
interval_s = 10
timeout_ms = 1000
retries = 0
{CHEAP_AUTH}"#
    );
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let (store, _dir) = fresh_store(TestBackend::Sqlite).await;
    let desk = Desk::open(
        DeskConfig::from_toml(&text).unwrap(),
        store,
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    let t0 = clock.now_ms();
    assert!(desk
        .run_probes(t0)
        .await
        .unwrap()
        .incidents_opened
        .is_empty());
    healthy.store(false, Ordering::SeqCst);
    drop(tcp_listener);
    // Not due yet: no check, no incident.
    assert!(desk
        .run_probes(t0 + 5_000)
        .await
        .unwrap()
        .incidents_opened
        .is_empty());
    // First failed checks: the TCP probe (no retries) is down, the HTTP one tolerates one.
    let report = desk.run_probes(t0 + 10_000).await.unwrap();
    assert_eq!(report.incidents_opened.len(), 1);
    let tcp_incident = desk
        .store()
        .get_incident(report.incidents_opened[0])
        .await
        .unwrap();
    assert_eq!(tcp_incident.component, "trading");
    let report = desk.run_probes(t0 + 20_000).await.unwrap();
    assert_eq!(report.incidents_opened.len(), 1);
    let http_incident = desk
        .store()
        .get_incident(report.incidents_opened[0])
        .await
        .unwrap();
    assert_eq!(http_incident.component, "login");
    assert_eq!(http_incident.impact_started_at_ms, t0 + 10_000);
    assert_eq!(http_incident.detected_at_ms, t0 + 20_000);
    let login = desk.store().get_component("login").await.unwrap();
    assert_eq!(login.status, ComponentStatus::MajorOutage);

    healthy.store(true, Ordering::SeqCst);
    let report = desk.run_probes(t0 + 30_000).await.unwrap();
    assert_eq!(report.incidents_recovered, [http_incident.id]);
    let login = desk.store().get_component("login").await.unwrap();
    assert_eq!(login.status, ComponentStatus::Operational);
}

#[tokio::test]
async fn roles_are_enforced_by_the_desk() {
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let (store, _dir) = fresh_store(TestBackend::Sqlite).await;
    let config =
        DeskConfig::from_toml(&format!("[engine]\nenabled = false\n{CHEAP_AUTH}")).unwrap();
    let desk = Desk::open(config, store, clock.clone(), None)
        .await
        .unwrap();
    let olga = operator(&desk).await;
    let admin = desk.login("admin", "admin password 1").await.unwrap().user;
    desk.create_user(&admin, "vic", "viewer password", Role::Viewer)
        .await
        .unwrap();
    let vic = desk.login("vic", "viewer password").await.unwrap();
    let viewer = desk.authenticate(Some(&vic.token)).await.unwrap();
    assert_eq!(viewer.role, Role::Viewer);
    let incident = desk
        .open_incident(
            &olga,
            NewIncident {
                component: "funds".into(),
                title: "Withdrawals delayed".into(),
                message: Some("bank link slow".into()),
                impact: ComponentStatus::DegradedPerformance,
                impact_started_at_ms: Some(MONDAY_NOON_MS - 60_000),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        desk.acknowledge(&viewer, incident.id).await,
        Err(DeskError::Forbidden { .. })
    ));
    assert!(matches!(
        desk.create_user(&olga, "eve", "password password", Role::Admin)
            .await,
        Err(DeskError::Forbidden { .. })
    ));
    assert!(desk.incidents(&viewer, 10).await.is_ok());
    assert!(desk
        .acknowledge(&olga, incident.id)
        .await
        .unwrap()
        .acknowledged_at_ms
        .is_some());
    assert!(matches!(
        desk.login("vic", "wrong password").await,
        Err(DeskError::Unauthenticated { .. })
    ));
    assert!(matches!(
        desk.authenticate(Some("fxd_nope")).await,
        Err(DeskError::Unauthenticated { .. })
    ));
    assert!(matches!(
        desk.authenticate(None).await,
        Err(DeskError::Unauthenticated { .. })
    ));
    // Sessions expire.
    clock.advance_ms(13 * 3_600_000);
    assert!(desk.authenticate(Some(&vic.token)).await.is_err());
    // Bad manual input is refused with a reason.
    let bad = NewIncident {
        component: "nope".into(),
        title: "x".into(),
        message: None,
        impact: ComponentStatus::MajorOutage,
        impact_started_at_ms: None,
    };
    assert!(matches!(
        desk.open_incident(&olga, bad).await,
        Err(DeskError::Invalid { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_tasks_drive_the_desk() {
    // An engine that never beats, 10 s after the desk started: the background evaluation loop
    // (not the test) must open the incident.
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let recorder = Arc::new(HealthRecorder::new(clock.clone(), 60_000));
    let (store, _guard) = fresh_store(TestBackend::Sqlite).await;
    let config = DeskConfig::from_toml(CHEAP_AUTH).unwrap();
    let desk = Desk::open(config, store, clock.clone(), Some(recorder))
        .await
        .unwrap();
    clock.advance_ms(10_000);
    let tasks = fxdesk_desk::spawn_background(desk.clone(), clock.clone());
    let mut opened = Vec::new();
    for _ in 0..50 {
        opened = desk.store().open_incidents().await.unwrap();
        if !opened.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(tasks);
    assert!(
        opened.iter().any(|i| i.component == "trading"),
        "{opened:?}"
    );
}
