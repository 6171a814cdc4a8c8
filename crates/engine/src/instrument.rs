//! Instrument configuration and the defaults for the pairs a Japanese retail broker lists.

use crate::types::{Currency, Price, Qty, RatioBp};
use serde::{Deserialize, Serialize};

/// What the broker offers for one currency pair. Prices are in ticks of `10^-price_decimals`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstrumentSpec {
    /// "USD/JPY".
    pub symbol: String,
    pub base: Currency,
    pub quote: Currency,
    /// USD/JPY: 3 (156.123), EUR/USD: 5 (1.08123).
    pub price_decimals: u32,
    /// One pip in ticks: 10 for both 3- and 5-decimal pairs.
    pub pip_ticks: Price,
    pub qty_min: Qty,
    pub qty_max: Qty,
    /// Every quantity must be a multiple of this.
    pub qty_step: Qty,
    /// Required margin as a share of notional: 400 bp = 4 % = 25x leverage.
    pub margin_rate_bp: RatioBp,
    /// Quotes with a wider spread are rejected.
    pub spread_max_ticks: Price,
    /// Quotes outside [price_min_ticks, price_max_ticks] are off-scale and rejected.
    pub price_min_ticks: Price,
    pub price_max_ticks: Price,
}

impl InstrumentSpec {
    fn pair(
        base: Currency,
        quote: Currency,
        price_decimals: u32,
        price_range: (Price, Price),
    ) -> InstrumentSpec {
        InstrumentSpec {
            symbol: format!("{}/{}", base.code(), quote.code()),
            base,
            quote,
            price_decimals,
            pip_ticks: 10,
            qty_min: 1_000,
            qty_max: 5_000_000,
            qty_step: 1_000,
            margin_rate_bp: 400,
            spread_max_ticks: 300,
            price_min_ticks: price_range.0,
            price_max_ticks: price_range.1,
        }
    }

    /// The six pairs fxdesk ships with: USD/JPY, EUR/USD, EUR/JPY, GBP/JPY, AUD/JPY, GBP/USD.
    pub fn defaults() -> Vec<InstrumentSpec> {
        use Currency::*;
        vec![
            InstrumentSpec::pair(USD, JPY, 3, (50_000, 500_000)),
            InstrumentSpec::pair(EUR, USD, 5, (50_000, 300_000)),
            InstrumentSpec::pair(EUR, JPY, 3, (50_000, 500_000)),
            InstrumentSpec::pair(GBP, JPY, 3, (50_000, 600_000)),
            InstrumentSpec::pair(AUD, JPY, 3, (30_000, 300_000)),
            InstrumentSpec::pair(GBP, USD, 5, (50_000, 300_000)),
        ]
    }

    /// `10^price_decimals`: how many ticks make one unit of the quote currency.
    pub fn ticks_per_unit(&self) -> i128 {
        crate::money::pow10(self.price_decimals)
    }

    /// Checks the spec itself; the engine refuses to start with a bad one.
    pub fn validate(&self) -> Result<(), String> {
        let ok = self.base != self.quote
            && self.price_decimals <= 8
            && self.pip_ticks > 0
            && self.qty_min > 0
            && self.qty_step > 0
            && self.qty_min <= self.qty_max
            && self.qty_max <= crate::limits::QTY_MAX
            && self.margin_rate_bp > 0
            && self.margin_rate_bp <= 10_000
            && self.spread_max_ticks >= 0
            && self.price_min_ticks > 0
            && self.price_min_ticks < self.price_max_ticks
            && self.price_max_ticks <= crate::limits::PRICE_MAX_TICKS;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "instrument {} has an inconsistent specification",
                self.symbol
            ))
        }
    }
}
