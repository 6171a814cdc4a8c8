//! `fxdesk drill crash --iterations N`: crash safety, shown.
//!
//! Runs `fxdesk serve` as a child process, sends orders and cancels from concurrent clients,
//! SIGKILLs the child at a random moment, restarts it on the same data directory, and checks:
//! 1. every order acknowledged before a kill is there with the same state (or gone, if its
//!    cancel was acknowledged), and sending its client order id again gives the same answer;
//! 2. no order exists that was never sent;
//! 3. the live state hash equals a fresh replay of the journal up to the live sequence number.
//!
//! Prints a JSON report; exits non-zero if any check failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, Subcommand};
use fxdesk_engine::{Engine, EngineConfig};
use fxdesk_journal::{state_at, At};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_client::ApiClient;

/// Most iterations one drill may run.
pub const ITERATIONS_MAX: u32 = 10_000;
/// Most concurrent clients.
pub const CLIENTS_MAX: usize = 1_024;
/// Violations listed in the report (all are counted).
const VIOLATIONS_LISTED_MAX: usize = 50;
/// Acknowledged orders re-sent per check to test idempotency across the restart.
const RESEND_PER_CHECK_MAX: usize = 20;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub drill: Drill,
}

#[derive(Subcommand, Debug)]
pub enum Drill {
    /// Kill `fxdesk serve` with SIGKILL under load and check what survives.
    Crash(CrashArgs),
}

#[derive(ClapArgs, Debug)]
pub struct CrashArgs {
    /// Kill-and-restart cycles.
    #[arg(long, default_value_t = 5)]
    pub iterations: u32,
    /// Concurrent clients sending orders.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// The kill comes at a random moment in [20 ms, this] after the load starts.
    #[arg(long, default_value_t = 400)]
    pub kill_within_ms: u64,
    /// Seed of the random choices (default: from the clock; printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Data directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Drill::Crash(args) = args.drill;
    if !(1..=ITERATIONS_MAX).contains(&args.iterations) {
        bail!("--iterations must be within 1..={ITERATIONS_MAX}");
    }
    if !(1..=CLIENTS_MAX).contains(&args.clients) {
        bail!("--clients must be within 1..={CLIENTS_MAX}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(crash_drill(args))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report["violations"]
        .as_array()
        .is_some_and(|v| !v.is_empty())
    {
        bail!("crash drill found violations");
    }
    Ok(())
}

/// xorshift64*: enough randomness for choosing kill moments and prices, reproducible by seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// What the clients sent and what was acknowledged, across all iterations.
#[derive(Default)]
struct Ledger {
    sent: BTreeSet<String>,
    /// client order id -> (account index, request body, acknowledged answer).
    acked: BTreeMap<String, (usize, Value, Value)>,
    /// order id -> cancel acknowledged?
    cancels: BTreeMap<u64, bool>,
}

struct Child2 {
    child: Child,
    api: ApiClient,
}

fn spawn_server(data_dir: &Path, admin: &str, run: u32) -> anyhow::Result<Child2> {
    let exe = std::env::current_exe().context("cannot find the fxdesk binary")?;
    let log = std::fs::File::create(data_dir.join(format!("serve-{run}.log")))
        .context("cannot create the server log")?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-rollover",
            // The drill checks recovery, not the reopening: trade at once after each restart.
            "--start-trading",
            "--data-dir",
        ])
        .arg(data_dir)
        .env("FXDESK_ADMIN_TOKEN", admin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start fxdesk serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("cannot read the server's address")?;
    let Some(base) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        bail!("fxdesk serve did not start (see serve-{run}.log): {line:?}");
    };
    Ok(Child2 {
        child,
        api: ApiClient::new(base.to_owned(), CLIENTS_MAX)?,
    })
}

