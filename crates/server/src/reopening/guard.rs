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
//! 5. *Flagged afterwards.* A confirmed level is watched for `revert_window_ns` of source time
//!    from the quote that applied it. A quote inside the window within `limit` of the good
//!    quote from before the jump means the market came back: it is applied at once (it is the
//!    old, good level), the level's flags become *reverted*, and the quotes applied at the bad
//!    level, source times `[the applying quote, this quote)`, are recorded as an off-market
//!    span of the instrument. The backfill plan cancels fills and loss-cuts made on them.
//!    A second confirmed jump ends the watch of the first (the market moved on). The watch
//!    lives in memory only: a restart ends it (the flags themselves are kept).
//! 6. An operator can mark a confirmed level off-market by hand ([`PriceGuard::mark_off_market`],
//!    `POST /v1/admin/price-guard/flags/{id}/off-market`), giving where the bad level ended.
//!
//! A quote the engine then refuses (stale, too wide) does not become the last good quote (the
//! sequencer only calls [`PriceGuard::applied`] for quotes the engine took).
//!
//! Every flag change and span is also a [`Record`] for the flag file
//! (`DATA_DIR/price-guard/flags.jsonl`, format in `fxdesk_backfill::guard_flags`), taken with
//! [`PriceGuard::take_records`] and written by [`super::Reopening`]; a restarted server reads
//! the file back ([`PriceGuard::restore`]) so flag ids keep counting and old flags can still
//! be listed and marked. The guard is pure: no clock and no I/O; the sequencer thread owns the
//! only mutable use.

use std::collections::VecDeque;

pub use fxdesk_backfill::guard_flags::Outcome;
use fxdesk_backfill::guard_flags::{
    FlagFile, FlagRecord, MarkedBy, OffMarketSpan, Record, REASON_BYTES_MAX,
};
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
/// Default source time after a confirmed jump during which a return to the level before it
/// marks the jump off-market: one minute. Bad ticks from a feed (a stuck or misplaced price)
/// are typically corrected within seconds; a real move that reverses after minutes is left to
/// an operator, who can mark it by hand.
pub const REVERT_WINDOW_NS_DEFAULT: TimeNs = 60 * 1_000_000_000;
/// Longest revert window accepted: one hour.
pub const REVERT_WINDOW_NS_MAX: TimeNs = 3_600 * 1_000_000_000;
/// Records waiting to be written, at most (the writer drains them on every quote; a bound so
/// a broken writer cannot grow memory without end: the oldest are dropped and counted).
pub const RECORDS_PENDING_MAX: usize = 10_000;

/// How the guard is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Per instrument index: largest move in pips (None: the guard is off for it).
    pub jump_pips_max: Vec<Option<i64>>,
    pub confirm_quotes: usize,
    /// See rule 5 of the module doc; 0 switches revert detection off.
    pub revert_window_ns: TimeNs,
}

