//! The plan: what the shadow replay found, priced by the policy, as corrections with the
//! engine commands that make them; per-customer totals, the broker's cost, uncertain orders,
//! everything skipped and why; a hash of all inputs; and the approvals.
//!
//! Money: `difference_minor` of a correction is what the customer gains, in the account's
//! currency, compared with the same execution at the reopening price (positive: the broker
//! pays). Lost opportunities (orders a customer could not send while the system was down) are
//! never compensated: the plan says so and proposes nothing for them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use fxdesk_engine::{
    AccountId, CommandKind, CorrectionId, Engine, InstrumentId, OrderId, OrderKind, PositionId,
    PositionMode, Price, RestoredLinkedOrder, RestoredOrder, RestoredPosition, Side, TimeInForce,
    TimeNs,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::{market_open_ns, rfc3339, rollovers_between};
use crate::error::BackfillError;
use crate::guard_flags::MarkedBy;
use crate::money::{minor_text, ticks_to_minor};
use crate::policy::{CorrectionMode, FillPrice, LossCuts, Policy, UncertainAction};
use crate::shadow::{self, PreIndex, ShadowClose, ShadowFill, ShadowInput};
use crate::ticks::{HeldTick, SourceSummary, WindowTicks};

/// The plan file's format version.
pub const PLAN_FORMAT: u32 = 1;
/// Most points of a price path kept in the plan per instrument (for the report's chart).
pub const PATH_POINTS_MAX: usize = 600;
/// What the plan says about lost opportunities.
pub const LOST_OPPORTUNITIES: &str = "Lost opportunities are never compensated: orders a customer could not send, amend or cancel while the system was down are not assumed, and nothing is proposed for them. Only orders that were working before the outage are corrected.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// Derived from the inputs' hash; every correction command carries it.
    pub plan_id: u64,
    /// SHA-256 of this plan without `plan_sha256` and `approvals`: approvals are for this text.
    pub plan_sha256: String,
    pub window: Window,
    pub inputs: Inputs,
    pub policy: Policy,
    pub corrections: Vec<Correction>,
    pub customers: Vec<CustomerTotal>,
    /// Sum of the differences per currency: what the corrections cost the broker compared with
    /// executing at the reopening prices.
    pub broker_cost: Vec<CurrencyAmount>,
    pub uncertain_orders: Vec<UncertainOrder>,
    pub skipped: Vec<Skipped>,
    /// With `loss_cuts = "at_reopening"`: accounts below their loss-cut line at the end of the
    /// window, which the engine will cut at the reopening quotes.
    pub loss_cuts_at_reopening: Vec<AccountRatio>,
    pub margin_calls: Vec<MarginCallNote>,
    pub reopening: Vec<ReopeningQuote>,
    pub held_ticks: Vec<HeldTick>,
    pub refused_ticks: u64,
    pub price_paths: Vec<PricePath>,
    pub lost_opportunities: String,
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from_ns: TimeNs,
    pub to_ns: TimeNs,
    pub from: String,
    pub to: String,
    /// Market-time length (weekend closure excluded).
    pub market_minutes: i64,
    /// Shorter than the policy's minimum: nothing is corrected.
    pub below_minimum: bool,
    pub rollovers: Vec<String>,
    pub ticks_replayed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalInputs {
    pub dir: String,
    /// The state just before the outage: after this record.
    pub pre_outage_seq: u64,
    pub pre_outage_state_hash: String,
    /// The journal's end when the plan was made, and the state there.
    pub last_seq: u64,
    pub last_state_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub journal: JournalInputs,
    pub ticks: Vec<SourceSummary>,
    pub policy_sha256: String,
    /// The price-jump guard's flag file, with policy `bad_tick_evidence = "guard"` (`None`
    /// with "jump": the file is not an input then). Plans made before this field read as
    /// `None`.
    #[serde(default)]
    pub guard_flags: Option<GuardFlagsInput>,
    /// SHA-256 over the journal position and state hashes, the tick files' hashes, the window,
    /// the policy and the guard's flag file.
    pub input_sha256: String,
}

/// The price-jump guard's flag file as the plan read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardFlagsInput {
    pub path: String,
    /// SHA-256 of the file's bytes; `None`: there was no file.
    pub sha256: Option<String>,
    pub lines: u64,
    /// Off-market spans in it (all instruments, all times).
    pub spans: u64,
    /// A torn last line was skipped at this byte offset.
    pub torn_tail_at: Option<u64>,
    /// What the file means for this plan, in words.
    pub note: String,
}

/// What marked a journaled quote off-market (policy `bad_tick_evidence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum OffMarketEvidence {
    /// A span of the price-jump guard's flag file covers the quote.
    Guard {
        flags: Vec<u64>,
        by: MarkedBy,
        from_ns: TimeNs,
        until_ns: TimeNs,
        /// How far the quote was from the last good one (for the reader; not the test).
        jump_ticks: Price,
    },
    /// The plan's own rule: the quote jumped more than `limit_ticks` from the last good one.
    Jump {
        jump_ticks: Price,
        limit_ticks: Price,
    },
}

impl OffMarketEvidence {
    pub fn jump_ticks(&self) -> Price {
        match self {
            OffMarketEvidence::Guard { jump_ticks, .. }
            | OffMarketEvidence::Jump { jump_ticks, .. } => *jump_ticks,
        }
    }

