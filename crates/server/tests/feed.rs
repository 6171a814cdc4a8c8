//! The replay feed: `--feed FILE --speed X` posts a tick file's quotes through the sequencer.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::path::Path;
use std::time::Duration;

use fxdesk_server::trading::{start, ServeOptions};
use serde_json::Value;
use trading_common::ADMIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_ticks_become_the_current_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.rollover = false;
    options.feed =
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../market/data/ticks_sample.csv"));
    // About 300 hours of ticks in about 0.15 s.
    options.speed = 7_200_000.0;
    let server = start(options).await.unwrap();
    server.wait_ready(Duration::from_secs(10)).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/quotes", server.addr());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let quotes: Value = client
            .get(&url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let quotes = quotes["quotes"].as_array().unwrap().clone();
        let last_of = |symbol: &str| {
            quotes
                .iter()
                .find(|q| q["instrument"] == symbol)
                .map(|q| (q["bid"].clone(), q["time"].clone()))
        };
        // The last rows of the sample file for each pair.
        let done = last_of("EUR/USD") == Some(("1.09108".into(), "2017-05-01T16:00:00Z".into()))
            && last_of("USD/JPY") == Some(("108.077".into(), "2017-04-23T12:47:00Z".into()));
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay incomplete: {quotes:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_tick_file_with_bad_rows_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("bad.csv");
    std::fs::write(
        &feed,
        "time,instrument,bid,ask\n1,USD/JPY,156.1,156.2\n2,USD/JPY,oops,156.2\n",
    )
    .unwrap();
    let mut options = ServeOptions::new(dir.path().join("data"), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.feed = Some(feed);
    let error = start(options).await.err().unwrap().to_string();
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("1 bad rows"), "{error}");
}
