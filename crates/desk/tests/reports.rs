//! Regulator reports end to end on a simulated clock: drafts filled from a real incident,
//! submissions kept and audited, the completeness check, reminders through a real webhook on
//! loopback, edited templates, DORA classification and the inspection archive.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use std::io::Read;
use std::sync::Arc;

use common::{fresh_store, Receiver, StoreGuard, TempDir, TestBackend, MONDAY_NOON_MS};
use fxdesk_desk::model::Principal;
use fxdesk_desk::reports::draft::Format;
use fxdesk_desk::reports::rules::{DoraAssessment, ObligationStatus};
use fxdesk_desk::reports::{BackfillSummary, ComplianceFields, ImpactInput, ReportKind};
use fxdesk_desk::{
    Clock, ComponentStatus, Desk, DeskConfig, DeskError, ManualClock, NewIncident, Role,
};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn config(extra: &str) -> DeskConfig {
    DeskConfig::from_toml(&format!(
        "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n{extra}"
    ))
    .unwrap()
}

struct World {
    desk: Arc<Desk>,
    clock: Arc<ManualClock>,
    guard: StoreGuard,
    operator: Principal,
    compliance: Principal,
}

async fn world(backend: TestBackend, config: DeskConfig) -> World {
    let (store, guard) = fresh_store(backend).await;
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let desk = Desk::open(config, store, clock.clone(), None)
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
    World {
        desk,
        clock,
        guard,
        operator,
        compliance,
    }
}

async fn outage(world: &World, component: &str) -> i64 {
    world
        .desk
        .open_incident(
            &world.operator,
            NewIncident {
                component: component.into(),
                title: "取引システム停止 (engine silent)".into(),
                message: Some("orders time out".into()),
                impact: ComponentStatus::MajorOutage,
                impact_started_at_ms: Some(world.clock.now_ms() - 2 * MINUTE),
            },
        )
        .await
        .unwrap()
        .id
}

fn impact() -> ImpactInput {
    ImpactInput {
        customers_with_positions: 1_250,
        customers_with_working_orders: 310,
        customers_affected: 1_402,
        orders_affected: 377,
        transactions_affected_percent: Some(4),
        backfill: Some(BackfillSummary {
            plan_id: "plan-2026-11-23-1".into(),
            orders_executed: 41,
            customers_corrected: 38,
            amount_minor: 1_234_567,
            currency: "JPY".into(),
            approved_by: vec!["user:aiko".into(), "user:ben".into()],
            applied_at_ms: None,
        }),
        notes: None,
    }
}

fn cause() -> ComplianceFields {
    ComplianceFields {
        cause: Some("注文処理サーバのディスク満杯により書き込みが停止した".into()),
        prevention: Some("ディスク使用率の監視閾値を80%に引き下げ、自動拡張を導入".into()),
        response: Some("サーバを切り替え、13時05分に取引を再開".into()),
        ..ComplianceFields::default()
    }
}

