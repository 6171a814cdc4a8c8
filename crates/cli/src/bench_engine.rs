//! `fxdesk bench engine`: the dealing engine alone (no journal, no network), on one core.
//!
//! The main run holds 100,000 accounts and 1,000,000 working orders over the six default pairs
//! and applies a quote-heavy mix (90 % quotes, 10 % order commands). Two more runs show that a
//! quote's cost depends neither on the number of resting orders nor on the number of accounts
//! with open positions.

use anyhow::{ensure, Context, Result};
use fxdesk_engine::{
    AccountId, Amendment, Command, CommandKind, Currency, Engine, EngineConfig, Event, GroupId,
    InstrumentId, OrderId, OrderKind, OrderRequest, OrderSpec, PositionMode, Side, TimeInForce,
};
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct EngineBenchArgs {
    /// Print one JSON object instead of a human summary.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 100_000)]
    pub accounts: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Commands in the measured mix.
    #[arg(long, default_value_t = 5_000_000)]
    pub commands: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Skip the scaling runs (resting orders, accounts with positions).
    #[arg(long)]
    pub quick: bool,
    /// Run with the C allocator's default 4 KiB pages instead of transparent huge pages.
    #[arg(long)]
    pub no_huge_pages: bool,
}

/// The glibc tunable that makes malloc ask the kernel for transparent huge pages. A million
/// orders spread over hundreds of MiB; with 4 KiB pages nearly every lookup also misses the TLB.
const HUGE_PAGES_TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// Re-runs this very command with huge pages switched on, unless they already are (or the
/// caller said not to). glibc reads its tunables only at process start, hence the re-exec.
fn reexec_with_huge_pages(args: &EngineBenchArgs) -> Result<()> {
    if args.no_huge_pages {
        return Ok(());
    }
    reexec_with_huge_pages_unless_on()
}

/// Re-runs this very command with glibc's transparent huge pages on, unless they already are.
/// Shared by the benchmarks that hold a million boxed orders (the TLB misses otherwise).
pub fn reexec_with_huge_pages_unless_on() -> Result<()> {
    use std::os::unix::process::CommandExt;
    let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if current.contains("glibc.malloc.hugetlb") {
        return Ok(());
    }
    let tunables = if current.is_empty() {
        HUGE_PAGES_TUNABLE.to_owned()
    } else {
        format!("{current}:{HUGE_PAGES_TUNABLE}")
    };
    let exe = std::env::current_exe().context("locating the fxdesk binary to re-run it")?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    Err(anyhow::Error::new(error)
        .context("re-running with huge pages (use --no-huge-pages to skip)"))
}

fn huge_pages_on() -> bool {
    std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains(HUGE_PAGES_TUNABLE))
}

/// A small deterministic generator (xorshift64*), so the same seed gives the same workload.
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

/// Mid prices the quotes oscillate around (USD/JPY, EUR/USD, EUR/JPY, GBP/JPY, AUD/JPY, GBP/USD).
const MIDS: [i64; 6] = [150_000, 108_000, 162_000, 190_000, 98_000, 126_000];
const SPREAD_TICKS: i64 = 5;
/// Quotes stay within this many ticks of the mid; resting orders sit 5 % away, so they rest.
const WANDER_TICKS: i64 = 400;
/// Commands generated at a time for the measured mix.
const MIX_CHUNK: u64 = 100_000;

/// Called with every command the sequencer applies (to journal a session, for example).
type Recorder<'a> = Box<dyn FnMut(&Command) -> Result<()> + 'a>;

struct Sequencer<'a> {
    engine: Engine,
    time_ns: i64,
    events: Vec<Event>,
    recorder: Option<Recorder<'a>>,
    recorder_error: Option<anyhow::Error>,
}

impl<'a> Sequencer<'a> {
    fn new() -> Result<Sequencer<'a>> {
        Ok(Sequencer {
            engine: Engine::new(EngineConfig::default()).context("default engine config")?,
            time_ns: 1_700_000_000_000_000_000,
            events: Vec::with_capacity(64),
            recorder: None,
            recorder_error: None,
        })
    }

    /// Applies a prepared command (recording it first, as a journal would).
    fn apply_command(&mut self, command: &Command) {
        if let Some(recorder) = self.recorder.as_mut() {
            if let Err(error) = recorder(command) {
                self.recorder_error.get_or_insert(error);
            }
        }
        self.time_ns = self.time_ns.max(command.time_ns);
        self.events.clear();
        self.engine.apply_into(command, &mut self.events);
    }

    fn command(&mut self, kind: CommandKind) -> Command {
        self.time_ns += 1_000;
        Command {
            time_ns: self.time_ns,
            kind,
        }
    }

    fn apply(&mut self, kind: CommandKind) -> &[Event] {
        let command = self.command(kind);
        self.apply_command(&command);
        &self.events
    }
}

