//! What customers and the market did after reopening changes what a plan may correct: an
//! order amended since, a position partly closed since, and a market that moved while the
//! system was down (the first quote after reopening is measured against the market's last
//! price, not the one before the outage).

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_backfill::plan::CorrectionKind;
use fxdesk_backfill::policy::{BadTickEvidence, CorrectionMode};
use fxdesk_backfill::{apply, Policy};
use fxdesk_engine::*;

/// A 10,000 buy stop at 150.100 the window fills at 150.305; the system comes back (not
/// halted) at 150.050/150.055, below the stop, so it still works.
fn stop_still_working() -> (Desk, AccountId, OrderId, std::path::PathBuf) {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 10_000_000);
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
            (T0 + 10 * MINUTE, USDJPY, 150_300, 150_305),
            (T0 + 40 * MINUTE, USDJPY, 150_050, 150_055),
        ],
    );
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 150_050, 150_055);
    assert!(desk.engine().order(stop).is_some());
    (desk, a, stop, ticks)
}

#[test]
fn an_order_untouched_since_reopening_is_filled_by_the_plan() {
    let (mut desk, _, stop, ticks) = stop_still_working();
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, Policy::default());
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.skipped);
    assert_eq!(plan.corrections[0].kind, CorrectionKind::Fill);
    assert_eq!(plan.corrections[0].order, Some(stop.0));
}

#[test]
fn an_order_amended_after_reopening_is_left_to_a_person() {
    let (mut desk, a, stop, ticks) = stop_still_working();
    let events = desk.run(CommandKind::AmendOrder {
        account: a,
        order: stop,
        amendment: Amendment {
            qty: Some(100_000),
            ..Amendment::default()
        },
    });
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected(_))),
        "{events:?}"
    );
    desk.stop();
    let plan = approved_hour_plan(&desk, &ticks, Policy::default());
    assert!(plan.corrections.is_empty(), "{:#?}", plan.corrections);
    let skip = plan
        .skipped
        .iter()
        .find(|s| s.order == Some(stop.0))
        .unwrap();
    assert!(
        skip.reason.contains("amended after reopening") && skip.reason.contains("10000 -> 100000"),
        "{}",
        skip.reason
    );
    // Applying it fills nothing: the customer's 100,000 stop keeps working as they left it.
    apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = journal_state(&desk);
    assert_eq!(after.order(stop).unwrap().qty, 100_000);
    assert!(after.positions_of(a).is_empty());
}

/// A 100,000 long at 150.005 with 700,000 JPY; the window cuts it at 145.900; the system
/// comes back (not halted) at 146.000, above the cut line.
fn cut_in_the_window() -> (Desk, AccountId, PositionId, std::path::PathBuf) {
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
            (T0 + 30 * MINUTE, USDJPY, 146_000, 146_005),
        ],
    );
    let events = desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 146_000, 146_005);
    assert!(
        !events.iter().any(|e| matches!(e, Event::LossCut { .. })),
        "{events:?}"
    );
    (desk, a, position, ticks)
}

#[test]
fn a_back_dated_loss_cut_of_a_position_partly_closed_since_is_left_to_a_person() {
    for mode in [CorrectionMode::Rewrite, CorrectionMode::Cash] {
        let (mut desk, a, position, ticks) = cut_in_the_window();
        let mut policy = Policy::default();
        policy.correction.loss_cut = mode;
        // Control: untouched, the plan back-dates the cut.
        desk.stop();
        let plan = approved_hour_plan(&desk, &ticks, policy.clone());
        assert_eq!(plan.corrections.len(), 1, "{mode:?}: {:#?}", plan.skipped);
        assert_eq!(plan.corrections[0].kind, CorrectionKind::LossCut);
        // The customer closes half after reopening.
        desk.run(CommandKind::ClosePosition {
            account: a,
            position,
            qty: Some(50_000),
            slippage: None,
        });
        desk.stop();
        let plan = approved_hour_plan(&desk, &ticks, policy);
        assert!(
            plan.corrections.is_empty(),
            "{mode:?}: {:#?}",
            plan.corrections
        );
        let skip = plan
            .skipped
            .iter()
            .find(|s| s.position == Some(position.0))
            .unwrap();
        assert!(
            skip.reason
                .contains("partly closed after reopening (50000 of 100000 left)"),
            "{}",
            skip.reason
        );
    }
}

#[test]
fn a_market_that_moved_during_the_outage_is_not_an_off_market_jump_at_reopening() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 10_000_000);
    let stop = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Stop { price: 150_450 },
        ),
    );
    desk.quote_at(T0, USDJPY, 150_010, 150_015);
    // The market climbs 400 ticks while the system is down, never reaching the stop.
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[
            (T0 + 10 * MINUTE, USDJPY, 150_200, 150_205),
            (T0 + 50 * MINUTE, USDJPY, 150_400, 150_405),
        ],
    );
    // Back at 150.500/150.505: 100 ticks from the market's last price, 490 from the quote
    // before the outage. The stop fills there, a genuine fill.
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 150_500, 150_505);
    assert!(desk.engine().order(stop).is_none());
    desk.stop();
    let policy = Policy {
        bad_tick_evidence: BadTickEvidence::Jump,
        bad_tick_jump_ticks: Some(200),
        ..Policy::default()
    };
    let plan = approved_hour_plan(&desk, &ticks, policy);
    assert!(
        plan.corrections.is_empty(),
        "a genuine fill was corrected: {:#?}",
        plan.corrections
    );
    let reopening = &plan.reopening[0];
    assert_eq!(
        (reopening.source.as_str(), reopening.bid, reopening.ask),
        ("journal", 150_500, 150_505)
    );
}

#[test]
fn an_order_amended_and_filled_after_reopening_is_not_re_priced() {
    let (mut desk, a, stop, ticks) = stop_still_working();
    desk.run(CommandKind::AmendOrder {
        account: a,
        order: stop,
        amendment: Amendment {
            qty: Some(20_000),
            ..Amendment::default()
        },
    });
    desk.quote_at(T0 + 62 * MINUTE, USDJPY, 150_400, 150_405);
    assert_eq!(desk.engine().positions_of(a)[0].qty, 20_000);
    desk.stop();
    for mode in [CorrectionMode::Cash, CorrectionMode::Rewrite] {
        let mut policy = Policy::default();
        policy.correction.reprice = mode;
        let plan = approved_hour_plan(&desk, &ticks, policy);
        assert!(plan.corrections.is_empty(), "{:#?}", plan.corrections);
        let skip = plan
            .skipped
            .iter()
            .find(|s| s.order == Some(stop.0))
            .unwrap();
        assert!(
            skip.reason
                .contains("filled after reopening for 20000, not the 10000"),
            "{}",
            skip.reason
        );
    }
}
