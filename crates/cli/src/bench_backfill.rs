//! `fxdesk bench backfill`: the outage-backfill plan over a big book, in memory (no journal).
//!
//! The state before the outage: 100,000 accounts and 1,000,000 working orders (limits, stops,
//! stop-limits, trailing stops, OCO pairs and IFD chains) over the six default pairs, plus
//! open positions on a fifth of the accounts (some thinly funded, so margin calls and loss-cuts
//! happen). The window: one hour of ticks, one per second per instrument (21,600), whose path
//! follows real EUR/USD hourly opens from `crates/market/data/ticks_sample.csv` (`--hours`
//! real hours, 12 by default, squeezed into the hour, each instrument from its own offset, scaled to its own price, with
//! a small deterministic wiggle between the hourly points; `--volatility` multiplies the moves).
//!
//! Accounts in margin call are re-valued on every quote by the engine (by design: they are the
//! ones that may be cut), so the plan's time grows with how many accounts the window pushes
//! into margin call; `--thin-every` sets how many start near their limit. Timed: the whole plan (copy of the
//! state, shadow replay, pricing, totals), against a 2 s target; peak RSS printed.

use std::time::Instant;

use anyhow::{Context, Result};
use fxdesk_backfill::plan::{build_plan, JournalInputs, LiveAfter, PlanInput};
use fxdesk_backfill::ticks::WindowTicks;
use fxdesk_backfill::{CorrectionKind, Policy};
use fxdesk_engine::{
    AccountId, Command, CommandKind, Currency, Engine, EngineConfig, Event, GroupId, InstrumentId,
    OrderKind, OrderRequest, OrderSpec, PositionMode, Side, TimeInForce,
};
use fxdesk_market::Tick;
use serde_json::json;

use crate::bench_engine::peak_rss_bytes;

#[derive(clap::Args, Debug)]
pub struct BackfillBenchArgs {
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 100_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Seconds of ticks in the window (one tick per instrument per second).
    #[arg(long, default_value_t = 3_600)]
    pub seconds: i64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Real hours of EUR/USD moves squeezed into the window's hour (12: a busy day in an hour).
    #[arg(long, default_value_t = 12)]
    pub hours: usize,
    /// Multiplies the real moves (1: as recorded).
    #[arg(long, default_value_t = 1.0)]
    pub volatility: f64,
    /// Run with the C allocator's default 4 KiB pages instead of transparent huge pages.
    #[arg(long)]
    pub no_huge_pages: bool,
    /// Also time the copy of the state and the shadow replay on their own (runs them twice).
    #[arg(long)]
    pub phases: bool,
    /// One account in this many is thinly funded with a position near its margin limit.
    #[arg(long, default_value_t = 1_000)]
    pub thin_every: u64,
}

/// The plan's target time.
const TARGET_SECONDS: f64 = 2.0;
/// Mid prices (USD/JPY, EUR/USD, EUR/JPY, GBP/JPY, AUD/JPY, GBP/USD) in ticks.
const MIDS: [i64; 6] = [150_000, 108_000, 162_000, 190_000, 98_000, 126_000];
const SPREAD: i64 = 5;
const SAMPLE: &str = include_str!("../../market/data/ticks_sample.csv");
/// Tuesday 2026-07-14 10:00 UTC: the outage starts here.
const START_NS: i64 = 1_784_023_200_000_000_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Real EUR/USD hourly opens (mid, in 1e-5) from the bundled sample.
fn real_path() -> Result<Vec<i64>> {
    let mut mids = Vec::new();
    for line in SAMPLE.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.get(1) != Some(&"EUR/USD") {
            continue;
        }
        let bid = fxdesk_market::parse_ticks(fields.get(2).copied().unwrap_or(""), 5)?;
        let ask = fxdesk_market::parse_ticks(fields.get(3).copied().unwrap_or(""), 5)?;
        mids.push((bid + ask) / 2);
    }
    anyhow::ensure!(
        mids.len() >= 120,
        "the bundled sample has too few EUR/USD rows"
    );
    Ok(mids)
}

