//! `fxdesk demo`: the outage story, end to end, with real processes on localhost.
//!
//! The demo is the price feed: it replays a bundled slice of real market data into the trading
//! server and, like a broker's feed handler, into the price recorder as well. Simulated customers
//! open accounts and trade every order kind; then the engine is killed hard (SIGKILL) while the
//! recorder keeps recording. The incident desk (a separate process watching the trading port)
//! detects it, escalates through a local log channel, an operator acknowledges; the engine comes
//! back, the incident is resolved with its MTTD/MTTA/MTTR figures.
//!
//! The story is decided by the data and the seed, not by wall-clock timing: the kill happens
//! after a fixed number of ticks, and the restart after a fixed number more, so the same seed
//! gives the same orders, the same outage window and the same recorded prices. Only the desk's
//! timings (seconds to detect, when each escalation step fires) are real time.
//!
//! Escalation in the demo runs in seconds where the production policy says minutes ("down 5
//! minutes: call the support lead" fires after 5 s here); the policy is written to
//! `DATA_DIR/desk.toml` so it can be read.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use axum::routing::post;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_client::ApiClient;

/// The bundled slice of real market data (see crates/market/data/README.md).
const BUNDLED_TICKS: &str = include_str!("../../market/data/ticks_sample.csv");
/// Ticks replayed before the customers trade, so every pair has a price.
const WARM_UP_TICKS: usize = 4;
/// The engine dies after this many ticks...
const OUTAGE_STARTS_AT_TICK: usize = 60;
/// ...and stays down while this many more are recorded (about 9 hours of market time).
const OUTAGE_TICKS: usize = 32;
const ADMIN_PASSWORD: &str = "demo-admin-password";
const OPERATOR_PASSWORD: &str = "demo-operator-password";
const APPROVER_PASSWORD: &str = "demo-approver-password";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Market replay speed: 3600 plays an hour of market data per second.
    #[arg(long, default_value_t = 3600.0)]
    pub speed: f64,
    /// Seed of the simulated customers (same seed, same story).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the servers running after the story, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Where the journal, desk database and files go (default: a fresh temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of simulated customers.
    #[arg(long, default_value_t = 12)]
    pub customers: u32,
    /// Also write every step's outcome as JSON to this file (the demo test reads it).
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(story(args))
}

/// One line of the story: printed as it happens and kept for the summary.
struct Narrator {
    started: Instant,
    steps: Vec<Value>,
}