async fn crash_drill(args: CrashArgs) -> anyhow::Result<Value> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1
    });
    let mut random = Random(seed);
    let temp = tempfile::tempdir().context("cannot create a temp dir")?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&data_dir)?;
    let admin = format!("drill-admin-{seed:016x}");
    let started = Instant::now();

    let mut server = spawn_server(&data_dir, &admin, 0)?;
    server
        .api
        .wait_ready(&admin, Duration::from_secs(30))
        .await?;
    let mut accounts = Vec::new();
    // One account per client, so no account reaches its working-order limit.
    for _ in 0..args.clients {
        accounts.push(
            server
                .api
                .open_account(&admin, "hedging", "100000000")
                .await?,
        );
    }
    server
        .api
        .expect(
            Method::POST,
            "/v1/quotes",
            &admin,
            Some(&json!({"instrument": "USD/JPY", "bid": "156.120", "ask": "156.125"})),
            StatusCode::CREATED,
        )
        .await?;
    let accounts = Arc::new(accounts);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut violations: Vec<String> = Vec::new();
    let mut checked_orders = 0usize;
    let mut kills = Vec::new();

    for iteration in 0..args.iterations {
        let kill_after = Duration::from_millis(20 + random.below(args.kill_within_ms.max(21) - 20));
        let mut clients = Vec::new();
        for client in 0..args.clients {
            clients.push(tokio::spawn(load(
                server.api.clone(),
                Arc::clone(&accounts),
                Arc::clone(&ledger),
                iteration,
                client,
                random.next(),
            )));
        }
        tokio::time::sleep(kill_after).await;
        server.child.kill().context("cannot SIGKILL the server")?;
        let _ = server.child.wait();
        for client in clients {
            let _ = tokio::time::timeout(Duration::from_secs(30), client).await;
        }
        kills.push(kill_after.as_millis() as u64);

        server = spawn_server(&data_dir, &admin, iteration + 1)?;
        server
            .api
            .wait_ready(&admin, Duration::from_secs(60))
            .await?;
        checked_orders += check(
            &server.api,
            &admin,
            &accounts,
            &ledger,
            &data_dir,
            &mut random,
            &mut violations,
        )
        .await?;
    }
    let _ = server.child.kill();
    let _ = server.child.wait();

    let ledger = ledger
        .lock()
        .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
    Ok(json!({
        "drill": "crash",
        "seed": seed,
        "iterations": args.iterations,
        "clients": args.clients,
        "kill_after_ms": kills,
        "orders_sent": ledger.sent.len(),
        "orders_acked": ledger.acked.len(),
        "cancels_acked": ledger.cancels.values().filter(|acked| **acked).count(),
        "orders_checked": checked_orders,
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "violations_total": violations.len(),
        "violations": violations.iter().take(VIOLATIONS_LISTED_MAX).collect::<Vec<_>>(),
    }))
}

