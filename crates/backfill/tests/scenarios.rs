//! Hand-written outage scenarios: every order kind with gaps, chains firing inside the window,
//! loss-cuts under both policies, a rollover inside the window, uncertain orders, the minimum
//! outage, re-pricing a fill made at the reopening gap, and the approve/apply rules.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_backfill::plan::CorrectionKind;
use fxdesk_backfill::policy::{CorrectionMode, FillPrice, LossCuts, UncertainAction};
use fxdesk_backfill::{apply, approve, BackfillError, Policy};
use fxdesk_engine::*;

/// A buy stop at 150.100 working when the system goes down at T0; the market gaps through it.
fn gapped_stop_desk(reopen_halted: bool) -> (Desk, AccountId, OrderId, std::path::PathBuf) {
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
    // The server comes back an hour later, halted (or not), at 150.500.
    if reopen_halted {
        desk.run_at(T0 + 60 * MINUTE, CommandKind::Halt { instrument: None });
    }
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 150_500, 150_505);
    desk.stop();
    (desk, a, stop, ticks)
}

#[test]
fn a_stop_the_market_gapped_through_is_filled_per_policy_and_applied_once_after_two_approvals() {
    let (desk, a, stop, ticks) = gapped_stop_desk(true);
    let window = (T0, T0 + 60 * MINUTE);
    let plan = plan(
        &desk,
        window.0,
        window.1,
        std::slice::from_ref(&ticks),
        Policy::default(),
    );
    assert_eq!(plan.window.market_minutes, 60);
    assert_eq!(
        planned_fills(&plan),
        vec![(stop.0, T0 + 10 * MINUTE, 150_305, 10_000)]
    );
    let c = &plan.corrections[0];
    assert_eq!(c.order_level, Some(150_100));
    assert_eq!(c.market_price, 150_305);
    assert_eq!(c.reopening_price, Some(150_505));
    // Filled at 150.305 instead of 150.505 at reopening: 0.200 x 10,000 = 2,000 JPY to the customer.
    assert_eq!(c.difference_minor, 2_000);
    assert_eq!(plan.broker_cost[0].amount_minor, 2_000);
    assert_eq!(plan.customers[0].account, a.0);
    assert!(plan.lost_opportunities.contains("never compensated"));

    // Policy "order price": the stop's own level.
    let mut at_level = Policy::default();
    at_level.fill_price.stop = FillPrice::OrderPrice;
    let p2 = plan_with(&desk, &ticks, at_level);
    assert_eq!(p2.corrections[0].proposed_price, 150_100);
    assert_eq!(p2.corrections[0].difference_minor, 4_050);
    assert_ne!(p2.plan_id, plan.plan_id, "the policy is one of the inputs");

    // Approvals: one is not enough; the same user twice is refused.
    let mut plan = plan;
    approve(&mut plan, "alice", "t".to_owned()).unwrap();
    let again = approve(&mut plan, "alice", "t".to_owned()).unwrap_err();
    assert!(again.to_string().contains("different person"), "{again}");
    let refused = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap_err();
    assert!(
        refused.to_string().contains("2 different users"),
        "{refused}"
    );
    approve(&mut plan, "bob", "t".to_owned()).unwrap();

    let report = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    assert_eq!(
        (report.executed, report.already_applied, report.resumed),
        (1, 0, true)
    );
    let state = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Seq(u64::MAX >> 1),
        fresh,
    );
    assert!(state.is_err(), "asking beyond the journal is an error");
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap();
    let positions = after.state.positions_of(a);
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].open_price, 150_305);
    assert_eq!(positions[0].opened_ns, T0 + 10 * MINUTE);
    assert!(after.state.order(stop).is_none());
    assert!(!after.state.is_halted_globally());

    // Applying again changes nothing.
    let hash = after.state.state_hash();
    let seq = after.seq;
    let second = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 80 * MINUTE).unwrap();
    assert_eq!(
        (second.executed, second.already_applied, second.resumed),
        (0, 1, false)
    );
    let again = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap();
    assert_eq!((again.seq, again.state.state_hash()), (seq, hash));
}

fn plan_with(desk: &Desk, ticks: &std::path::Path, policy: Policy) -> fxdesk_backfill::Plan {
    plan(desk, T0, T0 + 60 * MINUTE, &[ticks.to_path_buf()], policy)
}

#[test]
fn cash_mode_fills_at_the_reopening_price_and_pays_the_difference() {
    let (desk, a, _, ticks) = gapped_stop_desk(true);
    let mut policy = Policy::default();
    policy.correction.fill = CorrectionMode::Cash;
    let plan = approved(plan_with(&desk, &ticks, policy));
    let c = &plan.corrections[0];
    assert_eq!(c.mode, CorrectionMode::Cash);
    assert!(matches!(
        c.commands[0],
        CommandKind::BackfillFill { price: 150_505, .. }
    ));
    assert!(matches!(
        c.commands[1],
        CommandKind::CashAdjustment {
            amount_minor: 2_000,
            ..
        }
    ));
    assert_eq!(plan.customers[0].cash_minor, 2_000);
    apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap();
    let account = after.state.account(a).unwrap();
    assert_eq!(account.adjustments_minor, 2_000);
    assert_eq!(account.balance_minor, 1_002_000);
    assert_eq!(after.state.positions_of(a)[0].open_price, 150_505);
}

#[test]
fn a_stop_that_filled_at_the_reopening_gap_is_repriced_in_cash() {
    // The server came back without halting: the stop filled at the reopening quote 150.505.
    let (desk, a, stop, ticks) = gapped_stop_desk(false);
    let plan = approved(plan_with(&desk, &ticks, Policy::default()));
    assert_eq!(plan.corrections.len(), 1);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode),
        (CorrectionKind::Reprice, CorrectionMode::Cash)
    );
    assert_eq!(c.order, Some(stop.0));
    assert_eq!(
        (c.live_price, c.proposed_price, c.difference_minor),
        (Some(150_505), 150_305, 2_000)
    );
    apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap();
    assert_eq!(after.state.account(a).unwrap().balance_minor, 1_002_000);
}

#[test]
fn apply_refuses_a_changed_plan_or_a_journal_that_moved_on() {
    let (mut desk, a, _, ticks) = gapped_stop_desk(true);
    let plan = approved(plan_with(&desk, &ticks, Policy::default()));
    let mut tampered = plan.clone();
    tampered.corrections[0].proposed_price = 140_000;
    let e = apply(
        &tampered,
        &desk.journal_dir(),
        None,
        fresh,
        T0 + 70 * MINUTE,
    )
    .unwrap_err();
    assert!(matches!(e, BackfillError::Plan(_)), "{e}");
    // Someone deposits after the plan was made: its inputs no longer match.
    desk.run_at(
        T0 + 65 * MINUTE,
        CommandKind::Deposit {
            account: a,
            amount_minor: 5,
        },
    );
    desk.stop();
    let e = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("moved on") && text.contains("Deposit"),
        "{text}"
    );
    // Nothing was written.
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap();
    assert_eq!(after.state.positions_of(a).len(), 0);
}

#[test]
fn apply_refuses_while_the_server_holds_the_journal() {
    let (mut desk, _, _, ticks) = gapped_stop_desk(true);
    let plan = approved(plan_with(&desk, &ticks, Policy::default()));
    // "The server" opens the journal again (and takes its lock) without writing anything.
    let (durable, _) = fxdesk_journal::Durable::open(
        &desk.journal_dir(),
        fxdesk_journal::JournalOptions::default(),
        fresh,
    )
    .unwrap();
    let e = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap_err();
    assert!(e.to_string().contains("still running"), "{e}");
    durable.close();
    desk.stop();
}

