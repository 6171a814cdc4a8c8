//! An outage on a real market move: EUR/USD on 2017-07-20 (ECB day), down from 12:00 to 15:00
//! UTC while the price ran 150 pips. Stops between ticks gap; the plan prices them per policy.
//! Data and derivation: `crates/backfill/data/README.md`.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use fxdesk_backfill::policy::FillPrice;
use fxdesk_backfill::{apply, Policy};
use fxdesk_engine::*;
use std::path::PathBuf;

fn ticks_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/eurusd_ticks_2017-07-20.csv")
}

fn ns(text: &str) -> i64 {
    fxdesk_backfill::calendar::parse_time(text).unwrap()
}

/// The journal up to 12:00 (every tick before it journaled as a quote), three customers'
/// orders, then the outage; the server comes back halted at 15:00 with the 15:00 tick.
fn ecb_day() -> (Desk, [OrderId; 3], [AccountId; 3]) {
    let all = fxdesk_market::read_tick_file(&ticks_file(), |s| {
        let e = fresh();
        let id = e.instrument_by_symbol(s)?;
        Some((id, e.instrument(id)?.price_decimals))
    })
    .unwrap()
    .ticks;
    let mut desk = Desk::new(ns("2017-07-20T07:59:00Z"));
    for t in all
        .iter()
        .filter(|t| t.time_ns < ns("2017-07-20T12:00:00Z"))
    {
        desk.run_at(
            t.time_ns,
            CommandKind::Quote {
                instrument: t.instrument,
                bid: t.bid,
                ask: t.ask,
                source_time_ns: t.time_ns,
            },
        );
    }
    desk.time_ns = ns("2017-07-20T11:50:00Z");
    let a = desk.account(Currency::USD, 1_000_000);
    let b = desk.account(Currency::USD, 1_000_000);
    let c = desk.account(Currency::USD, 1_000_000);
    let stop = desk.place_one(
        a,
        desk.spec(
            EURUSD,
            Side::Buy,
            10_000,
            OrderKind::Stop { price: 115_500 },
        ),
    );
    desk.run(CommandKind::PlaceOrder {
        account: b,
        client_order_id: None,
        request: OrderRequest::Single(desk.spec(
            EURUSD,
            Side::Sell,
            10_000,
            OrderKind::Market { slippage: None },
        )),
    });
    let short = desk.engine().positions_of(b)[0].id;
    desk.run(CommandKind::SetProtection {
        account: b,
        position: short,
        take_profit: None,
        stop_loss: Some(116_000),
    });
    let sl = desk.engine().position(short).unwrap().stop_loss.unwrap();
    let limit = desk.place_one(
        c,
        desk.spec(
            EURUSD,
            Side::Buy,
            10_000,
            OrderKind::Limit { price: 114_800 },
        ),
    );
    desk.quote_at(ns("2017-07-20T12:00:00Z"), EURUSD, 114_842, 114_850);
    desk.run_at(
        ns("2017-07-20T15:00:00Z"),
        CommandKind::Halt { instrument: None },
    );
    desk.quote_at(ns("2017-07-20T15:00:00Z") + 1, EURUSD, 116_344, 116_352);
    desk.stop();
    (desk, [stop, sl, limit], [a, b, c])
}

#[test]
fn on_the_ecb_move_stops_gap_and_the_plan_prices_them_per_policy() {
    let (desk, [stop, sl, limit], [a, b, c]) = ecb_day();
    let gaps = fxdesk_backfill::gaps::find_gaps(&desk.journal_dir(), 60 * SECOND, None).unwrap();
    let outage = gaps
        .iter()
        .find(|g| g.to_ns == Some(ns("2017-07-20T15:00:00Z")))
        .unwrap();
    assert_eq!(outage.from, "2017-07-20T12:00:00Z");
    let window = (outage.from_ns + 1, outage.to_ns.unwrap());

    let plan = plan(
        &desk,
        window.0,
        window.1,
        &[ticks_file()],
        Policy::default(),
    );
    assert_eq!(plan.window.market_minutes, 179);
    assert_eq!(plan.inputs.ticks[0].ticks_in_window, 11);
    let by_order = |o: OrderId| {
        plan.corrections
            .iter()
            .find(|c| c.order == Some(o.0))
            .unwrap()
    };
    // The buy stop at 1.15500: the market jumped from 1.14798 to 1.15709 (ask) over it.
    let s = by_order(stop);
    assert_eq!(s.trigger_time, "2017-07-20T12:30:00Z");
    assert_eq!(
        (s.order_level, s.market_price, s.proposed_price),
        (Some(115_500), 115_709, 115_709)
    );
    assert!(
        s.market_price - 115_500 > 200,
        "gapped by more than 20 pips"
    );
    // Bought at 1.15709 instead of 1.16352 at reopening: 64.30 USD.
    assert_eq!(s.difference_minor, 6_430);
    // The short's stop-loss at 1.16000 gapped to 1.16586; the market was back at 1.16352 at
    // reopening, so "first tick beyond" costs the customer 23.40 USD against the reopening.
    let l = by_order(sl);
    assert_eq!(
        (l.order_kind.as_str(), l.market_price, l.difference_minor),
        ("stop_loss", 116_586, -2_340)
    );
    // The limit at 1.14800 is filled at its price (policy), the tick was 1.14798.
    let m = by_order(limit);
    assert_eq!(
        (m.market_price, m.proposed_price, m.difference_minor),
        (114_798, 114_800, 15_520)
    );
    assert_eq!(plan.broker_cost[0].currency, "USD");
    assert_eq!(plan.broker_cost[0].amount_minor, 6_430 - 2_340 + 15_520);

    // The report: a table, and a chart of the window's price path against the stop's level.
    let table = fxdesk_backfill::report::terminal_table(&plan);
    assert!(
        table.contains("1.15709") && table.contains("64.30 USD"),
        "{table}"
    );
    let page = fxdesk_backfill::report::html_page(&plan, Some(stop.0));
    assert!(
        page.contains("<polyline") && page.contains("order level 1.15500"),
        "{page}"
    );
    if let Ok(out) = std::env::var("FXDESK_REPORT_OUT") {
        std::fs::write(out, &page).unwrap();
    }

    // "Better for the customer" on stops fills both at their own level instead.
    let mut kind = Policy::default();
    kind.fill_price.stop = FillPrice::BetterForCustomer;
    kind.fill_price.stop_loss = FillPrice::BetterForCustomer;
    let better = plan_for(&desk, window, kind);
    let price = |o: OrderId| {
        better
            .corrections
            .iter()
            .find(|c| c.order == Some(o.0))
            .unwrap()
            .proposed_price
    };
    assert_eq!((price(stop), price(sl)), (115_500, 116_000));

    // Applied: positions and balances as the plan says.
    let applied = approved(plan);
    apply(
        &applied,
        &desk.journal_dir(),
        None,
        fresh,
        ns("2017-07-20T15:10:00Z"),
    )
    .unwrap();
    let after = fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state;
    assert_eq!(after.positions_of(a)[0].open_price, 115_709);
    assert!(after.positions_of(b).is_empty());
    // Short at 1.14845, covered at 1.16586: -174.10 USD.
    assert_eq!(after.account(b).unwrap().balance_minor, 1_000_000 - 17_410);
    assert_eq!(after.positions_of(c)[0].open_price, 114_800);
}

fn plan_for(desk: &Desk, window: (i64, i64), policy: Policy) -> fxdesk_backfill::Plan {
    plan(desk, window.0, window.1, &[ticks_file()], policy)
}
