//! Hand-written scenarios: one per rule of the dealing engine.

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

// ----- quotes and time ----------------------------------------------------------------------

#[test]
fn bad_quotes_are_refused_with_a_reason_and_change_nothing() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    let before = h.engine.quote_of(h.id(USDJPY)).cloned();
    assert_eq!(
        rejection(&h.quote(USDJPY, 150_010, 150_000)),
        Some(Reject::CrossedQuote)
    );
    assert_eq!(
        rejection(&h.quote(USDJPY, 0, 150_000)),
        Some(Reject::NonPositivePrice)
    );
    assert_eq!(
        rejection(&h.quote(USDJPY, -5, 150_000)),
        Some(Reject::NonPositivePrice)
    );
    assert_eq!(
        rejection(&h.quote(USDJPY, 1_500, 1_505)),
        Some(Reject::PriceOffScale)
    );
    assert_eq!(
        rejection(&h.quote(USDJPY, 150_000, 151_000)),
        Some(Reject::SpreadTooWide)
    );
    let instrument = h.id(USDJPY);
    let old = h.run(CommandKind::Quote {
        instrument,
        bid: 150_001,
        ask: 150_006,
        source_time_ns: 1,
    });
    assert_eq!(rejection(&old), Some(Reject::StaleQuote));
    let unknown = h.run(CommandKind::Quote {
        instrument: InstrumentId(999),
        bid: 1,
        ask: 2,
        source_time_ns: i64::MAX,
    });
    assert_eq!(rejection(&unknown), Some(Reject::UnknownInstrument));
    assert_eq!(h.engine.quote_of(h.id(USDJPY)).cloned(), before);
}

#[test]
fn a_command_older_than_the_last_is_refused() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    let hash = h.engine.state_hash();
    let events = h.engine.apply(&Command {
        time_ns: h.time_ns - 1,
        kind: CommandKind::Halt { instrument: None },
    });
    assert_eq!(rejection(&events), Some(Reject::TimeWentBackwards));
    assert!(!h.engine.is_halted_globally());
    // Only the command counter moved.
    assert_ne!(hash, 0);
}

// ----- market orders ------------------------------------------------------------------------

#[test]
fn market_orders_fill_buy_at_ask_and_sell_at_bid() {
    let (mut h, a) = funded();
    assert_eq!(fills(&h.market(a, USDJPY, Side::Buy, 10_000))[0].2, 150_005);
    assert_eq!(
        fills(&h.market(a, USDJPY, Side::Sell, 10_000))[0].2,
        150_000
    );
    assert_eq!(h.positions(a).len(), 2, "hedging keeps both sides");
}

#[test]
fn market_slippage_refuses_worse_fills_and_takes_better_ones() {
    let (mut h, a) = funded();
    let order = |h: &Harness, expected, max_ticks| {
        h.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Market {
                slippage: Some(Slippage {
                    expected_price: expected,
                    max_ticks,
                }),
            },
        )
    };
    // Saw 149.990, tolerates 10 ticks, ask is 150.005: 15 worse.
    let spec = order(&h, 149_990, 10);
    let (_, events) = h.place_one(a, spec);
    assert_eq!(rejection(&events), Some(Reject::SlippageExceeded));
    let spec = order(&h, 149_995, 10);
    assert_eq!(fills(&h.place_one(a, spec).1)[0].2, 150_005);
    // Saw 150.100; the market is better: always taken.
    let spec = order(&h, 150_100, 0);
    assert_eq!(fills(&h.place_one(a, spec).1)[0].2, 150_005);
}

#[test]
fn orders_without_a_quote_or_with_bad_sizes_are_refused() {
    let mut h = Harness::default();
    let a = h.account(Currency::JPY, PositionMode::Hedging, 1_000_000);
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 10_000)),
        Some(Reject::NoQuote)
    );
    h.quote(USDJPY, 150_000, 150_005);
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 0)),
        Some(Reject::QtyOutOfRange)
    );
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, -1_000)),
        Some(Reject::QtyOutOfRange)
    );
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 10_500)),
        Some(Reject::QtyNotOnStep)
    );
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, i64::MAX)),
        Some(Reject::QtyOutOfRange)
    );
    assert_eq!(
        rejection(&h.market(AccountId(77), USDJPY, Side::Buy, 10_000)),
        Some(Reject::UnknownAccount)
    );
    let spec = h.spec(USDJPY, Side::Buy, 10_000, OrderKind::Limit { price: 0 });
    assert_eq!(
        rejection(&h.place_one(a, spec).1),
        Some(Reject::InvalidPrice)
    );
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: i64::MAX },
    );
    assert_eq!(
        rejection(&h.place_one(a, spec).1),
        Some(Reject::PriceOffScale)
    );
    assert!(h.engine.orders().next().is_none());
}

