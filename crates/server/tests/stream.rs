//! `WS /v1/stream`: a customer receives quotes and its own account's events, never another's.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use trading_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_carries_quotes_and_only_the_callers_own_events() {
    let t = start_server().await;
    let (alice, alice_token) = t.customer("1000000").await;
    let (_, bob_token) = t.customer("1000000").await;
    let feed = t.feed_token().await;

    let mut request = format!("ws://{}/v1/stream", t.server.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {alice_token}").parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // Without a token the upgrade is refused.
    let anonymous =
        tokio_tungstenite::connect_async(format!("ws://{}/v1/stream", t.server.addr())).await;
    assert!(anonymous.is_err());

    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    // Bob trades first, then Alice: Alice must see her fill and nothing of Bob's.
    for token in [&bob_token, &alice_token] {
        let (status, body) = t
            .send(
                Method::POST,
                "/v1/orders",
                Some(token),
                Some(json!({"order": market("sell", 2_000)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    let mut received = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(500), socket.next()).await
    {
        if let Message::Text(text) = message.unwrap() {
            received.push(serde_json::from_str::<Value>(&text).unwrap());
        }
        if received
            .iter()
            .any(|m| m["event"].get("PositionOpened").is_some())
        {
            break;
        }
    }
    assert_eq!(received[0]["type"], "quote", "{received:?}");
    assert_eq!(received[0]["instrument"], "USD/JPY");
    assert_eq!(received[0]["bid"], "156.120");
    let events: Vec<&Value> = received.iter().filter(|m| m["type"] == "event").collect();
    assert!(!events.is_empty(), "{received:?}");
    assert!(
        events.iter().all(|m| m["account_id"] == alice),
        "{received:?}"
    );
    let fill = events
        .iter()
        .map(|m| &m["event"])
        .find(|e| e["kind"] == "order_filled")
        .expect("alice's fill");
    assert_eq!(fill["price"], "156.120");
    assert_eq!(fill["instrument"], "USD/JPY");
    assert_eq!(fill["side"], "sell");
    assert_eq!(fill["qty"], 2_000);
}
