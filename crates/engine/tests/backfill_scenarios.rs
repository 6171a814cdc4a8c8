//! Scenarios for the outage-backfill corrections: fill at an approved price, close a position
//! at a back-dated price, book cash, restore a position closed on an abnormal rate; each
//! applies once, and a bad one is refused with a typed reason, changing nothing.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_engine::*;

fn funded() -> (Harness, AccountId) {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    let account = h.account(Currency::JPY, PositionMode::Hedging, 1_000_000);
    (h, account)
}

fn correction(item: u32) -> CorrectionId {
    CorrectionId { plan: 42, item }
}

fn conserved(h: &Harness, account: AccountId) -> bool {
    let a = h.engine.account(account).unwrap();
    a.balance_minor
        == a.deposited_minor - a.withdrawn_minor
            + a.realised_pnl_minor
            + a.swaps_booked_minor
            + a.adjustments_minor
}

#[test]
fn a_stop_is_filled_at_the_approved_price_and_time_even_while_halted() {
    let (mut h, a) = funded();
    let stop = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Stop { price: 150_100 },
    );
    let (order, _) = h.place_one(a, stop);
    let order = order.unwrap();
    let outage_at = h.time_ns + 1;
    h.run(CommandKind::Halt { instrument: None });
    // The market reopened far above the stop; the plan fills at the stop's level.
    h.quote(USDJPY, 150_500, 150_505);
    let events = h.run(CommandKind::BackfillFill {
        correction: correction(0),
        order,
        price: 150_100,
        at_ns: outage_at,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(fills(&events), vec![(order, 10_000, 150_100)]);
    assert!(events.contains(&Event::CorrectionApplied {
        correction: correction(0)
    }));
    let position = h.positions(a).pop().unwrap();
    assert_eq!(position.open_price, 150_100);
    assert_eq!(position.opened_ns, outage_at, "back-dated");
    assert!(h.engine.order(order).is_none());
    assert!(h.engine.correction_applied(correction(0)));
    assert_eq!(h.engine.corrections_applied(42), 1);
    // Again: refused, nothing changes.
    let before = h.positions(a);
    let events = h.run(CommandKind::BackfillFill {
        correction: correction(0),
        order,
        price: 150_100,
        at_ns: outage_at,
    });
    assert_eq!(rejection(&events), Some(Reject::CorrectionAlreadyApplied));
    assert_eq!(h.positions(a), before);
}

#[test]
fn a_backfilled_ifd_parent_activates_its_child_which_the_plan_fills_next() {
    let (mut h, a) = funded();
    let first = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_900 },
    );
    let then = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_200 },
    );
    let ids = accepted(&h.place(a, OrderRequest::Ifd { first, then }));
    let (parent, child) = (ids[0], ids[1]);
    let at = h.time_ns;
    h.run(CommandKind::Halt { instrument: None });
    // The child cannot be filled before its parent.
    let early = h.run(CommandKind::BackfillFill {
        correction: correction(1),
        order: child,
        price: 150_200,
        at_ns: at,
    });
    assert_eq!(rejection(&early), Some(Reject::OrderNotActive));
    let events = h.run(CommandKind::BackfillFill {
        correction: correction(0),
        order: parent,
        price: 149_900,
        at_ns: at,
    });
    assert!(events.contains(&Event::OrderActivated { order: child }));
    let events = h.run(CommandKind::BackfillFill {
        correction: correction(1),
        order: child,
        price: 150_200,
        at_ns: at,
    });
    assert_eq!(fills(&events), vec![(child, 10_000, 150_200)]);
    assert!(h.positions(a).is_empty());
    // 10,000 x 3.000 JPY = 3,000 JPY of profit, booked.
    assert_eq!(h.balance(a), 1_003_000);
    assert!(conserved(&h, a));
}

#[test]
fn a_back_dated_close_books_the_pnl_of_the_approved_price() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    let at = h.time_ns;
    h.run(CommandKind::Halt { instrument: None });
    h.quote(USDJPY, 140_000, 140_005);
    let events = h.run(CommandKind::BackfillClose {
        correction: correction(3),
        position,
        price: 149_000,
        at_ns: at,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(h.positions(a).is_empty());
    // Bought at 150.005, closed at 149.000: -1.005 x 10,000 = -10,050 JPY.
    assert_eq!(h.balance(a), 1_000_000 - 10_050);
    assert!(conserved(&h, a));
}

#[test]
fn cash_adjustments_move_the_balance_and_keep_money_conserved() {
    let (mut h, a) = funded();
    let events = h.run(CommandKind::CashAdjustment {
        correction: correction(0),
        account: a,
        amount_minor: 2_500,
        reason: "stop backfilled at 150.100 instead of 150.505".to_owned(),
    });
    assert!(events.contains(&Event::CashAdjusted {
        account: a,
        amount_minor: 2_500,
        balance_minor: 1_002_500
    }));
    h.run(CommandKind::CashAdjustment {
        correction: correction(1),
        account: a,
        amount_minor: -500,
        reason: "re-priced fill".to_owned(),
    });
    assert_eq!(h.balance(a), 1_002_000);
    assert_eq!(h.engine.account(a).unwrap().adjustments_minor, 2_000);
    assert!(conserved(&h, a));
    let again = h.run(CommandKind::CashAdjustment {
        correction: correction(1),
        account: a,
        amount_minor: -500,
        reason: "re-priced fill".to_owned(),
    });
    assert_eq!(rejection(&again), Some(Reject::CorrectionAlreadyApplied));
    assert_eq!(h.balance(a), 1_002_000);
}

#[test]
fn bad_corrections_are_refused_with_a_reason() {
    let (mut h, a) = funded();
    let (order, _) = h.place_one(
        a,
        h.spec(
            USDJPY,
            Side::Sell,
            10_000,
            OrderKind::Stop { price: 149_000 },
        ),
    );
    let order = order.unwrap();
    let future = h.time_ns + 1_000_000_000;
    let refuse = |h: &mut Harness, kind| rejection(&h.run(kind));
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::BackfillFill {
                correction: correction(0),
                order,
                price: 149_000,
                at_ns: future,
            }
        ),
        Some(Reject::InvalidCorrection)
    );
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::BackfillFill {
                correction: correction(0),
                order,
                price: 0,
                at_ns: 0,
            }
        ),
        Some(Reject::InvalidPrice)
    );
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::BackfillFill {
                correction: correction(0),
                order: OrderId(999),
                price: 149_000,
                at_ns: 0,
            }
        ),
        Some(Reject::UnknownOrder)
    );
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::CashAdjustment {
                correction: correction(0),
                account: a,
                amount_minor: 0,
                reason: String::new(),
            }
        ),
        Some(Reject::NonPositiveAmount)
    );
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::CashAdjustment {
                correction: correction(0),
                account: a,
                amount_minor: 1,
                reason: "x".repeat(201),
            }
        ),
        Some(Reject::InvalidCorrection)
    );
    assert_eq!(
        refuse(
            &mut h,
            CommandKind::BackfillClose {
                correction: correction(0),
                position: PositionId(77),
                price: 149_000,
                at_ns: 0,
            }
        ),
        Some(Reject::UnknownPosition)
    );
    // None of them used the correction id.
    assert!(!h.engine.correction_applied(correction(0)));
    assert!(h.engine.order(order).is_some());
}

// ----- restoring a position closed on an abnormal rate ------------------------------------

/// Everything a refused command must leave alone (time moves on, so not the state hash).
fn everything(h: &Harness) -> (Vec<Account>, Vec<Position>, Vec<Order>, usize) {
    (
        h.engine.accounts().cloned().collect(),
        h.engine.positions().cloned().collect(),
        h.engine.orders().cloned().collect(),
        h.engine.corrections_applied(42),
    )
}

