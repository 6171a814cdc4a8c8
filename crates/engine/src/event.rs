//! Events: everything the engine did in answer to a command, in order.

use crate::types::{
    AccountId, GroupId, InstrumentId, MoneyMinor, OrderId, PositionId, Price, Qty, RatioBp, Side,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Rejected(Reject),
    /// A client order id seen before for this account: the first result, unchanged.
    DuplicateClientOrderId {
        account: AccountId,
        first: ClientOrderOutcome,
    },
    GroupSet {
        group: GroupId,
    },
    AccountOpened {
        account: AccountId,
    },
    Deposited {
        account: AccountId,
        amount_minor: MoneyMinor,
        balance_minor: MoneyMinor,
    },
    Withdrawn {
        account: AccountId,
        amount_minor: MoneyMinor,
        balance_minor: MoneyMinor,
    },
    OrderAccepted {
        order: OrderId,
        account: AccountId,
        /// False for an IFD/IFO child waiting for its parent to fill.
        active: bool,
    },
    OrderActivated {
        order: OrderId,
    },
    /// A stop or trailing stop reached its trigger; a stop-limit became a limit.
    OrderTriggered {
        order: OrderId,
        price: Price,
    },
    OrderAmended {
        order: OrderId,
    },
    OrderFilled {
        order: OrderId,
        account: AccountId,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
        price: Price,
    },
    OrderCancelled {
        order: OrderId,
        reason: CancelReason,
    },
    OrderExpired {
        order: OrderId,
    },
    PositionOpened {
        position: PositionId,
        account: AccountId,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
        price: Price,
    },
    PositionClosed {
        position: PositionId,
        account: AccountId,
        qty: Qty,
        price: Price,
        /// Realised P&L of the closed quantity, in the account currency's minor unit.
        realised_pnl_minor: MoneyMinor,
        /// Swap accrued on the closed quantity, booked to the balance with it.
        swap_minor: MoneyMinor,
        qty_remaining: Qty,
        balance_minor: MoneyMinor,
    },
    SwapAccrued {
        position: PositionId,
        amount_minor: MoneyMinor,
    },
    MarginCall {
        account: AccountId,
        ratio_bp: RatioBp,
    },
    MarginCallCleared {
        account: AccountId,
        ratio_bp: RatioBp,
    },
    LossCut {
        account: AccountId,
        ratio_bp: RatioBp,
        positions_closed: u32,
    },
    /// A loss-cut left the balance below zero; the deficit is the customer's debt, not hidden.
    NegativeBalance {
        account: AccountId,
        balance_minor: MoneyMinor,
    },
    RolledOver {
        weekly: bool,
        orders_expired: u32,
        positions_charged: u32,
    },
    Halted {
        instrument: Option<InstrumentId>,
    },
    Resumed {
        instrument: Option<InstrumentId>,
    },
    /// An outage-backfill cash adjustment was booked to the balance.
    CashAdjusted {
        account: AccountId,
        amount_minor: MoneyMinor,
        balance_minor: MoneyMinor,
    },
    /// An outage-backfill correction was applied (after the fills or cash it caused).
    CorrectionApplied {
        correction: crate::command::CorrectionId,
    },
    /// An outage-backfill correction put back a position closed on an abnormal rate, and took
    /// back the P&L and swap that close booked (`balance_minor`: the balance after).
    PositionRestored {
        position: PositionId,
        account: AccountId,
        qty: Qty,
        price: Price,
        realised_pnl_reversed_minor: MoneyMinor,
        swap_reversed_minor: MoneyMinor,
        balance_minor: MoneyMinor,
    },
    /// A working order put back with its restored position.
    OrderRestored {
        order: OrderId,
        account: AccountId,
    },
    /// An outage-backfill correction moved an open position's entry price from `from` to `to`
    /// (the execution that opened it is re-priced; nothing is booked until it closes).
    PositionRepriced {
        position: PositionId,
        account: AccountId,
        instrument: InstrumentId,
        from: Price,
        to: Price,
    },
    /// An outage-backfill correction re-priced an execution whose P&L was booked already, and
    /// booked the difference as its realised P&L (`balance_minor`: the balance after).
    ExecutionRepriced {
        position: PositionId,
        account: AccountId,
        instrument: InstrumentId,
        qty: Qty,
        from: Price,
        to: Price,
        realised_pnl_minor: MoneyMinor,
        balance_minor: MoneyMinor,
    },
}

