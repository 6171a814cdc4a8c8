//! The desk's HTTP API end to end: a real server on 127.0.0.1, a real SQLite file, a webhook
//! receiver on loopback, an engine stand-in that stops, and a simulated clock.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use std::sync::Arc;

use common::{Api, Receiver, RunningEngine, TempDir, MONDAY_NOON_MS};
use fxdesk_desk::auth::sha256_hex;
use fxdesk_desk::{Desk, DeskConfig, HealthRecorder, ManualClock, Store};
use serde_json::{json, Value};

const ALERTMANAGER_TOKEN: &str = "am-token-4f1c";
const HEARTBEAT_TOKEN: &str = "hb-token-9d2e";
const FIRING: &str = include_str!("fixtures/alertmanager_firing.json");
const RESOLVED: &str = include_str!("fixtures/alertmanager_resolved.json");

struct Harness {
    api: Api,
    desk: Arc<Desk>,
    clock: Arc<ManualClock>,
    recorder: Arc<HealthRecorder>,
    receiver: Receiver,
    admin: String,
    operator: String,
    viewer: String,
    _dir: TempDir,
}

async fn start(engine_enabled: bool) -> Harness {
    let receiver = Receiver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = format!(
        r#"
[engine]
enabled = {engine_enabled}
[alertmanager]
bearer_token_sha256 = "{am}"
default_component = "trading"
[[heartbeats]]
id = "funds-batch"
component = "funds"
token_sha256 = "{hb}"
period_s = 300
[[people]]
id = "aiko"
name = "Aiko"
[[people]]
id = "ben"
name = "Ben"
[[people]]
id = "lead"
name = "Support lead"
[[schedules]]
id = "support"
rotation_start = "2026-11-23T00:00:00Z"
shift_hours = 24
members = ["aiko", "ben"]
[[policies]]
id = "trading"
components = ["trading", "login"]
repeat_times = 1
repeat_every_s = 240
[[policies.steps]]
when = "unacknowledged_for"
after_s = 0
notify = [{{ schedule = "support" }}]
channels = ["hook"]
instruction = "Outage detected"
[[policies.steps]]
when = "unacknowledged_for"
after_s = 180
notify = [{{ schedule = "support", level = 1 }}]
channels = ["hook"]
instruction = "Not acknowledged in 3 minutes"
[[policies.steps]]
when = "down_for"
after_s = 300
notify = [{{ person = "lead" }}]
channels = ["hook"]
instruction = "Down 5 minutes: call the support lead"
[[channels]]
kind = "webhook"
id = "hook"
url = "{hook}/hook"
[links]
public_url = "{base}"
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
"#,
        am = sha256_hex(ALERTMANAGER_TOKEN),
        hb = sha256_hex(HEARTBEAT_TOKEN),
        hook = receiver.base_url,
    );
    let dir = TempDir::new();
    let store = Store::open_sqlite(&dir.0.join("desk.sqlite"))
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let recorder = Arc::new(HealthRecorder::new(clock.clone(), 60_000));
    let desk = Desk::open(
        DeskConfig::from_toml(&config).unwrap(),
        store,
        clock.clone(),
        Some(recorder.clone()),
    )
    .await
    .unwrap();
    desk.bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap();
    tokio::spawn(fxdesk_server::desk::serve(listener, desk.clone()));
    let api = Api {
        base,
        http: reqwest::Client::new(),
    };
    let admin = api.login("admin", "admin password 1").await;
    for (name, role) in [("olga", "operator"), ("vic", "viewer")] {
        let (status, body) = api
            .post(
                "/api/users",
                Some(&admin),
                json!({"username": name, "password": format!("{name} password!"), "role": role}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let operator = api.login("olga", "olga password!").await;
    let viewer = api.login("vic", "vic password!").await;
    Harness {
        api,
        desk,
        clock,
        recorder,
        receiver,
        admin,
        operator,
        viewer,
        _dir: dir,
    }
}

fn step_times(receiver: &Receiver) -> Vec<(i64, i64, String)> {
    receiver
        .all()
        .iter()
        .map(|p| {
            (
                p["step"]["index"].as_i64().unwrap(),
                p["sent_at_ms"].as_i64().unwrap(),
                p["recipients"][0]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stop_escalates_acknowledges_and_resolves_over_http() {
    let h = start(true).await;
    let engine = RunningEngine::start(h.recorder.clone(), h.clock.clone());
    for _ in 0..3 {
        let now = h.clock.advance_ms(1_000);
        engine.wait_for_beat(now);
        h.desk.tick(now).await.unwrap();
    }
    let (status, incidents) = h.api.get("/api/incidents", Some(&h.viewer)).await;
    assert_eq!((status, incidents), (200, json!([])));
    let last_beat = engine.stop();

    // The engine stops: an incident opens within 10 s.
    let incident_id = loop {
        let now = h.clock.advance_ms(1_000);
        assert!(now - last_beat <= 10_000, "not detected within 10 s");
        if let Some(id) = h.desk.tick(now).await.unwrap().incidents_opened.first() {
            break *id;
        }
    };
    let (status, detail) = h
        .api
        .get(&format!("/api/incidents/{incident_id}"), Some(&h.viewer))
        .await;
    assert_eq!(status, 200, "{detail}");
    let detected = detail["incident"]["detected_at_ms"].as_i64().unwrap();
    let impact_start = detail["incident"]["impact_started_at_ms"].as_i64().unwrap();
    assert_eq!(detected - last_beat, 6_000);
    assert_eq!(detail["incident"]["component"], "trading");
    let (_, components) = h.api.get("/api/components", Some(&h.viewer)).await;
    let trading = components
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "trading")
        .unwrap()
        .clone();
    assert_eq!(trading["status"], "major_outage");

    // Escalate on the simulated clock, one tick a second, until 200 s after detection.
    while h.clock.advance_ms(1_000) < detected + 200_000 {
        h.desk.tick(h.clock_now()).await.unwrap();
    }
    assert_eq!(
        step_times(&h.receiver),
        [
            (0, detected, "aiko".into()),
            (1, detected + 180_000, "ben".into())
        ]
    );

    // A viewer may not acknowledge; an operator may.
    let ack = format!("/api/incidents/{incident_id}/ack");
    let (status, body) = h.api.post(&ack, Some(&h.viewer), json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, body) = h.api.post(&ack, None, json!({})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = h.api.post(&ack, Some(&h.operator), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let acked_at = body["acknowledged_at_ms"].as_i64().unwrap();
    assert_eq!(body["acknowledged_by"], "user:olga");

    // The repeats of the acknowledgement steps (detected + 240 s, + 420 s) do not fire; the
    // duration step (impact + 300 s) does.
    while h.clock.advance_ms(1_000) < detected + 450_000 {
        h.desk.tick(h.clock_now()).await.unwrap();
    }
    assert_eq!(
        step_times(&h.receiver),
        [
            (0, detected, "aiko".into()),
            (1, detected + 180_000, "ben".into()),
            (2, impact_start + 300_000, "lead".into()),
        ]
    );

    // Back up, then resolved by hand: the figures are recorded.
    let engine = RunningEngine::start(h.recorder.clone(), h.clock.clone());
    let now = h.clock.advance_ms(1_000);
    engine.wait_for_beat(now);
    // Both the engine incident and the stale-quotes (price feed) incident recover.
    let recovered = h.desk.tick(now).await.unwrap().incidents_recovered;
    assert!(
        recovered.contains(&incident_id) && recovered.len() == 2,
        "{recovered:?}"
    );
    let resolve_at = h.clock.advance_ms(30_000);
    let (status, body) = h
        .api
        .post(
            &format!("/api/incidents/{incident_id}/resolve"),
            Some(&h.operator),
            json!({"message": "engine restarted"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incident"]["state"], "resolved");
    assert_eq!(
        body["figures"]["time_to_detect_ms"],
        detected - impact_start
    );
    assert_eq!(
        body["figures"]["time_to_acknowledge_ms"],
        acked_at - detected
    );
    assert_eq!(
        body["figures"]["time_to_resolve_ms"],
        resolve_at - impact_start
    );

    let (_, detail) = h
        .api
        .get(&format!("/api/incidents/{incident_id}"), Some(&h.viewer))
        .await;
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "escalation",
            "escalation",
            "acknowledged",
            "escalation",
            "monitor_up",
            "resolved"
        ]
    );
    let deliveries = detail["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries
        .iter()
        .all(|d| d["status"] == "sent" && d["attempt_log"][0]["ok"] == true));

    let (status, figures) = h.api.get("/api/figures", Some(&h.viewer)).await;
    assert_eq!(status, 200);
    assert_eq!(figures["resolved_incidents"], 1);
    assert_eq!(figures["mttd_ms"], detected - impact_start);

    // Metrics need a token too.
    let (status, _) = h
        .api
        .call(reqwest::Method::GET, "/metrics", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, text) = h
        .api
        .call(reqwest::Method::GET, "/metrics", Some(&h.viewer), None)
        .await;
    assert_eq!(status, 200);
    assert!(
        text.contains("fxdesk_desk_escalation_steps_fired_total 3"),
        "{text}"
    );
    assert!(
        text.contains("fxdesk_desk_acknowledgements_total 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "fxdesk_desk_component_status{component=\"trading\",status=\"operational\"} 1"
        ),
        "{text}"
    );
    drop(engine);
}

impl Harness {
    fn clock_now(&self) -> i64 {
        fxdesk_desk::Clock::now_ms(&*self.clock)
    }

    async fn count(&self, path: &str) -> usize {
        let (status, body) = self.api.get(path, Some(&self.admin)).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_fixtures_open_update_and_resolve_by_group_key() {
    let h = start(false).await;
    let post = |body: String, token: Option<&'static str>| {
        let api = h.api.clone();
        async move {
            api.call(
                reqwest::Method::POST,
                "/api/alertmanager",
                token,
                Some(body),
            )
            .await
        }
    };

    // Credentials first: nothing is stored without the right bearer token.
    assert_eq!(post(FIRING.into(), None).await.0, 401);
    assert_eq!(post(FIRING.into(), Some("wrong")).await.0, 401);
    assert_eq!(h.count("/api/incidents").await, 0);

    // Malformed payloads: 400 each, nothing stored.
    let fixture: Value = serde_json::from_str(FIRING).unwrap();
    let mut variants: Vec<String> = vec![
        "not json".into(),
        FIRING[..FIRING.len() / 2].into(),
        "{}".into(),
        "[]".into(),
    ];
    type Mutation = (&'static str, Box<dyn Fn(&mut Value)>);
    let mutations: [Mutation; 7] = [
        ("old version", Box::new(|v| v["version"] = json!("3"))),
        (
            "no group key",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("groupKey");
            }),
        ),
        ("bad status", Box::new(|v| v["status"] = json!("exploded"))),
        (
            "bad alert status",
            Box::new(|v| v["alerts"][1]["status"] = json!("burning")),
        ),
        (
            "bad startsAt",
            Box::new(|v| v["alerts"][0]["startsAt"] = json!("yesterday")),
        ),
        ("no alerts", Box::new(|v| v["alerts"] = json!([]))),
        ("wrong type", Box::new(|v| v["alerts"] = json!("many"))),
    ];
    for (_, mutate) in &mutations {
        let mut value = fixture.clone();
        mutate(&mut value);
        variants.push(value.to_string());
    }
    let audit_before = h.count("/api/audit?limit=1000").await;
    for body in variants {
        let (status, text) = post(body.clone(), Some(ALERTMANAGER_TOKEN)).await;
        assert_eq!(status, 400, "{body} -> {text}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["code"], "invalid_request");
    }
    assert_eq!(h.count("/api/incidents").await, 0);
    assert_eq!(h.count("/api/audit?limit=1000").await, audit_before);

    // Firing: opens an incident for the group, impact from the earliest startsAt.
    let (status, text) = post(FIRING.into(), Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let outcome: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(outcome["action"], "opened");
    let id = outcome["incident_id"].as_i64().unwrap();
    let (_, detail) = h
        .api
        .get(&format!("/api/incidents/{id}"), Some(&h.viewer))
        .await;
    assert_eq!(detail["incident"]["title"], "Dealing engine not responding");
    assert_eq!(detail["incident"]["component"], "trading");
    assert_eq!(detail["incident"]["impact"], "major_outage");
    assert_eq!(
        detail["incident"]["impact_started_at_ms"],
        MONDAY_NOON_MS - 120_000
    );
    assert_eq!(detail["incident"]["detected_at_ms"], MONDAY_NOON_MS);

    // The same group firing again updates the same incident.
    h.clock.advance_ms(60_000);
    let (status, text) = post(FIRING.into(), Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(status, 200);
    let outcome: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (outcome["action"].clone(), outcome["incident_id"].as_i64()),
        (json!("updated"), Some(id))
    );
    assert_eq!(h.count("/api/incidents").await, 1);

    // Resolved: the incident is resolved, the component operational again.
    h.clock.advance_ms(180_000);
    let (status, text) = post(RESOLVED.into(), Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let (_, detail) = h
        .api
        .get(&format!("/api/incidents/{id}"), Some(&h.viewer))
        .await;
    assert_eq!(detail["incident"]["state"], "resolved");
    assert_eq!(
        detail["incident"]["resolved_at_ms"],
        MONDAY_NOON_MS + 240_000
    );
    assert_eq!(detail["figures"]["time_to_resolve_ms"], 360_000);
    let (_, components) = h.api.get("/api/components", Some(&h.viewer)).await;
    assert!(components
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "operational"));
    // A resolved notification for a group with nothing open changes nothing.
    let (status, text) = post(RESOLVED.into(), Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(text.contains("ignored"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_links_and_bad_requests() {
    let h = start(false).await;
    // Heartbeats authenticate by their token.
    let (status, body) = h
        .api
        .post(
            &format!("/api/heartbeats/{HEARTBEAT_TOKEN}"),
            None,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["heartbeat"], "funds-batch");
    let (status, _) = h.api.post("/api/heartbeats/guess", None, json!({})).await;
    assert_eq!(status, 404);

    // Everything else needs a token.
    for path in [
        "/api/incidents",
        "/api/components",
        "/api/figures",
        "/api/users",
        "/api/audit",
    ] {
        let (status, _) = h.api.get(path, None).await;
        assert_eq!(status, 401, "{path}");
        let (status, _) = h.api.get(path, Some("fxd_not_a_token")).await;
        assert_eq!(status, 401, "{path}");
    }
    let (status, _) = h.api.get("/api/users", Some(&h.operator)).await;
    assert_eq!(status, 403);
    let (status, _) = h.api.get("/api/audit", Some(&h.viewer)).await;
    assert_eq!(status, 403);

    // Opening by hand, with bad input refused.
    let (status, body) = h
        .api
        .post(
            "/api/incidents",
            Some(&h.operator),
            json!({"component": "login", "title": 7}),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("invalid_request"))
    );
    let (status, _) = h
        .api
        .post(
            "/api/incidents",
            Some(&h.operator),
            json!({"component": "moon", "title": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .api
        .post(
            "/api/incidents",
            Some(&h.viewer),
            json!({"component": "login", "title": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = h
        .api
        .post(
            "/api/incidents",
            Some(&h.operator),
            json!({"component": "login", "title": "Login errors", "impact": "partial_outage"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, _) = h.api.get("/api/incidents/abc", Some(&h.viewer)).await;
    assert_eq!(status, 400);
    let (status, _) = h.api.get("/api/incidents/99999", Some(&h.viewer)).await;
    assert_eq!(status, 404);
    let (status, body) = h
        .api
        .post(
            &format!("/api/incidents/{id}/updates"),
            Some(&h.operator),
            json!({"state": "identified", "message": "auth cache full"}),
        )
        .await;
    assert_eq!((status, body["state"].clone()), (200, json!("identified")));

    // The page goes out; its signed link acknowledges, a tampered one does not.
    h.desk.tick(h.clock_now()).await.unwrap();
    let pages = h.receiver.all();
    assert_eq!(pages.len(), 1);
    let link = pages[0]["recipients"][0]["ack_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with(&h.api.base));
    let path = &link[h.api.base.len()..];
    let tampered = path.replace("by=aiko", "by=ben");
    let (status, _) = h.api.get(&tampered, None).await;
    assert_eq!(status, 401);
    let (status, _) = h
        .api
        .call(reqwest::Method::POST, &tampered, None, None)
        .await;
    assert_eq!(status, 401);
    // Opening the link (as a mail scanner would) only shows the confirmation form.
    let (status, page) = h.api.call(reqwest::Method::GET, path, None, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    let (_, detail) = h
        .api
        .get(&format!("/api/incidents/{id}"), Some(&h.viewer))
        .await;
    assert_eq!(detail["incident"]["acknowledged_at_ms"], Value::Null);
    let (status, text) = h.api.call(reqwest::Method::POST, path, None, None).await;
    assert_eq!(status, 200, "{text}");
    let (_, detail) = h
        .api
        .get(&format!("/api/incidents/{id}"), Some(&h.viewer))
        .await;
    assert_eq!(detail["incident"]["acknowledged_by"], "link:aiko");

    // Components: maintenance by hand.
    let (status, body) = h
        .api
        .call(
            reqwest::Method::PUT,
            "/api/components/funds",
            Some(&h.operator),
            Some(json!({"status": "maintenance"}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = h
        .api
        .call(
            reqwest::Method::PUT,
            "/api/components/funds",
            Some(&h.viewer),
            Some(json!({"status": "operational"}).to_string()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .api
        .call(
            reqwest::Method::PUT,
            "/api/components/funds",
            Some(&h.operator),
            Some(json!({"status": "on_fire"}).to_string()),
        )
        .await;
    assert_eq!(status, 400);

    // API tokens for scripts.
    let (status, body) = h
        .api
        .post("/api/tokens", Some(&h.viewer), json!({"label": "grafana"}))
        .await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap();
    let (status, _) = h.api.get("/api/incidents", Some(token)).await;
    assert_eq!(status, 200);
}
