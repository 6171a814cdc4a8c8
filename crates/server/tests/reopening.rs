//! Reopening over real HTTP: a restart on a non-empty journal starts halted (quotes flow, nothing
//! triggers, new orders are refused with `halted`) until an admin resumes; the price-jump guard
//! holds a spike, discards it when the market comes back, and accepts a confirmed new level.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::path::Path;
use std::time::Duration;

use fxdesk_server::trading::{start, ServeOptions};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use trading_common::*;

async fn start_on(dir: tempfile::TempDir, start_trading: bool) -> TestServer {
    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.rollover = false;
    options.start_trading = start_trading;
    let server = start(options).await.unwrap();
    server.wait_ready(Duration::from_secs(10)).await.unwrap();
    let base = format!("http://{}", server.addr());
    TestServer {
        server,
        dir,
        base,
        client: Client::new(),
    }
}

async fn restart(t: TestServer, start_trading: bool) -> TestServer {
    let TestServer { server, dir, .. } = t;
    server.shutdown().await.unwrap();
    // Let the sequencer thread close the journal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    start_on(dir, start_trading).await
}

async fn post_quote(t: &TestServer, feed: &str, bid: &str, ask: &str) -> (StatusCode, Value) {
    t.send(
        Method::POST,
        "/v1/quotes",
        Some(feed),
        Some(json!({"instrument": "USD/JPY", "bid": bid, "ask": ask})),
    )
    .await
}

async fn positions(t: &TestServer, account: u64) -> Vec<Value> {
    let (status, body) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}/positions"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["positions"].as_array().unwrap().clone()
}