// ----- limits, stops, stop-limits, trailing stops -------------------------------------------

#[test]
fn a_buy_limit_fires_on_the_ask_and_fills_at_its_price_or_better() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_500 },
    );
    let (order, events) = h.place_one(a, spec);
    assert!(fills(&events).is_empty());
    // The bid touches 149.500 but the ask does not: no fill.
    assert!(fills(&h.quote(USDJPY, 149_500, 149_505)).is_empty());
    // The market gaps through the limit: filled at the better ask.
    let events = h.quote(USDJPY, 149_400, 149_405);
    assert_eq!(fills(&events), vec![(order.unwrap(), 10_000, 149_405)]);
}

#[test]
fn a_sell_limit_fires_on_the_bid() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_500 },
    );
    let (order, _) = h.place_one(a, spec);
    assert!(fills(&h.quote(USDJPY, 150_495, 150_500)).is_empty());
    assert_eq!(
        fills(&h.quote(USDJPY, 150_500, 150_505)),
        vec![(order.unwrap(), 10_000, 150_500)]
    );
}

#[test]
fn a_stop_fires_on_its_side_of_the_quote_and_fills_at_the_gapped_price() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Stop { price: 149_000 },
    );
    let (order, _) = h.place_one(a, spec);
    // The ask falls through 149.000 but the bid is what a sell stop watches.
    assert!(fills(&h.quote(USDJPY, 149_001, 149_006)).is_empty());
    // The market gaps from 149.001 to 148.500: the stop fills at the gap, not at 149.000.
    let events = h.quote(USDJPY, 148_500, 148_505);
    assert!(events.contains(&Event::OrderTriggered {
        order: order.unwrap(),
        price: 148_500
    }));
    assert_eq!(fills(&events), vec![(order.unwrap(), 10_000, 148_500)]);
}

#[test]
fn a_stop_limit_becomes_a_limit_and_waits_when_the_market_gaps_past_it() {
    let (mut h, a) = funded();
    let kind = OrderKind::StopLimit {
        stop: 150_500,
        limit: 150_550,
    };
    let spec = h.spec(USDJPY, Side::Buy, 10_000, kind);
    let (order, _) = h.place_one(a, spec);
    let order = order.unwrap();
    // Gap above the limit: triggered, not filled.
    let events = h.quote(USDJPY, 150_600, 150_605);
    assert!(events.contains(&Event::OrderTriggered {
        order,
        price: 150_605
    }));
    assert!(fills(&events).is_empty());
    assert!(h.engine.order(order).unwrap().stop_reached);
    // Back under the limit: fills as a limit.
    assert_eq!(
        fills(&h.quote(USDJPY, 150_540, 150_545)),
        vec![(order, 10_000, 150_545)]
    );
}

#[test]
fn a_trailing_stop_follows_the_market_and_fires_on_the_retrace() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::TrailingStop {
            distance_ticks: 200,
        },
    );
    let (order, _) = h.place_one(a, spec);
    let order = order.unwrap();
    assert_eq!(h.engine.trailing_stop_price(order), Some(149_800));
    h.quote(USDJPY, 151_000, 151_005);
    assert_eq!(h.engine.trailing_stop_price(order), Some(150_800));
    h.quote(USDJPY, 150_900, 150_905);
    assert_eq!(
        h.engine.trailing_stop_price(order),
        Some(150_800),
        "never moves back"
    );
    let events = h.quote(USDJPY, 150_790, 150_795);
    assert_eq!(fills(&events), vec![(order, 10_000, 150_790)]);
}

// ----- OCO, IFD, IFO ------------------------------------------------------------------------

#[test]
fn an_oco_fills_one_leg_and_cancels_the_other() {
    let (mut h, a) = funded();
    let take = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 151_000 },
    );
    let stop = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Stop { price: 149_000 },
    );
    let events = h.place(a, OrderRequest::Oco(take, stop));
    let ids = accepted(&events);
    let events = h.quote(USDJPY, 148_000, 148_005);
    assert_eq!(fills(&events), vec![(ids[1], 10_000, 148_000)]);
    assert_eq!(
        cancelled(&events),
        vec![(ids[0], CancelReason::OcoPeerFilled)]
    );
    assert!(fills(&h.quote(USDJPY, 152_000, 152_005)).is_empty());
}