    /// Why the quote is off-market, for the correction's note.
    pub fn describe(&self) -> String {
        match self {
            OffMarketEvidence::Guard {
                flags,
                by,
                jump_ticks,
                ..
            } => {
                let ids: Vec<String> = flags.iter().map(u64::to_string).collect();
                let who = match by {
                    MarkedBy::Reverted => {
                        "the market came back to the level before the jump".to_owned()
                    }
                    MarkedBy::Operator { user, reason } => {
                        format!("marked off-market by {user}: {reason}")
                    }
                };
                format!(
                    "the price-jump guard marked the quote off-market ({who}; guard flag(s) {}; {jump_ticks} ticks from the last good quote)",
                    ids.join(", ")
                )
            }
            OffMarketEvidence::Jump {
                jump_ticks,
                limit_ticks,
            } => format!(
                "the quote jumped {jump_ticks} ticks from the last good one (policy limit {limit_ticks})"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionKind {
    /// An order that should have filled in the window and did not.
    Fill,
    /// A loss-cut that should have happened in the window (back-dated).
    LossCut,
    /// A fill (or close) made after reopening at a rate the policy says is wrong.
    Reprice,
    /// A day/week order that a rollover inside the window would have expired.
    Expire,
    /// An order the engine would have cancelled inside the window because the account's margin
    /// was not enough when it triggered (its OCO peer and waiting children go with it).
    Cancel,
    /// A fill or loss-cut made after reopening on an off-market quote: cancelled (rewrite) or
    /// paid the difference to the last good price (cash), per policy `correction.bad_tick`.
    BadTick,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub item: u32,
    pub kind: CorrectionKind,
    pub mode: CorrectionMode,
    pub account: u64,
    pub currency: String,
    pub order: Option<u64>,
    pub position: Option<u64>,
    pub instrument: String,
    pub price_decimals: u32,
    /// The execution's side.
    pub side: Side,
    pub qty: i64,
    /// limit, stop, stop_limit, trailing_stop, take_profit, stop_loss, loss_cut, expiry.
    pub order_kind: String,
    pub order_level: Option<Price>,
    pub trigger_time_ns: TimeNs,
    pub trigger_time: String,
    pub trigger_bid: Price,
    pub trigger_ask: Price,
    /// The first tick beyond: what the live engine would have filled at.
    pub market_price: Price,
    pub proposed_price: Price,
    pub reopening_price: Option<Price>,
    /// For a re-price: the price the execution actually got after reopening.
    pub live_price: Option<Price>,
    pub difference_minor: i64,
    pub uncertain: bool,
    /// The engine commands that make this correction, in order.
    pub commands: Vec<CommandKind>,
    pub note: String,
    /// For a `bad_tick` correction: what marked the quote off-market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<OffMarketEvidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerTotal {
    pub account: u64,
    pub currency: String,
    pub corrections: u32,
    pub difference_minor: i64,
    pub cash_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyAmount {
    pub currency: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncertainOrder {
    pub order: u64,
    pub account: u64,
    pub placed_ns: TimeNs,
    pub placed: String,
    pub ms_before_outage: i64,
    pub fills_in_window: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub order: Option<u64>,
    pub position: Option<u64>,
    pub account: u64,
    pub time_ns: TimeNs,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRatio {
    pub account: u64,
    pub ratio_bp: Option<i64>,
    pub loss_cut_bp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarginCallNote {
    pub account: u64,
    pub time_ns: TimeNs,
    pub ratio_bp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopeningQuote {
    pub instrument: String,
    pub bid: Price,
    pub ask: Price,
    pub time_ns: TimeNs,
    /// journal (first quote journaled after the window), ticks (first tick at or after the
    /// window's end in the tick sources) or last_window_tick.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePath {
    pub instrument: String,
    pub price_decimals: u32,
    /// (time ns, bid, ask), thinned to at most [`PATH_POINTS_MAX`] points keeping the extremes.
    pub points: Vec<(TimeNs, Price, Price)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub user: String,
    pub at: String,
    pub plan_sha256: String,
}

/// What happened after the window in the live journal: executions of orders and positions
/// after reopening, and the first quote of each instrument.
#[derive(Debug, Clone, Default)]
pub struct LiveAfter {
    /// Each order's first fill after reopening.
    pub fills: HashMap<OrderId, LiveFill>,
    /// Each position's last close after reopening (the one that left nothing).
    pub closes: HashMap<PositionId, LiveClose>,
    /// Per instrument index: the first quote journaled after the window.
    pub reopening: Vec<Option<(Price, Price, TimeNs)>>,
    /// Fills made after reopening on an off-market quote (policy `bad_tick_evidence`).
    pub bad_tick_fills: Vec<BadTickFill>,
    /// Positions a loss-cut closed after reopening on an off-market quote (the cut came from
    /// it, whichever instrument the position is on).
    pub bad_tick_cuts: Vec<BadTickClose>,
}

/// A fill the live engine made after reopening, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFill {
    pub price: Price,
    pub time_ns: TimeNs,
    pub qty: i64,
    /// The positions it closed, and how much of each, in order.
    pub closed: Vec<(PositionId, i64)>,
    /// The position it opened, and its quantity.
    pub opened: Option<(PositionId, i64)>,
}

/// The close after reopening that left a position with nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveClose {
    pub price: Price,
    pub time_ns: TimeNs,
    pub qty: i64,
}

/// A fill the live engine made on a journaled quote that jumped off the market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTickFill {
    pub order: OrderId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: i64,
    pub price: Price,
    pub time_ns: TimeNs,
    /// The fill's side of the last good quote before the jump.
    pub good_price: Price,
    pub evidence: OffMarketEvidence,
    /// The positions the fill closed, in order.
    pub closes: Vec<BadTickClose>,
    /// The position the fill opened, and its quantity.
    pub opened: Option<(PositionId, i64)>,
    /// The filled order as it was just before the quote, with the orders linked to it (its
    /// OCO peer, or its IFD/IFO children waiting for it), first the order itself, ready for a
    /// `BackfillRestoreOrder` (alone) or `BackfillRestoreOrders` (`None`: not a resting order
    /// that opens positions, or linked to a closing or market order; see
    /// `Engine::restore_orders_of`).
    pub reopen: Option<Vec<RestoredLinkedOrder>>,
    /// The rollovers journaled after the quote and before planning, in journal order.
    pub rollovers_after: Vec<JournaledRollover>,
}

/// A position (or part of one) closed on an off-market quote, by a fill or a loss-cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTickClose {
    pub position: PositionId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    /// The position's side (the close is the opposite).
    pub side: Side,
    pub qty: i64,
    pub price: Price,
    /// What the close booked.
    pub realised_pnl_minor: i64,
    pub qty_remaining: i64,
    pub time_ns: TimeNs,
    /// The closing side of the last good quote of the position's instrument.
    pub good_price: Price,
    pub evidence: OffMarketEvidence,
    /// The position and its closing orders just before the close, ready for a
    /// `BackfillRestore` (`None` for a partial close).
    pub restore: Option<(RestoredPosition, Vec<RestoredOrder>)>,
    /// A loss-cut of a position on another instrument than the off-market quote's, whose
    /// P&L was converted through that quote (`None`: not converted through it, or not a cut).
    pub conversion: Option<OffMarketConversion>,
    /// The rollovers journaled after the quote and before planning, in journal order.
    pub rollovers_after: Vec<JournaledRollover>,
}

/// A New York rollover the live engine applied after reopening (`CommandKind::Rollover`,
/// accepted): it expired every working day order, and every week order when `weekly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournaledRollover {
    pub time_ns: TimeNs,
    pub weekly: bool,
}

impl JournaledRollover {
    /// The first of `rollovers` that ends an order with this time in force, working before
    /// them all: the next one for a day order, the next weekly one for a week order.
    pub fn ending(
        rollovers: &[JournaledRollover],
        time_in_force: TimeInForce,
    ) -> Option<&JournaledRollover> {
        match time_in_force {
            TimeInForce::Day => rollovers.first(),
            TimeInForce::Week => rollovers.iter().find(|r| r.weekly),
            _ => None,
        }
    }
}

/// A close booked at a good price whose P&L was converted at an off-market quote of a
/// conversion instrument (the cross rate: USD/JPY under a EUR/USD position of a JPY account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffMarketConversion {
    /// The off-market instrument, a leg of the position's conversion path.
    pub instrument: InstrumentId,
    /// The same close converted at the last good quote of every conversion instrument
    /// (`Engine::close_pnl_at`).
    pub good_pnl_minor: i64,
}

/// Everything a plan is made from.
pub struct PlanInput<'a> {
    /// The state just before the outage (consumed by the replay).
    pub pre: Engine,
    /// The state now, after the window and whatever was journaled after it; `None`: nothing
    /// was (the state now is `pre`).
    pub live: Option<&'a Engine>,
    pub after: &'a LiveAfter,
    pub journal: JournalInputs,
    pub from_ns: TimeNs,
    pub to_ns: TimeNs,
    pub ticks: &'a WindowTicks,
    pub policy: &'a Policy,
    /// The guard's flag file as read (policy `bad_tick_evidence = "guard"`).
    pub guard_flags: Option<GuardFlagsInput>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn side_price(side: Side, bid: Price, ask: Price) -> Price {
    match side {
        Side::Buy => ask,
        Side::Sell => bid,
    }
}

/// Customer's gain of buying/selling at `price` instead of at `reference`, in ticks per unit.
fn gain_ticks(side: Side, price: Price, reference: Price) -> Price {
    match side {
        Side::Buy => reference - price,
        Side::Sell => price - reference,
    }
}

fn kind_name(kind: &OrderKind, protects: bool) -> &'static str {
    match kind {
        OrderKind::Limit { .. } if protects => "take_profit",
        OrderKind::Stop { .. } if protects => "stop_loss",
        OrderKind::Limit { .. } => "limit",
        OrderKind::Stop { .. } => "stop",
        OrderKind::StopLimit { .. } => "stop_limit",
        OrderKind::TrailingStop { .. } => "trailing_stop",
        OrderKind::Market { .. } => "market",
    }
}

/// The backfilled price of a fill under the policy.
pub fn proposed_price(policy: &Policy, fill: &ShadowFill) -> Price {
    let rule = match kind_name(&fill.kind, fill.protects) {
        "take_profit" => policy.fill_price.take_profit,
        "stop_loss" => policy.fill_price.stop_loss,
        "limit" => policy.fill_price.limit,
        "stop" => policy.fill_price.stop,
        "stop_limit" => policy.fill_price.stop_limit,
        "trailing_stop" => policy.fill_price.trailing_stop,
        _ => FillPrice::FirstTickBeyond,
    };
    let Some(level) = fill.level else {
        return fill.price;
    };
    let better = |a: Price, b: Price| match fill.side {
        Side::Buy => a.min(b),
        Side::Sell => a.max(b),
    };
    let capped = |price: Price| match (policy.slippage_cap_ticks, fill.side) {
        (Some(cap), Side::Buy) => price.min(level + cap),
        (Some(cap), Side::Sell) => price.max(level - cap),
        (None, _) => price,
    };
    match rule {
        FillPrice::OrderPrice => level,
        FillPrice::FirstTickBeyond => capped(fill.price),
        FillPrice::BetterForCustomer => capped(better(level, fill.price)),
    }
}

/// What the plan keeps of the state before the outage besides the order index.
struct PreFacts {
    instruments: Vec<(InstrumentId, fxdesk_engine::InstrumentSpec)>,
    /// Per account (index = id - 1): currency and group.
    accounts: Vec<(fxdesk_engine::Currency, fxdesk_engine::GroupId)>,
    groups: BTreeMap<fxdesk_engine::GroupId, fxdesk_engine::GroupSpec>,
}

impl PreFacts {
    fn of(engine: &Engine) -> PreFacts {
        let accounts: Vec<_> = engine.accounts().map(|a| (a.currency, a.group)).collect();
        let groups = accounts
            .iter()
            .map(|a| a.1)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|g| engine.group(g).map(|spec| (g, spec.clone())))
            .collect();
        PreFacts {
            instruments: engine
                .instruments()
                .map(|(id, s)| (id, s.clone()))
                .collect(),
            accounts,
            groups,
        }
    }

    fn account(&self, id: AccountId) -> Option<(fxdesk_engine::Currency, fxdesk_engine::GroupId)> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.accounts.get(index).copied()
    }

    fn instrument(&self, id: InstrumentId) -> Option<&fxdesk_engine::InstrumentSpec> {
        self.instruments.get(usize::from(id.0)).map(|(_, s)| s)
    }
}

struct Builder<'a> {
    policy: &'a Policy,
    after: &'a LiveAfter,
    index: &'a PreIndex,
    facts: &'a PreFacts,
    /// The state now (`None`: the state before the outage; nothing came after).
    live: Option<&'a Engine>,
    /// An engine whose quotes convert money (the state now, else the replay's end).
    rates: &'a Engine,
    plan_id: u64,
    next_command: u32,
    corrections: Vec<Correction>,
    skipped: Vec<Skipped>,
    /// Orders not corrected: their IFD children cannot be either.
    blocked: BTreeSet<OrderId>,
    reopening: Vec<Option<(Price, Price)>>,
    /// Positions and orders this plan's earlier corrections put back, per account: the
    /// engine checks its limits against them too when it applies the later ones.
    put_back: BTreeMap<AccountId, (usize, usize)>,
}

