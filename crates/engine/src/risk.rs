//! Finding the accounts a quote pushes across a margin threshold without scanning every account.
//!
//! After each exact evaluation an account gets, for every instrument its value depends on (the
//! traded pairs and the pairs used to convert into its currency), a band `[low, high]` around the
//! current quote: while every such instrument's bid stays `>= low` and ask `<= high`, its
//! maintenance ratio cannot cross the threshold below it. The index keeps the bands sorted per
//! instrument, so a quote finds the accounts whose band it leaves in O(log n + crossed); only
//! those are evaluated exactly again.
//!
//! ## Why the band is safe
//! Let E be equity, M required margin and L the threshold (as a fraction); N the sum over
//! positions of |qty| x mid x conversion (notional in the account currency), P the sum of
//! |unrealised P&L|, and s the largest half-spread of the dependent quotes as a fraction of mid.
//! Each band lets the bid fall and the ask rise by at most rho x bid, so every mid moves by at
//! most t = rho + s, and a conversion rate (at most two mids, possibly inverted) by at most
//! k = 3 t (true for t <= 6 %: 1/(1-t)^2 - 1 <= 3t there; the caps below keep t <= 6 %). The
//! loss is then at most 1.18 rho N (price moves, at the moved conversion, 1 + k <= 1.18) + k P
//! (conversion of today's P&L), and
//! margin grows by at most k M. Choosing
//!   rho = (E - L M - 3 s (P + L M) - slack) / (1.18 N + 3 (P + L M)),
//! capped at 5 %, keeps E' >= L M'. `slack` covers one unit of rounding per position.
//! The cap decides how often a healthy account is looked at again: once per 5 % move of a price
//! it depends on. (Accounts whose bands were set at the same price cross together, so a crash
//! re-evaluates the healthy ones in batches; the cap keeps those batches rare.)
//! An account already in margin call, or with a spread above 1 %, gets a band that every quote
//! leaves, so it is evaluated on every quote of its instruments (there are few such accounts).
//! The property tests check the promise directly: after any command, no account with open
//! positions sits below its loss-cut threshold, and none below its margin-call threshold
//! without its margin call raised.

use crate::state::Band;
use crate::types::{AccountId, InstrumentId, Price};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parts per billion: the unit of `rho` and `s` above.
pub(crate) const PPB: i128 = 1_000_000_000;
/// The widest band: 5 % of the price.
pub(crate) const RHO_MAX_PPB: i128 = 50_000_000;
/// Above this half-spread (1 %) the band proof does not hold and the account is always checked.
pub(crate) const HALF_SPREAD_MAX_PPB: i128 = 10_000_000;

/// An exact evaluation of an account at the current quotes, in its currency's minor unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Valuation {
    pub equity: i128,
    pub required_margin: i128,
    pub notional: i128,
    pub unrealised_abs: i128,
    pub unrealised: i128,
    pub swaps: i128,
    /// Largest half-spread / mid among the dependent quotes.
    pub half_spread_ppb: i128,
    pub positions: usize,
    /// Instruments the value depends on, with their current bid and ask.
    pub dependencies: Vec<(InstrumentId, Price, Price)>,
}

impl Valuation {
    /// equity / required margin in basis points; `None` with no margin in use.
    pub fn ratio_bp(&self) -> Option<i64> {
        if self.required_margin <= 0 {
            return None;
        }
        let ratio = crate::money::div_floor(self.equity * 10_000, self.required_margin);
        Some(crate::money::to_money(ratio))
    }

    /// True when the ratio is below `threshold_bp` (never with no positions).
    pub fn below(&self, threshold_bp: i64) -> bool {
        self.required_margin > 0
            && self.equity * 10_000 < i128::from(threshold_bp) * self.required_margin
    }

    /// Bands that every quote leaves: the account is evaluated on each quote of its instruments.
    pub fn bands_always_crossed(&self) -> Vec<Band> {
        self.dependencies
            .iter()
            .map(|&(instrument, _, _)| Band {
                instrument,
                low: Price::MAX,
                high: Price::MIN,
            })
            .collect()
    }

    /// The bands that keep this account above `threshold_bp` (see the module doc).
    pub fn bands(&self, threshold_bp: i64) -> Vec<Band> {
        if self.half_spread_ppb > HALF_SPREAD_MAX_PPB {
            return self.bands_always_crossed();
        }
        let threshold = i128::from(threshold_bp);
        let lm = crate::money::div_ceil(threshold * self.required_margin, 10_000);
        let p_lm = self.unrealised_abs + lm;
        let spread_cost = crate::money::div_ceil(3 * self.half_spread_ppb * p_lm, PPB);
        let slack = i128::try_from(self.positions).unwrap_or(i128::MAX / 4) + 1;
        let headroom = self.equity - lm - spread_cost - slack;
        let exposure = crate::money::div_ceil(118 * self.notional, 100) + 3 * p_lm;
        let rho_ppb = if headroom <= 0 || exposure <= 0 {
            0
        } else {
            crate::money::div_trunc(headroom * PPB, exposure).min(RHO_MAX_PPB)
        };
        self.dependencies
            .iter()
            .map(|&(instrument, bid, ask)| {
                let delta =
                    crate::money::to_money(crate::money::div_trunc(rho_ppb * i128::from(bid), PPB));
                Band {
                    instrument,
                    low: bid - delta,
                    high: ask.saturating_add(delta),
                }
            })
            .collect()
    }
}