#[test]
fn an_ifd_child_waits_for_its_parent_then_closes_the_parents_position() {
    let (mut h, a) = funded();
    let first = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_500 },
    );
    let then = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_500 },
    );
    let ids = accepted(&h.place(a, OrderRequest::Ifd { first, then }));
    let (parent, child) = (ids[0], ids[1]);
    assert!(!h.engine.order(child).unwrap().active);
    // The child's level is reached before the parent fills: nothing happens.
    assert!(fills(&h.quote(USDJPY, 150_600, 150_605)).is_empty());
    let events = h.quote(USDJPY, 149_495, 149_500);
    assert_eq!(fills(&events), vec![(parent, 10_000, 149_500)]);
    assert!(events.contains(&Event::OrderActivated { order: child }));
    let position = h.positions(a)[0].id;
    assert_eq!(
        h.engine.order(child).unwrap().close_position,
        Some(position)
    );
    let events = h.quote(USDJPY, 150_500, 150_505);
    assert_eq!(fills(&events), vec![(child, 10_000, 150_500)]);
    assert!(h.positions(a).is_empty());
    // 10,000 x (150.500 - 149.500) = 10,000 JPY.
    assert_eq!(h.balance(a), 1_010_000);
}

#[test]
fn an_ifd_child_whose_condition_is_met_fires_in_the_same_quote() {
    let (mut h, a) = funded();
    let first = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Stop { price: 150_500 },
    );
    let then = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Stop { price: 150_800 },
    );
    let ids = accepted(&h.place(a, OrderRequest::Ifd { first, then }));
    // One quote gaps through both levels: the parent fills, the child is activated and (bid
    // 150.700 <= 150.800) fires on the same quote.
    let events = h.quote(USDJPY, 150_700, 150_705);
    assert_eq!(
        fills(&events),
        vec![(ids[0], 10_000, 150_705), (ids[1], 10_000, 150_700)]
    );
}

#[test]
fn an_ifo_activates_an_oco_pair_after_the_parent_fills() {
    let (mut h, a) = funded();
    let first = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_500 },
    );
    let then_a = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_500 },
    );
    let then_b = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Stop { price: 149_000 },
    );
    let ids = accepted(&h.place(
        a,
        OrderRequest::Ifo {
            first,
            then_a,
            then_b,
        },
    ));
    h.quote(USDJPY, 149_490, 149_495);
    assert!(h.engine.order(ids[1]).unwrap().active && h.engine.order(ids[2]).unwrap().active);
    let events = h.quote(USDJPY, 148_990, 148_995);
    assert_eq!(fills(&events), vec![(ids[2], 10_000, 148_990)]);
    assert_eq!(
        cancelled(&events),
        vec![(ids[1], CancelReason::OcoPeerFilled)]
    );
    assert!(h.positions(a).is_empty());
}

#[test]
fn cancelling_an_ifd_parent_cancels_its_waiting_children() {
    let (mut h, a) = funded();
    let first = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_500 },
    );
    let then = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_500 },
    );
    let ids = accepted(&h.place(a, OrderRequest::Ifd { first, then }));
    let events = h.run(CommandKind::CancelOrder {
        account: a,
        order: ids[0],
    });
    assert_eq!(
        cancelled(&events),
        vec![
            (ids[0], CancelReason::ByCustomer),
            (ids[1], CancelReason::ParentCancelled)
        ]
    );
    assert!(h.engine.orders_of(a).is_empty());
}

// ----- closing orders, TP/SL, netting --------------------------------------------------------

#[test]
fn a_closing_order_closes_part_of_its_position() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 30_000);
    let position = h.positions(a)[0].id;
    let mut spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Limit { price: 150_100 },
    );
    spec.close_position = Some(position);
    h.place_one(a, spec);
    let events = h.quote(USDJPY, 150_100, 150_105);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PositionClosed {
            qty: 10_000,
            qty_remaining: 20_000,
            ..
        }
    )));
    assert_eq!(h.positions(a)[0].qty, 20_000);
    // A closing order on the same side is refused.
    let mut wrong = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_000 },
    );
    wrong.close_position = Some(position);
    assert_eq!(
        rejection(&h.place_one(a, wrong).1),
        Some(Reject::CloseTargetMismatch)
    );
}

#[test]
fn take_profit_and_stop_loss_close_the_position_and_cancel_each_other() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    let events = h.run(CommandKind::SetProtection {
        account: a,
        position,
        take_profit: Some(151_000),
        stop_loss: Some(149_000),
    });
    let ids = accepted(&events);
    assert_eq!(ids.len(), 2);
    let events = h.quote(USDJPY, 151_000, 151_005);
    assert_eq!(fills(&events), vec![(ids[0], 10_000, 151_000)]);
    assert!(cancelled(&events).iter().any(|&(o, _)| o == ids[1]));
    assert!(h.positions(a).is_empty() && h.engine.orders_of(a).is_empty());
}

