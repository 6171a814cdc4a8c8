//! The shadow replay: a copy of the state just before the outage, fed the window's ticks (all
//! instruments merged in time order) and the rollovers that fell inside it, through the very
//! same engine. Whatever the live engine would have done (limits, stops, stop-limits, trailing
//! stops, OCO, IFD/IFO children that activate and fire, TP/SL, GTD expiry, day orders expiring
//! at a rollover, margin calls, loss-cuts), the copy does, at the same ticks and prices.
//!
//! The replay records what happened with the tick that caused it; pricing by policy happens
//! afterwards (see `plan.rs`), so the triggering and margin logic is never re-implemented here.

use std::collections::HashMap;

use fxdesk_engine::{
    AccountId, CancelReason, Command, CommandKind, Engine, Event, GroupSpec, InstrumentId, OrderId,
    OrderKind, PositionId, Price, Qty, RatioBp, Reject, Side, TimeInForce, TimeNs,
};

use crate::ticks::WindowTick;

/// Something the replay must do at a time inside the window, besides ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloverAt {
    pub time_ns: TimeNs,
    pub weekly: bool,
}

/// What the plan needs to know of the state before the outage once the replay has consumed
/// it: every working order and open position, compactly (copying the whole engine would cost
/// more than the replay itself with a million orders).
pub struct PreIndex {
    orders: Vec<PreOrder>,
    positions: Vec<(PositionId, InstrumentId, Side)>,
}

/// A working order as it stood before the outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreOrder {
    pub id: OrderId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    /// The take-profit or stop-loss of a position.
    pub protects: bool,
    pub parent: Option<OrderId>,
    pub oco_peer: Option<OrderId>,
    /// The position a closing order (TP/SL included) is aimed at.
    pub close_position: Option<PositionId>,
    /// IFD/IFO children (an order has at most two).
    pub children: [Option<OrderId>; 2],
    pub placed_ns: TimeNs,
    /// A working trailing stop's trailed level.
    pub trailing_level: Option<Price>,
}

impl PreIndex {
    pub fn of(engine: &Engine) -> PreIndex {
        let orders = engine
            .orders()
            .map(|o| PreOrder {
                id: o.id,
                account: o.account,
                instrument: o.instrument,
                side: o.side,
                qty: o.qty,
                kind: o.kind,
                time_in_force: o.time_in_force,
                protects: o.protects.is_some(),
                parent: o.parent,
                oco_peer: o.oco_peer,
                close_position: o.close_position,
                children: [o.children.first().copied(), o.children.get(1).copied()],
                placed_ns: o.placed_ns,
                trailing_level: match o.kind {
                    OrderKind::TrailingStop { .. } => engine.trailing_stop_price(o.id),
                    _ => None,
                },
            })
            .collect();
        let positions = engine
            .positions()
            .map(|p| (p.id, p.instrument, p.side))
            .collect();
        PreIndex { orders, positions }
    }

    /// Orders in id order.
    pub fn orders(&self) -> &[PreOrder] {
        &self.orders
    }

    pub fn order(&self, id: OrderId) -> Option<&PreOrder> {
        self.orders
            .binary_search_by_key(&id, |o| o.id)
            .ok()
            .map(|i| &self.orders[i])
    }

    pub fn position(&self, id: PositionId) -> Option<(InstrumentId, Side)> {
        self.positions
            .binary_search_by_key(&id, |p| p.0)
            .ok()
            .map(|i| (self.positions[i].1, self.positions[i].2))
    }
}

/// The replay's inputs.
pub struct ShadowInput<'a> {
    /// The state just before the outage; the replay runs on it (it is consumed).
    pub pre: Engine,
    /// What the plan keeps of `pre` (see [`PreIndex::of`], taken before the replay).
    pub index: &'a PreIndex,
    pub ticks: &'a [WindowTick],
    pub rollovers: &'a [RolloverAt],
    /// False: loss-cuts are left for the reopening (the copy's loss-cut lines are lowered to the
    /// minimum so nothing is cut inside the window; margin calls are still raised).
    pub loss_cuts_in_window: bool,
}