async fn fsa_first_report_is_drafted_in_japanese_and_kept(backend: TestBackend) {
    let world = world(backend, config("")).await;
    let id = outage(&world, "trading").await;
    world
        .desk
        .record_impact(&world.operator, id, &impact())
        .await
        .unwrap();
    let draft = world
        .desk
        .draft_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let markdown = world.desk.render_draft(&draft, Format::Markdown).unwrap();
    for expected in [
        "システム障害発生報告（第一報）",
        "障害発生日時 | 2026年11月23日 20時58分",
        "障害検知日時 | 2026年11月23日 21時00分",
        "未復旧",
        "Trading（trading）",
        "影響を受けた顧客数（重複除く）: 1402名",
        "障害発生時に建玉を保有していた顧客数: 1250名",
        "影響を受けた注文件数: 377件",
        "orders time out",
        "調査中",
    ] {
        assert!(
            markdown.contains(expected),
            "{expected:?} missing in\n{markdown}"
        );
    }
    let html = world.desk.render_draft(&draft, Format::Html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<table>"));
    let json: serde_json::Value =
        serde_json::from_str(&world.desk.render_draft(&draft, Format::Json).unwrap()).unwrap();
    assert_eq!(json["incident"]["id"], id);
    assert_eq!(json["impact"]["orders_affected"], 377);
    assert_eq!(json["kind"], "jp_fsa.first");

    // Operators draft but do not submit.
    assert!(matches!(
        world
            .desk
            .submit_report(
                &world.operator,
                id,
                ReportKind::FsaFirst,
                &ComplianceFields::default()
            )
            .await,
        Err(DeskError::Forbidden { .. })
    ));
    world.clock.advance_ms(20 * MINUTE);
    let v1 = world
        .desk
        .submit_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    world.clock.advance_ms(5 * MINUTE);
    let corrected = ComplianceFields {
        reporter: Some("コンプライアンス部 佐藤".into()),
        ..ComplianceFields::default()
    };
    let v2 = world
        .desk
        .submit_report(&world.compliance, id, ReportKind::FsaFirst, &corrected)
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.submitted_by, "user:cora");
    assert!(v2.body_markdown.contains("コンプライアンス部 佐藤"));
    assert_ne!(v1.content_sha256, v2.content_sha256);

    // The cause report needs its fields.
    let refused = world
        .desk
        .submit_report(
            &world.compliance,
            id,
            ReportKind::FsaCausePrevention,
            &ComplianceFields::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("cause, prevention"), "{refused}");
    let cause_report = world
        .desk
        .submit_report(
            &world.compliance,
            id,
            ReportKind::FsaCausePrevention,
            &cause(),
        )
        .await
        .unwrap();
    assert!(cause_report.body_markdown.contains("ディスク満杯"));
    assert!(cause_report
        .body_markdown
        .contains("承認者 user:aiko・user:ben"));

    // Every version is kept, and every submission is in the audit chain with its hash.
    let reports = world
        .desk
        .incident_reports(&world.compliance, id)
        .await
        .unwrap();
    assert_eq!(reports.versions.len(), 3);
    let audit = world.desk.audit(&world.compliance, 0, 1_000).await.unwrap();
    let submissions: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "report.submit")
        .map(|e| e.detail["content_sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        submissions,
        [
            v1.content_sha256.as_str(),
            v2.content_sha256.as_str(),
            cause_report.content_sha256.as_str()
        ]
    );
    assert!(audit.iter().any(|e| e.action == "report.impact"));
    let first = reports
        .obligations
        .iter()
        .find(|o| o.kind == ReportKind::FsaFirst)
        .unwrap();
    assert_eq!(first.status, ObligationStatus::OnTime);
    assert_eq!(first.submitted_at_ms, Some(v1.submitted_at_ms));
    assert!(
        !reports
            .obligations
            .iter()
            .any(|o| o.kind == ReportKind::FsaStatus),
        "the cause report came within the month"
    );
    assert!(
        world
            .desk
            .verify_audit(&world.compliance, None)
            .await
            .unwrap()
            .ok
    );
    world.guard.cleanup().await;
}

