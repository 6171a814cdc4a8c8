//! `fxdesk record --archive DIR [--feed FILE --speed X] [--listen ADDR]`: the price recorder.
//!
//! A process of its own, independent of the engine, so the market's prices are kept while the
//! trading server is down. It appends every tick it receives to the price archive
//! (`fxdesk_market::archive`), handing buffered lines to the OS every `--flush-ms` (they then
//! survive the recorder being killed) and fdatasyncing every `--sync-ms` (they then survive a
//! power loss).
//!
//! Sources: `--feed FILE` replays our tick CSV at `--speed` (the same file `fxdesk serve --feed`
//! takes); `--listen ADDR` accepts `POST /v1/quotes` with the trading server's feed body
//! (`{"instrument": "USD/JPY", "bid": "150.123", "ask": "150.129", "time": "..."}`; without
//! `time` the recorder's clock stamps it), with `Authorization: Bearer $FXDESK_RECORD_TOKEN`
//! when that variable is set. Both may run at once. With only `--feed`, the recorder exits
//! after the last tick; otherwise it runs until SIGINT/SIGTERM, then syncs and exits.
//!
//! Restarting on the same feed continues where the archive stopped: ticks older than an
//! instrument's last archived tick, or already archived, are skipped (and counted).
//!
//! Prints `recording to DIR` (and `listening on http://ADDR`) on stdout once ready, and a
//! summary line `recorded N ticks (skipped M)` at the end.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use clap::Args as ClapArgs;
use fxdesk_market::archive::{Appended, ArchiveWriter};
use fxdesk_market::csv::parse_time_ns;
use fxdesk_market::{parse_ticks, read_tick_file, Catalog, ReplaySchedule, Tick};
use fxdesk_server::trading::dto::QuoteBody;
use serde_json::{json, Value};