/// A long USD/JPY position with a take-profit and a stop-loss.
fn protected_long(h: &mut Harness, a: AccountId) -> (PositionId, OrderId, OrderId) {
    let events = h.market(a, USDJPY, Side::Buy, 10_000);
    assert_eq!(rejection(&events), None, "{events:?}");
    let position = h.positions(a).pop().unwrap().id;
    let events = h.run(CommandKind::SetProtection {
        account: a,
        position,
        take_profit: Some(151_000),
        stop_loss: Some(149_500),
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    let p = h.engine.position(position).unwrap();
    (position, p.take_profit.unwrap(), p.stop_loss.unwrap())
}

fn closed_pnl(events: &[Event], position: PositionId) -> i64 {
    events
        .iter()
        .find_map(|e| match e {
            Event::PositionClosed {
                position: p,
                realised_pnl_minor,
                qty_remaining: 0,
                ..
            } if *p == position => Some(*realised_pnl_minor),
            _ => None,
        })
        .expect("the position closed")
}

fn restore_command(before: &Engine, position: PositionId, pnl: i64, item: u32) -> CommandKind {
    let (position, orders) = before.restore_of(position, pnl).unwrap();
    CommandKind::BackfillRestore {
        correction: correction(item),
        position,
        orders,
    }
}

/// A second application of the same correction is refused and changes nothing.
fn applied_once(h: &mut Harness, command: CommandKind) {
    let state = everything(h);
    let events = h.run(command);
    assert_eq!(rejection(&events), Some(Reject::CorrectionAlreadyApplied));
    assert_eq!(everything(h), state);
}

/// A protected long whose stop-loss an off-market quote at 149.000 fires (its OCO take-profit
/// goes with it); the market is back at 150.100 after. Returns the engine before the quote,
/// the account's balance then, the position, its take-profit and stop-loss, and the P&L the
/// close booked.
fn stop_loss_fired_on_a_bad_quote(
    h: &mut Harness,
    a: AccountId,
) -> (Engine, i64, PositionId, OrderId, OrderId, i64) {
    let (position, tp, sl) = protected_long(h, a);
    let before = h.engine.clone();
    let balance_before = h.balance(a);
    let events = h.quote(USDJPY, 149_000, 149_005);
    assert_eq!(fills(&events), vec![(sl, 10_000, 149_000)]);
    let pnl = closed_pnl(&events, position);
    assert!(pnl < 0);
    assert_eq!(h.balance(a), balance_before + pnl);
    assert!(h.engine.order(tp).is_none());
    h.quote(USDJPY, 150_100, 150_105);
    (before, balance_before, position, tp, sl, pnl)
}

#[test]
fn a_stop_loss_fired_on_a_bad_quote_is_restored_once_with_both_protections() {
    let (mut h, a) = funded();
    let (before, balance_before, position, tp, sl, pnl) = stop_loss_fired_on_a_bad_quote(&mut h, a);

    let command = restore_command(&before, position, pnl, 3);
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(events.contains(&Event::CorrectionApplied {
        correction: correction(3)
    }));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PositionRestored { position: p, realised_pnl_reversed_minor, .. }
            if *p == position && *realised_pnl_reversed_minor == pnl
    )));
    // Position, orders and money as before the bad quote.
    assert_eq!(h.engine.position(position), before.position(position));
    assert_eq!(h.engine.order(tp), before.order(tp));
    assert_eq!(h.engine.order(sl), before.order(sl));
    assert_eq!(h.engine.order(tp).unwrap().oco_peer, Some(sl));
    assert_eq!(h.balance(a), balance_before);
    let (now, then) = (h.engine.account(a).unwrap(), before.account(a).unwrap());
    assert_eq!(now.realised_pnl_minor, then.realised_pnl_minor);
    assert_eq!(now.orders, then.orders);
    assert_eq!(now.positions, then.positions);
    assert!(conserved(&h, a));
    assert!(h.engine.correction_applied(correction(3)));

    // A second application changes nothing.
    applied_once(&mut h, command);

    // The restored orders work: a real move down fires the stop-loss again.
    let events = h.quote(USDJPY, 149_400, 149_405);
    assert_eq!(fills(&events), vec![(sl, 10_000, 149_400)]);
    assert!(h.engine.position(position).is_none());
    assert!(h.engine.order(tp).is_none());
    assert!(conserved(&h, a));
}

#[test]
fn a_restore_that_leaves_out_the_take_profit_brings_the_stop_loss_back_alone_and_unlinked() {
    let (mut h, a) = funded();
    let (before, balance_before, position, tp, sl, pnl) = stop_loss_fired_on_a_bad_quote(&mut h, a);
    let (mut restored, mut orders) = before.restore_of(position, pnl).unwrap();

    // Dropping the take-profit from the orders alone leaves the position naming it and the
    // stop-loss naming it as its peer: refused, changing nothing.
    let mut half = orders.clone();
    half.retain(|o| o.id != tp);
    let untouched = everything(&h);
    let events = h.run(CommandKind::BackfillRestore {
        correction: correction(5),
        position: restored.clone(),
        orders: half,
    });
    assert_eq!(rejection(&events), Some(Reject::InvalidCorrection));
    assert_eq!(everything(&h), untouched);

    // Left out consistently (the slot emptied, the link dropped): accepted.
    assert_eq!(restored.leave_out(&mut orders, |id| id == tp), vec![tp]);
    assert_eq!((restored.take_profit, restored.stop_loss), (None, Some(sl)));
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].oco_peer, None);
    let command = CommandKind::BackfillRestore {
        correction: correction(5),
        position: restored,
        orders,
    };
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    let p = h.engine.position(position).unwrap();
    assert_eq!((p.take_profit, p.stop_loss), (None, Some(sl)));
    assert!(h.engine.order(tp).is_none());
    let stop = h.engine.order(sl).unwrap();
    assert_eq!(stop.oco_peer, None);
    assert_eq!(stop.protects, Some(position));
    assert_eq!(h.balance(a), balance_before);
    assert!(conserved(&h, a));

    applied_once(&mut h, command);

    // The stop-loss works alone: a real move down closes the position with it.
    let events = h.quote(USDJPY, 149_400, 149_405);
    assert_eq!(fills(&events), vec![(sl, 10_000, 149_400)]);
    assert!(h.engine.position(position).is_none());
    assert!(conserved(&h, a));
}

#[test]
fn a_loss_cut_on_a_bad_quote_is_restored_and_the_account_is_reviewed_at_the_good_quote() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    // 60,000 JPY of margin for 10,000 USD (4 %); the cut comes at 50 % of it.
    let a = h.account(Currency::JPY, PositionMode::Hedging, 100_000);
    h.market(a, USDJPY, Side::Buy, 10_000);
    h.market(a, USDJPY, Side::Buy, 5_000);
    let ids: Vec<PositionId> = h.positions(a).iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 2);
    let before = h.engine.clone();
    let balance_before = h.balance(a);
    let events = h.quote(USDJPY, 140_000, 140_005);
    assert!(
        events.iter().any(|e| matches!(e, Event::LossCut { .. })),
        "{events:?}"
    );
    assert!(h.positions(a).is_empty());
    h.quote(USDJPY, 150_010, 150_015);
    for (item, id) in ids.iter().enumerate() {
        let pnl = closed_pnl(&events, *id);
        let events = h.run(restore_command(&before, *id, pnl, 10 + item as u32));
        assert_eq!(rejection(&events), None, "{events:?}");
        assert!(
            !events.iter().any(|e| matches!(e, Event::LossCut { .. })),
            "{events:?}"
        );
    }
    assert_eq!(
        h.positions(a),
        before
            .positions_of(a)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(h.balance(a), balance_before);
    assert!(!h.engine.account(a).unwrap().margin_call);
    assert!(conserved(&h, a));
    assert_eq!(h.engine.corrections_applied(42), 2);
}

