//! Outage-backfill corrections: the commands an approved plan writes to the journal: a fill
//! at an approved price, a back-dated close, a cash adjustment, a re-priced execution, the
//! restore of the opening orders (alone or linked) an off-market fill used up, and the restore of a position
//! a fill or loss-cut closed on an abnormal rate (booked P&L and swap taken back, so the
//! balance identity deposits - withdrawals + P&L + swaps + adjustments keeps holding).
//!
//! Each correction carries a [`CorrectionId`] (plan id, item index) and applies at most once,
//! so a plan applied twice, or re-run after a crash half-way, changes nothing the second time.
//! They work while the engine is halted (that is when a plan is applied). Like every command
//! they are validated completely before anything changes.

use super::Engine;
use crate::command::{
    CorrectionId, OrderKind, RestoredLinkedOrder, RestoredOpeningOrder, RestoredOrder,
    RestoredPosition, TimeInForce,
};
use crate::event::{ClientOrderOutcome, Event, Reject};
use crate::limits;
use crate::state::{Account, Order, Position};
use crate::table::IdList;
use crate::types::{
    AccountId, InstrumentId, MoneyMinor, OrderId, PositionId, PositionMode, Price, Qty, TimeNs,
};

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

    /// What a [`crate::CommandKind::BackfillRestore`] needs to put this position back as it is
    /// in this state, with its working closing orders; `realised_pnl_minor` is what the close
    /// to be cancelled booked (its `PositionClosed` event). The swap a whole close books is the
    /// position's accrued swap, so it is taken from here. `None`: no such open position.
    pub fn restore_of(
        &self,
        position: PositionId,
        realised_pnl_minor: MoneyMinor,
    ) -> Option<(RestoredPosition, Vec<RestoredOrder>)> {
        let p = self.positions.get(&position)?;
        let mut orders: Vec<RestoredOrder> = p
            .closing_orders
            .iter()
            .filter_map(|id| self.orders.get(id))
            .map(|o| restored_order(o, o.oco_peer))
            .collect();
        let mut restored = RestoredPosition {
            id: p.id,
            account: p.account,
            instrument: p.instrument,
            side: p.side,
            qty: p.qty,
            open_price: p.open_price,
            opened_ns: p.opened_ns,
            realised_pnl_minor,
            swap_minor: p.swap_minor,
            take_profit: p.take_profit,
            stop_loss: p.stop_loss,
        };
        // Only working limits and stops come back. An OCO peer that is not a closing order of
        // this position is not restored with it; the link is dropped rather than pointing at an
        // order that may be gone.
        let kept = |id: OrderId| {
            self.orders
                .get(&id)
                .is_some_and(|o| o.active && !matches!(o.kind, OrderKind::Market { .. }))
        };
        restored.leave_out(&mut orders, |id| !kept(id));
        Some((restored, orders))
    }

    /// What a [`crate::CommandKind::BackfillRestoreOrder`] needs to put this working order
    /// back as it is in this state. `None`: no such working order, or not a lone opening order
    /// (see [`Engine::restore_orders_of`] for one with an OCO peer or IFD/IFO children).
    pub fn restore_order_of(&self, order: OrderId) -> Option<RestoredOpeningOrder> {
        match self.restore_orders_of(order)?.as_slice() {
            [lone] => Some(lone.order.clone()),
            _ => None,
        }
    }

    /// What a restore needs to put this working order back as it is in this state, with the
    /// orders linked to it: alone, with its OCO peer, or (an IFD/IFO parent) with its children
    /// waiting for it. The order comes first, then its peer or its children in placing order.
    /// `None`: no such working order, a child waiting for its parent (it goes with the
    /// parent), or a group with a closing order or a market order in it: putting back part of
    /// what the customer asked for would change it, so those are left to a person.
    pub fn restore_orders_of(&self, order: OrderId) -> Option<Vec<RestoredLinkedOrder>> {
        let o = self.orders.get(&order)?;
        if o.parent.is_some() {
            return None;
        }
        let ids = std::iter::once(order)
            .chain(o.oco_peer)
            .chain(o.children.iter().copied());
        let mut group = Vec::new();
        for id in ids {
            let o = self.orders.get(&id)?;
            let opening = o.active == o.parent.is_none()
                && o.close_position.is_none()
                && o.protects.is_none()
                && !matches!(o.kind, OrderKind::Market { .. });
            if !opening || group.len() >= limits::RESTORED_GROUP_ORDERS_MAX {
                return None;
            }
            group.push(RestoredLinkedOrder {
                order: RestoredOpeningOrder {
                    account: o.account,
                    instrument: o.instrument,
                    side: o.side,
                    order: restored_order(o, o.oco_peer),
                },
                parent: o.parent,
                children: o.children.clone(),
            });
        }
        check_links(&group).is_ok().then_some(group)
    }

    /// The checks every restored order passes (with a position or alone): an id issued before
    /// and not working now, a valid kind and quantity, a resting time in force, and the client
    /// order id the account used for this very order.
    fn check_restored_order(
        &self,
        account: AccountId,
        spec: &crate::instrument::InstrumentSpec,
        order: &RestoredOrder,
    ) -> Result<(), Reject> {
        if order.id.0 == 0 || order.id.0 >= self.next_order || self.orders.contains_key(&order.id) {
            return Err(Reject::OrderIdInUse);
        }
        if order.placed_ns > self.now_ns {
            return Err(Reject::InvalidCorrection);
        }
        Self::check_qty(spec, order.qty)?;
        Self::check_kind(spec, &order.kind)?;
        match order.kind {
            OrderKind::Market { .. } => return Err(Reject::InvalidCorrection),
            OrderKind::StopLimit { .. } => {}
            _ if order.stop_reached => return Err(Reject::InvalidCorrection),
            _ => {}
        }
        if matches!(
            order.time_in_force,
            TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill
        ) {
            return Err(Reject::InvalidTimeInForce);
        }
        if let Some(client_order_id) = &order.client_order_id {
            let used_for_it = self
                .client_orders
                .get(&account)
                .and_then(|m| m.get(client_order_id))
                == Some(&ClientOrderOutcome::Accepted(order.id));
            if !used_for_it {
                return Err(Reject::InvalidCorrection);
            }
        }
        Ok(())
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

    /// Validates a restore completely; returns the account's balance, realised P&L and booked
    /// swaps after it.
    fn check_restore(
        &self,
        correction: CorrectionId,
        position: &RestoredPosition,
        orders: &[RestoredOrder],
    ) -> Result<(MoneyMinor, MoneyMinor, MoneyMinor), Reject> {
        self.check_correction(correction, position.opened_ns)?;
        let index = self.account_index(position.account)?;
        let account = &self.accounts[index];
        let spec = &self.market(position.instrument)?.spec;
        if position.qty <= 0 || position.qty > limits::QTY_MAX {
            return Err(Reject::QtyOutOfRange);
        }
        Self::check_price(spec, position.open_price)?;
        self.check_rates(position.account, position.instrument)?;
        // Ids are never reused: a restored id is one issued before and not open now.
        if position.id.0 == 0
            || position.id.0 >= self.next_position
            || self.positions.contains_key(&position.id)
        {
            return Err(Reject::PositionIdInUse);
        }
        for amount in [position.realised_pnl_minor, position.swap_minor] {
            if amount.unsigned_abs() > limits::AMOUNT_MAX_MINOR.unsigned_abs() {
                return Err(Reject::AmountTooLarge);
            }
        }
        let taken_back = position
            .realised_pnl_minor
            .checked_add(position.swap_minor)
            .ok_or(Reject::Overflow)?;
        let balance = account
            .balance_minor
            .checked_sub(taken_back)
            .ok_or(Reject::Overflow)?;
        let realised = account
            .realised_pnl_minor
            .checked_sub(position.realised_pnl_minor)
            .ok_or(Reject::Overflow)?;
        let swaps = account
            .swaps_booked_minor
            .checked_sub(position.swap_minor)
            .ok_or(Reject::Overflow)?;
        if account.positions.len() >= limits::POSITIONS_PER_ACCOUNT_MAX {
            return Err(Reject::TooManyPositions);
        }
        if orders.len() > limits::ORDERS_PER_ACCOUNT_MAX
            || account.orders.len() + orders.len() > limits::ORDERS_PER_ACCOUNT_MAX
        {
            return Err(Reject::TooManyOrders);
        }
        // A netting account never holds both sides of an instrument.
        if account.mode == PositionMode::Netting
            && account
                .positions
                .iter()
                .filter_map(|p| self.positions.get(p))
                .any(|p| p.instrument == position.instrument && p.side != position.side)
        {
            return Err(Reject::CloseTargetMismatch);
        }
        let find = |id: OrderId| orders.iter().find(|o| o.id == id);
        for (i, order) in orders.iter().enumerate() {
            self.check_restored_order(position.account, spec, order)?;
            if orders[..i].iter().any(|o| o.id == order.id) {
                return Err(Reject::InvalidCorrection);
            }
            if let Some(peer) = order.oco_peer {
                let mutual =
                    peer != order.id && find(peer).is_some_and(|p| p.oco_peer == Some(order.id));
                if !mutual {
                    return Err(Reject::InvalidCorrection);
                }
            }
        }
        let is_kind = |id: Option<OrderId>, limit: bool| match id {
            None => true,
            Some(id) => find(id).is_some_and(|o| match o.kind {
                OrderKind::Limit { .. } => limit,
                OrderKind::Stop { .. } => !limit,
                _ => false,
            }),
        };
        if !is_kind(position.take_profit, true) || !is_kind(position.stop_loss, false) {
            return Err(Reject::InvalidCorrection);
        }
        Ok((balance, realised, swaps))
    }

    /// Puts back a position closed on an abnormal rate, with its closing orders, and takes back
    /// what its close booked (see `CommandKind::BackfillRestore`).
    pub(super) fn backfill_restore(
        &mut self,
        correction: CorrectionId,
        position: &RestoredPosition,
        orders: &[RestoredOrder],
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let (balance, realised, swaps) = self.check_restore(correction, position, orders)?;
        // Validated: nothing below can fail.
        let (id, account_id, instrument) = (position.id, position.account, position.instrument);
        let record = self.account_mut(account_id);
        let conserved_before = conserved(record);
        record.balance_minor = balance;
        record.realised_pnl_minor = realised;
        record.swaps_booked_minor = swaps;
        record.positions.insert(id);
        assert!(
            !conserved_before || conserved(record),
            "restoring {id} broke the money identity of {account_id}"
        );
        self.positions.insert(
            id,
            Position {
                id,
                account: account_id,
                instrument,
                side: position.side,
                qty: position.qty,
                open_price: position.open_price,
                opened_ns: position.opened_ns,
                swap_minor: position.swap_minor,
                take_profit: position.take_profit,
                stop_loss: position.stop_loss,
                closing_orders: IdList::default(),
            },
        );
        events.push(Event::PositionRestored {
            position: id,
            account: account_id,
            qty: position.qty,
            price: position.open_price,
            realised_pnl_reversed_minor: position.realised_pnl_minor,
            swap_reversed_minor: position.swap_minor,
            balance_minor: balance,
        });
        for order in orders {
            let protects = (Some(order.id) == position.take_profit
                || Some(order.id) == position.stop_loss)
                .then_some(id);
            // It works again: no longer an order that ended.
            self.finished.remove(&order.id);
            self.register(Order {
                id: order.id,
                account: account_id,
                client_order_id: order.client_order_id.clone(),
                instrument,
                side: position.side.opposite(),
                qty: order.qty,
                kind: order.kind,
                time_in_force: order.time_in_force,
                close_position: Some(id),
                placed_ns: order.placed_ns,
                active: true,
                stop_reached: order.stop_reached,
                oco_peer: order.oco_peer,
                parent: None,
                children: Vec::new(),
                protects,
            });
            events.push(Event::OrderRestored {
                order: order.id,
                account: account_id,
            });
        }
        debug_assert!(self
            .positions
            .get(&id)
            .is_some_and(|p| p.closing_orders.len() == orders.len()));
        self.corrections.insert(correction);
        // A good-till-date order whose date passed meanwhile ends now, as it would have; one
        // whose level the market is beyond fires at the current quote.
        self.expire_due(events);
        if !self.halted(instrument) {
            self.run_triggers(instrument, events);
        }
        self.review_account(account_id, events);
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }
}