/// What the first command with a client order id produced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientOrderOutcome {
    Accepted(OrderId),
    Rejected(Reject),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelReason {
    ByCustomer,
    OcoPeerFilled,
    ParentCancelled,
    PositionClosed,
    /// IOC / FOK that could not fill at once.
    NotImmediatelyFillable,
    /// Margin was not enough when the order triggered.
    InsufficientMargin,
    /// The position it was aimed at is gone or on the same side.
    TargetInvalid,
    /// A market order's fill would have slipped more than allowed.
    SlippageExceeded,
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reject {
    TimeWentBackwards,
    UnknownInstrument,
    UnknownAccount,
    UnknownGroup,
    UnknownOrder,
    UnknownPosition,
    /// The instrument's quote is older than the last one accepted.
    StaleQuote,
    CrossedQuote,
    NonPositivePrice,
    /// Outside the instrument's configured price range.
    PriceOffScale,
    SpreadTooWide,
    QtyOutOfRange,
    QtyNotOnStep,
    InvalidPrice,
    InvalidDistance,
    InvalidGroup,
    NonPositiveAmount,
    AmountTooLarge,
    InsufficientMargin,
    InsufficientFreeMargin,
    Halted,
    NoQuote,
    /// No listed pair converts this currency into the account's.
    NoConversion,
    SlippageExceeded,
    TooManyOrders,
    TooManyPositions,
    TooManyAccounts,
    TooManyGroups,
    /// A closing order on the same side as the position, or one aimed at a position on
    /// another instrument.
    CloseTargetMismatch,
    /// The order cannot be amended this way (e.g., a price for a market order).
    NotAmendable,
    ExpiryInPast,
    ClientOrderIdInvalid,
    /// An arithmetic bound was hit; the amounts involved are beyond anything the engine accepts.
    Overflow,
    /// IOC / FOK only make sense for orders that can fill now; a child order cannot use them.
    InvalidTimeInForce,
    /// This backfill correction was applied before; applying it again changes nothing.
    CorrectionAlreadyApplied,
    /// A backfill correction names an order that is not active (filled, cancelled, or an IFD
    /// child whose parent has not filled).
    OrderNotActive,
    /// A backfill correction's time is after the engine's clock, or its reason is too long,
    /// or a restore is inconsistent (orders that do not fit the position, an OCO peer or a
    /// take-profit/stop-loss outside it, a client order id the account did not use for it).
    InvalidCorrection,
    /// A restore names a position id that is open, or one the engine never issued.
    PositionIdInUse,
    /// A restore names an order id that is working, or one the engine never issued.
    OrderIdInUse,
}

impl CancelReason {
    /// A stable machine-readable code, used by the API.
    pub fn code(self) -> &'static str {
        use CancelReason::*;
        match self {
            ByCustomer => "by_customer",
            OcoPeerFilled => "oco_peer_filled",
            ParentCancelled => "parent_cancelled",
            PositionClosed => "position_closed",
            NotImmediatelyFillable => "not_immediately_fillable",
            InsufficientMargin => "insufficient_margin",
            TargetInvalid => "target_invalid",
            SlippageExceeded => "slippage_exceeded",
        }
    }
}

impl Reject {
    /// A stable machine-readable code, used by the API and the journal tools.
    pub fn code(self) -> &'static str {
        use Reject::*;
        match self {
            TimeWentBackwards => "time_went_backwards",
            UnknownInstrument => "unknown_instrument",
            UnknownAccount => "unknown_account",
            UnknownGroup => "unknown_group",
            UnknownOrder => "unknown_order",
            UnknownPosition => "unknown_position",
            StaleQuote => "stale_quote",
            CrossedQuote => "crossed_quote",
            NonPositivePrice => "non_positive_price",
            PriceOffScale => "price_off_scale",
            SpreadTooWide => "spread_too_wide",
            QtyOutOfRange => "qty_out_of_range",
            QtyNotOnStep => "qty_not_on_step",
            InvalidPrice => "invalid_price",
            InvalidDistance => "invalid_distance",
            InvalidGroup => "invalid_group",
            NonPositiveAmount => "non_positive_amount",
            AmountTooLarge => "amount_too_large",
            InsufficientMargin => "insufficient_margin",
            InsufficientFreeMargin => "insufficient_free_margin",
            Halted => "halted",
            NoQuote => "no_quote",
            NoConversion => "no_conversion",
            SlippageExceeded => "slippage_exceeded",
            TooManyOrders => "too_many_orders",
            TooManyPositions => "too_many_positions",
            TooManyAccounts => "too_many_accounts",
            TooManyGroups => "too_many_groups",
            CloseTargetMismatch => "close_target_mismatch",
            NotAmendable => "not_amendable",
            ExpiryInPast => "expiry_in_past",
            ClientOrderIdInvalid => "client_order_id_invalid",
            Overflow => "overflow",
            InvalidTimeInForce => "invalid_time_in_force",
            CorrectionAlreadyApplied => "correction_already_applied",
            OrderNotActive => "order_not_active",
            InvalidCorrection => "invalid_correction",
            PositionIdInUse => "position_id_in_use",
            OrderIdInUse => "order_id_in_use",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