#[test]
fn a_restore_works_while_halted_and_its_orders_wait_for_the_resume() {
    let (mut h, a) = funded();
    let (position, _, sl) = protected_long(&mut h, a);
    let before = h.engine.clone();
    let events = h.quote(USDJPY, 149_000, 149_005);
    let pnl = closed_pnl(&events, position);
    h.run(CommandKind::Halt { instrument: None });
    // The market is below the stop-loss now: restored while halted, it waits for the resume.
    h.quote(USDJPY, 149_300, 149_305);
    let events = h.run(restore_command(&before, position, pnl, 0));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(fills(&events).is_empty());
    assert!(h.engine.order(sl).is_some());
    let events = h.run(CommandKind::Resume { instrument: None });
    assert_eq!(fills(&events), vec![(sl, 10_000, 149_300)]);
    assert!(conserved(&h, a));
}

#[test]
fn bad_restores_are_refused_with_a_reason_and_change_nothing() {
    let (mut h, a) = funded();
    let (position, tp, sl) = protected_long(&mut h, a);
    let before = h.engine.clone();
    let events = h.quote(USDJPY, 149_000, 149_005);
    let pnl = closed_pnl(&events, position);
    h.quote(USDJPY, 150_100, 150_105);
    let (good, orders) = before.restore_of(position, pnl).unwrap();
    let hash = everything(&h);
    let check =
        |h: &mut Harness, position: RestoredPosition, orders: Vec<RestoredOrder>, reason| {
            let events = h.run(CommandKind::BackfillRestore {
                correction: correction(0),
                position,
                orders,
            });
            assert_eq!(rejection(&events), Some(reason), "{events:?}");
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(everything(h), hash);
        };
    let with = |f: &dyn Fn(&mut RestoredPosition)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    check(
        &mut h,
        with(&|p| p.account = AccountId(99)),
        orders.clone(),
        Reject::UnknownAccount,
    );
    check(
        &mut h,
        with(&|p| p.account = AccountId(0)),
        orders.clone(),
        Reject::UnknownAccount,
    );
    check(
        &mut h,
        with(&|p| p.instrument = InstrumentId(999)),
        orders.clone(),
        Reject::UnknownInstrument,
    );
    check(
        &mut h,
        with(&|p| p.id = PositionId(0)),
        orders.clone(),
        Reject::PositionIdInUse,
    );
    check(
        &mut h,
        with(&|p| p.id = PositionId(1_000)),
        orders.clone(),
        Reject::PositionIdInUse,
    );
    check(
        &mut h,
        with(&|p| p.qty = 0),
        orders.clone(),
        Reject::QtyOutOfRange,
    );
    check(
        &mut h,
        with(&|p| p.open_price = -1),
        orders.clone(),
        Reject::InvalidPrice,
    );
    check(
        &mut h,
        with(&|p| p.opened_ns = i64::MAX),
        orders.clone(),
        Reject::InvalidCorrection,
    );
    check(
        &mut h,
        with(&|p| p.realised_pnl_minor = i64::MIN),
        orders.clone(),
        Reject::AmountTooLarge,
    );
    check(
        &mut h,
        with(&|p| p.take_profit = Some(sl)),
        orders.clone(),
        Reject::InvalidCorrection,
    );
    check(
        &mut h,
        with(&|p| p.stop_loss = Some(OrderId(500))),
        orders.clone(),
        Reject::InvalidCorrection,
    );
    // Orders: one issued never, one twice, an OCO peer outside the restore, a market order,
    // a client order id the account never used for it.
    let mut bad = orders.clone();
    bad[0].id = OrderId(10_000);
    check(&mut h, good.clone(), bad, Reject::OrderIdInUse);
    let mut bad = orders.clone();
    bad[1] = bad[0].clone();
    check(&mut h, good.clone(), bad, Reject::InvalidCorrection);
    let bad: Vec<RestoredOrder> = orders.iter().filter(|o| o.id == tp).cloned().collect();
    check(
        &mut h,
        with(&|p| p.stop_loss = None),
        bad,
        Reject::InvalidCorrection,
    );
    let mut bad = orders.clone();
    bad[0].kind = OrderKind::Market { slippage: None };
    check(
        &mut h,
        with(&|p| {
            p.take_profit = None;
            p.stop_loss = None;
        }),
        bad,
        Reject::InvalidCorrection,
    );
    let mut bad = orders.clone();
    bad[0].client_order_id = Some("not-mine".to_owned());
    check(&mut h, good.clone(), bad, Reject::InvalidCorrection);
    // An order id that works now.
    let (working, _) = h.place_one(
        a,
        h.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Limit { price: 140_000 },
        ),
    );
    let hash = everything(&h);
    let mut bad = orders.clone();
    bad[0].id = working.unwrap();
    let events = h.run(CommandKind::BackfillRestore {
        correction: correction(0),
        position: good.clone(),
        orders: bad,
    });
    assert_eq!(rejection(&events), Some(Reject::OrderIdInUse));
    assert_eq!(everything(&h), hash);
    // Restored once: the position id is in use for any other correction.
    let events = h.run(CommandKind::BackfillRestore {
        correction: correction(0),
        position: good.clone(),
        orders: orders.clone(),
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    let hash = everything(&h);
    let events = h.run(CommandKind::BackfillRestore {
        correction: correction(1),
        position: good,
        orders,
    });
    assert_eq!(rejection(&events), Some(Reject::PositionIdInUse));
    assert_eq!(everything(&h), hash);
    assert!(!h.engine.correction_applied(correction(1)));
    assert!(conserved(&h, a));
}

#[test]
fn a_netting_account_holding_the_other_side_now_cannot_get_the_position_back() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    let a = h.account(Currency::JPY, PositionMode::Netting, 1_000_000);
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a).pop().unwrap().id;
    let before = h.engine.clone();
    let events = h.market(a, USDJPY, Side::Sell, 20_000);
    let pnl = closed_pnl(&events, position);
    assert_eq!(h.positions(a).len(), 1, "now short");
    let hash = everything(&h);
    let events = h.run(restore_command(&before, position, pnl, 0));
    assert_eq!(rejection(&events), Some(Reject::CloseTargetMismatch));
    assert_eq!(everything(&h), hash);
}

#[test]
fn restored_orders_keep_their_client_ids_and_an_order_past_its_date_expires_at_once() {
    let (mut h, a) = funded();
    let (position, _, sl) = protected_long(&mut h, a);
    let closing = |h: &Harness, price, tif| OrderSpec {
        close_position: Some(position),
        time_in_force: tif,
        ..h.spec(USDJPY, Side::Sell, 10_000, OrderKind::Limit { price })
    };
    let soon = TimeInForce::GoodTillDate(h.time_ns + 10_000_000);
    let client = |h: &mut Harness, id: &str, spec| {
        let events = h.run(CommandKind::PlaceOrder {
            account: a,
            client_order_id: Some(id.to_owned()),
            request: OrderRequest::Single(spec),
        });
        accepted(&events)[0]
    };
    let spec = closing(&h, 152_000, TimeInForce::GoodTillCancelled);
    let keeps = client(&mut h, "keeps", spec);
    let spec = closing(&h, 153_000, soon);
    let lapses = client(&mut h, "lapses", spec);
    let before = h.engine.clone();
    let events = h.quote(USDJPY, 149_000, 149_005);
    let pnl = closed_pnl(&events, position);
    assert!(h.engine.finished_order(keeps).is_some());
    // Later than the short-dated order's date.
    for _ in 0..20 {
        h.quote(USDJPY, 150_100, 150_105);
    }
    let events = h.run(restore_command(&before, position, pnl, 0));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(expired(&events), vec![lapses]);
    assert!(h.engine.order(lapses).is_none());
    assert_eq!(h.engine.order(keeps), before.order(keeps));
    assert!(h.engine.order(sl).is_some());
    assert!(
        h.engine.finished_order(keeps).is_none(),
        "working again, not ended"
    );
    assert_eq!(
        h.engine.client_order(a, "keeps"),
        Some(&ClientOrderOutcome::Accepted(keeps))
    );
    let p = h.engine.position(position).unwrap();
    assert!(p.closing_orders.contains(&keeps) && !p.closing_orders.contains(&lapses));
    assert!(conserved(&h, a));
}

