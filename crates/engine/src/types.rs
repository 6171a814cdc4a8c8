//! Identifiers and units. Every number in engine state is an integer in a stated unit.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A customer account, assigned by the engine in opening order (1, 2, 3, ...).
    AccountId, u64, "A"
);
id_type!(
    /// An order, assigned by the engine in acceptance order; lower ids have time priority.
    OrderId, u64, "O"
);
id_type!(
    /// A position, assigned by the engine when a fill opens it.
    PositionId, u64, "P"
);
id_type!(
    /// An account group (leverage and margin thresholds), chosen by the operator.
    GroupId, u32, "G"
);
id_type!(
    /// Index of an instrument in the engine's configuration.
    InstrumentId, u16, "I"
);

/// A price in the instrument's smallest increment ("ticks"): USD/JPY 156.123 is `Price(156_123)`.
pub type Price = i64;
/// A quantity in base-currency units: 10,000 EUR of EUR/USD is `10_000`.
pub type Qty = i64;
/// Money in the minor unit of the currency it belongs to (JPY: yen, USD: cents).
pub type MoneyMinor = i64;
/// UTC nanoseconds since the Unix epoch, stamped on every command by the sequencer.
pub type TimeNs = i64;
/// A ratio in basis points: 10,000 = 100 %.
pub type RatioBp = i64;

/// Buy orders trigger and fill on the ask; sell orders on the bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for a long (bought) position, -1 for a short one.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// Currencies the engine knows, with their minor-unit digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Currency {
    JPY,
    USD,
    EUR,
    GBP,
    AUD,
}

impl Currency {
    /// Digits of the minor unit: JPY has none, the others have cents.
    pub fn minor_digits(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Currency::JPY => "JPY",
            Currency::USD => "USD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::AUD => "AUD",
        }
    }

    pub fn from_code(code: &str) -> Option<Currency> {
        Some(match code {
            "JPY" => Currency::JPY,
            "USD" => Currency::USD,
            "EUR" => Currency::EUR,
            "GBP" => Currency::GBP,
            "AUD" => Currency::AUD,
            _ => return None,
        })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How an account's fills become positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PositionMode {
    /// 両建て: every fill opens its own position; closing is aimed at a position.
    Hedging,
    /// An opposite fill closes the oldest positions first (FIFO); any excess opens a new one.
    Netting,
}