impl Builder<'_> {
    fn correction_id(&mut self) -> CorrectionId {
        let id = CorrectionId {
            plan: self.plan_id,
            item: self.next_command,
        };
        self.next_command += 1;
        id
    }

    fn symbol(&self, instrument: InstrumentId) -> (String, u32) {
        self.facts
            .instrument(instrument)
            .map_or((instrument.to_string(), 0), |s| {
                (s.symbol.clone(), s.price_decimals)
            })
    }

    fn money(&self, account: AccountId, instrument: InstrumentId, qty: i64, ticks: Price) -> i64 {
        let Some((currency, _)) = self.facts.account(account) else {
            return 0;
        };
        ticks_to_minor(self.rates, instrument, qty, ticks, currency).unwrap_or(0)
    }

    /// Is the order still working now?
    fn live_order(&self, order: OrderId) -> bool {
        match self.live {
            Some(live) => live.order(order).is_some(),
            None => self.index.order(order).is_some(),
        }
    }

    fn live_position(&self, position: PositionId) -> bool {
        match self.live {
            Some(live) => live.position(position).is_some(),
            None => self.index.position(position).is_some(),
        }
    }

    /// How a working order changed after reopening, if it did: the customer amended it
    /// (quantity, level, time in force, OCO link) or partly closed the position it closes.
    fn changed_after_reopening(&self, fill: &ShadowFill) -> Option<String> {
        let live = self.live?;
        let now = live.order(fill.order)?;
        let before = self.index.order(fill.order)?;
        if now.qty != before.qty
            || now.kind != before.kind
            || now.time_in_force != before.time_in_force
            || now.oco_peer != before.oco_peer
        {
            return Some(format!(
                "order {} was amended after reopening (quantity {} -> {})",
                fill.order, before.qty, now.qty
            ));
        }
        let target = before.close_position?;
        let left = live.position(target).map_or(0, |p| p.qty);
        (now.qty.min(left) != fill.qty).then(|| {
            format!(
                "position {target}, which order {} closes, was partly closed after reopening ({left} left)",
                fill.order
            )
        })
    }

    /// Which execution a re-priced late fill rewrites: `(position, booked)`, where `booked`
    /// means its P&L is booked already (it closed that position, or opened it and the position
    /// is closed since) and `false` that the position it opened is open as the fill left it.
    /// `Err`: why it cannot be rewritten (it is re-priced in cash).
    fn late_fill_target(&self, qty: i64, live: &LiveFill) -> Result<(PositionId, bool), String> {
        debug_assert_eq!(
            live.qty, qty,
            "a fill of another quantity is skipped before"
        );
        match (live.closed.as_slice(), live.opened) {
            (&[(position, closed)], None) if closed == qty => Ok((position, true)),
            (&[], Some((position, opened))) if opened == qty => {
                match self.live.and_then(|engine| engine.position(position)) {
                    Some(p) if p.qty == qty && p.open_price == live.price => Ok((position, false)),
                    Some(_) => Err(format!(
                        "position {position}, which the fill opened, was partly closed or changed since: re-priced in cash"
                    )),
                    None => Ok((position, true)),
                }
            }
            _ => Err(
                "the fill after reopening closed and opened positions (a netting account): re-priced in cash"
                    .to_owned(),
            ),
        }
    }

    /// The commands of a re-price: the execution rewritten (`rewrite` is `Ok((position,
    /// booked, qty))`), else cash (`Err` says why a rewrite was not possible; empty: the policy
    /// chose cash).
    fn reprice_commands(
        &mut self,
        correction: &mut Correction,
        instrument: InstrumentId,
        rewrite: Result<(PositionId, bool, i64), String>,
        what: String,
    ) {
        let (Some(from), to) = (correction.live_price, correction.proposed_price) else {
            return;
        };
        let account = AccountId(correction.account);
        match rewrite {
            Ok((position, booked, qty)) => {
                correction.mode = CorrectionMode::Rewrite;
                correction.position = Some(position.0);
                let id = self.correction_id();
                correction.commands.push(CommandKind::BackfillReprice {
                    correction: id,
                    account,
                    instrument,
                    position,
                    qty,
                    from,
                    to,
                    realised_pnl_minor: booked.then_some(correction.difference_minor),
                });
                correction.note.push_str(if booked {
                    "; the execution is re-priced and the difference booked as its realised P&L"
                } else {
                    "; the position's entry price is re-priced (the difference is realised when it closes)"
                });
            }
            Err(why) => {
                correction.mode = CorrectionMode::Cash;
                if !why.is_empty() {
                    correction.note.push_str("; ");
                    correction.note.push_str(&why);
                }
                let id = self.correction_id();
                correction.commands.push(CommandKind::CashAdjustment {
                    correction: id,
                    account,
                    amount_minor: correction.difference_minor,
                    reason: format!(
                        "outage backfill plan {}: {what} re-priced from {from} to {to}",
                        self.plan_id
                    ),
                });
            }
        }
    }

    /// Skips a fill of the replay with the reason; its IFD children are not corrected either.
    fn skip_blocked(&mut self, fill: &ShadowFill, reason: String) {
        self.blocked.insert(fill.order);
        self.skip(Some(fill.order), None, fill.account, fill.time_ns, reason);
    }

    fn skip(
        &mut self,
        order: Option<OrderId>,
        position: Option<PositionId>,
        account: AccountId,
        time_ns: TimeNs,
        reason: String,
    ) {
        self.skipped.push(Skipped {
            order: order.map(|o| o.0),
            position: position.map(|p| p.0),
            account: account.0,
            time_ns,
            reason,
        });
    }

    fn currency(&self, account: AccountId) -> String {
        self.facts
            .account(account)
            .map_or_else(String::new, |a| a.0.code().to_owned())
    }

    fn fill(&mut self, fill: &ShadowFill, below_minimum: Option<&str>, uncertain: bool) {
        let policy = self.policy;
        let order = fill.order;
        if let Some(reason) = below_minimum {
            return self.skip_blocked(fill, reason.to_owned());
        }
        if let Some(parent) = fill.parent.filter(|p| self.blocked.contains(p)) {
            return self.skip_blocked(fill, format!("its IFD parent {parent} is not corrected"));
        }
        if uncertain && policy.uncertain_action == UncertainAction::Hold {
            return self.skip_blocked(
                fill,
                "uncertain (placed just before the outage): held for a person to decide".to_owned(),
            );
        }
        let proposed = proposed_price(policy, fill);
        let reopening = self.reopening[usize::from(fill.instrument.0)]
            .map(|(b, a)| side_price(fill.side, b, a));
        let (symbol, decimals) = self.symbol(fill.instrument);
        let mut correction = Correction {
            item: self.corrections.len() as u32,
            kind: CorrectionKind::Fill,
            mode: policy.correction.fill,
            account: fill.account.0,
            currency: self.currency(fill.account),
            order: Some(order.0),
            position: None,
            instrument: symbol,
            price_decimals: decimals,
            side: fill.side,
            qty: fill.qty,
            order_kind: kind_name(&fill.kind, fill.protects).to_owned(),
            order_level: fill.level,
            trigger_time_ns: fill.time_ns,
            trigger_time: rfc3339(fill.time_ns),
            trigger_bid: fill.bid,
            trigger_ask: fill.ask,
            market_price: fill.price,
            proposed_price: proposed,
            reopening_price: reopening,
            live_price: None,
            difference_minor: 0,
            uncertain,
            commands: Vec::new(),
            note: String::new(),
            evidence: None,
        };
        let working = self.live_order(order);
        if let Some(why) = working
            .then(|| self.changed_after_reopening(fill))
            .flatten()
        {
            return self.skip_blocked(fill, format!("{why}: the customer acted on it since, so a correction priced on the order as it was would move the wrong amount; not corrected, a person decides"));
        }
        if working {
            if let Some(r) = reopening {
                correction.difference_minor = self.money(
                    fill.account,
                    fill.instrument,
                    fill.qty,
                    gain_ticks(fill.side, proposed, r),
                );
            }
            match (correction.mode, reopening) {
                (CorrectionMode::Cash, Some(r)) => {
                    let id = self.correction_id();
                    correction.commands.push(CommandKind::BackfillFill {
                        correction: id,
                        order,
                        price: r,
                        at_ns: fill.time_ns,
                    });
                    if correction.difference_minor != 0 {
                        let id = self.correction_id();
                        correction.commands.push(CommandKind::CashAdjustment {
                            correction: id,
                            account: fill.account,
                            amount_minor: correction.difference_minor,
                            reason: format!("outage backfill plan {}: order {} filled at the reopening price, difference paid in cash", self.plan_id, order),
                        });
                    }
                }
                (mode, _) => {
                    if mode == CorrectionMode::Cash {
                        correction.mode = CorrectionMode::Rewrite;
                        correction.note = "no reopening price known: the fill is rewritten instead of settled in cash".to_owned();
                    }
                    let id = self.correction_id();
                    correction.commands.push(CommandKind::BackfillFill {
                        correction: id,
                        order,
                        price: proposed,
                        at_ns: fill.time_ns,
                    });
                }
            }
        } else if let Some(live) = self.after.fills.get(&order) {
            if live.qty != fill.qty {
                return self.skip_blocked(fill, format!("filled after reopening for {}, not the {} the window fills (amended, or its position partly closed, since): a re-price of either would move the wrong amount; not corrected, a person decides", live.qty, fill.qty));
            }
            let live_price = live.price;
            let diff_ticks = gain_ticks(fill.side, proposed, live_price);
            correction.kind = CorrectionKind::Reprice;
            correction.mode = policy.correction.reprice;
            correction.live_price = Some(live_price);
            correction.difference_minor =
                self.money(fill.account, fill.instrument, fill.qty, diff_ticks);
            correction.note = format!(
                "filled after reopening at {} on {}",
                live_price,
                rfc3339(live.time_ns)
            );
            if correction.difference_minor == 0 || live_price == proposed {
                return self.skip(
                    Some(order),
                    None,
                    fill.account,
                    fill.time_ns,
                    "filled after reopening at the backfilled price: nothing to correct".to_owned(),
                );
            }
            let rewrite = match correction.mode {
                CorrectionMode::Rewrite => self
                    .late_fill_target(fill.qty, live)
                    .map(|(position, booked)| (position, booked, fill.qty)),
                CorrectionMode::Cash => Err(String::new()),
            };
            self.reprice_commands(
                &mut correction,
                fill.instrument,
                rewrite,
                format!("order {order}"),
            );
        } else {
            return self.skip_blocked(
                fill,
                "no longer working after reopening (cancelled or expired by then): not corrected"
                    .to_owned(),
            );
        }
        self.corrections.push(correction);
    }

    fn loss_cut_close(
        &mut self,
        account: AccountId,
        close: &ShadowClose,
        time_ns: TimeNs,
        bid: Price,
        ask: Price,
        below_minimum: Option<&str>,
    ) {
        let policy = self.policy;
        let position = close.position;
        if let Some(reason) = below_minimum {
            return self.skip(None, Some(position), account, time_ns, reason.to_owned());
        }
        if close.opened_in_window {
            return self.skip(None, Some(position), account, time_ns, "the position was opened by a backfilled fill inside the window: its loss-cut is left to the engine at reopening".to_owned());
        }
        let closing = close.side.opposite();
        let reopening =
            self.reopening[usize::from(close.instrument.0)].map(|(b, a)| side_price(closing, b, a));
        let (symbol, decimals) = self.symbol(close.instrument);
        let mut correction = Correction {
            item: self.corrections.len() as u32,
            kind: CorrectionKind::LossCut,
            mode: policy.correction.loss_cut,
            account: account.0,
            currency: self.currency(account),
            order: None,
            position: Some(position.0),
            instrument: symbol,
            price_decimals: decimals,
            side: closing,
            qty: close.qty,
            order_kind: "loss_cut".to_owned(),
            order_level: None,
            trigger_time_ns: time_ns,
            trigger_time: rfc3339(time_ns),
            trigger_bid: bid,
            trigger_ask: ask,
            market_price: close.price,
            proposed_price: close.price,
            reopening_price: reopening,
            live_price: None,
            difference_minor: 0,
            uncertain: false,
            commands: Vec::new(),
            note: String::new(),
            evidence: None,
        };
        let live_qty = self
            .live
            .and_then(|live| live.position(position))
            .map(|p| p.qty);
        if live_qty.is_some_and(|qty| qty != close.qty) {
            return self.skip(
                None,
                Some(position),
                account,
                time_ns,
                format!(
                    "position {position} was partly closed after reopening ({} of {} left): a back-dated loss-cut of the whole position would move the wrong amount; not corrected, a person decides",
                    live_qty.unwrap_or(0),
                    close.qty
                ),
            );
        }
        if self.live_position(position) {
            if let Some(r) = reopening {
                correction.difference_minor = self.money(
                    account,
                    close.instrument,
                    close.qty,
                    gain_ticks(closing, close.price, r),
                );
            }
            match (correction.mode, reopening) {
                (CorrectionMode::Cash, Some(r)) => {
                    let id = self.correction_id();
                    correction.commands.push(CommandKind::BackfillClose {
                        correction: id,
                        position,
                        price: r,
                        at_ns: time_ns,
                    });
                    if correction.difference_minor != 0 {
                        let id = self.correction_id();
                        correction.commands.push(CommandKind::CashAdjustment {
                            correction: id,
                            account,
                            amount_minor: correction.difference_minor,
                            reason: format!("outage backfill plan {}: loss-cut of position {} at the reopening price, difference in cash", self.plan_id, position),
                        });
                    }
                }
                _ => {
                    correction.mode = CorrectionMode::Rewrite;
                    let id = self.correction_id();
                    correction.commands.push(CommandKind::BackfillClose {
                        correction: id,
                        position,
                        price: close.price,
                        at_ns: time_ns,
                    });
                }
            }
        } else if let Some(&live) = self.after.closes.get(&position) {
            if live.qty != close.qty {
                return self.skip(
                    None,
                    Some(position),
                    account,
                    time_ns,
                    format!("position {position} was closed in parts after reopening (the last close was for {} of {}): a re-price of the whole would move the wrong amount; not corrected, a person decides", live.qty, close.qty),
                );
            }
            let live_price = live.price;
            correction.kind = CorrectionKind::Reprice;
            correction.mode = policy.correction.reprice;
            correction.live_price = Some(live_price);
            correction.difference_minor = self.money(
                account,
                close.instrument,
                close.qty,
                gain_ticks(closing, close.price, live_price),
            );
            correction.note = format!(
                "closed after reopening at {} on {}",
                live_price,
                rfc3339(live.time_ns)
            );
            if correction.difference_minor == 0 || live_price == close.price {
                return self.skip(
                    None,
                    Some(position),
                    account,
                    time_ns,
                    "closed after reopening at the back-dated price: nothing to correct".to_owned(),
                );
            }
            // The close after reopening is the execution re-priced: its P&L is booked.
            let rewrite = match correction.mode {
                CorrectionMode::Rewrite => Ok((position, true, close.qty)),
                CorrectionMode::Cash => Err(String::new()),
            };
            self.reprice_commands(
                &mut correction,
                close.instrument,
                rewrite,
                format!("loss-cut of position {position}"),
            );
        } else {
            return self.skip(
                None,
                Some(position),
                account,
                time_ns,
                "the position is gone (closed after reopening at an unknown price)".to_owned(),
            );
        }
        self.corrections.push(correction);
    }
}