/// A buy stop with a client order id, placed and then filled by an off-market spike that opened
/// a position; returns the order, the state just before the spike and the opened position.
fn stop_filled_by_a_spike(h: &mut Harness, a: AccountId) -> (OrderId, Engine, PositionId) {
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Stop { price: 150_500 },
    );
    let events = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("breakout".to_owned()),
        request: OrderRequest::Single(spec),
    });
    let order = accepted(&events)[0];
    let before = h.engine.clone();
    let events = h.quote(USDJPY, 151_000, 151_005);
    assert_eq!(fills(&events), vec![(order, 10_000, 151_005)]);
    let opened = h.positions(a).pop().unwrap().id;
    // The market comes back below the stop.
    h.quote(USDJPY, 150_000, 150_005);
    (order, before, opened)
}

#[test]
fn a_stop_an_off_market_fill_used_up_waits_at_its_level_again_once() {
    let (mut h, a) = funded();
    let balance_before = h.balance(a);
    let (order, before, opened) = stop_filled_by_a_spike(&mut h, a);
    // The plan: the opened position closed at its own entry price (no P&L), then the stop back.
    let events = h.run(CommandKind::BackfillClose {
        correction: correction(0),
        position: opened,
        price: 151_005,
        at_ns: h.time_ns,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(h.balance(a), balance_before, "closed at entry: no P&L");
    let restored = before.restore_order_of(order).unwrap();
    assert_eq!(restored.order.client_order_id.as_deref(), Some("breakout"));
    let command = CommandKind::BackfillRestoreOrder {
        correction: correction(1),
        order: restored,
    };
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(events.contains(&Event::OrderRestored { order, account: a }));
    assert!(events.contains(&Event::CorrectionApplied {
        correction: correction(1)
    }));
    assert!(fills(&events).is_empty(), "the market is below the stop");
    // Same id, kind, level, qty, time in force, client id as before the spike.
    assert_eq!(h.engine.order(order), before.order(order));
    assert!(h.engine.finished_order(order).is_none());
    assert_eq!(
        h.engine.client_order(a, "breakout"),
        Some(&ClientOrderOutcome::Accepted(order))
    );
    assert!(h.positions(a).is_empty());
    assert_eq!(h.balance(a), balance_before);
    assert!(conserved(&h, a));

    // Applied once: the same item again is refused and changes nothing.
    applied_once(&mut h, command);

    // It works: a real move through the level fills it.
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert_eq!(fills(&events), vec![(order, 10_000, 150_605)]);
    assert!(conserved(&h, a));
}

#[test]
fn a_restored_stop_the_market_is_beyond_waits_while_halted_and_fires_at_the_resume() {
    let (mut h, a) = funded();
    let (order, before, opened) = stop_filled_by_a_spike(&mut h, a);
    h.run(CommandKind::BackfillClose {
        correction: correction(0),
        position: opened,
        price: 151_005,
        at_ns: h.time_ns,
    });
    h.run(CommandKind::Halt { instrument: None });
    h.quote(USDJPY, 150_700, 150_705);
    let events = h.run(CommandKind::BackfillRestoreOrder {
        correction: correction(1),
        order: before.restore_order_of(order).unwrap(),
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(fills(&events).is_empty(), "halted: nothing fires");
    let events = h.run(CommandKind::Resume { instrument: None });
    assert_eq!(fills(&events), vec![(order, 10_000, 150_705)]);
    assert!(conserved(&h, a));
}

#[test]
fn bad_order_restores_are_refused_with_a_reason_and_change_nothing() {
    let (mut h, a) = funded();
    let (order, before, _) = stop_filled_by_a_spike(&mut h, a);
    let good = before.restore_order_of(order).unwrap();
    let cases: Vec<(RestoredOpeningOrder, Reject)> = vec![
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    id: OrderId(9_999),
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::OrderIdInUse,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    id: OrderId(0),
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::OrderIdInUse,
        ),
        (
            RestoredOpeningOrder {
                account: AccountId(77),
                ..good.clone()
            },
            Reject::UnknownAccount,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    oco_peer: Some(order),
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::InvalidCorrection,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    client_order_id: Some("someone-else".to_owned()),
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::InvalidCorrection,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    kind: OrderKind::Market { slippage: None },
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::InvalidCorrection,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    time_in_force: TimeInForce::FillOrKill,
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::InvalidTimeInForce,
        ),
        (
            RestoredOpeningOrder {
                order: RestoredOrder {
                    qty: 0,
                    ..good.order.clone()
                },
                ..good.clone()
            },
            Reject::QtyOutOfRange,
        ),
    ];
    let state = everything(&h);
    for (i, (restored, reason)) in cases.into_iter().enumerate() {
        let events = h.run(CommandKind::BackfillRestoreOrder {
            correction: correction(20 + i as u32),
            order: restored,
        });
        assert_eq!(rejection(&events), Some(reason), "case {i}: {events:?}");
        assert_eq!(everything(&h), state, "case {i}");
    }
    // The good one works, and then its id is in use.
    let events = h.run(CommandKind::BackfillRestoreOrder {
        correction: correction(1),
        order: good.clone(),
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    let events = h.run(CommandKind::BackfillRestoreOrder {
        correction: correction(2),
        order: good,
    });
    assert_eq!(rejection(&events), Some(Reject::OrderIdInUse));
}

#[test]
fn only_a_lone_opening_order_can_be_described_for_a_restore() {
    let (mut h, a) = funded();
    let (_, tp, _) = protected_long(&mut h, a);
    // A take-profit closes a position: restored with its position, not alone.
    assert!(h.engine.restore_order_of(tp).is_none());
    assert!(h.engine.restore_order_of(OrderId(12_345)).is_none());
}

// ----- re-pricing an execution made after reopening ----------------------------------------

fn reprice(
    h: &Harness,
    position: PositionId,
    qty: Qty,
    from: Price,
    to: Price,
    realised_pnl_minor: Option<MoneyMinor>,
    item: u32,
) -> CommandKind {
    CommandKind::BackfillReprice {
        correction: correction(item),
        account: AccountId(1),
        instrument: h.id(USDJPY),
        position,
        qty,
        from,
        to,
        realised_pnl_minor,
    }
}

#[test]
fn an_open_position_a_late_stop_opened_gets_the_backfilled_entry_once_and_no_cash() {
    let (mut h, a) = funded();
    assert_eq!(a, AccountId(1));
    // The buy stop at 150.100 filled at the reopening gap, at 150.505.
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    assert_eq!(h.positions(a)[0].open_price, 150_005);
    h.run(CommandKind::Halt { instrument: None });
    let events = h.run(reprice(&h, position, 10_000, 150_005, 149_900, None, 0));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(events.contains(&Event::PositionRepriced {
        position,
        account: a,
        instrument: h.id(USDJPY),
        from: 150_005,
        to: 149_900,
    }));
    assert_eq!(h.positions(a)[0].open_price, 149_900);
    assert_eq!(h.balance(a), 1_000_000, "nothing booked now");
    assert_eq!(h.engine.account(a).unwrap().adjustments_minor, 0);
    // Closed at 150.000: (150.000 - 149.900) x 10,000 = 1,000 JPY, from the corrected entry.
    h.run(CommandKind::Resume { instrument: None });
    let events = h.run(CommandKind::ClosePosition {
        account: a,
        position,
        qty: None,
        slippage: None,
    });
    assert_eq!(closed_pnl(&events, position), 1_000);
    assert!(conserved(&h, a));
    // Applied once: the same item again is refused.
    let again = h.run(reprice(&h, position, 10_000, 150_005, 149_900, None, 0));
    assert_eq!(rejection(&again), Some(Reject::CorrectionAlreadyApplied));
}

#[test]
fn a_booked_execution_is_re_priced_as_realised_pnl_not_as_cash() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    // The stop-loss filled at the reopening gap (149.000); the plan backfills it at 149.500.
    h.quote(USDJPY, 149_000, 149_005);
    h.run(CommandKind::ClosePosition {
        account: a,
        position,
        qty: None,
        slippage: None,
    });
    let realised_before = h.engine.account(a).unwrap().realised_pnl_minor;
    let balance_before = h.balance(a);
    let events = h.run(reprice(
        &h,
        position,
        10_000,
        149_000,
        149_500,
        Some(5_000),
        1,
    ));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(events.contains(&Event::ExecutionRepriced {
        position,
        account: a,
        instrument: h.id(USDJPY),
        qty: 10_000,
        from: 149_000,
        to: 149_500,
        realised_pnl_minor: 5_000,
        balance_minor: balance_before + 5_000,
    }));
    let account = h.engine.account(a).unwrap();
    assert_eq!(account.realised_pnl_minor, realised_before + 5_000);
    assert_eq!(
        account.adjustments_minor, 0,
        "a rewrite, not a cash adjustment"
    );
    assert_eq!(h.balance(a), balance_before + 5_000);
    assert!(conserved(&h, a));
    let again = h.run(reprice(
        &h,
        position,
        10_000,
        149_000,
        149_500,
        Some(5_000),
        1,
    ));
    assert_eq!(rejection(&again), Some(Reject::CorrectionAlreadyApplied));
    assert_eq!(h.balance(a), balance_before + 5_000);
}

#[test]
fn a_worse_entry_is_valued_at_once_and_can_call_the_account() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    // 1,000,000 USD at 25x needs 6,000,000 JPY of margin; 6,100,000 deposited.
    let a = h.account(Currency::JPY, PositionMode::Hedging, 6_100_000);
    let events = h.market(a, USDJPY, Side::Buy, 1_000_000);
    assert_eq!(rejection(&events), None, "{events:?}");
    let position = h.positions(a)[0].id;
    // Re-priced 0.200 higher: -200,000 JPY unrealised, below the margin-call line.
    let events = h.run(reprice(&h, position, 1_000_000, 150_005, 150_205, None, 0));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::MarginCall { account, .. } if *account == a)),
        "{events:?}"
    );
}