impl Engine {
    /// Puts back a lone working order that an off-market fill used up (see
    /// `CommandKind::BackfillRestoreOrder`): a group of one.
    pub(super) fn backfill_restore_order(
        &mut self,
        correction: CorrectionId,
        restored: &RestoredOpeningOrder,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let lone = RestoredLinkedOrder {
            order: restored.clone(),
            parent: None,
            children: Vec::new(),
        };
        self.backfill_restore_orders(correction, std::slice::from_ref(&lone), events)
    }

    /// Puts back the working orders an off-market fill used up, linked as they were (see
    /// `CommandKind::BackfillRestoreOrders`). No money moves: an order reserves nothing until
    /// it fills.
    pub(super) fn backfill_restore_orders(
        &mut self,
        correction: CorrectionId,
        orders: &[RestoredLinkedOrder],
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.check_correction(correction, self.now_ns)?;
        if orders.is_empty() || orders.len() > limits::RESTORED_GROUP_ORDERS_MAX {
            return Err(Reject::InvalidCorrection);
        }
        let (account, instrument) = (orders[0].order.account, orders[0].order.instrument);
        let index = self.account_index(account)?;
        let spec = &self.market(instrument)?.spec;
        // One group of one customer's request: one account and instrument, links that match.
        if orders
            .iter()
            .any(|o| o.order.account != account || o.order.instrument != instrument)
        {
            return Err(Reject::InvalidCorrection);
        }
        check_links(orders)?;
        for o in orders {
            self.check_restored_order(account, spec, &o.order.order)?;
            // A child waiting for its parent was never triggered.
            if o.parent.is_some() && o.order.order.stop_reached {
                return Err(Reject::InvalidCorrection);
            }
        }
        if self.accounts[index].orders.len() + orders.len() > limits::ORDERS_PER_ACCOUNT_MAX {
            return Err(Reject::TooManyOrders);
        }
        // Validated: nothing below can fail.
        let balance_before = self.accounts[index].balance_minor;
        for o in orders {
            let order = &o.order.order;
            // It works (or waits) again: no longer an order that ended.
            self.finished.remove(&order.id);
            self.register(Order {
                id: order.id,
                account,
                client_order_id: order.client_order_id.clone(),
                instrument,
                side: o.order.side,
                qty: order.qty,
                kind: order.kind,
                time_in_force: order.time_in_force,
                close_position: None,
                placed_ns: order.placed_ns,
                active: o.parent.is_none(),
                stop_reached: order.stop_reached,
                oco_peer: order.oco_peer,
                parent: o.parent,
                children: o.children.clone(),
                protects: None,
            });
            events.push(Event::OrderRestored {
                order: order.id,
                account,
            });
        }
        assert_eq!(
            self.accounts[index].balance_minor, balance_before,
            "restoring order {} moved money",
            orders[0].order.order.id
        );
        self.corrections.insert(correction);
        // As with a restored position: a date that passed expires an order (and what is tied
        // to it), a level the market is beyond fires it at the current quote by the normal
        // rules, so only one leg of an OCO pair fills (not while halted: the Resume does).
        self.expire_due(events);
        if !self.halted(instrument) {
            self.run_triggers(instrument, events);
        }
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }
}