#[test]
fn closing_a_position_by_hand_cancels_the_orders_aimed_at_it() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    h.run(CommandKind::SetProtection {
        account: a,
        position,
        take_profit: Some(151_000),
        stop_loss: None,
    });
    let events = h.run(CommandKind::ClosePosition {
        account: a,
        position,
        qty: None,
        slippage: None,
    });
    assert_eq!(cancelled(&events).len(), 1);
    assert_eq!(cancelled(&events)[0].1, CancelReason::PositionClosed);
    assert!(h.engine.orders_of(a).is_empty());
}

#[test]
fn netting_closes_the_oldest_positions_first_and_opens_the_excess() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_005);
    let a = h.account(Currency::JPY, PositionMode::Netting, 2_000_000);
    h.market(a, USDJPY, Side::Buy, 10_000);
    h.quote(USDJPY, 150_100, 150_105);
    h.market(a, USDJPY, Side::Buy, 20_000);
    let oldest = h.positions(a)[0].id;
    let events = h.market(a, USDJPY, Side::Sell, 40_000);
    let closed: Vec<(PositionId, Qty)> = events
        .iter()
        .filter_map(|e| match e {
            Event::PositionClosed { position, qty, .. } => Some((*position, *qty)),
            _ => None,
        })
        .collect();
    assert_eq!(closed[0], (oldest, 10_000));
    assert_eq!(closed[1].1, 20_000);
    let left = h.positions(a);
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].side, left[0].qty), (Side::Sell, 10_000));
}

// ----- time in force ------------------------------------------------------------------------

#[test]
fn day_orders_expire_at_rollover_and_week_orders_at_the_weekly_close() {
    let (mut h, a) = funded();
    let mut day = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 140_000 },
    );
    day.time_in_force = TimeInForce::Day;
    let mut week = day.clone();
    week.time_in_force = TimeInForce::Week;
    let gtc = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 140_000 },
    );
    let day = h.place_one(a, day).0.unwrap();
    let week = h.place_one(a, week).0.unwrap();
    let gtc = h.place_one(a, gtc).0.unwrap();
    let events = h.run(CommandKind::Rollover {
        swaps: vec![],
        weekly: false,
    });
    assert_eq!(expired(&events), vec![day]);
    let events = h.run(CommandKind::Rollover {
        swaps: vec![],
        weekly: true,
    });
    assert_eq!(expired(&events), vec![week]);
    assert!(h.engine.order(gtc).is_some());
}

#[test]
fn good_till_date_orders_expire_when_time_passes_their_date() {
    let (mut h, a) = funded();
    let mut spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 140_000 },
    );
    let expiry = h.time_ns + 5_000_000;
    spec.time_in_force = TimeInForce::GoodTillDate(expiry);
    let order = h.place_one(a, spec.clone()).0.unwrap();
    loop {
        let events = h.quote(USDJPY, 150_000, 150_005);
        if h.time_ns < expiry {
            assert!(expired(&events).is_empty());
        } else {
            assert_eq!(
                expired(&events),
                vec![order],
                "expires at the first command at its date"
            );
            break;
        }
    }
    spec.time_in_force = TimeInForce::GoodTillDate(h.time_ns);
    assert_eq!(
        rejection(&h.place_one(a, spec).1),
        Some(Reject::ExpiryInPast)
    );
}

#[test]
fn ioc_and_fok_fill_at_once_or_are_cancelled() {
    let (mut h, a) = funded();
    for tif in [TimeInForce::ImmediateOrCancel, TimeInForce::FillOrKill] {
        let mut spec = h.spec(
            USDJPY,
            Side::Buy,
            10_000,
            OrderKind::Limit { price: 149_000 },
        );
        spec.time_in_force = tif;
        let (order, events) = h.place_one(a, spec.clone());
        assert_eq!(
            cancelled(&events),
            vec![(order.unwrap(), CancelReason::NotImmediatelyFillable)]
        );
        spec.kind = OrderKind::Limit { price: 150_010 };
        let (order, events) = h.place_one(a, spec);
        assert_eq!(fills(&events), vec![(order.unwrap(), 10_000, 150_005)]);
    }
    assert!(h.engine.orders_of(a).is_empty());
}

// ----- amend, cancel, idempotency ------------------------------------------------------------