fn quote_kind(rng: &mut Rng, instrument: usize, time_ns: i64) -> CommandKind {
    let bid = MIDS[instrument] + rng.below(2 * WANDER_TICKS as u64 + 1) as i64 - WANDER_TICKS;
    CommandKind::Quote {
        instrument: InstrumentId(instrument as u16),
        bid,
        ask: bid + SPREAD_TICKS,
        source_time_ns: time_ns,
    }
}

/// A resting limit 5 % away from the market on a random side.
fn resting_spec(rng: &mut Rng) -> OrderSpec {
    let instrument = rng.below(6) as usize;
    let side = if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let away = MIDS[instrument] / 20 + rng.below(1_000) as i64;
    let price = match side {
        Side::Buy => MIDS[instrument] - away,
        Side::Sell => MIDS[instrument] + away,
    };
    OrderSpec {
        instrument: InstrumentId(instrument as u16),
        side,
        qty: 1_000 * (1 + rng.below(10) as i64),
        kind: OrderKind::Limit { price },
        time_in_force: TimeInForce::GoodTillCancelled,
        close_position: None,
    }
}

/// Opens funded accounts and rests `orders` limits spread over them.
fn populate(
    seq: &mut Sequencer,
    rng: &mut Rng,
    accounts: u64,
    orders: u64,
    deposit_minor: i64,
) -> Result<Vec<OrderId>> {
    for i in 0..6 {
        let kind = quote_kind(rng, i, seq.time_ns);
        seq.apply(kind);
    }
    for _ in 0..accounts {
        let events = seq.apply(CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        });
        let Some(Event::AccountOpened { account }) = events.first().cloned() else {
            anyhow::bail!("could not open an account: {events:?}");
        };
        seq.apply(CommandKind::Deposit {
            account,
            amount_minor: deposit_minor,
        });
    }
    let mut placed = Vec::with_capacity(orders as usize);
    for n in 0..orders {
        let account = AccountId(n % accounts.max(1) + 1);
        let spec = resting_spec(rng);
        let events = seq.apply(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request: OrderRequest::Single(spec),
        });
        match events.first() {
            Some(Event::OrderAccepted { order, .. }) => placed.push(*order),
            other => anyhow::bail!("setup order refused: {other:?}"),
        }
        if n % 250_000 == 0 && n > 0 {
            eprintln!("  … {n} orders resting");
        }
    }
    ensure!(
        seq.engine.resting_orders() as u64 == orders,
        "all setup orders rest"
    );
    Ok(placed)
}

