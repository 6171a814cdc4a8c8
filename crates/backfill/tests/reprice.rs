//! Re-pricing executions made after reopening at a rate the policy says is wrong, with
//! `correction.reprice = "rewrite"`: the execution itself is re-priced (the open position's
//! entry, or the realised P&L of an execution booked already), not paid in cash; where a
//! rewrite does not fit, cash with the reason. Each applied once, through the real journal.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_backfill::plan::CorrectionKind;
use fxdesk_backfill::policy::CorrectionMode;
use fxdesk_backfill::{apply, Plan, Policy};
use fxdesk_engine::*;

fn rewrite_policy() -> Policy {
    let mut policy = Policy::default();
    policy.correction.reprice = CorrectionMode::Rewrite;
    policy
}

/// A buy stop at 150.100 working at T0; the window's first tick beyond is 150.305; the server
/// comes back at T0+60min without halting and the stop fills at the reopening ask 150.505.
fn stop_filled_at_the_gap() -> (Desk, AccountId, OrderId, PositionId, std::path::PathBuf) {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    let stop = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Stop { price: 150_100 },
        ),
    );
    desk.quote_at(T0, USDJPY, 150_010, 150_015);
    let ticks = write_ticks(
        desk.dir.path(),
        "window.csv",
        desk.engine(),
        &[
            (T0 + 5 * MINUTE, USDJPY, 150_050, 150_055),
            (T0 + 10 * MINUTE, USDJPY, 150_300, 150_305),
            (T0 + 20 * MINUTE, USDJPY, 150_400, 150_405),
        ],
    );
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 150_500, 150_505);
    let position = desk.engine().positions_of(a)[0].id;
    assert_eq!(desk.engine().positions_of(a)[0].open_price, 150_505);
    (desk, a, stop, position, ticks)
}

fn conserved(engine: &Engine, a: AccountId) {
    let x = engine.account(a).unwrap();
    assert_eq!(
        x.balance_minor,
        x.deposited_minor - x.withdrawn_minor
            + x.realised_pnl_minor
            + x.swaps_booked_minor
            + x.adjustments_minor
    );
}

/// Applies twice: the second run writes nothing.
fn apply_once(plan: &Plan, desk: &Desk) {
    let first = apply(plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    assert!(first.executed > 0, "{first:?}");
    let again = apply(plan, &desk.journal_dir(), None, fresh, T0 + 71 * MINUTE).unwrap();
    assert_eq!(again.executed, 0, "{again:?}");
}

#[test]
fn a_stop_filled_at_the_reopening_gap_gets_the_backfilled_entry_price_and_no_cash() {
    let (mut desk, a, stop, position, ticks) = stop_filled_at_the_gap();
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, rewrite_policy());
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode, c.order, c.position),
        (
            CorrectionKind::Reprice,
            CorrectionMode::Rewrite,
            Some(stop.0),
            Some(position.0)
        )
    );
    // (150.505 - 150.305) x 10,000 = 2,000 JPY in the customer's favour, in the position.
    assert_eq!(c.difference_minor, 2_000);
    assert!(
        matches!(
            c.commands.as_slice(),
            [CommandKind::BackfillReprice {
                position: p,
                qty: 10_000,
                from: 150_505,
                to: 150_305,
                realised_pnl_minor: None,
                ..
            }] if *p == position
        ),
        "{:?}",
        c.commands
    );
    assert!(c.note.contains("entry price is re-priced"), "{}", c.note);
    assert_eq!(plan.customers[0].cash_minor, 0, "no cash moves");
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    assert_eq!(after.position(position).unwrap().open_price, 150_305);
    let account = after.account(a).unwrap();
    assert_eq!(
        (account.balance_minor, account.adjustments_minor),
        (1_000_000, 0)
    );
    conserved(&after, a);
}

#[test]
fn a_position_closed_since_gets_the_difference_as_realised_pnl_of_the_execution() {
    let (mut desk, a, _, position, ticks) = stop_filled_at_the_gap();
    desk.quote_at(T0 + 62 * MINUTE, USDJPY, 150_600, 150_605);
    desk.run(CommandKind::ClosePosition {
        account: a,
        position,
        qty: None,
        slippage: None,
    });
    // (150.600 - 150.505) x 10,000 = 950 JPY booked at the close.
    assert_eq!(desk.engine().account(a).unwrap().realised_pnl_minor, 950);
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, rewrite_policy());
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode),
        (CorrectionKind::Reprice, CorrectionMode::Rewrite)
    );
    assert!(
        matches!(
            c.commands.as_slice(),
            [CommandKind::BackfillReprice {
                realised_pnl_minor: Some(2_000),
                from: 150_505,
                to: 150_305,
                ..
            }]
        ),
        "{:?}",
        c.commands
    );
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    let account = after.account(a).unwrap();
    assert_eq!(account.realised_pnl_minor, 2_950, "as if bought at 150.305");
    assert_eq!(account.adjustments_minor, 0, "a rewrite, not cash");
    assert_eq!(account.balance_minor, 1_002_950);
    conserved(&after, a);
}