fn window_ticks(seconds: i64, hours: usize, volatility: f64, rng: &mut Rng) -> Result<Vec<Tick>> {
    let path = real_path()?;
    let hours = hours.clamp(1, path.len().saturating_sub(61));
    let mut ticks = Vec::with_capacity(seconds as usize * 6);
    for s in 0..seconds {
        for (i, mid) in MIDS.iter().enumerate() {
            let offset = i * 10 + 3;
            let x = s as f64 / seconds as f64 * hours as f64;
            let k = (x as usize).min(hours - 1);
            let frac = x - k as f64;
            let a = path[offset + k] as f64;
            let b = path[offset + k + 1] as f64;
            let base = path[offset] as f64;
            let ratio = 1.0 + volatility * ((a + (b - a) * frac) / base - 1.0);
            let wiggle = rng.below(7) as i64 - 3;
            let bid = (*mid as f64 * ratio).round() as i64 + wiggle;
            ticks.push(Tick {
                time_ns: START_NS + s * 1_000_000_000 + i as i64 * 1_000,
                instrument: InstrumentId(i as u16),
                bid,
                ask: bid + SPREAD,
            });
        }
    }
    Ok(ticks)
}

struct Builder {
    engine: Engine,
    time_ns: i64,
    events: Vec<Event>,
}

impl Builder {
    fn run(&mut self, kind: CommandKind) -> &[Event] {
        self.time_ns += 1_000;
        self.events.clear();
        self.engine.apply_into(
            &Command {
                time_ns: self.time_ns,
                kind,
            },
            &mut self.events,
        );
        &self.events
    }
}

fn spec(instrument: usize, side: Side, qty: i64, kind: OrderKind) -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(instrument as u16),
        side,
        qty,
        kind,
        time_in_force: TimeInForce::GoodTillCancelled,
        close_position: None,
    }
}

/// The state before the outage.
fn build_state(args: &BackfillBenchArgs, rng: &mut Rng) -> Result<(Engine, u64)> {
    let mut b = Builder {
        engine: Engine::new(EngineConfig::default()).context("default engine config")?,
        time_ns: START_NS - 3_600_000_000_000,
        events: Vec::new(),
    };
    for (i, mid) in MIDS.iter().enumerate() {
        let t = b.time_ns;
        b.run(CommandKind::Quote {
            instrument: InstrumentId(i as u16),
            bid: *mid,
            ask: mid + SPREAD,
            source_time_ns: t,
        });
    }
    for n in 0..args.accounts {
        b.run(CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        });
        let account = AccountId(n + 1);
        // Some accounts are thinly funded and carry a position near their margin limit.
        let thin = n.is_multiple_of(args.thin_every.max(1));
        b.run(CommandKind::Deposit {
            account,
            amount_minor: if thin { 75_000 } else { 50_000_000 },
        });
        if n.is_multiple_of(5) || thin {
            let i = rng.below(6) as usize;
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let qty = if thin { 10_000 } else { 20_000 };
            let i = if thin { [0, 2, 3, 4][i % 4] } else { i };
            b.run(CommandKind::PlaceOrder {
                account,
                client_order_id: None,
                request: OrderRequest::Single(spec(
                    i,
                    side,
                    qty,
                    OrderKind::Market { slippage: None },
                )),
            });
        }
    }
    let mut placed = 0u64;
    let mut n = 0u64;
    while placed < args.orders {
        n += 1;
        let account = AccountId(n % args.accounts.max(1) + 1);
        let i = rng.below(6) as usize;
        let mid = MIDS[i];
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let sign = side.sign();
        // 0.05 % to 4 % away from the market, on the side where it rests.
        let away = mid * (5 + rng.below(395) as i64) / 10_000;
        let qty = 1_000 * (1 + rng.below(5) as i64);
        let request = match rng.below(20) {
            0..=7 => OrderRequest::Single(spec(
                i,
                side,
                qty,
                OrderKind::Limit {
                    price: mid - sign * away,
                },
            )),
            8..=13 => OrderRequest::Single(spec(
                i,
                side,
                qty,
                OrderKind::Stop {
                    price: mid + sign * away,
                },
            )),
            14 => OrderRequest::Single(spec(
                i,
                side,
                qty,
                OrderKind::StopLimit {
                    stop: mid + sign * away,
                    limit: mid + sign * (away + 20),
                },
            )),
            15 => OrderRequest::Single(spec(
                i,
                side,
                qty,
                OrderKind::TrailingStop {
                    distance_ticks: away,
                },
            )),
            16 | 17 => OrderRequest::Oco(
                spec(
                    i,
                    side,
                    qty,
                    OrderKind::Limit {
                        price: mid - sign * away,
                    },
                ),
                spec(
                    i,
                    side,
                    qty,
                    OrderKind::Stop {
                        price: mid + sign * away,
                    },
                ),
            ),
            _ => OrderRequest::Ifd {
                first: spec(
                    i,
                    side,
                    qty,
                    OrderKind::Limit {
                        price: mid - sign * away,
                    },
                ),
                then: spec(
                    i,
                    side.opposite(),
                    qty,
                    OrderKind::Limit {
                        price: mid - sign * away / 2,
                    },
                ),
            },
        };
        let events = b.run(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request,
        });
        placed += events
            .iter()
            .filter(|e| matches!(e, Event::OrderAccepted { .. }))
            .count() as u64;
        if n.is_multiple_of(250_000) {
            eprintln!("  … {placed} orders working");
        }
    }
    let positions = b.engine.positions().count() as u64;
    Ok((b.engine, positions))
}

