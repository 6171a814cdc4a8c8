//! The audit hash chain against real tampering: rows changed, deleted, inserted and reordered
//! with SQL straight on the SQLite file and on PostgreSQL, behind the desk's back.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use std::sync::Arc;

use common::{fresh_store, StoreGuard, TestBackend, MONDAY_NOON_MS};
use fxdesk_desk::audit::{entry_hash, ChainProblem, ChainedEntry, EntryContent, MoneyAction};
use fxdesk_desk::model::Principal;
use fxdesk_desk::{Desk, DeskConfig, DeskError, IncidentState, ManualClock, NewIncident, Role};
use serde_json::json;

const CHEAP_AUTH: &str = "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n";

struct World {
    desk: Arc<Desk>,
    guard: StoreGuard,
    compliance: Principal,
    operator: Principal,
}

/// A desk with a dozen real actions in its chain: users, an incident's life, a role change
/// and a money-moving action.
async fn world(backend: TestBackend) -> World {
    let (store, guard) = fresh_store(backend).await;
    let clock = Arc::new(ManualClock::new(MONDAY_NOON_MS));
    let desk = Desk::open(
        DeskConfig::from_toml(CHEAP_AUTH).unwrap(),
        store,
        clock.clone(),
        None,
    )
    .await
    .unwrap();
    desk.bootstrap_admin("admin", "admin password 1")
        .await
        .unwrap();
    let admin = desk.login("admin", "admin password 1").await.unwrap().user;
    desk.create_user(&admin, "olga", "operator password", Role::Operator)
        .await
        .unwrap();
    desk.create_user(&admin, "cora", "compliance password", Role::Viewer)
        .await
        .unwrap();
    desk.set_user_role(&admin, "cora", Role::Compliance)
        .await
        .unwrap();
    let operator = desk.login("olga", "operator password").await.unwrap().user;
    let compliance = desk
        .login("cora", "compliance password")
        .await
        .unwrap()
        .user;
    assert_eq!(compliance.role, Role::Compliance);
    clock.advance_ms(60_000);
    let incident = desk
        .open_incident(
            &operator,
            NewIncident {
                component: "trading".into(),
                title: "Orders time out".into(),
                message: None,
                impact: fxdesk_desk::ComponentStatus::MajorOutage,
                impact_started_at_ms: None,
            },
        )
        .await
        .unwrap();
    clock.advance_ms(60_000);
    desk.acknowledge(&operator, incident.id).await.unwrap();
    desk.update_incident(
        &operator,
        incident.id,
        IncidentState::Identified,
        "matching engine restarted",
    )
    .await
    .unwrap();
    desk.record_money_action(
        "user:olga",
        MoneyAction::BackfillApprove,
        "backfill:plan-1",
        &json!({ "plan_hash": "abc", "orders": 3 }),
    )
    .await
    .unwrap();
    clock.advance_ms(600_000);
    desk.resolve(&operator, incident.id, "all good")
        .await
        .unwrap();
    World {
        desk,
        guard,
        compliance,
        operator,
    }
}

async fn rows(world: &World) -> Vec<ChainedEntry> {
    world
        .desk
        .store()
        .audit_chain_rows(i64::MIN, 1_000)
        .await
        .unwrap()
}

fn by_seq(rows: &[ChainedEntry], seq: i64) -> &ChainedEntry {
    rows.iter().find(|r| r.seq == Some(seq)).unwrap()
}

async fn intact_chain_verifies_and_records_every_action(backend: TestBackend) {
    let world = world(backend).await;
    let result = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap();
    assert!(result.ok, "{result:?}");
    let rows = rows(&world).await;
    assert_eq!(result.entries_checked, rows.len() as u64);
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    for expected in [
        "user.create",
        "user.role",
        "incident.opened",
        "incident.acknowledged",
        "incident.update",
        "money.backfill.approve",
        "incident.resolved",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing in {actions:?}"
        );
    }
    // Each row links to the one before it.
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    // Verification is for compliance and admins only.
    assert!(matches!(
        world.desk.verify_audit(&world.operator, None).await,
        Err(DeskError::Forbidden { .. })
    ));
    // An externally kept head must match.
    let head = result.last_good_hash.clone();
    assert!(
        world
            .desk
            .verify_audit(&world.compliance, Some(&head))
            .await
            .unwrap()
            .ok
    );
    world.guard.cleanup().await;
}