#[test]
fn amend_moves_an_order_and_cancel_removes_it() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_000 },
    );
    let order = h.place_one(a, spec).0.unwrap();
    let amend = |price| CommandKind::AmendOrder {
        account: a,
        order,
        amendment: Amendment {
            price: Some(price),
            qty: Some(20_000),
            ..Amendment::default()
        },
    };
    assert!(h
        .run(amend(149_900))
        .contains(&Event::OrderAmended { order }));
    assert_eq!(
        fills(&h.quote(USDJPY, 149_895, 149_900)),
        vec![(order, 20_000, 149_900)]
    );
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Limit { price: 149_000 },
    );
    let order = h.place_one(a, spec).0.unwrap();
    let bad = CommandKind::AmendOrder {
        account: a,
        order,
        amendment: Amendment {
            distance_ticks: Some(5),
            ..Amendment::default()
        },
    };
    assert_eq!(rejection(&h.run(bad)), Some(Reject::NotAmendable));
    // Another customer cannot see or cancel it.
    let b = h.account(Currency::JPY, PositionMode::Hedging, 1_000);
    assert_eq!(
        rejection(&h.run(CommandKind::CancelOrder { account: b, order })),
        Some(Reject::UnknownOrder)
    );
    let events = h.run(CommandKind::CancelOrder { account: a, order });
    assert_eq!(cancelled(&events), vec![(order, CancelReason::ByCustomer)]);
    assert_eq!(
        rejection(&h.run(CommandKind::CancelOrder { account: a, order })),
        Some(Reject::UnknownOrder)
    );
}

#[test]
fn the_same_client_order_id_returns_the_first_result_and_never_a_second_order() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Market { slippage: None },
    );
    let send = |h: &mut Harness, spec: &OrderSpec| {
        h.run(CommandKind::PlaceOrder {
            account: a,
            client_order_id: Some("abc-1".into()),
            request: OrderRequest::Single(spec.clone()),
        })
    };
    let first = send(&mut h, &spec);
    let order = accepted(&first)[0];
    let again = send(&mut h, &spec);
    assert_eq!(
        again,
        vec![Event::DuplicateClientOrderId {
            account: a,
            first: ClientOrderOutcome::Accepted(order)
        }]
    );
    assert_eq!(h.positions(a).len(), 1);
    // A refused first attempt stays refused under the same id.
    let huge = h.spec(
        USDJPY,
        Side::Buy,
        5_000_000,
        OrderKind::Market { slippage: None },
    );
    let refused = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("abc-2".into()),
        request: OrderRequest::Single(huge),
    });
    assert_eq!(rejection(&refused), Some(Reject::InsufficientMargin));
    let retried = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("abc-2".into()),
        request: OrderRequest::Single(spec.clone()),
    });
    assert_eq!(
        retried,
        vec![Event::DuplicateClientOrderId {
            account: a,
            first: ClientOrderOutcome::Rejected(Reject::InsufficientMargin)
        }]
    );
    let invalid = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("has space".into()),
        request: OrderRequest::Single(spec),
    });
    assert_eq!(rejection(&invalid), Some(Reject::ClientOrderIdInvalid));
}

#[test]
fn a_client_identified_order_remembers_how_it_ended_and_an_anonymous_one_does_not() {
    let (mut h, a) = funded();
    let market = h.spec(
        USDJPY,
        Side::Buy,
        10_000,
        OrderKind::Market { slippage: None },
    );
    let filled = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("fill-me".into()),
        request: OrderRequest::Single(market.clone()),
    });
    let (order, qty, price) = fills(&filled)[0];
    let finished = h.engine.finished_order(order).expect("remembered");
    assert_eq!(finished.end, OrderEnd::Filled { qty, price });
    assert_eq!(finished.order.client_order_id.as_deref(), Some("fill-me"));

    let below = h.engine.quote_of(h.id(USDJPY)).expect("quote").bid - 1_000;
    let limit = h.spec(USDJPY, Side::Buy, 10_000, OrderKind::Limit { price: below });
    let placed = h.run(CommandKind::PlaceOrder {
        account: a,
        client_order_id: Some("cancel-me".into()),
        request: OrderRequest::Single(limit),
    });
    let resting = accepted(&placed)[0];
    assert!(h.engine.finished_order(resting).is_none(), "still working");
    h.run(CommandKind::CancelOrder {
        account: a,
        order: resting,
    });
    assert_eq!(
        h.engine.finished_order(resting).map(|f| f.end),
        Some(OrderEnd::Cancelled(CancelReason::ByCustomer))
    );

    let (_, anonymous) = h.place_one(a, market);
    let (anonymous, _, _) = fills(&anonymous)[0];
    assert!(h.engine.finished_order(anonymous).is_none());
}

// ----- margin, conversion, loss-cut -----------------------------------------------------------