/// The measured mix, generated up front so generation is not timed.
fn mix(
    seq: &mut Sequencer,
    rng: &mut Rng,
    count: u64,
    accounts: u64,
    setup_orders: &mut Vec<OrderId>,
) -> Vec<Command> {
    let mut commands = Vec::with_capacity(count as usize);
    let mut time_ns = seq.time_ns;
    for _ in 0..count {
        time_ns += 1_000;
        let roll = rng.below(100);
        let kind = if roll < 90 {
            let instrument = rng.below(6) as usize;
            quote_kind(rng, instrument, time_ns)
        } else {
            let account = AccountId(rng.below(accounts) + 1);
            match roll {
                // Once every setup order is gone, cancels and amends become placements, so the
                // mix keeps its shape (a quote-heavy stream over resting orders).
                90..=93 => CommandKind::PlaceOrder {
                    account,
                    client_order_id: None,
                    request: OrderRequest::Single(resting_spec(rng)),
                },
                94..=98 if setup_orders.is_empty() => CommandKind::PlaceOrder {
                    account,
                    client_order_id: None,
                    request: OrderRequest::Single(resting_spec(rng)),
                },
                94..=97 => {
                    let pick = rng.below(setup_orders.len() as u64) as usize;
                    let order = setup_orders.swap_remove(pick);
                    // The setup placed order n for account n % accounts + 1.
                    let owner = AccountId((order.0 - 1) % accounts + 1);
                    CommandKind::CancelOrder {
                        account: owner,
                        order,
                    }
                }
                98 => {
                    let pick = rng.below(setup_orders.len() as u64) as usize;
                    let order = setup_orders[pick];
                    let owner = AccountId((order.0 - 1) % accounts + 1);
                    CommandKind::AmendOrder {
                        account: owner,
                        order,
                        amendment: Amendment {
                            qty: Some(1_000 * (1 + rng.below(10) as i64)),
                            ..Amendment::default()
                        },
                    }
                }
                _ => CommandKind::PlaceOrder {
                    // A market order: opens a position.
                    account,
                    client_order_id: None,
                    request: OrderRequest::Single(OrderSpec {
                        instrument: InstrumentId(rng.below(6) as u16),
                        side: if rng.below(2) == 0 {
                            Side::Buy
                        } else {
                            Side::Sell
                        },
                        qty: 1_000,
                        kind: OrderKind::Market { slippage: None },
                        time_in_force: TimeInForce::GoodTillCancelled,
                        close_position: None,
                    }),
                },
            }
        };
        commands.push(Command { time_ns, kind });
    }
    seq.time_ns = time_ns;
    commands
}