#[test]
fn a_position_closed_in_part_since_is_re_priced_in_cash_and_the_plan_says_why() {
    let (mut desk, a, _, position, ticks) = stop_filled_at_the_gap();
    desk.run(CommandKind::ClosePosition {
        account: a,
        position,
        qty: Some(4_000),
        slippage: None,
    });
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, rewrite_policy());
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode),
        (CorrectionKind::Reprice, CorrectionMode::Cash)
    );
    assert!(c.note.contains("partly closed"), "{}", c.note);
    assert!(matches!(
        c.commands.as_slice(),
        [CommandKind::CashAdjustment {
            amount_minor: 2_000,
            ..
        }]
    ));
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    assert_eq!(after.account(a).unwrap().adjustments_minor, 2_000);
    assert_eq!(after.position(position).unwrap().open_price, 150_505);
}

#[test]
fn the_default_policy_still_re_prices_in_cash() {
    let (mut desk, a, _, position, ticks) = stop_filled_at_the_gap();
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, Policy::default());
    let c = &plan.corrections[0];
    assert_eq!(c.mode, CorrectionMode::Cash);
    assert!(matches!(
        c.commands.as_slice(),
        [CommandKind::CashAdjustment {
            amount_minor: 2_000,
            ..
        }]
    ));
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    assert_eq!(after.account(a).unwrap().balance_minor, 1_002_000);
    assert_eq!(after.position(position).unwrap().open_price, 150_505);
}

#[test]
fn a_stop_loss_filled_at_the_reopening_gap_re_prices_the_close_it_made() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Market { slippage: None },
        ),
    );
    let position = desk.engine().positions_of(a)[0].id;
    let events = desk.run(CommandKind::SetProtection {
        account: a,
        position,
        take_profit: None,
        stop_loss: Some(149_500),
    });
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected(_))),
        "{events:?}"
    );
    desk.quote_at(T0, USDJPY, 150_000, 150_005);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[
            (T0 + 5 * MINUTE, USDJPY, 149_600, 149_605),
            (T0 + 10 * MINUTE, USDJPY, 149_400, 149_405),
        ],
    );
    // Back without a halt at 149.000: the stop-loss fills at the gap.
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 149_000, 149_005);
    assert!(desk.engine().positions_of(a).is_empty());
    let realised = desk.engine().account(a).unwrap().realised_pnl_minor;
    assert_eq!(realised, -10_050, "(149.000 - 150.005) x 10,000");
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, rewrite_policy());
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode, c.order_kind.as_str()),
        (
            CorrectionKind::Reprice,
            CorrectionMode::Rewrite,
            "stop_loss"
        )
    );
    // First tick beyond 149.500 is 149.400: (149.400 - 149.000) x 10,000 = 4,000 JPY.
    assert!(
        matches!(
            c.commands.as_slice(),
            [CommandKind::BackfillReprice {
                position: p,
                realised_pnl_minor: Some(4_000),
                from: 149_000,
                to: 149_400,
                ..
            }] if *p == position
        ),
        "{:?}",
        c.commands
    );
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    let account = after.account(a).unwrap();
    assert_eq!(account.realised_pnl_minor, -6_050);
    assert_eq!(account.adjustments_minor, 0);
    conserved(&after, a);
}

#[test]
fn a_loss_cut_made_at_reopening_is_re_priced_to_the_back_dated_tick() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 700_000);
    desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            100_000,
            OrderKind::Market { slippage: None },
        ),
    );
    let position = desk.engine().positions_of(a)[0].id;
    desk.quote_at(T0, USDJPY, 150_000, 150_005);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[
            (T0 + 5 * MINUTE, USDJPY, 148_000, 148_005),
            (T0 + 10 * MINUTE, USDJPY, 145_900, 145_905),
            (T0 + 15 * MINUTE, USDJPY, 145_000, 145_005),
        ],
    );
    // Back without a halt at 144.000: the engine cuts the account there.
    let events = desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 144_000, 144_005);
    assert!(
        events.iter().any(|e| matches!(e, Event::LossCut { .. })),
        "{events:?}"
    );
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, rewrite_policy());
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode, c.position),
        (
            CorrectionKind::Reprice,
            CorrectionMode::Rewrite,
            Some(position.0)
        )
    );
    // Cut at 145.900 instead of 144.000: 1.900 x 100,000 = 190,000 JPY.
    assert!(
        matches!(
            c.commands.as_slice(),
            [CommandKind::BackfillReprice {
                realised_pnl_minor: Some(190_000),
                from: 144_000,
                to: 145_900,
                qty: 100_000,
                ..
            }]
        ),
        "{:?}",
        c.commands
    );
    apply_once(&plan, &desk);
    let after = journal_state(&desk);
    // 700,000 + (145.900 - 150.005) x 100,000, as if cut at the back-dated tick.
    let account = after.account(a).unwrap();
    assert_eq!(account.balance_minor, 700_000 - 410_500);
    assert_eq!(account.adjustments_minor, 0);
    conserved(&after, a);
}
