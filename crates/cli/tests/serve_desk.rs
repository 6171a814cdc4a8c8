//! `fxdesk serve` runs the incident desk in the same process by default: one listener serves
//! the trading API, the desk API and one `/metrics` with both metric sets; `--no-desk` serves
//! the trading API alone. The desk's configuration is picked up from `DATA_DIR/desk.toml`.

#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

const ADMIN_TOKEN: &str = "serve-desk-test-admin-token";

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &std::path::Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fxdesk"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-rollover",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("FXDESK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("FXDESK_ADMIN_PASSWORD", "desk admin password")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Served { child, base }
}

#[tokio::test]
async fn serve_runs_the_desk_beside_trading_unless_told_not_to() {
    let data_dir = tempfile::tempdir().unwrap();
    // Cheap password hashing for the test; everything else default (engine health on).
    std::fs::write(
        data_dir.path().join("desk.toml"),
        "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\nsession_ttl_s = 3600\n",
    )
    .unwrap();
    let client = reqwest::Client::new();
    {
        let served = serve(data_dir.path(), &["--desk-bootstrap-admin", "lead"]);
        // The bootstrap runs right after the socket is bound; retry the login briefly.
        let mut token = None;
        for _ in 0..100 {
            let response = client
                .post(format!("{}/api/login", served.base))
                .json(&json!({"username": "lead", "password": "desk admin password"}))
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                let body: serde_json::Value = response.json().await.unwrap();
                token = Some(body["token"].as_str().unwrap().to_owned());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let token = token.expect("the desk admin could not log in");
        let components: serde_json::Value = client
            .get(format!("{}/api/components", served.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            components.to_string().contains("\"trading\""),
            "{components}"
        );
        for credential in [ADMIN_TOKEN, token.as_str()] {
            let response = client
                .get(format!("{}/metrics", served.base))
                .bearer_auth(credential)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            assert!(text.contains("\nfxdesk_commands_total "), "{text}");
            assert!(text.contains("\nfxdesk_desk_ticks_total "), "{text}");
        }
        let quotes = client
            .get(format!("{}/v1/quotes", served.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(quotes.status(), 200);
        // The public status page (no authentication) and the console's login page are there too.
        let status: serde_json::Value = client
            .get(format!("{}/api/v2/status.json", served.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"]["indicator"], "none", "{status}");
        let page = client
            .get(&served.base)
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Trading"));
        let console = client
            .get(format!("{}/console/login", served.base))
            .send()
            .await
            .unwrap();
        assert_eq!(console.status(), 200);
    }
    assert!(data_dir.path().join("desk.sqlite").exists());

    let served = serve(data_dir.path(), &["--no-desk"]);
    let response = client
        .post(format!("{}/api/login", served.base))
        .json(&json!({"username": "lead", "password": "desk admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let text = client
        .get(format!("{}/metrics", served.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("fxdesk_commands_total"), "{text}");
    assert!(!text.contains("fxdesk_desk_"), "{text}");
}
