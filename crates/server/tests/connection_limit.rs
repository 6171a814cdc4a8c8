//! The listener holds at most its limit of connections; the next one is served only once a
//! connection closes.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use fxdesk_server::trading::listener::LimitedListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(LimitedListener::new(listener, 1), router).await });

    let holder = TcpStream::connect(addr).await.unwrap();
    // Let the server accept the holder first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buffer)).await;
    assert!(early.is_err(), "served beyond the connection limit");

    drop(holder);
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
}