#[test]
fn every_order_kind_fires_inside_the_window_and_chains_fire_in_the_same_window() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let acct: Vec<AccountId> = (0..9)
        .map(|_| desk.account(Currency::JPY, 1_000_000))
        .collect();
    let s = |d: &Desk, side, kind| d.spec(USDJPY, side, 10_000, kind);
    let limit = desk.place_one(
        acct[0],
        s(&desk, Side::Buy, OrderKind::Limit { price: 149_800 }),
    );
    let stop = desk.place_one(
        acct[1],
        s(&desk, Side::Sell, OrderKind::Stop { price: 149_900 }),
    );
    let stop_limit = desk.place_one(
        acct[2],
        s(
            &desk,
            Side::Buy,
            OrderKind::StopLimit {
                stop: 150_200,
                limit: 150_250,
            },
        ),
    );
    let trailing = desk.place_one(
        acct[3],
        s(
            &desk,
            Side::Sell,
            OrderKind::TrailingStop {
                distance_ticks: 400,
            },
        ),
    );
    desk.run(CommandKind::PlaceOrder {
        account: acct[4],
        client_order_id: None,
        request: OrderRequest::Single(s(&desk, Side::Buy, OrderKind::Market { slippage: None })),
    });
    let position = desk.engine().positions_of(acct[4])[0].id;
    desk.run(CommandKind::SetProtection {
        account: acct[4],
        position,
        take_profit: Some(150_350),
        stop_loss: Some(149_500),
    });
    let tp = desk
        .engine()
        .position(position)
        .unwrap()
        .take_profit
        .unwrap();
    let sl = desk.engine().position(position).unwrap().stop_loss.unwrap();
    let oco = desk.place(
        acct[5],
        OrderRequest::Oco(
            s(&desk, Side::Sell, OrderKind::Limit { price: 150_380 }),
            s(&desk, Side::Sell, OrderKind::Stop { price: 149_600 }),
        ),
    );
    let mut gtd = s(&desk, Side::Buy, OrderKind::Limit { price: 149_750 });
    gtd.time_in_force = TimeInForce::GoodTillDate(T0 + 3 * MINUTE);
    let gtd = desk.place_one(acct[6], gtd);
    let ifd = desk.place(
        acct[7],
        OrderRequest::Ifd {
            first: s(&desk, Side::Buy, OrderKind::Stop { price: 150_200 }),
            then: s(&desk, Side::Sell, OrderKind::Limit { price: 150_380 }),
        },
    );
    let ifo = desk.place(
        acct[8],
        OrderRequest::Ifo {
            first: s(&desk, Side::Buy, OrderKind::Limit { price: 149_800 }),
            then_a: s(&desk, Side::Sell, OrderKind::Limit { price: 150_350 }),
            then_b: s(&desk, Side::Sell, OrderKind::Stop { price: 149_650 }),
        },
    );
    desk.quote_at(T0, USDJPY, 150_010, 150_015);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[
            (T0 + 2 * MINUTE, USDJPY, 150_000, 150_005),
            (T0 + 5 * MINUTE, USDJPY, 149_700, 149_705),
            (T0 + 10 * MINUTE, USDJPY, 150_300, 150_305),
            (T0 + 15 * MINUTE, USDJPY, 150_400, 150_405),
            (T0 + 20 * MINUTE, USDJPY, 149_990, 149_995),
        ],
    );
    desk.run_at(T0 + 60 * MINUTE, CommandKind::Halt { instrument: None });
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 150_100, 150_105);
    desk.stop();
    let plan = plan(&desk, T0, T0 + 60 * MINUTE, &[ticks], eager_policy());
    let m = |n: i64| T0 + n * MINUTE;
    assert_eq!(
        planned_fills(&plan),
        vec![
            // The dip: the limit and the IFO parent at their limit (policy), the stop at the tick.
            (limit.0, m(5), 149_800, 10_000),
            (stop.0, m(5), 149_700, 10_000),
            (ifo[0].0, m(5), 149_800, 10_000),
            // The rally: the IFD parent stop gaps (first tick beyond); the stop-limit only rests.
            (ifd[0].0, m(10), 150_305, 10_000),
            // The top: TP, one OCO leg, and both activated children fill in the same window.
            (tp.0, m(15), 150_350, 10_000),
            (oco[0].0, m(15), 150_380, 10_000),
            (ifd[1].0, m(15), 150_380, 10_000),
            (ifo[1].0, m(15), 150_350, 10_000),
            // The fall: the trailing stop (trailed to 150.000) and the resting stop-limit.
            (stop_limit.0, m(20), 150_250, 10_000),
            (trailing.0, m(20), 149_990, 10_000),
        ]
    );
    let trailing_fill = plan
        .corrections
        .iter()
        .find(|c| c.order == Some(trailing.0))
        .unwrap();
    assert_eq!(
        (trailing_fill.order_kind.as_str(), trailing_fill.order_level),
        ("trailing_stop", Some(150_000))
    );
    let tp_fill = plan
        .corrections
        .iter()
        .find(|c| c.order == Some(tp.0))
        .unwrap();
    assert_eq!(tp_fill.order_kind, "take_profit");
    assert!(
        plan.corrections.iter().all(|c| c.order != Some(gtd.0)),
        "expired before the dip"
    );

    let plan = approved(plan);
    let report = apply(&plan, &desk.journal_dir(), None, fresh, m(70)).unwrap();
    assert_eq!(report.executed, 10);
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    for gone in [
        limit, stop, stop_limit, trailing, tp, sl, oco[0], oco[1], gtd, ifd[0], ifd[1], ifo[0],
        ifo[1], ifo[2],
    ] {
        assert!(after.order(gone).is_none(), "{gone} still working");
    }
    // Closed round trips: the TP position, the IFD and the IFO chains.
    assert!(after.positions_of(acct[4]).is_empty());
    assert!(after.positions_of(acct[7]).is_empty());
    assert!(after.positions_of(acct[8]).is_empty());
    // IFD: bought 150.305, sold 150.380 -> 750 JPY; IFO: 149.800 -> 150.350 -> 5,500 JPY.
    assert_eq!(after.account(acct[7]).unwrap().balance_minor, 1_000_750);
    assert_eq!(after.account(acct[8]).unwrap().balance_minor, 1_005_500);
    let open: Vec<Price> = after
        .positions_of(acct[0])
        .iter()
        .map(|p| p.open_price)
        .collect();
    assert_eq!(open, vec![149_800]);
}

fn loss_cut_desk() -> (Desk, AccountId, PositionId, std::path::PathBuf) {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 700_000);
    let events = desk.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: None,
        request: OrderRequest::Single(desk.spec(
            USDJPY,
            Side::Buy,
            100_000,
            OrderKind::Market { slippage: None },
        )),
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PositionOpened { .. })),
        "{events:?}"
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
    desk.run_at(T0 + 60 * MINUTE, CommandKind::Halt { instrument: None });
    desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 144_000, 144_005);
    desk.stop();
    (desk, a, position, ticks)
}

#[test]
fn a_loss_cut_inside_the_window_is_back_dated_to_its_tick() {
    let (desk, a, position, ticks) = loss_cut_desk();
    let plan = approved(plan_with(&desk, &ticks, eager_policy()));
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.position, c.proposed_price),
        (CorrectionKind::LossCut, Some(position.0), 145_900)
    );
    assert_eq!(c.trigger_time_ns, T0 + 10 * MINUTE);
    // Closed at 145.900 instead of 144.000: 1.900 x 100,000 = 190,000 JPY better for the customer.
    assert_eq!(c.difference_minor, 190_000);
    assert!(!plan.margin_calls.is_empty());
    apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    assert!(after.positions_of(a).is_empty());
    // 700,000 + (145.900 - 150.005) x 100,000.
    assert_eq!(after.account(a).unwrap().balance_minor, 700_000 - 410_500);
}

#[test]
fn with_loss_cuts_at_reopening_the_engine_cuts_at_the_reopening_quote() {
    let (desk, a, _, ticks) = loss_cut_desk();
    let policy = Policy {
        loss_cuts: LossCuts::AtReopening,
        ..eager_policy()
    };
    let plan = approved(plan_with(&desk, &ticks, policy));
    assert!(plan.corrections.is_empty(), "{:#?}", plan.corrections);
    assert_eq!(plan.loss_cuts_at_reopening.len(), 1);
    assert_eq!(plan.loss_cuts_at_reopening[0].account, a.0);
    let report = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    assert!(report.resumed);
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    assert!(after.positions_of(a).is_empty(), "cut when trading resumed");
    // Cut at the reopening bid 144.000: 700,000 + (144.000 - 150.005) x 100,000.
    assert_eq!(after.account(a).unwrap().balance_minor, 700_000 - 600_500);
}

#[test]
fn a_rollover_inside_the_window_expires_day_orders_and_is_corrected() {
    // Tuesday 2026-07-14 20:30 UTC; New York's 17:00 is 21:00 UTC in July.
    let start = T0 + 10 * 60 * MINUTE + 30 * MINUTE;
    let mut desk = Desk::new(start - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    let mut day = desk.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_800 },
    );
    day.time_in_force = TimeInForce::Day;
    let day = desk.place_one(a, day);
    let gtc = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Limit { price: 149_700 },
        ),
    );
    desk.quote_at(start, USDJPY, 150_000, 150_005);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[(start + 40 * MINUTE, USDJPY, 149_600, 149_605)],
    );
    desk.run_at(start + 60 * MINUTE, CommandKind::Halt { instrument: None });
    desk.quote_at(start + 60 * MINUTE + SECOND, USDJPY, 149_900, 149_905);
    desk.stop();
    let plan = approved(plan(
        &desk,
        start,
        start + 60 * MINUTE,
        &[ticks],
        eager_policy(),
    ));
    assert_eq!(
        plan.window.rollovers,
        vec!["2026-07-14T21:00:00Z".to_owned()]
    );
    let kinds: Vec<(CorrectionKind, Option<u64>)> =
        plan.corrections.iter().map(|c| (c.kind, c.order)).collect();
    assert_eq!(
        kinds,
        vec![
            (CorrectionKind::Expire, Some(day.0)),
            (CorrectionKind::Fill, Some(gtc.0))
        ]
    );
    apply(&plan, &desk.journal_dir(), None, fresh, start + 70 * MINUTE).unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    assert!(after.order(day).is_none() && after.order(gtc).is_none());
    assert_eq!(after.positions_of(a).len(), 1, "only the GTC limit filled");
}

#[test]
fn orders_placed_just_before_the_outage_are_uncertain_and_held_or_filled_per_policy() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    let early = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Limit { price: 149_800 },
        ),
    );
    desk.time_ns = T0 - 500_000_000;
    let late = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            20_000,
            OrderKind::Limit { price: 149_800 },
        ),
    );
    desk.quote_at(T0, USDJPY, 150_000, 150_005);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[(T0 + 5 * MINUTE, USDJPY, 149_700, 149_705)],
    );
    desk.stop();
    let held = plan(
        &desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&ticks),
        Policy {
            minimum_outage_minutes: 0,
            ..Policy::default()
        },
    );
    assert_eq!(held.uncertain_orders.len(), 1);
    assert_eq!(held.uncertain_orders[0].order, late.0);
    assert!(held.uncertain_orders[0].fills_in_window);
    assert_eq!(
        planned_fills(&held).iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![early.0]
    );
    assert!(held
        .skipped
        .iter()
        .any(|s| s.order == Some(late.0) && s.reason.contains("uncertain")));
    let filled = plan(
        &desk,
        T0,
        T0 + 60 * MINUTE,
        &[ticks],
        Policy {
            minimum_outage_minutes: 0,
            uncertain_action: UncertainAction::Fill,
            ..Policy::default()
        },
    );
    let uncertain: Vec<bool> = filled.corrections.iter().map(|c| c.uncertain).collect();
    assert_eq!(uncertain, vec![false, true]);
}

#[test]
fn an_outage_shorter_than_the_policy_minimum_corrects_nothing_and_says_why() {
    let (desk, _, stop, ticks) = gapped_stop_desk(true);
    // 20 minutes of a 30-minute minimum.
    let plan = plan(&desk, T0, T0 + 20 * MINUTE, &[ticks], Policy::default());
    assert!(plan.window.below_minimum);
    assert!(plan.corrections.is_empty());
    assert!(plan
        .skipped
        .iter()
        .any(|s| s.order == Some(stop.0) && s.reason.contains("minimum")));
}

