//! The records the engine keeps: accounts, positions and working orders.

use crate::command::{OrderKind, TimeInForce};
use crate::event::CancelReason;
use crate::table::IdList;
use crate::types::{
    AccountId, Currency, GroupId, InstrumentId, MoneyMinor, OrderId, PositionId, PositionMode,
    Price, Qty, Side, TimeNs,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub group: GroupId,
    pub currency: Currency,
    pub mode: PositionMode,
    /// Cash: deposits - withdrawals + realised P&L + booked swaps + backfill cash adjustments.
    /// May be negative after a loss-cut; that is a debt of the customer and is shown, never
    /// hidden.
    pub balance_minor: MoneyMinor,
    pub deposited_minor: MoneyMinor,
    pub withdrawn_minor: MoneyMinor,
    pub realised_pnl_minor: MoneyMinor,
    pub swaps_booked_minor: MoneyMinor,
    /// Open positions, oldest first (FIFO order for netting).
    pub positions: IdList<PositionId>,
    /// Working orders, including IFD children not active yet.
    pub orders: IdList<OrderId>,
    pub margin_call: bool,
    pub loss_cuts: u32,
    /// Price bands inside which this account cannot cross its next margin threshold.
    pub bands: Vec<Band>,
    /// Cash booked by outage-backfill corrections (`CashAdjustment`); part of the balance.
    pub adjustments_minor: MoneyMinor,
}

/// While every listed instrument's bid stays >= `low` and ask <= `high`, the account's
/// maintenance ratio cannot cross its next threshold (see `risk.rs` for the proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Band {
    pub instrument: InstrumentId,
    pub low: Price,
    pub high: Price,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    pub id: PositionId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub open_price: Price,
    pub opened_ns: TimeNs,
    /// Swap accrued and not yet booked; booked to the balance pro rata as the position closes.
    pub swap_minor: MoneyMinor,
    pub take_profit: Option<OrderId>,
    pub stop_loss: Option<OrderId>,
    /// Every working order aimed at closing this position (TP/SL included).
    pub closing_orders: IdList<OrderId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub account: AccountId,
    pub client_order_id: Option<String>,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub kind: OrderKind,
    pub time_in_force: TimeInForce,
    pub close_position: Option<PositionId>,
    pub placed_ns: TimeNs,
    /// False for an IFD/IFO child whose parent has not filled.
    pub active: bool,
    /// A stop-limit whose stop was reached now rests as a limit.
    pub stop_reached: bool,
    pub oco_peer: Option<OrderId>,
    pub parent: Option<OrderId>,
    pub children: Vec<OrderId>,
    /// The take-profit or stop-loss of this position.
    pub protects: Option<PositionId>,
}

/// How a working order that carried a client order id ended. Kept so that the same client order
/// id sent again is answered with the first outcome, also once the order no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderEnd {
    Filled { qty: Qty, price: Price },
    Cancelled(CancelReason),
    Expired,
}

/// A client-identified order that no longer works, as it was when it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FinishedOrder {
    pub order: Order,
    pub end: OrderEnd,
    pub ended_ns: TimeNs,
}

impl Order {
    pub fn is_child(&self) -> bool {
        self.parent.is_some()
    }
}
