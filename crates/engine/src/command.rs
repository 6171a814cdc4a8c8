//! Commands: the only way to change engine state. Each carries the sequencer's timestamp.
//!
//! Journaled with a compact serde format, so these types use serde's default (externally tagged)
//! enum representation and no `flatten` / `skip_serializing_if`.

use crate::types::{
    AccountId, Currency, GroupId, InstrumentId, MoneyMinor, OrderId, PositionId, PositionMode,
    Price, Qty, RatioBp, Side, TimeNs,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Command {
    /// UTC nanoseconds, stamped by the sequencer; never earlier than the previous command's.
    pub time_ns: TimeNs,
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandKind {
    /// A price from the feed. `source_time_ns` is the tick's own time; older ticks are refused.
    Quote {
        instrument: InstrumentId,
        bid: Price,
        ask: Price,
        source_time_ns: TimeNs,
    },
    /// Creates or replaces an account group.
    SetGroup(GroupSpec),
    OpenAccount {
        group: GroupId,
        currency: Currency,
        mode: PositionMode,
    },
    Deposit {
        account: AccountId,
        amount_minor: MoneyMinor,
    },
    /// Refused when it would leave free margin below zero.
    Withdraw {
        account: AccountId,
        amount_minor: MoneyMinor,
    },
    PlaceOrder {
        account: AccountId,
        /// Unique per account: sending it again returns the first result, never a second order.
        client_order_id: Option<String>,
        request: OrderRequest,
    },
    AmendOrder {
        account: AccountId,
        order: OrderId,
        amendment: Amendment,
    },
    /// Cancels the order, its OCO peer and its not-yet-active IFD children.
    CancelOrder {
        account: AccountId,
        order: OrderId,
    },
    /// Closes all (`qty: None`) or part of a position at market.
    ClosePosition {
        account: AccountId,
        position: PositionId,
        qty: Option<Qty>,
        slippage: Option<Slippage>,
    },
    /// Sets, replaces or (with `None`) removes a position's take-profit and stop-loss.
    SetProtection {
        account: AccountId,
        position: PositionId,
        take_profit: Option<Price>,
        stop_loss: Option<Price>,
    },
    /// The daily New York close: books swaps and expires day orders (and week orders when
    /// `weekly`). The sequencer sends it at 17:00 New York time.
    Rollover {
        swaps: Vec<SwapRate>,
        weekly: bool,
    },
    /// Stops triggering and new orders for one instrument (`Some`) or all (`None`).
    Halt {
        instrument: Option<InstrumentId>,
    },
    Resume {
        instrument: Option<InstrumentId>,
    },
    /// Outage backfill: fills a working order at `price`, as it should have filled at `at_ns`
    /// while the system was down. Margin was checked by the plan's shadow replay at that time,
    /// so it is not checked again; works while halted. Applies once per `correction`.
    BackfillFill {
        correction: CorrectionId,
        order: OrderId,
        price: Price,
        at_ns: TimeNs,
    },
    /// Outage backfill: closes a whole position at `price` as of `at_ns` (a back-dated
    /// loss-cut). Applies once per `correction`.
    BackfillClose {
        correction: CorrectionId,
        position: PositionId,
        price: Price,
        at_ns: TimeNs,
    },
    /// Outage backfill: books cash to an account (positive: paid to the customer) for a
    /// correction made as money instead of a rewritten execution. Applies once per `correction`.
    CashAdjustment {
        correction: CorrectionId,
        account: AccountId,
        amount_minor: MoneyMinor,
        /// Why, in words, for the statement (at most 200 bytes).
        reason: String,
    },
    /// Outage backfill: cancels a close made on an abnormal (off-market) rate by putting the
    /// position back as it stood just before that close, under its own id, with its working
    /// closing orders (take-profit / stop-loss included) under their own ids, and taking back
    /// the realised P&L and swap the close booked (the swap returns to the position, unbooked).
    /// The plan reads all of it from the journal's state before the bad close. Works while
    /// halted. Applies once per `correction`.
    BackfillRestore {
        correction: CorrectionId,
        position: RestoredPosition,
        /// The position's closing orders as they were; at most
        /// [`crate::limits::ORDERS_PER_ACCOUNT_MAX`].
        orders: Vec<RestoredOrder>,
    },
    /// Outage backfill: puts back a working order that a fill on an abnormal (off-market)
    /// rate used up to open a position (a stop a spike filled), under its own id, kind, level,
    /// quantity, time in force and client order id, so it waits at its level again. The plan
    /// closes the position that fill opened first (`BackfillClose` at its entry price). Only a
    /// lone order: not a closing order, no OCO peer, no IFD/IFO children (`oco_peer` must be
    /// `None`; a linked group is [`CommandKind::BackfillRestoreOrders`]). Works while halted.
    /// Applies once per `correction`.
    // Appended last: journals are serde-encoded by variant index, so old journals still read.
    BackfillRestoreOrder {
        correction: CorrectionId,
        order: RestoredOpeningOrder,
    },
    /// Outage backfill: re-prices an execution made after reopening at a rate the plan's
    /// policy says is wrong (a stop that filled at the reopening gap, backfilled at the
    /// window's price), by rewriting the execution instead of paying the difference in cash.
    /// `from` is the price the execution got, `to` the approved one, `qty` its quantity.
    /// With `realised_pnl_minor` `None` the execution opened `position`, which is open as it
    /// left it: its entry price becomes `to` (nothing is booked now; the P&L follows from the
    /// corrected entry). With `Some(amount)` the execution's P&L is booked already (it closed
    /// `position`, or opened it and the position is closed since): `amount` is booked as that
    /// execution's realised P&L (positive: the customer gains). Works while halted. Applies
    /// once per `correction`.
    // Appended last: journals are serde-encoded by variant index, so old journals still read.
    BackfillReprice {
        correction: CorrectionId,
        account: AccountId,
        instrument: InstrumentId,
        position: PositionId,
        qty: Qty,
        from: Price,
        to: Price,
        realised_pnl_minor: Option<MoneyMinor>,
    },
    /// Outage backfill: puts back a linked group of working orders that a fill on an abnormal
    /// (off-market) rate used up to open a position, each under its own id, kind, level,
    /// quantity, time in force, placement time and client order id, linked as before: an OCO
    /// pair (the filled leg and the peer its fill cancelled, both working again), or an IFD/IFO
    /// parent (working again) with its child order(s), which wait for it again (inactive; the
    /// two children of an IFO still each other's OCO peer). The plan closes the position the
    /// fill opened first (`BackfillClose` at its entry price), which removes the children the
    /// fill had made its closing orders. Exactly one group of the shapes a placement makes, at
    /// most [`crate::limits::RESTORED_GROUP_ORDERS_MAX`] orders, every link named from both
    /// ends; a lone order is [`CommandKind::BackfillRestoreOrder`]. Works while halted.
    /// Applies once per `correction`.
    // Appended last: journals are serde-encoded by variant index, so old journals still read.
    BackfillRestoreOrders {
        correction: CorrectionId,
        orders: Vec<RestoredLinkedOrder>,
    },
}

impl CommandKind {
    /// The correction a backfill command carries (`None`: not a backfill correction).
    pub fn correction(&self) -> Option<CorrectionId> {
        match self {
            CommandKind::BackfillFill { correction, .. }
            | CommandKind::BackfillClose { correction, .. }
            | CommandKind::CashAdjustment { correction, .. }
            | CommandKind::BackfillRestore { correction, .. }
            | CommandKind::BackfillRestoreOrder { correction, .. }
            | CommandKind::BackfillReprice { correction, .. }
            | CommandKind::BackfillRestoreOrders { correction, .. } => Some(*correction),
            _ => None,
        }
    }
}

/// One order of a linked group to put back (see [`CommandKind::BackfillRestoreOrders`]). Its
/// OCO link is `order.order.oco_peer`; its IFD/IFO links are below.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestoredLinkedOrder {
    pub order: RestoredOpeningOrder,
    /// The IFD/IFO parent it waits for: it comes back inactive. `None`: it comes back working.
    pub parent: Option<OrderId>,
    /// Its IFD/IFO children, in the order they were placed.
    pub children: Vec<OrderId>,
}

/// An opening order to put back, alone (see [`CommandKind::BackfillRestoreOrder`]) or as part
/// of a linked group (see [`RestoredLinkedOrder`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestoredOpeningOrder {
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub order: RestoredOrder,
}