/// A whole benchmark session, command by command: quotes, `accounts` funded accounts,
/// `orders` resting limits, then `mix_commands` of the quote-heavy mix. Every command is passed
/// to `record` before it is applied; the engine at the end is returned (for its state hash).
pub fn record_session(
    accounts: u64,
    orders: u64,
    mix_commands: u64,
    seed: u64,
    record: impl FnMut(&Command) -> Result<()>,
) -> Result<Engine> {
    let mut rng = Rng(seed.max(1));
    let mut seq = Sequencer::new()?;
    seq.recorder = Some(Box::new(record));
    let mut setup_orders = populate(&mut seq, &mut rng, accounts, orders, 50_000_000)?;
    let mut left = mix_commands;
    while left > 0 {
        let chunk = left.min(MIX_CHUNK);
        left -= chunk;
        for command in mix(&mut seq, &mut rng, chunk, accounts, &mut setup_orders) {
            seq.apply_command(&command);
        }
    }
    if let Some(error) = seq.recorder_error.take() {
        return Err(error.context("recording the session"));
    }
    Ok(seq.engine)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// How much of this process's anonymous memory the kernel backs with transparent huge pages
/// (AnonHugePages), in bytes; 0 where /proc is not available. The kernel grants them only when
/// it finds free 2 MiB blocks, so it varies from run to run, and the latency with it.
fn huge_page_bytes() -> u64 {
    proc_self_kib("smaps_rollup", "AnonHugePages:") * 1024
}

/// Peak resident memory of this process (VmHWM), in bytes; 0 where /proc is not available.
pub fn peak_rss_bytes() -> u64 {
    proc_self_kib("status", "VmHWM:") * 1024
}

/// A `Key:   N kB` line of a file under /proc/self; 0 where there is none.
fn proc_self_kib(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

struct MixResult {
    /// Anonymous memory backed by transparent huge pages at the end of the run.
    huge_page_bytes: u64,
    commands_per_sec: f64,
    p50_ns: u32,
    p99_ns: u32,
    p999_ns: u32,
    max_ns: u32,
    rejected: u64,
    fills: u64,
    by_kind: serde_json::Map<String, serde_json::Value>,
}

/// Names of the command kinds reported separately, indexed by [`kind_index`].
const KIND_NAMES: [&str; 6] = [
    "quote",
    "market_order",
    "place_order",
    "cancel_order",
    "amend_order",
    "other",
];

/// Which entry of [`KIND_NAMES`] a command is reported under.
fn kind_index(kind: &CommandKind) -> u8 {
    match kind {
        CommandKind::Quote { .. } => 0,
        CommandKind::PlaceOrder {
            request:
                OrderRequest::Single(OrderSpec {
                    kind: OrderKind::Market { .. },
                    ..
                }),
            ..
        } => 1,
        CommandKind::PlaceOrder { .. } => 2,
        CommandKind::CancelOrder { .. } => 3,
        CommandKind::AmendOrder { .. } => 4,
        _ => 5,
    }
}

fn run_mix(args: &EngineBenchArgs, timed: bool) -> Result<(MixResult, u64)> {
    let mut rng = Rng(args.seed.max(1));
    let mut seq = Sequencer::new()?;
    let setup_started = Instant::now();
    let mut setup_orders = populate(&mut seq, &mut rng, args.accounts, args.orders, 50_000_000)?;
    eprintln!(
        "  setup: {} accounts, {} resting orders in {:.1} s",
        args.accounts,
        seq.engine.resting_orders(),
        setup_started.elapsed().as_secs_f64()
    );
    // Commands are generated in chunks outside the timed sections, so the workload itself
    // neither costs time nor inflates the memory figure.
    let mut events = Vec::with_capacity(64);
    let mut latencies: Vec<u32> =
        Vec::with_capacity(if timed { args.commands as usize } else { 0 });
    // The kind of each timed command, beside its latency: sorting them out per kind happens
    // after the run, so no bookkeeping sits inside (or between) the timed intervals.
    let mut kinds: Vec<u8> = Vec::with_capacity(if timed { args.commands as usize } else { 0 });
    let (mut rejected, mut fills) = (0u64, 0u64);
    let mut busy = std::time::Duration::ZERO;
    let mut left = args.commands;
    while left > 0 {
        let chunk = left.min(MIX_CHUNK);
        left -= chunk;
        let commands = mix(&mut seq, &mut rng, chunk, args.accounts, &mut setup_orders);
        let started = Instant::now();
        if timed {
            // Each command's latency is the engine's own time for it: the clock is read just
            // before and just after `apply_into` (the two reads cost about 20 ns together and
            // are included).
            for command in &commands {
                events.clear();
                let kind = kind_index(&command.kind);
                let before = Instant::now();
                seq.engine.apply_into(command, &mut events);
                let ns = u32::try_from(before.elapsed().as_nanos()).unwrap_or(u32::MAX);
                latencies.push(ns);
                kinds.push(kind);
            }
        } else {
            for command in &commands {
                events.clear();
                seq.engine.apply_into(command, &mut events);
                for event in &events {
                    match event {
                        Event::Rejected(_) => rejected += 1,
                        Event::OrderFilled { .. } => fills += 1,
                        _ => {}
                    }
                }
            }
        }
        busy += started.elapsed();
    }
    let elapsed = busy.as_secs_f64();
    let mut per_kind: Vec<Vec<u32>> = vec![Vec::new(); KIND_NAMES.len()];
    for (&ns, &kind) in latencies.iter().zip(&kinds) {
        per_kind[usize::from(kind)].push(ns);
    }
    latencies.sort_unstable();
    let p99_ns = percentile(&latencies, 0.99);
    let by_kind = KIND_NAMES
        .iter()
        .zip(per_kind)
        .filter(|(_, ns)| !ns.is_empty())
        .map(|(kind, mut ns)| {
            let kind = kind.to_string();
            ns.sort_unstable();
            // How many of this kind are among the mix's slowest 1 %: the commands a p99
            // target is really about.
            let above = ns.len() - ns.partition_point(|&x| x <= p99_ns);
            (kind, json!({"count": ns.len(), "p50": percentile(&ns, 0.5), "p99": percentile(&ns, 0.99), "p99_9": percentile(&ns, 0.999), "above_mix_p99": above}))
        })
        .collect::<serde_json::Map<String, serde_json::Value>>();
    let peak = peak_rss_bytes();
    Ok((
        MixResult {
            huge_page_bytes: huge_page_bytes(),
            commands_per_sec: args.commands as f64 / elapsed,
            p50_ns: percentile(&latencies, 0.50),
            p99_ns: percentile(&latencies, 0.99),
            p999_ns: percentile(&latencies, 0.999),
            max_ns: latencies.last().copied().unwrap_or(0),
            rejected,
            fills,
            by_kind,
        },
        peak,
    ))
}

/// Nanoseconds per quote that fires nothing, with `orders` resting.
fn quote_cost_with_resting(orders: u64, seed: u64) -> Result<f64> {
    let mut rng = Rng(seed.max(1));
    let mut seq = Sequencer::new()?;
    populate(&mut seq, &mut rng, (orders / 10).max(1), orders, 50_000_000)?;
    let quotes: Vec<Command> = (0..1_000_000)
        .map(|i| {
            // A quote's own time is the time the sequencer stamps on it.
            let kind = quote_kind(&mut rng, i % 6, seq.time_ns + 1_000);
            seq.command(kind)
        })
        .collect();
    let mut events = Vec::new();
    let started = Instant::now();
    for quote in &quotes {
        events.clear();
        seq.engine.apply_into(quote, &mut events);
    }
    let ns = started.elapsed().as_nanos() as f64 / quotes.len() as f64;
    ensure!(
        seq.engine.resting_orders() as u64 == orders,
        "nothing fired"
    );
    Ok(ns)
}

/// With `accounts` holding positions: ns per quote that crosses nobody's threshold; then a falling
/// market that loss-cuts thin accounts planted at staggered levels, timed quote by quote.
fn quote_cost_with_positions(accounts: u64, seed: u64) -> Result<PositionsRun> {
    let mut rng = Rng(seed.max(1));
    let mut seq = Sequencer::new()?;
    populate(&mut seq, &mut rng, accounts, 0, 5_000_000)?;
    for n in 0..accounts {
        let instrument = InstrumentId(rng.below(6) as u16);
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let events = seq.apply(CommandKind::PlaceOrder {
            account: AccountId(n + 1),
            client_order_id: None,
            request: OrderRequest::Single(OrderSpec {
                instrument,
                side,
                qty: 10_000,
                kind: OrderKind::Market { slippage: None },
                time_in_force: TimeInForce::GoodTillCancelled,
                close_position: None,
            }),
        });
        ensure!(
            events
                .iter()
                .any(|e| matches!(e, Event::OrderFilled { .. })),
            "position opened"
        );
    }
    // Quotes that cross nobody: the usual wander.
    let quotes: Vec<Command> = (0..500_000)
        .map(|i| {
            // A quote's own time is the time the sequencer stamps on it.
            let kind = quote_kind(&mut rng, i % 6, seq.time_ns + 1_000);
            seq.command(kind)
        })
        .collect();
    let mut events = Vec::new();
    let started = Instant::now();
    for quote in &quotes {
        events.clear();
        seq.engine.apply_into(quote, &mut events);
    }
    let calm_ns = started.elapsed().as_nanos() as f64 / quotes.len() as f64;
    // Thin accounts long USD/JPY with margin for 1 %, 1.1 %, ... of a fall.
    let mut thin = Vec::new();
    for k in 0..200 {
        let events = seq.apply(CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        });
        let Some(Event::AccountOpened { account }) = events.first().cloned() else {
            anyhow::bail!("open thin account");
        };
        thin.push(account);
        seq.apply(CommandKind::Deposit {
            account,
            amount_minor: 62_000 + k * 150,
        });
        seq.apply(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request: OrderRequest::Single(OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                qty: 10_000,
                kind: OrderKind::Market { slippage: None },
                time_in_force: TimeInForce::GoodTillCancelled,
                close_position: None,
            }),
        });
    }
    // Walk USD/JPY down 3 ticks a quote (a 4 % fall over ~2,000 quotes) and time every quote.
    let (mut walk_ns, mut cut_ns, mut cuts, mut quotes, mut worst_ns) =
        (0u128, 0u128, 0u64, 0u64, 0u128);
    let mut bid = MIDS[0] + WANDER_TICKS;
    while cuts < 150 && bid > MIDS[0] - 20_000 {
        bid -= 3;
        let kind = CommandKind::Quote {
            instrument: InstrumentId(0),
            bid,
            ask: bid + SPREAD_TICKS,
            source_time_ns: seq.time_ns + 1_000,
        };
        let command = seq.command(kind);
        events.clear();
        let started = Instant::now();
        seq.engine.apply_into(&command, &mut events);
        let took = started.elapsed().as_nanos();
        walk_ns += took;
        worst_ns = worst_ns.max(took);
        quotes += 1;
        let cut_here = events
            .iter()
            .filter(|e| matches!(e, Event::LossCut { .. }))
            .count() as u64;
        if cut_here > 0 {
            cut_ns += took;
            cuts += cut_here;
        }
    }
    ensure!(cuts > 0, "the falling market cut thin accounts");
    Ok(PositionsRun {
        calm_ns,
        walk_quotes: quotes,
        walk_ns_per_quote: walk_ns as f64 / quotes as f64,
        walk_worst_quote_ns: worst_ns,
        cut_ns_per_loss_cut: cut_ns as f64 / cuts as f64,
        loss_cuts: cuts,
        fall_pct: (MIDS[0] + WANDER_TICKS - bid) as f64 * 100.0 / MIDS[0] as f64,
    })
}

