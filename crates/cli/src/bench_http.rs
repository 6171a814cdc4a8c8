//! `fxdesk bench http --json`: orders per second through `POST /v1/orders` over loopback HTTP.
//!
//! Starts the trading server in this process on a temporary data directory (a real journal with
//! fdatasync on that disk), opens one netting account per client, and lets each client send
//! market orders (alternating buy and sell, so positions net out and nothing fills up) for the
//! given time. Every answer counted is a durable acknowledgement. Prints throughput and the
//! latency distribution as JSON.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use fxdesk_server::trading::{start, ServeOptions};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api_client::ApiClient;

/// Most concurrent clients.
pub const CLIENTS_MAX: usize = 1_024;
/// Longest run.
pub const DURATION_S_MAX: u64 = 3_600;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds of measured load (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration_s: u64,
    /// Print JSON (the only output format; kept for the documented command line).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(1..=CLIENTS_MAX).contains(&args.clients) {
        bail!("--clients must be within 1..={CLIENTS_MAX}");
    }
    if !(1..=DURATION_S_MAX).contains(&args.duration_s) {
        bail!("--duration-s must be within 1..={DURATION_S_MAX}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(bench(args))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn bench(args: Args) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir().context("cannot create a temp dir")?;
    let admin = "bench-admin-token-0123456789".to_owned();
    let mut options = ServeOptions::new(dir.path(), "127.0.0.1:0");
    options.admin_token = Some(admin.clone());
    options.rollover = false;
    let server = start(options).await?;
    server
        .wait_ready(Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;
    let api = ApiClient::new(format!("http://{}", server.addr()), args.clients)?;
    api.expect(
        Method::POST,
        "/v1/quotes",
        &admin,
        Some(&json!({"instrument": "USD/JPY", "bid": "156.120", "ask": "156.125"})),
        StatusCode::CREATED,
    )
    .await?;
    let mut tokens = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        tokens.push(api.open_account(&admin, "netting", "1000000000").await?.1);
    }

    let warm_up = Duration::from_secs(1);
    let measured = Duration::from_secs(args.duration_s);
    let start_at = Instant::now();
    let mut tasks = Vec::with_capacity(args.clients);
    for token in tokens {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut buy = true;
            loop {
                let now = Instant::now();
                if now.duration_since(start_at) >= warm_up + measured {
                    break;
                }
                let side = if buy { "buy" } else { "sell" };
                buy = !buy;
                let body = json!({"order": {"instrument": "USD/JPY", "side": side, "qty": 1000, "type": "market"}});
                let result = api.send(Method::POST, "/v1/orders", &token, Some(&body)).await;
                let elapsed = now.elapsed();
                if now.duration_since(start_at) < warm_up {
                    continue;
                }
                match result {
                    Ok((StatusCode::CREATED, _)) => {
                        latencies_us.push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                    }
                    _ => errors += 1,
                }
            }
            (latencies_us, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await?;
        latencies_us.append(&mut l);
        errors += e;
    }
    let elapsed_s = (start_at.elapsed() - warm_up).as_secs_f64();
    latencies_us.sort_unstable();
    let percentile = |p: f64| -> u32 {
        if latencies_us.is_empty() {
            return 0;
        }
        let index = ((latencies_us.len() as f64 * p).ceil() as usize).clamp(1, latencies_us.len());
        latencies_us[index - 1]
    };
    let metrics = api
        .expect(Method::GET, "/metrics", &admin, None, StatusCode::OK)
        .await?;
    let batches = metrics
        .as_str()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("fxdesk_fsync_latency_seconds_count "))
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    server.shutdown().await?;
    Ok(json!({
        "bench": "http",
        "endpoint": "POST /v1/orders (market, durable ack)",
        "clients": args.clients,
        "duration_s": elapsed_s,
        "orders": latencies_us.len(),
        "errors": errors,
        "orders_per_s": (latencies_us.len() as f64 / elapsed_s).round(),
        "latency_us": {
            "p50": percentile(0.50),
            "p99": percentile(0.99),
            "max": latencies_us.last().copied().unwrap_or(0),
        },
        "sequencer_batches": batches,
    }))
}