/// A closed position to put back (see [`CommandKind::BackfillRestore`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestoredPosition {
    pub id: PositionId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub open_price: Price,
    pub opened_ns: TimeNs,
    /// What the close booked as realised P&L; taken back from the balance.
    pub realised_pnl_minor: MoneyMinor,
    /// What the close booked as swap; taken back from the balance and accrued on the position
    /// again.
    pub swap_minor: MoneyMinor,
    /// Which of the restored orders is the take-profit (a limit) and the stop-loss (a stop).
    pub take_profit: Option<OrderId>,
    pub stop_loss: Option<OrderId>,
}

impl RestoredPosition {
    /// Leaves out of this restore the orders `gone` names, keeping the rest consistent: a
    /// take-profit or stop-loss left out is none, and an order whose OCO peer is left out (or
    /// is not among `orders`) comes back unlinked. Returns the ids left out, in order.
    pub fn leave_out(
        &mut self,
        orders: &mut Vec<RestoredOrder>,
        gone: impl Fn(OrderId) -> bool,
    ) -> Vec<OrderId> {
        let (kept, left_out): (Vec<RestoredOrder>, Vec<RestoredOrder>) =
            orders.drain(..).partition(|o| !gone(o.id));
        *orders = kept;
        let kept: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
        for slot in [&mut self.take_profit, &mut self.stop_loss] {
            *slot = slot.filter(|id| kept.contains(id));
        }
        for order in orders.iter_mut() {
            order.oco_peer = order.oco_peer.filter(|peer| kept.contains(peer));
        }
        left_out.iter().map(|o| o.id).collect()
    }
}