/// What the off-market corrections must not touch again.
struct BadTickContext<'c> {
    filled_in_window: &'c BTreeSet<OrderId>,
    /// Orders the replay expires or cancels inside the window (a rollover the live engine
    /// missed, a margin cancel, with their OCO peers and waiting children): gone by reopening.
    ended_in_window: &'c BTreeSet<OrderId>,
    /// Positions the replay closes inside the window (its corrections cover them).
    replay_closed: &'c BTreeSet<PositionId>,
    /// Positions opened by a fill on an off-market quote.
    bad_opened: &'c BTreeSet<PositionId>,
}

impl BadTickContext<'_> {
    /// What putting back this closed position restores: the position with its closing orders
    /// as they were just before the off-market quote, but for the orders that would be gone by
    /// reopening or by planning: those the replay ends inside the window, and the day/week
    /// orders a rollover journaled after the quote ended (with the OCO peer the engine
    /// expires along with one). The take-profit / stop-loss slot of one left out is emptied
    /// and an OCO peer of one comes back unlinked. Also returns what that leaves out, in words
    /// for the note (empty: nothing). `None`: a partial close.
    fn restore_of(
        &self,
        close: &BadTickClose,
    ) -> Option<(RestoredPosition, Vec<RestoredOrder>, String)> {
        let (mut position, mut orders) = close.restore.clone()?;
        let linked: Vec<OrderId> = orders
            .iter()
            .filter(|o| o.oco_peer.is_some())
            .map(|o| o.id)
            .collect();
        let ended = position.leave_out(&mut orders, |id| self.ended_in_window.contains(&id));
        let mut lapsed: BTreeSet<OrderId> = BTreeSet::new();
        let mut lapsed_at: Vec<String> = Vec::new();
        for order in &orders {
            if let Some(rollover) =
                JournaledRollover::ending(&close.rollovers_after, order.time_in_force)
            {
                lapsed.insert(order.id);
                lapsed.extend(order.oco_peer);
                let at = rfc3339(rollover.time_ns);
                if !lapsed_at.contains(&at) {
                    lapsed_at.push(at);
                }
            }
        }
        let lapsed = position.leave_out(&mut orders, |id| lapsed.contains(&id));
        debug_assert!(orders.iter().all(|o| {
            JournaledRollover::ending(&close.rollovers_after, o.time_in_force).is_none()
        }));
        let unlinked: Vec<String> = orders
            .iter()
            .filter(|o| o.oco_peer.is_none() && linked.contains(&o.id))
            .map(|o| o.id.to_string())
            .collect();
        let text = |ids: &[OrderId]| {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            ids.join(", ")
        };
        let mut what = String::new();
        if !ended.is_empty() {
            what = format!(
                "; position {}'s order(s) {} are not put back (the replay expires or cancels them inside the window: a day/week order at a rollover the live engine missed, or what was tied to an order that ended, so they would be gone by reopening)",
                close.position,
                text(&ended)
            );
        }
        if !lapsed.is_empty() {
            what.push_str(&format!(
                "; position {}'s order(s) {} are not put back (a day/week order the rollover journaled after the quote at {} ended, or its OCO peer the engine expires along with it: the live engine would have expired them there)",
                close.position,
                text(&lapsed),
                lapsed_at.join(", ")
            ));
        }
        if !what.is_empty() && !unlinked.is_empty() {
            what.push_str(&format!(
                "; order(s) {} come back without their OCO peer",
                unlinked.join(", ")
            ));
        }
        Some((position, orders, what))
    }
}

