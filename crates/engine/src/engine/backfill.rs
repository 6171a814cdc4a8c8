//! Outage-backfill corrections: the commands an approved plan writes to the journal.
//!
//! Each correction carries a [`CorrectionId`] (plan id, item index) and applies at most once,
//! so a plan applied twice, or re-run after a crash half-way, changes nothing the second time.
//! They work while the engine is halted (that is when a plan is applied). Like every command
//! they are validated completely before anything changes.

use super::Engine;
use crate::command::CorrectionId;
use crate::event::{Event, Reject};
use crate::types::{AccountId, MoneyMinor, OrderId, PositionId, Price, TimeNs};

/// Longest reason a cash adjustment may carry, in bytes.
pub const ADJUSTMENT_REASON_BYTES_MAX: usize = 200;

impl Engine {
    /// True when this correction was applied before.
    pub fn correction_applied(&self, correction: CorrectionId) -> bool {
        self.corrections.contains(&correction)
    }

    /// How many corrections of this plan were applied.
    pub fn corrections_applied(&self, plan: u64) -> usize {
        let from = CorrectionId { plan, item: 0 };
        let to = CorrectionId {
            plan,
            item: u32::MAX,
        };
        self.corrections.range(from..=to).count()
    }

    fn check_correction(&self, correction: CorrectionId, at_ns: TimeNs) -> Result<(), Reject> {
        if self.corrections.contains(&correction) {
            return Err(Reject::CorrectionAlreadyApplied);
        }
        if at_ns > self.now_ns {
            return Err(Reject::InvalidCorrection);
        }
        Ok(())
    }

    /// Every conversion the P&L and margin of `instrument` need in this account's currency.
    fn check_rates(
        &self,
        account: AccountId,
        instrument: crate::types::InstrumentId,
    ) -> Result<(), Reject> {
        let currency = self.accounts[self.account_index(account)?].currency;
        let spec = &self.market(instrument)?.spec;
        self.live_quote(instrument)?;
        self.rate(spec.quote, currency)?;
        self.rate(spec.base, currency)?;
        Ok(())
    }

    pub(super) fn backfill_fill(
        &mut self,
        correction: CorrectionId,
        id: OrderId,
        price: Price,
        at_ns: TimeNs,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.check_correction(correction, at_ns)?;
        let order = self.orders.get(&id).ok_or(Reject::UnknownOrder)?;
        if !order.active {
            return Err(Reject::OrderNotActive);
        }
        let (account, instrument) = (order.account, order.instrument);
        Self::check_price(&self.market(instrument)?.spec, price)?;
        self.check_rates(account, instrument)?;
        let first_event = events.len();
        self.unrest(id);
        self.fill_at(id, price, true, events);
        // The position is as old as the fill should have been.
        for event in &events[first_event..] {
            if let Event::PositionOpened { position, .. } = event {
                if let Some(p) = self.positions.get_mut(position) {
                    p.opened_ns = at_ns;
                }
            }
        }
        self.corrections.insert(correction);
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }

    pub(super) fn backfill_close(
        &mut self,
        correction: CorrectionId,
        id: PositionId,
        price: Price,
        at_ns: TimeNs,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.check_correction(correction, at_ns)?;
        let position = self.positions.get(&id).ok_or(Reject::UnknownPosition)?;
        let (account, instrument, qty) = (position.account, position.instrument, position.qty);
        Self::check_price(&self.market(instrument)?.spec, price)?;
        self.check_rates(account, instrument)?;
        self.close_qty(id, qty, price, events);
        self.review_account(account, events);
        self.corrections.insert(correction);
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }

    pub(super) fn cash_adjustment(
        &mut self,
        correction: CorrectionId,
        account: AccountId,
        amount: MoneyMinor,
        reason: &str,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.check_correction(correction, self.now_ns)?;
        if reason.len() > ADJUSTMENT_REASON_BYTES_MAX {
            return Err(Reject::InvalidCorrection);
        }
        if amount == 0 {
            return Err(Reject::NonPositiveAmount);
        }
        if amount.unsigned_abs() > crate::limits::AMOUNT_MAX_MINOR.unsigned_abs() {
            return Err(Reject::AmountTooLarge);
        }
        let index = self.account_index(account)?;
        let record = &self.accounts[index];
        let balance = record
            .balance_minor
            .checked_add(amount)
            .ok_or(Reject::Overflow)?;
        let adjusted = record
            .adjustments_minor
            .checked_add(amount)
            .ok_or(Reject::Overflow)?;
        let record = &mut self.accounts[index];
        record.balance_minor = balance;
        record.adjustments_minor = adjusted;
        events.push(Event::CashAdjusted {
            account,
            amount_minor: amount,
            balance_minor: balance,
        });
        self.review_account(account, events);
        self.corrections.insert(correction);
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }
}
