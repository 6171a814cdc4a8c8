//! Roles and bad input: who may do what, and that every refused request leaves the journal as
//! it was.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use reqwest::{Method, StatusCode};
use serde_json::json;
use trading_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_and_customers_see_only_their_account() {
    let t = start_server().await;
    let (alice, alice_token) = t.customer("1000000").await;
    let (bob, bob_token) = t.customer("1000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    let (status, bob_order) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&bob_token),
            Some(json!({"order": limit("buy", 1_000, "150.000")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob_order}");
    let bob_order = bob_order["order_id"].as_u64().unwrap();
    let (seq, hash) = t.engine_state().await;

    // No token, a wrong token, a malformed header: 401.
    for token in [None, Some("fxd_not-a-token")] {
        let (status, body) = t
            .send(Method::GET, &format!("/v1/accounts/{alice}"), token, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let response = t
        .client
        .get(format!("{}/v1/quotes", t.base))
        .header("authorization", format!("Basic {alice_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Alice cannot see or touch Bob's account, orders: answered as if they did not exist.
    let bob_paths = [
        format!("/v1/accounts/{bob}"),
        format!("/v1/accounts/{bob}/positions"),
        format!("/v1/accounts/{bob}/orders"),
        format!("/v1/orders/{bob_order}"),
    ];
    for path in &bob_paths {
        let (status, body) = t.send(Method::GET, path, Some(&alice_token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let (unknown_status, _) = t
            .send(
                Method::GET,
                &path.replace(&bob.to_string(), "999"),
                Some(&alice_token),
                None,
            )
            .await;
        assert_eq!(unknown_status, StatusCode::NOT_FOUND);
    }
    let (status, _) = t
        .send(
            Method::DELETE,
            &format!("/v1/orders/{bob_order}"),
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t
        .send(
            Method::PATCH,
            &format!("/v1/orders/{bob_order}"),
            Some(&alice_token),
            Some(json!({"price": "151.000"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&alice_token),
            Some(json!({"account_id": bob, "order": limit("buy", 1_000, "150.000")})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Customers cannot do admin or feed work; the feed cannot trade or read accounts.
    let (status, _) = t
        .send(
            Method::POST,
            &format!("/v1/accounts/{alice}/deposits"),
            Some(&alice_token),
            Some(json!({"amount": "1000"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .send(
            Method::POST,
            "/v1/accounts",
            Some(&alice_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .send(
            Method::POST,
            "/v1/quotes",
            Some(&alice_token),
            Some(json!({"instrument": "USD/JPY", "bid": "1.000", "ask": "1.001"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&feed),
            Some(json!({"account_id": alice, "order": market("buy", 1_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .send(
            Method::GET,
            &format!("/v1/accounts/{alice}"),
            Some(&feed),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t
        .send(Method::GET, "/v1/engine/state", Some(&alice_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Nothing of the above reached the journal.
    assert_eq!(t.engine_state().await, (seq, hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_journals_nothing() {
    let t = start_server().await;
    let (alice, token) = t.customer("1000000").await;
    let (seq, hash) = t.engine_state().await;
    let journal = t.dir.path().join("journal");
    let journal_bytes = || -> u64 {
        std::fs::read_dir(&journal)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let bytes_before = journal_bytes();

    let cases: Vec<(Method, String, Vec<u8>, StatusCode, &str)> = vec![
        (Method::POST, "/v1/orders".into(), b"{not json".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        (Method::POST, "/v1/orders".into(), b"".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": 1000, "type": "market"}, "colour": "red"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": "many", "type": "market"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": -5, "type": "market"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "up", "qty": 1000, "type": "market"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "XAU/USD", "side": "buy", "qty": 1000, "type": "market"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "unknown_instrument"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": 1000, "type": "limit", "price": "156.1234"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_price"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": 1000, "type": "limit"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "missing_field"),
        (Method::POST, "/v1/orders".into(), br#"{"order": {"instrument": "USD/JPY", "side": "buy", "qty": 0, "type": "market"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_qty"),
        (Method::POST, "/v1/orders".into(), format!(r#"{{"client_order_id": "{}", "order": {{"instrument": "USD/JPY", "side": "buy", "qty": 1000, "type": "market"}}}}"#, "x".repeat(65)).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "client_order_id_invalid"),
        (Method::POST, "/v1/orders".into(), vec![b' '; 70 * 1024], StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
        (Method::PATCH, "/v1/orders/abc".into(), b"{}".to_vec(), StatusCode::BAD_REQUEST, "invalid_id"),
        (Method::PATCH, "/v1/orders/424242".into(), br#"{"price": "150.000"}"#.to_vec(), StatusCode::NOT_FOUND, "unknown_order"),
        (Method::DELETE, "/v1/orders/18446744073709551615".into(), vec![], StatusCode::NOT_FOUND, "unknown_order"),
        (Method::DELETE, "/v1/orders/18446744073709551616".into(), vec![], StatusCode::BAD_REQUEST, "invalid_id"),
        (Method::POST, "/v1/positions/77/close".into(), vec![], StatusCode::NOT_FOUND, "unknown_position"),
        (Method::GET, "/v1/accounts/31337".into(), vec![], StatusCode::NOT_FOUND, "unknown_account"),
        (Method::GET, "/v1/nothing-here".into(), vec![], StatusCode::NOT_FOUND, "no_such_endpoint"),
        (Method::PUT, "/v1/orders".into(), vec![], StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, path, body, expected, code) in cases {
        let (status, answer) = t.raw(method.clone(), &path, &token, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // Admin-only refusals of bad input.
    let deposits = format!("/v1/accounts/{alice}/deposits");
    let admin_cases: Vec<(&str, serde_json::Value, StatusCode, &str)> = vec![
        (
            "/v1/accounts/31337/deposits",
            json!({"amount": "100"}),
            StatusCode::NOT_FOUND,
            "unknown_account",
        ),
        (
            &deposits,
            json!({"amount": "-100"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            &deposits,
            json!({"amount": "1.5"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
        ),
        (
            &deposits,
            json!({"amount": 100}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "/v1/accounts",
            json!({"currency": "XXX"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_currency",
        ),
        (
            "/v1/accounts",
            json!({"group_id": 99}),
            StatusCode::NOT_FOUND,
            "unknown_group",
        ),
        (
            "/v1/quotes",
            json!({"instrument": "USD/JPY", "bid": "156.2", "ask": "156.1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "crossed_quote",
        ),
        (
            "/v1/tokens",
            json!({"role": "customer", "account_id": 31337}),
            StatusCode::NOT_FOUND,
            "unknown_account",
        ),
        (
            "/v1/tokens",
            json!({"role": "root"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (path, body, expected, code) in admin_cases {
        let (status, answer) = t.send(Method::POST, path, Some(ADMIN), Some(body)).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}: {answer}");
    }

    assert_eq!(
        t.engine_state().await,
        (seq, hash),
        "a refused request changed the state"
    );
    assert_eq!(
        journal_bytes(),
        bytes_before,
        "a refused request reached the journal"
    );
}