#[test]
fn gaps_are_silences_of_the_journal_in_market_hours() {
    let (desk, _, _, _) = gapped_stop_desk(true);
    let gaps = fxdesk_backfill::gaps::find_gaps(&desk.journal_dir(), 60 * SECOND, None).unwrap();
    // Setup took a millisecond per command; the only long silence is the outage.
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    assert_eq!(gaps[1].from_ns, T0);
    assert_eq!(gaps[1].to_ns, Some(T0 + 60 * MINUTE));
    assert_eq!(gaps[1].market_seconds, 3_600);
    // A silence over a weekend only is no outage: Friday 21:00 UTC to Sunday 21:00 UTC (July).
    let mut weekend = Desk::new(1_783_717_200_000_000_000); // Friday 2026-07-10 21:00 UTC
    weekend.quote(USDJPY, 150_000, 150_005);
    weekend.quote_at(
        1_783_717_200_000_000_000 + 48 * 60 * MINUTE,
        USDJPY,
        150_000,
        150_005,
    );
    weekend.stop();
    let found =
        fxdesk_backfill::gaps::find_gaps(&weekend.journal_dir(), 60 * SECOND, None).unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_window_with_journaled_commands_inside_is_refused() {
    let (desk, _, _, ticks) = gapped_stop_desk(true);
    let e = fxdesk_backfill::plan_from_journal(
        &fxdesk_backfill::PlanRequest {
            journal_dir: desk.journal_dir(),
            from_ns: T0 - 30 * MINUTE,
            to_ns: T0 + 60 * MINUTE,
            tick_sources: vec![ticks],
            policy: Policy::default(),
            guard_flags: None,
        },
        fresh,
    )
    .unwrap_err();
    assert!(e.to_string().contains("inside the window"), "{e}");
}

#[test]
fn a_fill_on_an_off_market_quote_after_reopening_is_paid_back_to_the_last_good_price() {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    let stop = desk.place_one(
        a,
        desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Stop { price: 150_600 },
        ),
    );
    desk.quote_at(T0, USDJPY, 150_010, 150_015);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[(T0 + 10 * MINUTE, USDJPY, 150_300, 150_305)],
    );
    // Back without halting; a spike 1 yen off the market fills the stop at 151.505.
    desk.quote_at(T0 + 60 * MINUTE, USDJPY, 150_500, 150_505);
    let events = desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 151_500, 151_505);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::OrderFilled { price: 151_505, .. })),
        "{events:?}"
    );
    desk.quote_at(T0 + 60 * MINUTE + 2 * SECOND, USDJPY, 150_510, 150_515);
    desk.stop();
    let policy = Policy {
        bad_tick_jump_ticks: Some(500),
        bad_tick_evidence: fxdesk_backfill::policy::BadTickEvidence::Jump,
        ..eager_policy()
    };
    let plan = approved(plan(&desk, T0, T0 + 60 * MINUTE, &[ticks], policy));
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let c = &plan.corrections[0];
    assert_eq!(
        (c.kind, c.mode, c.order),
        (CorrectionKind::BadTick, CorrectionMode::Cash, Some(stop.0))
    );
    assert_eq!((c.market_price, c.proposed_price), (151_505, 150_505));
    // 1.000 x 10,000 = 10,000 JPY back to the customer.
    assert_eq!(c.difference_minor, 10_000);
    assert_eq!(
        plan.reopening[0].bid, 150_500,
        "the spike is not the reopening price"
    );
    apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    assert_eq!(after.account(a).unwrap().adjustments_minor, 10_000);
    // Without the guard, nothing is corrected.
    let unguarded = plan_with_window(&desk, eager_policy());
    assert!(unguarded.corrections.is_empty());
}

fn plan_with_window(desk: &Desk, policy: Policy) -> fxdesk_backfill::Plan {
    let ticks = desk.dir.path().join("w.csv");
    plan(desk, T0, T0 + 60 * MINUTE, &[ticks], policy)
}

/// After reopening (not halted), a quote 4.5 yen off the market: it fires account `a`'s
/// stop-loss (its take-profit goes with it), cuts account `b` and fills account `c`'s sell
/// stop, which opens a short at the spike. The next quote is back on the market.
struct Spiked {
    desk: Desk,
    a: AccountId,
    b: AccountId,
    c: AccountId,
    a_position: Position,
    a_orders: Vec<Order>,
    b_position: Position,
    c_stop: OrderId,
    /// c's stop as it was before the spike filled it.
    c_stop_order: Order,
    ticks: std::path::PathBuf,
}

/// `then_c_closes`: the customer closes c's short at the good quote before the plan is made.
fn spiked_desk(then_c_closes: bool) -> Spiked {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let a = desk.account(Currency::JPY, 1_000_000);
    let b = desk.account(Currency::JPY, 100_000);
    let c = desk.account(Currency::JPY, 1_000_000);
    let market = |desk: &Desk, qty| {
        OrderRequest::Single(desk.spec(
            USDJPY,
            Side::Buy,
            qty,
            OrderKind::Market { slippage: None },
        ))
    };
    desk.place(a, market(&desk, 10_000));
    desk.place(b, market(&desk, 15_000));
    let a_id = desk.engine().positions_of(a)[0].id;
    let events = desk.run(CommandKind::SetProtection {
        account: a,
        position: a_id,
        take_profit: Some(151_000),
        stop_loss: Some(149_500),
    });
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected(_))),
        "{events:?}"
    );
    let c_stop = desk.place_one(
        c,
        desk.spec(
            USDJPY,
            Side::Sell,
            10_000,
            OrderKind::Stop { price: 149_000 },
        ),
    );
    let a_position = desk.engine().positions_of(a)[0].clone();
    let a_orders: Vec<Order> = desk.engine().orders_of(a).into_iter().cloned().collect();
    assert_eq!(a_orders.len(), 2);
    let b_position = desk.engine().positions_of(b)[0].clone();
    let c_stop_order = desk.engine().order(c_stop).unwrap().clone();
    let ticks = window_market(&mut desk, T0, 10 * MINUTE);
    let events = desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 146_000, 146_005);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LossCut { account, .. } if *account == b)),
        "{events:?}"
    );
    assert!(desk.engine().positions_of(a).is_empty());
    assert!(desk.engine().orders_of(a).is_empty());
    assert_eq!(
        desk.engine().positions_of(c).len(),
        1,
        "the spike opened a short"
    );
    desk.quote_at(T0 + 60 * MINUTE + 2 * SECOND, USDJPY, 150_510, 150_515);
    if then_c_closes {
        let position = desk.engine().positions_of(c)[0].id;
        desk.run(CommandKind::ClosePosition {
            account: c,
            position,
            qty: None,
            slippage: None,
        });
    }
    desk.stop();
    Spiked {
        desk,
        a,
        b,
        c,
        a_position,
        a_orders,
        b_position,
        c_stop,
        c_stop_order,
        ticks,
    }
}

fn spike_policy(mode: CorrectionMode) -> Policy {
    let mut policy = Policy {
        bad_tick_jump_ticks: Some(500),
        bad_tick_evidence: fxdesk_backfill::policy::BadTickEvidence::Jump,
        ..eager_policy()
    };
    policy.correction.bad_tick = mode;
    policy
}

fn state_now(desk: &Desk) -> Engine {
    fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state
}

fn conserved_all(engine: &Engine) {
    for a in engine.accounts() {
        assert_eq!(
            a.balance_minor,
            a.deposited_minor - a.withdrawn_minor
                + a.realised_pnl_minor
                + a.swaps_booked_minor
                + a.adjustments_minor,
            "money of {}",
            a.id
        );
    }
}

#[test]
fn rewrite_cancels_fills_and_loss_cuts_on_an_off_market_quote_and_restores_the_positions() {
    let s = spiked_desk(false);
    let plan = approved(plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        spike_policy(CorrectionMode::Rewrite),
    ));
    let bad: Vec<_> = plan
        .corrections
        .iter()
        .filter(|c| c.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 3, "{:#?} {:#?}", plan.corrections, plan.skipped);
    assert!(bad.iter().all(|c| c.mode == CorrectionMode::Rewrite));
    let cut = bad
        .iter()
        .find(|c| c.order_kind == "off_market_loss_cut")
        .unwrap();
    assert_eq!(
        (cut.account, cut.position),
        (s.b.0, Some(s.b_position.id.0))
    );
    // The cut lost 4.005 x 15,000 = 60,075 JPY; taking it back is what the customer gains.
    assert_eq!(cut.difference_minor, 60_075);
    assert!(matches!(
        cut.commands.as_slice(),
        [CommandKind::BackfillRestore { .. }]
    ));
    let opening = bad.iter().find(|c| c.account == s.c.0).unwrap();
    assert!(
        matches!(
            opening.commands.as_slice(),
            [
                CommandKind::BackfillClose { price: 146_000, .. },
                CommandKind::BackfillRestoreOrder { .. }
            ]
        ),
        "{:#?}",
        opening.commands
    );
    assert!(
        opening.note.contains("waits at its level again"),
        "{}",
        opening.note
    );
    assert_eq!(opening.difference_minor, 0);
    assert!(plan
        .corrections
        .iter()
        .flat_map(|c| &c.commands)
        .all(|k| !matches!(k, CommandKind::CashAdjustment { .. })));

    let report = apply(&plan, &s.desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    assert_eq!((report.executed, report.already_applied), (4, 0));
    let after = state_now(&s.desk);
    // a: the position and both of its orders are back under their own ids; so is the money.
    assert_eq!(after.positions_of(s.a), vec![&s.a_position]);
    let orders: Vec<Order> = after.orders_of(s.a).into_iter().cloned().collect();
    assert_eq!(orders, s.a_orders);
    assert_eq!(after.account(s.a).unwrap().balance_minor, 1_000_000);
    // b: uncut, at the good quote nothing cuts it again.
    assert_eq!(after.positions_of(s.b), vec![&s.b_position]);
    assert_eq!(after.account(s.b).unwrap().balance_minor, 100_000);
    assert!(!after.account(s.b).unwrap().margin_call);
    // c: the short the spike opened is gone at no P&L; the stop waits at its level again.
    assert!(after.positions_of(s.c).is_empty());
    assert_eq!(after.order(s.c_stop), Some(&s.c_stop_order));
    assert_eq!(after.account(s.c).unwrap().balance_minor, 1_000_000);
    for account in [s.a, s.b, s.c] {
        assert_eq!(after.account(account).unwrap().adjustments_minor, 0);
    }
    conserved_all(&after);

    // Applied once.
    let hash = after.state_hash();
    let again = apply(&plan, &s.desk.journal_dir(), None, fresh, T0 + 80 * MINUTE).unwrap();
    assert_eq!((again.executed, again.already_applied), (0, 4));
    assert_eq!(state_now(&s.desk).state_hash(), hash);
}

