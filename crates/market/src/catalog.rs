//! The instruments the market crate converts prices for: symbol, index and price scale.

use fxdesk_engine::{InstrumentId, InstrumentSpec, Price};

/// Instruments by index (the engine's `InstrumentId` is the position in the engine's config).
#[derive(Debug, Clone)]
pub struct Catalog {
    specs: Vec<InstrumentSpec>,
}

/// What an importer needs to know about one instrument's prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub instrument: InstrumentId,
    /// Price decimals: a price is an integer number of `10^-decimals`.
    pub decimals: u32,
    /// Prices outside `[price_min_ticks, price_max_ticks]` are off-scale.
    pub price_min_ticks: Price,
    pub price_max_ticks: Price,
}

impl Catalog {
    /// The engine's six default pairs, in the engine's order (so ids agree with a default engine).
    pub fn defaults() -> Catalog {
        Catalog::new(InstrumentSpec::defaults())
    }

    pub fn new(specs: Vec<InstrumentSpec>) -> Catalog {
        Catalog { specs }
    }

    pub fn by_symbol(&self, symbol: &str) -> Option<(InstrumentId, &InstrumentSpec)> {
        let index = self.specs.iter().position(|s| s.symbol == symbol)?;
        Some((
            InstrumentId(u16::try_from(index).ok()?),
            self.specs.get(index)?,
        ))
    }

    pub fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.specs.get(usize::from(id.0))
    }

    pub fn symbol(&self, id: InstrumentId) -> Option<&str> {
        self.spec(id).map(|s| s.symbol.as_str())
    }

    pub fn scale(&self, symbol: &str) -> Option<Scale> {
        let (instrument, spec) = self.by_symbol(symbol)?;
        Some(Scale {
            instrument,
            decimals: spec.price_decimals,
            price_min_ticks: spec.price_min_ticks,
            price_max_ticks: spec.price_max_ticks,
        })
    }

    /// `(id, decimals)` for the CSV reader's lookup closure.
    pub fn lookup(&self, symbol: &str) -> Option<(InstrumentId, u32)> {
        self.by_symbol(symbol).map(|(id, s)| (id, s.price_decimals))
    }

    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> {
        self.specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((InstrumentId(u16::try_from(i).ok()?), s)))
    }
}
