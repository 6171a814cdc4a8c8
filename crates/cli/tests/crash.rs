//! Crash safety, shown: `fxdesk drill crash` runs `fxdesk serve` as a child, SIGKILLs it under
//! concurrent load, restarts it, and checks that acknowledged orders survive unchanged, that no
//! unsent order appears, and that the live state hash equals a fresh replay of the journal.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::process::Command;

#[test]
fn serve_survives_sigkill_under_load() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args(["drill", "crash", "--iterations", "3", "--clients", "8"])
        .args(["--kill-within-ms", "300", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "drill failed\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    assert_eq!(report["iterations"], 3);
    // The load really ran: orders were acknowledged before the kills and checked after.
    assert!(report["orders_acked"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["orders_checked"].as_u64().unwrap() >= report["orders_acked"].as_u64().unwrap(),
        "{report}"
    );
    // Each restart recovered the same journal: four server runs, four logs.
    for run in 0..4 {
        assert!(data_dir.path().join(format!("serve-{run}.log")).exists());
    }
}

#[test]
fn serve_writes_the_admin_token_file_with_mode_0600_on_first_start() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Stdio;

    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-rollover",
            "--data-dir",
        ])
        .arg(data_dir.path())
        .env_remove("FXDESK_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let path = data_dir.path().join("admin.token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(
        token.trim().starts_with("fxd_") && token.trim().len() == 68,
        "{token}"
    );
    let stored = std::fs::read_to_string(data_dir.path().join("tokens.json")).unwrap();
    assert!(
        !stored.contains(token.trim()),
        "the token is stored only hashed"
    );
}