#[test]
fn cash_pays_fills_and_loss_cuts_on_an_off_market_quote_to_the_last_good_price() {
    let s = spiked_desk(false);
    let plan = approved(plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        spike_policy(CorrectionMode::Cash),
    ));
    let mut paid: Vec<(u64, &str, i64)> = plan
        .corrections
        .iter()
        .filter(|c| c.kind == CorrectionKind::BadTick)
        .map(|c| {
            assert_eq!(c.mode, CorrectionMode::Cash);
            (c.account, c.order_kind.as_str(), c.difference_minor)
        })
        .collect();
    paid.sort();
    // Sold at 146.000 instead of the last good bid 150.500: 4.5 yen a unit.
    assert_eq!(
        paid,
        vec![
            (s.a.0, "off_market_fill", 45_000),
            (s.b.0, "off_market_loss_cut", 67_500),
            (s.c.0, "off_market_fill", 45_000),
        ]
    );
    apply(&plan, &s.desk.journal_dir(), None, fresh, T0 + 70 * MINUTE).unwrap();
    let after = state_now(&s.desk);
    assert!(after.positions_of(s.a).is_empty(), "the fills stay");
    assert!(after.positions_of(s.b).is_empty());
    assert_eq!(after.account(s.b).unwrap().adjustments_minor, 67_500);
    assert_eq!(after.account(s.a).unwrap().adjustments_minor, 45_000);
    conserved_all(&after);
}

#[test]
fn rewrite_falls_back_to_cash_when_the_position_cannot_come_back() {
    // The short the spike opened for c is closed by the customer before the plan: it cannot
    // be removed at its entry price any more, so the fill is paid in cash, and says why.
    let s = spiked_desk(true);
    let plan = plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        spike_policy(CorrectionMode::Rewrite),
    );
    let c = plan
        .corrections
        .iter()
        .find(|c| c.account == s.c.0)
        .unwrap();
    assert_eq!(c.mode, CorrectionMode::Cash);
    assert_eq!(c.difference_minor, 45_000);
    assert!(c.note.contains("not rewritten"), "{}", c.note);
}

// ----- the price-jump guard's flag file as the evidence -----------------------------------

use fxdesk_backfill::guard_flags::{FlagWriter, MarkedBy, OffMarketSpan, Record};
use fxdesk_backfill::plan::OffMarketEvidence;

/// The spike of `spiked_desk` (source time T0 + 60 min + 1 s) as the guard records it when
/// the market comes back at T0 + 60 min + 2 s.
fn spike_span(by: MarkedBy) -> Record {
    Record::OffMarket(OffMarketSpan {
        instrument: fresh().instrument_by_symbol(USDJPY).unwrap(),
        symbol: USDJPY.to_owned(),
        from_ns: T0 + 60 * MINUTE + SECOND,
        until_ns: T0 + 60 * MINUTE + 2 * SECOND,
        flags: vec![7, 8],
        by,
    })
}

fn write_flags(desk: &Desk, records: &[Record]) {
    let (mut writer, _) = FlagWriter::open(&desk.guard_flags()).unwrap();
    for record in records {
        writer.append(record).unwrap();
    }
}

fn guard_policy() -> Policy {
    let mut policy = eager_policy();
    policy.correction.bad_tick = CorrectionMode::Rewrite;
    policy
}

/// Applies an approved plan with the desk's guard flag file at `at_ns`, then again ten
/// minutes later: the second run must write nothing and change nothing. Returns the first
/// run's report and the state after it.
fn applied_twice(
    desk: &Desk,
    plan: &fxdesk_backfill::Plan,
    at_ns: i64,
) -> (fxdesk_backfill::ApplyReport, Engine) {
    let guard = desk.guard_flags();
    let report = apply(plan, &desk.journal_dir(), Some(&guard), fresh, at_ns).unwrap();
    let after = journal_state(desk);
    let again = apply(
        plan,
        &desk.journal_dir(),
        Some(&guard),
        fresh,
        at_ns + 10 * MINUTE,
    )
    .unwrap();
    assert_eq!(
        (again.executed, again.already_applied),
        (0, report.executed + report.already_applied),
        "a second apply writes nothing: {again:?} {:#?}",
        plan.corrections
    );
    assert_eq!(journal_state(desk).state_hash(), after.state_hash());
    (report, after)
}

#[test]
fn the_guards_flag_file_marks_the_spike_and_the_plan_cancels_its_fills_restoring_everything() {
    let s = spiked_desk(false);
    write_flags(&s.desk, &[spike_span(MarkedBy::Reverted)]);
    let plan = approved(plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    ));
    let recorded = plan.inputs.guard_flags.as_ref().unwrap();
    assert!(recorded.sha256.is_some());
    assert_eq!(recorded.spans, 1);
    let bad: Vec<_> = plan
        .corrections
        .iter()
        .filter(|c| c.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 3, "{:#?} {:#?}", plan.corrections, plan.skipped);
    for c in &bad {
        assert_eq!(c.mode, CorrectionMode::Rewrite);
        assert!(
            matches!(&c.evidence, Some(OffMarketEvidence::Guard { flags, by: MarkedBy::Reverted, .. }) if flags == &vec![7, 8]),
            "{:?}",
            c.evidence
        );
        assert!(c.note.contains("price-jump guard"), "{}", c.note);
    }
    let planned_on = state_now(&s.desk);
    let balances_before: Vec<i64> = [s.a, s.b, s.c]
        .iter()
        .map(|a| planned_on.account(*a).unwrap().deposited_minor)
        .collect();
    let report = apply(
        &plan,
        &s.desk.journal_dir(),
        Some(&s.desk.guard_flags()),
        fresh,
        T0 + 70 * MINUTE,
    )
    .unwrap();
    assert_eq!(report.executed, 4);
    let after = state_now(&s.desk);
    assert_eq!(after.positions_of(s.a), vec![&s.a_position]);
    let orders: Vec<Order> = after.orders_of(s.a).into_iter().cloned().collect();
    assert_eq!(orders, s.a_orders);
    assert_eq!(after.positions_of(s.b), vec![&s.b_position]);
    assert!(after.positions_of(s.c).is_empty());
    assert_eq!(
        after.order(s.c_stop),
        Some(&s.c_stop_order),
        "the stop waits again"
    );
    // Money: every balance is its deposit again, nothing paid in cash.
    let balances: Vec<i64> = [s.a, s.b, s.c]
        .iter()
        .map(|a| after.account(*a).unwrap().balance_minor)
        .collect();
    assert_eq!(balances, balances_before);
    for account in [s.a, s.b, s.c] {
        assert_eq!(after.account(account).unwrap().adjustments_minor, 0);
    }
    conserved_all(&after);
}

#[test]
fn without_a_flag_file_no_journaled_quote_is_off_market_and_the_plan_says_so() {
    let s = spiked_desk(false);
    let plan = plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    );
    assert!(plan
        .corrections
        .iter()
        .all(|c| c.kind != CorrectionKind::BadTick));
    let recorded = plan.inputs.guard_flags.as_ref().unwrap();
    assert_eq!(recorded.sha256, None);
    assert!(
        recorded.note.contains("no journaled quote is off-market"),
        "{}",
        recorded.note
    );
}

#[test]
fn a_span_of_another_instrument_or_time_marks_nothing_and_an_operator_span_is_named() {
    let s = spiked_desk(false);
    let Record::OffMarket(span) = spike_span(MarkedBy::Reverted) else {
        unreachable!()
    };
    let eurusd = fresh().instrument_by_symbol(EURUSD).unwrap();
    let elsewhere = Record::OffMarket(OffMarketSpan {
        instrument: eurusd,
        symbol: EURUSD.to_owned(),
        ..span.clone()
    });
    let later = Record::OffMarket(OffMarketSpan {
        from_ns: span.until_ns,
        until_ns: span.until_ns + SECOND,
        ..span.clone()
    });
    write_flags(&s.desk, &[elsewhere, later]);
    let p = plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    );
    assert!(p
        .corrections
        .iter()
        .all(|c| c.kind != CorrectionKind::BadTick));

    let s = spiked_desk(false);
    let by = MarkedBy::Operator {
        user: "alice".to_owned(),
        reason: "feed glitch".to_owned(),
    };
    write_flags(&s.desk, &[spike_span(by)]);
    let p = plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    );
    let bad: Vec<_> = p
        .corrections
        .iter()
        .filter(|c| c.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 3);
    assert!(bad
        .iter()
        .all(|c| c.note.contains("marked off-market by alice: feed glitch")));
}

#[test]
fn a_plan_whose_flag_file_changed_after_planning_is_refused_at_apply() {
    let s = spiked_desk(false);
    write_flags(&s.desk, &[spike_span(MarkedBy::Reverted)]);
    let plan = approved(plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    ));
    // A new flag after planning.
    let Record::OffMarket(span) = spike_span(MarkedBy::Reverted) else {
        unreachable!()
    };
    write_flags(
        &s.desk,
        &[Record::OffMarket(OffMarketSpan {
            from_ns: span.until_ns,
            until_ns: span.until_ns + SECOND,
            ..span
        })],
    );
    let before = state_now(&s.desk).state_hash();
    let e = apply(
        &plan,
        &s.desk.journal_dir(),
        Some(&s.desk.guard_flags()),
        fresh,
        T0 + 70 * MINUTE,
    )
    .unwrap_err();
    assert!(e.to_string().contains("flag file"), "{e}");
    assert!(
        e.to_string().contains("changed since the plan was made"),
        "{e}"
    );
    assert_eq!(state_now(&s.desk).state_hash(), before, "nothing written");
    // The file removed: refused too.
    std::fs::remove_file(s.desk.guard_flags()).unwrap();
    let e = apply(
        &plan,
        &s.desk.journal_dir(),
        Some(&s.desk.guard_flags()),
        fresh,
        T0 + 70 * MINUTE,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no file"), "{e}");
}

