//! Property: with every fill priced at "first tick beyond", the plan agrees exactly with the
//! live engine run over the same ticks (same fills at the same ticks and prices, same
//! loss-cuts), and applying the plan's corrections to the state before the outage ends where
//! the live run ends (balances and positions).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use fxdesk_backfill::plan::{build_plan, JournalInputs, LiveAfter, PlanInput};
use fxdesk_backfill::policy::{FillPrice, FillPrices, Policy};
use fxdesk_backfill::ticks::WindowTicks;
use fxdesk_backfill::CorrectionKind;
use fxdesk_engine::*;
use fxdesk_market::Tick;
use proptest::prelude::*;

/// Tuesday 2026-07-14 10:00 UTC.
const T0: i64 = 1_784_023_200_000_000_000;
const SYMBOLS: [&str; 2] = ["USD/JPY", "EUR/JPY"];
const MIDS: [i64; 2] = [150_000, 162_000];

#[derive(Debug, Clone)]
struct OrderGen {
    account: u8,
    instrument: u8,
    shape: u8,
    buy: bool,
    lots: u8,
    offset: i64,
}

fn order_gen() -> impl Strategy<Value = OrderGen> {
    (0u8..4, 0u8..2, 0u8..9, any::<bool>(), 1u8..30, -600i64..600).prop_map(
        |(account, instrument, shape, buy, lots, offset)| OrderGen {
            account,
            instrument,
            shape,
            buy,
            lots,
            offset,
        },
    )
}

fn tick_gen() -> impl Strategy<Value = (u8, i64, i64)> {
    (0u8..2, -500i64..500, 1i64..90)
}

struct Pre {
    engine: Engine,
    time_ns: i64,
}

impl Pre {
    fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        self.time_ns += 1_000_000;
        self.engine.apply(&Command {
            time_ns: self.time_ns,
            kind,
        })
    }
}

fn build_pre(deposits: &[i64], orders: &[OrderGen]) -> Pre {
    let mut pre = Pre {
        engine: Engine::new(EngineConfig::default()).unwrap(),
        time_ns: T0 - 3_600_000_000_000,
    };
    let ids: Vec<InstrumentId> = SYMBOLS
        .iter()
        .map(|s| pre.engine.instrument_by_symbol(s).unwrap())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let t = pre.time_ns + 1;
        pre.run(CommandKind::Quote {
            instrument: *id,
            bid: MIDS[i],
            ask: MIDS[i] + 5,
            source_time_ns: t,
        });
    }
    let usd = pre.engine.instrument_by_symbol("USD/JPY").unwrap();
    let t = pre.time_ns + 1;
    pre.run(CommandKind::Quote {
        instrument: usd,
        bid: MIDS[0],
        ask: MIDS[0] + 5,
        source_time_ns: t,
    });
    // Tight thresholds, so margin calls and loss-cuts happen inside small windows.
    pre.run(CommandKind::SetGroup(GroupSpec {
        id: GroupId(1),
        leverage: 25,
        margin_call_bp: 10_000,
        loss_cut_bp: 9_000,
        loss_cut_mode: LossCutMode::LargestLossFirst,
    }));
    let mut accounts = Vec::new();
    for &deposit in deposits {
        pre.run(CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        });
        let account = AccountId(accounts.len() as u64 + 1);
        pre.run(CommandKind::Deposit {
            account,
            amount_minor: deposit,
        });
        accounts.push(account);
    }
    // The first account uses most of its margin at once.
    let big = (deposits[0] * 9 / 10 / 6 / 1_000).max(1) * 1_000;
    let side = if orders.first().is_some_and(|o| o.buy) {
        Side::Buy
    } else {
        Side::Sell
    };
    pre.run(CommandKind::PlaceOrder {
        account: accounts[0],
        client_order_id: None,
        request: OrderRequest::Single(OrderSpec {
            instrument: ids[0],
            side,
            qty: big,
            kind: OrderKind::Market { slippage: None },
            time_in_force: TimeInForce::GoodTillCancelled,
            close_position: None,
        }),
    });
    for o in orders {
        let account = accounts[usize::from(o.account) % accounts.len()];
        let i = usize::from(o.instrument);
        let side = if o.buy { Side::Buy } else { Side::Sell };
        let mid = MIDS[i];
        let spec = |side: Side, kind: OrderKind| OrderSpec {
            instrument: ids[i],
            side,
            qty: i64::from(o.lots) * 1_000,
            kind,
            time_in_force: TimeInForce::GoodTillCancelled,
            close_position: None,
        };
        let away = o.offset.abs().max(10);
        let request = match o.shape {
            0 => OrderRequest::Single(spec(side, OrderKind::Market { slippage: None })),
            1 => OrderRequest::Single(spec(
                side,
                OrderKind::Limit {
                    price: mid + o.offset,
                },
            )),
            2 => OrderRequest::Single(spec(
                side,
                OrderKind::Stop {
                    price: mid + o.offset,
                },
            )),
            3 => OrderRequest::Single(spec(
                side,
                OrderKind::StopLimit {
                    stop: mid + o.offset,
                    limit: mid + o.offset + o.offset.signum() * 30,
                },
            )),
            4 => OrderRequest::Single(spec(
                side,
                OrderKind::TrailingStop {
                    distance_ticks: away,
                },
            )),
            5 => OrderRequest::Oco(
                spec(side, OrderKind::Limit { price: mid - away }),
                spec(side, OrderKind::Stop { price: mid + away }),
            ),
            6 => OrderRequest::Ifd {
                first: spec(
                    side,
                    OrderKind::Stop {
                        price: mid + o.offset,
                    },
                ),
                then: spec(
                    side.opposite(),
                    OrderKind::Limit {
                        price: mid + o.offset + away / 2 * side.sign(),
                    },
                ),
            },
            7 => OrderRequest::Ifo {
                first: spec(
                    side,
                    OrderKind::Limit {
                        price: mid + o.offset,
                    },
                ),
                then_a: spec(
                    side.opposite(),
                    OrderKind::Limit {
                        price: mid + o.offset + away * side.sign(),
                    },
                ),
                then_b: spec(
                    side.opposite(),
                    OrderKind::Stop {
                        price: mid + o.offset - away * side.sign(),
                    },
                ),
            },
            _ => {
                // TP/SL on the account's newest position, if any.
                let Some(p) = pre
                    .engine
                    .positions_of(account)
                    .last()
                    .map(|p| (p.id, p.side))
                else {
                    continue;
                };
                let sign = p.1.sign();
                pre.run(CommandKind::SetProtection {
                    account,
                    position: p.0,
                    take_profit: Some(mid + sign * away),
                    stop_loss: Some(mid - sign * away),
                });
                continue;
            }
        };
        pre.run(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request,
        });
    }
    pre
}