async fn check_lists_missing_and_late_reports(backend: TestBackend) {
    let world = world(backend, config("")).await;
    let late = outage(&world, "trading").await;
    let on_time = outage(&world, "price-feed").await;
    let degraded = world
        .desk
        .open_incident(
            &world.operator,
            NewIncident {
                component: "login".into(),
                title: "login slow".into(),
                message: None,
                impact: ComponentStatus::DegradedPerformance,
                impact_started_at_ms: None,
            },
        )
        .await
        .unwrap()
        .id;
    world.clock.advance_ms(30 * MINUTE);
    world
        .desk
        .submit_report(
            &world.compliance,
            on_time,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let check = world.desk.check_reports(&world.compliance).await.unwrap();
    assert!(check.ok(), "{:?}", check.problems);
    assert!(check
        .pending
        .iter()
        .any(|i| i.incident_id == late && i.obligation.kind == ReportKind::FsaFirst));
    assert!(!check.pending.iter().any(|i| i.incident_id == degraded));

    // One hour after detection the first report of `late` is missing: a problem.
    world.clock.advance_ms(31 * MINUTE);
    let check = world.desk.check_reports(&world.operator).await.unwrap();
    assert!(!check.ok());
    let problems: Vec<(i64, ReportKind, ObligationStatus)> = check
        .problems
        .iter()
        .map(|i| (i.incident_id, i.obligation.kind, i.obligation.status))
        .collect();
    assert_eq!(
        problems,
        [(late, ReportKind::FsaFirst, ObligationStatus::Overdue)]
    );

    // Filing it now makes it late, which stays a problem.
    world
        .desk
        .submit_report(
            &world.compliance,
            late,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let check = world
        .desk
        .check_reports_at(world.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(check.problems.len(), 1);
    assert_eq!(check.problems[0].obligation.status, ObligationStatus::Late);

    // Viewers cannot see the list.
    let viewer = Principal {
        user_id: 0,
        username: "v".into(),
        role: Role::Viewer,
    };
    assert!(world.desk.check_reports(&viewer).await.is_err());
    world.guard.cleanup().await;
}

async fn reminders_go_out_before_and_after_the_deadline(backend: TestBackend) {
    let receiver = Receiver::start(0).await;
    let world = world(
        backend,
        config(&format!(
            r#"
[[people]]
id = "cora"
name = "Cora Compliance"
phone = "+81-90-0000-0042"

[[channels]]
kind = "webhook"
id = "compliance-hook"
url = "{}"

[reports.reminders]
lead_minutes = [30, 0]
channels = ["compliance-hook"]
notify = [{{ person = "cora" }}]
"#,
            receiver.url("reminders")
        )),
    )
    .await;
    let id = outage(&world, "trading").await;
    let now = world.clock.now_ms();
    assert_eq!(
        world.desk.remind_reports(now).await.unwrap(),
        0,
        "not due yet"
    );

    // 30 minutes before the first report's deadline (detection + 60 min).
    let now = world.clock.advance_ms(30 * MINUTE);
    assert_eq!(world.desk.remind_reports(now).await.unwrap(), 1);
    assert_eq!(
        world.desk.remind_reports(now).await.unwrap(),
        0,
        "once only"
    );
    world.desk.deliver_due(now).await.unwrap();
    let got = receiver.on("reminders");
    assert_eq!(got.len(), 1);
    let payload = got[0].json();
    assert_eq!(payload["event"], "report.reminder");
    assert_eq!(payload["report"]["kind"], "jp_fsa.first");
    assert_eq!(payload["incident"]["id"], id);
    assert_eq!(payload["recipients"][0]["id"], "cora");
    assert!(payload["message"]
        .as_str()
        .unwrap()
        .contains("Report due in 30 min"));

    // Past the deadline: one overdue reminder.
    let now = world.clock.advance_ms(31 * MINUTE);
    assert_eq!(world.desk.remind_reports(now).await.unwrap(), 1);
    world.desk.deliver_due(now).await.unwrap();
    let got = receiver.on("reminders");
    assert_eq!(got.len(), 2);
    assert!(got[1].json()["message"]
        .as_str()
        .unwrap()
        .starts_with("OVERDUE"));

    // Filed: nothing more about it (a later deadline, like the status report, is far off).
    world
        .desk
        .submit_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let now = world.clock.advance_ms(HOUR);
    assert_eq!(world.desk.remind_reports(now).await.unwrap(), 0);
    let timeline = world.desk.store().timeline(id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.kind == "report_reminder")
            .count(),
        2
    );
    world.guard.cleanup().await;
}

async fn dora_major_incident_gets_its_clock_from_classification(backend: TestBackend) {
    let world = world(
        backend,
        config("[reports.eu_dora]\nenabled = true\ntotal_clients = 10000\n"),
    )
    .await;
    let id = outage(&world, "trading").await;
    world
        .desk
        .record_impact(&world.operator, id, &impact())
        .await
        .unwrap();
    let reports = world
        .desk
        .incident_reports(&world.compliance, id)
        .await
        .unwrap();
    let kinds: Vec<ReportKind> = reports
        .obligations
        .iter()
        .filter(|o| o.regulator == fxdesk_desk::reports::Regulator::EuDora)
        .map(|o| o.kind)
        .collect();
    assert_eq!(kinds, [ReportKind::DoraClassification]);
    world.clock.advance_ms(3 * HOUR);
    let classification = world
        .desk
        .classify_dora(
            &world.compliance,
            id,
            &DoraAssessment {
                reputational_impact: true,
                ..DoraAssessment::default()
            },
        )
        .await
        .unwrap();
    // 14 % of clients, > 2 h of critical downtime, reputational impact.
    assert!(classification.major, "{classification:?}");
    let reports = world
        .desk
        .incident_reports(&world.compliance, id)
        .await
        .unwrap();
    let initial = reports
        .obligations
        .iter()
        .find(|o| o.kind == ReportKind::DoraInitial)
        .unwrap();
    assert_eq!(
        initial.due_at_ms,
        Some(classification.classified_at_ms + 4 * HOUR)
    );
    let draft = world
        .desk
        .draft_report(
            &world.compliance,
            id,
            ReportKind::DoraInitial,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let markdown = world.desk.render_draft(&draft, Format::Markdown).unwrap();
    assert!(
        markdown.contains("Art. 9(2) reputational impact"),
        "{markdown}"
    );
    assert!(markdown.contains("Clients affected: 1402"));
    world.guard.cleanup().await;
}

macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(TestBackend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs FXDESK_TEST_PG_URL (PostgreSQL); .ci/run sets it"]
                async fn $name() {
                    super::$name(TestBackend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    fsa_first_report_is_drafted_in_japanese_and_kept,
    check_lists_missing_and_late_reports,
    reminders_go_out_before_and_after_the_deadline,
    dora_major_incident_gets_its_clock_from_classification,
);

#[tokio::test]
async fn compliance_edits_the_template_file() {
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("jp_fsa_first.md.j2"),
        "# 第一報（当社様式）\n発生: {{ incident.impact_started_at.jst }} / 顧客 {{ impact.customers_affected }}名\n",
    )
    .unwrap();
    let world = world(
        TestBackend::Sqlite,
        config(&format!(
            "[reports]\ntemplates_dir = \"{}\"\n",
            dir.0.display()
        )),
    )
    .await;
    let id = outage(&world, "trading").await;
    world
        .desk
        .record_impact(&world.operator, id, &impact())
        .await
        .unwrap();
    let draft = world
        .desk
        .draft_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let markdown = world.desk.render_draft(&draft, Format::Markdown).unwrap();
    assert_eq!(
        markdown,
        "# 第一報（当社様式）\n発生: 2026年11月23日 20時58分 / 顧客 1402名"
    );
    // The follow-up still uses the built-in template.
    let draft = world
        .desk
        .draft_report(&world.compliance, id, ReportKind::FsaRecovery, &cause())
        .await
        .unwrap();
    assert!(world
        .desk
        .render_draft(&draft, Format::Markdown)
        .unwrap()
        .contains("続報（復旧報告）"));
    // A broken template is a clear error, not a panic.
    std::fs::write(dir.0.join("jp_fsa_first.md.j2"), "{% if %}").unwrap();
    let draft = world
        .desk
        .draft_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    let err = world
        .desk
        .render_draft(&draft, Format::Markdown)
        .unwrap_err();
    assert!(err.to_string().contains("jp_fsa_first.md.j2"), "{err}");
    world.guard.cleanup().await;
}

#[tokio::test]
async fn inspection_archive_holds_incidents_reports_and_the_verified_chain() {
    let world = world(TestBackend::Sqlite, config("")).await;
    let id = outage(&world, "trading").await;
    world
        .desk
        .record_impact(&world.operator, id, &impact())
        .await
        .unwrap();
    world
        .desk
        .submit_report(
            &world.compliance,
            id,
            ReportKind::FsaFirst,
            &ComplianceFields::default(),
        )
        .await
        .unwrap();
    world
        .desk
        .record_money_action(
            "user:aiko",
            fxdesk_desk::audit::MoneyAction::BackfillApply,
            "backfill:plan-2026-11-23-1",
            &serde_json::json!({ "orders": 41 }),
        )
        .await
        .unwrap();
    let mut archive = Vec::new();
    let summary = world
        .desk
        .export_inspection(
            MONDAY_NOON_MS - 86_400_000,
            MONDAY_NOON_MS + 86_400_000,
            &mut archive,
        )
        .await
        .unwrap();
    assert_eq!(summary.incidents, 1);
    assert_eq!(summary.report_versions, 1);
    assert!(summary.audit_ok);
    let mut files = std::collections::BTreeMap::new();
    let mut reader = tar::Archive::new(archive.as_slice());
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        files.insert(path, text);
    }
    for expected in [
        "index.html".to_owned(),
        "audit/verification.json".to_owned(),
        "audit/chain.jsonl".to_owned(),
        format!("incidents/{id}/incident.json"),
        format!("incidents/{id}/reports.json"),
        format!("incidents/{id}/jp_fsa.first-v1.md"),
        format!("incidents/{id}/jp_fsa.first-v1.html"),
        format!("incidents/{id}/jp_fsa.first-v1.json"),
    ] {
        assert!(
            files.contains_key(&expected),
            "{expected} missing: {:?}",
            files.keys()
        );
    }
    let index = &files["index.html"];
    assert!(index.contains("Audit chain intact"));
    assert!(index.contains(&format!("incidents/{id}/jp_fsa.first-v1.html")));
    assert!(files[&format!("incidents/{id}/jp_fsa.first-v1.md")].contains("第一報"));
    assert!(files["audit/money_actions.jsonl"].contains("money.backfill.apply"));
    let verification: serde_json::Value =
        serde_json::from_str(&files["audit/verification.json"]).unwrap();
    assert_eq!(verification["result"]["ok"], true);
    assert_eq!(verification["head_hash"], summary.audit_head_hash);
    // Every chain line links to the one before it.
    let chain: Vec<serde_json::Value> = files["audit/chain.jsonl"]
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for pair in chain.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }

    // Out of range: no incidents, the chain is still verified and included.
    let mut empty = Vec::new();
    let summary = world
        .desk
        .export_inspection(0, 1_000, &mut empty)
        .await
        .unwrap();
    assert_eq!(summary.incidents, 0);
    assert!(world
        .desk
        .export_inspection(5, 5, Vec::new())
        .await
        .is_err());
    world.guard.cleanup().await;
}