#[test]
fn a_garbage_flag_line_refuses_the_plan_and_a_torn_last_line_is_skipped_and_reported() {
    let s = spiked_desk(false);
    write_flags(&s.desk, &[spike_span(MarkedBy::Reverted)]);
    let path = s.desk.guard_flags();
    let good = std::fs::read(&path).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(br#"{"record":"off_mar"#);
    std::fs::write(&path, &torn).unwrap();
    let p = plan(
        &s.desk,
        T0,
        T0 + 60 * MINUTE,
        std::slice::from_ref(&s.ticks),
        guard_policy(),
    );
    let recorded = p.inputs.guard_flags.as_ref().unwrap();
    assert_eq!(recorded.torn_tail_at, Some(good.len() as u64));
    assert!(
        recorded.note.contains("torn last line"),
        "{}",
        recorded.note
    );
    assert_eq!(
        p.corrections
            .iter()
            .filter(|c| c.kind == CorrectionKind::BadTick)
            .count(),
        3
    );
    let mut garbage = b"not json\n".to_vec();
    garbage.extend_from_slice(&good);
    std::fs::write(&path, &garbage).unwrap();
    let e = fxdesk_backfill::plan_from_journal(
        &fxdesk_backfill::PlanRequest {
            journal_dir: s.desk.journal_dir(),
            from_ns: T0,
            to_ns: T0 + 60 * MINUTE,
            tick_sources: vec![s.ticks.clone()],
            policy: guard_policy(),
            guard_flags: Some(path),
        },
        fresh,
    )
    .unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}

// ----- a linked order an off-market fill used up waits again, linked -----------------------

/// 10,000 USD/JPY.
fn lot(desk: &Desk, side: Side, kind: OrderKind) -> OrderSpec {
    desk.spec(USDJPY, side, 10_000, kind)
}

/// Account `c` places `request` (client order id "group") before the outage; after reopening
/// (not halted) a spike to 146.000 fills its first order, a sell stop at 149.000, which opens
/// a short; the market comes back at once and the guard records the spike as off-market.
/// Returns the desk, the account, its orders just before the spike and the ticks.
fn linked_spiked_desk(
    request: impl Fn(&Desk) -> OrderRequest,
) -> (Desk, AccountId, Vec<Order>, std::path::PathBuf) {
    spiked_group_desk(T0, request, |desk| window_market(desk, T0, 10 * MINUTE))
}

/// The story of `linked_spiked_desk` with the outage window `[start, start + 60 min)`, its
/// market made by `window` (which returns the tick file): the group placed an hour before,
/// the spike a second after the window, the market back a second later, the guard's span.
fn spiked_group_desk(
    start: i64,
    request: impl Fn(&Desk) -> OrderRequest,
    window: impl FnOnce(&mut Desk) -> std::path::PathBuf,
) -> (Desk, AccountId, Vec<Order>, std::path::PathBuf) {
    let mut desk = Desk::new(start - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let c = desk.account(Currency::JPY, 1_000_000);
    let request = request(&desk);
    let events = desk.run(CommandKind::PlaceOrder {
        account: c,
        client_order_id: Some("group".to_owned()),
        request,
    });
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected(_))),
        "{events:?}"
    );
    let ticks = window(&mut desk);
    let before: Vec<Order> = desk.engine().orders_of(c).into_iter().cloned().collect();
    let events = desk.quote_at(start + 60 * MINUTE + SECOND, USDJPY, 146_000, 146_005);
    let first = before[0].id;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::OrderFilled { order, .. } if *order == first)),
        "{events:?}"
    );
    assert_eq!(
        desk.engine().positions_of(c).len(),
        1,
        "a short at the spike"
    );
    rollover_spike_reverted(&mut desk, start);
    (desk, c, before, ticks)
}

/// Plans (rewrite, guard evidence), approves twice and applies; checks that the group waits
/// again exactly as before the spike, the money is untouched, and a second apply is a no-op.
/// Returns the correction's note.
fn the_group_waits_again(request: impl Fn(&Desk) -> OrderRequest, orders: usize) -> String {
    let (desk, c, before, ticks) = linked_spiked_desk(request);
    assert_eq!(before.len(), orders);
    let plan = approved_hour_plan(&desk, &ticks, guard_policy());
    let bad: Vec<_> = plan
        .corrections
        .iter()
        .filter(|k| k.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 1, "{:#?} {:#?}", plan.corrections, plan.skipped);
    let correction = bad[0];
    assert_eq!(correction.mode, CorrectionMode::Rewrite);
    match correction.commands.as_slice() {
        [CommandKind::BackfillClose { price: 146_000, .. }, CommandKind::BackfillRestoreOrders { orders: group, .. }] =>
        {
            let ids: Vec<OrderId> = group.iter().map(|o| o.order.order.id).collect();
            let expected: Vec<OrderId> = before.iter().map(|o| o.id).collect();
            assert_eq!(ids, expected);
        }
        other => panic!("{other:#?}"),
    }
    assert!(
        correction.note.contains("waits at its level again")
            && !correction.note.contains("not put back"),
        "{}",
        correction.note
    );
    let (report, after) = applied_twice(&desk, &plan, T0 + 70 * MINUTE);
    assert_eq!((report.executed, report.already_applied), (2, 0));
    // The same orders, ids, levels, links, active or waiting, as just before the spike.
    let now: Vec<Order> = after.orders_of(c).into_iter().cloned().collect();
    assert_eq!(now, before);
    assert!(after.positions_of(c).is_empty());
    let account = after.account(c).unwrap();
    assert_eq!(account.balance_minor, 1_000_000);
    assert_eq!(account.adjustments_minor, 0);
    assert_eq!(
        after.client_order(c, "group"),
        Some(&ClientOrderOutcome::Accepted(before[0].id))
    );
    conserved_all(&after);
    correction.note.clone()
}

#[test]
fn an_oco_leg_an_off_market_spike_filled_waits_again_with_its_peer() {
    let note = the_group_waits_again(
        |desk| {
            OrderRequest::Oco(
                lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
                lot(desk, Side::Sell, OrderKind::Limit { price: 151_500 }),
            )
        },
        2,
    );
    assert!(note.contains("with its OCO peer"), "{note}");
}

#[test]
fn an_ifd_parent_an_off_market_spike_filled_waits_again_with_its_child() {
    let note = the_group_waits_again(
        |desk| OrderRequest::Ifd {
            first: lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
            then: lot(desk, Side::Buy, OrderKind::Limit { price: 145_000 }),
        },
        2,
    );
    assert!(note.contains("child order(s)"), "{note}");
}

#[test]
fn an_ifo_parent_an_off_market_spike_filled_waits_again_with_its_oco_children() {
    let note = the_group_waits_again(
        |desk| OrderRequest::Ifo {
            first: lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
            then_a: lot(desk, Side::Buy, OrderKind::Limit { price: 145_000 }),
            then_b: lot(desk, Side::Buy, OrderKind::Stop { price: 152_000 }),
        },
        3,
    );
    assert!(note.contains("child order(s)"), "{note}");
}

#[test]
fn an_ifd_whose_child_opens_positions_of_its_own_is_not_put_back_and_the_note_says_why() {
    // A same-side child works on its own after the fill: closing the short does not remove it.
    let (desk, _, before, ticks) = linked_spiked_desk(|desk| OrderRequest::Ifd {
        first: lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
        then: lot(desk, Side::Sell, OrderKind::Limit { price: 152_000 }),
    });
    let plan = approved_hour_plan(&desk, &ticks, guard_policy());
    let correction = plan
        .corrections
        .iter()
        .find(|k| k.kind == CorrectionKind::BadTick)
        .unwrap();
    assert!(
        matches!(
            correction.commands.as_slice(),
            [CommandKind::BackfillClose { .. }]
        ),
        "{:#?}",
        correction.commands
    );
    assert!(
        correction.note.contains(&format!(
            "order {} is not put back (its child order {} works on its own",
            before[0].id, before[1].id
        )),
        "{}",
        correction.note
    );
}

// ----- a group the replay ends inside the window is not put back -----------------------------

#[test]
fn below_the_minimum_outage_an_off_market_fill_the_replay_would_have_made_is_still_undone() {
    // Inside the window the market falls through the sell stop at 149.000 (the replay fills
    // it), but the outage is shorter than the policy's minimum, so the plan fills nothing.
    // The spike after reopening fills that stop live: that fill must still be undone, as for
    // any other order (it used to be left alone as "corrected by the replay").
    let (desk, c, before, ticks) = spiked_group_desk(
        T0,
        |desk| OrderRequest::Single(lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 })),
        |desk| {
            desk.quote_at(T0, USDJPY, 150_010, 150_015);
            let ticks = write_ticks(
                desk.dir.path(),
                "w.csv",
                desk.engine(),
                &[(T0 + 10 * MINUTE, USDJPY, 148_900, 148_905)],
            );
            desk.quote_at(T0 + 60 * MINUTE, USDJPY, 150_500, 150_505);
            ticks
        },
    );
    let mut policy = guard_policy();
    policy.minimum_outage_minutes = 120;
    let plan = approved_hour_plan(&desk, &ticks, policy);
    let kinds: Vec<CorrectionKind> = plan.corrections.iter().map(|k| k.kind).collect();
    assert_eq!(
        kinds,
        vec![CorrectionKind::BadTick],
        "{:#?} {:#?}",
        plan.corrections,
        plan.skipped
    );
    assert!(plan.skipped.iter().any(|s| s.reason.contains("minimum")));
    let (_, after) = applied_twice(&desk, &plan, T0 + 70 * MINUTE);
    let now: Vec<Order> = after.orders_of(c).into_iter().cloned().collect();
    assert_eq!(now, before, "the stop waits at its level again");
    assert!(after.positions_of(c).is_empty());
    conserved_all(&after);
}

/// `account`'s position is back as it was but for its day take-profit: its stop-loss alone
/// waits, and the correction's `note` says the take-profit is not put back, then `why`.
fn back_without_the_day_take_profit(
    after: &Engine,
    account: AccountId,
    position: &Position,
    orders: &[Order],
    note: &str,
    why: &str,
) {
    let take_profit = orders
        .iter()
        .find(|o| o.time_in_force == TimeInForce::Day)
        .unwrap();
    let stop_loss = orders.iter().find(|o| o.id != take_profit.id).unwrap();
    assert_eq!(position.stop_loss, Some(stop_loss.id));
    let p = after.positions_of(account)[0];
    assert_eq!(
        p.closing_orders.iter().collect::<Vec<_>>(),
        vec![&stop_loss.id],
        "{note}"
    );
    let mut expected = position.clone();
    expected.closing_orders = p.closing_orders.clone();
    assert_eq!(p, &expected, "as it was, but for the take-profit");
    assert_eq!(after.orders_of(account), vec![stop_loss]);
    assert!(after.order(take_profit.id).is_none());
    assert!(
        note.contains(&format!(
            "position {}'s order(s) {} are not put back{why}",
            position.id, take_profit.id
        )),
        "{note}"
    );
    assert!(!note.contains("without their OCO peer"), "{note}");
}