impl Narrator {
    fn say(&mut self, step: u32, text: &str) {
        println!(
            "[{:>6.1} s] {step}. {text}",
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    }

    fn done(&mut self, step: u32, name: &str, outcome: Value) {
        self.steps.push(json!({
            "step": step, "name": name,
            "at_s": self.started.elapsed().as_secs_f64(), "outcome": outcome,
        }));
    }
}

/// A child process that is killed when dropped, so a failed demo leaves nothing running.
struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    fn kill_hard(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .with_context(|| format!("cannot kill {}", self.name))?;
        self.child
            .wait()
            .context("waiting for the killed process")?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fxdesk <args>` and waits for the line that names its address.
fn spawn_fxdesk(
    name: &'static str,
    args: &[String],
    env: &[(&str, &str)],
    log: &Path,
    address_prefix: &str,
    address_on_stderr: bool,
) -> anyhow::Result<(Process, String)> {
    let exe = std::env::current_exe().context("cannot find the fxdesk binary")?;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(exe);
    command.args(args).stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    if address_on_stderr {
        command.stdout(log_file).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::piped()).stderr(log_file);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start fxdesk {name}"))?;
    let pipe: Box<dyn std::io::Read + Send> = if address_on_stderr {
        Box::new(child.stderr.take().context("no stderr")?)
    } else {
        Box::new(child.stdout.take().context("no stdout")?)
    };
    let mut process = Process { child, name };
    let mut lines = BufReader::new(pipe).lines();
    let mut said = Vec::new();
    let address = loop {
        let Some(line) = lines.next() else {
            let _ = process.child.kill();
            bail!(
                "fxdesk {name} stopped before it listened (log: {}): {}",
                log.display(),
                said.join(" | ")
            );
        };
        let line = line.context("reading the child's output")?;
        if let Some(at) = line.find(address_prefix) {
            break line[at + address_prefix.len()..].trim().to_owned();
        }
        if said.len() < 20 {
            said.push(line);
        }
    };
    // Keep draining the pipe so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((process, address))
}

/// One row of the bundled tick file, kept as text so prices stay exact.
#[derive(Clone)]
struct TickRow {
    time: String,
    time_ns: i64,
    instrument: String,
    bid: String,
    ask: String,
}

fn bundled_ticks() -> anyhow::Result<Vec<TickRow>> {
    let mut ticks = Vec::new();
    for (number, line) in BUNDLED_TICKS.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [time, instrument, bid, ask] = fields[..] else {
            bail!("bundled tick file line {}: expected 4 fields", number + 1);
        };
        let time_ns = fxdesk_market::csv::parse_time_ns(time)
            .map_err(|e| anyhow::anyhow!("bundled tick file line {}: {e}", number + 1))?;
        ticks.push(TickRow {
            time: time.to_owned(),
            time_ns,
            instrument: instrument.to_owned(),
            bid: bid.to_owned(),
            ask: ask.to_owned(),
        });
    }
    ensure!(
        ticks.len() > OUTAGE_STARTS_AT_TICK + OUTAGE_TICKS + 8,
        "the bundled tick file is too short for the story"
    );
    Ok(ticks)
}

/// The price recorder: a separate `fxdesk record` process the feed posts every tick to, which
/// keeps the price archive whether the engine is up or not.
struct Recorder {
    _process: Process,
    api: ApiClient,
    token: String,
    archive: PathBuf,
    recorded: usize,
    /// The last time stamped on a tick (UTC ns); times only go forward.
    last_ns: i64,
}

impl Recorder {
    fn start(archive: PathBuf, token: &str, log: &Path) -> anyhow::Result<Recorder> {
        let (process, base) = spawn_fxdesk(
            "record",
            &[
                "record".into(),
                "--archive".into(),
                archive.display().to_string(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--flush-ms".into(),
                "20".into(),
            ],
            &[("FXDESK_RECORD_TOKEN", token)],
            log,
            "listening on ",
            false,
        )?;
        Ok(Recorder {
            _process: process,
            api: ApiClient::new(base, 2)?,
            token: token.to_owned(),
            archive,
            recorded: 0,
            last_ns: 0,
        })
    }

    /// Records `tick` as the feed publishes it now; returns the time it carries (RFC 3339).
    async fn record(&mut self, tick: &TickRow) -> anyhow::Result<String> {
        let now_ns = jiff::Timestamp::now().as_nanosecond() as i64;
        self.last_ns = now_ns.max(self.last_ns + 1_000);
        let stamp = jiff::Timestamp::from_nanosecond(i128::from(self.last_ns))
            .context("clock out of range")?
            .to_string();
        let body =
            json!({"instrument": tick.instrument, "bid": tick.bid, "ask": tick.ask, "time": stamp});
        let (status, answer) = self
            .api
            .send(Method::POST, "/v1/quotes", &self.token, Some(&body))
            .await
            .context("the price recorder")?;
        ensure!(
            status.is_success(),
            "the price recorder refused a tick: {status} {answer}"
        );
        self.recorded += 1;
        Ok(stamp)
    }

    /// The archived ticks of `[from, to)` as our CSV (what `fxdesk backfill plan` reads).
    async fn export(&self, from: &str, to: &str, out: &Path) -> anyhow::Result<()> {
        // The recorder hands its buffer to the OS every 20 ms; give it that long.
        tokio::time::sleep(Duration::from_millis(100)).await;
        run_fxdesk(&[
            "market",
            "read",
            "--archive",
            &self.archive.display().to_string(),
            "--from",
            from,
            "--to",
            to,
            "--out-csv",
            &out.display().to_string(),
        ])?;
        Ok(())
    }
}

/// Replays ticks `range` at `speed`, to the recorder always and to the engine when `engine` is
/// given. Returns how many the engine accepted.
async fn replay(
    ticks: &[TickRow],
    range: std::ops::Range<usize>,
    speed: f64,
    recorder: &mut Recorder,
    engine: Option<(&ApiClient, &str)>,
) -> anyhow::Result<usize> {
    let Some(first) = ticks.get(range.start) else {
        return Ok(0);
    };
    let (origin_ns, started) = (first.time_ns, tokio::time::Instant::now());
    let mut accepted = 0;
    for tick in &ticks[range] {
        let due = Duration::from_secs_f64(((tick.time_ns - origin_ns) as f64 / 1e9) / speed);
        tokio::time::sleep_until(started + due).await;
        // The feed publishes history as if live: each price carries the time it is sent, so
        // the journal, the recorder and the backfill window share one clock.
        let stamp = recorder.record(tick).await?;
        if let Some((api, token)) = engine {
            let body = json!({"instrument": tick.instrument, "bid": tick.bid, "ask": tick.ask, "time": stamp});
            if let Ok((StatusCode::CREATED, _)) = api
                .send(Method::POST, "/v1/quotes", token, Some(&body))
                .await
            {
                accepted += 1;
            }
        }
    }
    Ok(accepted)
}

/// A small deterministic generator for the customers' choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// A price `pips` pips away from `price` (a decimal string), with the pair's decimals.
fn offset(price: &str, pips: i64, instrument: &str) -> String {
    let decimals = price.split('.').nth(1).map_or(0, str::len);
    let pip_decimals = if instrument.ends_with("JPY") { 2 } else { 4 };
    let scale = 10_i64.pow(decimals as u32);
    let ticks: i64 = price.replace('.', "").parse().unwrap_or(0);
    let moved = ticks + pips * 10_i64.pow((decimals as u32).saturating_sub(pip_decimals));
    format!(
        "{}.{:0width$}",
        moved / scale,
        moved % scale,
        width = decimals
    )
}

/// The order mix of one customer: every kind fxdesk takes, around the current price.
fn customer_orders(rng: &mut Rng, instrument: &str, bid: &str, ask: &str) -> Vec<(String, Value)> {
    let leg = |side: &str, kind: &str, price: Option<String>, extra: Value| {
        let mut leg = json!({"instrument": instrument, "side": side, "qty": 10_000, "type": kind});
        if let Some(price) = price {
            leg["price"] = json!(price);
        }
        if let (Some(leg), Some(extra)) = (leg.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                leg.insert(k.clone(), v.clone());
            }
        }
        leg
    };
    let near = 5 + rng.below(40) as i64;
    let far = 60 + rng.below(80) as i64;
    vec![
        (
            "market buy".into(),
            json!({"order": leg("buy", "market", None, json!({}))}),
        ),
        (
            "limit buy below the market".into(),
            json!({"order": leg("buy", "limit", Some(offset(ask, -near, instrument)), json!({}))}),
        ),
        (
            "stop sell below the market".into(),
            json!({"order": leg("sell", "stop", Some(offset(bid, -far, instrument)), json!({}))}),
        ),
        (
            "stop-limit buy above the market".into(),
            json!({"order": leg("buy", "stop_limit", Some(offset(ask, near, instrument)),
                json!({"limit_price": offset(ask, near + 10, instrument)}))}),
        ),
        (
            "trailing stop sell".into(),
            json!({"order": leg("sell", "trailing_stop", None, json!({"distance_ticks": 300 + rng.below(500)}))}),
        ),
        (
            "OCO: take profit above or stop below".into(),
            json!({"order": leg("sell", "limit", Some(offset(bid, far, instrument)), json!({})),
                   "oco": leg("sell", "stop", Some(offset(bid, -far, instrument)), json!({}))}),
        ),
        (
            "IFD: buy on a dip, then sell higher".into(),
            json!({"order": leg("buy", "limit", Some(offset(ask, -near, instrument)), json!({})),
                   "then": leg("sell", "limit", Some(offset(ask, near, instrument)), json!({}))}),
        ),
        (
            "IFO: buy on a dip, then take profit or stop out".into(),
            json!({"order": leg("buy", "limit", Some(offset(ask, -near, instrument)), json!({})),
                   "then": leg("sell", "limit", Some(offset(ask, far, instrument)), json!({})),
                   "then_oco": leg("sell", "stop", Some(offset(ask, -far - near, instrument)), json!({}))}),
        ),
    ]
}

fn desk_config(trading_addr: &str, notify_url: &str) -> String {
    // Aiko's shift starts now, so she is the one on call whatever the date.
    let rotation_start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let rotation_start = rotation_start.strftime("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"# Written by `fxdesk demo`. The production policy says minutes; the demo runs in seconds.
[engine]
enabled = false

[[probes]]
id = "trading-port"
component = "trading"
kind = "tcp"
target = "{trading_addr}"
interval_s = 1
timeout_ms = 500
retries = 1

[[people]]
id = "aiko"
name = "Aiko Sato (on call)"
phone = "+81-90-0000-0001"
email = "aiko@broker.example"
[[people]]
id = "ben"
name = "Ben Ito (next on call)"
phone = "+81-90-0000-0002"
email = "ben@broker.example"
[[people]]
id = "lead"
name = "Support lead"
phone = "+81-90-0000-0009"
email = "support-lead@broker.example"

[[schedules]]
id = "support"
rotation_start = "{rotation_start}"
shift_hours = 24
members = ["aiko", "ben"]

[[policies]]
id = "default"
components = []

[[policies.steps]]
when = "unacknowledged_for"
after_s = 0
notify = [{{ schedule = "support", level = 0 }}]
channels = ["log"]
instruction = "Outage detected: acknowledge and investigate"

[[policies.steps]]
when = "unacknowledged_for"
after_s = 3
notify = [{{ schedule = "support", level = 1 }}]
channels = ["log"]
instruction = "Not acknowledged in 3 minutes (demo: seconds): you are next on call"

[[policies.steps]]
when = "down_for"
after_s = 5
notify = [{{ person = "lead" }}]
channels = ["log"]
instruction = "Down 5 minutes (demo: seconds): call the support lead's mobile"

[[policies.steps]]
when = "down_for"
after_s = 10
notify = [{{ person = "lead" }}]
channels = ["log"]
instruction = "Down 10 minutes (demo: seconds): the support lead comes to the office"

[[channels]]
kind = "webhook"
id = "log"
url = "{notify_url}"
"#
    )
}

/// The local log channel: an HTTP receiver on loopback that prints each notification.
async fn start_log_channel(
) -> anyhow::Result<(String, Arc<Mutex<Vec<Value>>>, tokio::task::JoinHandle<()>)> {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/notify",
        post(move |axum::Json(payload): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                if let Ok(mut sink) = sink.lock() {
                    sink.push(payload);
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the log channel")?;
    let url = format!("http://{}/notify", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, received, task))
}

async fn desk_login(desk: &ApiClient, username: &str, password: &str) -> anyhow::Result<String> {
    let answer = desk
        .client
        .post(format!("{}/api/login", desk.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .context("logging in to the desk")?;
    ensure!(
        answer.status().is_success(),
        "desk login as {username}: {}",
        answer.status()
    );
    let body: Value = answer.json().await.context("desk login answer")?;
    Ok(body["token"]
        .as_str()
        .context("no token in the login answer")?
        .to_owned())
}

async fn trading_incident(desk: &ApiClient, token: &str) -> anyhow::Result<Option<Value>> {
    let (status, incidents) = desk
        .send(Method::GET, "/api/incidents", token, None)
        .await?;
    ensure!(status == StatusCode::OK, "listing incidents: {status}");
    Ok(incidents.as_array().and_then(|list| {
        list.iter()
            .find(|i| i["component"] == "trading" && i["state"] != "resolved")
            .cloned()
    }))
}

fn print_notifications(narrator: &mut Narrator, seen: &mut usize, received: &Mutex<Vec<Value>>) {
    let Ok(received) = received.lock() else {
        return;
    };
    for note in received.iter().skip(*seen) {
        let who: Vec<&str> = note["recipients"]
            .as_array()
            .map(|r| r.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        narrator.say(
            4,
            &format!(
                "escalation step {} ({} {} s) -> {}: {}",
                note["step"]["index"],
                note["step"]["when"].as_str().unwrap_or("?"),
                note["step"]["after_s"],
                who.join(", "),
                note["step"]["instruction"].as_str().unwrap_or("")
            ),
        );
    }
    *seen = received.len();
}

async fn story(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.speed.is_finite() && args.speed > 0.0,
        "--speed must be a positive number"
    );
    ensure!(
        (1..=500).contains(&args.customers),
        "--customers must be 1..=500"
    );
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("fxdesk-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut narrator = Narrator {
        started: Instant::now(),
        steps: Vec::new(),
    };
    let ticks = bundled_ticks()?;
    let admin_token = format!("demo-admin-token-{:016x}", args.seed);
    let engine_dir = data_dir.join("engine");
    let serve_args = |listen: &str| -> Vec<String> {
        vec![
            "serve".into(),
            // The demo's desk runs as its own process, so it outlives the engine it watches.
            "--no-desk".into(),
            "--no-rollover".into(),
            "--listen".into(),
            listen.into(),
            "--data-dir".into(),
            engine_dir.display().to_string(),
        ]
    };

    // 1. Start everything.
    narrator.say(1, &format!("data directory {}", data_dir.display()));
    let (mut serve, trading_base) = spawn_fxdesk(
        "serve",
        &serve_args("127.0.0.1:0"),
        &[("FXDESK_ADMIN_TOKEN", &admin_token)],
        &data_dir.join("serve-1.log"),
        "listening on ",
        false,
    )?;
    let trading = ApiClient::new(trading_base.clone(), 16)?;
    trading
        .wait_ready(&admin_token, Duration::from_secs(30))
        .await?;
    let trading_addr = trading_base.trim_start_matches("http://").to_owned();
    let (notify_url, notifications, _log_channel) = start_log_channel().await?;
    let desk_config_path = data_dir.join("desk.toml");
    std::fs::write(&desk_config_path, desk_config(&trading_addr, &notify_url))?;
    let desk_dir = data_dir.join("desk");
    let (_desk, desk_base) = spawn_fxdesk(
        "desk",
        &[
            "desk".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            desk_dir.display().to_string(),
            "--config".into(),
            desk_config_path.display().to_string(),
            "--bootstrap-admin".into(),
            "demo-admin".into(),
        ],
        &[(crate::desk::ADMIN_PASSWORD_ENV, ADMIN_PASSWORD)],
        &data_dir.join("desk.log"),
        "listening on ",
        true,
    )?;
    let desk = ApiClient::new(desk_base.clone(), 4)?;
    let desk_admin = desk_login(&desk, "demo-admin", ADMIN_PASSWORD).await?;
    desk.expect(
        Method::POST,
        "/api/users",
        &desk_admin,
        Some(&json!({"username": "aiko", "password": OPERATOR_PASSWORD, "role": "operator"})),
        StatusCode::OK,
    )
    .await?;
    for approver in ["lead", "ben"] {
        desk.expect(
            Method::POST,
            "/api/users",
            &desk_admin,
            Some(&json!({"username": approver, "password": APPROVER_PASSWORD, "role": "approver"})),
            StatusCode::OK,
        )
        .await?;
    }
    let operator = desk_login(&desk, "aiko", OPERATOR_PASSWORD).await?;
    let mut recorder = Recorder::start(
        data_dir.join("archive"),
        &admin_token,
        &data_dir.join("record.log"),
    )?;
    narrator.say(
        1,
        &format!(
            "trading API {trading_base}, incident desk {desk_base}, price recorder -> {}",
            recorder.archive.display()
        ),
    );
    narrator.done(
        1,
        "start",
        json!({"trading": trading_base, "desk": desk_base}),
    );

    // 2. The market and the customers.
    replay(
        &ticks,
        0..WARM_UP_TICKS,
        args.speed,
        &mut recorder,
        Some((&trading, &admin_token)),
    )
    .await?;
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (quotes_status, quotes) = trading
        .send(Method::GET, "/v1/quotes", &admin_token, None)
        .await?;
    ensure!(quotes_status == StatusCode::OK, "no quotes: {quotes}");
    let quote_list: Vec<Value> = quotes["quotes"].as_array().cloned().unwrap_or_default();
    ensure!(
        !quote_list.is_empty(),
        "no pair has a price after the warm-up"
    );
    let (mut placed, mut refused) = (0u32, 0u32);
    let mut order_kinds = std::collections::BTreeSet::new();
    let mut first_customer: Option<(String, String)> = None;
    for customer in 0..args.customers {
        let mode = if customer % 3 == 2 {
            "netting"
        } else {
            "hedging"
        };
        let quote = &quote_list[rng.below(quote_list.len() as u64) as usize];
        let (instrument, bid, ask) = (
            quote["instrument"].as_str().unwrap_or("USD/JPY"),
            quote["bid"].as_str().unwrap_or("0"),
            quote["ask"].as_str().unwrap_or("0"),
        );
        // The bundled data has EUR/USD and USD/JPY only, so EUR/USD traders hold USD accounts
        // (a JPY account would value EUR through EUR/JPY, which this slice does not quote).
        let (currency, deposit) = if instrument.ends_with("JPY") {
            ("JPY", "3000000")
        } else {
            ("USD", "30000")
        };
        let (account, token) = trading
            .open_account_in(&admin_token, currency, mode, deposit)
            .await?;
        if first_customer.is_none() {
            first_customer = Some((token.clone(), instrument.to_owned()));
        }
        for (n, (kind, mut body)) in customer_orders(&mut rng, instrument, bid, ask)
            .into_iter()
            .enumerate()
        {
            body["client_order_id"] = json!(format!("demo-{account}-{n}"));
            let (status, answer) = trading
                .send(Method::POST, "/v1/orders", &token, Some(&body))
                .await?;
            if status == StatusCode::CREATED {
                placed += 1;
                order_kinds.insert(kind);
            } else {
                refused += 1;
                tracing_refusal(&kind, status, &answer);
            }
        }
        // The position the market buy opened gets a take-profit and a stop-loss.
        let (_, positions) = trading
            .send(
                Method::GET,
                &format!("/v1/accounts/{account}/positions"),
                &token,
                None,
            )
            .await?;
        if let Some(position) = positions["positions"].get(0) {
            let open = position["open_price"].as_str().unwrap_or(ask);
            let pips = 30 + rng.below(50) as i64;
            let protection = json!({
                "take_profit": offset(open, pips, instrument),
                "stop_loss": offset(open, -pips, instrument),
            });
            let (status, answer) = trading
                .send(
                    Method::PUT,
                    &format!("/v1/positions/{}/protection", position["position_id"]),
                    &token,
                    Some(&protection),
                )
                .await?;
            if status == StatusCode::OK {
                placed += 2;
                order_kinds.insert("take-profit and stop-loss on a position".to_owned());
            } else {
                refused += 1;
                tracing_refusal("take-profit and stop-loss", status, &answer);
            }
        }
    }
    narrator.say(
        2,
        &format!(
            "{} customers placed {placed} orders of {} kinds ({refused} refused by the engine's checks); the market replays at {}x",
            args.customers,
            order_kinds.len(),
            args.speed
        ),
    );
    replay(
        &ticks,
        WARM_UP_TICKS..OUTAGE_STARTS_AT_TICK,
        args.speed,
        &mut recorder,
        Some((&trading, &admin_token)),
    )
    .await?;
    let (_, before) = trading
        .send(Method::GET, "/v1/engine/state", &admin_token, None)
        .await?;
    let working_before = count_working_orders(&trading, &admin_token, args.customers).await?;
    narrator.done(
        2,
        "customers",
        json!({"customers": args.customers, "orders_placed": placed, "orders_refused": refused,
               "order_kinds": order_kinds, "working_orders_before_outage": working_before}),
    );

    // 3. The outage: the engine dies hard; the recorder keeps recording.
    serve.kill_hard()?;
    let killed_at = Instant::now();
    let outage_from = jiff::Timestamp::now().to_string();
    narrator.say(
        3,
        &format!(
            "OUTAGE: the engine was killed (SIGKILL) at market time {}; the recorder keeps recording",
            ticks[OUTAGE_STARTS_AT_TICK - 1].time
        ),
    );
    let outage_range = OUTAGE_STARTS_AT_TICK..OUTAGE_STARTS_AT_TICK + OUTAGE_TICKS;
    let outage_ticks = outage_range.clone();
    let recorded_before = recorder.recorded;

    // 4. The desk detects it and escalates, while the ticks of the window are recorded.
    let mut seen_notes = 0;
    let mut incident: Option<Value> = None;
    let mut status_indicator_during = String::new();
    let mut acknowledged = false;
    {
        let replay_during_outage = replay(&ticks, outage_range, args.speed, &mut recorder, None);
        tokio::pin!(replay_during_outage);
        let mut replay_done = false;
        let deadline = killed_at + Duration::from_secs(60);
        loop {
            tokio::select! {
                done = &mut replay_during_outage, if !replay_done => { done?; replay_done = true; }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if incident.is_none() {
                if let Some(found) = trading_incident(&desk, &operator).await? {
                    narrator.say(
                        4,
                        &format!(
                            "the desk opened incident #{} \"{}\" {:.1} s after the kill",
                            found["id"],
                            found["title"].as_str().unwrap_or(""),
                            killed_at.elapsed().as_secs_f64()
                        ),
                    );
                    publish_notice(
                        &desk,
                        &operator,
                        &found["id"],
                        json!({"kind": "first", "next_update": "30 min"}),
                    )
                    .await?;
                    let (indicator, page_says) = status_page(&desk).await?;
                    narrator.say(
                        4,
                        &format!(
                            "the public status page {desk_base}/ turned {indicator} with the first notice (\"{page_says}\")"
                        ),
                    );
                    status_indicator_during = indicator;
                    incident = Some(found);
                }
            }
            print_notifications(&mut narrator, &mut seen_notes, &notifications);
            if let (Some(found), false) = (&incident, acknowledged) {
                // The on-call operator acknowledges after the second page (the one to the next person).
                if seen_notes >= 2 {
                    desk.expect(
                        Method::POST,
                        &format!("/api/incidents/{}/ack", found["id"]),
                        &operator,
                        Some(&json!({})),
                        StatusCode::OK,
                    )
                    .await?;
                    acknowledged = true;
                    narrator.say(4, "aiko acknowledged the incident (acknowledgement steps stop; the 'down for' steps go on)");
                }
            }
            let all_steps = seen_notes >= 4;
            if replay_done && acknowledged && all_steps {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the story stalled: incident {}, {} notifications, acknowledged {acknowledged}",
                    incident.is_some(),
                    seen_notes
                );
            }
        }
    }
    let incident = incident.context("no incident")?;
    narrator.done(
        3,
        "outage",
        json!({"ticks_recorded_while_down": recorder.recorded - recorded_before,
               "window": [ticks[outage_ticks.start].time, ticks[outage_ticks.end - 1].time]}),
    );
    let escalations: Vec<Value> = notifications
        .lock()
        .map(|n| {
            n.iter()
                .map(|note| json!({"when": note["step"]["when"], "after_s": note["step"]["after_s"]}))
                .collect()
        })
        .unwrap_or_default();
    narrator.done(
        4,
        "detection",
        json!({"incident_id": incident["id"],
               "detected_after_kill_s": incident_detect_seconds(&incident),
               "escalations": escalations, "acknowledged": acknowledged,
               "status_indicator": status_indicator_during}),
    );

    // 5. The engine comes back halted: recovery from the journal, nothing acknowledged lost,
    // nothing triggers and no order is taken until the backfill is applied.
    let outage_to = jiff::Timestamp::now().to_string();
    let (mut halted_serve, _) = spawn_fxdesk(
        "serve",
        &serve_args(&trading_addr),
        &[("FXDESK_ADMIN_TOKEN", &admin_token)],
        &data_dir.join("serve-2.log"),
        "listening on ",
        false,
    )?;
    trading
        .wait_ready(&admin_token, Duration::from_secs(60))
        .await?;
    let (_, after) = trading
        .send(Method::GET, "/v1/engine/state", &admin_token, None)
        .await?;
    let working_after = count_working_orders(&trading, &admin_token, args.customers).await?;
    ensure!(
        working_after == working_before,
        "working orders before the kill {working_before}, after recovery {working_after}"
    );
    let (customer_token, customer_instrument) = first_customer.context("no customer was opened")?;
    let probe_order = json!({"order": {"instrument": customer_instrument, "side": "buy",
                                       "qty": 10_000, "type": "market"}});
    let (halted_status, halted_answer) = trading
        .send(
            Method::POST,
            "/v1/orders",
            &customer_token,
            Some(&probe_order),
        )
        .await?;
    let halted_code = halted_answer["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    ensure!(
        halted_code == "halted",
        "the recovered engine should refuse orders with `halted`, got {halted_status} {halted_answer}"
    );
    narrator.say(
        5,
        &format!(
            "the engine is back HALTED: journal replayed to seq {} (the kill left it at {}), {working_after} working orders kept; a new order gets `{halted_code}`",
            after["seq"], before["seq"]
        ),
    );
    // The plan is applied with the engine stopped (it holds the journal); every acknowledged
    // command is already durable, so stopping it loses nothing.
    halted_serve.kill_hard()?;
    let policy_path = data_dir.join("backfill-policy.toml");
    std::fs::write(&policy_path, demo_policy())?;
    // Plans go where the desk's console looks for them (`DESK_DATA_DIR/backfill/`).
    let plans_dir = desk_dir.join("backfill");
    std::fs::create_dir_all(&plans_dir)?;
    let plan_name = "backfill-plan.json";
    let plan_path = plans_dir.join(plan_name);
    let plan_html = data_dir.join("backfill-plan.html");
    let engine_dir_text = engine_dir.display().to_string();
    let window_ticks = data_dir.join("outage-ticks.csv");
    recorder
        .export(&outage_from, &outage_to, &window_ticks)
        .await?;
    run_fxdesk(&[
        "backfill",
        "plan",
        "--data-dir",
        &engine_dir_text,
        "--from",
        &outage_from,
        "--to",
        &outage_to,
        "--ticks",
        &window_ticks.display().to_string(),
        "--policy",
        &policy_path.display().to_string(),
        "--out",
        &plan_path.display().to_string(),
        "--html",
        &plan_html.display().to_string(),
    ])?;
    let plan: Value =
        serde_json::from_slice(&std::fs::read(&plan_path)?).context("reading the backfill plan")?;
    let corrections = plan["corrections"].as_array().map_or(0, Vec::len);
    let customers_corrected = plan["customers"].as_array().map_or(0, Vec::len);
    narrator.say(
        5,
        &format!(
            "backfill plan: {} ticks replayed over {} market minutes, {corrections} corrections for {customers_corrected} customers, broker cost {}, {} uncertain, {} skipped ({})",
            plan["window"]["ticks_replayed"],
            plan["window"]["market_minutes"],
            money_list(&plan["broker_cost"]),
            plan["uncertain_orders"].as_array().map_or(0, Vec::len),
            plan["skipped"].as_array().map_or(0, Vec::len),
            plan_html.display()
        ),
    );
    let plan_text = plan_path.display().to_string();
    // Approvals and the application go into the desk's audit chain too.
    let desk_dir_text = desk_dir.display().to_string();
    let audit = ["--audit-desk-dir", desk_dir_text.as_str()];
    // Review and approval in the console: an operator may not approve; two different
    // approvers do (each approval goes into the audit chain).
    let review = ConsoleSession::login(&desk_base, "aiko", OPERATOR_PASSWORD).await?;
    let (status, page) = review
        .get(&format!("/console/backfill/{plan_name}"))
        .await?;
    ensure!(
        status == StatusCode::OK && page.contains("id=\"customers\""),
        "the console does not show the plan: {status}"
    );
    let (_, list) = review.get("/console/backfill").await?;
    ensure!(
        list.contains(plan_name),
        "the console does not list the plan"
    );
    let first_order = plan["corrections"][0]["order"].as_u64();
    if let Some(order) = first_order {
        let (status, chart) = review
            .get(&format!(
                "/console/backfill/{plan_name}/chart?order={order}"
            ))
            .await?;
        ensure!(
            status == StatusCode::OK && chart.contains("<svg"),
            "no price chart for order {order}: {status}"
        );
    }
    let refused = review.approve(plan_name).await?;
    ensure!(
        refused == StatusCode::FORBIDDEN,
        "an operator approved a plan: {refused}"
    );
    let lead = ConsoleSession::login(&desk_base, "lead", APPROVER_PASSWORD).await?;
    ensure!(
        lead.approve(plan_name).await? == StatusCode::SEE_OTHER,
        "the lead could not approve"
    );
    ensure!(
        lead.approve(plan_name).await? != StatusCode::SEE_OTHER,
        "the same approver twice must be refused"
    );
    let ben = ConsoleSession::login(&desk_base, "ben", APPROVER_PASSWORD).await?;
    ensure!(
        ben.approve(plan_name).await? == StatusCode::SEE_OTHER,
        "ben could not approve"
    );
    run_fxdesk(
        &[
            &[
                "backfill",
                "apply",
                &plan_text,
                "--data-dir",
                &engine_dir_text,
                "--as",
                "aiko",
            ],
            &audit[..],
        ]
        .concat(),
    )?;
    narrator.say(
        5,
        "reviewed in the console; approved there by the support lead and Ben (the operator could not, the lead twice was refused), applied to the journal, trading resumes",
    );
    let (serve_again, _) = spawn_fxdesk(
        "serve",
        &serve_args(&trading_addr),
        &[("FXDESK_ADMIN_TOKEN", &admin_token)],
        &data_dir.join("serve-3.log"),
        "listening on ",
        false,
    )?;
    let _serve_again = serve_again;
    trading
        .wait_ready(&admin_token, Duration::from_secs(60))
        .await?;
    replay(
        &ticks,
        OUTAGE_STARTS_AT_TICK + OUTAGE_TICKS..OUTAGE_STARTS_AT_TICK + OUTAGE_TICKS + 4,
        args.speed,
        &mut recorder,
        Some((&trading, &admin_token)),
    )
    .await?;
    let (trading_status, traded) = trading
        .send(
            Method::POST,
            "/v1/orders",
            &customer_token,
            Some(&probe_order),
        )
        .await?;
    ensure!(
        trading_status == StatusCode::CREATED,
        "trading did not resume: {trading_status} {traded}"
    );
    narrator.say(
        5,
        &format!(
            "trading is open again: a market order filled at {}",
            traded["fill_price"].as_str().unwrap_or("?")
        ),
    );
    narrator.done(
        5,
        "recovery",
        json!({"seq_before_kill": before["seq"], "seq_after_recovery": after["seq"],
               "working_orders_before": working_before, "working_orders_after": working_after,
               "halted_code": halted_code, "plan_corrections": corrections,
               "plan_customers": customers_corrected, "plan_file": plan_path,
               "plan_html": plan_html, "same_approver_twice_refused": true,
               "order_after_resume": trading_status.as_u16()}),
    );

    // 6. The desk sees the port again; the operator resolves and the figures are recorded.
    let incident_id = incident["id"].clone();
    let recovered_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, detail) = desk
            .send(
                Method::GET,
                &format!("/api/incidents/{incident_id}"),
                &operator,
                None,
            )
            .await?;
        if !detail["incident"]["recovered_at_ms"].is_null() {
            break;
        }
        ensure!(
            Instant::now() < recovered_deadline,
            "the desk did not see the engine come back: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resolved = desk
        .expect(
            Method::POST,
            &format!("/api/incidents/{incident_id}/resolve"),
            &operator,
            Some(&json!({"message": "Trading restored; the journal lost nothing acknowledged."})),
            StatusCode::OK,
        )
        .await?;
    let figures = resolved
        .get("figures")
        .cloned()
        .unwrap_or_else(|| resolved.clone());
    narrator.say(
        6,
        &format!(
            "incident #{incident_id} resolved: time to detect {} ms, to acknowledge {} ms, to resolve {} ms",
            figures["time_to_detect_ms"], figures["time_to_acknowledge_ms"], figures["time_to_resolve_ms"]
        ),
    );
    narrator.done(6, "resolution", json!({"figures": figures}));
    print_notifications(&mut narrator, &mut seen_notes, &notifications);

    // 6b. Compliance: the FSA first report (submitted, kept as a version), the draft of the
    // cause and prevention report, and the audit chain verified.
    let reports = report_step(
        &desk,
        &desk_admin,
        &incident_id,
        &data_dir,
        json!({
            "customers_with_working_orders": args.customers,
            "customers_affected": args.customers,
            "orders_affected": working_before,
        }),
    )
    .await?;
    narrator.say(
        6,
        &format!(
            "compliance submitted the FSA first report (第一報) as version {} and drafted the cause and prevention report: {}, {}; audit chain verified: {} entries, head {}",
            reports["first_report_version"],
            reports["first_report_file"].as_str().unwrap_or(""),
            reports["follow_up_draft_file"].as_str().unwrap_or(""),
            reports["audit_entries"],
            reports["audit_head"].as_str().unwrap_or("")
        ),
    );
    narrator.done(6, "reports", reports);

    // 7. Summary.
    narrator.say(
        7,
        &format!(
            "done. Status page {desk_base}/ , console {desk_base}/console (demo-admin / {ADMIN_PASSWORD}), \
             trading API {trading_base} (admin token {admin_token}), backfill plan {}, reports in {}, \
             desk policy {}, recorded prices {}, logs in {}",
            plan_html.display(),
            data_dir.join("reports").display(),
            desk_config_path.display(),
            recorder.archive.display(),
            data_dir.display()
        ),
    );
    narrator.done(7, "summary", json!({"data_dir": data_dir}));
    if let Some(path) = &args.summary_json {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&json!({"steps": narrator.steps}))?,
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.keep_running {
        println!("serving until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

/// Records the impact, submits the FSA first report as a compliance officer, drafts the
/// follow-up, writes both as Markdown under `DATA_DIR/reports/`, and verifies the audit chain.
async fn report_step(
    desk: &ApiClient,
    admin: &str,
    incident_id: &Value,
    data_dir: &Path,
    impact: Value,
) -> anyhow::Result<Value> {
    const COMPLIANCE_PASSWORD: &str = "demo-compliance-password";
    desk.expect(
        Method::POST,
        "/api/users",
        admin,
        Some(&json!({"username": "kenji", "password": COMPLIANCE_PASSWORD, "role": "compliance"})),
        StatusCode::OK,
    )
    .await?;
    let compliance = desk_login(desk, "kenji", COMPLIANCE_PASSWORD).await?;
    desk.expect(
        Method::PUT,
        &format!("/api/incidents/{incident_id}/impact"),
        &compliance,
        Some(&impact),
        StatusCode::OK,
    )
    .await?;
    let dir = data_dir.join("reports");
    std::fs::create_dir_all(&dir)?;
    let fields = json!({
        "reporter": "コンプライアンス部 (demo)",
        "response": "取引システムを再起動し、ジャーナルから状態を復元しました。",
    });
    let first_md = desk
        .expect(
            Method::POST,
            &format!("/api/incidents/{incident_id}/reports/jp_fsa.first/draft?format=md"),
            &compliance,
            Some(&fields),
            StatusCode::OK,
        )
        .await?;
    let first_file = dir.join("fsa-first-report.md");
    std::fs::write(&first_file, first_md.as_str().unwrap_or_default())?;
    let version = desk
        .expect(
            Method::POST,
            &format!("/api/incidents/{incident_id}/reports/jp_fsa.first/submit"),
            &compliance,
            Some(&fields),
            StatusCode::CREATED,
        )
        .await?;
    let follow_up = desk
        .expect(
            Method::POST,
            &format!(
                "/api/incidents/{incident_id}/reports/jp_fsa.cause_prevention/draft?format=md"
            ),
            &compliance,
            Some(&json!({
                "cause": "(調査中) 取引エンジンのプロセスが強制終了されました。",
                "prevention": "(検討中)",
            })),
            StatusCode::OK,
        )
        .await?;
    let follow_up_file = dir.join("fsa-cause-prevention-draft.md");
    std::fs::write(&follow_up_file, follow_up.as_str().unwrap_or_default())?;
    let verified = desk
        .expect(
            Method::GET,
            "/api/audit/verify",
            &compliance,
            None,
            StatusCode::OK,
        )
        .await?;
    ensure!(
        verified["ok"] == true,
        "the audit chain does not verify: {verified}"
    );
    let entries = desk
        .expect(
            Method::GET,
            "/api/audit?limit=1000",
            &compliance,
            None,
            StatusCode::OK,
        )
        .await?;
    let money_actions: Vec<String> = entries
        .as_array()
        .or_else(|| entries["entries"].as_array())
        .map(|list| {
            list.iter()
                .filter_map(|e| e["action"].as_str())
                .filter(|a| a.starts_with("money."))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "first_report_version": version["version"],
        "first_report_file": first_file,
        "follow_up_draft_file": follow_up_file,
        "audit_ok": verified["ok"],
        "audit_entries": verified["chain"]["entries_checked"],
        "audit_head": verified["chain"]["last_good_hash"],
        "audit_money_actions": money_actions,
    }))
}

/// `[{"currency":"JPY","amount_minor":490}, ...]` as "490 JPY, 54.60 USD".
fn money_list(amounts: &Value) -> String {
    let items: Vec<String> = amounts
        .as_array()
        .map(|list| {
            list.iter()
                .map(|item| {
                    let minor = item["amount_minor"].as_i64().unwrap_or(0);
                    let currency = item["currency"].as_str().unwrap_or("?");
                    if currency == "JPY" {
                        format!("{minor} JPY")
                    } else {
                        let sign = if minor < 0 { "-" } else { "" };
                        format!(
                            "{sign}{}.{:02} {currency}",
                            minor.abs() / 100,
                            minor.abs() % 100
                        )
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}

/// The backfill policy of the demo: the defaults (crates/backfill/policy.default.toml), except
/// that an outage of seconds counts (the default minimum is 30 minutes) and that only orders
/// placed in the last 200 ms count as uncertain (at demo speeds the customers trade less than
/// the default 2 s before the kill).
fn demo_policy() -> String {
    include_str!("../../backfill/policy.default.toml")
        .replace("minimum_outage_minutes = 30", "minimum_outage_minutes = 0")
        .replace("uncertain_window_ms = 2000", "uncertain_window_ms = 200")
}

/// Runs `fxdesk <args>` to completion; an error carries what it printed.
fn run_fxdesk(args: &[&str]) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the fxdesk binary")?;
    let output = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run fxdesk {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "fxdesk {} failed: {}{}",
            args.join(" "),
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// A browser-like session in the operator console (cookie and CSRF token, no redirects
/// followed), for the steps a person does there.
struct ConsoleSession {
    base: String,
    cookie: String,
    client: reqwest::Client,
}

impl ConsoleSession {
    async fn login(base: &str, username: &str, password: &str) -> anyhow::Result<ConsoleSession> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let body = format!("username={username}&password={password}");
        let response = client
            .post(format!("{base}/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .with_context(|| format!("console login as {username}: {}", response.status()))?
            .to_owned();
        Ok(ConsoleSession {
            base: base.to_owned(),
            cookie,
            client,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    /// Presses "Approve" on a plan's page; the answer's status (303 when approved).
    async fn approve(&self, plan: &str) -> anyhow::Result<StatusCode> {
        let (_, page) = self.get("/console").await?;
        let marker = "name=\"csrf\" value=\"";
        let start = page
            .find(marker)
            .context("no CSRF token on the console page")?
            + marker.len();
        let csrf: String = page[start..].chars().take_while(|c| *c != '"').collect();
        let response = self
            .client
            .post(format!("{}/console/backfill/{plan}/approve", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
            .await?;
        Ok(response.status())
    }
}

/// Publishes a customer notice from the desk's templates (JSON twin of the console's form).
async fn publish_notice(
    desk: &ApiClient,
    token: &str,
    incident_id: &Value,
    notice: Value,
) -> anyhow::Result<Value> {
    desk.expect(
        Method::POST,
        &format!("/api/incidents/{incident_id}/notices"),
        token,
        Some(&notice),
        StatusCode::CREATED,
    )
    .await
}

/// The public status page as a customer sees it: the Statuspage indicator and the first line
/// of the current notice in English.
async fn status_page(desk: &ApiClient) -> anyhow::Result<(String, String)> {
    let status: Value = desk
        .client
        .get(format!("{}/api/v2/status.json", desk.base))
        .send()
        .await?
        .json()
        .await
        .context("status.json")?;
    let summary: Value = desk
        .client
        .get(format!("{}/api/v2/incidents/unresolved.json", desk.base))
        .send()
        .await?
        .json()
        .await
        .context("unresolved.json")?;
    let first_update = summary["incidents"][0]["incident_updates"][0]["body"]
        .as_str()
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(90)
        .collect();
    Ok((
        status["status"]["indicator"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned(),
        first_update,
    ))
}

fn incident_detect_seconds(incident: &Value) -> Option<f64> {
    let detected = incident["detected_at_ms"].as_i64()?;
    let started = incident["impact_started_at_ms"].as_i64()?;
    Some((detected - started) as f64 / 1000.0)
}

fn tracing_refusal(kind: &str, status: StatusCode, answer: &Value) {
    eprintln!(
        "  (engine refused a {kind}: {status} {})",
        answer["error"]["code"].as_str().unwrap_or("")
    );
}

async fn count_working_orders(
    trading: &ApiClient,
    admin: &str,
    customers: u32,
) -> anyhow::Result<usize> {
    let mut working = 0;
    for account in 1..=u64::from(customers) {
        let (status, orders) = trading
            .send(
                Method::GET,
                &format!("/v1/accounts/{account}/orders"),
                admin,
                None,
            )
            .await?;
        ensure!(
            status == StatusCode::OK,
            "orders of account {account}: {status}"
        );
        working += orders["orders"].as_array().map_or(0, Vec::len);
    }
    Ok(working)
}
