//! `fxdesk report ...` and `fxdesk audit verify` run as compliance would, on a real desk
//! database: the check's exit code, drafts, a submission with a token, the archive, and a
//! tampered row found by verify.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::Read;
use std::path::Path;
use std::process::{Command as Process, Output};
use std::sync::Arc;

use fxdesk_desk::{ComponentStatus, Desk, DeskConfig, NewIncident, Role, Store, SystemClock};

fn fxdesk(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Process::new(env!("CARGO_BIN_EXE_fxdesk"));
    command.args(args).env_remove("FXDESK_TOKEN");
    if let Some(token) = token {
        command.env("FXDESK_TOKEN", token);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A desk database with one trading outage opened now; returns a compliance token.
async fn prepare(dir: &Path) -> (i64, String) {
    let store = Store::open_sqlite(&dir.join("desk.sqlite")).await.unwrap();
    let config = DeskConfig::from_toml(
        "[engine]\nenabled = false\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
    )
    .unwrap();
    let desk = Desk::open(config, store, Arc::new(SystemClock), None)
        .await
        .unwrap();
    desk.bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap();
    let admin = desk.login("admin", "admin password 1").await.unwrap().user;
    desk.create_user(&admin, "olga", "operator password", Role::Operator)
        .await
        .unwrap();
    desk.create_user(&admin, "cora", "compliance password", Role::Compliance)
        .await
        .unwrap();
    let operator = desk.login("olga", "operator password").await.unwrap().user;
    let compliance = desk
        .login("cora", "compliance password")
        .await
        .unwrap()
        .user;
    let token = desk
        .create_api_token(&compliance, "cli")
        .await
        .unwrap()
        .token;
    let incident = desk
        .open_incident(
            &operator,
            NewIncident {
                component: "trading".into(),
                title: "Trading halted".into(),
                message: None,
                impact: ComponentStatus::MajorOutage,
                impact_started_at_ms: None,
            },
        )
        .await
        .unwrap();
    desk.store().close().await;
    (incident.id, token)
}

#[test]
fn compliance_workflow_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (id, token) = runtime.block_on(prepare(dir.path()));
    let data = dir.path().to_str().unwrap();
    let id_text = id.to_string();

    // Nothing late yet: exit 0.
    let output = fxdesk(&["report", "check", "--data-dir", data, "--all"], None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("0 problem(s)"), "{}", text(&output));
    assert!(text(&output).contains("jp_fsa.first"));

    // Two hours on, the first report is missing: listed, exit 1.
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let output = fxdesk(
        &["report", "check", "--data-dir", data, "--at-time", &later],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("#{id} jp_fsa.first")),
        "{}",
        text(&output)
    );
    assert!(text(&output).contains("overdue"));

    // A printable draft.
    let html = dir.path().join("first.html");
    let output = fxdesk(
        &[
            "report",
            "draft",
            "--data-dir",
            data,
            "--incident",
            &id_text,
            "--kind",
            "jp_fsa.first",
            "--format",
            "html",
            "--out",
            html.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{}", text(&output));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("システム障害発生報告（第一報）"));

    // Submitting needs a token, then keeps version 1.
    let submit = [
        "report",
        "submit",
        "--data-dir",
        data,
        "--incident",
        &id_text,
        "--kind",
        "jp_fsa.first",
    ];
    let output = fxdesk(&submit, None);
    assert!(!output.status.success());
    assert!(text(&output).contains("FXDESK_TOKEN"));
    let output = fxdesk(&submit, Some(&token));
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("jp_fsa.first v1"),
        "{}",
        text(&output)
    );
    let output = fxdesk(
        &["report", "check", "--data-dir", data, "--at-time", &later],
        None,
    );
    assert!(output.status.success(), "{}", text(&output));

    // The chain verifies, and the archive carries it with the report.
    let output = fxdesk(&["audit", "verify", "--data-dir", data], None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("audit chain intact"));
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let archive = dir.path().join("inspection.tar");
    let output = fxdesk(
        &[
            "report",
            "export",
            "--data-dir",
            data,
            "--from",
            &today.yesterday().unwrap().to_string(),
            "--to",
            &today.to_string(),
            "--out",
            archive.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{}", text(&output));
    let mut names = Vec::new();
    let mut index = String::new();
    let mut tar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name == "index.html" {
            entry.read_to_string(&mut index).unwrap();
        }
        names.push(name);
    }
    assert!(
        names.contains(&format!("incidents/{id}/jp_fsa.first-v1.html")),
        "{names:?}"
    );
    assert!(index.contains("Audit chain intact"), "{index}");

    // A row changed behind the desk's back: verify names it and exits 1.
    runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.path().join("desk.sqlite").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE desk_audit SET at_ms = at_ms + 1 WHERE action = 'incident.opened'")
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let output = fxdesk(&["audit", "verify", "--data-dir", data], None);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("BROKEN"), "{}", text(&output));
    assert!(text(&output).contains("was changed"), "{}", text(&output));
}