/// A working closing order of a restored position, as it was. Its account, instrument and
/// target are the position's; it is active (an IFD child waiting for its parent never targets
/// a position).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RestoredOrder {
    pub id: OrderId,
    /// Must be the id the account used for this very order (the engine remembers it).
    pub client_order_id: Option<String>,
    pub qty: Qty,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    pub placed_ns: TimeNs,
    pub stop_reached: bool,
    /// Another order of the same restore, which names this one back.
    pub oco_peer: Option<OrderId>,
}

/// One correction of an approved backfill plan: the plan's id and the item's index in it.
/// The engine applies each at most once, so applying a plan again changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CorrectionId {
    pub plan: u64,
    pub item: u32,
}

/// Leverage and margin thresholds shared by a set of accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupSpec {
    pub id: GroupId,
    /// 25 means required margin is at least 4 % of notional.
    pub leverage: i64,
    /// Maintenance ratio (equity / required margin) below which a margin call is raised.
    pub margin_call_bp: RatioBp,
    /// Maintenance ratio below which all positions are cut. At or below `margin_call_bp`.
    pub loss_cut_bp: RatioBp,
    pub loss_cut_mode: LossCutMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossCutMode {
    /// Every position is closed at market.
    AllAtMarket,
    /// Positions are closed one at a time, largest loss first, until the ratio recovers.
    LargestLossFirst,
}

/// Swap for one instrument, in ticks of the quote currency per unit of base per day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SwapRate {
    pub instrument: InstrumentId,
    pub long_ticks_per_unit: i64,
    pub short_ticks_per_unit: i64,
    /// How many days this rollover pays (3 on the day that covers the weekend).
    pub days: i64,
}

/// A market order's price protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slippage {
    /// The price the customer saw.
    pub expected_price: Price,
    /// How far (in ticks) the fill may be worse than `expected_price`. Better fills always pass.
    pub max_ticks: Price,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderRequest {
    Single(OrderSpec),
    /// One-cancels-the-other: whichever fills first cancels the other.
    Oco(OrderSpec, OrderSpec),
    /// If-done: `then` becomes live only after `first` fills. When `then` is on the opposite
    /// side it closes the position `first` opened.
    Ifd {
        first: OrderSpec,
        then: OrderSpec,
    },
    /// If-done-OCO: after `first` fills, `then_a` and `then_b` become live as an OCO pair.
    Ifo {
        first: OrderSpec,
        then_a: OrderSpec,
        then_b: OrderSpec,
    },
}

impl OrderRequest {
    /// The order that is placed working (an OCO's first leg, an IFD/IFO's parent).
    pub fn first_spec(&self) -> &OrderSpec {
        match self {
            OrderRequest::Single(spec) | OrderRequest::Oco(spec, _) => spec,
            OrderRequest::Ifd { first, .. } | OrderRequest::Ifo { first, .. } => first,
        }
    }

    /// A single market order: it ends within the command that places it, filled or refused.
    pub fn lone_market(&self) -> Option<&OrderSpec> {
        match self {
            OrderRequest::Single(spec) if matches!(spec.kind, OrderKind::Market { .. }) => {
                Some(spec)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderSpec {
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    /// A closing order aimed at this position (hedging mode). `None`: an opening order in
    /// hedging mode, or a netting-mode order (which closes FIFO first).
    pub close_position: Option<PositionId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderKind {
    Market {
        slippage: Option<Slippage>,
    },
    /// Fills at `price` or better.
    Limit {
        price: Price,
    },
    /// Becomes a market order when the market reaches `price`; fills at the triggering quote.
    Stop {
        price: Price,
    },
    /// Becomes a limit order at `limit` when the market reaches `stop`.
    StopLimit {
        stop: Price,
        limit: Price,
    },
    /// A stop that follows the market at `distance_ticks` behind its best price since placed.
    TrailingStop {
        distance_ticks: Price,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    GoodTillCancelled,
    /// Ends at the next rollover (the New York close).
    Day,
    /// Ends at the weekly close.
    Week,
    GoodTillDate(TimeNs),
    /// Fill what can be filled now, cancel the rest. In the dealer model every fill is for the
    /// whole quantity, so IOC and FOK both mean: fill now in full, or cancel.
    ImmediateOrCancel,
    FillOrKill,
}

/// Fields an amendment may change; `None` keeps the current value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Amendment {
    pub qty: Option<Qty>,
    /// The limit price, the stop price, or the stop of a stop-limit.
    pub price: Option<Price>,
    /// The limit of a stop-limit.
    pub limit: Option<Price>,
    pub distance_ticks: Option<Price>,
    pub time_in_force: Option<TimeInForce>,
}
