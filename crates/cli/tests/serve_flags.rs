//! `fxdesk serve`'s reopening flags: bad price-jump settings are refused before anything starts.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::process::Command;

fn serve_with(flags: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(flags)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_price_jump_settings_are_refused() {
    let (ok, stderr) = serve_with(&["--price-jump", "XXX/YYY=50"]);
    assert!(!ok);
    assert!(stderr.contains("unknown instrument"), "{stderr}");
    let (ok, stderr) = serve_with(&["--price-jump", "USD/JPY=0"]);
    assert!(!ok);
    assert!(stderr.contains("at least 1 pip"), "{stderr}");
    let (ok, stderr) = serve_with(&["--price-jump-confirm", "1"]);
    assert!(!ok);
    assert!(stderr.contains("confirm_quotes"), "{stderr}");
    let (ok, stderr) = serve_with(&["--price-jump", "USD/JPY"]);
    assert!(!ok);
    assert!(stderr.contains("SYMBOL=PIPS"), "{stderr}");
}
