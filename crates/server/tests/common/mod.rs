//! Helpers for the server tests: a loopback receiver that records notifications, an engine
//! stand-in a test can stop, temporary data directories, and a small HTTP client.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fxdesk_desk::{Clock, HealthRecorder, ManualClock};

/// 2026-11-23 12:00:00 UTC, a Monday (FX market open).
pub const MONDAY_NOON_MS: i64 = 1_795_435_200_000;

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let (random, _) = fxdesk_desk::auth::new_token();
        let path = std::env::temp_dir().join(format!("fxdesk-server-test-{}", &random[4..20]));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it.
#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    pub received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            base_url: format!("http://{addr}"),
            received,
        }
    }

    pub fn all(&self) -> Vec<serde_json::Value> {
        self.received.lock().unwrap().clone()
    }
}

/// A thread that beats into a [`HealthRecorder`] at the manual clock's time until stopped.
pub struct RunningEngine {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    beat_at_ms: Arc<Mutex<i64>>,
}

impl RunningEngine {
    pub fn start(recorder: Arc<HealthRecorder>, clock: Arc<ManualClock>) -> RunningEngine {
        let stop = Arc::new(AtomicBool::new(false));
        let beat_at_ms = Arc::new(Mutex::new(i64::MIN));
        let thread = {
            let (stop, beat_at_ms) = (stop.clone(), beat_at_ms.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let now = clock.now_ms();
                    recorder.record_heartbeat(now);
                    recorder.record_quote("USDJPY", now).unwrap();
                    *beat_at_ms.lock().unwrap() = now;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            })
        };
        RunningEngine {
            stop,
            thread: Some(thread),
            beat_at_ms,
        }
    }

    pub fn wait_for_beat(&self, at_ms: i64) {
        for _ in 0..2_000 {
            if *self.beat_at_ms.lock().unwrap() >= at_ms {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("engine thread did not beat at {at_ms}");
    }

    pub fn stop(mut self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let last = *self.beat_at_ms.lock().unwrap();
        last
    }
}

impl Drop for RunningEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A JSON client for the desk API under test.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (u16, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let (status, text) = self.call(reqwest::Method::GET, path, token, None).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self
            .call(reqwest::Method::POST, path, token, Some(body.to_string()))
            .await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/login",
                None,
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}
