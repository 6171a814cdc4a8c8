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
            "3",
            "--customers",
            "6",
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
    assert_eq!(customers["orders_placed"], 6 * 8, "{customers}");
    assert_eq!(customers["order_kinds"].as_array().map(Vec::len), Some(8));

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
        recovery["state_hash_before_kill"], recovery["state_hash_after_recovery"],
        "{recovery}"
    );
    assert_eq!(
        recovery["working_orders_before"],
        recovery["working_orders_after"]
    );

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
    assert!(stdout.contains("OUTAGE"), "{stdout}");
}
