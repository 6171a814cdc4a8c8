//! Storage behaviour, run once on SQLite and once on PostgreSQL.
#![allow(clippy::unwrap_used)] // unwrap is fine in tests

mod common;

use common::{fresh_store, TestBackend};
use fxdesk_desk::model::{DeliveryAttempt, DeliveryStatus};
use fxdesk_desk::store::{NewIncidentRow, QueuedDelivery};
use fxdesk_desk::{ComponentStatus, DeskError, IncidentState, Role, Store};

fn new_incident(source_key: Option<&str>) -> NewIncidentRow {
    NewIncidentRow {
        title: "Trading: engine silent".into(),
        component: "trading".into(),
        state: IncidentState::Investigating,
        impact: ComponentStatus::MajorOutage,
        source_key: source_key.map(str::to_owned),
        policy_id: Some("default".into()),
        impact_started_at_ms: 1_000,
        detected_at_ms: 4_000,
        created_by: "monitor:engine.liveness".into(),
    }
}

async fn exercise(store: Store) {
    // Migrating again is a no-op.
    store.migrate().await.unwrap();

    // Settings keep their first value.
    assert_eq!(
        store.setting_or_insert("k", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.setting_or_insert("k", "second").await.unwrap(),
        "first"
    );

    // Components.
    store
        .upsert_component("trading", "Trading", 10)
        .await
        .unwrap();
    store
        .set_component_status("trading", ComponentStatus::MajorOutage, 20)
        .await
        .unwrap();
    store
        .upsert_component("trading", "Trading (FX)", 30)
        .await
        .unwrap();
    let trading = store.get_component("trading").await.unwrap();
    assert_eq!(trading.name, "Trading (FX)");
    assert_eq!(
        trading.status,
        ComponentStatus::MajorOutage,
        "renaming keeps the status"
    );
    assert!(matches!(
        store
            .set_component_status("nope", ComponentStatus::Operational, 1)
            .await,
        Err(DeskError::NotFound { .. })
    ));

    // Incidents and deduplication lookups.
    let id = store
        .insert_incident(&new_incident(Some("component:trading")))
        .await
        .unwrap();
    let manual = store.insert_incident(&new_incident(None)).await.unwrap();
    assert_ne!(id, manual);
    let mut incident = store
        .open_incident_by_source("component:trading")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.id, id);
    assert_eq!(incident.figures().time_to_detect_ms, 3_000);
    incident.acknowledged_at_ms = Some(64_000);
    incident.acknowledged_by = Some("user:aiko".into());
    incident.state = IncidentState::Identified;
    store.update_incident(&incident).await.unwrap();
    assert_eq!(store.get_incident(id).await.unwrap(), incident);
    incident.resolved_at_ms = Some(100_000);
    incident.recovered_at_ms = Some(90_000);
    incident.state = IncidentState::Resolved;
    store.update_incident(&incident).await.unwrap();
    assert!(store
        .open_incident_by_source("component:trading")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.open_incidents().await.unwrap().len(), 1);
    assert_eq!(store.resolved_incidents(10).await.unwrap()[0].id, id);
    assert_eq!(
        store.list_incidents(10).await.unwrap()[0].id,
        manual,
        "newest first"
    );
    assert!(matches!(
        store.get_incident(999_999).await,
        Err(DeskError::NotFound { .. })
    ));

    // Timeline in time order.
    store
        .add_event(id, 5_000, "escalation", "desk", "second")
        .await
        .unwrap();
    store
        .add_event(id, 4_000, "opened", "monitor", "first")
        .await
        .unwrap();
    let timeline = store.timeline(id).await.unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["opened", "escalation"]);

    // Escalation firings are recorded once.
    assert!(store.record_firing(id, 0, 0, 4_000).await.unwrap());
    assert!(!store.record_firing(id, 0, 0, 4_500).await.unwrap());
    assert!(store.record_firing(id, 0, 1, 5_000).await.unwrap());
    assert_eq!(store.firings(id).await.unwrap(), [(0, 0), (0, 1)]);
    // Firing with deliveries is all or nothing, and once.
    let queued = [QueuedDelivery {
        channel_id: "hook".into(),
        recipient: "ben".into(),
        payload: serde_json::json!({"step": 1}),
    }];
    assert!(store
        .fire_step(manual, 1, 0, 200_000, &queued)
        .await
        .unwrap());
    assert!(!store
        .fire_step(manual, 1, 0, 200_001, &queued)
        .await
        .unwrap());
    let queued_rows = store.deliveries_for(manual).await.unwrap();
    assert_eq!(queued_rows.len(), 1);
    assert_eq!(
        (
            queued_rows[0].recipient.as_str(),
            queued_rows[0].next_attempt_at_ms
        ),
        ("ben", 200_000)
    );

    // Deliveries: due, retried later, then sent.
    let payload = serde_json::json!({"message": "hello", "n": 1});
    let delivery = store
        .insert_delivery(id, "hook", "aiko", &payload, 4_000)
        .await
        .unwrap();
    let due = store.due_deliveries(4_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload, payload);
    let failed = DeliveryAttempt {
        delivery_id: delivery,
        attempt: 1,
        at_ms: 4_000,
        ok: false,
        detail: "HTTP 500".into(),
    };
    store
        .record_attempt(delivery, &failed, DeliveryStatus::Pending, 9_000)
        .await
        .unwrap();
    assert!(store.due_deliveries(8_999, 10).await.unwrap().is_empty());
    assert_eq!(
        store.due_deliveries(9_000, 10).await.unwrap()[0].attempts,
        1
    );
    let sent = DeliveryAttempt {
        attempt: 2,
        at_ms: 9_000,
        ok: true,
        detail: "HTTP 200".into(),
        ..failed.clone()
    };
    store
        .record_attempt(delivery, &sent, DeliveryStatus::Sent, 9_000)
        .await
        .unwrap();
    assert!(store.due_deliveries(99_000, 10).await.unwrap().is_empty());
    let attempts = store.attempts_for(delivery).await.unwrap();
    assert_eq!(attempts, [failed, sent]);
    assert_eq!(
        store.deliveries_for(id).await.unwrap()[0].status,
        DeliveryStatus::Sent
    );

    // Users and tokens.
    let user = store
        .insert_user("aiko", "$argon2id$fake", Role::Operator, 1)
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_user("aiko", "$argon2id$other", Role::Admin, 2)
            .await,
        Err(DeskError::Conflict { .. })
    ));
    assert_eq!(store.count_users().await.unwrap(), 1);
    let (found, hash) = store.user_for_login("aiko").await.unwrap().unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "$argon2id$fake"));
    store
        .insert_token(user.id, "aa", "session", 1, Some(10_000))
        .await
        .unwrap();
    store
        .insert_token(user.id, "bb", "api", 1, None)
        .await
        .unwrap();
    let principal = store
        .principal_for_token("aa", 9_999)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (principal.username.as_str(), principal.role),
        ("aiko", Role::Operator)
    );
    assert!(
        store
            .principal_for_token("aa", 10_000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(store
        .principal_for_token("bb", i64::MAX)
        .await
        .unwrap()
        .is_some());
    assert!(store.principal_for_token("cc", 1).await.unwrap().is_none());

    // Audit trail in order.
    let first = store
        .append_audit(
            1,
            "user:aiko",
            "incident.acknowledged",
            "incident:1",
            &serde_json::json!({"a": 1}),
        )
        .await
        .unwrap();
    store
        .append_audit(
            2,
            "desk",
            "component.status",
            "component:trading",
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].detail["a"], 1);
    assert_eq!(store.audit_entries(first, 10).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn store_on_sqlite() {
    let (store, guard) = fresh_store(TestBackend::Sqlite).await;
    exercise(store).await;
    guard.cleanup().await;
}

#[tokio::test]
#[ignore = "needs FXDESK_TEST_PG_URL (PostgreSQL); .ci/run sets it"]
async fn store_on_postgres() {
    let (store, guard) = fresh_store(TestBackend::Postgres).await;
    exercise(store).await;
    guard.cleanup().await;
}

#[tokio::test]
async fn sqlite_file_survives_reopening() {
    let dir = common::TempDir::new();
    let path = dir.0.join("desk.sqlite");
    let store = Store::open_sqlite(&path).await.unwrap();
    store.upsert_component("login", "Login", 1).await.unwrap();
    store.close().await;
    let reopened = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(reopened.list_components().await.unwrap()[0].id, "login");
}

#[tokio::test]
async fn bad_urls_and_schemas_are_refused() {
    assert!(Store::connect("mysql://x").await.is_err());
    assert!(Store::connect_in_schema("sqlite://x.db", Some("s"))
        .await
        .is_err());
    assert!(
        Store::connect_in_schema("postgres://127.0.0.1/test", Some("bad;name"))
            .await
            .is_err()
    );
}
