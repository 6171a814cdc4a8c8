//! `fxdesk bench signals --json` prints one JSON object with the figures per sensitivity.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn bench_signals_prints_one_json_object() {
    let output = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args(["bench", "signals", "--json", "--weeks", "1", "--seed", "7"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["bench"], "signals");
    assert_eq!(report["weeks"], 1);
    assert_eq!(report["seed"], 7);
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios[0]["name"], "mixed");
    let words = &report["outage_words_detector_defaults"];
    assert!(
        words["standard"]["rate_multiplier_h1"].as_f64().unwrap() > 1.0,
        "{words}"
    );
    for scenario in scenarios {
        let results = scenario["results"].as_array().unwrap();
        let settings: Vec<(&str, &str)> = results
            .iter()
            .map(|r| {
                (
                    r["sensitivity"].as_str().unwrap(),
                    r["evidence"].as_str().unwrap(),
                )
            })
            .collect();
        let mut expected = Vec::new();
        for setting in ["low", "standard", "high"] {
            expected.push((setting, "posts"));
            expected.push((setting, "posts+outage_words"));
        }
        assert_eq!(settings, expected);
        for result in results {
            let recall = result["recall"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&recall));
            assert!(result["false_alarms_per_week"].as_f64().unwrap() >= 0.0);
            assert!(result["outages"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn bench_signals_refuses_bad_arguments() {
    for args in [["--weeks", "0"], ["--weeks", "100000"], ["--seed", "-1"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
            .args(["bench", "signals"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
    }
}