#[test]
fn bad_re_pricings_are_refused_with_a_reason_and_change_nothing() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    let before = everything(&h);
    let cases = [
        // Not the price the execution got.
        (
            reprice(&h, position, 10_000, 150_000, 149_900, None, 0),
            Reject::InvalidCorrection,
        ),
        // Not the quantity the position holds.
        (
            reprice(&h, position, 5_000, 150_005, 149_900, None, 0),
            Reject::InvalidCorrection,
        ),
        // Nothing to correct.
        (
            reprice(&h, position, 10_000, 150_005, 150_005, None, 0),
            Reject::InvalidCorrection,
        ),
        (
            reprice(&h, position, 10_000, 150_005, 0, None, 0),
            Reject::InvalidPrice,
        ),
        (
            reprice(&h, position, 10_000, 150_005, 99_999_999, None, 0),
            Reject::PriceOffScale,
        ),
        (
            reprice(&h, position, -1, 150_005, 149_900, None, 0),
            Reject::QtyOutOfRange,
        ),
        // Never issued, or issued and closed with an entry re-price asked.
        (
            reprice(&h, PositionId(99), 10_000, 150_005, 149_900, None, 0),
            Reject::UnknownPosition,
        ),
        (
            reprice(&h, PositionId(99), 10_000, 150_005, 149_900, Some(1_000), 0),
            Reject::UnknownPosition,
        ),
        (
            reprice(&h, position, 10_000, 150_005, 149_900, Some(0), 0),
            Reject::NonPositiveAmount,
        ),
        (
            reprice(&h, position, 10_000, 150_005, 149_900, Some(i64::MAX), 0),
            Reject::AmountTooLarge,
        ),
    ];
    for (command, reason) in cases {
        let events = h.run(command.clone());
        assert_eq!(rejection(&events), Some(reason), "{command:?}");
        assert_eq!(everything(&h), before, "{command:?} changed something");
    }
    // Another account's position, and an unknown account.
    let other = h.account(Currency::JPY, PositionMode::Hedging, 1_000_000);
    let mut wrong_account = reprice(&h, position, 10_000, 150_005, 149_900, None, 0);
    if let CommandKind::BackfillReprice { account, .. } = &mut wrong_account {
        *account = other;
    }
    assert_eq!(
        rejection(&h.run(wrong_account)),
        Some(Reject::InvalidCorrection)
    );
    let mut unknown = reprice(&h, position, 10_000, 150_005, 149_900, Some(100), 0);
    if let CommandKind::BackfillReprice { account, .. } = &mut unknown {
        *account = AccountId(12_345);
    }
    assert_eq!(rejection(&h.run(unknown)), Some(Reject::UnknownAccount));
    assert!(!h.engine.correction_applied(correction(0)));
}

// ----- putting back a linked group an off-market fill used up ------------------------------

/// 10,000 USD/JPY.
fn lot(h: &Harness, side: Side, kind: OrderKind) -> OrderSpec {
    h.spec(USDJPY, side, 10_000, kind)
}

/// Places `request` (its first order under client order id "group"), then an off-market spike
/// to 151.000/151.005 fills its first order, opening a position; the market comes back to
/// 150.000. Returns the accepted ids, the state just before the spike and the opened position.
fn group_filled_by_a_spike(
    h: &mut Harness,
    a: AccountId,
    request: OrderRequest,
) -> (Vec<OrderId>, Engine, PositionId) {
    let events = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("group".to_owned()),
        request,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    let ids = accepted(&events);
    let before = h.engine.clone();
    let events = h.quote(USDJPY, 151_000, 151_005);
    assert_eq!(fills(&events), vec![(ids[0], 10_000, 151_005)]);
    let opened = h.positions(a).pop().unwrap().id;
    h.quote(USDJPY, 150_000, 150_005);
    (ids, before, opened)
}