/// Like `linked_spiked_desk`, with the outage over New York's 17:00 rollover: the window
/// `[start, start + 60 min)` starts Tuesday 20:30 UTC (the rollover is 21:00 UTC in July),
/// the live engine misses that rollover, and after reopening a spike to 146.000 fills the
/// group's first order, a sell stop at 149.000. Returns the desk, the account, its orders
/// just before the spike, the ticks and the window's start.
fn rollover_spiked_desk(
    request: impl Fn(&Desk) -> OrderRequest,
) -> (Desk, AccountId, Vec<Order>, std::path::PathBuf, i64) {
    let start = T0 + 10 * 60 * MINUTE + 30 * MINUTE;
    let (desk, c, before, ticks) =
        spiked_group_desk(start, request, |desk| rollover_window(desk, start));
    (desk, c, before, ticks, start)
}

/// The rollover window's market: its one tick comes after the rollover (40 minutes in).
fn rollover_window(desk: &mut Desk, start: i64) -> std::path::PathBuf {
    window_market(desk, start, 40 * MINUTE)
}

/// An hour's outage window from `start`: a quote at its start (the last before the outage),
/// one tick `tick_after` into it (the tick file, returned) and the reopening quote at its end.
fn window_market(desk: &mut Desk, start: i64, tick_after: i64) -> std::path::PathBuf {
    desk.quote_at(start, USDJPY, 150_010, 150_015);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[(start + tick_after, USDJPY, 150_300, 150_305)],
    );
    desk.quote_at(start + 60 * MINUTE, USDJPY, 150_500, 150_505);
    ticks
}

/// After the spike at `start + 60 min + 1 s`: the market back a second later, the server
/// stopped, and the guard's span over the spike.
fn rollover_spike_reverted(desk: &mut Desk, start: i64) {
    desk.quote_at(start + 60 * MINUTE + 2 * SECOND, USDJPY, 150_510, 150_515);
    desk.stop();
    write_flags(
        desk,
        &[Record::OffMarket(OffMarketSpan {
            instrument: fresh().instrument_by_symbol(USDJPY).unwrap(),
            symbol: USDJPY.to_owned(),
            from_ns: start + 60 * MINUTE + SECOND,
            until_ns: start + 60 * MINUTE + 2 * SECOND,
            flags: vec![7, 8],
            by: MarkedBy::Reverted,
        })],
    );
}

/// Plans the rollover window (rewrite, guard evidence), applies it twice; returns the plan
/// and the state after the first apply. The second apply must change nothing.
fn rollover_plan_applied_twice(
    desk: &Desk,
    ticks: &std::path::Path,
    start: i64,
) -> (fxdesk_backfill::Plan, Engine) {
    let plan = approved(plan(
        desk,
        start,
        start + 60 * MINUTE,
        &[ticks.to_path_buf()],
        guard_policy(),
    ));
    assert_eq!(
        plan.window.rollovers,
        vec!["2026-07-14T21:00:00Z".to_owned()]
    );
    let (_, after) = applied_twice(desk, &plan, start + 70 * MINUTE);
    (plan, after)
}

#[test]
fn an_ifd_whose_day_child_the_replay_expires_is_not_put_back_and_applies_once() {
    let (desk, c, before, ticks, start) = rollover_spiked_desk(|desk| {
        let mut then = lot(desk, Side::Buy, OrderKind::Limit { price: 145_000 });
        then.time_in_force = TimeInForce::Day;
        OrderRequest::Ifd {
            first: lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
            then,
        }
    });
    let (parent, child) = (before[0].id, before[1].id);
    let (plan, after) = rollover_plan_applied_twice(&desk, &ticks, start);
    // The rollover inside the window expires the waiting day child: it must not come back.
    assert!(after.order(child).is_none(), "{:#?}", plan.corrections);
    assert!(after.positions_of(c).is_empty());
    let bad = plan
        .corrections
        .iter()
        .find(|k| k.kind == CorrectionKind::BadTick)
        .unwrap();
    assert!(
        bad.note
            .contains(&format!("order {parent} is not put back")),
        "{}",
        bad.note
    );
    conserved_all(&after);
}

#[test]
fn an_oco_pair_whose_day_leg_the_replay_expires_is_not_put_back() {
    let (desk, c, before, ticks, start) = rollover_spiked_desk(|desk| {
        let mut day = lot(desk, Side::Sell, OrderKind::Limit { price: 151_500 });
        day.time_in_force = TimeInForce::Day;
        OrderRequest::Oco(
            lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
            day,
        )
    });
    let (plan, after) = rollover_plan_applied_twice(&desk, &ticks, start);
    // The rollover expires the day leg and its peer with it: neither may work again.
    assert!(
        after.orders_of(c).is_empty(),
        "{:#?} {:#?}",
        after.orders_of(c),
        plan.corrections
    );
    assert!(after.positions_of(c).is_empty());
    let bad = plan
        .corrections
        .iter()
        .find(|k| k.kind == CorrectionKind::BadTick)
        .unwrap();
    assert!(
        bad.note
            .contains(&format!("order {} is not put back", before[0].id)),
        "{}",
        bad.note
    );
    conserved_all(&after);
}

// ----- a restored position leaves out the closing orders the replay ends -------------------

/// Over the rollover window of `rollover_spiked_desk` (`[start, start + 60 min)`, New York's
/// 17:00 inside it, missed by the live engine), three long USD/JPY positions:
/// - `a`: 10,000 with a day take-profit (a closing sell limit at 151.000, time in force day)
///   and a good-till-cancelled stop-loss at 149.500 (not linked);
/// - `b`: 15,000 on a small deposit with the same day take-profit and a stop-loss at 145.000,
///   below the spike;
/// - `c`: 10,000 with a take-profit / stop-loss pair (OCO), the take-profit amended to day.
///
/// After reopening a spike to 146.000 stops `a` and `c` out and loss-cuts `b`. Returns the
/// desk, the accounts, each one's position and orders just before the spike, the ticks and
/// the window's start.
#[allow(clippy::type_complexity)]
fn day_take_profit_desk() -> (
    Desk,
    [(AccountId, Position, Vec<Order>); 3],
    std::path::PathBuf,
    i64,
) {
    let start = T0 + 10 * 60 * MINUTE + 30 * MINUTE;
    let (desk, before, ticks) = spiked_day_take_profits(start, 3);
    let before = before.try_into().unwrap();
    (desk, before, ticks, start)
}

/// The first `accounts` (2 or 3) of `day_take_profit_desk`'s accounts, over the window
/// `[start, start + 60 min)` (its one tick 40 minutes in), stopped out or cut by the spike a
/// second after it, the market back a second later and the guard's span written.
#[allow(clippy::type_complexity)]
fn spiked_day_take_profits(
    start: i64,
    accounts: usize,
) -> (
    Desk,
    Vec<(AccountId, Position, Vec<Order>)>,
    std::path::PathBuf,
) {
    let mut desk = Desk::new(start - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let mut held = Vec::new();
    for (deposit, qty, stop) in [
        (1_000_000, 10_000, 149_500),
        (100_000, 15_000, 145_000),
        (1_000_000, 10_000, 149_500),
    ]
    .into_iter()
    .take(accounts)
    {
        let account = desk.account(Currency::JPY, deposit);
        desk.place(
            account,
            OrderRequest::Single(desk.spec(
                USDJPY,
                Side::Buy,
                qty,
                OrderKind::Market { slippage: None },
            )),
        );
        let position = desk.engine().positions_of(account)[0].id;
        let linked = held.len() == 2;
        let events = desk.run(CommandKind::SetProtection {
            account,
            position,
            take_profit: linked.then_some(151_000),
            stop_loss: Some(stop),
        });
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected(_))),
            "{events:?}"
        );
        let day_take_profit = if linked {
            desk.engine()
                .position(position)
                .unwrap()
                .take_profit
                .unwrap()
        } else {
            let mut spec = desk.spec(USDJPY, Side::Sell, qty, OrderKind::Limit { price: 151_000 });
            spec.close_position = Some(position);
            desk.place_one(account, spec)
        };
        let events = desk.run(CommandKind::AmendOrder {
            account,
            order: day_take_profit,
            amendment: Amendment {
                qty: None,
                price: None,
                limit: None,
                distance_ticks: None,
                time_in_force: Some(TimeInForce::Day),
            },
        });
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected(_))),
            "{events:?}"
        );
        held.push(account);
    }
    let ticks = window_market(&mut desk, start, 40 * MINUTE);
    let before: Vec<(AccountId, Position, Vec<Order>)> = held
        .into_iter()
        .map(|account| {
            let engine = desk.engine();
            let position = engine.positions_of(account)[0].clone();
            let orders: Vec<Order> = engine.orders_of(account).into_iter().cloned().collect();
            assert_eq!(orders.len(), 2, "both orders work before the spike");
            (account, position, orders)
        })
        .collect();
    let events = desk.quote_at(start + 60 * MINUTE + SECOND, USDJPY, 146_000, 146_005);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LossCut { account, .. } if *account == before[1].0)),
        "{events:?}"
    );
    for (account, _, _) in &before {
        assert!(desk.engine().positions_of(*account).is_empty());
        assert!(desk.engine().orders_of(*account).is_empty());
    }
    rollover_spike_reverted(&mut desk, start);
    (desk, before, ticks)
}

#[test]
fn a_restored_position_leaves_out_the_day_take_profit_the_replay_expires_and_applies_once() {
    let (desk, before, ticks, start) = day_take_profit_desk();
    let (plan, after) = rollover_plan_applied_twice(&desk, &ticks, start);
    let bad: Vec<_> = plan
        .corrections
        .iter()
        .filter(|k| k.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 3, "{:#?} {:#?}", plan.corrections, plan.skipped);
    assert!(bad.iter().all(|k| k.mode == CorrectionMode::Rewrite));
    let of = |account: AccountId| bad.iter().find(|k| k.account == account.0).unwrap();
    assert_eq!(of(before[1].0).order_kind, "off_market_loss_cut");

    // a and b (stopped out, cut): the position is back with its stop-loss; the day
    // take-profit the rollover inside the window expires is not.
    for (account, position, orders) in &before[..2] {
        back_without_the_day_take_profit(
            &after,
            *account,
            position,
            orders,
            &of(*account).note,
            "",
        );
    }
    assert_eq!(after.account(before[0].0).unwrap().balance_minor, 1_000_000);
    assert_eq!(after.account(before[1].0).unwrap().balance_minor, 100_000);

    // c: its day take-profit expiring takes its OCO stop-loss along in the replay, so the
    // position comes back bare, naming neither.
    let (account, position, orders) = &before[2];
    let p = after.positions_of(*account)[0];
    assert_eq!(
        (p.id, p.qty, p.open_price),
        (position.id, position.qty, position.open_price)
    );
    assert_eq!((p.take_profit, p.stop_loss), (None, None));
    assert!(after.orders_of(*account).is_empty());
    let ids: Vec<String> = orders.iter().map(|o| o.id.to_string()).collect();
    assert!(
        of(*account)
            .note
            .contains(&format!("order(s) {} are not put back", ids.join(", "))),
        "{}",
        of(*account).note
    );
    assert_eq!(after.account(*account).unwrap().balance_minor, 1_000_000);
    for (account, _, _) in &before {
        assert_eq!(after.account(*account).unwrap().adjustments_minor, 0);
    }
    conserved_all(&after);
}