/// Band edges are filed in buckets of `2^EDGE_BUCKET_SHIFT` ticks (1.6 pips on a 3- or
/// 5-decimal pair). Filing or removing an edge then touches one short vector under a small,
/// cache-resident tree of buckets, instead of walking a tree with one node per account: a fill
/// re-files its account's bands, and with 100,000 accounts the per-account tree cost several
/// cache misses per edge.
const EDGE_BUCKET_SHIFT: u32 = 4;

/// The edges of one side (lows or highs) of one instrument's bands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Edges {
    /// bucket (edge >> EDGE_BUCKET_SHIFT) -> (edge, account), in filing order.
    buckets: BTreeMap<Price, Vec<(Price, AccountId)>>,
    len: usize,
}

impl Edges {
    fn bucket_of(edge: Price) -> Price {
        edge >> EDGE_BUCKET_SHIFT
    }

    fn insert(&mut self, edge: Price, account: AccountId) {
        self.buckets
            .entry(Self::bucket_of(edge))
            .or_default()
            .push((edge, account));
        self.len += 1;
    }

    fn remove(&mut self, edge: Price, account: AccountId) {
        let key = Self::bucket_of(edge);
        let Some(bucket) = self.buckets.get_mut(&key) else {
            return;
        };
        if let Some(at) = bucket.iter().position(|&entry| entry == (edge, account)) {
            bucket.swap_remove(at);
            self.len -= 1;
        }
        if bucket.is_empty() {
            self.buckets.remove(&key);
        }
    }

    /// Accounts with an edge strictly above `price`.
    fn above(&self, price: Price, out: &mut Vec<AccountId>) {
        let from = Self::bucket_of(price);
        // The common case, nobody crossed, costs one look at the highest bucket.
        if self
            .buckets
            .last_key_value()
            .is_none_or(|(&top, _)| top < from)
        {
            return;
        }
        for (_, bucket) in self.buckets.range(from..) {
            out.extend(
                bucket
                    .iter()
                    .filter(|&&(edge, _)| edge > price)
                    .map(|&(_, account)| account),
            );
        }
    }

    /// Accounts with an edge strictly below `price`.
    fn below(&self, price: Price, out: &mut Vec<AccountId>) {
        let to = Self::bucket_of(price);
        if self
            .buckets
            .first_key_value()
            .is_none_or(|(&bottom, _)| bottom > to)
        {
            return;
        }
        for (_, bucket) in self.buckets.range(..=to) {
            out.extend(
                bucket
                    .iter()
                    .filter(|&&(edge, _)| edge < price)
                    .map(|&(_, account)| account),
            );
        }
    }
}

/// Bands of every account, filed per instrument by their edges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BandIndex {
    /// Per instrument: band lows; a bid below `low` leaves the band.
    lows: Vec<Edges>,
    /// Per instrument: band highs; an ask above `high` leaves the band.
    highs: Vec<Edges>,
}

impl BandIndex {
    pub fn new(instruments: usize) -> BandIndex {
        BandIndex {
            lows: vec![Edges::default(); instruments],
            highs: vec![Edges::default(); instruments],
        }
    }

    pub fn add(&mut self, account: AccountId, bands: &[Band]) {
        for band in bands {
            let index = usize::from(band.instrument.0);
            if let (Some(lows), Some(highs)) = (self.lows.get_mut(index), self.highs.get_mut(index))
            {
                lows.insert(band.low, account);
                highs.insert(band.high, account);
            }
        }
    }

    pub fn remove(&mut self, account: AccountId, bands: &[Band]) {
        for band in bands {
            let index = usize::from(band.instrument.0);
            if let (Some(lows), Some(highs)) = (self.lows.get_mut(index), self.highs.get_mut(index))
            {
                lows.remove(band.low, account);
                highs.remove(band.high, account);
            }
        }
    }

    /// Accounts whose band on `instrument` this quote leaves, sorted and without repeats.
    pub fn crossed(&self, instrument: InstrumentId, bid: Price, ask: Price) -> Vec<AccountId> {
        let index = usize::from(instrument.0);
        let mut accounts = Vec::new();
        if let Some(lows) = self.lows.get(index) {
            lows.above(bid, &mut accounts);
        }
        if let Some(highs) = self.highs.get(index) {
            highs.below(ask, &mut accounts);
        }
        if accounts.len() < 2 {
            return accounts;
        }
        accounts.sort_unstable();
        accounts.dedup();
        accounts
    }

    /// Number of (account, instrument) bands filed.
    pub fn len(&self) -> usize {
        self.lows.iter().map(|edges| edges.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