/// A working order as a restore puts it back, linked to `oco_peer`.
fn restored_order(o: &Order, oco_peer: Option<OrderId>) -> RestoredOrder {
    RestoredOrder {
        id: o.id,
        client_order_id: o.client_order_id.clone(),
        qty: o.qty,
        kind: o.kind,
        time_in_force: o.time_in_force,
        placed_ns: o.placed_ns,
        stop_reached: o.stop_reached,
        oco_peer,
    }
}

/// The links of a group to restore must be those a placement makes, named from both ends:
/// a lone order, an OCO pair (each leg the other's peer), an IFD parent with one child, or an
/// IFO parent with two children that are each other's OCO peer; every child names the parent
/// that lists it, and nothing points outside the group.
fn check_links(orders: &[RestoredLinkedOrder]) -> Result<(), Reject> {
    let id_of = |o: &RestoredLinkedOrder| o.order.order.id;
    let find = |id: OrderId| orders.iter().find(|o| id_of(o) == id);
    let valid = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(Reject::InvalidCorrection)
        }
    };
    for (i, o) in orders.iter().enumerate() {
        let id = id_of(o);
        valid(!orders[..i].iter().any(|p| id_of(p) == id))?;
        if let Some(peer) = o.order.order.oco_peer {
            // Peers are the two legs of one OCO pair: neither has children, both have the
            // same parent (none, or the IFO parent).
            valid(
                peer != id
                    && o.children.is_empty()
                    && find(peer).is_some_and(|p| {
                        p.order.order.oco_peer == Some(id) && p.parent == o.parent
                    }),
            )?;
        }
        if let Some(parent) = o.parent {
            valid(
                parent != id
                    && o.children.is_empty()
                    && find(parent).is_some_and(|p| p.parent.is_none() && p.children.contains(&id)),
            )?;
        }
        let names_me = |child: OrderId| find(child).is_some_and(|c| c.parent == Some(id));
        match o.children.as_slice() {
            [] => {}
            [child] => valid(names_me(*child))?,
            [a, b] => valid(
                a != b
                    && names_me(*a)
                    && names_me(*b)
                    && find(*a).is_some_and(|c| c.order.order.oco_peer == Some(*b)),
            )?,
            _ => return Err(Reject::InvalidCorrection),
        }
    }
    // One group: one order with what waits for it, or the two legs of an OCO pair.
    let roots: Vec<&RestoredLinkedOrder> = orders.iter().filter(|o| o.parent.is_none()).collect();
    match roots.as_slice() {
        [_] => Ok(()),
        [a, b] => valid(a.order.order.oco_peer == Some(id_of(b))),
        _ => Err(Reject::InvalidCorrection),
    }
}