// ----- an off-market quote of the cross rate that converts a position's P&L -----------------

const EURJPY: &str = "EUR/JPY";
/// When the guard-flagged USD/JPY spike comes: one second after reopening.
const CROSS_SPIKE_NS: i64 = T0 + 60 * MINUTE + SECOND;

/// A JPY account (`deposit` JPY) opens `positions` at market (EUR/USD 1.10000/1.10005, USD/JPY
/// 150.000/150.005, EUR/JPY 165.000/165.005), EUR/USD moves to `eurusd`; the system is down
/// for the hour after T0, comes back at the same quotes, then USD/JPY spikes to `spike`,
/// which loss-cuts the account (EUR/USD P&L is converted at USD/JPY's mid), and comes back;
/// the guard's flag file marks the spike off-market. Returns the desk, the account and its
/// positions before the cut, and the tick file of the window.
fn cross_spiked_desk(
    deposit: i64,
    positions: &[(&str, Side)],
    eurusd: (Price, Price),
    spike: (Price, Price),
) -> (Desk, AccountId, Vec<Position>, std::path::PathBuf) {
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    desk.quote(EURUSD, 110_000, 110_005);
    desk.quote(EURJPY, 165_000, 165_005);
    let a = desk.account(Currency::JPY, deposit);
    for &(symbol, side) in positions {
        let spec = desk.spec(symbol, side, 10_000, OrderKind::Market { slippage: None });
        desk.place(a, OrderRequest::Single(spec));
    }
    desk.quote(EURUSD, eurusd.0, eurusd.1);
    let held: Vec<Position> = desk.engine().positions_of(a).into_iter().cloned().collect();
    assert_eq!(held.len(), positions.len());
    assert!(!desk.engine().account(a).unwrap().margin_call);
    desk.quote_at(T0, USDJPY, 150_000, 150_005);
    let good = [
        (USDJPY, 150_000, 150_005),
        (EURUSD, eurusd.0, eurusd.1),
        (EURJPY, 165_000, 165_005),
    ];
    let window: Vec<(i64, &str, Price, Price)> = good
        .iter()
        .map(|&(symbol, bid, ask)| (T0 + 10 * MINUTE, symbol, bid, ask))
        .collect();
    let ticks = write_ticks(desk.dir.path(), "w.csv", desk.engine(), &window);
    for (symbol, bid, ask) in good {
        desk.quote_at(T0 + 60 * MINUTE, symbol, bid, ask);
    }
    let events = desk.quote_at(CROSS_SPIKE_NS, USDJPY, spike.0, spike.1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LossCut { account, .. } if *account == a)),
        "{events:?}"
    );
    assert!(desk.engine().positions_of(a).is_empty());
    cross_spike_reverted(&mut desk);
    (desk, a, held, ticks)
}

/// After the USD/JPY spike at `CROSS_SPIKE_NS`: the market back a second later, the server
/// stopped, and the guard's span over the spike.
fn cross_spike_reverted(desk: &mut Desk) {
    desk.quote_at(CROSS_SPIKE_NS + SECOND, USDJPY, 150_010, 150_015);
    let usdjpy = desk.id(USDJPY);
    desk.stop();
    write_flags(
        desk,
        &[Record::OffMarket(OffMarketSpan {
            instrument: usdjpy,
            symbol: USDJPY.to_owned(),
            from_ns: CROSS_SPIKE_NS,
            until_ns: CROSS_SPIKE_NS + SECOND,
            flags: vec![11],
            by: MarkedBy::Reverted,
        })],
    );
}

/// 10,000 EUR/USD bought at 1.10005 and sold at `exit`, in JPY at the USD/JPY mid
/// (bid + ask) / 2 / 1000, rounded half away from zero: the rule written in the engine's
/// money module, computed here by hand.
fn eurusd_pnl_jpy(exit: Price, (bid, ask): (Price, Price)) -> i64 {
    let num = 10_000i128 * i128::from(exit - 110_005) * i128::from(bid + ask);
    let den = 100_000i128 * 2 * 1_000;
    let rounded = (num.abs() + den / 2) / den;
    i64::try_from(rounded * num.signum()).unwrap()
}

#[test]
fn cash_pays_a_loss_cut_whose_pnl_an_off_market_cross_rate_converted() {
    // EUR/USD at 1.08000: -200.50 USD, 105 % margin level at USD/JPY 150; at the spike to
    // 340 the loss is 68,171 JPY and the account is cut at the good EUR/USD bid.
    let (desk, a, held, ticks) = cross_spiked_desk(
        100_000,
        &[(EURUSD, Side::Buy)],
        (108_000, 108_005),
        (340_000, 340_005),
    );
    let booked = eurusd_pnl_jpy(108_000, (340_000, 340_005));
    let at_good_rate = eurusd_pnl_jpy(108_000, (150_000, 150_005));
    assert_eq!((booked, at_good_rate), (-68_171, -30_076));
    let expected = at_good_rate - booked;
    let planned_on = journal_state(&desk);
    assert_eq!(
        planned_on.account(a).unwrap().realised_pnl_minor,
        booked,
        "the cut booked the P&L at the spike's rate"
    );

    let plan = approved_hour_plan(&desk, &ticks, eager_policy());
    assert_eq!(plan.corrections.len(), 1, "{:#?}", plan.corrections);
    let paid = &plan.corrections[0];
    assert_eq!(
        (paid.kind, paid.mode, paid.order_kind.as_str()),
        (
            CorrectionKind::BadTick,
            CorrectionMode::Cash,
            "off_market_loss_cut"
        )
    );
    assert_eq!((paid.account, paid.position), (a.0, Some(held[0].id.0)));
    assert_eq!(paid.instrument, EURUSD);
    assert_eq!((paid.market_price, paid.proposed_price), (108_000, 108_000));
    assert_eq!(paid.difference_minor, expected);
    assert!(
        matches!(
            paid.commands.as_slice(),
            [CommandKind::CashAdjustment { account, amount_minor, .. }]
                if *account == a && *amount_minor == expected
        ),
        "{:?}",
        paid.commands
    );
    assert!(
        matches!(&paid.evidence, Some(OffMarketEvidence::Guard { flags, .. }) if flags == &vec![11]),
        "{:?}",
        paid.evidence
    );
    for words in [
        "off-market USD/JPY quote",
        "the close booked -68171 JPY",
        "at the last good USD/JPY rate it is -30076 JPY",
    ] {
        assert!(paid.note.contains(words), "{words}: {}", paid.note);
    }

    // Applied once: a second apply writes nothing.
    let (report, after) = applied_twice(&desk, &plan, T0 + 70 * MINUTE);
    assert_eq!((report.executed, report.already_applied), (1, 0));
    let account = after.account(a).unwrap();
    assert_eq!(account.adjustments_minor, expected);
    assert_eq!(
        account.balance_minor,
        planned_on.account(a).unwrap().balance_minor + expected
    );
    conserved_all(&after);
}

#[test]
fn cash_pays_nothing_when_the_off_market_cross_rate_converted_in_the_customers_favour() {
    // A USD/JPY short and a EUR/USD long in profit (1.12000: +199.50 USD). The spike to 165
    // cuts the short at the off-market ask (paid back to the last good ask, the usual rule)
    // and converts the EUR/USD profit at the spike's higher rate: the customer got more.
    let (desk, a, held, ticks) = cross_spiked_desk(
        140_000,
        &[(USDJPY, Side::Sell), (EURUSD, Side::Buy)],
        (112_000, 112_005),
        (165_000, 165_005),
    );
    let short = held.iter().find(|p| p.side == Side::Sell).unwrap().id;
    let long = held.iter().find(|p| p.side == Side::Buy).unwrap().id;
    let booked = eurusd_pnl_jpy(112_000, (165_000, 165_005));
    let at_good_rate = eurusd_pnl_jpy(112_000, (150_000, 150_005));
    assert_eq!((booked, at_good_rate), (32_918, 29_925));

    let plan = approved_hour_plan(&desk, &ticks, eager_policy());
    // Only the short is paid: 15.000 yen a unit above the last good ask of 150.005.
    let paid: Vec<(Option<u64>, i64)> = plan
        .corrections
        .iter()
        .map(|c| (c.position, c.difference_minor))
        .collect();
    assert_eq!(paid, vec![(Some(short.0), 150_000)]);
    let skipped = plan
        .skipped
        .iter()
        .find(|s| s.position == Some(long.0))
        .unwrap();
    for words in [
        "off-market USD/JPY quote in the customer's favour",
        "the close booked 32918 JPY, at the last good USD/JPY rate it is 29925 JPY",
        "not charged back",
    ] {
        assert!(
            skipped.reason.contains(words),
            "{words}: {}",
            skipped.reason
        );
    }

    let (_, after) = applied_twice(&desk, &plan, T0 + 70 * MINUTE);
    assert_eq!(after.account(a).unwrap().adjustments_minor, 150_000);
    conserved_all(&after);
}