/// The plan's first command: the opened position closed at its own entry price (no P&L).
fn close_at_entry(h: &mut Harness, opened: PositionId) {
    let events = h.run(CommandKind::BackfillClose {
        correction: correction(0),
        position: opened,
        price: 151_005,
        at_ns: h.time_ns,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
}

/// A funded account whose `request` a spike filled, with the opened position closed at its
/// entry; returns the accepted ids and the state just before the spike.
fn spiked_and_closed(
    request: fn(&Harness) -> OrderRequest,
) -> (Harness, AccountId, Vec<OrderId>, Engine) {
    let (mut h, a) = funded();
    let request = request(&h);
    let (ids, before, opened) = group_filled_by_a_spike(&mut h, a, request);
    close_at_entry(&mut h, opened);
    (h, a, ids, before)
}

fn restore_group(orders: Vec<RestoredLinkedOrder>, item: u32) -> CommandKind {
    CommandKind::BackfillRestoreOrders {
        correction: correction(item),
        orders,
    }
}

/// Applies `kind` at the engine's own time (so the clock does not move) and returns its
/// refusal, after checking that the state hash did not change.
fn refused_unchanged(h: &mut Harness, kind: CommandKind) -> Option<Reject> {
    let hash = h.engine.state_hash();
    let events = h.engine.apply(&Command {
        time_ns: h.engine.now_ns(),
        kind,
    });
    assert_eq!(h.engine.state_hash(), hash, "the state changed: {events:?}");
    rejection(&events)
}

/// A buy stop at 150.500 (client order id "group") OCO a buy limit at 149.500.
fn bracket(h: &Harness) -> OrderRequest {
    OrderRequest::Oco(
        lot(h, Side::Buy, OrderKind::Stop { price: 150_500 }),
        lot(h, Side::Buy, OrderKind::Limit { price: 149_500 }),
    )
}

/// An IFD: a buy stop at 150.500, then a sell stop at 149.000 (the stop-loss of what it opens).
fn ifd(h: &Harness) -> OrderRequest {
    OrderRequest::Ifd {
        first: lot(h, Side::Buy, OrderKind::Stop { price: 150_500 }),
        then: lot(h, Side::Sell, OrderKind::Stop { price: 149_000 }),
    }
}

/// An IFO: a buy stop at 150.500, then a sell limit at 151.500 OCO a sell stop at 149.000.
fn ifo(h: &Harness) -> OrderRequest {
    OrderRequest::Ifo {
        first: lot(h, Side::Buy, OrderKind::Stop { price: 150_500 }),
        then_a: lot(h, Side::Sell, OrderKind::Limit { price: 151_500 }),
        then_b: lot(h, Side::Sell, OrderKind::Stop { price: 149_000 }),
    }
}

/// Every order of `ids` is exactly as it was in `before` (same kind, level, quantity, time in
/// force, placement time, client order id, links, active or waiting).
fn as_before(h: &Harness, before: &Engine, ids: &[OrderId]) {
    for id in ids {
        assert!(before.order(*id).is_some());
        assert_eq!(h.engine.order(*id), before.order(*id), "order {id}");
        assert!(h.engine.finished_order(*id).is_none(), "order {id}");
    }
}

#[test]
fn an_oco_pair_an_off_market_fill_used_up_waits_again_linked_once() {
    let (mut h, a) = funded();
    let balance_before = h.balance(a);
    let request = bracket(&h);
    let (ids, before, opened) = group_filled_by_a_spike(&mut h, a, request);
    let (leg, peer) = (ids[0], ids[1]);
    assert!(
        h.engine.order(peer).is_none(),
        "the fill cancelled its peer"
    );
    close_at_entry(&mut h, opened);
    let group = before.restore_orders_of(leg).unwrap();
    assert_eq!(group.len(), 2);
    assert!(before.restore_order_of(leg).is_none(), "not a lone order");
    let command = restore_group(group, 1);
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(events.contains(&Event::OrderRestored {
        order: leg,
        account: a
    }));
    assert!(events.contains(&Event::OrderRestored {
        order: peer,
        account: a
    }));
    as_before(&h, &before, &ids);
    assert_eq!(h.engine.order(leg).unwrap().oco_peer, Some(peer));
    assert_eq!(
        h.engine.client_order(a, "group"),
        Some(&ClientOrderOutcome::Accepted(leg))
    );
    assert_eq!(h.engine.account(a).unwrap().orders.len(), 2);
    assert_eq!(h.balance(a), balance_before);
    assert!(conserved(&h, a));

    // Applied once.
    assert_eq!(
        refused_unchanged(&mut h, command),
        Some(Reject::CorrectionAlreadyApplied)
    );

    // The normal OCO rule: a real move through the stop fills it and cancels the limit.
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert_eq!(fills(&events), vec![(leg, 10_000, 150_605)]);
    assert_eq!(
        cancelled(&events),
        vec![(peer, CancelReason::OcoPeerFilled)]
    );
    assert!(h.engine.order(peer).is_none());
}

#[test]
fn an_ifd_parent_comes_back_working_with_its_child_waiting_for_it_again() {
    let (mut h, a) = funded();
    let request = ifd(&h);
    let (ids, before, opened) = group_filled_by_a_spike(&mut h, a, request);
    let (parent, child) = (ids[0], ids[1]);
    // The fill made the child the stop-loss order of the opened position.
    let activated = h.engine.order(child).unwrap();
    assert!(activated.active && activated.close_position == Some(opened));
    let group = before.restore_orders_of(parent).unwrap();
    // The child works now: the group cannot come back before the position is closed.
    assert_eq!(
        refused_unchanged(&mut h, restore_group(group.clone(), 1)),
        Some(Reject::OrderIdInUse)
    );
    close_at_entry(&mut h, opened);
    assert!(h.engine.order(child).is_none(), "removed with the position");
    let command = restore_group(group, 1);
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    as_before(&h, &before, &ids);
    let waiting = h.engine.order(child).unwrap();
    assert!(!waiting.active && waiting.parent == Some(parent));
    assert_eq!(h.engine.order(parent).unwrap().children, vec![child]);
    // Exactly once each.
    assert_eq!(h.engine.account(a).unwrap().orders.len(), 2);
    assert_eq!(h.engine.orders().filter(|o| o.id == child).count(), 1);
    assert!(conserved(&h, a));
    assert_eq!(
        refused_unchanged(&mut h, command),
        Some(Reject::CorrectionAlreadyApplied)
    );

    // The child waits: a quote through its level does nothing before the parent fills.
    let events = h.quote(USDJPY, 148_900, 148_905);
    assert!(fills(&events).is_empty(), "{events:?}");
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert_eq!(fills(&events), vec![(parent, 10_000, 150_605)]);
    assert!(events.contains(&Event::OrderActivated { order: child }));
    let events = h.quote(USDJPY, 148_900, 148_905);
    assert_eq!(fills(&events), vec![(child, 10_000, 148_900)]);
    assert!(h.positions(a).is_empty());
    assert!(conserved(&h, a));
}

#[test]
fn an_ifo_parent_comes_back_with_its_oco_children_waiting_and_linked() {
    let (mut h, a) = funded();
    let request = ifo(&h);
    let (ids, before, opened) = group_filled_by_a_spike(&mut h, a, request);
    let (parent, take, stop) = (ids[0], ids[1], ids[2]);
    close_at_entry(&mut h, opened);
    assert!(h.engine.order(take).is_none() && h.engine.order(stop).is_none());
    let group = before.restore_orders_of(parent).unwrap();
    assert_eq!(group.len(), 3);
    let command = restore_group(group, 1);
    let events = h.run(command.clone());
    assert_eq!(rejection(&events), None, "{events:?}");
    as_before(&h, &before, &ids);
    assert_eq!(h.engine.order(parent).unwrap().children, vec![take, stop]);
    assert_eq!(h.engine.order(take).unwrap().oco_peer, Some(stop));
    assert_eq!(h.engine.order(stop).unwrap().oco_peer, Some(take));
    assert!(!h.engine.order(take).unwrap().active && !h.engine.order(stop).unwrap().active);
    assert_eq!(h.engine.account(a).unwrap().orders.len(), 3);
    assert_eq!(
        refused_unchanged(&mut h, command),
        Some(Reject::CorrectionAlreadyApplied)
    );

    // Nothing fires before the parent; then its children work as an OCO pair.
    let events = h.quote(USDJPY, 148_900, 148_905);
    assert!(fills(&events).is_empty(), "{events:?}");
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert_eq!(fills(&events), vec![(parent, 10_000, 150_605)]);
    assert!(events.contains(&Event::OrderActivated { order: take }));
    assert!(events.contains(&Event::OrderActivated { order: stop }));
    let events = h.quote(USDJPY, 151_600, 151_605);
    assert_eq!(fills(&events), vec![(take, 10_000, 151_600)]);
    assert_eq!(
        cancelled(&events),
        vec![(stop, CancelReason::OcoPeerFilled)]
    );
    assert!(h.positions(a).is_empty());
    assert!(conserved(&h, a));
}

#[test]
fn a_restored_oco_pair_the_market_is_beyond_on_both_sides_fills_one_leg_only() {
    let (mut h, a) = funded();
    // A buy stop at 150.400 OCO a sell limit at 150.500: a quote above both reaches both.
    let request = OrderRequest::Oco(
        lot(&h, Side::Buy, OrderKind::Stop { price: 150_400 }),
        lot(&h, Side::Sell, OrderKind::Limit { price: 150_500 }),
    );
    let (ids, before, opened) = group_filled_by_a_spike(&mut h, a, request);
    close_at_entry(&mut h, opened);
    h.run(CommandKind::Halt { instrument: None });
    h.quote(USDJPY, 150_600, 150_605);
    let group = before.restore_orders_of(ids[0]).unwrap();
    let events = h.run(restore_group(group, 1));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert!(fills(&events).is_empty(), "halted: nothing fires");
    let events = h.run(CommandKind::Resume { instrument: None });
    assert_eq!(fills(&events), vec![(ids[0], 10_000, 150_605)]);
    assert_eq!(
        cancelled(&events),
        vec![(ids[1], CancelReason::OcoPeerFilled)]
    );
    assert_eq!(h.positions(a).len(), 1, "never both legs");
    assert!(h.engine.account(a).unwrap().orders.is_empty());
    assert!(conserved(&h, a));
}

#[test]
fn a_restored_group_whose_date_passed_expires_whole() {
    let (mut h, a) = funded();
    // It lapses between the spike and the restore.
    let until = h.time_ns + 2_500_000;
    let mut stop = lot(&h, Side::Buy, OrderKind::Stop { price: 150_500 });
    stop.time_in_force = TimeInForce::GoodTillDate(until);
    let then = lot(&h, Side::Sell, OrderKind::Stop { price: 149_000 });
    let (ids, before, opened) =
        group_filled_by_a_spike(&mut h, a, OrderRequest::Ifd { first: stop, then });
    close_at_entry(&mut h, opened);
    assert!(h.time_ns > until);
    let events = h.run(restore_group(before.restore_orders_of(ids[0]).unwrap(), 1));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(expired(&events), vec![ids[0], ids[1]]);
    assert!(h.engine.account(a).unwrap().orders.is_empty());
    assert!(h.engine.correction_applied(correction(1)));
}

/// `group` with every mention of order `from` renamed `to`.
fn renamed(group: &[RestoredLinkedOrder], from: OrderId, to: OrderId) -> Vec<RestoredLinkedOrder> {
    let rename = |id: OrderId| if id == from { to } else { id };
    group
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.order.order.id = rename(o.order.order.id);
            o.order.order.oco_peer = o.order.order.oco_peer.map(rename);
            o.parent = o.parent.map(rename);
            o.children = o.children.iter().copied().map(rename).collect();
            o
        })
        .collect()
}

