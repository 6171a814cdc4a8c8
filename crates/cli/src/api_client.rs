//! A small client of the trading API over real HTTP, for the crash drill and the benchmark.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// The answer of one request: status and JSON body (a JSON string for non-JSON text).
pub type Answer = (StatusCode, Value);

#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    pub client: Client,
}

impl ApiClient {
    pub fn new(base: String, connections: usize) -> anyhow::Result<ApiClient> {
        let client = Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(ApiClient { base, client })
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Sends and insists on `expected`.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self
            .send(method.clone(), path, token, body)
            .await
            .with_context(|| format!("{method} {path}"))?;
        if status != expected {
            bail!("{method} {path}: expected {expected}, got {status}: {answer}");
        }
        Ok(answer)
    }

    /// Polls `/readyz` until ready.
    pub async fn wait_ready(&self, token: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok((StatusCode::OK, _)) = self.send(Method::GET, "/readyz", token, None).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("server at {} not ready within {timeout:?}", self.base);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens an account (JPY) with a deposit; returns its id and customer token.
    pub async fn open_account(
        &self,
        admin: &str,
        mode: &str,
        deposit: &str,
    ) -> anyhow::Result<(u64, String)> {
        self.open_account_in(admin, "JPY", mode, deposit).await
    }

    /// Opens an account in `currency` with a deposit; returns its id and customer token.
    pub async fn open_account_in(
        &self,
        admin: &str,
        currency: &str,
        mode: &str,
        deposit: &str,
    ) -> anyhow::Result<(u64, String)> {
        let opened = self
            .expect(
                Method::POST,
                "/v1/accounts",
                admin,
                Some(&json!({"currency": currency, "mode": mode})),
                StatusCode::CREATED,
            )
            .await?;
        let id = opened["account_id"]
            .as_u64()
            .context("account_id missing")?;
        let token = opened["token"]
            .as_str()
            .context("token missing")?
            .to_owned();
        self.expect(
            Method::POST,
            &format!("/v1/accounts/{id}/deposits"),
            admin,
            Some(&json!({"amount": deposit})),
            StatusCode::CREATED,
        )
        .await?;
        Ok((id, token))
    }
}