async fn changed_row_is_named(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    let target = by_seq(&rows, 5).id;
    world
        .guard
        .execute_raw(&format!(
            "UPDATE desk_audit SET detail = '{{\"message\":\"nothing happened\"}}' WHERE id = {target}"
        ))
        .await;
    let result = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap();
    assert!(!result.ok);
    let bad = result.first_bad.unwrap();
    assert_eq!(bad.id, Some(target));
    assert_eq!(bad.problem, ChainProblem::ContentChanged);
    assert_eq!(result.last_good_seq, 4);
    world.guard.cleanup().await;
}

async fn deleted_row_is_named(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    world
        .guard
        .execute_raw(&format!(
            "DELETE FROM desk_audit WHERE id = {}",
            by_seq(&rows, 4).id
        ))
        .await;
    let bad = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    assert_eq!(bad.id, Some(by_seq(&rows, 5).id), "{bad:?}");
    assert_eq!(
        bad.problem,
        ChainProblem::OutOfSequence {
            expected_seq: 4,
            found_seq: 5
        }
    );
    world.guard.cleanup().await;
}

async fn deleted_tail_is_caught(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    let last = rows.last().unwrap();
    world
        .guard
        .execute_raw(&format!("DELETE FROM desk_audit WHERE id = {}", last.id))
        .await;
    let bad = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    assert!(
        matches!(bad.problem, ChainProblem::HeadMismatch { .. }),
        "{bad:?}"
    );
    assert_eq!(bad.seq, last.seq);
    world.guard.cleanup().await;
}

/// A forger who knows the encoding slips a well-formed entry into the middle: ids after it
/// are moved up to make room, and it links correctly to the entry before it.
async fn inserted_row_is_caught(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    let before = by_seq(&rows, 3);
    let original_fourth = by_seq(&rows, 4).id;
    let detail = r#"{"message":"approved by the CEO"}"#;
    let hash = entry_hash(EntryContent {
        seq: 4,
        at_ms: before.at_ms,
        actor: "user:ceo",
        action: "money.correction.manual",
        subject: "account:42",
        detail,
        prev_hash: before.hash.as_deref().unwrap(),
    });
    world
        .guard
        .execute_raw(&format!(
            "UPDATE desk_audit SET id = id + 100000 WHERE id > {before_id};\n\
             INSERT INTO desk_audit (id, at_ms, actor, action, subject, detail, seq, prev_hash, hash) \
             VALUES ({new_id}, {at}, 'user:ceo', 'money.correction.manual', 'account:42', '{detail}', 4, '{prev}', '{hash}')",
            before_id = before.id,
            new_id = before.id + 1,
            at = before.at_ms,
            prev = before.hash.as_deref().unwrap(),
        ))
        .await;
    let bad = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    // The forged row links; the real fourth entry no longer does.
    assert_eq!(bad.id, Some(original_fourth + 100_000), "{bad:?}");
    assert_eq!(
        bad.problem,
        ChainProblem::OutOfSequence {
            expected_seq: 5,
            found_seq: 4
        }
    );
    world.guard.cleanup().await;
}

async fn appended_row_is_named(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    let last = rows.last().unwrap();
    let seq = last.seq.unwrap() + 1;
    let detail = "{}";
    let hash = entry_hash(EntryContent {
        seq,
        at_ms: last.at_ms,
        actor: "user:mallory",
        action: "money.correction.manual",
        subject: "account:7",
        detail,
        prev_hash: last.hash.as_deref().unwrap(),
    });
    world
        .guard
        .execute_raw(&format!(
            "INSERT INTO desk_audit (at_ms, actor, action, subject, detail, seq, prev_hash, hash) \
             VALUES ({}, 'user:mallory', 'money.correction.manual', 'account:7', '{detail}', {seq}, '{}', '{hash}')",
            last.at_ms,
            last.hash.as_deref().unwrap(),
        ))
        .await;
    let bad = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    assert_eq!(bad.seq, Some(seq), "{bad:?}");
    assert!(bad.id.is_some_and(|id| id > last.id));
    world.guard.cleanup().await;
}