/// An order the replay filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowFill {
    pub order: OrderId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    /// The price the engine filled at: the first tick that reached the order.
    pub price: Price,
    /// The order's own level at the time (a trailing stop's trailed level).
    pub level: Option<Price>,
    pub kind: OrderKind,
    /// The take-profit or stop-loss of a position.
    pub protects: bool,
    pub time_ns: TimeNs,
    /// Index of the tick in the window's ticks, and its bid/ask.
    pub tick: usize,
    pub bid: Price,
    pub ask: Price,
    /// The IFD/IFO parent this order waited for, if it was a child before the window.
    pub parent: Option<OrderId>,
    pub placed_ns: TimeNs,
    /// Position of this finding among everything the replay found (fills, loss-cuts, expiries).
    pub seq: u64,
}

/// One position a loss-cut closed inside the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowClose {
    pub position: PositionId,
    pub instrument: InstrumentId,
    /// The position's side (the close is the opposite).
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    /// True when a fill inside the window opened it (its id exists only in the replay).
    pub opened_in_window: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowLossCut {
    pub account: AccountId,
    pub ratio_bp: RatioBp,
    pub time_ns: TimeNs,
    pub tick: usize,
    pub closes: Vec<ShadowClose>,
    pub seq: u64,
}

/// An order the engine cancelled inside the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowCancel {
    pub order: OrderId,
    pub reason: CancelReason,
    pub time_ns: TimeNs,
    pub seq: u64,
}

/// An order that expired inside the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowExpiry {
    pub order: OrderId,
    pub account: AccountId,
    pub time_ns: TimeNs,
    /// Expired by a rollover inside the window (a day or week order); the live engine missed
    /// that rollover, so the order may still be working there.
    pub at_rollover: bool,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowNote {
    pub order: Option<OrderId>,
    pub account: Option<AccountId>,
    pub time_ns: TimeNs,
    pub what: String,
}

/// What the replay found, in time order.
pub struct ShadowResult {
    pub fills: Vec<ShadowFill>,
    pub loss_cuts: Vec<ShadowLossCut>,
    pub margin_calls: Vec<(AccountId, TimeNs, RatioBp)>,
    /// Orders that expired in the window (GTD, or day/week orders at a rollover).
    pub expired: Vec<ShadowExpiry>,
    /// Orders the engine cancelled in the window (OCO peers, insufficient margin, ...).
    pub cancelled: Vec<ShadowCancel>,
    /// Ticks the engine refused (stale, off scale, spread too wide), with the reason.
    pub refused_ticks: Vec<(usize, Reject)>,
    /// The copy after the window.
    pub end: Engine,
}

