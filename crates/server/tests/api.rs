//! The trading API end to end over real HTTP: accounts, quotes, orders, idempotency, amend,
//! cancel, close, and that the live state hash equals a fresh replay of the journal.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use fxdesk_engine::{Engine, EngineConfig};
use fxdesk_journal::{state_at, At};
use reqwest::{Method, StatusCode};
use serde_json::json;
use trading_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_flow_end_to_end() {
    let t = start_server().await;
    let (account, customer) = t.customer("1000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;

    let (status, quotes) = t
        .send(Method::GET, "/v1/quotes", Some(&customer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quotes["quotes"][0]["instrument"], "USD/JPY");
    assert_eq!(quotes["quotes"][0]["bid"], "156.120");
    assert_eq!(quotes["quotes"][0]["ask"], "156.125");

    // A market buy fills at the ask and opens a position.
    let (status, placed) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"client_order_id": "m-1", "order": market("buy", 10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["status"], "filled", "{placed}");
    assert_eq!(placed["fill_price"], "156.125");
    assert_eq!(placed["filled_qty"], 10_000);
    assert_eq!(placed["order"]["client_order_id"], "m-1");
    // Sent again (a retry after a lost answer): the same answer, not a second order, even
    // though the order no longer works.
    let (status, again) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"client_order_id": "m-1", "order": market("buy", 10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again, placed);
    let (_, positions) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}/positions"),
            Some(&customer),
            None,
        )
        .await;
    let position = &positions["positions"][0];
    assert_eq!(position["open_price"], "156.125");
    assert_eq!(position["qty"], 10_000);
    assert_eq!(position["side"], "buy");

    // Account: balance, equity at the bid, margin at 4 % of notional.
    let (status, view) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["balance"], "1000000");
    assert_eq!(view["positions"], 1);
    assert!(view["equity"].is_string(), "{view}");
    assert!(view["required_margin"].is_string(), "{view}");
    assert!(view["maintenance_ratio_pct"].is_string(), "{view}");

    // A resting limit order, and the same client order id again: the same answer, one order.
    let body = json!({"client_order_id": "l-1", "order": limit("buy", 5_000, "150.000")});
    let (status, first) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "working");
    assert_eq!(first["order"]["price"], "150.000");
    let (seq_before, _) = t.engine_state().await;
    let (status, again) = t
        .send(Method::POST, "/v1/orders", Some(&customer), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first);
    let (_, orders) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}/orders"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1);
    // The duplicate was a journaled command (the engine answered it), but made no order.
    assert_eq!(t.engine_state().await.0, seq_before + 1);

    // Amend the price, then cancel.
    let order_id = first["order_id"].as_u64().unwrap();
    let (status, amended) = t
        .send(
            Method::PATCH,
            &format!("/v1/orders/{order_id}"),
            Some(&customer),
            Some(json!({"price": "151.5"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{amended}");
    assert_eq!(amended["price"], "151.500");
    let (status, cancelled) = t
        .send(
            Method::DELETE,
            &format!("/v1/orders/{order_id}"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let (status, gone) = t
        .send(
            Method::GET,
            &format!("/v1/orders/{order_id}"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");

    // An engine refusal is a 422 with the engine's code.
    let (status, refused) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": market("buy", 5_000_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "insufficient_margin");

    // Close the position at the bid.
    t.quote(&feed, "USD/JPY", "156.220", "156.225").await;
    let position_id = position["position_id"].as_u64().unwrap();
    let (status, closed) = t
        .send(
            Method::POST,
            &format!("/v1/positions/{position_id}/close"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["price"], "156.220");
    assert_eq!(closed["qty_remaining"], 0);
    // (156.220 - 156.125) * 10,000 = 950 yen.
    assert_eq!(closed["realised_pnl"], "950");
    assert_eq!(closed["balance"], "1000950");

    // The live state equals a fresh replay of the journal.
    let (seq, hash) = t.engine_state().await;
    let replayed = state_at(&t.dir.path().join("journal"), At::Seq(seq), || {
        Engine::new(EngineConfig::default()).unwrap()
    })
    .unwrap();
    assert_eq!(format!("{:016x}", replayed.state.state_hash()), hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_need_a_token_and_report_figures() {
    let t = start_server().await;
    let (_, customer) = t.customer("100000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "EUR/USD", "1.08000", "1.08010").await;
    let (status, _) = t.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, ready) = t.send(Method::GET, "/readyz", Some(&customer), None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    let (status, _) = t.send(Method::GET, "/metrics", Some(&customer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, text) = t.send(Method::GET, "/metrics", Some(&feed), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    assert!(text.contains("fxdesk_commands_total 3"), "{text}");
    assert!(
        text.contains("fxdesk_ack_latency_seconds_count 3"),
        "{text}"
    );
    assert!(
        text.contains("fxdesk_fsync_latency_seconds_count"),
        "{text}"
    );
    assert!(
        text.contains("fxdesk_quote_age_seconds{instrument=\"EUR/USD\"}"),
        "{text}"
    );
    assert!(!text.contains("instrument=\"USD/JPY\""), "{text}");
    assert!(text.contains("fxdesk_ready 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_fires_and_withdrawals_respect_free_margin() {
    let t = start_server().await;
    let (account, customer) = t.customer("1000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    let (status, _) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&customer),
            Some(json!({"order": market("buy", 10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, positions) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}/positions"),
            Some(&customer),
            None,
        )
        .await;
    let position = positions["positions"][0]["position_id"].as_u64().unwrap();

    // Take profit at 156.300 (a sell, triggered by the bid).
    let (status, protected) = t
        .send(
            Method::PUT,
            &format!("/v1/positions/{position}/protection"),
            Some(&customer),
            Some(json!({"take_profit": "156.300", "stop_loss": "155.000"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{protected}");
    assert!(protected["take_profit_order_id"].is_u64(), "{protected}");
    assert!(protected["stop_loss_order_id"].is_u64(), "{protected}");

    // Required margin is 4 % of 10,000 x 156.12 = 62,448 yen: withdrawing most of the balance
    // is refused by the engine, a small amount is fine.
    let withdrawals = format!("/v1/accounts/{account}/withdrawals");
    let (status, refused) = t
        .send(
            Method::POST,
            &withdrawals,
            Some(ADMIN),
            Some(json!({"amount": "990000"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "insufficient_free_margin");
    let (status, after) = t
        .send(
            Method::POST,
            &withdrawals,
            Some(ADMIN),
            Some(json!({"amount": "1000"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    assert_eq!(after["balance"], "999000");
    let (status, _) = t
        .send(
            Method::POST,
            &withdrawals,
            Some(&customer),
            Some(json!({"amount": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The bid reaches the take profit: the position closes at 156.300.
    t.quote(&feed, "USD/JPY", "156.300", "156.305").await;
    let (_, positions) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}/positions"),
            Some(&customer),
            None,
        )
        .await;
    assert_eq!(positions["positions"], json!([]), "{positions}");
    let (_, view) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{account}"),
            Some(&customer),
            None,
        )
        .await;
    // (156.300 - 156.125) x 10,000 = 1,750 yen on 999,000.
    assert_eq!(view["balance"], "1000750", "{view}");
}
