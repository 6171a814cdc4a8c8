//! The price-jump guard: holds a quote that moves too far from the last good one until the
//! market confirms the new level.
//!
//! # The rule
//!
//! Per instrument, with `limit` = the instrument's `jump_pips_max` x `pip_ticks`, and distances
//! measured between mid prices ((bid + ask) / 2, computed exactly in half ticks):
//!
//! 1. The first quote of an instrument (no last good quote yet) is applied.
//! 2. A quote within `limit` of the last good quote is applied and becomes the last good quote.
//!    Any quotes held before it are *discarded*: the market came back, they were bad ticks.
//! 3. A quote beyond `limit` is *held*: not applied, counted, logged and listed by
//!    `GET /v1/admin/price-guard`. If quotes are already held and this one is within `limit` of
//!    the newest held one, it *confirms* that level; otherwise it starts a new held level (the
//!    older held quotes are discarded).
//! 4. When `confirm_quotes` consecutive quotes (the first held one included) sit at the new
//!    level, the newest is applied and becomes the last good quote; the held ones are marked
//!    *confirmed*. With the default of 3, a real jump is applied on its third tick.
//!
//! A quote the engine then refuses (stale, too wide) does not become the last good quote (the
//! sequencer only calls [`PriceGuard::applied`] for quotes the engine took).
//! The guard is pure: no clock and no I/O; the sequencer thread owns the only mutable use.

use std::collections::VecDeque;

use fxdesk_engine::{InstrumentId, InstrumentSpec, Price, TimeNs};
use serde::Serialize;

/// Default largest move from the last good quote, in pips, before a quote is held. A tick-to-
/// tick move of 100 pips is far beyond normal trading; real jumps of that size (flash crashes,
/// a reopening after an outage) are applied after confirmation, a few ticks later.
pub const JUMP_PIPS_MAX_DEFAULT: i64 = 100;
/// Default quotes at a new level needed to accept it (the first held one included).
pub const CONFIRM_QUOTES_DEFAULT: usize = 3;
/// Largest `confirm_quotes` accepted.
pub const CONFIRM_QUOTES_MAX: usize = 100;
/// Flags kept for `GET /v1/admin/price-guard` (oldest dropped first; all are counted).
pub const FLAGS_KEPT_MAX: usize = 1_000;

/// How the guard is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Per instrument index: largest move in pips (None: the guard is off for it).
    pub jump_pips_max: Vec<Option<i64>>,
    pub confirm_quotes: usize,
}

impl GuardConfig {
    /// [`JUMP_PIPS_MAX_DEFAULT`] for every instrument, [`CONFIRM_QUOTES_DEFAULT`].
    pub fn defaults(instruments: usize) -> GuardConfig {
        GuardConfig {
            jump_pips_max: vec![Some(JUMP_PIPS_MAX_DEFAULT); instruments],
            confirm_quotes: CONFIRM_QUOTES_DEFAULT,
        }
    }

    /// Sets one instrument's limit; Err for an unknown index or a limit below 1 pip.
    pub fn set(&mut self, instrument: InstrumentId, pips: Option<i64>) -> Result<(), String> {
        if pips.is_some_and(|p| p < 1) {
            return Err("a price-jump limit must be at least 1 pip".to_owned());
        }
        let slot = self
            .jump_pips_max
            .get_mut(usize::from(instrument.0))
            .ok_or_else(|| format!("no instrument {}", instrument.0))?;
        *slot = pips;
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(2..=CONFIRM_QUOTES_MAX).contains(&self.confirm_quotes) {
            return Err(format!(
                "confirm_quotes must be within 2..={CONFIRM_QUOTES_MAX}"
            ));
        }
        if self.jump_pips_max.iter().flatten().any(|&p| p < 1) {
            return Err("a price-jump limit must be at least 1 pip".to_owned());
        }
        Ok(())
    }
}

/// What to do with a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Apply,
    /// Held; `jump_pips` from the last good quote's mid (rounded down).
    Hold {
        jump_pips: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still waiting for confirmation.
    Held,
    /// The market stayed at the new level; the level was applied.
    Confirmed,
    /// The market came back (or moved elsewhere): never applied.
    Discarded,
}

/// One held quote and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub id: u64,
    pub instrument: InstrumentId,
    /// The quote's own time (source time), UTC ns.
    pub time_ns: TimeNs,
    pub bid: Price,
    pub ask: Price,
    pub good_bid: Price,
    pub good_ask: Price,
    pub jump_pips: i64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default)]