/// Ticks waiting for the archive writer; a feed waits for room, HTTP answers 503 when full.
pub const QUEUE_TICKS_MAX: usize = 65_536;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The price archive's directory (created if missing).
    #[arg(long)]
    pub archive: PathBuf,
    /// A tick file (our CSV: time,instrument,bid,ask) to record.
    #[arg(long)]
    pub feed: Option<PathBuf>,
    /// Replay speed of --feed: 1 is the recording's own pace.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Accept POST /v1/quotes on this address.
    #[arg(long)]
    pub listen: Option<String>,
    /// Hand buffered ticks to the OS at least this often (ms).
    #[arg(long, default_value_t = 100)]
    pub flush_ms: u64,
    /// fdatasync the archive at least this often (ms).
    #[arg(long, default_value_t = 1000)]
    pub sync_ms: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    skipped: AtomicU64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.feed.is_none() && args.listen.is_none() {
        bail!("give --feed FILE, --listen ADDR, or both");
    }
    if !(1..=60_000).contains(&args.flush_ms) || !(1..=600_000).contains(&args.sync_ms) {
        bail!("--flush-ms must be within 1..=60000 and --sync-ms within 1..=600000");
    }
    let catalog = Catalog::defaults();
    let feed = match &args.feed {
        Some(path) => {
            let file = read_tick_file(path, |s| catalog.lookup(s))?;
            Some(ReplaySchedule::new(file.ticks, args.speed)?)
        }
        None => None,
    };
    let writer = ArchiveWriter::open(&args.archive, catalog.clone())?;
    for (path, bytes) in &writer.torn_tails_truncated {
        eprintln!("cut a torn last line ({bytes} bytes) of {}", path.display());
    }
    let counters = Arc::new(Counters::default());
    let (sender, receiver) = sync_channel::<Tick>(QUEUE_TICKS_MAX);
    let flush_every = Duration::from_millis(args.flush_ms);
    let sync_every = Duration::from_millis(args.sync_ms);
    let writer_counters = Arc::clone(&counters);
    let writer_thread = std::thread::Builder::new()
        .name("fxdesk-record".to_owned())
        .spawn(move || write_loop(writer, receiver, flush_every, sync_every, &writer_counters))
        .context("cannot start the archive writer")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        let mut stdout = std::io::stdout();
        writeln!(stdout, "recording to {}", args.archive.display())?;
        let listener = match &args.listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
                Some(listener)
            }
            None => None,
        };
        stdout.flush()?;
        let http = listener.map(|listener| {
            let state = HttpState {
                sender: sender.clone(),
                catalog: Arc::new(catalog.clone()),
                token: std::env::var("FXDESK_RECORD_TOKEN").ok(),
            };
            let router = Router::new()
                .route("/v1/quotes", post(post_quote))
                .with_state(state);
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(wait_for_signal())
                    .await
            })
        });
        if let Some(schedule) = feed {
            let feed_sender = sender.clone();
            let replay = async move {
                let started = tokio::time::Instant::now();
                for (offset, tick) in schedule {
                    tokio::time::sleep_until(started + offset).await;
                    let sender = feed_sender.clone();
                    // Waits for room rather than dropping a tick.
                    let sent = tokio::task::spawn_blocking(move || sender.send(tick)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        bail!("the archive writer stopped");
                    }
                }
                anyhow::Ok(())
            };
            if http.is_some() {
                replay.await?;
            } else {
                // SIGINT/SIGTERM stop the replay; what was received is still synced below.
                tokio::select! {
                    replayed = replay => replayed?,
                    () = wait_for_signal() => {}
                }
            }
        }
        if let Some(http) = http {
            http.await
                .context("HTTP task failed")?
                .context("HTTP server failed")?;
        }
        anyhow::Ok(())
    });
    drop(sender);
    let written = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the archive writer panicked"))?;
    outcome?;
    written?;
    println!(
        "recorded {} ticks (skipped {} already archived or older)",
        counters.written.load(Ordering::Relaxed),
        counters.skipped.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Appends ticks as they come; flushes and syncs on time; syncs and closes at the end.
fn write_loop(
    mut writer: ArchiveWriter,
    receiver: Receiver<Tick>,
    flush_every: Duration,
    sync_every: Duration,
    counters: &Counters,
) -> anyhow::Result<()> {
    let mut last_flush = Instant::now();
    let mut last_sync = Instant::now();
    let mut dirty = false;
    loop {
        match receiver.recv_timeout(flush_every) {
            Ok(tick) => match writer.append(&tick)? {
                Appended::Written => {
                    counters.written.fetch_add(1, Ordering::Relaxed);
                    dirty = true;
                }
                Appended::Duplicate | Appended::OutOfOrder { .. } => {
                    counters.skipped.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty && last_flush.elapsed() >= flush_every {
            writer.flush()?;
            last_flush = Instant::now();
            if last_sync.elapsed() >= sync_every {
                writer.sync()?;
                last_sync = Instant::now();
                dirty = false;
            }
        }
    }
    writer.close()?;
    Ok(())
}

#[derive(Clone)]
struct HttpState {
    sender: SyncSender<Tick>,
    catalog: Arc<Catalog>,
    token: Option<String>,
}

type HttpAnswer = (StatusCode, Json<Value>);

fn problem(status: StatusCode, code: &str, message: String) -> HttpAnswer {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
}

async fn post_quote(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> HttpAnswer {
    if let Some(token) = &state.token {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return problem(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required".to_owned(),
            );
        }
    }
    let body: QuoteBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("body is not a quote: {error}"),
            )
        }
    };
    let unprocessable =
        |code: &str, message: String| problem(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    let Some((instrument, spec)) = state.catalog.by_symbol(&body.instrument) else {
        return unprocessable(
            "unknown_instrument",
            format!("unknown instrument {:?}", body.instrument),
        );
    };
    let bid = match parse_ticks(&body.bid, spec.price_decimals) {
        Ok(bid) => bid,
        Err(error) => return unprocessable("invalid_price", format!("bid: {error}")),
    };
    let ask = match parse_ticks(&body.ask, spec.price_decimals) {
        Ok(ask) => ask,
        Err(error) => return unprocessable("invalid_price", format!("ask: {error}")),
    };
    if bid > ask {
        return unprocessable(
            "crossed_quote",
            format!("bid {} is above ask {}", body.bid, body.ask),
        );
    }
    let time_ns = match body.time.as_deref().map(parse_time_ns) {
        Some(Ok(time)) => time,
        Some(Err(error)) => return unprocessable("invalid_time", format!("time: {error}")),
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .unwrap_or(0),
    };
    let tick = Tick {
        time_ns,
        instrument,
        bid,
        ask,
    };
    match state.sender.try_send(tick) {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({"instrument": body.instrument, "queued": true, "time_ns": time_ns})),
        ),
        Err(_) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("more than {QUEUE_TICKS_MAX} ticks wait for the archive; retry shortly"),
        ),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