impl Builder<'_> {
    /// Why a position closed on an off-market quote cannot be put back now, if it cannot.
    fn unrestorable(&self, close: &BadTickClose, context: &BadTickContext<'_>) -> Option<String> {
        let (Some((position, orders)), Some((_, restored, _))) =
            (&close.restore, context.restore_of(close))
        else {
            return Some(format!(
                "only part of position {} was closed ({} left)",
                close.position, close.qty_remaining
            ));
        };
        if context.bad_opened.contains(&close.position) {
            return Some(format!(
                "position {} was opened on an off-market quote too",
                close.position
            ));
        }
        let live = self.live?;
        if live.position(close.position).is_some()
            || orders.iter().any(|o| live.order(o.id).is_some())
        {
            return Some(format!(
                "position {} or its orders work again",
                close.position
            ));
        }
        let account = live.account(close.account)?;
        if account.mode == PositionMode::Netting
            && live
                .positions_of(close.account)
                .iter()
                .any(|p| p.instrument == position.instrument && p.side != position.side)
        {
            return Some(format!(
                "the netting account holds the other side of {} now",
                self.symbol(position.instrument).0
            ));
        }
        let (positions_back, orders_back) = self.put_back_to(close.account);
        if account.positions.len() + positions_back
            >= fxdesk_engine::limits::POSITIONS_PER_ACCOUNT_MAX
            || account.orders.len() + orders_back + restored.len()
                > fxdesk_engine::limits::ORDERS_PER_ACCOUNT_MAX
        {
            return Some("the account is at its position or order limit".to_owned());
        }
        None
    }

    /// The positions and orders this plan's earlier corrections put back into `account`.
    fn put_back_to(&self, account: AccountId) -> (usize, usize) {
        self.put_back.get(&account).copied().unwrap_or_default()
    }

    /// True when the replay's corrections already cover this position.
    fn corrected_by_replay(close: &BadTickClose, context: &BadTickContext<'_>) -> bool {
        context.replay_closed.contains(&close.position)
            || close.restore.as_ref().is_some_and(|(_, orders)| {
                orders
                    .iter()
                    .any(|o| context.filled_in_window.contains(&o.id))
            })
    }

    /// The command that puts back the order whose off-market fill opened a position (with
    /// its OCO peer or its IFD/IFO children, linked as before) and what it puts back in words,
    /// or why not. Only for a fill that opened a position and closed none (a fill that also
    /// closed positions netted them: putting the order back whole would open more than it did).
    /// `opened`: that position, which the correction closes first (removing the children the
    /// fill made its closing orders).
    fn reopen_command(
        &mut self,
        bad: &BadTickFill,
        opened: PositionId,
        context: &BadTickContext<'_>,
    ) -> Result<(CommandKind, String), String> {
        if !bad.closes.is_empty() {
            return Err("the fill did not only open a position".to_owned());
        }
        let Some(group) = bad.reopen.clone() else {
            return Err(
                "it was not a resting order that only opens positions (a market order, a closing order, or linked to one)"
                    .to_owned(),
            );
        };
        let id_of = |o: &RestoredLinkedOrder| o.order.order.id;
        if let Some(o) = group
            .iter()
            .find(|o| context.filled_in_window.contains(&id_of(o)))
        {
            return Err(format!(
                "the replay fills order {} inside the window",
                id_of(o)
            ));
        }
        if let Some(o) = group
            .iter()
            .find(|o| context.ended_in_window.contains(&id_of(o)))
        {
            return Err(format!(
                "the replay expires or cancels order {} inside the window",
                id_of(o)
            ));
        }
        if let Some((o, rollover)) = group.iter().find_map(|o| {
            JournaledRollover::ending(&bad.rollovers_after, o.order.order.time_in_force)
                .map(|r| (o, r))
        }) {
            return Err(format!(
                "order {} is a day/week order the rollover journaled after the quote at {} ended: the live engine would have expired it there",
                id_of(o),
                rfc3339(rollover.time_ns)
            ));
        }
        let mut children_working = 0;
        if let Some(live) = self.live {
            for o in &group {
                let id = id_of(o);
                let now = live.order(id);
                if o.parent.is_none() {
                    if now.is_some() {
                        return Err(format!("order {id} works again already"));
                    }
                    continue;
                }
                // A child the fill activated works as a closing order of the opened position,
                // which the correction closes first; anything else changed after reopening.
                let was = &o.order.order;
                match now {
                    None => {
                        return Err(format!(
                        "its child order {id} ended after reopening (cancelled, filled or expired)"
                    ))
                    }
                    Some(n) if n.close_position != Some(opened) => {
                        return Err(format!(
                        "its child order {id} works on its own since the fill (it opens positions)"
                    ))
                    }
                    Some(n)
                        if (n.qty, n.kind, n.time_in_force)
                            != (was.qty, was.kind, was.time_in_force) =>
                    {
                        return Err(format!("its child order {id} was amended after reopening"))
                    }
                    Some(_) => children_working += 1,
                }
            }
            let orders_after = live
                .account(bad.account)
                .map_or(0, |a| a.orders.len())
                .saturating_sub(children_working)
                + self.put_back_to(bad.account).1
                + group.len();
            if orders_after > fxdesk_engine::limits::ORDERS_PER_ACCOUNT_MAX {
                return Err("the account is at its order limit".to_owned());
            }
        }
        let ids = |pick: &dyn Fn(&RestoredLinkedOrder) -> bool| {
            let ids: Vec<String> = group
                .iter()
                .skip(1)
                .filter(|o| pick(o))
                .map(|o| id_of(o).to_string())
                .collect();
            ids.join(", ")
        };
        let peers = ids(&|o| o.parent.is_none());
        let children = ids(&|o| o.parent.is_some());
        let mut what = format!(
            "order {} waits at its level again (same id, kind, price, quantity, time in force)",
            bad.order
        );
        if !peers.is_empty() {
            what.push_str(&format!(
                " with its OCO peer {peers}, which the fill cancelled (linked again, as it was)"
            ));
        }
        if !children.is_empty() {
            what.push_str(&format!(
                " with its child order(s) {children} waiting for it again, inactive and linked as they were"
            ));
        }
        self.put_back.entry(bad.account).or_default().1 +=
            group.len().saturating_sub(children_working);
        let correction = self.correction_id();
        let command = match group.as_slice() {
            [lone] if lone.parent.is_none() && lone.children.is_empty() => {
                CommandKind::BackfillRestoreOrder {
                    correction,
                    order: lone.order.clone(),
                }
            }
            _ => CommandKind::BackfillRestoreOrders {
                correction,
                orders: group,
            },
        };
        Ok((command, what))
    }

    /// The command that puts back a position closed on an off-market quote (see
    /// [`BadTickContext::restore_of`]) and, in words, the orders it leaves out.
    fn restore_command(
        &mut self,
        close: &BadTickClose,
        context: &BadTickContext<'_>,
    ) -> Option<(CommandKind, String)> {
        let (position, orders, left_out) = context.restore_of(close)?;
        let added = self.put_back.entry(close.account).or_default();
        added.0 += 1;
        added.1 += orders.len();
        let correction = self.correction_id();
        Some((
            CommandKind::BackfillRestore {
                correction,
                position,
                orders,
            },
            left_out,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn push_bad_tick(
        &mut self,
        mode: CorrectionMode,
        account: AccountId,
        order: Option<OrderId>,
        position: Option<PositionId>,
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        order_kind: &str,
        (time_ns, price, good_price): (TimeNs, Price, Price),
        difference_minor: i64,
        commands: Vec<CommandKind>,
        note: String,
        evidence: &OffMarketEvidence,
    ) {
        let (symbol, decimals) = self.symbol(instrument);
        let item = self.corrections.len() as u32;
        self.corrections.push(Correction {
            item,
            kind: CorrectionKind::BadTick,
            mode,
            account: account.0,
            currency: self.currency(account),
            order: order.map(|o| o.0),
            position: position.map(|p| p.0),
            instrument: symbol,
            price_decimals: decimals,
            side,
            qty,
            order_kind: order_kind.to_owned(),
            order_level: None,
            trigger_time_ns: time_ns,
            trigger_time: rfc3339(time_ns),
            trigger_bid: 0,
            trigger_ask: 0,
            market_price: price,
            proposed_price: good_price,
            reopening_price: None,
            live_price: Some(price),
            difference_minor,
            uncertain: false,
            commands,
            note,
            evidence: Some(evidence.clone()),
        });
    }

    /// The cash rule: the difference to the last good price, only in the customer's favour.
    #[allow(clippy::too_many_arguments)]
    fn bad_tick_cash(
        &mut self,
        account: AccountId,
        order: Option<OrderId>,
        position: Option<PositionId>,
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        order_kind: &str,
        (time_ns, price, good_price, evidence): (TimeNs, Price, Price, &OffMarketEvidence),
        why_not_rewritten: Option<String>,
    ) {
        let jump_ticks = evidence.jump_ticks();
        let what = match (order, position) {
            (Some(order), _) => format!("order {order} filled"),
            (None, Some(position)) => format!("position {position} cut"),
            (None, None) => "executed".to_owned(),
        };
        let ticks = gain_ticks(side, good_price, price);
        let amount = self.money(account, instrument, qty, ticks);
        let not_rewritten = why_not_rewritten
            .as_deref()
            .map_or_else(String::new, |why| format!(" (not rewritten: {why})"));
        if amount <= 0 {
            let reason = if price == good_price {
                format!("{what} at a good price on an off-market quote ({jump_ticks} ticks off): no difference to pay{not_rewritten}")
            } else {
                format!("{what} on an off-market quote ({jump_ticks} ticks off) in the customer's favour: not charged back{not_rewritten}")
            };
            return self.skip(order, position, account, time_ns, reason);
        }
        let correction = self.correction_id();
        let plan_id = self.plan_id;
        self.push_bad_tick(
            CorrectionMode::Cash,
            account,
            order,
            position,
            instrument,
            side,
            qty,
            order_kind,
            (time_ns, price, good_price),
            amount,
            vec![CommandKind::CashAdjustment {
                correction,
                account,
                amount_minor: amount,
                reason: format!("outage backfill plan {plan_id}: {what} on an off-market quote, paid back to the last good price"),
            }],
            format!("{}{not_rewritten}", evidence.describe()),
            evidence,
        );
    }

    /// A fill on an off-market quote: reversed (policy "rewrite": the position it opened is
    /// closed at its own entry price, the positions it closed are put back), else paid in cash.
    fn bad_tick_fill(&mut self, bad: &BadTickFill, context: &BadTickContext<'_>) {
        let facts = (bad.time_ns, bad.price, bad.good_price, &bad.evidence);
        let mut why_not = None;
        if self.policy.correction.bad_tick == CorrectionMode::Rewrite {
            let mut problems: Vec<String> = Vec::new();
            if let Some(close) = bad
                .closes
                .iter()
                .find(|c| Self::corrected_by_replay(c, context))
            {
                problems.push(format!(
                    "the replay corrects position {} already",
                    close.position
                ));
            }
            problems.extend(
                bad.closes
                    .iter()
                    .filter_map(|c| self.unrestorable(c, context)),
            );
            if let Some((opened, qty)) = bad.opened {
                let as_opened = self.live.and_then(|l| l.position(opened)).is_some_and(|p| {
                    p.qty == qty && p.open_price == bad.price && p.account == bad.account
                });
                if !as_opened {
                    problems.push(format!(
                        "position {opened} it opened is closed or changed since"
                    ));
                }
            }
            if bad.opened.is_none() && bad.closes.is_empty() {
                problems.push("it neither opened nor closed a position".to_owned());
            }
            if problems.is_empty() {
                let mut commands = Vec::new();
                // The opened position goes first: a netting account cannot hold both sides.
                if let Some((opened, _)) = bad.opened {
                    let correction = self.correction_id();
                    commands.push(CommandKind::BackfillClose {
                        correction,
                        position: opened,
                        price: bad.price,
                        at_ns: bad.time_ns,
                    });
                }
                // The order that opened it waits again (with its OCO peer or its children).
                let reopen_note = bad.opened.map(|(opened, _)| {
                    self.reopen_command(bad, opened, context)
                        .map(|(command, what)| {
                            commands.push(command);
                            what
                        })
                });
                let mut difference = 0i64;
                let mut left_out = String::new();
                for close in &bad.closes {
                    if let Some((command, what)) = self.restore_command(close, context) {
                        commands.push(command);
                        left_out.push_str(&what);
                    }
                    difference = difference.saturating_sub(close.realised_pnl_minor);
                }
                let mut note = format!("{}; the fill is cancelled", bad.evidence.describe());
                if let Some((opened, _)) = bad.opened {
                    note.push_str(&format!(
                        ": position {opened} it opened is closed at its own entry price (no P&L)"
                    ));
                    match reopen_note {
                        Some(Ok(what)) => note.push_str(&format!("; {what}")),
                        Some(Err(why)) => {
                            note.push_str(&format!("; order {} is not put back ({why})", bad.order))
                        }
                        None => {}
                    }
                }
                if !bad.closes.is_empty() {
                    let ids: Vec<String> =
                        bad.closes.iter().map(|c| c.position.to_string()).collect();
                    note.push_str(&format!(
                        "; position(s) {} it closed are put back with their orders and the P&L booked on the close is taken back{left_out}",
                        ids.join(", ")
                    ));
                }
                return self.push_bad_tick(
                    CorrectionMode::Rewrite,
                    bad.account,
                    Some(bad.order),
                    None,
                    bad.instrument,
                    bad.side,
                    bad.qty,
                    "off_market_fill",
                    (bad.time_ns, bad.price, bad.good_price),
                    difference,
                    commands,
                    note,
                    &bad.evidence,
                );
            }
            why_not = Some(problems.join("; "));
        }
        self.bad_tick_cash(
            bad.account,
            Some(bad.order),
            None,
            bad.instrument,
            bad.side,
            bad.qty,
            "off_market_fill",
            facts,
            why_not,
        );
    }

    /// A loss-cut close on an off-market quote: the position is put back (policy "rewrite"),
    /// else the difference to the last good price is paid in cash.
    fn bad_tick_cut(&mut self, cut: &BadTickClose, context: &BadTickContext<'_>) {
        if Self::corrected_by_replay(cut, context) {
            return;
        }
        let side = cut.side.opposite();
        let facts = (cut.time_ns, cut.price, cut.good_price, &cut.evidence);
        let mut why_not = None;
        if self.policy.correction.bad_tick == CorrectionMode::Rewrite {
            match self.unrestorable(cut, context) {
                None => {
                    let (commands, left_out): (Vec<CommandKind>, String) = self
                        .restore_command(cut, context)
                        .map_or_else(Default::default, |(command, what)| (vec![command], what));
                    return self.push_bad_tick(
                        CorrectionMode::Rewrite,
                        cut.account,
                        None,
                        Some(cut.position),
                        cut.instrument,
                        side,
                        cut.qty,
                        "off_market_loss_cut",
                        (cut.time_ns, cut.price, cut.good_price),
                        cut.realised_pnl_minor.saturating_neg(),
                        commands,
                        format!(
                            "a loss-cut on an off-market quote ({}): the position is put back with its orders and the P&L booked on the cut is taken back{left_out}",
                            cut.evidence.describe()
                        ),
                        &cut.evidence,
                    );
                }
                Some(why) => why_not = Some(why),
            }
        }
        if let Some(conversion) = cut.conversion {
            return self.bad_conversion_cash(cut, conversion, why_not);
        }
        self.bad_tick_cash(
            cut.account,
            None,
            Some(cut.position),
            cut.instrument,
            side,
            cut.qty,
            "off_market_loss_cut",
            facts,
            why_not,
        );
    }

    /// The cash rule for a loss-cut at a good price whose P&L was converted at an off-market
    /// quote of a conversion instrument: the same close converted at the last good quotes,
    /// less what the close booked, only in the customer's favour.
    fn bad_conversion_cash(
        &mut self,
        cut: &BadTickClose,
        conversion: OffMarketConversion,
        why_not_rewritten: Option<String>,
    ) {
        let (quoted, _) = self.symbol(conversion.instrument);
        let currency = self.facts.account(cut.account).map(|a| a.0);
        let text = |minor: i64| match currency {
            Some(c) => format!("{} {c}", minor_text(minor, c)),
            None => minor.to_string(),
        };
        let (booked, good) = (cut.realised_pnl_minor, conversion.good_pnl_minor);
        let amount = good.saturating_sub(booked);
        let not_rewritten = why_not_rewritten
            .as_deref()
            .map_or_else(String::new, |why| format!(" (not rewritten: {why})"));
        let what = format!(
            "position {} cut at a good price, its P&L converted at an off-market {quoted} quote",
            cut.position
        );
        let at_price = if cut.price == cut.good_price {
            String::new()
        } else {
            format!(
                " and the last good price {}",
                fxdesk_market::format_ticks(cut.good_price, self.symbol(cut.instrument).1)
            )
        };
        let figures = format!(
            "the close booked {}, at the last good {quoted} rate{at_price} it is {}",
            text(booked),
            text(good)
        );
        if amount <= 0 {
            let reason = if amount == 0 {
                format!("{what} ({figures}): no difference to pay{not_rewritten}")
            } else {
                format!(
                    "{what} in the customer's favour ({figures}): not charged back{not_rewritten}"
                )
            };
            return self.skip(None, Some(cut.position), cut.account, cut.time_ns, reason);
        }
        let correction = self.correction_id();
        let plan_id = self.plan_id;
        self.push_bad_tick(
            CorrectionMode::Cash,
            cut.account,
            None,
            Some(cut.position),
            cut.instrument,
            cut.side.opposite(),
            cut.qty,
            "off_market_loss_cut",
            (cut.time_ns, cut.price, cut.good_price),
            amount,
            vec![CommandKind::CashAdjustment {
                correction,
                account: cut.account,
                amount_minor: amount,
                reason: format!(
                    "outage backfill plan {plan_id}: {what}, paid back to the last good rate"
                ),
            }],
            format!(
                "{what}: {}; {figures}: the difference is paid{not_rewritten}",
                cut.evidence.describe()
            ),
            &cut.evidence,
        );
    }
}

/// Thins a path to at most [`PATH_POINTS_MAX`] points, keeping each bucket's lowest bid and
/// highest ask (so gaps and spikes stay visible).
fn thin(points: Vec<(TimeNs, Price, Price)>) -> Vec<(TimeNs, Price, Price)> {
    if points.len() <= PATH_POINTS_MAX {
        return points;
    }
    let per_bucket = points.len().div_ceil(PATH_POINTS_MAX / 3);
    let mut out = Vec::with_capacity(PATH_POINTS_MAX);
    for bucket in points.chunks(per_bucket) {
        let first = bucket[0];
        let low = bucket.iter().copied().min_by_key(|p| p.1).unwrap_or(first);
        let high = bucket.iter().copied().max_by_key(|p| p.2).unwrap_or(first);
        let mut three = [first, low, high];
        three.sort_unstable();
        for p in three {
            if out.last() != Some(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Builds the plan (everything but the approvals).
pub fn build_plan(input: PlanInput<'_>) -> Result<Plan, BackfillError> {
    let policy = input.policy;
    policy.validate()?;
    if input.to_ns <= input.from_ns {
        return Err(BackfillError::Input(
            "the window must end after it starts".to_owned(),
        ));
    }
    let policy_json = policy.canonical_json();
    let policy_sha256 = sha256_hex(policy_json.as_bytes());
    let hashed = serde_json::json!({
        "journal": &input.journal,
        "ticks": input.ticks.sources.iter().map(|s| &s.sha256).collect::<Vec<_>>(),
        "window": [input.from_ns, input.to_ns],
        "policy": policy_sha256,
        "guard_flags": input.guard_flags.as_ref().map(|g| (&g.path, &g.sha256)),
    });
    let input_sha256 = sha256_hex(hashed.to_string().as_bytes());
    let plan_id = u64::from_str_radix(&input_sha256[..16], 16).unwrap_or(0) & ((1u64 << 53) - 1);

    let rollovers = if policy.rollover_in_window {
        rollovers_between(input.from_ns, input.to_ns - 1)
    } else {
        Vec::new()
    };
    // What the plan needs of the state before the outage, taken before the replay consumes it.
    let index = PreIndex::of(&input.pre);
    let facts = PreFacts::of(&input.pre);
    let found = shadow::replay(ShadowInput {
        pre: input.pre,
        index: &index,
        ticks: &input.ticks.ticks,
        rollovers: &rollovers,
        loss_cuts_in_window: policy.loss_cuts == LossCuts::BackDated,
    });

    let market_ns = market_open_ns(input.from_ns, input.to_ns);
    let market_minutes = market_ns / 60_000_000_000;
    let below = market_ns < policy.minimum_outage_minutes * 60_000_000_000;
    let below_reason = below.then(|| {
        format!(
            "the outage lasted {market_minutes} market minutes, less than the policy's minimum of {}: no corrections",
            policy.minimum_outage_minutes
        )
    });

    // Reopening prices: journal first, then the tick sources, then the window's last tick.
    let instruments: Vec<(InstrumentId, String)> = facts
        .instruments
        .iter()
        .map(|(id, s)| (*id, s.symbol.clone()))
        .collect();
    let mut reopening = Vec::new();
    let mut reopening_quotes = Vec::new();
    for (id, symbol) in &instruments {
        let i = usize::from(id.0);
        let found_quote = input
            .after
            .reopening
            .get(i)
            .copied()
            .flatten()
            .map(|q| (q, "journal"))
            .or_else(|| {
                input
                    .ticks
                    .after
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|t| ((t.bid, t.ask, t.time_ns), "ticks"))
            })
            .or_else(|| {
                input
                    .ticks
                    .ticks
                    .iter()
                    .rev()
                    .find(|t| t.instrument == *id)
                    .map(|t| ((t.bid, t.ask, t.time_ns), "last_window_tick"))
            });
        reopening.push(found_quote.map(|((b, a, _), _)| (b, a)));
        if let Some(((bid, ask, time_ns), source)) = found_quote {
            reopening_quotes.push(ReopeningQuote {
                instrument: symbol.clone(),
                bid,
                ask,
                time_ns,
                source: source.to_owned(),
            });
        }
    }

    // Uncertain orders: placed within the policy's window before the outage.
    let uncertain_from = input.from_ns - policy.uncertain_window_ms * 1_000_000;
    let filled_in_window: BTreeSet<OrderId> = found.fills.iter().map(|f| f.order).collect();
    let mut uncertain_orders = Vec::new();
    let mut uncertain_ids = BTreeSet::new();
    for order in index
        .orders()
        .iter()
        .filter(|o| o.placed_ns >= uncertain_from)
    {
        uncertain_ids.insert(order.id);
        uncertain_orders.push(UncertainOrder {
            order: order.id.0,
            account: order.account.0,
            placed_ns: order.placed_ns,
            placed: rfc3339(order.placed_ns),
            ms_before_outage: (input.from_ns - order.placed_ns) / 1_000_000,
            fills_in_window: filled_in_window.contains(&order.id),
        });
    }

    let mut builder = Builder {
        policy,
        after: input.after,
        index: &index,
        facts: &facts,
        live: input.live,
        rates: input.live.unwrap_or(&found.end),
        plan_id,
        next_command: 0,
        corrections: Vec::new(),
        skipped: Vec::new(),
        blocked: BTreeSet::new(),
        reopening,
        put_back: BTreeMap::new(),
    };
    // Everything the replay found, in the order it happened.
    enum Found<'f> {
        Fill(&'f ShadowFill),
        LossCut(&'f shadow::ShadowLossCut),
        Expiry(&'f shadow::ShadowExpiry),
        Cancel(&'f shadow::ShadowCancel),
    }
    let mut all: Vec<(u64, Found<'_>)> = Vec::new();
    all.extend(found.fills.iter().map(|f| (f.seq, Found::Fill(f))));
    all.extend(found.loss_cuts.iter().map(|l| (l.seq, Found::LossCut(l))));
    all.extend(found.expired.iter().map(|e| (e.seq, Found::Expiry(e))));
    all.extend(
        found
            .cancelled
            .iter()
            .filter(|c| c.reason == fxdesk_engine::CancelReason::InsufficientMargin)
            .map(|c| (c.seq, Found::Cancel(c))),
    );
    all.sort_by_key(|(seq, _)| *seq);
    let mut cancelled_by_plan: BTreeSet<OrderId> = BTreeSet::new();
    for (_, item) in all {
        match item {
            Found::Fill(fill) => {
                let uncertain = uncertain_ids.contains(&fill.order)
                    || fill.parent.is_some_and(|p| uncertain_ids.contains(&p));
                builder.fill(fill, below_reason.as_deref(), uncertain);
            }
            Found::LossCut(cut) => {
                let (bid, ask) = input
                    .ticks
                    .ticks
                    .get(cut.tick)
                    .map_or((0, 0), |t| (t.bid, t.ask));
                for close in &cut.closes {
                    builder.loss_cut_close(
                        cut.account,
                        close,
                        cut.time_ns,
                        bid,
                        ask,
                        below_reason.as_deref(),
                    );
                }
            }
            Found::Cancel(cancel) => {
                let Some(order) = index.order(cancel.order) else {
                    continue;
                };
                if !builder.live_order(cancel.order)
                    || below_reason.is_some()
                    || !cancelled_by_plan.insert(cancel.order)
                {
                    continue;
                }
                // Cancelling it takes its OCO peer and waiting children along.
                cancelled_by_plan.extend(order.oco_peer);
                cancelled_by_plan.extend(order.children.iter().flatten().copied());
                let (symbol, decimals) = builder.symbol(order.instrument);
                let item = builder.corrections.len() as u32;
                builder.corrections.push(Correction {
                    item,
                    kind: CorrectionKind::Cancel,
                    mode: CorrectionMode::Rewrite,
                    account: order.account.0,
                    currency: builder.currency(order.account),
                    order: Some(cancel.order.0),
                    position: None,
                    instrument: symbol,
                    price_decimals: decimals,
                    side: order.side,
                    qty: order.qty,
                    order_kind: "margin_cancel".to_owned(),
                    order_level: None,
                    trigger_time_ns: cancel.time_ns,
                    trigger_time: rfc3339(cancel.time_ns),
                    trigger_bid: 0,
                    trigger_ask: 0,
                    market_price: 0,
                    proposed_price: 0,
                    reopening_price: None,
                    live_price: None,
                    difference_minor: 0,
                    uncertain: false,
                    commands: vec![CommandKind::CancelOrder { account: order.account, order: cancel.order }],
                    note: "triggered inside the window when the account's margin was not enough: the engine cancels such an order".to_owned(),
                    evidence: None,
                });
            }
            Found::Expiry(expiry) => {
                // GTD orders expire by time in the live engine too; only a missed rollover
                // leaves a day/week order working that should be gone.
                let Some(order) = index.order(expiry.order) else {
                    continue;
                };
                let missed = expiry.at_rollover
                    && matches!(order.time_in_force, TimeInForce::Day | TimeInForce::Week)
                    && builder.live_order(expiry.order);
                if !missed {
                    continue;
                }
                if let Some(reason) = below_reason.as_deref() {
                    builder.skip(
                        Some(expiry.order),
                        None,
                        expiry.account,
                        expiry.time_ns,
                        reason.to_owned(),
                    );
                    continue;
                }
                let (symbol, decimals) = builder.symbol(order.instrument);
                let item = builder.corrections.len() as u32;
                builder.corrections.push(Correction {
                    item,
                    kind: CorrectionKind::Expire,
                    mode: CorrectionMode::Rewrite,
                    account: expiry.account.0,
                    currency: builder.currency(expiry.account),
                    order: Some(expiry.order.0),
                    position: None,
                    instrument: symbol,
                    price_decimals: decimals,
                    side: order.side,
                    qty: order.qty,
                    order_kind: "expiry".to_owned(),
                    order_level: None,
                    trigger_time_ns: expiry.time_ns,
                    trigger_time: rfc3339(expiry.time_ns),
                    trigger_bid: 0,
                    trigger_ask: 0,
                    market_price: 0,
                    proposed_price: 0,
                    reopening_price: None,
                    live_price: None,
                    difference_minor: 0,
                    uncertain: false,
                    commands: vec![CommandKind::CancelOrder { account: expiry.account, order: expiry.order }],
                    note: "the rollover inside the window expires this order; the live engine missed that rollover".to_owned(),
                    evidence: None,
                });
            }
        }
    }
    // Fills and loss-cuts on off-market quotes after reopening (those the replay did not
    // already correct). Below the minimum outage the replay corrects nothing, so nothing it
    // found stands in the way of these corrections: an order it would have filled, a position
    // it would have cut, an order it would have ended are all as the live engine left them.
    let nothing_corrected = BTreeSet::new();
    let filled_in_window = if below {
        &nothing_corrected
    } else {
        &filled_in_window
    };
    let replay_closed: BTreeSet<PositionId> = found
        .loss_cuts
        .iter()
        .flat_map(|c| c.closes.iter().map(|close| close.position))
        .filter(|_| !below)
        .collect();
    let bad_opened: BTreeSet<PositionId> = input
        .after
        .bad_tick_fills
        .iter()
        .filter_map(|f| f.opened.map(|o| o.0))
        .collect();
    let ended_in_window: BTreeSet<OrderId> = found
        .expired
        .iter()
        .map(|e| e.order)
        .chain(found.cancelled.iter().map(|c| c.order))
        .filter(|_| !below)
        .collect();
    let context = BadTickContext {
        filled_in_window,
        ended_in_window: &ended_in_window,
        replay_closed: &replay_closed,
        bad_opened: &bad_opened,
    };
    for bad in &input.after.bad_tick_fills {
        if filled_in_window.contains(&bad.order) {
            continue;
        }
        builder.bad_tick_fill(bad, &context);
    }
    for cut in &input.after.bad_tick_cuts {
        builder.bad_tick_cut(cut, &context);
    }
    let Builder {
        corrections,
        skipped,
        ..
    } = builder;

    // Totals.
    let mut customers: BTreeMap<u64, CustomerTotal> = BTreeMap::new();
    let mut broker: BTreeMap<String, i64> = BTreeMap::new();
    for c in &corrections {
        let total = customers.entry(c.account).or_insert_with(|| CustomerTotal {
            account: c.account,
            currency: c.currency.clone(),
            corrections: 0,
            difference_minor: 0,
            cash_minor: 0,
        });
        total.corrections += 1;
        total.difference_minor = total.difference_minor.saturating_add(c.difference_minor);
        for command in &c.commands {
            if let CommandKind::CashAdjustment { amount_minor, .. } = command {
                total.cash_minor = total.cash_minor.saturating_add(*amount_minor);
            }
        }
        let cost = broker.entry(c.currency.clone()).or_insert(0);
        *cost = cost.saturating_add(c.difference_minor);
    }

    let loss_cuts_at_reopening = if policy.loss_cuts == LossCuts::AtReopening {
        let called: BTreeSet<AccountId> = found.margin_calls.iter().map(|(a, _, _)| *a).collect();
        called
            .into_iter()
            .filter_map(|account| {
                let group = facts
                    .account(account)
                    .and_then(|a| facts.groups.get(&a.1))?;
                let valuation = found.end.valuation(account)?;
                (valuation.positions > 0 && valuation.below(group.loss_cut_bp)).then(|| {
                    AccountRatio {
                        account: account.0,
                        ratio_bp: valuation.ratio_bp(),
                        loss_cut_bp: group.loss_cut_bp,
                    }
                })
            })
            .collect()
    } else {
        Vec::new()
    };

    let mut paths: BTreeMap<u16, Vec<(TimeNs, Price, Price)>> = BTreeMap::new();
    for tick in &input.ticks.ticks {
        paths
            .entry(tick.instrument.0)
            .or_default()
            .push((tick.time_ns, tick.bid, tick.ask));
    }
    let price_paths = paths
        .into_iter()
        .map(|(i, points)| {
            let spec = facts.instrument(InstrumentId(i));
            PricePath {
                instrument: spec.map_or_else(|| i.to_string(), |s| s.symbol.clone()),
                price_decimals: spec.map_or(0, |s| s.price_decimals),
                points: thin(points),
            }
        })
        .collect();

    let mut plan = Plan {
        format: PLAN_FORMAT,
        plan_id,
        plan_sha256: String::new(),
        window: Window {
            from_ns: input.from_ns,
            to_ns: input.to_ns,
            from: rfc3339(input.from_ns),
            to: rfc3339(input.to_ns),
            market_minutes,
            below_minimum: below,
            rollovers: rollovers.iter().map(|r| rfc3339(r.time_ns)).collect(),
            ticks_replayed: (input.ticks.ticks.len() - found.refused_ticks.len()) as u64,
        },
        inputs: Inputs {
            journal: input.journal.clone(),
            ticks: input.ticks.sources.clone(),
            policy_sha256,
            guard_flags: input.guard_flags.clone(),
            input_sha256,
        },
        policy: policy.clone(),
        corrections,
        customers: customers.into_values().collect(),
        broker_cost: broker
            .into_iter()
            .map(|(currency, amount_minor)| CurrencyAmount {
                currency,
                amount_minor,
            })
            .collect(),
        uncertain_orders,
        skipped,
        loss_cuts_at_reopening,
        margin_calls: found
            .margin_calls
            .iter()
            .map(|(a, t, r)| MarginCallNote {
                account: a.0,
                time_ns: *t,
                ratio_bp: *r,
            })
            .collect(),
        reopening: reopening_quotes,
        held_ticks: input.ticks.held.clone(),
        refused_ticks: found.refused_ticks.len() as u64,
        price_paths,
        lost_opportunities: LOST_OPPORTUNITIES.to_owned(),
        approvals: Vec::new(),
    };
    plan.plan_sha256 = content_sha256(&plan);
    // The replay's copy of the state can hold millions of records: free it off the caller's
    // path (the plan is ready; nothing waits for the memory).
    let end = found.end;
    let _ = std::thread::Builder::new()
        .name("backfill-free".to_owned())
        .spawn(move || drop(end));
    Ok(plan)
}

/// SHA-256 of the plan's content: everything but `plan_sha256` and `approvals`.
pub fn content_sha256(plan: &Plan) -> String {
    if plan.plan_sha256.is_empty() && plan.approvals.is_empty() {
        return bare_sha256(plan);
    }
    let mut bare = plan.clone();
    bare.plan_sha256 = String::new();
    bare.approvals = Vec::new();
    bare_sha256(&bare)
}

/// SHA-256 of the plan's JSON, streamed into the hasher (a plan can hold 100,000s of items).
fn bare_sha256(plan: &Plan) -> String {
    let mut hasher = Sha256::new();
    // Writing into a hasher cannot fail, and the plan's types always serialize.
    let _ = serde_json::to_writer(&mut hasher, plan);
    hex::encode(hasher.finalize())
}

/// Checks that the plan's content is what was hashed when it was made.
pub fn check_integrity(plan: &Plan) -> Result<(), BackfillError> {
    if plan.format != PLAN_FORMAT {
        return Err(BackfillError::Plan(format!(
            "format {} is not {PLAN_FORMAT}",
            plan.format
        )));
    }
    let actual = content_sha256(plan);
    if actual != plan.plan_sha256 {
        return Err(BackfillError::Plan(format!(
            "the plan was changed after it was made (content hash {actual}, recorded {})",
            plan.plan_sha256
        )));
    }
    Ok(())
}

/// Records an approval by `user`; the same user twice is refused.
pub fn approve(plan: &mut Plan, user: &str, at: String) -> Result<(), BackfillError> {
    check_integrity(plan)?;
    let valid = !user.is_empty() && user.len() <= 64 && user.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(BackfillError::Approval(format!(
            "{user:?} is not a user name (1 to 64 visible ASCII characters)"
        )));
    }
    if plan.approvals.iter().any(|a| a.user == user) {
        return Err(BackfillError::Approval(format!(
            "{user} already approved this plan; a second, different person must approve it"
        )));
    }
    plan.approvals.push(Approval {
        user: user.to_owned(),
        at,
        plan_sha256: plan.plan_sha256.clone(),
    });
    Ok(())
}

/// The distinct users whose approval is for this plan's content.
pub fn approvers(plan: &Plan) -> Vec<String> {
    let mut users: Vec<String> = plan
        .approvals
        .iter()
        .filter(|a| a.plan_sha256 == plan.plan_sha256)
        .map(|a| a.user.clone())
        .collect();
    users.sort();
    users.dedup();
    users
}

/// Approvals a plan needs before it may be applied.
pub const APPROVALS_NEEDED: usize = 2;

/// Largest plan file read (a plan for a million orders is a few hundred MB; beyond this is not
/// a plan anyone reviews by hand).
pub const PLAN_FILE_BYTES_MAX: u64 = 1 << 30;

/// Reads a plan file.
pub fn read_plan_file(path: &std::path::Path) -> Result<Plan, BackfillError> {
    let io = |source| BackfillError::Io {
        what: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > PLAN_FILE_BYTES_MAX {
        return Err(BackfillError::Plan(format!(
            "{} is larger than {PLAN_FILE_BYTES_MAX} bytes",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    serde_json::from_str(&text).map_err(|err| {
        BackfillError::Plan(format!("{} is not a backfill plan: {err}", path.display()))
    })
}

/// Writes a plan file atomically (temp file, fsync, rename), so an approval is never
/// half-written.
pub fn write_plan_file(path: &std::path::Path, plan: &Plan) -> Result<(), BackfillError> {
    use std::io::Write;
    let io = |source| BackfillError::Io {
        what: path.display().to_string(),
        source,
    };
    let text = serde_json::to_string_pretty(plan)
        .map_err(|err| BackfillError::Plan(format!("cannot encode the plan: {err}")))?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}