/// CPU seconds this thread has used (user + system, from /proc; 0 where unavailable). On a
/// shared machine the wall-clock figure includes waiting for a core; this one does not.
fn thread_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

pub fn run(args: BackfillBenchArgs) -> Result<()> {
    if !args.no_huge_pages {
        crate::bench_engine::reexec_with_huge_pages_unless_on()?;
    }
    let mut rng = Rng(args.seed.max(1));
    eprintln!(
        "bench backfill: building {} accounts and {} working orders",
        args.accounts, args.orders
    );
    let setup = Instant::now();
    let (pre, positions) = build_state(&args, &mut rng)?;
    let ticks = window_ticks(args.seconds, args.hours, args.volatility, &mut rng)?;
    let setup_s = setup.elapsed().as_secs_f64();
    let to_ns = START_NS + args.seconds * 1_000_000_000;
    let window = WindowTicks {
        ticks,
        after: vec![None; 6],
        sources: Vec::new(),
        held: Vec::new(),
    };
    let policy = Policy {
        minimum_outage_minutes: 0,
        ..Policy::default()
    };
    eprintln!("bench backfill: planning over {} ticks", window.ticks.len());
    let mut phases = serde_json::Map::new();
    if args.phases {
        let t = Instant::now();
        let copy = pre.clone();
        phases.insert("clone_seconds".into(), json!(t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let index = fxdesk_backfill::shadow::PreIndex::of(&copy);
        phases.insert("index_seconds".into(), json!(t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let found = fxdesk_backfill::shadow::replay(fxdesk_backfill::shadow::ShadowInput {
            pre: copy,
            index: &index,
            ticks: &window.ticks,
            rollovers: &[],
            loss_cuts_in_window: true,
        });
        phases.insert("replay_seconds".into(), json!(t.elapsed().as_secs_f64()));
        phases.insert("replay_fills".into(), json!(found.fills.len()));
        let t = Instant::now();
        drop(found);
        phases.insert("drop_seconds".into(), json!(t.elapsed().as_secs_f64()));
    }
    let started = Instant::now();
    let working_orders = pre.order_count();
    let cpu_started = thread_cpu_seconds();
    let plan = build_plan(PlanInput {
        pre,
        live: None,
        after: &LiveAfter::default(),
        journal: JournalInputs {
            dir: "(in memory)".to_owned(),
            pre_outage_seq: 0,
            pre_outage_state_hash: format!("{:016x}", 0),
            last_seq: 0,
            last_state_hash: format!("{:016x}", 0),
        },
        from_ns: START_NS,
        to_ns,
        ticks: &window,
        policy: &policy,
        guard_flags: None,
    })?;
    let plan_s = started.elapsed().as_secs_f64();
    let plan_cpu_s = thread_cpu_seconds() - cpu_started;
    let count = |kind: CorrectionKind| plan.corrections.iter().filter(|c| c.kind == kind).count();
    let result = json!({
        "benchmark": "backfill",
        "accounts": args.accounts,
        "working_orders": working_orders,
        "open_positions": positions,
        "ticks": window.ticks.len(),
        "instruments": 6,
        "window_seconds": args.seconds,
        "volatility": args.volatility,
        "real_hours_in_window": args.hours,
        "thin_every": args.thin_every,
        "setup_seconds": setup_s,
        "plan_seconds": plan_s,
        "plan_cpu_seconds": plan_cpu_s,
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().next().unwrap_or("").to_owned(),
        "target_seconds": TARGET_SECONDS,
        "within_target": plan_s < TARGET_SECONDS,
        "fills": count(CorrectionKind::Fill),
        "loss_cut_closes": count(CorrectionKind::LossCut),
        "cancels": count(CorrectionKind::Cancel),
        "margin_calls": plan.margin_calls.len(),
        "skipped": plan.skipped.len(),
        "customers": plan.customers.len(),
        "broker_cost": plan.broker_cost,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_mib": peak_rss_bytes() / (1024 * 1024),
        "phases": phases,
        "huge_pages": std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.hugetlb=1")),
    });
    if args.json {
        println!("{result}");
    } else {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}
