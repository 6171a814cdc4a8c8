//! `fxdesk backfill` end to end on a real data directory: gaps, plan (with the HTML report),
//! approve by two users (the same one twice refused), apply, apply again (nothing changes).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command as Process, Output};

use fxdesk_engine::{
    AccountId, Command, CommandKind, Currency, Engine, EngineConfig, GroupId, InstrumentId,
    OrderKind, OrderRequest, OrderSpec, PositionMode, Side, TimeInForce,
};
use fxdesk_journal::{Durable, JournalOptions};

/// Tuesday 2026-07-14 10:00:00 UTC.
const T0: i64 = 1_784_023_200_000_000_000;
const MINUTE: i64 = 60_000_000_000;

fn fxdesk(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn fresh() -> Engine {
    Engine::new(EngineConfig::default()).unwrap()
}

/// A journal with a buy stop at 150.100 working when the system went down at 10:00; back
/// (halted) at 11:00 with USD/JPY at 150.500.
fn journal(dir: &Path) {
    let (mut d, _) = Durable::open(&dir.join("journal"), JournalOptions::default(), fresh).unwrap();
    let usdjpy = InstrumentId(0);
    assert_eq!(d.state().instrument(usdjpy).unwrap().symbol, "USD/JPY");
    let mut t = T0 - 30 * MINUTE;
    let mut run = |d: &mut Durable<Engine>, at: i64, kind: CommandKind| {
        t = t.max(at) + 1_000;
        d.execute(&Command { time_ns: t, kind }).unwrap();
    };
    run(
        &mut d,
        0,
        CommandKind::Quote {
            instrument: usdjpy,
            bid: 150_000,
            ask: 150_005,
            source_time_ns: T0 - 30 * MINUTE,
        },
    );
    run(
        &mut d,
        0,
        CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        },
    );
    run(
        &mut d,
        0,
        CommandKind::Deposit {
            account: AccountId(1),
            amount_minor: 1_000_000,
        },
    );
    let stop = OrderSpec {
        instrument: usdjpy,
        side: Side::Buy,
        qty: 10_000,
        kind: OrderKind::Stop { price: 150_100 },
        time_in_force: TimeInForce::GoodTillCancelled,
        close_position: None,
    };
    run(
        &mut d,
        0,
        CommandKind::PlaceOrder {
            account: AccountId(1),
            client_order_id: None,
            request: OrderRequest::Single(stop),
        },
    );
    run(
        &mut d,
        T0 - 1_000,
        CommandKind::Quote {
            instrument: usdjpy,
            bid: 150_010,
            ask: 150_015,
            source_time_ns: T0,
        },
    );
    run(
        &mut d,
        T0 + 60 * MINUTE,
        CommandKind::Halt { instrument: None },
    );
    run(
        &mut d,
        0,
        CommandKind::Quote {
            instrument: usdjpy,
            bid: 150_500,
            ask: 150_505,
            source_time_ns: T0 + 60 * MINUTE,
        },
    );
    d.close();
}

#[test]
fn gaps_plan_approve_apply_and_report_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    journal(data);
    let ticks = data.join("window.csv");
    std::fs::write(
        &ticks,
        "time,instrument,bid,ask\n2026-07-14T10:05:00Z,USD/JPY,150.050,150.055\n2026-07-14T10:10:00Z,USD/JPY,150.300,150.305\n",
    )
    .unwrap();
    let data_dir = data.to_str().unwrap();

    let gaps = fxdesk(&[
        "backfill",
        "gaps",
        "--data-dir",
        data_dir,
        "--until",
        "2026-07-14T11:00:01Z",
        "--json",
    ]);
    assert!(gaps.status.success(), "{}", text(&gaps));
    let found: serde_json::Value = serde_json::from_slice(&gaps.stdout).unwrap();
    let outage = found
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["market_seconds"].as_i64().unwrap() >= 3_599)
        .unwrap();
    let (from, to) = (
        outage["from"].as_str().unwrap().to_owned(),
        outage["to"].as_str().unwrap().to_owned(),
    );

    let plan = data.join("plan.json");
    let html = data.join("plan.html");
    let made = fxdesk(&[
        "backfill",
        "plan",
        "--data-dir",
        data_dir,
        "--from",
        &from,
        "--to",
        &to,
        "--ticks",
        ticks.to_str().unwrap(),
        "--out",
        plan.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--order",
        "1",
    ]);
    let out = text(&made);
    assert!(made.status.success(), "{out}");
    assert!(out.contains("150.305") && out.contains("2000 JPY"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("order level") && page.contains("150.100"),
        "chart with the stop's level"
    );

    let path = plan.to_str().unwrap();
    let unapproved = fxdesk(&["backfill", "apply", path, "--data-dir", data_dir]);
    assert!(!unapproved.status.success());
    assert!(
        text(&unapproved).contains("2 different users"),
        "{}",
        text(&unapproved)
    );
    assert!(fxdesk(&["backfill", "approve", path, "--as", "alice"])
        .status
        .success());
    let twice = fxdesk(&["backfill", "approve", path, "--as", "alice"]);
    assert!(!twice.status.success());
    assert!(
        text(&twice).contains("different person"),
        "{}",
        text(&twice)
    );
    assert!(fxdesk(&["backfill", "approve", path, "--as", "bob"])
        .status
        .success());

    let applied = fxdesk(&["backfill", "apply", path, "--data-dir", data_dir]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(
        text(&applied).contains("1 commands written") && text(&applied).contains("trading resumed"),
        "{}",
        text(&applied)
    );
    let again = fxdesk(&["backfill", "apply", path, "--data-dir", data_dir]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("0 commands written, 1 already applied"),
        "{}",
        text(&again)
    );

    let state = fxdesk(&[
        "journal",
        "state-at",
        "--data-dir",
        data_dir,
        "--time",
        "2030-01-01T00:00:00Z",
    ]);
    let view: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    let position = &view["state"]["accounts"][0]["positions"][0];
    assert_eq!(position["open_price_ticks"], 150_305);

    let report = fxdesk(&["backfill", "report", path]);
    assert!(report.status.success());
    assert!(
        text(&report).contains("Approvals: alice, bob"),
        "{}",
        text(&report)
    );
}