/// A [`crate::CommandKind::BackfillReprice`], unpacked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Repricing {
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub position: PositionId,
    pub qty: Qty,
    pub from: Price,
    pub to: Price,
    pub realised_pnl_minor: Option<MoneyMinor>,
}

impl Engine {
    /// Re-prices an execution made after reopening (see `CommandKind::BackfillReprice`):
    /// the open position's entry price, or the realised P&L of an execution booked already.
    pub(super) fn backfill_reprice(
        &mut self,
        correction: CorrectionId,
        r: Repricing,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.check_correction(correction, self.now_ns)?;
        let index = self.account_index(r.account)?;
        let spec = &self.market(r.instrument)?.spec;
        Self::check_price(spec, r.from)?;
        Self::check_price(spec, r.to)?;
        Self::check_qty(spec, r.qty)?;
        if r.from == r.to {
            return Err(Reject::InvalidCorrection);
        }
        // Ids are never reused: the position is one issued before.
        if r.position.0 == 0 || r.position.0 >= self.next_position {
            return Err(Reject::UnknownPosition);
        }
        let open = self.positions.get(&r.position);
        match r.realised_pnl_minor {
            None => {
                // The position must be exactly as the execution left it: the same account,
                // instrument and quantity, at the price being corrected.
                let p = open.ok_or(Reject::UnknownPosition)?;
                if p.account != r.account
                    || p.instrument != r.instrument
                    || p.qty != r.qty
                    || p.open_price != r.from
                {
                    return Err(Reject::InvalidCorrection);
                }
                self.check_rates(r.account, r.instrument)?;
                // Validated: nothing below can fail. No money moves now; the account is
                // valued again (the corrected entry may call it, or cut it at the good price).
                if let Some(p) = self.positions.get_mut(&r.position) {
                    p.open_price = r.to;
                }
                events.push(Event::PositionRepriced {
                    position: r.position,
                    account: r.account,
                    instrument: r.instrument,
                    from: r.from,
                    to: r.to,
                });
                self.review_account(r.account, events);
            }
            Some(amount) => {
                if open.is_some_and(|p| p.account != r.account || p.instrument != r.instrument) {
                    return Err(Reject::InvalidCorrection);
                }
                if amount == 0 {
                    return Err(Reject::NonPositiveAmount);
                }
                if amount.unsigned_abs() > limits::AMOUNT_MAX_MINOR.unsigned_abs() {
                    return Err(Reject::AmountTooLarge);
                }
                let record = &self.accounts[index];
                let balance = record
                    .balance_minor
                    .checked_add(amount)
                    .ok_or(Reject::Overflow)?;
                let realised = record
                    .realised_pnl_minor
                    .checked_add(amount)
                    .ok_or(Reject::Overflow)?;
                // Validated: nothing below can fail.
                let record = self.account_mut(r.account);
                let conserved_before = conserved(record);
                record.balance_minor = balance;
                record.realised_pnl_minor = realised;
                assert!(
                    !conserved_before || conserved(record),
                    "re-pricing an execution of {} broke the money identity of {}",
                    r.position,
                    r.account
                );
                events.push(Event::ExecutionRepriced {
                    position: r.position,
                    account: r.account,
                    instrument: r.instrument,
                    qty: r.qty,
                    from: r.from,
                    to: r.to,
                    realised_pnl_minor: amount,
                    balance_minor: balance,
                });
                self.review_account(r.account, events);
            }
        }
        self.corrections.insert(correction);
        events.push(Event::CorrectionApplied { correction });
        Ok(())
    }
}

/// The money identity every account keeps (see `Account::balance_minor`).
fn conserved(account: &Account) -> bool {
    let sum = i128::from(account.deposited_minor) - i128::from(account.withdrawn_minor)
        + i128::from(account.realised_pnl_minor)
        + i128::from(account.swaps_booked_minor)
        + i128::from(account.adjustments_minor);
    sum == i128::from(account.balance_minor)
}
