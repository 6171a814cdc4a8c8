//! A small mutation fuzzer over real HTTP: valid request bodies with random bytes changed,
//! removed or inserted. Whatever a client sends, the server answers below 500 and keeps working.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod trading_common;

use reqwest::{Method, StatusCode};
use trading_common::*;

struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] = b"{}[]\":,.-+0123456789eE \\ntrufalsx\xff\x00";

fn mutate(seed: &[u8], random: &mut Random) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(3) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes[at] = ALPHABET[random.below(ALPHABET.len())],
            _ => bytes.insert(at, ALPHABET[random.below(ALPHABET.len())]),
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_bodies_never_cause_a_server_error() {
    let t = start_server().await;
    let (account, token) = t.customer("100000000").await;
    let feed = t.feed_token().await;
    t.quote(&feed, "USD/JPY", "156.120", "156.125").await;
    let (_, placed) = t
        .send(
            Method::POST,
            "/v1/orders",
            Some(&token),
            Some(serde_json::json!({"order": limit("buy", 1_000, "150.000")})),
        )
        .await;
    let order = placed["order_id"].as_u64().unwrap();
    let seeds: Vec<(Method, String, &str, String)> = vec![
        (Method::POST, "/v1/orders".into(), &token, r#"{"client_order_id":"f-1","order":{"instrument":"USD/JPY","side":"buy","qty":1000,"type":"limit","price":"150.000","time_in_force":"gtd","expire_time":"2030-01-01T00:00:00Z"},"oco":{"instrument":"USD/JPY","side":"buy","qty":1000,"type":"stop","price":"160.000"}}"#.into()),
        (Method::PATCH, format!("/v1/orders/{order}"), &token, r#"{"qty":2000,"price":"149.500","time_in_force":"gtc"}"#.into()),
        (Method::POST, "/v1/quotes".into(), &feed, r#"{"instrument":"USD/JPY","bid":"156.130","ask":"156.135","time":"2026-01-01T00:00:00Z"}"#.into()),
        (Method::POST, format!("/v1/accounts/{account}/deposits"), ADMIN, r#"{"amount":"1000"}"#.into()),
        (Method::POST, "/v1/positions/1/close".into(), &token, r#"{"qty":1000,"expected_price":"156.120","slippage_ticks_max":5}"#.into()),
    ];
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut statuses = std::collections::BTreeMap::new();
    for round in 0..600 {
        let (method, path, token, seed) = &seeds[round % seeds.len()];
        let body = mutate(seed.as_bytes(), &mut random);
        let (status, answer) = t.raw(method.clone(), path, token, body.clone()).await;
        assert!(
            status.as_u16() < 500,
            "{method} {path} {:?} -> {status} {answer}",
            String::from_utf8_lossy(&body)
        );
        if !status.is_success() {
            assert!(answer["error"]["code"].is_string(), "{answer}");
        }
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    // The fuzzer reached refusals of several kinds (400, 404, 422), not one trivial path.
    assert!(
        statuses.keys().filter(|s| **s >= 400).count() >= 3,
        "{statuses:?}"
    );
    let (status, _) = t.send(Method::GET, "/readyz", Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
}