#[test]
fn cash_pays_a_converted_loss_cut_at_a_stale_price_to_the_last_good_price_and_rate() {
    // As `cash_pays_a_loss_cut_whose_pnl_an_off_market_cross_rate_converted`, but EUR/USD had
    // no journaled quote since reopening: the cut closes the long at the quote before the
    // outage (1.08000), while the market was at 1.08500 when the system came back (the tick
    // files' first tick at the window's end). The price rule pays that difference for a
    // position whose P&L nothing converted; the cross-rate rule must not drop it.
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    desk.quote(EURUSD, 110_000, 110_005);
    desk.quote(EURJPY, 165_000, 165_005);
    let a = desk.account(Currency::JPY, 100_000);
    let spec = desk.spec(
        EURUSD,
        Side::Buy,
        10_000,
        OrderKind::Market { slippage: None },
    );
    desk.place(a, OrderRequest::Single(spec));
    desk.quote(EURUSD, 108_000, 108_005);
    let held = desk.engine().positions_of(a)[0].id;
    desk.quote_at(T0, USDJPY, 150_000, 150_005);
    let ticks = write_ticks(
        desk.dir.path(),
        "w.csv",
        desk.engine(),
        &[
            (T0 + 10 * MINUTE, EURUSD, 108_000, 108_005),
            (T0 + 60 * MINUTE, USDJPY, 150_000, 150_005),
            (T0 + 60 * MINUTE, EURUSD, 108_500, 108_505),
        ],
    );
    desk.quote_at(T0 + 60 * MINUTE, USDJPY, 150_000, 150_005);
    let events = desk.quote_at(CROSS_SPIKE_NS, USDJPY, 340_000, 340_005);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LossCut { account, .. } if *account == a)),
        "{events:?}"
    );
    cross_spike_reverted(&mut desk);
    let booked = eurusd_pnl_jpy(108_000, (340_000, 340_005));
    // The same close at the last good EUR/USD bid and the last good USD/JPY rate.
    let good = eurusd_pnl_jpy(108_500, (150_000, 150_005));
    let plan = approved_hour_plan(&desk, &ticks, eager_policy());
    let paid: Vec<(Option<u64>, i64)> = plan
        .corrections
        .iter()
        .map(|c| (c.position, c.difference_minor))
        .collect();
    assert_eq!(
        paid,
        vec![(Some(held.0), good - booked)],
        "{:#?}",
        plan.corrections
    );
    assert!(
        plan.corrections[0]
            .note
            .contains("at the last good USD/JPY rate and the last good price 1.08500 it is"),
        "{}",
        plan.corrections[0].note
    );
}

#[test]
fn rewrite_restores_of_one_account_stay_within_its_order_limit_together() {
    // Two positions of one account, each with a take-profit and a stop-loss, and working
    // orders up to the account's limit; the spike cuts both (their four orders go), and the
    // customer places two orders after reopening. Each restore alone fits the limit; both do
    // not: the plan must not write a restore the engine refuses at apply time.
    let limit = fxdesk_engine::limits::ORDERS_PER_ACCOUNT_MAX;
    let mut desk = Desk::new(T0 - 60 * MINUTE);
    desk.quote(USDJPY, 150_000, 150_005);
    let b = desk.account(Currency::JPY, 130_000);
    for _ in 0..2 {
        let spec = desk.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Market { slippage: None },
        );
        desk.place(b, OrderRequest::Single(spec));
    }
    let positions: Vec<PositionId> = desk.engine().positions_of(b).iter().map(|p| p.id).collect();
    for position in &positions {
        let events = desk.run(CommandKind::SetProtection {
            account: b,
            position: *position,
            take_profit: Some(160_000),
            stop_loss: Some(140_000),
        });
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected(_))),
            "{events:?}"
        );
    }
    let far = |desk: &Desk| {
        desk.spec(
            USDJPY,
            Side::Buy,
            1_000,
            OrderKind::Limit { price: 100_000 },
        )
    };
    while desk.engine().orders_of(b).len() < limit {
        let spec = far(&desk);
        desk.place_one(b, spec);
    }
    let ticks = window_market(&mut desk, T0, 10 * MINUTE);
    let events = desk.quote_at(T0 + 60 * MINUTE + SECOND, USDJPY, 146_000, 146_005);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LossCut { account, .. } if *account == b)),
        "{events:?}"
    );
    assert!(desk.engine().positions_of(b).is_empty());
    desk.quote_at(T0 + 60 * MINUTE + 2 * SECOND, USDJPY, 150_510, 150_515);
    for _ in 0..2 {
        let spec = far(&desk);
        desk.place_one(b, spec);
    }
    assert_eq!(desk.engine().orders_of(b).len(), limit - 2);
    desk.stop();
    let plan = approved(plan(
        &desk,
        T0,
        T0 + 60 * MINUTE,
        &[ticks],
        spike_policy(CorrectionMode::Rewrite),
    ));
    let cuts: Vec<(Option<u64>, CorrectionMode)> = plan
        .corrections
        .iter()
        .filter(|c| c.order_kind == "off_market_loss_cut")
        .map(|c| (c.position, c.mode))
        .collect();
    assert_eq!(cuts.len(), 2, "{:#?}", plan.corrections);
    // The first comes back with its two orders (998 + 2); the second would pass the limit
    // then: it is paid in cash, and the note says why.
    assert_eq!(
        cuts.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![CorrectionMode::Rewrite, CorrectionMode::Cash]
    );
    assert!(plan
        .corrections
        .iter()
        .any(|c| c.mode == CorrectionMode::Cash && c.note.contains("order limit")));
    let report = apply(&plan, &desk.journal_dir(), None, fresh, T0 + 70 * MINUTE);
    assert!(report.is_ok(), "{report:?} {cuts:?}");
    let after = state_now(&desk);
    assert!(after.orders_of(b).len() <= limit);
    conserved_all(&after);
}

// ----- day/week orders a rollover journaled after an off-market quote ended ---------------

/// The New York rollover the live engine applied after reopening (Tuesday 21:00 UTC): the
/// window `[start, start + 60 min)` ends half an hour before it, so it is not the replay's.
const LAPSED_START_NS: i64 = T0 + 9 * 60 * MINUTE + 30 * MINUTE;
const LAPSED_ROLLOVER_NS: i64 = T0 + 11 * 60 * MINUTE;

/// After the spike and the market's return, the live engine applies the day's rollover
/// (no swap rates), which would have expired the day orders put back; then the server stops.
fn journaled_rollover(desk: &mut Desk) {
    let events = desk.run_at(
        LAPSED_ROLLOVER_NS,
        CommandKind::Rollover {
            swaps: Vec::new(),
            weekly: false,
        },
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected(_))),
        "{events:?}"
    );
    desk.stop();
}

/// Plans the window before the journaled rollover (rewrite, guard evidence) and applies it
/// twice; returns the plan and the state after the first apply.
fn lapsed_plan_applied_twice(
    desk: &Desk,
    ticks: &std::path::Path,
) -> (fxdesk_backfill::Plan, Engine) {
    let start = LAPSED_START_NS;
    let plan = approved(plan(
        desk,
        start,
        start + 60 * MINUTE,
        &[ticks.to_path_buf()],
        guard_policy(),
    ));
    assert!(plan.window.rollovers.is_empty(), "{:?}", plan.window);
    let (_, after) = applied_twice(desk, &plan, start + 100 * MINUTE);
    (plan, after)
}

/// Before an outage that ends at 20:30 UTC, two long USD/JPY positions, each with a day
/// take-profit (a closing sell limit at 151.000, time in force day) and a good-till-cancelled
/// stop-loss (not linked): `a` (10,000, stop at 149.500) and `b` (15,000 on a small deposit,
/// stop at 145.000, below the spike). A second after reopening a spike to 146.000 stops `a`
/// out and loss-cuts `b`; the market comes back, then the 21:00 UTC rollover is journaled.
/// Returns the desk, each account with its position and orders just before the spike, and
/// the ticks.
#[allow(clippy::type_complexity)]
fn lapsed_take_profit_desk() -> (
    Desk,
    [(AccountId, Position, Vec<Order>); 2],
    std::path::PathBuf,
) {
    let (mut desk, before, ticks) = spiked_day_take_profits(LAPSED_START_NS, 2);
    journaled_rollover(&mut desk);
    (desk, before.try_into().unwrap(), ticks)
}

#[test]
fn a_restored_position_leaves_out_the_day_take_profit_a_journaled_rollover_ended() {
    let (desk, before, ticks) = lapsed_take_profit_desk();
    let (plan, after) = lapsed_plan_applied_twice(&desk, &ticks);
    let bad: Vec<_> = plan
        .corrections
        .iter()
        .filter(|k| k.kind == CorrectionKind::BadTick)
        .collect();
    assert_eq!(bad.len(), 2, "{:#?} {:#?}", plan.corrections, plan.skipped);
    assert!(bad.iter().all(|k| k.mode == CorrectionMode::Rewrite));
    let of = |account: AccountId| bad.iter().find(|k| k.account == account.0).unwrap();
    assert_eq!(of(before[1].0).order_kind, "off_market_loss_cut");
    for (account, position, orders) in &before {
        back_without_the_day_take_profit(
            &after,
            *account,
            position,
            orders,
            &of(*account).note,
            " (a day/week order the rollover journaled after the quote at 2026-07-14T21:00:00Z ended",
        );
        assert_eq!(after.account(*account).unwrap().adjustments_minor, 0);
    }
    assert_eq!(after.account(before[0].0).unwrap().balance_minor, 1_000_000);
    assert_eq!(after.account(before[1].0).unwrap().balance_minor, 100_000);
    conserved_all(&after);
}

#[test]
fn an_oco_pair_whose_day_leg_a_journaled_rollover_ended_is_not_put_back() {
    let start = LAPSED_START_NS;
    let (mut desk, c, before, ticks) = spiked_group_desk(
        start,
        |desk| {
            let mut day = lot(desk, Side::Sell, OrderKind::Limit { price: 151_500 });
            day.time_in_force = TimeInForce::Day;
            OrderRequest::Oco(
                lot(desk, Side::Sell, OrderKind::Stop { price: 149_000 }),
                day,
            )
        },
        |desk| window_market(desk, start, 40 * MINUTE),
    );
    journaled_rollover(&mut desk);
    let (plan, after) = lapsed_plan_applied_twice(&desk, &ticks);
    let bad = plan
        .corrections
        .iter()
        .find(|k| k.kind == CorrectionKind::BadTick)
        .unwrap();
    assert!(
        matches!(bad.commands.as_slice(), [CommandKind::BackfillClose { .. }]),
        "{:#?}",
        bad.commands
    );
    assert!(
        bad.note.contains(&format!(
            "order {} is not put back (order {} is a day/week order the rollover journaled after the quote at 2026-07-14T21:00:00Z ended",
            before[0].id, before[1].id
        )),
        "{}",
        bad.note
    );
    // The fill is cancelled (the short closed at its entry price); neither leg works again.
    assert!(after.orders_of(c).is_empty(), "{:#?}", after.orders_of(c));
    assert!(after.positions_of(c).is_empty());
    let account = after.account(c).unwrap();
    assert_eq!(account.balance_minor, 1_000_000);
    assert_eq!(account.adjustments_minor, 0);
    conserved_all(&after);
}