#[test]
fn required_margin_is_four_percent_of_notional_at_25x() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let v = h.engine.valuation(a).unwrap();
    // 10,000 USD at mid 150.0025 = 1,500,025 JPY; 4 % = 60,001 JPY.
    assert_eq!(v.required_margin, 60_001);
    // Bought at 150.005, valued at the bid 150.000: -50 JPY.
    assert_eq!(v.unrealised, -50);
    assert_eq!(v.equity, 1_000_000 - 50);
    // 999,950 / 60,001 = 1,666.55 %.
    assert_eq!(v.ratio_bp(), Some(166_655));
}

#[test]
fn opening_orders_need_free_margin_and_withdrawals_may_not_leave_it_negative() {
    let (mut h, a) = funded();
    // 1,000,000 JPY supports about 166,000 USD at 4 %.
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 170_000)),
        Some(Reject::InsufficientMargin)
    );
    assert!(rejection(&h.market(a, USDJPY, Side::Buy, 160_000)).is_none());
    let withdraw = |amount| CommandKind::Withdraw {
        account: a,
        amount_minor: amount,
    };
    assert_eq!(
        rejection(&h.run(withdraw(100_000))),
        Some(Reject::InsufficientFreeMargin)
    );
    assert!(rejection(&h.run(withdraw(10_000))).is_none());
    assert_eq!(
        rejection(&h.run(withdraw(-5))),
        Some(Reject::NonPositiveAmount)
    );
    assert_eq!(
        rejection(&h.run(CommandKind::Deposit {
            account: a,
            amount_minor: i64::MAX
        })),
        Some(Reject::AmountTooLarge)
    );
}

#[test]
fn eurusd_profit_in_a_yen_account_is_converted_at_the_usdjpy_mid() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_010);
    h.quote(EURUSD, 108_000, 108_002);
    h.quote(EURJPY, 162_000, 162_010);
    let a = h.account(Currency::JPY, PositionMode::Hedging, 1_000_000);
    h.market(a, EURUSD, Side::Buy, 10_000);
    h.quote(EURUSD, 108_102, 108_104);
    let events = h.run(CommandKind::ClosePosition {
        account: a,
        position: h.positions(a)[0].id,
        qty: None,
        slippage: None,
    });
    // +0.00100 USD x 10,000 = 10 USD at mid 150.005 = 1,500.05 JPY -> 1,500 JPY.
    let pnl = events.iter().find_map(|e| match e {
        Event::PositionClosed {
            realised_pnl_minor, ..
        } => Some(*realised_pnl_minor),
        _ => None,
    });
    assert_eq!(pnl, Some(1_500));
    assert_eq!(h.balance(a), 1_001_500);
}

#[test]
fn a_usd_account_trading_usdjpy_converts_yen_pnl_into_cents() {
    let mut h = Harness::default();
    h.quote(USDJPY, 150_000, 150_000);
    let a = h.account(Currency::USD, PositionMode::Hedging, 1_000_000);
    h.market(a, USDJPY, Side::Buy, 10_000);
    h.quote(USDJPY, 151_500, 151_500);
    let events = h.run(CommandKind::ClosePosition {
        account: a,
        position: h.positions(a)[0].id,
        qty: None,
        slippage: None,
    });
    // +1.500 JPY x 10,000 = 15,000 JPY at 151.5 = 99.0099 USD -> 9,901 cents.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PositionClosed {
            realised_pnl_minor: 9_901,
            ..
        }
    )));
}

#[test]
fn a_falling_market_raises_a_margin_call_then_cuts_every_position() {
    let (mut h, a) = funded();
    // 1,000,000 JPY, 150,000 USD long: margin about 900,000 JPY.
    h.market(a, USDJPY, Side::Buy, 150_000);
    let mut saw_call = false;
    let mut cut = None;
    let mut bid = 150_000;
    while cut.is_none() && bid > 100_000 {
        bid -= 50;
        let events = h.quote(USDJPY, bid, bid + 5);
        saw_call |= events.iter().any(|e| matches!(e, Event::MarginCall { .. }));
        cut = events.iter().find_map(|e| match e {
            Event::LossCut { ratio_bp, .. } => Some(*ratio_bp),
            _ => None,
        });
        if cut.is_none() {
            let v = h.engine.valuation(a).unwrap();
            assert!(
                !v.below(5_000),
                "below the loss-cut line at bid {bid} without a cut"
            );
        }
    }
    assert!(saw_call);
    let ratio = cut.expect("loss-cut happened");
    assert!(
        ratio < 5_000 && ratio > 4_500,
        "cut at the first quote below 50 %: {ratio}"
    );
    assert!(h.positions(a).is_empty());
    assert!(!h.engine.account(a).unwrap().margin_call);
}