/// Runs the window through a copy of the engine.
pub fn replay(input: ShadowInput<'_>) -> ShadowResult {
    let mut engine = input.pre;
    let pre = input.index;
    let start_ns = engine.now_ns();
    let mut time_ns = start_ns;
    let mut apply = |engine: &mut Engine, at: TimeNs, kind: CommandKind| {
        time_ns = time_ns.max(at);
        engine.apply(&Command { time_ns, kind })
    };
    if !input.loss_cuts_in_window {
        for mut group in group_specs(&engine) {
            group.loss_cut_bp = 1;
            apply(&mut engine, start_ns, CommandKind::SetGroup(group));
        }
    }
    let mut result = Found::default();
    let instruments = engine.instruments().count();
    // Best prices seen inside the window, per instrument, for trailing levels: highest bid
    // (sell stops trail below it) and lowest ask (buy stops trail above it).
    let mut highest_bid: Vec<Option<Price>> = vec![None; instruments];
    let mut lowest_ask: Vec<Option<Price>> = vec![None; instruments];
    // Where an IFD child became active inside the window: (tick index) for its trailing level.
    let mut activated_at: HashMap<OrderId, usize> = HashMap::new();
    let mut opened_in_window: HashMap<PositionId, (InstrumentId, Side)> = HashMap::new();
    let mut rollovers = input.rollovers.iter().peekable();
    for (index, tick) in input.ticks.iter().enumerate() {
        while let Some(rollover) = rollovers.next_if(|r| r.time_ns <= tick.time_ns) {
            let events = apply(
                &mut engine,
                rollover.time_ns,
                CommandKind::Rollover {
                    swaps: Vec::new(),
                    weekly: rollover.weekly,
                },
            );
            let context = Context {
                pre,
                ticks: input.ticks,
                index,
                time_ns: rollover.time_ns,
                highest_bid: &highest_bid,
                lowest_ask: &lowest_ask,
                rollover: true,
            };
            record(
                &context,
                &events,
                &mut result,
                &mut activated_at,
                &mut opened_in_window,
            );
        }
        let events = apply(
            &mut engine,
            tick.time_ns,
            CommandKind::Quote {
                instrument: tick.instrument,
                bid: tick.bid,
                ask: tick.ask,
                source_time_ns: tick.time_ns,
            },
        );
        if let [Event::Rejected(reason)] = events.as_slice() {
            result.refused_ticks.push((index, *reason));
            continue;
        }
        let context = Context {
            pre,
            ticks: input.ticks,
            index,
            time_ns: tick.time_ns,
            highest_bid: &highest_bid,
            lowest_ask: &lowest_ask,
            rollover: false,
        };
        record(
            &context,
            &events,
            &mut result,
            &mut activated_at,
            &mut opened_in_window,
        );
        let i = usize::from(tick.instrument.0);
        if i < instruments {
            highest_bid[i] = Some(highest_bid[i].map_or(tick.bid, |b| b.max(tick.bid)));
            lowest_ask[i] = Some(lowest_ask[i].map_or(tick.ask, |a| a.min(tick.ask)));
        }
    }
    for rollover in rollovers {
        let events = apply(
            &mut engine,
            rollover.time_ns,
            CommandKind::Rollover {
                swaps: Vec::new(),
                weekly: rollover.weekly,
            },
        );
        let context = Context {
            pre,
            ticks: input.ticks,
            index: input.ticks.len(),
            time_ns: rollover.time_ns,
            highest_bid: &highest_bid,
            lowest_ask: &lowest_ask,
            rollover: true,
        };
        record(
            &context,
            &events,
            &mut result,
            &mut activated_at,
            &mut opened_in_window,
        );
    }
    ShadowResult {
        fills: result.fills,
        loss_cuts: result.loss_cuts,
        margin_calls: result.margin_calls,
        expired: result.expired,
        cancelled: result.cancelled,
        refused_ticks: result.refused_ticks,
        end: engine,
    }
}

/// What the replay collects as it goes.
#[derive(Default)]
struct Found {
    fills: Vec<ShadowFill>,
    loss_cuts: Vec<ShadowLossCut>,
    margin_calls: Vec<(AccountId, TimeNs, RatioBp)>,
    expired: Vec<ShadowExpiry>,
    cancelled: Vec<ShadowCancel>,
    refused_ticks: Vec<(usize, Reject)>,
    next_seq: u64,
}

impl Found {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

fn group_specs(engine: &Engine) -> Vec<GroupSpec> {
    let mut ids: Vec<fxdesk_engine::GroupId> = engine.accounts().map(|a| a.group).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| engine.group(id).cloned())
        .collect()
}

struct Context<'a> {
    pre: &'a PreIndex,
    ticks: &'a [WindowTick],
    /// The tick being applied (== ticks.len() after the last).
    index: usize,
    time_ns: TimeNs,
    highest_bid: &'a [Option<Price>],
    lowest_ask: &'a [Option<Price>],
    /// The command is a rollover, not a tick.
    rollover: bool,
}

impl Context<'_> {
    fn tick(&self) -> (Price, Price) {
        self.ticks
            .get(self.index)
            .map_or((0, 0), |t| (t.bid, t.ask))
    }

    /// A trailing stop's level just before the tick that fired it.
    fn trailing_level(
        &self,
        order: OrderId,
        side: Side,
        instrument: InstrumentId,
        distance: Price,
        activated_at: Option<usize>,
    ) -> Option<Price> {
        let i = usize::from(instrument.0);
        match activated_at {
            None => {
                let start = self.pre.order(order)?.trailing_level?;
                Some(match side {
                    Side::Sell => self
                        .highest_bid
                        .get(i)
                        .copied()
                        .flatten()
                        .map_or(start, |b| start.max(b - distance)),
                    Side::Buy => self
                        .lowest_ask
                        .get(i)
                        .copied()
                        .flatten()
                        .map_or(start, |a| start.min(a + distance)),
                })
            }
            Some(from) => {
                // Anchored at the quote it was activated at; rare, so a scan is fine.
                let seen = self
                    .ticks
                    .get(from..self.index)?
                    .iter()
                    .filter(|t| t.instrument == instrument);
                match side {
                    Side::Sell => seen.map(|t| t.bid).max().map(|b| b - distance),
                    Side::Buy => seen.map(|t| t.ask).min().map(|a| a + distance),
                }
            }
        }
    }
}

