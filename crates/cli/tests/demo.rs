//! `fxdesk demo` at high speed: every step of the outage story happens, with the outcome the
//! story promises (real processes, real sockets, a real SIGKILL).

use std::process::Command;

use serde_json::Value;

fn step<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .map(|s| &s["outcome"])
        .unwrap_or_else(|| panic!("no step {name:?} in {summary}"))
}

#[test]
fn the_demo_tells_the_whole_outage_story() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary_path = dir.path().join("summary.json");
    let output = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args([
            "demo",
            "--speed",
            "50000",
            "--seed",
            "1",
            "--customers",
            "12",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .expect("run fxdesk demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");

    let customers = step(&summary, "customers");
    assert_eq!(customers["orders_placed"], 12 * 8 + 12 * 2, "{customers}");
    assert_eq!(customers["order_kinds"].as_array().map(Vec::len), Some(9));

    let outage = step(&summary, "outage");
    assert!(
        outage["ticks_recorded_while_down"].as_u64() > Some(0),
        "{outage}"
    );

    let detection = step(&summary, "detection");
    let detected = detection["detected_after_kill_s"]
        .as_f64()
        .expect("detected");
    assert!(
        detected <= 10.0,
        "detected {detected} s after the first failed check"
    );
    assert_eq!(detection["acknowledged"], true);
    let steps: Vec<(String, u64)> = detection["escalations"]
        .as_array()
        .expect("escalations")
        .iter()
        .map(|e| {
            (
                e["when"].as_str().unwrap_or("").to_owned(),
                e["after_s"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for expected in [
        ("unacknowledged_for", 0),
        ("unacknowledged_for", 3),
        ("down_for", 5),
        ("down_for", 10),
    ] {
        assert!(
            steps.contains(&(expected.0.to_owned(), expected.1)),
            "{expected:?} missing from {steps:?}"
        );
    }

    let recovery = step(&summary, "recovery");
    assert_eq!(
        recovery["working_orders_before"],
        recovery["working_orders_after"]
    );
    assert!(
        recovery["seq_after_recovery"].as_u64() > recovery["seq_before_kill"].as_u64(),
        "the halt is journaled on top of everything acknowledged: {recovery}"
    );
    assert_eq!(recovery["halted_code"], "halted", "{recovery}");
    assert!(
        recovery["plan_corrections"].as_u64() > Some(0),
        "{recovery}"
    );
    assert_eq!(recovery["same_approver_twice_refused"], true);
    assert_eq!(recovery["order_after_resume"], 201, "{recovery}");
    let plan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(recovery["plan_file"].as_str().expect("plan file")).expect("plan"),
    )
    .expect("plan json");
    let approvers: Vec<&str> = plan["approvals"]
        .as_array()
        .expect("approvals")
        .iter()
        .filter_map(|a| a["user"].as_str())
        .collect();
    assert_eq!(approvers, ["lead", "ben"], "approved in the console");

    let figures = &step(&summary, "resolution")["figures"];
    assert!(figures["time_to_detect_ms"].as_i64() > Some(0), "{figures}");
    assert!(
        figures["time_to_acknowledge_ms"].as_i64() > Some(0),
        "{figures}"
    );
    assert!(
        figures["time_to_resolve_ms"].as_i64() > Some(0),
        "{figures}"
    );
    assert!(
        ["major", "critical"].contains(&detection["status_indicator"].as_str().unwrap_or("")),
        "the status page did not turn red: {detection}"
    );

    let reports = step(&summary, "reports");
    assert_eq!(reports["audit_ok"], true, "{reports}");
    assert_eq!(reports["first_report_version"], 1, "{reports}");
    let money: Vec<&str> = reports["audit_money_actions"]
        .as_array()
        .expect("money actions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(
        money,
        [
            "money.backfill.approve",
            "money.backfill.approve",
            "money.backfill.apply"
        ],
        "{reports}"
    );
    let first = std::fs::read_to_string(reports["first_report_file"].as_str().expect("file"))
        .expect("first report file");
    assert!(first.contains("第一報"), "{first}");
    let follow_up =
        std::fs::read_to_string(reports["follow_up_draft_file"].as_str().expect("file"))
            .expect("follow-up draft file");
    assert!(follow_up.contains("再発防止"), "{follow_up}");
    assert!(stdout.contains("OUTAGE"), "{stdout}");
}