async fn reordered_rows_are_named(backend: TestBackend) {
    let world = world(backend).await;
    let rows = rows(&world).await;
    let (third, fourth) = (by_seq(&rows, 3).id, by_seq(&rows, 4).id);
    world
        .guard
        .execute_raw(&format!(
            "UPDATE desk_audit SET id = -1 WHERE id = {third};\n\
             UPDATE desk_audit SET id = {third} WHERE id = {fourth};\n\
             UPDATE desk_audit SET id = {fourth} WHERE id = -1"
        ))
        .await;
    let bad = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    assert_eq!(bad.id, Some(third), "{bad:?}");
    assert_eq!(
        bad.problem,
        ChainProblem::OutOfSequence {
            expected_seq: 3,
            found_seq: 4
        }
    );
    world.guard.cleanup().await;
}

/// Appends from many tasks at once still form one chain (the head row lock serialises them).
async fn concurrent_appends_form_one_chain(backend: TestBackend) {
    let world = world(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..24 {
        let desk = world.desk.clone();
        tasks.spawn(async move {
            desk.record_money_action(
                "user:olga",
                MoneyAction::ManualCorrection,
                &format!("account:{n}"),
                &json!({ "n": n }),
            )
            .await
            .unwrap();
        });
    }
    while tasks.join_next().await.is_some() {}
    let result = world
        .desk
        .verify_audit(&world.compliance, None)
        .await
        .unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.entries_checked, rows(&world).await.len() as u64);
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
    intact_chain_verifies_and_records_every_action,
    changed_row_is_named,
    deleted_row_is_named,
    deleted_tail_is_caught,
    inserted_row_is_caught,
    appended_row_is_named,
    reordered_rows_are_named,
    concurrent_appends_form_one_chain,
);

/// A database from before the chain (schema version 1) gets its audit rows chained once when
/// it is upgraded; a row slipped in unchained afterwards stays unchained and is named.
#[tokio::test]
async fn upgrade_chains_old_rows_once_and_never_seals_later_ones() {
    use sqlx::Connection;
    let dir = common::TempDir::new();
    let path = dir.0.join("desk.sqlite");
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let v1 = include_str!("../migrations/0001_desk.sql")
            .replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT");
        let mut script = String::from(
            "CREATE TABLE desk_schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL);\n\
             INSERT INTO desk_schema_migrations VALUES (1, 0);\n",
        );
        script.push_str(&v1);
        script.push_str(";\n");
        for n in 0..3 {
            script.push_str(&format!(
                "INSERT INTO desk_audit (at_ms, actor, action, subject, detail) \
                 VALUES ({n}, 'user:old', 'incident.update', 'incident:1', '{{}}');\n"
            ));
        }
        sqlx::raw_sql(&script).execute(&mut conn).await.unwrap();
    }
    let store = fxdesk_desk::Store::open_sqlite(&path).await.unwrap();
    let result = store.verify_audit_chain(None).await.unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.entries_checked, 3);
    store
        .append_audit(10, "user:new", "incident.update", "incident:1", &json!({}))
        .await
        .unwrap();
    store.close().await;

    {
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO desk_audit (at_ms, actor, action, subject, detail) \
             VALUES (11, 'user:mallory', 'money.correction.manual', 'account:1', '{}')",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let store = fxdesk_desk::Store::open_sqlite(&path).await.unwrap();
    let bad = store
        .verify_audit_chain(None)
        .await
        .unwrap()
        .first_bad
        .unwrap();
    assert_eq!(bad.problem, ChainProblem::Unsealed);
    assert_eq!(bad.id, Some(5));
    store.close().await;
}
