//! Property tests: random command streams, with the engine's invariants checked after every
//! command, and randomized garbage that must never make it panic.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_engine::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// One abstract step; the interpreter turns it into a command near the current market.
#[derive(Debug, Clone)]
enum Op {
    Quote {
        instrument: u8,
        move_ticks: i64,
        spread: i64,
    },
    Order {
        account: u8,
        instrument: u8,
        shape: u8,
        side: bool,
        lots: u8,
        offset: i64,
        tif: u8,
        client: Option<u8>,
    },
    Cancel {
        account: u8,
        pick: u16,
    },
    Amend {
        account: u8,
        pick: u16,
        offset: i64,
        lots: u8,
    },
    Close {
        account: u8,
        pick: u16,
        part: bool,
    },
    Protect {
        account: u8,
        pick: u16,
        tp: i64,
        sl: i64,
    },
    Money {
        account: u8,
        deposit: bool,
        amount: i64,
    },
    Rollover {
        weekly: bool,
        long: i64,
        short: i64,
    },
    Halt {
        instrument: Option<u8>,
        halt: bool,
    },
    Garbage {
        seed: u64,
    },
    /// An outage-backfill correction: 0 cash adjustment, 1 fill of a working order at a price
    /// near the market, 2 close of a position, 3 restore of a position closed earlier (as it
    /// was just before that close, with its orders), 4 re-priced entry of an open position,
    /// 5 re-priced execution of a closed position booked as P&L, 6 restore of the orders a fill
    /// used up (as they were just before the fill, with their OCO peer or IFD/IFO children;
    /// often mangled by `offset`); `again` repeats it (must change nothing).
    Backfill {
        account: u8,
        pick: u16,
        what: u8,
        offset: i64,
        amount: i64,
        again: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..3, -400i64..400, 0i64..40).prop_map(|(instrument, move_ticks, spread)| Op::Quote { instrument, move_ticks, spread }),
        5 => (0u8..4, 0u8..3, 0u8..9, any::<bool>(), 1u8..40, -600i64..600, 0u8..6, proptest::option::of(0u8..6))
            .prop_map(|(account, instrument, shape, side, lots, offset, tif, client)| Op::Order { account, instrument, shape, side, lots, offset, tif, client }),
        1 => (0u8..4, any::<u16>()).prop_map(|(account, pick)| Op::Cancel { account, pick }),
        1 => (0u8..4, any::<u16>(), -300i64..300, 1u8..40).prop_map(|(account, pick, offset, lots)| Op::Amend { account, pick, offset, lots }),
        1 => (0u8..4, any::<u16>(), any::<bool>()).prop_map(|(account, pick, part)| Op::Close { account, pick, part }),
        1 => (0u8..4, any::<u16>(), 0i64..800, 0i64..800).prop_map(|(account, pick, tp, sl)| Op::Protect { account, pick, tp, sl }),
        1 => (0u8..4, any::<bool>(), 1i64..500_000).prop_map(|(account, deposit, amount)| Op::Money { account, deposit, amount }),
        1 => (any::<bool>(), -50i64..50, -50i64..50).prop_map(|(weekly, long, short)| Op::Rollover { weekly, long, short }),
        1 => (proptest::option::of(0u8..3), any::<bool>()).prop_map(|(instrument, halt)| Op::Halt { instrument, halt }),
        1 => any::<u64>().prop_map(|seed| Op::Garbage { seed }),
        1 => (0u8..4, any::<u16>(), 0u8..7, -300i64..300, -200_000i64..200_000, any::<bool>())
            .prop_map(|(account, pick, what, offset, amount, again)| Op::Backfill { account, pick, what, offset, amount, again }),
    ]
}

const SYMBOLS: [&str; 3] = [USDJPY, EURUSD, EURJPY];
const START: [i64; 3] = [150_000, 108_000, 162_000];

struct World {
    h: Harness,
    accounts: Vec<AccountId>,
    mids: [i64; 3],
    log: Vec<Command>,
    /// What each accepted order asked for, to check fills against it.
    kinds: BTreeMap<OrderId, (Side, OrderKind)>,
    oco_pairs: Vec<(OrderId, OrderId)>,
    ifd_children: BTreeMap<OrderId, OrderId>,
    filled: BTreeSet<OrderId>,
    pending_kinds: Vec<(Side, OrderKind)>,
    margin_calls: usize,
    loss_cuts: usize,
    /// Corrections issued so far (their item numbers).
    corrections: u32,
    /// The command being observed is a backfill fill, at a price of its own, not the quote.
    backfill_fill: bool,
    /// Every position closed whole so far, as a restore would put it back (from the state just
    /// before its close).
    closed: Vec<(RestoredPosition, Vec<RestoredOrder>)>,
    /// Every order filled so far with what it was linked to, as a restore would put them back
    /// (from the state just before the fill).
    used_up: Vec<Vec<RestoredLinkedOrder>>,
}

impl World {
    fn new(groups_mode: LossCutMode) -> World {
        World::with_thresholds(groups_mode, 10_000, 5_000)
    }

