//! `fxdesk serve` with the desk in-process, over a real socket: the desk watches the real
//! sequencer (a stopped one opens an incident within 10 s with the default settings), one
//! `/metrics` serves both metric sets, and outside-signal counts pushed over HTTP open an
//! incident when our rate doubles while the peers stay flat, and not when the whole market
//! rises. Time is a manual clock, moved by the test; the sequencer and journal are real.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::sync::Arc;
use std::time::Duration;

use fxdesk_desk::{Clock, DeskConfig, ManualClock, Store};
use fxdesk_journal::JournalOptions;
use fxdesk_server::trading::ServeOptions;
use fxdesk_server::with_desk::signals::SignalsSetup;
use fxdesk_server::with_desk::{start_with_desk, DeskRunning, DeskSetup};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use trading_common::*;

/// 2026-11-23 12:00:00 UTC, a Monday (FX market open).
const MONDAY_NOON_MS: i64 = 1_795_435_200_000;
const DESK_ADMIN: &str = "admin";
const DESK_PASSWORD: &str = "admin password 1";

struct Combined {
    t: TestServer,
    desk: DeskRunning,
    clock: Arc<ManualClock>,
    desk_token: String,
}

/// Default engine monitor settings (2 s / 5 s liveness, 10 s quote staleness), except the
/// latency limits: fsync on this shared test machine can exceed the default 50 ms p99 any time,
/// which would open a second, unrelated incident.
const RELAXED_LATENCY: &str = "journal_fsync_p99_max_ms = 60000\norder_ack_p99_max_ms = 60000\n";

fn desk_config(engine: &str) -> DeskConfig {
    DeskConfig::from_toml(&format!(
        "[engine]\n{engine}\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\nsession_ttl_s = 86400\n"
    ))
    .unwrap()
}

async fn start(signals: Option<&str>, journal: JournalOptions) -> Combined {
    start_with(signals, journal, RELAXED_LATENCY).await
}

async fn start_with(signals: Option<&str>, journal: JournalOptions, engine: &str) -> Combined {
    start_full(signals, journal, engine, false, None).await
}

