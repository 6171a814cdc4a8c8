//! `fxdesk journal ...` and `fxdesk bench ...` run as a user would, on a real journal.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::path::Path;
use std::process::{Command as Process, Output};

use fxdesk_engine::{
    AccountId, Command, CommandKind, Currency, Engine, EngineConfig, GroupId, InstrumentId,
    OrderKind, OrderRequest, OrderSpec, PositionMode, Side, TimeInForce,
};
use fxdesk_journal::{Durable, JournalOptions};

/// 2026-01-01T00:00:00Z
const START_NS: i64 = 1_767_225_600_000_000_000;

fn fxdesk(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn fresh_engine() -> Engine {
    Engine::new(EngineConfig::default()).unwrap()
}

/// 100 engine commands one second apart: quotes, 5 funded accounts, orders of a few kinds.
fn session() -> Vec<Command> {
    let usdjpy = InstrumentId(0);
    let mut kinds = Vec::new();
    kinds.push(CommandKind::Quote {
        instrument: usdjpy,
        bid: 150_000,
        ask: 150_005,
        source_time_ns: 0,
    });
    for n in 1..=5u64 {
        kinds.push(CommandKind::OpenAccount {
            group: GroupId(1),
            currency: Currency::JPY,
            mode: PositionMode::Hedging,
        });
        kinds.push(CommandKind::Deposit {
            account: AccountId(n),
            amount_minor: 1_000_000 * n as i64,
        });
    }
    let mut n = 0i64;
    while kinds.len() < 100 {
        n += 1;
        let account = AccountId((n % 5 + 1) as u64);
        let kind = match n % 3 {
            0 => OrderKind::Market { slippage: None },
            1 => OrderKind::Limit {
                price: 149_000 - n * 10,
            },
            _ => OrderKind::Stop {
                price: 151_000 + n * 10,
            },
        };
        kinds.push(CommandKind::PlaceOrder {
            account,
            client_order_id: Some(format!("c{n}")),
            request: OrderRequest::Single(OrderSpec {
                instrument: usdjpy,
                side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
                qty: 10_000,
                kind,
                time_in_force: TimeInForce::GoodTillCancelled,
                close_position: None,
            }),
        });
        let bid = 150_000 + (n % 7) * 3;
        kinds.push(CommandKind::Quote {
            instrument: usdjpy,
            bid,
            ask: bid + 5,
            source_time_ns: n,
        });
    }
    kinds.truncate(100);
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Command {
            time_ns: START_NS + i as i64 * 1_000_000_000,
            kind,
        })
        .collect()
}

/// A data dir whose journal holds the 100-command session, with a snapshot at 50.
fn data_dir_with_journal(data_dir: &Path) -> Vec<Command> {
    let commands = session();
    let options = JournalOptions {
        snapshot_every_commands: 50,
        ..JournalOptions::default()
    };
    let (mut durable, _) =
        Durable::<Engine>::open(&data_dir.join("journal"), options, fresh_engine).unwrap();
    for command in &commands {
        let (_, _outcome) = durable.execute(command).unwrap();
        durable.snapshot_if_due().unwrap();
    }
    durable.close();
    commands
}

fn engine_after(commands: &[Command]) -> Engine {
    let mut engine = fresh_engine();
    for command in commands {
        let _events = engine.apply(command);
    }
    engine
}

#[test]
fn verify_reports_a_good_journal_and_names_file_and_offset_of_corruption() {
    let data = tempfile::tempdir().unwrap();
    data_dir_with_journal(data.path());
    let dir = data.path().to_str().unwrap();
    let text = stdout(&fxdesk(&[
        "journal",
        "verify",
        "--data-dir",
        dir,
        "--decode",
    ]));
    assert!(text.contains("decoded commands: 100"), "{text}");
    assert!(text.contains("records: 100"), "{text}");
    assert!(text.contains("seq: 1..=100"), "{text}");
    assert!(
        text.contains("2026-01-01T00:00:00Z .. 2026-01-01T00:01:39Z"),
        "{text}"
    );
    assert!(
        text.contains("snapshot-00000000000000000050.bin: OK"),
        "{text}"
    );

    let segment = fxdesk_journal::list_segments(&data.path().join("journal"))
        .unwrap()
        .remove(0)
        .path;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    let output = fxdesk(&["journal", "verify", "--data-dir", dir]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&segment.display().to_string()), "{stderr}");
    assert!(stderr.contains("at byte offset"), "{stderr}");
}