#[test]
fn a_gap_through_the_loss_cut_leaves_a_negative_balance_that_is_recorded() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 160_000);
    let events = h.quote(USDJPY, 140_000, 140_005);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::LossCut {
            positions_closed: 1,
            ..
        }
    )));
    let negative = events.iter().find_map(|e| match e {
        Event::NegativeBalance { balance_minor, .. } => Some(*balance_minor),
        _ => None,
    });
    assert_eq!(negative, Some(h.balance(a)));
    assert!(h.balance(a) < 0);
}

#[test]
fn largest_loss_first_closes_only_what_restores_the_ratio() {
    let mut h = Harness::default();
    h.run(CommandKind::SetGroup(GroupSpec {
        id: GroupId(2),
        leverage: 25,
        margin_call_bp: 10_000,
        loss_cut_bp: 5_000,
        loss_cut_mode: LossCutMode::LargestLossFirst,
    }));
    h.quote(USDJPY, 150_000, 150_005);
    h.quote(EURJPY, 160_000, 160_005);
    let events = h.run(CommandKind::OpenAccount {
        group: GroupId(2),
        currency: Currency::JPY,
        mode: PositionMode::Hedging,
    });
    let Event::AccountOpened { account: a } = events[0] else {
        panic!()
    };
    h.run(CommandKind::Deposit {
        account: a,
        amount_minor: 1_000_000,
    });
    h.market(a, USDJPY, Side::Buy, 100_000);
    h.market(a, EURJPY, Side::Buy, 50_000);
    // USD/JPY collapses: its position carries the largest loss and goes first.
    let events = h.quote(USDJPY, 144_000, 144_005);
    let closed: Vec<PositionId> = events
        .iter()
        .filter_map(|e| match e {
            Event::PositionClosed { position, .. } => Some(*position),
            _ => None,
        })
        .collect();
    assert_eq!(closed.len(), 1, "{events:?}");
    let left = h.positions(a);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].instrument, h.id(EURJPY));
}

// ----- rollover and swaps ---------------------------------------------------------------------

#[test]
fn rollover_accrues_swap_that_is_booked_when_the_position_closes() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    h.market(a, USDJPY, Side::Sell, 10_000);
    let swap = SwapRate {
        instrument: h.id(USDJPY),
        long_ticks_per_unit: 20,
        short_ticks_per_unit: -25,
        days: 3,
    };
    let events = h.run(CommandKind::Rollover {
        swaps: vec![swap],
        weekly: false,
    });
    // Long: 10,000 x 0.020 x 3 = 600 JPY; short: -750 JPY.
    let accrued: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            Event::SwapAccrued { amount_minor, .. } => Some(*amount_minor),
            _ => None,
        })
        .collect();
    assert_eq!(accrued, vec![600, -750]);
    let before = h.balance(a);
    assert_eq!(h.engine.valuation(a).unwrap().swaps, -150);
    for position in h.positions(a) {
        h.run(CommandKind::ClosePosition {
            account: a,
            position: position.id,
            qty: None,
            slippage: None,
        });
    }
    let account = h.engine.account(a).unwrap();
    assert_eq!(account.swaps_booked_minor, -150);
    assert_eq!(h.balance(a), before - 150 + account.realised_pnl_minor);
}

// ----- halts ------------------------------------------------------------------------------------

#[test]
fn while_halted_quotes_move_prices_but_fire_nothing_and_new_orders_are_refused() {
    let (mut h, a) = funded();
    let spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::Stop { price: 149_000 },
    );
    let stop = h.place_one(a, spec).0.unwrap();
    let instrument = Some(h.id(USDJPY));
    assert!(h
        .run(CommandKind::Halt { instrument })
        .contains(&Event::Halted { instrument }));
    assert!(fills(&h.quote(USDJPY, 148_000, 148_005)).is_empty());
    assert_eq!(h.engine.quote_of(h.id(USDJPY)).unwrap().bid, 148_000);
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 10_000)),
        Some(Reject::Halted)
    );
    h.quote(USDJPY, 147_500, 147_505);
    // Reopening: the stop's condition is met, so it fills at the quote current at reopening.
    let events = h.run(CommandKind::Resume { instrument });
    assert_eq!(fills(&events), vec![(stop, 10_000, 147_500)]);
}

#[test]
fn a_global_halt_stops_every_instrument() {
    let (mut h, a) = funded();
    h.run(CommandKind::Halt { instrument: None });
    assert_eq!(
        rejection(&h.market(a, USDJPY, Side::Buy, 10_000)),
        Some(Reject::Halted)
    );
    h.run(CommandKind::Resume { instrument: None });
    assert!(rejection(&h.market(a, USDJPY, Side::Buy, 10_000)).is_none());
}

// ----- determinism and snapshots ----------------------------------------------------------------

