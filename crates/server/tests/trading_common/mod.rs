//! Shared helpers: a real server on 127.0.0.1:0 over a temp data dir, and a real HTTP client.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails
#![allow(dead_code)]

use std::time::Duration;

use fxdesk_server::trading::{start, RunningServer, ServeOptions};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub client: Client,
}

pub async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(ADMIN.to_owned());
    options.rollover = false;
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

impl TestServer {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Opens a JPY account with a deposit; returns (id, customer token).
    pub async fn customer(&self, deposit: &str) -> (u64, String) {
        let (status, body) = self
            .send(Method::POST, "/v1/accounts", Some(ADMIN), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["account_id"].as_u64().unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        let (status, body) = self
            .send(
                Method::POST,
                &format!("/v1/accounts/{id}/deposits"),
                Some(ADMIN),
                Some(json!({"amount": deposit})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (id, token)
    }

    pub async fn feed_token(&self) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/tokens",
                Some(ADMIN),
                Some(json!({"role": "feed"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn quote(&self, token: &str, instrument: &str, bid: &str, ask: &str) {
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/quotes",
                Some(token),
                Some(json!({"instrument": instrument, "bid": bid, "ask": ask})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// (seq, state hash) of the live engine.
    pub async fn engine_state(&self) -> (u64, String) {
        let (status, body) = self
            .send(Method::GET, "/v1/engine/state", Some(ADMIN), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["seq"].as_u64().unwrap(),
            body["state_hash"].as_str().unwrap().to_owned(),
        )
    }
}

pub fn limit(side: &str, qty: u64, price: &str) -> Value {
    json!({"instrument": "USD/JPY", "side": side, "qty": qty, "type": "limit", "price": price})
}

pub fn market(side: &str, qty: u64) -> Value {
    json!({"instrument": "USD/JPY", "side": side, "qty": qty, "type": "market"})
}