/// One client: resting limit orders (far below the market, so their state cannot change) and
/// cancels of its own acknowledged orders, until the server dies.
async fn load(
    api: ApiClient,
    accounts: Arc<Vec<(u64, String)>>,
    ledger: Arc<Mutex<Ledger>>,
    iteration: u32,
    client: usize,
    seed: u64,
) {
    let mut random = Random(seed | 1);
    let account = client % accounts.len();
    let token = &accounts[account].1;
    let mut mine: Vec<u64> = Vec::new();
    for n in 0u64.. {
        if random.below(5) == 0 && !mine.is_empty() {
            let order = mine.swap_remove(random.below(mine.len() as u64) as usize);
            if let Ok(mut l) = ledger.lock() {
                l.cancels.insert(order, false);
            }
            match api
                .send(Method::DELETE, &format!("/v1/orders/{order}"), token, None)
                .await
            {
                Ok((StatusCode::OK, _)) => {
                    if let Ok(mut l) = ledger.lock() {
                        l.cancels.insert(order, true);
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
            continue;
        }
        let client_order_id = format!("i{iteration}-c{client}-{n}");
        let price = format!("{}.{:03}", 100 + random.below(40), random.below(1000));
        let body = json!({
            "client_order_id": client_order_id,
            "order": {"instrument": "USD/JPY", "side": "buy", "qty": 1000, "type": "limit", "price": price},
        });
        if let Ok(mut l) = ledger.lock() {
            l.sent.insert(client_order_id.clone());
        }
        match api
            .send(Method::POST, "/v1/orders", token, Some(&body))
            .await
        {
            Ok((StatusCode::CREATED, answer)) => {
                if let Some(order) = answer["order_id"].as_u64() {
                    mine.push(order);
                }
                if let Ok(mut l) = ledger.lock() {
                    l.acked.insert(client_order_id, (account, body, answer));
                }
            }
            // 422 too_many_orders once an account is full: keep cancelling.
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

async fn check(
    api: &ApiClient,
    admin: &str,
    accounts: &[(u64, String)],
    ledger: &Mutex<Ledger>,
    data_dir: &Path,
    random: &mut Random,
    violations: &mut Vec<String>,
) -> anyhow::Result<usize> {
    let (acked, sent, cancels) = {
        let l = ledger
            .lock()
            .map_err(|_| anyhow::anyhow!("ledger poisoned"))?;
        (l.acked.clone(), l.sent.clone(), l.cancels.clone())
    };
    // 1. Every acknowledged order is there with the same state, unless its cancel was acked.
    for (client_order_id, (account, _, answer)) in &acked {
        let Some(order) = answer["order_id"].as_u64() else {
            violations.push(format!("{client_order_id}: acked answer without order_id"));
            continue;
        };
        let token = &accounts[*account].1;
        let (status, now) = api
            .send(Method::GET, &format!("/v1/orders/{order}"), token, None)
            .await?;
        match (cancels.get(&order), status) {
            (Some(true), StatusCode::NOT_FOUND) => {}
            (Some(true), _) => violations.push(format!(
                "order {order} ({client_order_id}): cancel was acknowledged but it is {status}"
            )),
            (Some(false), StatusCode::NOT_FOUND) => {}
            (_, StatusCode::OK) if now == answer["order"] => {}
            (_, status) => violations.push(format!(
                "order {order} ({client_order_id}): acknowledged as {} but now {status} {now}",
                answer["order"]
            )),
        }
    }
    // ... and sending a client order id again answers as the first time.
    let working: Vec<_> = acked
        .iter()
        .filter(|(_, (_, _, answer))| {
            answer["order_id"]
                .as_u64()
                .is_some_and(|o| !cancels.contains_key(&o))
        })
        .collect();
    for _ in 0..RESEND_PER_CHECK_MAX.min(working.len()) {
        let (client_order_id, (account, body, answer)) =
            working[random.below(working.len() as u64) as usize];
        let (status, again) = api
            .send(
                Method::POST,
                "/v1/orders",
                &accounts[*account].1,
                Some(body),
            )
            .await?;
        if status != StatusCode::CREATED || &again != answer {
            violations.push(format!(
                "{client_order_id}: sent again, answered {status} {again}, first {answer}"
            ));
        }
    }
    // 2. No order exists that was never sent.
    for (account, token) in accounts {
        let orders = api
            .expect(
                Method::GET,
                &format!("/v1/accounts/{account}/orders"),
                token,
                None,
                StatusCode::OK,
            )
            .await?;
        for order in orders["orders"].as_array().into_iter().flatten() {
            let known = order["client_order_id"]
                .as_str()
                .is_some_and(|id| sent.contains(id));
            if !known {
                violations.push(format!("order never sent: {order}"));
            }
        }
    }
    // 3. The live state equals a fresh replay of the journal.
    let live = api
        .expect(Method::GET, "/v1/engine/state", admin, None, StatusCode::OK)
        .await?;
    let seq = live["seq"].as_u64().context("seq missing")?;
    let journal = data_dir.join("journal");
    let replayed = tokio::task::spawn_blocking(move || {
        state_at(&journal, At::Seq(seq), || {
            Engine::new(EngineConfig::default()).expect("the default configuration is valid")
        })
    })
    .await??;
    let replayed_hash = format!("{:016x}", replayed.state.state_hash());
    if live["state_hash"].as_str() != Some(replayed_hash.as_str()) {
        violations.push(format!(
            "state hash at seq {seq}: live {} but replay {replayed_hash}",
            live["state_hash"]
        ));
    }
    Ok(acked.len())
}