impl GuardConfig {
    /// [`JUMP_PIPS_MAX_DEFAULT`] for every instrument, [`CONFIRM_QUOTES_DEFAULT`].
    pub fn defaults(instruments: usize) -> GuardConfig {
        GuardConfig {
            jump_pips_max: vec![Some(JUMP_PIPS_MAX_DEFAULT); instruments],
            confirm_quotes: CONFIRM_QUOTES_DEFAULT,
            revert_window_ns: REVERT_WINDOW_NS_DEFAULT,
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
        if !(0..=REVERT_WINDOW_NS_MAX).contains(&self.revert_window_ns) {
            return Err(format!(
                "revert_window must be within 0..={} s",
                REVERT_WINDOW_NS_MAX / 1_000_000_000
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
    /// For a confirmed level: the source time of the quote that applied it.
    pub applied_from_ns: Option<TimeNs>,
}

/// Why [`PriceGuard::mark_off_market`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkError {
    /// No such flag among the kept ones.
    UnknownFlag,
    /// The flag's level was never applied (held or discarded) or is marked already.
    NotApplied(Outcome),
    /// `until_ns` is not after the level was applied, or the reason is empty or too long.
    Invalid(String),
}

/// A confirmed level being watched for a return (rule 5).
#[derive(Debug, Clone)]
struct Watch {
    /// The good quote before the jump.
    before: (Price, Price),
    /// Source time of the quote that applied the level.
    from_ns: TimeNs,
    flags: Vec<u64>,
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
    reverted_total: u64,
    watch: Option<Watch>,
}

/// Per-instrument counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GuardCounts {
    pub held_total: u64,
    pub confirmed_total: u64,
    pub discarded_total: u64,
    pub reverted_total: u64,
    pub held_now: u64,
}

#[derive(Debug, Clone)]
pub struct PriceGuard {
    config: GuardConfig,
    pip_ticks: Vec<Price>,
    instruments: Vec<InstrumentGuard>,
    flags: VecDeque<Flag>,
    next_flag_id: u64,
    symbols: Vec<String>,
    /// For the flag file, oldest first (see [`PriceGuard::take_records`]).
    records: VecDeque<Record>,
    records_dropped: u64,
}

impl PriceGuard {
    pub fn new(config: GuardConfig, specs: &[InstrumentSpec]) -> PriceGuard {
        PriceGuard {
            pip_ticks: specs.iter().map(|s| s.pip_ticks.max(1)).collect(),
            instruments: vec![InstrumentGuard::default(); specs.len()],
            config,
            flags: VecDeque::new(),
            next_flag_id: 1,
            symbols: specs.iter().map(|s| s.symbol.clone()).collect(),
            records: VecDeque::new(),
            records_dropped: 0,
        }
    }

    /// Takes back the flags a previous run wrote (the file as read): the newest
    /// [`FLAGS_KEPT_MAX`] are listed again and ids continue after the largest. A flag still
    /// held when that run stopped was never applied: it is discarded now (and recorded so).
    pub fn restore(&mut self, file: &FlagFile) {
        self.next_flag_id = self.next_flag_id.max(
            file.flags
                .keys()
                .next_back()
                .map_or(1, |id| id.saturating_add(1)),
        );
        let skip = file.flags.len().saturating_sub(FLAGS_KEPT_MAX);
        for record in file.flags.values().skip(skip) {
            let mut flag = Flag {
                id: record.id,
                instrument: record.instrument,
                time_ns: record.time_ns,
                bid: record.bid,
                ask: record.ask,
                good_bid: record.good_bid,
                good_ask: record.good_ask,
                jump_pips: record.jump_pips,
                outcome: record.outcome,
                applied_from_ns: record.applied_from_ns,
            };
            if flag.outcome == Outcome::Held {
                flag.outcome = Outcome::Discarded;
                self.records.push_back(Record::Flag(self.record_of(&flag)));
            }
            self.flags.push_back(flag);
        }
    }

    fn record_of(&self, flag: &Flag) -> FlagRecord {
        FlagRecord {
            id: flag.id,
            instrument: flag.instrument,
            symbol: self
                .symbols
                .get(usize::from(flag.instrument.0))
                .cloned()
                .unwrap_or_default(),
            time_ns: flag.time_ns,
            bid: flag.bid,
            ask: flag.ask,
            good_bid: flag.good_bid,
            good_ask: flag.good_ask,
            jump_pips: flag.jump_pips,
            outcome: flag.outcome,
            applied_from_ns: flag.applied_from_ns,
        }
    }

    fn record(&mut self, record: Record) {
        if self.records.len() >= RECORDS_PENDING_MAX {
            self.records.pop_front();
            self.records_dropped += 1;
        }
        self.records.push_back(record);
    }

    /// The records made since the last call, for the flag file, oldest first.
    pub fn take_records(&mut self) -> Vec<Record> {
        self.records.drain(..).collect()
    }

    /// Records dropped unwritten because too many were waiting.
    pub fn records_dropped(&self) -> u64 {
        self.records_dropped
    }

    /// Marks a confirmed level off-market by hand (rule 6): every flag of the level (same
    /// instrument, applied by the same quote) becomes `off_market`, and the quotes applied from
    /// the level's applying quote until `until_ns` (source time, excluded) are an off-market
    /// span. Returns the span.
    pub fn mark_off_market(
        &mut self,
        id: u64,
        until_ns: TimeNs,
        user: &str,
        reason: &str,
    ) -> Result<OffMarketSpan, MarkError> {
        let flag = self
            .flags
            .iter()
            .find(|f| f.id == id)
            .ok_or(MarkError::UnknownFlag)?;
        let (instrument, from_ns) = match (flag.outcome, flag.applied_from_ns) {
            (Outcome::Confirmed, Some(from_ns)) => (flag.instrument, from_ns),
            (outcome, _) => return Err(MarkError::NotApplied(outcome)),
        };
        if until_ns <= from_ns {
            return Err(MarkError::Invalid(format!(
                "until_ns must be after the level was applied (source time {from_ns})"
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > REASON_BYTES_MAX {
            return Err(MarkError::Invalid(format!(
                "a reason of 1 to {REASON_BYTES_MAX} bytes is needed"
            )));
        }
        let ids: Vec<u64> = self
            .flags
            .iter()
            .filter(|f| {
                f.instrument == instrument
                    && f.applied_from_ns == Some(from_ns)
                    && f.outcome == Outcome::Confirmed
            })
            .map(|f| f.id)
            .collect();
        self.resolve(&ids, Outcome::OffMarket);
        // Marked: the guard no longer watches it for a return.
        if let Some(state) = self.instruments.get_mut(usize::from(instrument.0)) {
            if state.watch.as_ref().is_some_and(|w| w.from_ns == from_ns) {
                state.watch = None;
            }
        }
        let span = OffMarketSpan {
            instrument,
            symbol: self
                .symbols
                .get(usize::from(instrument.0))
                .cloned()
                .unwrap_or_default(),
            from_ns,
            until_ns,
            flags: ids,
            by: MarkedBy::Operator {
                user: user.to_owned(),
                reason: reason.to_owned(),
            },
        };
        self.record(Record::OffMarket(span.clone()));
        Ok(span)
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
        // Rule 5: back at the level before a confirmed jump, inside the window.
        let revert_window_ns = self.config.revert_window_ns;
        if let Some(watch) = state.watch.take() {
            // An older source time (the engine refuses it) neither reverts nor ends the watch.
            let expired = time_ns.saturating_sub(watch.from_ns) >= revert_window_ns;
            let inside = !expired && time_ns >= watch.from_ns;
            if inside && distance(quote, watch.before) <= limit_half_ticks {
                let discarded = std::mem::take(&mut state.held);
                state.held_level = None;
                state.discarded_total += discarded.len() as u64;
                state.reverted_total += watch.flags.len() as u64;
                self.resolve(&discarded, Outcome::Discarded);
                self.resolve(&watch.flags, Outcome::Reverted);
                let symbol = self.symbols.get(index).cloned().unwrap_or_default();
                tracing::warn!(
                    instrument = instrument.0,
                    bid,
                    ask,
                    "the market came back within the revert window: the confirmed jump was off-market"
                );
                self.record(Record::OffMarket(OffMarketSpan {
                    instrument,
                    symbol,
                    from_ns: watch.from_ns,
                    until_ns: time_ns,
                    flags: watch.flags,
                    by: MarkedBy::Reverted,
                }));
                return Verdict::Apply;
            }
            if !expired {
                state.watch = Some(watch);
            }
        }
        let Some(state) = self.instruments.get_mut(index) else {
            return Verdict::Apply;
        };
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
            // Watched for a return (a new confirmed jump replaces an older watch).
            state.watch = (revert_window_ns > 0).then(|| Watch {
                before: good,
                from_ns: time_ns,
                flags: confirmed.clone(),
            });
            for id in &confirmed {
                if let Some(flag) = self.flags.iter_mut().rev().find(|f| f.id == *id) {
                    flag.applied_from_ns = Some(time_ns);
                }
            }
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
        let flag = Flag {
            id,
            instrument,
            time_ns,
            bid,
            ask,
            good_bid: good.0,
            good_ask: good.1,
            jump_pips,
            outcome: Outcome::Held,
            applied_from_ns: None,
        };
        let record = Record::Flag(self.record_of(&flag));
        self.record(record);
        self.flags.push_back(flag);
        Verdict::Hold { jump_pips }
    }

    fn resolve(&mut self, ids: &[u64], outcome: Outcome) {
        for id in ids {
            let Some(flag) = self.flags.iter_mut().rev().find(|f| f.id == *id) else {
                continue;
            };
            flag.outcome = outcome;
            let flag = flag.clone();
            let record = Record::Flag(self.record_of(&flag));
            self.record(record);
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
                reverted_total: s.reverted_total,
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

    /// A confirmed jump to 153 (applied by the quote at source time 3).
    fn confirmed_jump(g: &mut PriceGuard) {
        assert!(matches!(
            g.check(USDJPY, 153_000, 153_006, 1),
            Verdict::Hold { .. }
        ));
        assert!(matches!(
            g.check(USDJPY, 153_010, 153_016, 2),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.check(USDJPY, 153_020, 153_026, 3), Verdict::Apply);
        g.applied(USDJPY, 153_020, 153_026);
    }

    fn spans(records: &[Record]) -> Vec<&OffMarketSpan> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::OffMarket(span) => Some(span),
                Record::Flag(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_return_to_the_level_before_a_confirmed_jump_marks_it_off_market() {
        let mut g = guard();
        confirmed_jump(&mut g);
        assert_eq!(g.check(USDJPY, 153_030, 153_036, 4), Verdict::Apply);
        g.applied(USDJPY, 153_030, 153_036);
        // Back at 150 within the window: applied at once (not held), the jump was off-market.
        assert_eq!(g.check(USDJPY, 150_010, 150_016, 5), Verdict::Apply);
        assert!(g.flags().all(|f| f.outcome == Outcome::Reverted));
        assert!(g.flags().all(|f| f.applied_from_ns == Some(3)));
        assert_eq!(g.counts(USDJPY).reverted_total, 2);
        let records = g.take_records();
        let found = spans(&records);
        assert_eq!(found.len(), 1);
        let span = found[0];
        assert_eq!((span.from_ns, span.until_ns), (3, 5));
        assert_eq!(span.flags, vec![1, 2]);
        assert_eq!(span.by, MarkedBy::Reverted);
        assert_eq!(span.symbol, "USD/JPY");
        // Every outcome change was recorded too; the last record of a flag is its outcome.
        let last_of_1 = records.iter().rev().find_map(|r| match r {
            Record::Flag(f) if f.id == 1 => Some(f.outcome),
            _ => None,
        });
        assert_eq!(last_of_1, Some(Outcome::Reverted));
        assert!(g.take_records().is_empty(), "taken once");
    }

    #[test]
    fn no_revert_after_the_window_or_when_the_market_stays() {
        let mut g = guard();
        confirmed_jump(&mut g);
        // The market stays at the new level, past the window: a later return is a new jump.
        let late = 3 + REVERT_WINDOW_NS_DEFAULT;
        assert_eq!(g.check(USDJPY, 153_000, 153_006, late), Verdict::Apply);
        g.applied(USDJPY, 153_000, 153_006);
        assert!(matches!(
            g.check(USDJPY, 150_010, 150_016, late + 1),
            Verdict::Hold { .. }
        ));
        assert!(spans(&g.take_records()).is_empty());
        assert_eq!(g.counts(USDJPY).reverted_total, 0);

        // Switched off: no watch at all.
        let specs = InstrumentSpec::defaults();
        let mut config = GuardConfig::defaults(specs.len());
        config.revert_window_ns = 0;
        let mut g = PriceGuard::new(config, &specs);
        g.applied(USDJPY, 150_000, 150_006);
        confirmed_jump(&mut g);
        assert!(matches!(
            g.check(USDJPY, 150_010, 150_016, 4),
            Verdict::Hold { .. }
        ));
        assert!(spans(&g.take_records()).is_empty());
    }

    #[test]
    fn an_operator_marks_a_confirmed_level_and_bad_marks_are_refused() {
        let mut g = guard();
        // A discarded spike: never applied, cannot be marked.
        assert!(matches!(
            g.check(USDJPY, 140_000, 140_006, 1),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.check(USDJPY, 150_001, 150_007, 2), Verdict::Apply);
        g.applied(USDJPY, 150_001, 150_007);
        assert_eq!(
            g.mark_off_market(1, 10, "alice", "spike"),
            Err(MarkError::NotApplied(Outcome::Discarded))
        );
        assert_eq!(
            g.mark_off_market(99, 10, "alice", "spike"),
            Err(MarkError::UnknownFlag)
        );
        assert!(matches!(
            g.check(USDJPY, 153_000, 153_006, 3),
            Verdict::Hold { .. }
        ));
        assert!(matches!(
            g.check(USDJPY, 153_010, 153_016, 4),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.check(USDJPY, 153_020, 153_026, 5), Verdict::Apply);
        g.applied(USDJPY, 153_020, 153_026);
        assert!(matches!(
            g.mark_off_market(2, 5, "alice", "x"),
            Err(MarkError::Invalid(_))
        ));
        assert!(matches!(
            g.mark_off_market(2, 9, "alice", "  "),
            Err(MarkError::Invalid(_))
        ));
        g.take_records();
        let span = g.mark_off_market(3, 9, "alice", "feed glitch").unwrap();
        assert_eq!(
            (span.from_ns, span.until_ns, span.flags.clone()),
            (5, 9, vec![2, 3])
        );
        assert_eq!(spans(&g.take_records()), vec![&span]);
        assert_eq!(
            g.mark_off_market(2, 9, "bob", "again"),
            Err(MarkError::NotApplied(Outcome::OffMarket))
        );
        // Marked: no longer watched, so a return is not recorded a second time.
        assert_eq!(
            g.check(USDJPY, 150_000, 150_006, 6),
            Verdict::Hold { jump_pips: 302 }
        );
    }

    #[test]
    fn flags_survive_a_restart_through_the_file_and_ids_keep_counting() {
        use fxdesk_backfill::guard_flags::{read, FlagWriter};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("price-guard/flags.jsonl");
        let (mut writer, existing) = FlagWriter::open(&path).unwrap();
        let mut g = guard();
        g.restore(&existing);
        confirmed_jump(&mut g);
        assert_eq!(g.check(USDJPY, 150_010, 150_016, 5), Verdict::Apply);
        // A held quote at stop time.
        g.applied(USDJPY, 150_010, 150_016);
        assert!(matches!(
            g.check(USDJPY, 145_000, 145_006, 6),
            Verdict::Hold { .. }
        ));
        for record in g.take_records() {
            writer.append(&record).unwrap();
        }
        drop(writer);
        // The server stopped mid-line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"record":"flag","id":4"#).unwrap();
        drop(f);

        let (_, file) = FlagWriter::open(&path).unwrap();
        assert!(file.torn_tail_at.is_some());
        assert_eq!(file.spans.len(), 1);
        let mut g = guard();
        g.restore(&file);
        let outcomes: Vec<(u64, Outcome)> = g.flags().map(|f| (f.id, f.outcome)).collect();
        assert_eq!(
            outcomes,
            vec![
                (1, Outcome::Reverted),
                (2, Outcome::Reverted),
                (3, Outcome::Discarded)
            ],
            "the quote held at stop time was never applied"
        );
        assert!(matches!(
            g.take_records().as_slice(),
            [Record::Flag(FlagRecord {
                id: 3,
                outcome: Outcome::Discarded,
                ..
            })]
        ));
        assert!(matches!(
            g.check(USDJPY, 140_000, 140_006, 7),
            Verdict::Hold { .. }
        ));
        assert_eq!(g.flags().last().map(|f| f.id), Some(4), "ids continue");
        // The torn line was cut off: the file reads clean.
        let clean = read(&path).unwrap().unwrap();
        assert_eq!(clean.torn_tail_at, None);
    }
}