/// `group` with order `i` changed by `f`.
fn edit(
    group: &[RestoredLinkedOrder],
    i: usize,
    f: &dyn Fn(&mut RestoredLinkedOrder),
) -> Vec<RestoredLinkedOrder> {
    let mut group = group.to_vec();
    f(&mut group[i]);
    group
}

fn assert_refused(h: &mut Harness, cases: Vec<(&str, Vec<RestoredLinkedOrder>, Reject)>) {
    for (what, orders, reason) in cases {
        assert_eq!(
            refused_unchanged(h, restore_group(orders, 1)),
            Some(reason),
            "{what}"
        );
    }
}

#[test]
fn bad_oco_pair_restores_are_refused_with_a_reason_and_change_nothing() {
    let (mut h, _, ids, before) = spiked_and_closed(bracket);
    let pair = before.restore_orders_of(ids[0]).unwrap();
    let (leg, peer) = (ids[0], ids[1]);
    let cases: Vec<(&str, Vec<RestoredLinkedOrder>, Reject)> = vec![
        ("empty", vec![], Reject::InvalidCorrection),
        (
            "never issued",
            renamed(&pair, peer, OrderId(9_999)),
            Reject::OrderIdInUse,
        ),
        (
            "id zero",
            renamed(&pair, leg, OrderId(0)),
            Reject::OrderIdInUse,
        ),
        (
            "peer not pointing back",
            edit(&pair, 1, &|o| o.order.order.oco_peer = None),
            Reject::InvalidCorrection,
        ),
        (
            "peer pointing elsewhere",
            edit(&pair, 1, &|o| o.order.order.oco_peer = Some(OrderId(9_999))),
            Reject::InvalidCorrection,
        ),
        (
            "one leg alone",
            pair[..1].to_vec(),
            Reject::InvalidCorrection,
        ),
        (
            "a leg twice",
            vec![pair[0].clone(), pair[0].clone()],
            Reject::InvalidCorrection,
        ),
        (
            "a leg with a child",
            edit(&pair, 0, &|o| o.children = vec![peer]),
            Reject::InvalidCorrection,
        ),
        (
            "another account",
            edit(&pair, 1, &|o| o.order.account = AccountId(77)),
            Reject::InvalidCorrection,
        ),
        (
            "unknown account",
            pair.iter()
                .map(|o| {
                    let mut o = o.clone();
                    o.order.account = AccountId(77);
                    o
                })
                .collect(),
            Reject::UnknownAccount,
        ),
        (
            "a market order",
            edit(&pair, 1, &|o| {
                o.order.order.kind = OrderKind::Market { slippage: None }
            }),
            Reject::InvalidCorrection,
        ),
        (
            "immediate or cancel",
            edit(&pair, 1, &|o| {
                o.order.order.time_in_force = TimeInForce::ImmediateOrCancel
            }),
            Reject::InvalidTimeInForce,
        ),
        (
            "fill or kill",
            edit(&pair, 0, &|o| {
                o.order.order.time_in_force = TimeInForce::FillOrKill
            }),
            Reject::InvalidTimeInForce,
        ),
        (
            "a client order id used for the other leg",
            edit(
                &edit(&pair, 0, &|o| o.order.order.client_order_id = None),
                1,
                &|o| o.order.order.client_order_id = Some("group".to_owned()),
            ),
            Reject::InvalidCorrection,
        ),
        (
            "a client order id never used",
            edit(&pair, 0, &|o| {
                o.order.order.client_order_id = Some("someone-else".to_owned())
            }),
            Reject::InvalidCorrection,
        ),
        (
            "a leg waiting for its peer",
            edit(&pair, 1, &|o| o.parent = Some(leg)),
            Reject::InvalidCorrection,
        ),
    ];
    assert_refused(&mut h, cases);
    // The good one works; then its ids are in use.
    let events = h.run(restore_group(pair.clone(), 1));
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(
        refused_unchanged(&mut h, restore_group(pair, 3)),
        Some(Reject::OrderIdInUse)
    );
}