#[test]
fn the_state_survives_a_serde_round_trip_with_the_same_hash() {
    let (mut h, a) = funded();
    h.market(a, USDJPY, Side::Buy, 10_000);
    let spec = h.spec(
        USDJPY,
        Side::Sell,
        10_000,
        OrderKind::TrailingStop {
            distance_ticks: 300,
        },
    );
    h.place_one(a, spec);
    let json = serde_json::to_string(&h.engine).unwrap();
    let restored: Engine = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.state_hash(), h.engine.state_hash());
    assert_eq!(restored, h.engine);
}

#[test]
fn a_bad_configuration_is_refused() {
    let mut config = EngineConfig::default();
    config.instruments[0].qty_step = 0;
    assert!(Engine::new(config).is_err());
    let mut config = EngineConfig::default();
    config.instruments.push(config.instruments[0].clone());
    assert!(Engine::new(config).is_err());
    let mut config = EngineConfig::default();
    config.groups[0].loss_cut_bp = 20_000;
    assert!(Engine::new(config).is_err());
}

// ----- P&L of a close at other conversion quotes ----------------------------------------------

#[test]
fn close_pnl_at_converts_a_close_at_the_given_quotes_and_equals_the_booked_pnl_at_the_current_ones()
{
    let (mut h, a) = funded();
    h.quote(EURUSD, 110_000, 110_005);
    h.quote(EURJPY, 165_000, 165_005);
    h.market(a, EURUSD, Side::Buy, 10_000);
    let position = h.positions(a)[0].clone();
    let (usdjpy, eurusd) = (h.id(USDJPY), h.id(EURUSD));
    assert_eq!(
        h.engine.pnl_conversion_instruments(eurusd, Currency::JPY),
        vec![usdjpy]
    );
    assert!(h
        .engine
        .pnl_conversion_instruments(usdjpy, Currency::JPY)
        .is_empty());
    h.quote(EURUSD, 108_000, 108_005);
    h.quote(USDJPY, 160_000, 160_005);
    // At other USD/JPY quotes: -200.50 USD at mid 150.0025 = -30,075.50125, rounded once.
    let at = |id: InstrumentId| (id == usdjpy).then_some((150_000, 150_005));
    assert_eq!(
        h.engine.close_pnl_at(position.id, 10_000, 108_000, at),
        Some(-30_076)
    );
    // Unknown quote, position or quantity: none.
    assert_eq!(
        h.engine
            .close_pnl_at(position.id, 10_000, 108_000, |_| None),
        None
    );
    assert_eq!(
        h.engine.close_pnl_at(position.id, 10_001, 108_000, at),
        None
    );
    assert_eq!(
        h.engine.close_pnl_at(PositionId(999), 10_000, 108_000, at),
        None
    );
    // At the current quotes it is what the close books.
    let current = |id: InstrumentId| h.engine.quote_of(id).map(|q| (q.bid, q.ask));
    let expected = h.engine.close_pnl_at(position.id, 10_000, 108_000, current);
    let events = h.run(CommandKind::ClosePosition {
        account: a,
        position: position.id,
        qty: None,
        slippage: None,
    });
    let booked = events.iter().find_map(|e| match e {
        Event::PositionClosed {
            realised_pnl_minor, ..
        } => Some(*realised_pnl_minor),
        _ => None,
    });
    // -200.50 USD at mid 160.0025 = -32,080.50125 JPY.
    assert_eq!(booked, Some(-32_081));
    assert_eq!(expected, booked);
}

#[test]
fn close_pnl_at_gives_none_for_a_quote_no_market_could_have_and_does_not_panic() {
    let (mut h, a) = funded();
    h.quote(EURUSD, 110_000, 110_005);
    h.quote(EURJPY, 165_000, 165_005);
    h.market(a, EURUSD, Side::Buy, 10_000);
    let position = h.positions(a)[0].id;
    // A zero, negative or crossed conversion quote is no rate: none, as for a missing one
    // (a rate of zero inverted would divide by zero).
    for quote in [
        (0, 0),
        (-150_005, -150_000),
        (150_005, 150_000),
        (0, 150_000),
    ] {
        assert_eq!(
            h.engine
                .close_pnl_at(position, 10_000, 108_000, |_| Some(quote)),
            None,
            "{quote:?}"
        );
    }
    // An exit price no market of the instrument could have is refused the same way, however
    // far off (the move is not computed, so nothing overflows).
    for exit in [0, -1, i64::MIN, i64::MAX, 1] {
        assert_eq!(
            h.engine
                .close_pnl_at(position, 10_000, exit, |_| Some((150_000, 150_005))),
            None,
            "exit {exit}"
        );
    }
}
