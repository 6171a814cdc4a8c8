//! Shared test helpers: real SQLite files and real PostgreSQL schemas, a loopback HTTP
//! receiver that records what it gets, an engine stand-in that a test can stop, and a tiny
//! SMTP sink.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fxdesk_desk::{Clock, HealthRecorder, ManualClock, Store};
use rand::RngCore;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// 2026-11-23 12:00:00 UTC, a Monday (FX market open).
pub const MONDAY_NOON_MS: i64 = 1_795_435_200_000;

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("fxdesk-desk-test-{}", random_hex(8)));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// What a fresh store leaves behind: a temporary directory or a PostgreSQL schema.
pub struct StoreGuard {
    _dir: Option<TempDir>,
    pg_schema: Option<(String, String)>,
}

impl StoreGuard {
    /// Runs SQL straight against the store's database, behind the desk's back (for tampering).
    pub async fn execute_raw(&self, sql: &str) {
        use sqlx::Connection;
        if let Some((url, schema)) = &self.pg_schema {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(&format!("SET search_path TO {schema}"))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        } else if let Some(dir) = &self._dir {
            let url = format!("sqlite://{}", dir.0.join("desk.sqlite").display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }

    /// Drops the PostgreSQL schema (a failed test leaves it behind for inspection).
    pub async fn cleanup(self) {
        if let Some((url, schema)) = &self.pg_schema {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A fresh store: a new SQLite file, or a new schema in the PostgreSQL at FXDESK_TEST_PG_URL.
pub async fn fresh_store(backend: TestBackend) -> (Store, StoreGuard) {
    match backend {
        TestBackend::Sqlite => {
            let dir = TempDir::new();
            let store = Store::open_sqlite(&dir.0.join("desk.sqlite"))
                .await
                .unwrap();
            (
                store,
                StoreGuard {
                    _dir: Some(dir),
                    pg_schema: None,
                },
            )
        }
        TestBackend::Postgres => {
            let url = std::env::var("FXDESK_TEST_PG_URL").expect(
                "FXDESK_TEST_PG_URL must point at a PostgreSQL database for this test \
                 (e.g. postgres://postgres@127.0.0.1:5432/test)",
            );
            let schema = format!("desk_test_{}", random_hex(6));
            let store = Store::connect_in_schema(&url, Some(&schema)).await.unwrap();
            (
                store,
                StoreGuard {
                    _dir: None,
                    pg_schema: Some((url, schema)),
                },
            )
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A real HTTP server on 127.0.0.1 that records every POST; the first `fail_first` requests
/// to `/flaky` get a 500.
#[derive(Clone)]
pub struct Receiver {
    pub base_url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub flaky_failures_left: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        use axum::extract::{Path, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;

        #[derive(Clone)]
        struct AppState {
            received: Arc<Mutex<Vec<Received>>>,
            flaky: Arc<AtomicUsize>,
        }
        async fn record(
            State(state): State<AppState>,
            Path(path): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> StatusCode {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            state.received.lock().unwrap().push(Received {
                path: path.clone(),
                authorization: header("authorization"),
                content_type: header("content-type"),
                body,
            });
            if path == "flaky"
                && state
                    .flaky
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
            if path == "broken" {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            StatusCode::OK
        }
        let received = Arc::new(Mutex::new(Vec::new()));
        let flaky = Arc::new(AtomicUsize::new(fail_first));
        let app = axum::Router::new()
            .route("/{path}", post(record))
            .with_state(AppState {
                received: received.clone(),
                flaky: flaky.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            base_url: format!("http://{addr}"),
            received,
            flaky_failures_left: flaky,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    pub fn on(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// An engine stand-in: a thread that beats and quotes into a [`HealthRecorder`] at the manual
/// clock's time until stopped. The desk sees it only through the `EngineHealth` trait.
pub struct RunningEngine {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub beats_at_ms: Arc<Mutex<i64>>,
}

impl RunningEngine {
    pub fn start(recorder: Arc<HealthRecorder>, clock: Arc<ManualClock>) -> RunningEngine {
        let stop = Arc::new(AtomicBool::new(false));
        let beats_at_ms = Arc::new(Mutex::new(i64::MIN));
        let thread = {
            let (stop, beats_at_ms) = (stop.clone(), beats_at_ms.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let now = clock.now_ms();
                    recorder.record_heartbeat(now);
                    recorder.record_quote("USDJPY", now).unwrap();
                    recorder.record_quote("EURUSD", now).unwrap();
                    recorder.record_order_ack(now, 800);
                    recorder.record_journal_fsync(now, 2_000);
                    *beats_at_ms.lock().unwrap() = now;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            })
        };
        RunningEngine {
            stop,
            thread: Some(thread),
            beats_at_ms,
        }
    }

    /// Waits (real time, bounded) until the engine has beaten at or after `at_ms`.
    pub fn wait_for_beat(&self, at_ms: i64) {
        for _ in 0..2_000 {
            if *self.beats_at_ms.lock().unwrap() >= at_ms {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("engine thread did not beat at {at_ms}");
    }

    /// Stops the engine; returns the time of its last heartbeat.
    pub fn stop(mut self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let last = *self.beats_at_ms.lock().unwrap();
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

/// A minimal SMTP server on 127.0.0.1 that accepts every message and keeps its DATA.
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut in_data = false;
                    let mut data = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                store.lock().unwrap().push(std::mem::take(&mut data));
                                let _ = write.write_all(b"250 queued\r\n").await;
                            } else {
                                data.push_str(&line);
                                data.push('\n');
                            }
                            continue;
                        }
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "HELO" => b"250 sink\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { port, messages }
    }
}