fn first_tick_beyond() -> Policy {
    let all = FillPrice::FirstTickBeyond;
    Policy {
        minimum_outage_minutes: 0,
        uncertain_window_ms: 0,
        fill_price: FillPrices {
            limit: all,
            stop: all,
            stop_limit: all,
            trailing_stop: all,
            take_profit: all,
            stop_loss: all,
        },
        ..Policy::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn with_first_tick_beyond_the_plan_is_what_the_live_engine_would_have_done(
        deposits in proptest::collection::vec(60_000i64..3_000_000, 1..4),
        orders in proptest::collection::vec(order_gen(), 1..40),
        steps in proptest::collection::vec(tick_gen(), 1..60),
    ) {
        let pre = build_pre(&deposits, &orders);
        let from_ns = pre.time_ns + 1;
        // The window's ticks: a random walk per instrument.
        let ids: Vec<InstrumentId> = SYMBOLS.iter().map(|s| pre.engine.instrument_by_symbol(s).unwrap()).collect();
        let mut mids = MIDS;
        let mut t = T0;
        let mut ticks = Vec::new();
        for (i, step, dt) in &steps {
            let i = usize::from(*i);
            mids[i] += step;
            t += dt * 1_000_000_000;
            ticks.push(Tick { time_ns: t, instrument: ids[i], bid: mids[i], ask: mids[i] + 5 });
        }
        let to_ns = t + 1;

        // The live engine over the same ticks.
        let mut live = pre.engine.clone();
        let mut live_fills = Vec::new();
        let mut live_cuts = Vec::new();
        let mut margin_cancelled = BTreeSet::new();
        let mut opened = BTreeSet::new();
        for tick in &ticks {
            let events = live.apply(&Command { time_ns: tick.time_ns, kind: CommandKind::Quote { instrument: tick.instrument, bid: tick.bid, ask: tick.ask, source_time_ns: tick.time_ns } });
            if std::env::var("AGREEMENT_DEBUG").is_ok() { eprintln!("LIVE {tick:?} -> {events:?}"); }
            // A loss-cut's closes are the PositionClosed events just before it (after any fill).
            let mut pending = Vec::new();
            for e in &events {
                match e {
                    Event::OrderFilled { order, price, qty, .. } => {
                        live_fills.push((order.0, tick.time_ns, *price, *qty));
                        pending.clear();
                    }
                    Event::OrderCancelled { order, reason: CancelReason::InsufficientMargin } => { margin_cancelled.insert(*order); }
                    Event::PositionOpened { position, .. } => { opened.insert(*position); }
                    Event::PositionClosed { position, price, .. } => pending.push((position.0, tick.time_ns, *price)),
                    Event::LossCut { positions_closed, .. } => {
                        let n = (*positions_closed as usize).min(pending.len());
                        live_cuts.extend(pending.split_off(pending.len() - n));
                        pending.clear();
                    }
                    _ => {}
                }
            }
        }
        live_cuts.retain(|(p, _, _)| !opened.contains(&PositionId(*p)));

        let window = WindowTicks { ticks: ticks.clone(), after: vec![None; 6], sources: Vec::new(), held: Vec::new() };
        let policy = first_tick_beyond();
        let plan = build_plan(PlanInput {
            pre: pre.engine.clone(),
            live: None,
            after: &LiveAfter::default(),
            journal: JournalInputs { dir: String::new(), pre_outage_seq: 0, pre_outage_state_hash: String::new(), last_seq: 0, last_state_hash: String::new() },
            from_ns,
            to_ns,
            ticks: &window,
            policy: &policy,
            guard_flags: None,
        }).unwrap();
        let planned: Vec<(u64, i64, i64, i64)> = plan.corrections.iter().filter(|c| c.kind == CorrectionKind::Fill).map(|c| (c.order.unwrap(), c.trigger_time_ns, c.proposed_price, c.qty)).collect();
        prop_assert_eq!(&planned, &live_fills);
        let planned_cuts: Vec<(u64, i64, i64)> = plan.corrections.iter().filter(|c| c.kind == CorrectionKind::LossCut).map(|c| (c.position.unwrap(), c.trigger_time_ns, c.proposed_price)).collect();
        prop_assert_eq!(&planned_cuts, &live_cuts);

        // Applying the plan to the state before the outage ends where the live run ended.
        if plan.skipped.is_empty() {
            let mut applied = pre.engine.clone();
            let mut time_ns = to_ns;
            let mut run = |engine: &mut Engine, kind: CommandKind| { time_ns += 1_000; engine.apply(&Command { time_ns, kind }) };
            run(&mut applied, CommandKind::Halt { instrument: None });
            for id in &ids {
                if let Some(q) = live.quote_of(*id).cloned() {
                    run(&mut applied, CommandKind::Quote { instrument: *id, bid: q.bid, ask: q.ask, source_time_ns: q.source_time_ns });
                }
            }
            for correction in &plan.corrections {
                for kind in &correction.commands {
                    let events = run(&mut applied, kind.clone());
                    if std::env::var("AGREEMENT_DEBUG").is_ok() { eprintln!("{kind:?} -> {events:?}"); }
                    prop_assert!(!events.iter().any(|e| matches!(e, Event::Rejected(_))), "{:?} refused: {:?}", kind, events);
                }
            }
            let positions = |e: &Engine| -> Vec<(u64, u16, Side, i64, i64)> { e.positions().map(|p| (p.account.0, p.instrument.0, p.side, p.qty, p.open_price)).collect() };
            prop_assert_eq!(positions(&applied), positions(&live));
            for account in live.accounts() {
                prop_assert_eq!(applied.account(account.id).unwrap().balance_minor, account.balance_minor, "balance of {}", account.id);
            }
            let live_orders: BTreeSet<OrderId> = live.orders().map(|o| o.id).collect();
            let applied_orders: BTreeSet<OrderId> = applied.orders().map(|o| o.id).collect();
            prop_assert_eq!(applied_orders, live_orders);
            let cancels: BTreeSet<OrderId> = plan.corrections.iter().filter(|c| c.kind == CorrectionKind::Cancel).filter_map(|c| c.order.map(OrderId)).collect();
            prop_assert!(cancels.is_subset(&margin_cancelled));
        }
    }
}