struct PositionsRun {
    calm_ns: f64,
    walk_quotes: u64,
    walk_ns_per_quote: f64,
    walk_worst_quote_ns: u128,
    cut_ns_per_loss_cut: f64,
    loss_cuts: u64,
    fall_pct: f64,
}

pub fn run(args: EngineBenchArgs) -> Result<()> {
    reexec_with_huge_pages(&args)?;
    ensure!(
        args.accounts > 0 && args.orders <= args.accounts * 1_000,
        "between 1 and 1,000 orders per account"
    );
    eprintln!("bench engine: throughput pass");
    let (throughput, peak_rss) = run_mix(&args, false)?;
    eprintln!("bench engine: latency pass");
    let (latency, latency_peak_rss) = run_mix(&args, true)?;
    if huge_pages_on() && latency.huge_page_bytes < latency_peak_rss / 2 {
        eprintln!(
            "bench engine: only {} of {} MiB had huge pages in the latency pass (glibc does not \
             always apply GLIBC_TUNABLES=glibc.malloc.hugetlb=1); expect higher latency figures \
             (TLB misses) than on a run that got them",
            latency.huge_page_bytes / (1024 * 1024),
            latency_peak_rss / (1024 * 1024)
        );
    }
    let mut scaling_orders = Vec::new();
    let mut scaling_accounts = Vec::new();
    if !args.quick {
        for orders in [10_000u64, 100_000, 1_000_000] {
            eprintln!("bench engine: quote cost with {orders} resting orders");
            let ns = quote_cost_with_resting(orders, args.seed)?;
            scaling_orders.push(json!({"resting_orders": orders, "ns_per_quote": round1(ns)}));
        }
        for accounts in [1_000u64, 100_000] {
            eprintln!("bench engine: quote cost with {accounts} accounts holding positions");
            let run = quote_cost_with_positions(accounts, args.seed)?;
            scaling_accounts.push(json!({
                "accounts_with_positions": accounts,
                "ns_per_quote_crossing_nobody": round1(run.calm_ns),
                "falling_market": {
                    "fall_pct": round1(run.fall_pct),
                    "quotes": run.walk_quotes,
                    "ns_per_quote": round1(run.walk_ns_per_quote),
                    "worst_quote_ns": run.walk_worst_quote_ns,
                    "loss_cuts": run.loss_cuts,
                    "ns_per_quote_that_cut": round1(run.cut_ns_per_loss_cut),
                },
            }));
        }
    }
    let report = json!({
        "bench": "engine",
        "parameters": {
            "accounts": args.accounts,
            "working_orders": args.orders,
            "instruments": 6,
            "measured_commands": args.commands,
            "mix": {"quotes_pct": 90, "place_limit_pct": 4, "cancel_pct": 4, "amend_pct": 1, "market_pct": 1},
            "seed": args.seed,
            "threads": 1,
            "transparent_huge_pages": huge_pages_on(),
        },
        "commands_per_sec": round1(throughput.commands_per_sec),
        "latency_ns": {"p50": latency.p50_ns, "p99": latency.p99_ns, "p99_9": latency.p999_ns, "max": latency.max_ns},
        "latency_ns_by_command": latency.by_kind,
        "peak_rss_bytes": peak_rss,
        "latency_pass_huge_page_bytes": latency.huge_page_bytes,
        "refused_commands": throughput.rejected,
        "fills": throughput.fills,
        "quote_cost_by_resting_orders": scaling_orders,
        "quote_cost_by_accounts_with_positions": scaling_accounts,
        "targets": {"commands_per_sec_min": 3_000_000, "p99_ns_max": 2_000},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "engine: {:.0} commands/s, latency p50 {} ns, p99 {} ns, p99.9 {} ns, peak RSS {} MiB",
            throughput.commands_per_sec,
            latency.p50_ns,
            latency.p99_ns,
            latency.p999_ns,
            peak_rss / (1024 * 1024)
        );
        for row in scaling_orders.iter().chain(&scaling_accounts) {
            println!("  {row}");
        }
    }
    Ok(())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