#[test]
fn bad_ifd_and_ifo_restores_are_refused_with_a_reason_and_change_nothing() {
    let (mut h, a, ids, before) = spiked_and_closed(ifo);
    let (parent, take, stop) = (ids[0], ids[1], ids[2]);
    let group = before.restore_orders_of(parent).unwrap();
    // A lone order working now, under another client order id.
    let (other, _) = h.place_one(a, lot(&h, Side::Sell, OrderKind::Limit { price: 152_000 }));
    let other = other.unwrap();
    let cases: Vec<(&str, Vec<RestoredLinkedOrder>, Reject)> = vec![
        (
            "a child working now",
            renamed(&group, stop, other),
            Reject::OrderIdInUse,
        ),
        (
            "a child never issued",
            renamed(&group, take, OrderId(9_999)),
            Reject::OrderIdInUse,
        ),
        (
            "a child naming another parent",
            edit(&group, 1, &|o| o.parent = Some(other)),
            Reject::InvalidCorrection,
        ),
        (
            "a child naming no parent",
            edit(&group, 2, &|o| o.parent = None),
            Reject::InvalidCorrection,
        ),
        (
            "a parent not listing a child",
            edit(&group, 0, &|o| o.children = vec![take]),
            Reject::InvalidCorrection,
        ),
        (
            "a parent listing a child twice",
            edit(&group, 0, &|o| o.children = vec![take, take]),
            Reject::InvalidCorrection,
        ),
        (
            "children not each other's peer",
            edit(
                &edit(&group, 1, &|o| o.order.order.oco_peer = None),
                2,
                &|o| o.order.order.oco_peer = None,
            ),
            Reject::InvalidCorrection,
        ),
        (
            "a parent with a peer",
            edit(&group, 0, &|o| o.order.order.oco_peer = Some(take)),
            Reject::InvalidCorrection,
        ),
        (
            "a parent alone",
            group[..1].to_vec(),
            Reject::InvalidCorrection,
        ),
        (
            "children alone",
            group[1..].to_vec(),
            Reject::InvalidCorrection,
        ),
        (
            "a triggered child",
            edit(&group, 2, &|o| {
                o.order.order.kind = OrderKind::StopLimit {
                    stop: 149_000,
                    limit: 148_900,
                };
                o.order.order.stop_reached = true;
            }),
            Reject::InvalidCorrection,
        ),
        (
            "a market child",
            edit(&group, 1, &|o| {
                o.order.order.kind = OrderKind::Market { slippage: None }
            }),
            Reject::InvalidCorrection,
        ),
        (
            "another instrument",
            edit(&group, 1, &|o| o.order.instrument = InstrumentId(1)),
            Reject::InvalidCorrection,
        ),
        (
            "four orders",
            vec![
                group[0].clone(),
                group[1].clone(),
                group[2].clone(),
                group[2].clone(),
            ],
            Reject::InvalidCorrection,
        ),
        (
            "the parent's client order id on a child",
            edit(
                &edit(&group, 0, &|o| o.order.order.client_order_id = None),
                1,
                &|o| o.order.order.client_order_id = Some("group".to_owned()),
            ),
            Reject::InvalidCorrection,
        ),
    ];
    assert_refused(&mut h, cases);
    // The IFD shape: the parent with one child, that child then has no peer.
    let ifd_shape = vec![
        edit(&group, 0, &|o| o.children = vec![take])[0].clone(),
        edit(&group, 1, &|o| o.order.order.oco_peer = None)[1].clone(),
    ];
    let events = h.run(restore_group(ifd_shape, 1));
    assert_eq!(rejection(&events), None, "a valid IFD: {events:?}");
    // Applied: the same item again is refused whatever it carries.
    assert_eq!(
        refused_unchanged(&mut h, restore_group(group, 1)),
        Some(Reject::CorrectionAlreadyApplied)
    );
}

#[test]
fn a_group_restore_is_refused_at_the_account_order_limit() {
    let (mut h, a, ids, before) = spiked_and_closed(bracket);
    // Fill the account up to one below its limit: the pair does not fit.
    while h.engine.account(a).unwrap().orders.len() + 1 < limits::ORDERS_PER_ACCOUNT_MAX {
        let (order, events) = h.place_one(
            a,
            h.spec(
                USDJPY,
                Side::Sell,
                1_000,
                OrderKind::Limit { price: 160_000 },
            ),
        );
        assert!(order.is_some(), "{events:?}");
    }
    let pair = before.restore_orders_of(ids[0]).unwrap();
    assert_eq!(
        refused_unchanged(&mut h, restore_group(pair.clone(), 1)),
        Some(Reject::TooManyOrders)
    );
    // One more free slot is enough.
    let last = *h.engine.account(a).unwrap().orders.iter().last().unwrap();
    h.run(CommandKind::CancelOrder {
        account: a,
        order: last,
    });
    let events = h.run(restore_group(pair, 1));
    assert_eq!(rejection(&events), None, "{events:?}");
}

/// A working order of `account` as a restore describes it, waiting for `parent` or not.
fn linked(
    account: AccountId,
    spec: &OrderSpec,
    id: OrderId,
    placed_ns: TimeNs,
    parent: Option<OrderId>,
    children: Vec<OrderId>,
) -> RestoredLinkedOrder {
    RestoredLinkedOrder {
        order: RestoredOpeningOrder {
            account,
            instrument: spec.instrument,
            side: spec.side,
            order: RestoredOrder {
                id,
                client_order_id: None,
                qty: spec.qty,
                kind: spec.kind,
                time_in_force: spec.time_in_force,
                placed_ns,
                stop_reached: false,
                oco_peer: None,
            },
        },
        parent,
        children,
    }
}

/// An IFD whose waiting child the customer cancelled (its parent still names it), and another
/// order, cancelled too. Returns the old parent, the child, the other order and its spec.
fn cancelled_child_and_order(
    h: &mut Harness,
    a: AccountId,
) -> (OrderId, OrderId, OrderId, OrderSpec) {
    let events = h.place(a, ifd(h));
    let (old_parent, child) = (accepted(&events)[0], accepted(&events)[1]);
    let events = h.run(CommandKind::CancelOrder {
        account: a,
        order: child,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    assert_eq!(h.engine.order(old_parent).unwrap().children, vec![child]);
    let first = lot(h, Side::Buy, OrderKind::Limit { price: 149_500 });
    let other = h.place_one(a, first.clone()).0.unwrap();
    h.run(CommandKind::CancelOrder {
        account: a,
        order: other,
    });
    (old_parent, child, other, first)
}

#[test]
fn a_child_its_first_parent_still_names_is_not_activated_or_dropped_by_that_parent() {
    for old_parent_fills in [true, false] {
        let (mut h, a) = funded();
        let (old_parent, child, new_parent, first) = cancelled_child_and_order(&mut h, a);
        // The child's id comes back waiting for another parent.
        let then = lot(&h, Side::Sell, OrderKind::Stop { price: 149_000 });
        let placed = h.engine.now_ns();
        let events = h.run(restore_group(
            vec![
                linked(a, &first, new_parent, placed, None, vec![child]),
                linked(a, &then, child, placed, Some(new_parent), vec![]),
            ],
            1,
        ));
        assert_eq!(rejection(&events), None, "{events:?}");
        let events = if old_parent_fills {
            let events = h.quote(USDJPY, 150_600, 150_605);
            assert_eq!(fills(&events), vec![(old_parent, 10_000, 150_605)]);
            assert!(h.positions(a)[0].closing_orders.is_empty());
            events
        } else {
            h.run(CommandKind::CancelOrder {
                account: a,
                order: old_parent,
            })
        };
        // The child waits for its new parent, untouched.
        let waiting = h.engine.order(child).unwrap();
        assert!(
            !waiting.active && waiting.parent == Some(new_parent),
            "{waiting:?} {events:?}"
        );
        // Cancelling the new parent takes its child along, exactly once.
        let events = h.run(CommandKind::CancelOrder {
            account: a,
            order: new_parent,
        });
        assert_eq!(
            cancelled(&events),
            vec![
                (new_parent, CancelReason::ByCustomer),
                (child, CancelReason::ParentCancelled)
            ]
        );
    }
}

#[test]
fn a_lone_order_its_first_parent_still_names_is_not_activated_by_that_parent() {
    let (mut h, a) = funded();
    let (old_parent, child, _, _) = cancelled_child_and_order(&mut h, a);
    let then = lot(&h, Side::Sell, OrderKind::Stop { price: 149_000 });
    let placed = h.engine.now_ns();
    let events = h.run(CommandKind::BackfillRestoreOrder {
        correction: correction(1),
        order: linked(a, &then, child, placed, None, vec![]).order,
    });
    assert_eq!(rejection(&events), None, "{events:?}");
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert_eq!(fills(&events), vec![(old_parent, 10_000, 150_605)]);
    assert!(!events.contains(&Event::OrderActivated { order: child }));
    // Still a lone opening order, resting once.
    let lone = h.engine.order(child).unwrap();
    assert!(lone.active && lone.close_position.is_none(), "{lone:?}");
    let position = h.positions(a)[0].id;
    assert!(h.positions(a)[0].closing_orders.is_empty());
    let events = h.quote(USDJPY, 148_900, 148_905);
    assert_eq!(fills(&events), vec![(child, 10_000, 148_900)]);
    assert!(
        h.engine.position(position).is_some(),
        "hedging: the sell opened its own"
    );
    assert!(conserved(&h, a));
}