async fn halted(t: &TestServer) -> bool {
    let (status, body) = t
        .send(Method::GET, "/v1/admin/trading", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["halted"].as_bool().unwrap()
}

async fn metrics(t: &TestServer) -> String {
    let response = t
        .client
        .get(format!("{}/metrics", t.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

fn fresh_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_starts_halted_until_an_admin_resumes() {
    let t = start_on(fresh_dir(), false).await;
    // A fresh start (empty journal) trades at once.
    assert!(!halted(&t).await);
    let (account, customer) = t.customer("1000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    let (status, placed) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": limit("buy", 10_000, "156.000")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["status"], "working");
    let order = placed["order_id"].as_u64().unwrap();

    let t = restart(t, false).await;
    assert!(halted(&t).await);
    assert!(metrics(&t).await.contains("fxdesk_trading_halted 1"));

    // Quotes flow, but the limit the new ask reaches does not fill.
    let (status, body) = post_quote(&t, &feed, "155.990", "155.995").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, quotes) = t.send(Method::GET, "/v1/quotes", Some(ADMIN), None).await;
    assert_eq!(quotes["quotes"][0]["ask"], "155.995");
    assert!(positions(&t, account).await.is_empty());
    let (status, body) = t
        .send(
            Method::GET,
            &format!("/v1/orders/{order}"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // New orders are refused with `halted`.
    let (status, body) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": market("buy", 10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "halted");

    // Only an admin resumes.
    let (status, _) = t
        .send(Method::POST, "/v1/admin/resume", Some(&customer), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(halted(&t).await);
    let (status, body) = t
        .send(Method::POST, "/v1/admin/resume", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["halted"], false);
    assert!(metrics(&t).await.contains("fxdesk_trading_halted 0"));

    // At reopening the limit fills at the current ask; new orders are taken again.
    let open = positions(&t, account).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["open_price"], "155.995");
    let (status, body) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": market("buy", 10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The journal is not empty: the next restart halts again.
    let t = restart(t, false).await;
    assert!(halted(&t).await);
    // A resume that is the journal's last command (e.g. a backfill applied while the server was
    // down) carries over the restart.
    let (status, _) = t
        .send(Method::POST, "/v1/admin/resume", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = restart(t, false).await;
    assert!(!halted(&t).await, "the last command was a resume");
    // Anything after the resume (a quote) means the restart halts again ...
    let (status, _) = post_quote(&t, &feed, "155.980", "155.985").await;
    assert_eq!(status, StatusCode::CREATED);
    let t = restart(t, true).await;
    // ... unless the operator starts trading at once.
    assert!(!halted(&t).await, "--start-trading skips the halt");
    let (status, _) = post_quote(&t, &feed, "155.970", "155.975").await;
    assert_eq!(status, StatusCode::CREATED);
    let t = restart(t, false).await;
    assert!(halted(&t).await);
    // A halt already in the journal stays, even with --start-trading.
    let t = restart(t, true).await;
    assert!(halted(&t).await, "a journaled halt stays until resumed");
    assert_journal_replays_to_live_state(&t, t.dir.path()).await;
}

async fn assert_journal_replays_to_live_state(t: &TestServer, dir: &Path) {
    use fxdesk_engine::{Engine, EngineConfig};
    use fxdesk_journal::{state_at, At};
    let (seq, hash) = t.engine_state().await;
    let replayed = state_at::<Engine>(&dir.join("journal"), At::Seq(seq), || {
        Engine::new(EngineConfig::default()).unwrap()
    })
    .unwrap();
    assert_eq!(format!("{:016x}", replayed.state.state_hash()), hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_jump_guard_holds_discards_and_confirms() {
    let t = start_server().await;
    let (account, customer) = t.customer("1000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    let (status, placed) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": limit("buy", 10_000, "155.000")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");

    // A 500-pip spike down: held (202), not applied, the limit does not fill.
    let (status, body) = post_quote(&t, &feed, "151.120", "151.125").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["held"], true);
    assert_eq!(body["jump_pips"], 500);
    let (_, quotes) = t.send(Method::GET, "/v1/quotes", Some(ADMIN), None).await;
    assert_eq!(quotes["quotes"][0]["bid"], "156.120");
    assert!(positions(&t, account).await.is_empty());
    let (status, guard) = t
        .send(Method::GET, "/v1/admin/price-guard", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{guard}");
    assert_eq!(guard["held_now"], 1);
    assert_eq!(guard["flags"][0]["outcome"], "held");
    assert_eq!(guard["flags"][0]["bid"], "151.120");
    assert_eq!(guard["flags"][0]["last_good_bid"], "156.120");
    let (status, _) = t
        .send(Method::GET, "/v1/admin/price-guard", Some(&customer), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The market is back: applied, the spike discarded, still no fill.
    let (status, body) = post_quote(&t, &feed, "156.130", "156.135").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(positions(&t, account).await.is_empty());
    let (_, guard) = t
        .send(Method::GET, "/v1/admin/price-guard", Some(ADMIN), None)
        .await;
    assert_eq!(guard["flags"][0]["outcome"], "discarded");

    // A real move: three quotes at the new level; the third is applied and fills the limit.
    for (bid, ask) in [("154.900", "154.905"), ("154.910", "154.915")] {
        let (status, body) = post_quote(&t, &feed, bid, ask).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body) = post_quote(&t, &feed, "154.920", "154.925").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let open = positions(&t, account).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["open_price"], "154.925");
    let (_, guard) = t
        .send(Method::GET, "/v1/admin/price-guard", Some(ADMIN), None)
        .await;
    let outcomes: Vec<&str> = guard["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["discarded", "confirmed", "confirmed"]);
    let text = metrics(&t).await;
    assert!(
        text.contains("fxdesk_price_guard_quotes_total{instrument=\"USD/JPY\",outcome=\"held\"} 3"),
        "{text}"
    );
    assert!(text.contains(
        "fxdesk_price_guard_quotes_total{instrument=\"USD/JPY\",outcome=\"discarded\"} 1"
    ));
}

async fn guard_view(t: &TestServer) -> Value {
    let (status, guard) = t
        .send(Method::GET, "/v1/admin/price-guard", Some(ADMIN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{guard}");
    guard
}

fn outcomes(guard: &Value) -> Vec<String> {
    guard["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_marks_a_confirmed_jump_off_market_and_the_flags_survive_a_restart() {
    let t = start_on(fresh_dir(), true).await;
    let feed = t.feed_token().await;
    let (_, customer) = t.customer("1000000").await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    // A confirmed jump (flags 1 and 2 held, the third quote applies it); the market stays.
    for (bid, ask) in [("154.900", "154.905"), ("154.910", "154.915")] {
        let (status, body) = post_quote(&t, &feed, bid, ask).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    for (bid, ask) in [("154.920", "154.925"), ("154.930", "154.935")] {
        let (status, body) = post_quote(&t, &feed, bid, ask).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let guard = guard_view(&t).await;
    assert_eq!(outcomes(&guard), vec!["confirmed", "confirmed"]);
    let from_ns = guard["flags"][0]["applied_from_ns"].as_i64().unwrap();
    let until_ns = from_ns + 3_600_000_000_000;
    let body = json!({"until_ns": until_ns, "operator": "alice", "reason": "feed glitch"});
    let path = "/v1/admin/price-guard/flags/1/off-market";

    // No token, a customer's, the feed's: refused, nothing marked.
    let (status, _) = t.send(Method::POST, path, None, Some(body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for token in [&customer, &feed] {
        let (status, answer) = t
            .send(Method::POST, path, Some(token), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    }
    // Unknown flag, bad bodies.
    let (status, answer) = t
        .send(
            Method::POST,
            "/v1/admin/price-guard/flags/999/off-market",
            Some(ADMIN),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"]["code"], "unknown_flag");
    for bad in [
        json!({"until_ns": until_ns, "operator": "alice"}),
        json!({"until_ns": from_ns, "operator": "alice", "reason": "x"}),
        json!({"until_ns": until_ns, "operator": "", "reason": "x"}),
        json!({"until_ns": "soon", "operator": "alice", "reason": "x"}),
    ] {
        let (status, answer) = t.send(Method::POST, path, Some(ADMIN), Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    }
    assert_eq!(
        outcomes(&guard_view(&t).await),
        vec!["confirmed", "confirmed"]
    );

    // The admin marks it: both flags of the level, one span.
    let (status, answer) = t
        .send(Method::POST, path, Some(ADMIN), Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["flags"], json!([1, 2]));
    assert_eq!(answer["from_ns"], from_ns);
    assert_eq!(
        outcomes(&guard_view(&t).await),
        vec!["off_market", "off_market"]
    );
    let (status, answer) = t.send(Method::POST, path, Some(ADMIN), Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // Restart: the flags are listed again, the file holds the span for the backfill.
    let t = restart(t, true).await;
    assert_eq!(
        outcomes(&guard_view(&t).await),
        vec!["off_market", "off_market"]
    );
    let file =
        fxdesk_backfill::guard_flags::read(&fxdesk_backfill::guard_flags::path_in(t.dir.path()))
            .unwrap()
            .unwrap();
    assert_eq!(file.spans.len(), 1);
    assert_eq!(file.spans[0].flags, vec![1, 2]);
    assert!(matches!(
        &file.spans[0].by,
        fxdesk_backfill::guard_flags::MarkedBy::Operator { user, .. } if user == "alice"
    ));

    // After the restart, a jump the market comes back from is recorded by the guard itself;
    // flag ids continue after the restored ones.
    let feed = t.feed_token().await;
    for (bid, ask) in [("150.000", "150.005"), ("150.010", "150.015")] {
        let (status, body) = post_quote(&t, &feed, bid, ask).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body) = post_quote(&t, &feed, "150.020", "150.025").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Back at the level before the jump: applied at once, not held.
    let (status, body) = post_quote(&t, &feed, "154.940", "154.945").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let guard = guard_view(&t).await;
    assert_eq!(
        outcomes(&guard),
        vec!["off_market", "off_market", "reverted", "reverted"]
    );
    assert_eq!(guard["flags"][2]["id"], 3);
    let file =
        fxdesk_backfill::guard_flags::read(&fxdesk_backfill::guard_flags::path_in(t.dir.path()))
            .unwrap()
            .unwrap();
    assert_eq!(file.spans.len(), 2);
    assert_eq!(
        file.spans[1].by,
        fxdesk_backfill::guard_flags::MarkedBy::Reverted
    );
}
