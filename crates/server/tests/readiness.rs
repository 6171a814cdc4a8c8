//! `/readyz` is 503 while the journal is recovered, and trading endpoints answer 503 `not_ready`;
//! both turn ready once recovery is done, with the recovered state.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::time::Duration;

use fxdesk_engine::{Command, CommandKind, Engine, EngineConfig, InstrumentId};
use fxdesk_journal::{Journal, JournalOptions};
use fxdesk_server::trading::{start, ServeOptions};
use reqwest::StatusCode;
use serde_json::Value;
use trading_common::ADMIN;

const RECORDS: i64 = 300_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = || Engine::new(EngineConfig::default()).unwrap();
    let (journal, _) = Journal::<Engine>::open(
        &dir.path().join("journal"),
        JournalOptions::default(),
        fresh,
    )
    .unwrap();
    let mut last = None;
    for n in 0..RECORDS {
        let command = Command {
            time_ns: 1_000_000 + n,
            kind: CommandKind::Quote {
                instrument: InstrumentId(0),
                bid: 150_000 + n % 100,
                ask: 150_005 + n % 100,
                source_time_ns: 1_000_000 + n,
            },
        };
        last = Some(journal.submit(&command).unwrap());
    }
    last.unwrap().wait().unwrap();
    journal.close();

    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.rollover = false;
    let server = start(options).await.unwrap();
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("http://{}{path}", server.addr()))
            .bearer_auth(ADMIN)
            .send()
    };
    let response = get("/readyz").await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "recovering");
    let response = get("/v1/quotes").await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    let response = get("/healthz").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    server.wait_ready(Duration::from_secs(60)).await.unwrap();
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let state: Value = get("/v1/engine/state").await.unwrap().json().await.unwrap();
    // The recovered journal was not empty, so the server journaled a halt on top of it.
    assert_eq!(state["seq"], RECORDS + 1);
    let trading: Value = get("/v1/admin/trading")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(trading["halted"], true);
    let quotes: Value = get("/v1/quotes").await.unwrap().json().await.unwrap();
    let last_bid = 150_000 + (RECORDS - 1) % 100;
    assert_eq!(
        quotes["quotes"][0]["bid"],
        format!("150.{:03}", last_bid - 150_000)
    );
}
