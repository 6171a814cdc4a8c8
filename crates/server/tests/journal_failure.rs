//! A journal failure stops the sequencer: the failed request gets 503 `journal_failed`, later
//! ones 503 `sequencer_stopped`, `/readyz` turns 503; a restart recovers every acknowledged order.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::time::Duration;

use fxdesk_journal::JournalOptions;
use fxdesk_server::trading::{start, ServeOptions};
use reqwest::{Method, StatusCode};
use serde_json::json;
use trading_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_group_commit_stops_trading_until_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
        options.admin_token = Some(ADMIN.to_owned());
        options.rollover = false;
        options.journal = JournalOptions {
            segment_bytes_max: fxdesk_journal::MIN_SEGMENT_BYTES,
            ..JournalOptions::default()
        };
        options
    };
    let server = start(options()).await.unwrap();
    server.wait_ready(Duration::from_secs(10)).await.unwrap();
    let t = TestServer {
        base: format!("http://{}", server.addr()),
        server,
        dir: tempfile::tempdir().unwrap(),
        client: reqwest::Client::new(),
    };
    let (account, token) = t.customer("100000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;

    // The next segment cannot be created: a directory sits where its temp file must go (this
    // fails even for root), so the group commit that needs a new segment fails.
    let journal = dir.path().join("journal");
    for seq in 1..2_000u64 {
        std::fs::create_dir(journal.join(format!("{seq:020}.seg.tmp"))).unwrap();
    }
    let mut acked = Vec::new();
    let mut failure = None;
    for n in 0..2_000 {
        let (status, body) = t
            .send(
                Method::POST,
                "/v1/orders",
                Some(&token),
                Some(json!({"client_order_id": format!("o-{n}"), "order": limit("buy", 1_000, "150.000")})),
            )
            .await;
        if status == StatusCode::CREATED {
            acked.push(body["order_id"].as_u64().unwrap());
            if acked.len() == 900 {
                // Stay below the account's working-order limit.
                for order in acked.drain(..800) {
                    let (status, _) = t
                        .send(
                            Method::DELETE,
                            &format!("/v1/orders/{order}"),
                            Some(&token),
                            None,
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK);
                }
            }
            continue;
        }
        failure = Some((status, body));
        break;
    }
    let (status, body) = failure.expect("the journal never needed a new segment");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "journal_failed", "{body}");
    let (status, body) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "sequencer_stopped", "{body}");
    let (status, body) = t.send(Method::GET, "/readyz", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("sequencer stopped"),
        "{body}"
    );
    t.server.shutdown().await.unwrap();

    // Clear the obstacle and restart: every acknowledged order is back.
    for seq in 1..2_000u64 {
        std::fs::remove_dir(journal.join(format!("{seq:020}.seg.tmp"))).unwrap();
    }
    // Give the stopped sequencer's thread a moment to close the journal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server = start(options()).await.unwrap();
    server.wait_ready(Duration::from_secs(10)).await.unwrap();
    let client = reqwest::Client::new();
    for order in acked {
        let response = client
            .get(format!("http://{}/v1/orders/{order}", server.addr()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "order {order} lost");
    }
}