/// `realtime`: the production loops on the system clock (the manual clock is then unused).
/// `store`: the desk's storage (default: a SQLite file in the data directory).
async fn start_full(
    signals: Option<&str>,
    journal: JournalOptions,
    engine: &str,
    realtime: bool,
    store: Option<Store>,
) -> Combined {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let store = match store {
        Some(store) => store,
        None => Store::open_sqlite(&dir.path().join("desk.sqlite"))
            .await
            .unwrap(),
    };
    let desk_clock: Arc<dyn fxdesk_desk::Clock> = if realtime {
        Arc::new(fxdesk_desk::SystemClock)
    } else {
        clock.clone()
    };
    let setup = DeskSetup {
        config: desk_config(engine),
        store,
        clock: desk_clock,
        signals: signals.map(|text| toml::from_str::<SignalsSetup>(text).unwrap()),
        background: realtime,
    };
    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.rollover = false;
    options.journal = journal;
    let (server, desk) = start_with_desk(options, setup).await.unwrap().into_parts();
    server.wait_ready(Duration::from_secs(10)).await.unwrap();
    desk.desk
        .bootstrap_admin(DESK_ADMIN, DESK_PASSWORD)
        .await
        .unwrap();
    let t = TestServer {
        base: format!("http://{}", server.addr()),
        server,
        dir,
        client: Client::new(),
    };
    let (status, body) = t
        .send(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": DESK_ADMIN, "password": DESK_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let desk_token = body["token"].as_str().unwrap().to_owned();
    Combined {
        t,
        desk,
        clock,
        desk_token,
    }
}

impl Combined {
    /// What the production loops do once a second, at the manual clock's time.
    async fn tick(&self) {
        let now = self.clock.now_ms();
        self.desk.engine.sample(now).await;
        self.desk.desk.evaluate(now).await.unwrap();
        self.desk.desk.deliver_due(now).await.unwrap();
        if let Some(signals) = &self.desk.signals {
            signals.step(now).await.unwrap();
        }
    }

    async fn incidents(&self) -> Vec<Value> {
        let (status, body) = self
            .t
            .send(Method::GET, "/api/incidents", Some(&self.desk_token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    async fn metrics(&self, token: &str) -> (StatusCode, String) {
        let response = self
            .t
            .client
            .get(format!("{}/metrics", self.t.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_sequencer_opens_an_incident_within_ten_seconds() {
    let c = start(None, small_segments()).await;
    stopped_sequencer_opens_an_incident(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs FXDESK_TEST_PG_URL (PostgreSQL); .ci/run sets it"]
async fn a_stopped_sequencer_opens_an_incident_with_the_desk_on_postgres() {
    use sqlx::Connection;
    let url = std::env::var("FXDESK_TEST_PG_URL").expect("FXDESK_TEST_PG_URL");
    let (_, digest) = fxdesk_desk::auth::new_token();
    let schema = format!("serve_desk_test_{}", &digest[..12]);
    let store = Store::connect_in_schema(&url, Some(&schema)).await.unwrap();
    let c = start_full(None, small_segments(), RELAXED_LATENCY, false, Some(store)).await;
    stopped_sequencer_opens_an_incident(&c).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn stopped_sequencer_opens_an_incident(c: &Combined) {
    let feed = c.t.feed_token().await;
    c.t.quote(&feed, "USD/JPY", "156.120", "156.125").await;

    // Healthy: a few seconds of beats, no incident.
    for _ in 0..3 {
        c.clock.advance_ms(1_000);
        c.tick().await;
    }
    assert!(c.incidents().await.is_empty());
    let snapshot = fxdesk_desk::EngineHealth::snapshot(c.desk.engine.as_ref());
    assert_eq!(snapshot.last_heartbeat_ms, Some(c.clock.now_ms()));
    assert!(
        snapshot.last_quote_ms.contains_key("USD/JPY"),
        "{snapshot:?}"
    );

    // Stop the sequencer for real: the next journal segment cannot be created (a directory sits
    // where its temp file goes), so a group commit fails and the sequencer stops for good.
    stop_the_sequencer(c, &feed).await;
    let stopped_at_ms = c.clock.now_ms();

    // Seconds pass on the desk's clock; the incident must open within 10 s.
    let mut opened_at_ms = None;
    for _ in 0..10 {
        c.clock.advance_ms(1_000);
        c.tick().await;
        if !c.incidents().await.is_empty() {
            opened_at_ms = Some(c.clock.now_ms());
            break;
        }
    }
    let opened_at_ms = opened_at_ms.expect("no incident within 10 s of the sequencer stopping");
    assert!(opened_at_ms - stopped_at_ms <= 10_000);
    let incidents = c.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["component"], "trading", "{incidents:?}");
    assert_eq!(incidents[0]["impact"], "major_outage", "{incidents:?}");
    assert!(
        incidents[0]["title"]
            .as_str()
            .unwrap()
            .contains("engine silent"),
        "{incidents:?}"
    );

    // One /metrics, both sets: the trading admin token and a desk token both read it.
    let (status, text) = c.metrics(ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(metric(&text, "fxdesk_ready"), Some(0.0), "{text}");
    assert!(
        metric(&text, "fxdesk_commands_total").unwrap() >= 2.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "fxdesk_desk_incidents_opened_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "fxdesk_desk_open_incidents"),
        Some(1.0),
        "{text}"
    );
    let (status, desk_text) = c.metrics(&c.desk_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(desk_text.contains("fxdesk_ack_latency_seconds_count"));
    assert!(desk_text
        .contains("fxdesk_desk_component_status{component=\"trading\",status=\"major_outage\"} 1"));
    let (status, _) = c.metrics("not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Makes the next journal segment impossible to create and pushes quotes until the sequencer
/// stops on the failed group commit (needs a journal with the smallest segments).
async fn stop_the_sequencer(c: &Combined, feed: &str) {
    let journal = c.t.dir.path().join("journal");
    for seq in 1..2_000u64 {
        std::fs::create_dir(journal.join(format!("{seq:020}.seg.tmp"))).unwrap();
    }
    for _ in 0..2_000 {
        let (status, _) =
            c.t.send(
                Method::POST,
                "/v1/quotes",
                Some(feed),
                Some(json!({"instrument": "USD/JPY", "bid": "156.120", "ask": "156.125"})),
            )
            .await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return;
        }
        assert_eq!(status, StatusCode::CREATED);
    }
    panic!("the journal never needed a new segment");
}

fn small_segments() -> JournalOptions {
    JournalOptions {
        segment_bytes_max: fxdesk_journal::MIN_SEGMENT_BYTES,
        ..JournalOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_production_loops_a_stopped_sequencer_is_an_incident_within_ten_seconds() {
    // Wall-clock time, the real loops (desk, engine sampler) and default liveness settings.
    let c = start_full(None, small_segments(), RELAXED_LATENCY, true, None).await;
    let feed = c.t.feed_token().await;
    c.t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(c.incidents().await.is_empty());
    stop_the_sequencer(&c, &feed).await;
    let stopped = std::time::Instant::now();
    while c.incidents().await.is_empty() {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "no incident 10 s after the sequencer stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incidents = c.incidents().await;
    assert_eq!(incidents[0]["component"], "trading", "{incidents:?}");
    eprintln!(
        "incident opened {:?} after the sequencer stopped",
        stopped.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_quotes_and_a_healthy_engine_are_told_apart() {
    let c = start(None, JournalOptions::default()).await;
    let feed = c.t.feed_token().await;
    c.t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    c.clock.advance_ms(1_000);
    c.tick().await;
    // The engine keeps answering (it beats) but no quote comes for longer than the default
    // 10 s staleness: the price feed is down, trading is not.
    for _ in 0..12 {
        c.clock.advance_ms(1_000);
        c.tick().await;
    }
    let incidents = c.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["component"], "price-feed", "{incidents:?}");
    assert!(
        incidents[0]["title"].as_str().unwrap().contains("USD/JPY"),
        "{incidents:?}"
    );
    // Quotes again: the monitor recovers the incident.
    c.t.quote(&feed, "USD/JPY", "156.130", "156.135").await;
    c.clock.advance_ms(1_000);
    c.tick().await;
    let (_, detail) =
        c.t.send(
            Method::GET,
            &format!("/api/incidents/{}", incidents[0]["id"]),
            Some(&c.desk_token),
            None,
        )
        .await;
    assert!(detail["incident"]["recovered_at_ms"].is_i64(), "{detail}");
    // A trading customer token may not read /metrics.
    let (_, customer_token) = c.t.customer("100000").await;
    let (status, _) = c.metrics(&customer_token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_ack_and_fsync_latencies_reach_the_desk() {
    // Limits of 0 ms: any real acknowledgement or group commit is "too slow", so the incident
    // proves that the sequencer's own ack and fsync figures reached the desk's monitors.
    let c = start_with(
        None,
        JournalOptions::default(),
        "order_ack_p99_max_ms = 0\njournal_fsync_p99_max_ms = 0\n",
    )
    .await;
    c.tick().await;
    assert!(c.incidents().await.is_empty());
    let feed = c.t.feed_token().await;
    c.t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    c.clock.advance_ms(1_000);
    c.tick().await;
    let incidents = c.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(
        incidents[0]["impact"], "degraded_performance",
        "{incidents:?}"
    );
    let (_, detail) =
        c.t.send(
            Method::GET,
            &format!("/api/incidents/{}", incidents[0]["id"]),
            Some(&c.desk_token),
            None,
        )
        .await;
    let timeline = detail["timeline"].to_string();
    for needle in ["order acknowledgement p99", "journal fsync p99"] {
        assert!(timeline.contains(needle), "{needle:?} not in {timeline}");
    }
}

const SIGNALS: &str = r#"
sensitivity = "standard"
component = "trading"
[[streams]]
name = "calls/ours"
role = "ours"
groups = ["calls"]
[[streams]]
name = "calls/peer-a"
role = "peer"
groups = ["calls"]
[[streams]]
name = "calls/peer-b"
role = "peer"
groups = ["calls"]
"#;

impl Combined {
    /// Pushes one minute of counts for the three streams at the clock's current minute, then
    /// moves the clock past it. Returns the last push's answer.
    async fn push_minute(&self, ours: u64, peer_a: u64, peer_b: u64) -> Value {
        let minute_ms = self.clock.now_ms();
        let mut last = Value::Null;
        self.clock.advance_ms(60_000);
        for (stream, count) in [
            ("calls%2Fpeer-a", peer_a),
            ("calls%2Fpeer-b", peer_b),
            ("calls%2Fours", ours),
        ] {
            let (status, body) = self
                .t
                .send(
                    Method::POST,
                    &format!("/api/signals/{stream}/counts"),
                    Some(&self.desk_token),
                    Some(json!({"minute": minute_ms, "count": count})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            last = body;
        }
        last
    }

    /// Pushes `minutes` of the usual counts, minute by minute as they happen (a minute one
    /// stream leaves incomplete for more than 5 minutes is skipped by the monitor, so a
    /// stream-by-stream backfill would not be judged).
    async fn push_history(&self, minutes: i64, ours: u64, peer: u64) {
        for _ in 0..minutes {
            let answer = self.push_minute(ours, peer, peer).await;
            assert_eq!(answer["alarms"], json!([]), "{answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_counts_that_double_our_rate_open_an_incident_and_a_market_spike_does_not() {
    let c = start(Some(SIGNALS), JournalOptions::default()).await;
    // Three hours of the usual: 10 calls a minute for us, 20 a minute at each peer.
    c.push_history(180, 10, 20).await;
    assert!(c.incidents().await.is_empty());

    // A market-wide shock: everyone's counts triple for 20 minutes. Not an outage.
    for _ in 0..20 {
        let answer = c.push_minute(30, 60, 60).await;
        assert_eq!(answer["alarms"], json!([]), "{answer}");
    }
    for _ in 0..40 {
        c.push_minute(10, 20, 20).await;
    }
    assert!(c.incidents().await.is_empty());

    // Our calls double while the peers stay flat: an incident within a few minutes.
    let mut opened = None;
    for minute in 1..=10 {
        let answer = c.push_minute(20, 20, 20).await;

        if let Some(alarm) = answer["alarms"].as_array().and_then(|a| a.first()) {
            opened = Some((minute, alarm.clone()));
            break;
        }
    }
    let (minutes, alarm) = opened.expect("no alarm after 10 minutes of doubled calls");
    assert!(minutes <= 5, "alarm after {minutes} minutes");
    assert_eq!(alarm["opened"], true, "{alarm}");
    let incidents = c.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident["component"], "trading");
    // The incident explains itself: our rate, the expected rate, the peers' rates.
    let (_, detail) =
        c.t.send(
            Method::GET,
            &format!("/api/incidents/{}", incident["id"]),
            Some(&c.desk_token),
            None,
        )
        .await;
    let opened_message = detail["timeline"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    for needle in [
        "calls/ours rose to 20.0/min",
        "10.0/min expected",
        "calls/peer-a 20.0/min",
        "calls/peer-b 20.0/min",
    ] {
        assert!(
            opened_message.contains(needle),
            "{needle:?} not in {opened_message:?}"
        );
    }
    // Impact started at the estimated onset (the first doubled minute), before detection.
    assert!(incident["impact_started_at_ms"].as_i64() < incident["detected_at_ms"].as_i64());

    // Still doubled after the hold-off: the same incident is annotated, not a second one.
    let mut annotated = false;
    for _ in 0..40 {
        let answer = c.push_minute(20, 20, 20).await;
        if let Some(alarm) = answer["alarms"].as_array().and_then(|a| a.first()) {
            assert_eq!(alarm["opened"], false, "{alarm}");
            assert_eq!(alarm["incident_id"], incident["id"]);
            annotated = true;
            break;
        }
    }
    assert!(
        annotated,
        "a lasting rise should annotate the incident after the hold-off"
    );
    assert_eq!(c.incidents().await.len(), 1);
    let (_, text) = c.metrics(&c.desk_token).await;
    assert_eq!(
        metric(&text, "fxdesk_signals_alarms_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "fxdesk_signals_incidents_opened_total"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_endpoint_checks_credentials_roles_and_bodies() {
    let c = start(Some(SIGNALS), JournalOptions::default()).await;
    let path = "/api/signals/calls%2Fours/counts";
    let now = c.clock.now_ms();
    let one = json!({"minute": now - 60_000, "count": 3});
    // No token, and a trading token, are not desk credentials.
    let (status, _) = c.t.send(Method::POST, path, None, Some(one.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        c.t.send(Method::POST, path, Some(ADMIN), Some(one.clone()))
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A viewer may not push.
    let (status, body) =
        c.t.send(
            Method::POST,
            "/api/users",
            Some(&c.desk_token),
            Some(json!({"username": "watcher", "password": "viewer password 1", "role": "viewer"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let (_, login) =
        c.t.send(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "watcher", "password": "viewer password 1"})),
        )
        .await;
    let viewer = login["token"].as_str().unwrap().to_owned();
    let (status, _) =
        c.t.send(Method::POST, path, Some(&viewer), Some(one.clone()))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Unknown stream, malformed body, a minute in the future, an oversized count.
    let token = Some(c.desk_token.as_str());
    let (status, _) =
        c.t.send(
            Method::POST,
            "/api/signals/nope/counts",
            token,
            Some(one.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        c.t.raw(Method::POST, path, &c.desk_token, b"{not json".to_vec())
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        c.t.send(
            Method::POST,
            path,
            token,
            Some(json!({"minute": "yesterday", "count": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // All or nothing: a good entry next to a bad one stores nothing.
    let (status, body) =
        c.t.send(
            Method::POST,
            path,
            token,
            Some(json!({"counts": [
                {"minute": now - 60_000, "count": 3},
                {"minute": now + 3_600_000, "count": 1}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) =
        c.t.send(
            Method::POST,
            path,
            token,
            Some(json!({"minute": now, "count": 5_000_000u64})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, text) = c.metrics(&c.desk_token).await;
    assert_eq!(
        metric(&text, "fxdesk_signals_counts_pushed_total"),
        Some(0.0),
        "{text}"
    );
    // RFC 3339 works, and a retried push is counted again but sets the same value.
    for _ in 0..2 {
        let (status, body) =
            c.t.send(
                Method::POST,
                path,
                token,
                Some(json!({"minute": "2026-11-23T11:59:00Z", "count": 3})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["recorded"], 1);
    }
}

/// Appends `count` posts stamped inside the minute starting at `minute_ms` to a dat file
/// (ASCII fields are valid Shift_JIS; the board writes Japan time).
fn append_posts(path: &std::path::Path, minute_ms: i64, count: u32) {
    append_posts_saying(path, minute_ms, count, "post");
}

/// Same as [`append_posts`] with a chosen body, encoded in Shift_JIS as boards write it.
fn append_posts_saying(path: &std::path::Path, minute_ms: i64, count: u32, body: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in 0..count {
        let at_ms = minute_ms + 1_000 + i64::from(i) * (55_000 / i64::from(count.max(1)));
        let jst = jiff::Timestamp::from_millisecond(at_ms + 9 * 3_600_000).unwrap();
        let text = jst.strftime("%Y/%m/%d(Mon) %H:%M:%S.00").to_string();
        let line = format!("名無しさん<>sage<>{text} ID:abc<>{body} {i}<>thread\n");
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&line);
        assert!(!unmappable);
        file.write_all(&bytes).unwrap();
    }
}

/// A signals setup polling three dat threads in `dir` (`ours.dat`, `peer-a.dat`, `peer-b.dat`)
/// every 5 s, in one group `5ch`.
fn board_config(dir: &std::path::Path) -> String {
    let mut config = String::from("poll_interval_s = 5\n");
    for (stream, role) in [("ours", "ours"), ("peer-a", "peer"), ("peer-b", "peer")] {
        let file = dir.join(format!("{stream}.dat"));
        config.push_str(&format!(
            "[[streams]]\nname = \"5ch/{stream}\"\nrole = \"{role}\"\ngroups = [\"5ch\"]\n\
             source = {{ kind = \"dat\", file = \"{}\" }}\n",
            file.display()
        ));
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_board_threads_open_an_incident_when_ours_alone_doubles() {
    let boards = tempfile::tempdir().unwrap();
    let path = |name: &str| boards.path().join(format!("{name}.dat"));
    let config = board_config(boards.path());
    let c = start(Some(&config), JournalOptions::default()).await;
    // Minute `m` of posts, then the desk's loop 15 s after it ended (past the 10 s settling).
    let start_ms = c.clock.now_ms();
    let minute = |m: i64, ours: u32, peers: u32| {
        let minute_ms = start_ms + m * 60_000;
        append_posts(&path("ours"), minute_ms, ours);
        append_posts(&path("peer-a"), minute_ms, peers);
        append_posts(&path("peer-b"), minute_ms, peers);
        c.clock.set_ms(minute_ms + 75_000);
    };
    for m in 0..150 {
        minute(m, 10, 20);
        c.tick().await;
    }
    assert!(c.incidents().await.is_empty());
    let mut minutes_to_incident = None;
    for n in 1..=10 {
        minute(149 + n, 20, 20);
        c.tick().await;
        if !c.incidents().await.is_empty() {
            minutes_to_incident = Some(n);
            break;
        }
    }
    let n = minutes_to_incident.expect("no incident after 10 minutes of doubled posts");
    assert!(n <= 5, "{n} minutes");
    let incidents = c.incidents().await;
    assert!(
        incidents[0]["title"].as_str().unwrap().contains("5ch/ours"),
        "{incidents:?}"
    );
    let (_, text) = c.metrics(&c.desk_token).await;
    assert_eq!(
        metric(&text, "fxdesk_signals_polls_failed_total"),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_on_our_board_thread_open_an_incident_within_three_minutes() {
    let boards = tempfile::tempdir().unwrap();
    let path = |name: &str| boards.path().join(format!("{name}.dat"));
    // No [outage_words] section: every stream is polled, so the group is watched by default.
    let config = board_config(boards.path());
    let c = start(Some(&config), JournalOptions::default()).await;
    let start_ms = c.clock.now_ms();
    let minute = |m: i64, complaints: u32| {
        let minute_ms = start_ms + m * 60_000;
        append_posts_saying(&path("ours"), minute_ms, 6, "ドル円どうよ");
        if complaints > 0 {
            append_posts_saying(
                &path("ours"),
                minute_ms,
                complaints,
                "鯖落ち？ログインできない",
            );
        }
        append_posts_saying(&path("peer-a"), minute_ms, 8, "ポジポジ病");
        append_posts_saying(&path("peer-b"), minute_ms, 5, "利確した");
        c.clock.set_ms(minute_ms + 75_000);
    };
    for m in 0..150 {
        minute(m, 0);
        c.tick().await;
    }
    assert!(c.incidents().await.is_empty());
    // A quiet thread doubles (6 to 12 posts a minute), the new posts complain.
    let mut minutes_to_incident = None;
    for n in 1..=10 {
        minute(149 + n, 6);
        c.tick().await;
        if !c.incidents().await.is_empty() {
            minutes_to_incident = Some(n);
            break;
        }
    }
    let n = minutes_to_incident.expect("no incident after 10 minutes of complaints");
    assert!(n <= 3, "{n} minutes");
    let incidents = c.incidents().await;
    let title = incidents[0]["title"].as_str().unwrap();
    assert!(
        title.contains("5ch/ours posts naming an outage"),
        "{incidents:?}"
    );
    let (_, text) = c.metrics(&c.desk_token).await;
    assert!(
        text.contains("fxdesk_signals_score{group=\"5ch#outage-words\"}"),
        "{text}"
    );
    assert_eq!(
        metric(&text, "fxdesk_signals_polls_failed_total"),
        Some(0.0),
        "{text}"
    );
}