fn record(
    context: &Context<'_>,
    events: &[Event],
    result: &mut Found,
    activated_at: &mut HashMap<OrderId, usize>,
    opened_in_window: &mut HashMap<PositionId, (InstrumentId, Side)>,
) {
    let (bid, ask) = context.tick();
    for (at, event) in events.iter().enumerate() {
        match event {
            Event::OrderFilled {
                order,
                account,
                instrument,
                side,
                qty,
                price,
            } => {
                let known = context.pre.order(*order);
                let kind = known.map_or(OrderKind::Market { slippage: None }, |o| o.kind);
                let level = match kind {
                    OrderKind::Limit { price } | OrderKind::Stop { price } => Some(price),
                    OrderKind::StopLimit { limit, .. } => Some(limit),
                    OrderKind::TrailingStop { distance_ticks } => context.trailing_level(
                        *order,
                        *side,
                        *instrument,
                        distance_ticks,
                        activated_at.get(order).copied(),
                    ),
                    OrderKind::Market { .. } => None,
                };
                result.fills.push(ShadowFill {
                    order: *order,
                    account: *account,
                    instrument: *instrument,
                    side: *side,
                    qty: *qty,
                    price: *price,
                    level,
                    kind,
                    protects: known.is_some_and(|o| o.protects),
                    time_ns: context.time_ns,
                    tick: context.index,
                    bid,
                    ask,
                    parent: known.and_then(|o| o.parent),
                    placed_ns: known.map_or(context.time_ns, |o| o.placed_ns),
                    seq: 0,
                });
                let seq = result.seq();
                if let Some(fill) = result.fills.last_mut() {
                    fill.seq = seq;
                }
            }
            Event::OrderActivated { order } => {
                activated_at.insert(*order, context.index);
            }
            Event::PositionOpened {
                position,
                instrument,
                side,
                ..
            } => {
                opened_in_window.insert(*position, (*instrument, *side));
            }
            Event::LossCut {
                account,
                ratio_bp,
                positions_closed,
            } => {
                let mut closes = Vec::new();
                for earlier in events[..at].iter().rev() {
                    if closes.len() == *positions_closed as usize {
                        break;
                    }
                    if let Event::PositionClosed {
                        position,
                        account: owner,
                        qty,
                        price,
                        ..
                    } = earlier
                    {
                        if owner != account {
                            continue;
                        }
                        let (instrument, side, in_window) = match context.pre.position(*position) {
                            Some((i, s)) => (i, s, false),
                            None => match opened_in_window.get(position) {
                                Some(&(i, s)) => (i, s, true),
                                None => continue,
                            },
                        };
                        closes.push(ShadowClose {
                            position: *position,
                            instrument,
                            side,
                            qty: *qty,
                            price: *price,
                            opened_in_window: in_window,
                        });
                    }
                }
                closes.reverse();
                let seq = result.seq();
                result.loss_cuts.push(ShadowLossCut {
                    account: *account,
                    ratio_bp: *ratio_bp,
                    time_ns: context.time_ns,
                    tick: context.index,
                    closes,
                    seq,
                });
            }
            Event::MarginCall { account, ratio_bp } => {
                result
                    .margin_calls
                    .push((*account, context.time_ns, *ratio_bp));
            }
            Event::OrderExpired { order } => {
                if let Some(o) = context.pre.order(*order) {
                    let seq = result.seq();
                    result.expired.push(ShadowExpiry {
                        order: *order,
                        account: o.account,
                        time_ns: context.time_ns,
                        at_rollover: context.rollover,
                        seq,
                    });
                }
            }
            Event::OrderCancelled { order, reason } => {
                let seq = result.seq();
                result.cancelled.push(ShadowCancel {
                    order: *order,
                    reason: *reason,
                    time_ns: context.time_ns,
                    seq,
                });
            }
            _ => {}
        }
    }
}