    fn with_thresholds(groups_mode: LossCutMode, margin_call_bp: i64, loss_cut_bp: i64) -> World {
        let mut config = EngineConfig::default();
        config.groups[0].loss_cut_mode = groups_mode;
        config.groups[0].margin_call_bp = margin_call_bp;
        config.groups[0].loss_cut_bp = loss_cut_bp;
        let mut world = World {
            h: Harness::new(config),
            accounts: vec![],
            mids: START,
            log: vec![],
            kinds: BTreeMap::new(),
            oco_pairs: vec![],
            ifd_children: BTreeMap::new(),
            filled: BTreeSet::new(),
            pending_kinds: vec![],
            margin_calls: 0,
            loss_cuts: 0,
            corrections: 0,
            backfill_fill: false,
            closed: vec![],
            used_up: vec![],
        };
        for i in 0..3 {
            world.quote(i, 0, 5);
        }
        for (currency, mode, deposit) in [
            (Currency::JPY, PositionMode::Hedging, 300_000),
            (Currency::JPY, PositionMode::Netting, 500_000),
            (Currency::USD, PositionMode::Hedging, 500_000),
            (Currency::JPY, PositionMode::Hedging, 80_000),
        ] {
            let open = world.run(CommandKind::OpenAccount {
                group: GroupId(1),
                currency,
                mode,
            });
            let Some(Event::AccountOpened { account }) = open.first().cloned() else {
                panic!("{open:?}")
            };
            world.run(CommandKind::Deposit {
                account,
                amount_minor: deposit,
            });
            world.accounts.push(account);
        }
        world
    }

    fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        self.h.time_ns += 1_000_000;
        let command = Command {
            time_ns: self.h.time_ns,
            kind,
        };
        self.log.push(command.clone());
        let before = self.h.engine.clone();
        let events = self.h.engine.apply(&command);
        for event in &events {
            match event {
                Event::PositionClosed {
                    position,
                    realised_pnl_minor,
                    qty_remaining: 0,
                    ..
                } => {
                    self.closed
                        .extend(before.restore_of(*position, *realised_pnl_minor));
                }
                Event::OrderFilled { order, .. } => {
                    self.used_up.extend(before.restore_orders_of(*order));
                }
                _ => {}
            }
        }
        self.observe(&events);
        events
    }

    fn quote(&mut self, i: usize, move_ticks: i64, spread: i64) {
        self.mids[i] = (self.mids[i] + move_ticks).clamp(60_000, 290_000);
        let bid = self.mids[i];
        let instrument = InstrumentId(self.h.engine.instrument_by_symbol(SYMBOLS[i]).unwrap().0);
        let source_time_ns = self.h.time_ns + 1_000_000;
        self.run(CommandKind::Quote {
            instrument,
            bid,
            ask: bid + spread,
            source_time_ns,
        });
    }

    fn observe(&mut self, events: &[Event]) {
        let mut kinds = self.pending_kinds.drain(..);
        for event in events {
            match event {
                Event::OrderAccepted { order, .. } => {
                    if let Some(kind) = kinds.next() {
                        self.kinds.insert(*order, kind);
                    }
                }
                Event::OrderFilled {
                    order,
                    side,
                    price,
                    instrument,
                    ..
                } => {
                    let quote = self.h.engine.quote_of(*instrument).unwrap();
                    let market = if *side == Side::Buy {
                        quote.ask
                    } else {
                        quote.bid
                    };
                    if !self.backfill_fill {
                        assert_eq!(*price, market, "fills happen at the current quote");
                    }
                    if let Some((kind_side, kind)) =
                        self.kinds.get(order).filter(|_| !self.backfill_fill)
                    {
                        assert_eq!(kind_side, side);
                        let ok = match (*side, *kind) {
                            (Side::Buy, OrderKind::Limit { price: limit }) => *price <= limit,
                            (Side::Sell, OrderKind::Limit { price: limit }) => *price >= limit,
                            (Side::Buy, OrderKind::Stop { price: stop }) => *price >= stop,
                            (Side::Sell, OrderKind::Stop { price: stop }) => *price <= stop,
                            (Side::Buy, OrderKind::StopLimit { limit, .. }) => *price <= limit,
                            (Side::Sell, OrderKind::StopLimit { limit, .. }) => *price >= limit,
                            _ => true,
                        };
                        assert!(
                            ok,
                            "order {order} ({kind:?}) filled outside its condition at {price}"
                        );
                    }
                    if let Some((_, parent)) =
                        self.ifd_children.iter().find(|(child, _)| *child == order)
                    {
                        assert!(
                            self.filled.contains(parent),
                            "IFD child {order} filled before its parent"
                        );
                    }
                    assert!(self.filled.insert(*order), "order {order} filled twice");
                }
                Event::MarginCall { .. } => self.margin_calls += 1,
                Event::LossCut { .. } => self.loss_cuts += 1,
                Event::OrderActivated { order } => {
                    if let Some(parent) = self.ifd_children.get(order) {
                        assert!(
                            self.filled.contains(parent),
                            "IFD child {order} live before its parent filled"
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn pick<T: Copy>(items: &[T], pick: u16) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[usize::from(pick) % items.len()])
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Quote {
                instrument,
                move_ticks,
                spread,
            } => self.quote(usize::from(instrument), move_ticks, spread),
            Op::Order {
                account,
                instrument,
                shape,
                side,
                lots,
                offset,
                tif,
                client,
            } => {
                let i = usize::from(instrument);
                let side = if side { Side::Buy } else { Side::Sell };
                let mid = self.mids[i];
                let qty = i64::from(lots) * 1_000;
                let kind = |shape: u8, offset: i64| match shape {
                    0 => OrderKind::Market {
                        slippage: (offset > 0).then_some(Slippage {
                            expected_price: mid,
                            max_ticks: offset / 10,
                        }),
                    },
                    1 => OrderKind::Limit {
                        price: mid + offset,
                    },
                    2 => OrderKind::Stop {
                        price: mid + offset,
                    },
                    3 => OrderKind::StopLimit {
                        stop: mid + offset,
                        limit: mid + offset + offset.signum() * 20,
                    },
                    _ => OrderKind::TrailingStop {
                        distance_ticks: offset.abs() + 1,
                    },
                };
                let time_in_force = match tif {
                    0 => TimeInForce::Day,
                    1 => TimeInForce::Week,
                    2 => TimeInForce::GoodTillDate(self.h.time_ns + 50_000_000),
                    3 if shape < 5 => TimeInForce::ImmediateOrCancel,
                    _ => TimeInForce::GoodTillCancelled,
                };
                let instrument_id = self.h.id(SYMBOLS[i]);
                let spec = |side: Side, kind: OrderKind, tif: TimeInForce| OrderSpec {
                    instrument: instrument_id,
                    side,
                    qty,
                    kind,
                    time_in_force: tif,
                    close_position: None,
                };
                let (request, kinds) = match shape {
                    0..=4 => (
                        OrderRequest::Single(spec(side, kind(shape, offset), time_in_force)),
                        vec![(side, kind(shape, offset))],
                    ),
                    5 => {
                        let (a, b) = (kind(1, offset.abs() + 10), kind(2, -offset.abs() - 10));
                        let (a, b) = if side == Side::Buy {
                            (kind(1, -offset.abs() - 10), kind(2, offset.abs() + 10))
                        } else {
                            (a, b)
                        };
                        (
                            OrderRequest::Oco(
                                spec(side, a, TimeInForce::GoodTillCancelled),
                                spec(side, b, TimeInForce::GoodTillCancelled),
                            ),
                            vec![(side, a), (side, b)],
                        )
                    }
                    6 => {
                        let first = kind(1, offset);
                        let then = kind(1, -offset);
                        (
                            OrderRequest::Ifd {
                                first: spec(side, first, TimeInForce::GoodTillCancelled),
                                then: spec(side.opposite(), then, TimeInForce::GoodTillCancelled),
                            },
                            vec![(side, first), (side.opposite(), then)],
                        )
                    }
                    7 => {
                        let first = kind(2, offset);
                        let (a, b) = (kind(1, offset * 2), kind(2, -offset));
                        (
                            OrderRequest::Ifo {
                                first: spec(side, first, time_in_force_non_ioc(time_in_force)),
                                then_a: spec(side.opposite(), a, TimeInForce::GoodTillCancelled),
                                then_b: spec(side.opposite(), b, TimeInForce::GoodTillCancelled),
                            },
                            vec![(side, first), (side.opposite(), a), (side.opposite(), b)],
                        )
                    }
                    _ => {
                        // A closing order aimed at one of the account's positions.
                        let account_id = self.accounts[usize::from(account)];
                        let positions = self.h.positions(account_id);
                        let Some(target) = positions.first() else {
                            return;
                        };
                        let k = kind(1, offset);
                        let mut s = spec(target.side.opposite(), k, TimeInForce::GoodTillCancelled);
                        s.instrument = target.instrument;
                        s.close_position = Some(target.id);
                        (OrderRequest::Single(s), vec![(target.side.opposite(), k)])
                    }
                };
                let account_id = self.accounts[usize::from(account)];
                self.pending_kinds = kinds;
                let events = self.run(CommandKind::PlaceOrder {
                    account: account_id,
                    client_order_id: client.map(|c| format!("c{c}")),
                    request: request.clone(),
                });
                let ids = accepted(&events);
                match request {
                    OrderRequest::Oco(..) if ids.len() == 2 => {
                        self.oco_pairs.push((ids[0], ids[1]))
                    }
                    OrderRequest::Ifd { .. } if ids.len() == 2 => {
                        self.ifd_children.insert(ids[1], ids[0]);
                    }
                    OrderRequest::Ifo { .. } if ids.len() == 3 => {
                        self.ifd_children.insert(ids[1], ids[0]);
                        self.ifd_children.insert(ids[2], ids[0]);
                        self.oco_pairs.push((ids[1], ids[2]));
                    }
                    _ => {}
                }
            }
            Op::Cancel { account, pick } => {
                let account = self.accounts[usize::from(account)];
                let orders: Vec<OrderId> = self
                    .h
                    .engine
                    .orders_of(account)
                    .iter()
                    .map(|o| o.id)
                    .collect();
                let order = Self::pick(&orders, pick).unwrap_or(OrderId(u64::from(pick)));
                self.run(CommandKind::CancelOrder { account, order });
            }
            Op::Amend {
                account,
                pick,
                offset,
                lots,
            } => {
                let account = self.accounts[usize::from(account)];
                let orders: Vec<Order> = self
                    .h
                    .engine
                    .orders_of(account)
                    .into_iter()
                    .cloned()
                    .collect();
                let Some(order) = Self::pick(&orders.iter().collect::<Vec<_>>(), pick).cloned()
                else {
                    return;
                };
                let mid = self.mids[usize::from(order.instrument.0).min(2)];
                let mut amendment = Amendment {
                    qty: Some(i64::from(lots) * 1_000),
                    ..Amendment::default()
                };
                let new_kind = match order.kind {
                    OrderKind::Limit { .. } => {
                        amendment.price = Some(mid + offset);
                        OrderKind::Limit {
                            price: mid + offset,
                        }
                    }
                    OrderKind::Stop { .. } => {
                        amendment.price = Some(mid + offset);
                        OrderKind::Stop {
                            price: mid + offset,
                        }
                    }
                    OrderKind::TrailingStop { .. } => {
                        amendment.distance_ticks = Some(offset.abs() + 1);
                        OrderKind::TrailingStop {
                            distance_ticks: offset.abs() + 1,
                        }
                    }
                    other => other,
                };
                // The amended order may fill within the amend command itself.
                let previous = self.kinds.insert(order.id, (order.side, new_kind));
                let events = self.run(CommandKind::AmendOrder {
                    account,
                    order: order.id,
                    amendment,
                });
                if rejection(&events).is_some() {
                    match previous {
                        Some(previous) => self.kinds.insert(order.id, previous),
                        None => self.kinds.remove(&order.id),
                    };
                }
            }
            Op::Close {
                account,
                pick,
                part,
            } => {
                let account = self.accounts[usize::from(account)];
                let positions: Vec<Position> = self.h.positions(account);
                let Some(position) =
                    Self::pick(&positions.iter().collect::<Vec<_>>(), pick).cloned()
                else {
                    return;
                };
                let qty = part.then(|| (position.qty / 2 / 1_000).max(1) * 1_000);
                self.run(CommandKind::ClosePosition {
                    account,
                    position: position.id,
                    qty,
                    slippage: None,
                });
            }
            Op::Protect {
                account,
                pick,
                tp,
                sl,
            } => {
                let account = self.accounts[usize::from(account)];
                let positions: Vec<Position> = self.h.positions(account);
                let Some(position) =
                    Self::pick(&positions.iter().collect::<Vec<_>>(), pick).cloned()
                else {
                    return;
                };
                let mid = self.mids[usize::from(position.instrument.0).min(2)];
                let sign = position.side.sign();
                let events = self.run(CommandKind::SetProtection {
                    account,
                    position: position.id,
                    take_profit: (tp > 0).then_some(mid + sign * tp),
                    stop_loss: (sl > 0).then_some(mid - sign * sl),
                });
                let ids = accepted(&events);
                if ids.len() == 2 {
                    self.oco_pairs.push((ids[0], ids[1]));
                }
            }
            Op::Money {
                account,
                deposit,
                amount,
            } => {
                let account = self.accounts[usize::from(account)];
                let kind = if deposit {
                    CommandKind::Deposit {
                        account,
                        amount_minor: amount,
                    }
                } else {
                    CommandKind::Withdraw {
                        account,
                        amount_minor: amount,
                    }
                };
                self.run(kind);
            }
            Op::Rollover {
                weekly,
                long,
                short,
            } => {
                let swaps = (0..3)
                    .map(|i| SwapRate {
                        instrument: self.h.id(SYMBOLS[i]),
                        long_ticks_per_unit: long,
                        short_ticks_per_unit: short,
                        days: 1,
                    })
                    .collect();
                self.run(CommandKind::Rollover { swaps, weekly });
            }
            Op::Halt { instrument, halt } => {
                let instrument = instrument.map(|i| self.h.id(SYMBOLS[usize::from(i)]));
                self.run(if halt {
                    CommandKind::Halt { instrument }
                } else {
                    CommandKind::Resume { instrument }
                });
            }
            Op::Backfill {
                account,
                pick,
                what,
                offset,
                amount,
                again,
            } => {
                let account = self.accounts[usize::from(account)];
                self.corrections += 1;
                let correction = CorrectionId {
                    plan: 7,
                    item: self.corrections,
                };
                let at_ns = self.h.time_ns;
                let kind = match what {
                    0 => CommandKind::CashAdjustment {
                        correction,
                        account,
                        amount_minor: amount,
                        reason: "outage backfill".to_owned(),
                    },
                    1 => {
                        let orders: Vec<Order> = self
                            .h
                            .engine
                            .orders_of(account)
                            .into_iter()
                            .cloned()
                            .collect();
                        let Some(order) = Self::pick(&orders.iter().collect::<Vec<_>>(), pick)
                        else {
                            return;
                        };
                        let mid = self.mids[usize::from(order.instrument.0).min(2)];
                        CommandKind::BackfillFill {
                            correction,
                            order: order.id,
                            price: mid + offset,
                            at_ns,
                        }
                    }
                    3 => {
                        let Some((position, orders)) =
                            Self::pick(&self.closed.iter().collect::<Vec<_>>(), pick).cloned()
                        else {
                            return;
                        };
                        // A restored order may fill again; it is no longer a filled one, and
                        // no longer a child waiting for its parent (it works on its own).
                        for order in &orders {
                            self.filled.remove(&order.id);
                            self.ifd_children.remove(&order.id);
                        }
                        CommandKind::BackfillRestore {
                            correction,
                            position,
                            orders,
                        }
                    }
                    4 => {
                        let positions = self.h.positions(account);
                        let Some(position) =
                            Self::pick(&positions.iter().collect::<Vec<_>>(), pick)
                        else {
                            return;
                        };
                        let mid = self.mids[usize::from(position.instrument.0).min(2)];
                        CommandKind::BackfillReprice {
                            correction,
                            account,
                            instrument: position.instrument,
                            position: position.id,
                            qty: position.qty,
                            from: position.open_price,
                            to: mid + offset,
                            realised_pnl_minor: None,
                        }
                    }
                    5 => {
                        let Some((position, _)) =
                            Self::pick(&self.closed.iter().collect::<Vec<_>>(), pick).cloned()
                        else {
                            return;
                        };
                        CommandKind::BackfillReprice {
                            correction,
                            account: position.account,
                            instrument: position.instrument,
                            position: position.id,
                            qty: position.qty,
                            from: position.open_price,
                            to: position.open_price + offset,
                            realised_pnl_minor: Some(amount),
                        }
                    }
                    6 => {
                        let Some(orders) =
                            Self::pick(&self.used_up.iter().collect::<Vec<_>>(), pick).cloned()
                        else {
                            return;
                        };
                        let orders = mangled(orders, offset, amount);
                        // Restored orders may fill again: no longer filled ones (put back if
                        // the restore is refused).
                        let ids: Vec<OrderId> = orders.iter().map(|o| o.order.order.id).collect();
                        let was_filled: Vec<OrderId> = ids
                            .iter()
                            .copied()
                            .filter(|id| self.filled.remove(id))
                            .collect();
                        // One that comes back working waits for no parent any more; nor does
                        // a child its parent's fill activated, if the parent comes back without
                        // it (a lone restore of an IFD parent).
                        let was_child: Vec<(OrderId, OrderId)> = self
                            .ifd_children
                            .iter()
                            .filter(|(child, parent)| {
                                let restored_working = orders
                                    .iter()
                                    .any(|o| o.order.order.id == **child && o.parent.is_none());
                                restored_working || (ids.contains(parent) && !ids.contains(child))
                            })
                            .map(|(child, parent)| (*child, *parent))
                            .collect();
                        for (child, _) in &was_child {
                            self.ifd_children.remove(child);
                        }
                        let kind = match orders.as_slice() {
                            [lone] if amount % 2 == 0 => CommandKind::BackfillRestoreOrder {
                                correction,
                                order: lone.order.clone(),
                            },
                            _ => CommandKind::BackfillRestoreOrders { correction, orders },
                        };
                        self.backfill_fill = true;
                        let events = self.run(kind.clone());
                        self.backfill_fill = false;
                        if rejection(&events).is_some() {
                            self.filled.extend(was_filled);
                            self.ifd_children.extend(was_child);
                        } else {
                            for id in &ids {
                                assert!(self.h.engine.order(*id).is_some() || events.iter().any(
                                    |e| matches!(e, Event::OrderFilled { order, .. }
                                        | Event::OrderCancelled { order, .. }
                                        | Event::OrderExpired { order } if order == id)
                                ), "restored order {id} is neither working nor ended by the restore");
                            }
                        }
                        if again {
                            let hash = self.h.engine.state_hash();
                            let events = self.h.engine.apply(&Command {
                                time_ns: self.h.time_ns,
                                kind,
                            });
                            assert!(rejection(&events).is_some());
                            assert_eq!(
                                hash,
                                self.h.engine.state_hash(),
                                "a restore again changed the state"
                            );
                        }
                        return;
                    }
                    _ => {
                        let positions = self.h.positions(account);
                        let Some(position) =
                            Self::pick(&positions.iter().collect::<Vec<_>>(), pick)
                        else {
                            return;
                        };
                        let mid = self.mids[usize::from(position.instrument.0).min(2)];
                        CommandKind::BackfillClose {
                            correction,
                            position: position.id,
                            price: mid + offset,
                            at_ns,
                        }
                    }
                };
                self.backfill_fill = true;
                let events = self.run(kind.clone());
                let applied = rejection(&events).is_none();
                if again {
                    let events = self.run(kind);
                    if applied {
                        assert_eq!(rejection(&events), Some(Reject::CorrectionAlreadyApplied));
                    }
                    assert_eq!(self.h.engine.correction_applied(correction), applied);
                }
                self.backfill_fill = false;
            }
            Op::Garbage { seed } => {
                let hash = self.h.engine.state_hash();
                let command = garbage(seed, self.h.time_ns);
                let events = self.h.engine.apply(&command);
                if rejection(&events).is_some()
                    && events.len() == 1
                    && command.time_ns < self.h.time_ns
                {
                    assert_eq!(
                        hash,
                        self.h.engine.state_hash(),
                        "a refused out-of-order command changed the state"
                    );
                }
                self.log.push(command.clone());
                self.h.time_ns = self.h.time_ns.max(command.time_ns);
                self.observe(&events);
            }
        }
    }

    fn check_invariants(&self) {
        let engine = &self.h.engine;
        let mut active = 0;
        for order in engine.orders() {
            let account = engine
                .account(order.account)
                .expect("order of a known account");
            assert!(account.orders.contains(&order.id));
            if order.active && !matches!(order.kind, OrderKind::Market { .. }) {
                active += 1;
            }
            if let Some(parent) = order.parent {
                assert!(
                    !order.active,
                    "an IFD child is live while its parent {parent} still works"
                );
                assert!(!self.filled.contains(&parent));
            }
        }
        assert_eq!(
            engine.resting_orders(),
            active,
            "every active order rests in exactly one book"
        );
        for (a, b) in &self.oco_pairs {
            assert!(
                !(self.filled.contains(a) && self.filled.contains(b)),
                "both OCO legs {a} and {b} filled"
            );
        }
        let nothing_halted = !engine.is_halted_globally()
            && engine.instruments().all(|(id, _)| !engine.is_halted(id));
        for account in engine.accounts() {
            assert_eq!(
                i128::from(account.balance_minor),
                i128::from(account.deposited_minor) - i128::from(account.withdrawn_minor)
                    + i128::from(account.realised_pnl_minor)
                    + i128::from(account.swaps_booked_minor)
                    + i128::from(account.adjustments_minor),
                "money is conserved in account {}",
                account.id
            );
            for p in &account.positions {
                let position = engine.position(*p).expect("listed position exists");
                assert_eq!(position.account, account.id);
                assert!(position.qty > 0);
            }
            if nothing_halted {
                let group = engine.group(account.group).unwrap();
                let valuation = engine.valuation(account.id).unwrap();
                assert!(
                    !valuation.below(group.loss_cut_bp),
                    "account {} below its loss-cut line, not cut: {:?}",
                    account.id,
                    valuation.ratio_bp()
                );
                assert_eq!(
                    valuation.below(group.margin_call_bp),
                    account.margin_call,
                    "margin call flag of {} wrong at {:?}",
                    account.id,
                    valuation.ratio_bp()
                );
            }
        }
    }
}

fn time_in_force_non_ioc(tif: TimeInForce) -> TimeInForce {
    match tif {
        TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill => TimeInForce::GoodTillCancelled,
        other => other,
    }
}

/// A command built from raw numbers: unknown ids, extreme values, times in the past.
fn garbage(seed: u64, now: i64) -> Command {
    let mut x = seed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let wild = |v: u64| -> i64 {
        match v % 6 {
            0 => i64::MAX,
            1 => i64::MIN,
            2 => 0,
            3 => -((v >> 8) as i64 % 1_000_000),
            _ => (v >> 8) as i64 % 1_000_000_000,
        }
    };
    let time_ns = if next() % 4 == 0 {
        now - (next() % 1_000_000_000) as i64
    } else {
        now + 1
    };
    let spec = |n: &mut dyn FnMut() -> u64| OrderSpec {
        instrument: InstrumentId((n() % 8) as u16),
        side: if n().is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        qty: wild(n()),
        kind: match n() % 5 {
            0 => OrderKind::Market {
                slippage: Some(Slippage {
                    expected_price: wild(n()),
                    max_ticks: wild(n()),
                }),
            },
            1 => OrderKind::Limit { price: wild(n()) },
            2 => OrderKind::Stop { price: wild(n()) },
            3 => OrderKind::StopLimit {
                stop: wild(n()),
                limit: wild(n()),
            },
            _ => OrderKind::TrailingStop {
                distance_ticks: wild(n()),
            },
        },
        time_in_force: match n() % 3 {
            0 => TimeInForce::GoodTillDate(wild(n())),
            1 => TimeInForce::FillOrKill,
            _ => TimeInForce::Day,
        },
        close_position: Some(PositionId(n() % 50)),
    };
    let kind = match next() % 12 {
        0 => CommandKind::Quote {
            instrument: InstrumentId((next() % 8) as u16),
            bid: wild(next()),
            ask: wild(next()),
            source_time_ns: wild(next()),
        },
        1 => CommandKind::Deposit {
            account: AccountId(next() % 10),
            amount_minor: wild(next()),
        },
        2 => CommandKind::Withdraw {
            account: AccountId(next() % 10),
            amount_minor: wild(next()),
        },
        3 => CommandKind::PlaceOrder {
            account: AccountId(next() % 10),
            client_order_id: Some("x".repeat((next() % 80) as usize)),
            request: OrderRequest::Single(spec(&mut next)),
        },
        4 => CommandKind::PlaceOrder {
            account: AccountId(next() % 10),
            client_order_id: None,
            request: OrderRequest::Ifo {
                first: spec(&mut next),
                then_a: spec(&mut next),
                then_b: spec(&mut next),
            },
        },
        5 => CommandKind::AmendOrder {
            account: AccountId(next() % 10),
            order: OrderId(next() % 100),
            amendment: Amendment {
                qty: Some(wild(next())),
                price: Some(wild(next())),
                limit: None,
                distance_ticks: Some(wild(next())),
                time_in_force: None,
            },
        },
        6 => CommandKind::ClosePosition {
            account: AccountId(next() % 10),
            position: PositionId(next() % 100),
            qty: Some(wild(next())),
            slippage: None,
        },
        7 => CommandKind::SetProtection {
            account: AccountId(next() % 10),
            position: PositionId(next() % 100),
            take_profit: Some(wild(next())),
            stop_loss: Some(wild(next())),
        },
        9 => CommandKind::BackfillReprice {
            correction: CorrectionId {
                plan: next(),
                item: (next() % 4) as u32,
            },
            account: AccountId(next() % 10),
            instrument: InstrumentId((next() % 8) as u16),
            position: PositionId(next() % 100),
            qty: wild(next()),
            from: wild(next()),
            to: wild(next()),
            realised_pnl_minor: (next() % 2 == 0).then(|| wild(next())),
        },
        10 => {
            let account = AccountId(next() % 10);
            let instrument = InstrumentId((next() % 8) as u16);
            let id = |n: &mut dyn FnMut() -> u64| OrderId(n() % 100);
            let orders = (0..next() % 5)
                .map(|_| RestoredLinkedOrder {
                    order: RestoredOpeningOrder {
                        account,
                        instrument,
                        side: if next().is_multiple_of(2) {
                            Side::Buy
                        } else {
                            Side::Sell
                        },
                        order: RestoredOrder {
                            id: id(&mut next),
                            client_order_id: (next() % 3 == 0).then(|| "x".to_owned()),
                            qty: wild(next()),
                            kind: spec(&mut next).kind,
                            time_in_force: spec(&mut next).time_in_force,
                            placed_ns: wild(next()),
                            stop_reached: next() % 4 == 0,
                            oco_peer: (next() % 2 == 0).then(|| id(&mut next)),
                        },
                    },
                    parent: (next() % 2 == 0).then(|| id(&mut next)),
                    children: (0..next() % 3).map(|_| id(&mut next)).collect(),
                })
                .collect();
            CommandKind::BackfillRestoreOrders {
                correction: CorrectionId {
                    plan: next(),
                    item: (next() % 4) as u32,
                },
                orders,
            }
        }
        8 => CommandKind::SetGroup(GroupSpec {
            id: GroupId((next() % 3) as u32 + 2),
            leverage: wild(next()),
            margin_call_bp: wild(next()),
            loss_cut_bp: wild(next()),
            loss_cut_mode: LossCutMode::AllAtMarket,
        }),
        _ => CommandKind::Rollover {
            swaps: vec![SwapRate {
                instrument: InstrumentId((next() % 8) as u16),
                long_ticks_per_unit: wild(next()),
                short_ticks_per_unit: wild(next()),
                days: wild(next()),
            }],
            weekly: next() % 2 == 0,
        },
    };
    Command { time_ns, kind }
}

/// A restore as it was, or (by `offset`) with one thing wrong: a link dropped or pointing
/// elsewhere, an order missing or twice, another account.
fn mangled(
    mut orders: Vec<RestoredLinkedOrder>,
    offset: i64,
    amount: i64,
) -> Vec<RestoredLinkedOrder> {
    let last = orders.len() - 1;
    let other = OrderId(amount.unsigned_abs() % 40);
    match offset.rem_euclid(12) {
        0 => orders[0].order.order.oco_peer = None,
        1 => orders[last].order.order.oco_peer = Some(other),
        2 => orders[0].children.clear(),
        3 => orders[last].parent = Some(other),
        4 => {
            orders.pop();
        }
        5 => orders.push(orders[last].clone()),
        6 => orders[last].order.account = AccountId(amount.unsigned_abs() % 6),
        7 => orders[0].children.push(other),
        _ => {}
    }
    orders
}

fn run_world(ops: &[Op], mode: LossCutMode) -> World {
    run_world_in(World::new(mode), ops)
}

fn run_world_in(mut world: World, ops: &[Op]) -> World {
    world.check_invariants();
    for op in ops {
        world.apply(op);
        world.check_invariants();
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_command(ops in proptest::collection::vec(op(), 1..250)) {
        run_world(&ops, LossCutMode::AllAtMarket);
    }

    #[test]
    fn invariants_hold_with_largest_loss_first(ops in proptest::collection::vec(op(), 1..250)) {
        run_world(&ops, LossCutMode::LargestLossFirst);
    }

    #[test]
    fn replaying_the_same_commands_gives_the_same_state_hash(ops in proptest::collection::vec(op(), 1..200)) {
        let world = run_world(&ops, LossCutMode::AllAtMarket);
        let mut replay = Engine::new(EngineConfig::default()).unwrap();
        let mut replay_events = Vec::new();
        for command in &world.log {
            replay_events.extend(replay.apply(command));
        }
        prop_assert_eq!(replay.state_hash(), world.h.engine.state_hash());
        prop_assert_eq!(&replay, &world.h.engine);
        // A snapshot taken halfway and replayed from gives the same end state.
        let half = world.log.len() / 2;
        let mut first = Engine::new(EngineConfig::default()).unwrap();
        for command in &world.log[..half] {
            first.apply(command);
        }
        let snapshot = serde_json::to_vec(&first).unwrap();
        let mut resumed: Engine = serde_json::from_slice(&snapshot).unwrap();
        for command in &world.log[half..] {
            resumed.apply(command);
        }
        prop_assert_eq!(resumed.state_hash(), world.h.engine.state_hash());
    }

    #[test]
    fn garbage_commands_never_panic_and_leave_a_consistent_state(seeds in proptest::collection::vec(any::<u64>(), 1..300)) {
        let ops: Vec<Op> = seeds.into_iter().map(|seed| Op::Garbage { seed }).collect();
        run_world(&ops, LossCutMode::AllAtMarket);
    }
}

#[test]
fn money_is_conserved_across_a_long_busy_session() {
    // A fixed, long stream (not shrunk): exercises loss-cuts, swaps and netting together.
    let mut x = 42u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ops = Vec::new();
    let mut drift = 0i64;
    for step in 0..5_000 {
        if step % 400 == 0 {
            drift = (next() % 121) as i64 - 60;
        }
        let r = next();
        ops.push(match r % 10 {
            0..=5 => Op::Quote {
                instrument: (r % 3) as u8,
                move_ticks: drift + (next() % 601) as i64 - 300,
                spread: (next() % 20) as i64,
            },
            6 | 7 => Op::Order {
                account: (next() % 4) as u8,
                instrument: (next() % 3) as u8,
                shape: (next() % 9) as u8,
                side: next() % 2 == 0,
                lots: (next() % 39 + 1) as u8,
                offset: (next() % 801) as i64 - 400,
                tif: (next() % 6) as u8,
                client: None,
            },
            8 => Op::Close {
                account: (next() % 4) as u8,
                pick: next() as u16,
                part: next() % 2 == 0,
            },
            _ => Op::Rollover {
                weekly: false,
                long: (next() % 41) as i64 - 20,
                short: (next() % 41) as i64 - 20,
            },
        });
    }
    let world = run_world_in(
        World::with_thresholds(LossCutMode::LargestLossFirst, 10_000, 8_000),
        &ops,
    );
    assert!(
        world.filled.len() > 100,
        "the session traded: {} fills",
        world.filled.len()
    );
    // The margin machinery was exercised, not just idle.
    assert!(
        world.margin_calls > 0 && world.loss_cuts > 0,
        "calls {} cuts {}",
        world.margin_calls,
        world.loss_cuts
    );
    eprintln!(
        "fills {} margin calls {} loss-cuts {}",
        world.filled.len(),
        world.margin_calls,
        world.loss_cuts
    );
}

/// Many leveraged accounts across all instruments and both currencies, then a volatile market:
/// the margin bands must never let an account sit below a threshold unnoticed, including when
/// only a conversion pair moves (EUR/USD positions in a yen account depend on USD/JPY).
fn bands_world(seed: u64, quotes: usize) -> World {
    let mut world = World::with_thresholds(LossCutMode::AllAtMarket, 10_000, 8_000);
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for n in 0..24u64 {
        let currency = if n % 3 == 0 {
            Currency::USD
        } else {
            Currency::JPY
        };
        let open = world.run(CommandKind::OpenAccount {
            group: GroupId(1),
            currency,
            mode: PositionMode::Hedging,
        });
        let Some(Event::AccountOpened { account }) = open.first().cloned() else {
            panic!()
        };
        let deposit = if currency == Currency::USD {
            400_000
        } else {
            600_000
        };
        world.run(CommandKind::Deposit {
            account,
            amount_minor: deposit,
        });
        for symbol in SYMBOLS {
            let side = if next() % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let qty = (next() % 30 + 5) as i64 * 1_000;
            let instrument = world.h.id(symbol);
            world.run(CommandKind::PlaceOrder {
                account,
                client_order_id: None,
                request: OrderRequest::Single(OrderSpec {
                    instrument,
                    side,
                    qty,
                    kind: OrderKind::Market { slippage: None },
                    time_in_force: TimeInForce::GoodTillCancelled,
                    close_position: None,
                }),
            });
        }
        world.accounts.push(account);
    }
    world.check_invariants();
    for _ in 0..quotes {
        let i = (next() % 3) as usize;
        let step = (next() % 401) as i64 - 200;
        world.quote(i, step, (next() % 30) as i64);
        world.check_invariants();
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn margin_bands_never_miss_a_threshold(seed in any::<u64>()) {
        bands_world(seed, 1_500);
    }
}

#[test]
fn a_volatile_market_calls_and_cuts_some_of_many_accounts() {
    let world = bands_world(7, 3_000);
    assert!(
        world.margin_calls > 0 && world.loss_cuts > 0,
        "calls {} cuts {}",
        world.margin_calls,
        world.loss_cuts
    );
}