#[test]
fn inspect_filters_by_seq_time_and_text() {
    let data = tempfile::tempdir().unwrap();
    let commands = data_dir_with_journal(data.path());
    let dir = data.path().to_str().unwrap();
    let text = stdout(&fxdesk(&[
        "journal",
        "inspect",
        "--data-dir",
        dir,
        "--from-seq",
        "10",
        "--to-seq",
        "12",
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0]
            .trim_start()
            .starts_with("10  2026-01-01T00:00:09Z  "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(&format!("{:?}", commands[9])),
        "{}",
        lines[0]
    );

    let json = stdout(&fxdesk(&[
        "journal",
        "inspect",
        "--data-dir",
        dir,
        "--since",
        "2026-01-01T00:01:00Z",
        "--until",
        "2026-01-01T00:01:04Z",
        "--json",
    ]));
    let seqs: Vec<u64> = json
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![61, 62, 63, 64, 65]);

    let deposits = stdout(&fxdesk(&[
        "journal",
        "inspect",
        "--data-dir",
        dir,
        "--contains",
        "Deposit",
        "--limit",
        "3",
    ]));
    assert_eq!(
        deposits
            .lines()
            .filter(|line| line.contains("Deposit"))
            .count(),
        3,
        "{deposits}"
    );
    assert!(deposits.contains("stopped after --limit 3"), "{deposits}");

    let bad = fxdesk(&[
        "journal",
        "inspect",
        "--data-dir",
        dir,
        "--since",
        "yesterday",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an RFC 3339 instant"));
}

#[test]
fn state_at_prints_the_state_of_that_moment_as_json() {
    let data = tempfile::tempdir().unwrap();
    let commands = data_dir_with_journal(data.path());
    let dir = data.path().to_str().unwrap();
    let by_seq: serde_json::Value = serde_json::from_str(&stdout(&fxdesk(&[
        "journal",
        "state-at",
        "--data-dir",
        dir,
        "--seq",
        "70",
    ])))
    .unwrap();
    let expected = engine_after(&commands[..70]);
    assert_eq!(by_seq["seq"], 70);
    assert_eq!(
        by_seq["records_replayed"], 20,
        "started from the snapshot at 50"
    );
    assert_eq!(
        by_seq["state_hash"],
        format!("{:#018x}", expected.state_hash())
    );
    let accounts = by_seq["state"]["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 5);
    for (shown, account) in accounts.iter().zip(expected.accounts()) {
        assert_eq!(shown["balance_minor"], account.balance_minor);
        assert_eq!(
            shown["positions"].as_array().unwrap().len(),
            account.positions.len()
        );
        assert_eq!(
            shown["working_orders"].as_array().unwrap().len(),
            account.orders.len()
        );
    }
    let positions: usize = accounts
        .iter()
        .map(|a| a["positions"].as_array().unwrap().len())
        .sum();
    let orders: usize = accounts
        .iter()
        .map(|a| a["working_orders"].as_array().unwrap().len())
        .sum();
    assert!(
        positions > 0 && orders > 0,
        "the session left positions and working orders"
    );

    let by_time: serde_json::Value = serde_json::from_str(&stdout(&fxdesk(&[
        "journal",
        "state-at",
        "--data-dir",
        dir,
        "--time",
        "2026-01-01T00:00:29.5Z",
    ])))
    .unwrap();
    assert_eq!(by_time["seq"], 30);
    assert_eq!(by_time["time"], "2026-01-01T00:00:29Z");
    assert_eq!(
        by_time["state_hash"],
        format!("{:#018x}", engine_after(&commands[..30]).state_hash())
    );

    let beyond = fxdesk(&["journal", "state-at", "--data-dir", dir, "--seq", "101"]);
    assert!(!beyond.status.success());
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("past the end of the journal"));
    let missing = fxdesk(&[
        "journal",
        "state-at",
        "--data-dir",
        "/nonexistent/fxdesk",
        "--seq",
        "1",
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no journal directory"));
}

#[test]
fn recovery_bench_prints_json_with_a_matching_state() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("bench");
    let output = fxdesk(&[
        "bench",
        "recovery",
        "--dir",
        dir.to_str().unwrap(),
        "--commands",
        "20000",
        "--accounts",
        "100",
        "--orders",
        "1000",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["commands"], 20000);
    assert_eq!(report["state_machine"], "fxdesk-engine");
    assert_eq!(report["state_matches"], true);
    assert!(report["replay_commands_per_s"].as_f64().unwrap() > 0.0);
    assert!(!dir.exists(), "the bench removes its files");
}

#[test]
fn journal_bench_prints_json_with_both_rates() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("bench");
    let output = fxdesk(&[
        "bench",
        "journal",
        "--dir",
        dir.to_str().unwrap(),
        "--seconds",
        "1",
        "--threads",
        "8",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report["raw_fsync"]["fsyncs_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        report["group_commit"]["durable_appends_per_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(report["group_commit_vs_raw_fsync"].as_f64().is_some());
    assert!(!dir.exists(), "the bench removes its files");
}
