//! Scenarios for the outage-backfill corrections: fill at an approved price, close a position
//! at a back-dated price, book cash; each applies once.

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