struct InstrumentGuard {
    good: Option<(Price, Price)>,
    /// Ids of the held quotes at the current candidate level, oldest first.
    held: Vec<u64>,
    /// The newest held quote (the candidate level).
    held_level: Option<(Price, Price)>,
    held_total: u64,
    confirmed_total: u64,
    discarded_total: u64,
}

/// Per-instrument counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GuardCounts {
    pub held_total: u64,
    pub confirmed_total: u64,
    pub discarded_total: u64,
    pub held_now: u64,
}

#[derive(Debug, Clone)]
pub struct PriceGuard {
    config: GuardConfig,
    pip_ticks: Vec<Price>,
    instruments: Vec<InstrumentGuard>,
    flags: VecDeque<Flag>,
    next_flag_id: u64,
}

impl PriceGuard {
    pub fn new(config: GuardConfig, specs: &[InstrumentSpec]) -> PriceGuard {
        PriceGuard {
            pip_ticks: specs.iter().map(|s| s.pip_ticks.max(1)).collect(),
            instruments: vec![InstrumentGuard::default(); specs.len()],
            config,
            flags: VecDeque::new(),
            next_flag_id: 1,
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Sets the last good quote (e.g. the engine's quote recovered from the journal).
    pub fn applied(&mut self, instrument: InstrumentId, bid: Price, ask: Price) {
        if let Some(state) = self.instruments.get_mut(usize::from(instrument.0)) {
            state.good = Some((bid, ask));
        }
    }

    /// Decides about one quote (see the module doc); records flags and outcomes.
    pub fn check(
        &mut self,
        instrument: InstrumentId,
        bid: Price,
        ask: Price,
        time_ns: TimeNs,
    ) -> Verdict {
        let index = usize::from(instrument.0);
        let Some(Some(pips_max)) = self.config.jump_pips_max.get(index).copied() else {
            return Verdict::Apply;
        };
        let pip_ticks = self.pip_ticks.get(index).copied().unwrap_or(1);
        let confirm_quotes = self.config.confirm_quotes;
        let Some(state) = self.instruments.get_mut(index) else {
            return Verdict::Apply;
        };
        let Some(good) = state.good else {
            return Verdict::Apply;
        };
        // Mids in half ticks: |(b + a) - (gb + ga)| / 2 ticks.
        let limit_half_ticks = i128::from(pips_max) * i128::from(pip_ticks) * 2;
        let distance = |(b1, a1): (Price, Price), (b2, a2): (Price, Price)| {
            (i128::from(b1) + i128::from(a1) - i128::from(b2) - i128::from(a2)).abs()
        };
        let quote = (bid, ask);
        let from_good = distance(quote, good);
        if from_good <= limit_half_ticks {
            let discarded = std::mem::take(&mut state.held);
            state.held_level = None;
            state.discarded_total += discarded.len() as u64;
            self.resolve(&discarded, Outcome::Discarded);
            return Verdict::Apply;
        }
        let jump_pips = i64::try_from(from_good / 2 / i128::from(pip_ticks)).unwrap_or(i64::MAX);
        let same_level = state
            .held_level
            .is_some_and(|level| distance(quote, level) <= limit_half_ticks);
        if !same_level {
            let discarded = std::mem::take(&mut state.held);
            state.discarded_total += discarded.len() as u64;
            self.resolve(&discarded, Outcome::Discarded);
        }
        let Some(state) = self.instruments.get_mut(index) else {
            return Verdict::Apply;
        };
        if state.held.len() + 1 >= confirm_quotes {
            let confirmed = std::mem::take(&mut state.held);
            state.held_level = None;
            state.confirmed_total += confirmed.len() as u64;
            self.resolve(&confirmed, Outcome::Confirmed);
            tracing::warn!(
                instrument = instrument.0,
                bid,
                ask,
                jump_pips,
                "price jump confirmed by {confirm_quotes} quotes; applying the new level"
            );
            return Verdict::Apply;
        }
        let id = self.next_flag_id;
        self.next_flag_id += 1;
        state.held.push(id);
        state.held_level = Some(quote);
        state.held_total += 1;
        tracing::warn!(
            instrument = instrument.0,
            bid,
            ask,
            good_bid = good.0,
            good_ask = good.1,
            jump_pips,
            "quote held by the price-jump guard"
        );
        if self.flags.len() >= FLAGS_KEPT_MAX {
            self.flags.pop_front();
        }
        self.flags.push_back(Flag {
            id,
            instrument,
            time_ns,
            bid,
            ask,
            good_bid: good.0,
            good_ask: good.1,
            jump_pips,
            outcome: Outcome::Held,
        });
        Verdict::Hold { jump_pips }
    }

    fn resolve(&mut self, ids: &[u64], outcome: Outcome) {
        for id in ids {
            if let Some(flag) = self.flags.iter_mut().rev().find(|f| f.id == *id) {
                flag.outcome = outcome;
            }
        }
    }

    /// The kept flags, oldest first.
    pub fn flags(&self) -> impl Iterator<Item = &Flag> {
        self.flags.iter()
    }

    pub fn counts(&self, instrument: InstrumentId) -> GuardCounts {
        self.instruments
            .get(usize::from(instrument.0))
            .map(|s| GuardCounts {
                held_total: s.held_total,
                confirmed_total: s.confirmed_total,
                discarded_total: s.discarded_total,
                held_now: s.held.len() as u64,
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USDJPY: InstrumentId = InstrumentId(0);

    fn guard() -> PriceGuard {
        let specs = InstrumentSpec::defaults();
        let mut guard = PriceGuard::new(GuardConfig::defaults(specs.len()), &specs);
        guard.applied(USDJPY, 150_000, 150_006);
        guard
    }

    #[test]
    fn small_moves_apply_and_a_single_spike_is_discarded() {
        let mut g = guard();
        // 99.9 pips up on the mid: applied.
        assert_eq!(g.check(USDJPY, 150_999, 151_005, 1), Verdict::Apply);
        g.applied(USDJPY, 150_999, 151_005);
        // A 300-pip spike: held.
        assert_eq!(
            g.check(USDJPY, 153_999, 154_005, 2),
            Verdict::Hold { jump_pips: 300 }
        );
        // The next quote is back near the good level: applied, the spike discarded.
        assert_eq!(g.check(USDJPY, 151_000, 151_006, 3), Verdict::Apply);
        let flags: Vec<&Flag> = g.flags().collect();
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].outcome, Outcome::Discarded);
        assert_eq!(g.counts(USDJPY).discarded_total, 1);
    }

    #[test]
    fn a_real_jump_is_applied_on_its_confirming_quote() {
        let mut g = guard();
        assert!(matches!(
            g.check(USDJPY, 148_000, 148_006, 1),
            Verdict::Hold { .. }
        ));
        assert!(matches!(
            g.check(USDJPY, 148_010, 148_016, 2),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.check(USDJPY, 147_990, 147_996, 3), Verdict::Apply);
        g.applied(USDJPY, 147_990, 147_996);
        assert!(g.flags().all(|f| f.outcome == Outcome::Confirmed));
        assert_eq!(g.counts(USDJPY).confirmed_total, 2);
        assert_eq!(g.counts(USDJPY).held_now, 0);
        // The new level is the good one now.
        assert_eq!(g.check(USDJPY, 148_000, 148_006, 4), Verdict::Apply);
    }

    #[test]
    fn a_new_far_level_restarts_confirmation() {
        let mut g = guard();
        assert!(matches!(
            g.check(USDJPY, 148_000, 148_006, 1),
            Verdict::Hold { .. }
        ));
        // Elsewhere again (far from the good and from the held level).
        assert!(matches!(
            g.check(USDJPY, 153_000, 153_006, 2),
            Verdict::Hold { .. }
        ));
        assert!(matches!(
            g.check(USDJPY, 153_010, 153_016, 3),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.check(USDJPY, 153_020, 153_026, 4), Verdict::Apply);
        let outcomes: Vec<Outcome> = g.flags().map(|f| f.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Discarded, Outcome::Confirmed, Outcome::Confirmed]
        );
    }

    #[test]
    fn first_quote_and_switched_off_instruments_apply() {
        let specs = InstrumentSpec::defaults();
        let mut config = GuardConfig::defaults(specs.len());
        config.set(InstrumentId(1), None).unwrap();
        let mut g = PriceGuard::new(config, &specs);
        assert_eq!(g.check(USDJPY, 150_000, 150_006, 1), Verdict::Apply);
        g.applied(InstrumentId(1), 110_000, 110_008);
        assert_eq!(
            g.check(InstrumentId(1), 190_000, 190_008, 2),
            Verdict::Apply
        );
    }
}
