//! Durable desk state over sqlx: SQLite (a file, the default) or PostgreSQL (by URL).
//!
//! One set of migrations serves both: the only dialect difference, the auto-increment id
//! column, is filled in per backend. Times are `BIGINT` Unix milliseconds, enums are text,
//! JSON is text, flags are `BIGINT` 0/1 (so the `Any` driver maps them the same on both).

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::clock::UnixMs;
use crate::error::{DeskError, Result};
use crate::model::{
    AuditEntry, Component, ComponentStatus, Delivery, DeliveryAttempt, DeliveryStatus, Incident,
    IncidentState, NoticeTemplate, Principal, PublicNotice, Role, TimelineEvent, User,
};

/// Rows any list query returns at most.
pub const MAX_LIST_ROWS: i64 = 1_000;

/// Migrations in order; `{id}` becomes the backend's auto-increment primary key.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_desk.sql")),
    (
        2,
        include_str!("../migrations/0002_audit_chain_reports.sql"),
    ),
    (6, include_str!("../migrations/0006_notices.sql")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The desk's storage handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Serialises chain appends inside this process (the head row lock does it across
    /// processes; this just keeps SQLite writers from queueing on the busy timeout).
    audit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A notification to queue with a step firing.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub channel_id: String,
    pub recipient: String,
    pub payload: serde_json::Value,
}

/// Fields of a new incident.
#[derive(Debug, Clone)]
pub struct NewIncidentRow {
    pub title: String,
    pub component: String,
    pub state: IncidentState,
    pub impact: ComponentStatus,
    pub source_key: Option<String>,
    pub policy_id: Option<String>,
    pub impact_started_at_ms: UnixMs,
    pub detected_at_ms: UnixMs,
    pub created_by: String,
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(DeskError::invalid(
            "database url",
            "expected sqlite:... or postgres://...",
        ))
    }
}

impl Store {
    /// Opens (creating if needed) a SQLite file and migrates it.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect(&url).await
    }

    /// Connects by URL (`sqlite://file?mode=rwc` or `postgres://...`) and migrates.
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_in_schema(url, None).await
    }

    /// Like [`Store::connect`], but on PostgreSQL creates `schema` if needed and uses it on
    /// every connection (tests use one fresh schema each; deployments may share a database).
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        if let Some(schema) = schema {
            if backend != Backend::Postgres
                || schema.is_empty()
                || schema.len() > 63
                || !schema
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(DeskError::invalid(
                    "schema",
                    "PostgreSQL only, 1..=63 of [a-z0-9_]",
                ));
            }
            let setup = AnyPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .map_err(DeskError::storage("connect"))?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&setup)
                .await
                .map_err(DeskError::storage("create schema"))?;
            setup.close().await;
        }
        let schema = schema.map(str::to_owned);
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            sqlx::query("PRAGMA journal_mode=WAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA foreign_keys=ON")
                                .execute(&mut *conn)
                                .await?;
                        }
                        Backend::Postgres => {
                            if let Some(schema) = schema {
                                sqlx::query(&format!("SET search_path TO {schema}"))
                                    .execute(&mut *conn)
                                    .await?;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(DeskError::storage("connect"))?;
        let store = Store {
            pool,
            backend,
            audit_lock: std::sync::Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for the report storage in [`crate::reports::store`].
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the migrations not applied yet, each in one transaction. When the audit chain
    /// arrives (version 2), the audit rows written before it are chained, once: a row that
    /// turns up unchained later was added behind the desk's back and stays unchained, so
    /// verification names it.
    pub async fn migrate(&self) -> Result<()> {
        if self.apply_migrations().await?.contains(&2) {
            self.seal_unchained_audit().await?;
        }
        Ok(())
    }

    /// Applies pending migrations; returns the versions applied now.
    async fn apply_migrations(&self) -> Result<Vec<i64>> {
        let mut applied_now = Vec::new();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS desk_schema_migrations \
             (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("create migrations table"))?;
        let id_column = match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            Backend::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        };
        for (version, sql) in MIGRATIONS {
            let applied: i64 =
                sqlx::query("SELECT COUNT(*) FROM desk_schema_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_one(&self.pool)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(DeskError::storage("read migrations"))?;
            if applied > 0 {
                continue;
            }
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(DeskError::storage("begin migration"))?;
            let sql = sql.replace("{id}", id_column);
            for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(DeskError::storage("apply migration"))?;
            }
            sqlx::query(
                "INSERT INTO desk_schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
            )
            .bind(*version)
            .bind(crate::clock::Clock::now_ms(&crate::clock::SystemClock))
            .execute(&mut *tx)
            .await
            .map_err(DeskError::storage("record migration"))?;
            tx.commit()
                .await
                .map_err(DeskError::storage("commit migration"))?;
            applied_now.push(*version);
        }
        Ok(applied_now)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- settings ----

    /// Stores `value` under `key` unless a value is there already; returns the stored value.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO desk_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("insert setting"))?;
        sqlx::query("SELECT value FROM desk_settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get::<String, _>(0))
            .map_err(DeskError::storage("read setting"))
    }

    // ---- components ----

    /// Adds a component if it is new (operational), or renames it; keeps its status.
    pub async fn upsert_component(&self, id: &str, name: &str, now_ms: UnixMs) -> Result<()> {
        sqlx::query(
            "INSERT INTO desk_components (id, name, status, updated_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(id)
        .bind(name)
        .bind(ComponentStatus::Operational.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("upsert component"))?;
        Ok(())
    }

    pub async fn list_components(&self) -> Result<Vec<Component>> {
        let rows =
            sqlx::query("SELECT id, name, status, updated_at_ms FROM desk_components ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(DeskError::storage("list components"))?;
        rows.iter().map(component_from_row).collect()
    }

    pub async fn get_component(&self, id: &str) -> Result<Component> {
        let row = sqlx::query(
            "SELECT id, name, status, updated_at_ms FROM desk_components WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("get component"))?
        .ok_or_else(|| DeskError::not_found(format!("component {id:?}")))?;
        component_from_row(&row)
    }

    pub async fn set_component_status(
        &self,
        id: &str,
        status: ComponentStatus,
        now_ms: UnixMs,
    ) -> Result<()> {
        let done =
            sqlx::query("UPDATE desk_components SET status = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(now_ms)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(DeskError::storage("set component status"))?;
        if done.rows_affected() == 0 {
            return Err(DeskError::not_found(format!("component {id:?}")));
        }
        Ok(())
    }

    // ---- incidents ----

    pub async fn insert_incident(&self, new: &NewIncidentRow) -> Result<i64> {
        sqlx::query(
            "INSERT INTO desk_incidents (title, component, state, impact, source_key, policy_id, \
             impact_started_at_ms, detected_at_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&new.title)
        .bind(&new.component)
        .bind(new.state.as_str())
        .bind(new.impact.as_str())
        .bind(new.source_key.clone())
        .bind(new.policy_id.clone())
        .bind(new.impact_started_at_ms)
        .bind(new.detected_at_ms)
        .bind(&new.created_by)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map_err(DeskError::storage("insert incident"))
    }

    /// Writes every mutable field of an incident.
    pub async fn update_incident(&self, incident: &Incident) -> Result<()> {
        sqlx::query(
            "UPDATE desk_incidents SET title = $1, state = $2, impact = $3, \
             acknowledged_at_ms = $4, acknowledged_by = $5, recovered_at_ms = $6, \
             resolved_at_ms = $7, source_key = $8 WHERE id = $9",
        )
        .bind(&incident.title)
        .bind(incident.state.as_str())
        .bind(incident.impact.as_str())
        .bind(incident.acknowledged_at_ms)
        .bind(incident.acknowledged_by.clone())
        .bind(incident.recovered_at_ms)
        .bind(incident.resolved_at_ms)
        .bind(incident.source_key.clone())
        .bind(incident.id)
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("update incident"))?;
        Ok(())
    }

    pub async fn get_incident(&self, id: i64) -> Result<Incident> {
        let row = sqlx::query(&format!("{INCIDENT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(DeskError::storage("get incident"))?
            .ok_or_else(|| DeskError::not_found(format!("incident {id}")))?;
        incident_from_row(&row)
    }

    /// The open (unresolved) incident with this deduplication key, if any.
    pub async fn open_incident_by_source(&self, source_key: &str) -> Result<Option<Incident>> {
        let row = sqlx::query(&format!(
            "{INCIDENT_SELECT} WHERE source_key = $1 AND resolved_at_ms IS NULL ORDER BY id DESC LIMIT 1"
        ))
        .bind(source_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("find open incident"))?;
        row.as_ref().map(incident_from_row).transpose()
    }

    pub async fn open_incidents(&self) -> Result<Vec<Incident>> {
        let rows = sqlx::query(&format!(
            "{INCIDENT_SELECT} WHERE resolved_at_ms IS NULL ORDER BY id LIMIT {MAX_LIST_ROWS}"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list open incidents"))?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Newest first, at most `limit` (capped at [`MAX_LIST_ROWS`]).
    pub async fn list_incidents(&self, limit: i64) -> Result<Vec<Incident>> {
        let rows = sqlx::query(&format!("{INCIDENT_SELECT} ORDER BY id DESC LIMIT $1"))
            .bind(limit.clamp(1, MAX_LIST_ROWS))
            .fetch_all(&self.pool)
            .await
            .map_err(DeskError::storage("list incidents"))?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Resolved incidents, newest first (for MTTx figures).
    pub async fn resolved_incidents(&self, limit: i64) -> Result<Vec<Incident>> {
        let rows = sqlx::query(&format!(
            "{INCIDENT_SELECT} WHERE resolved_at_ms IS NOT NULL ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit.clamp(1, MAX_LIST_ROWS))
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list resolved incidents"))?;
        rows.iter().map(incident_from_row).collect()
    }

    // ---- timeline ----

    pub async fn add_event(
        &self,
        incident_id: i64,
        at_ms: UnixMs,
        kind: &str,
        actor: &str,
        message: &str,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO desk_incident_events (incident_id, at_ms, kind, actor, message) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(incident_id)
        .bind(at_ms)
        .bind(kind)
        .bind(actor)
        .bind(message)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map_err(DeskError::storage("add timeline event"))
    }

    pub async fn timeline(&self, incident_id: i64) -> Result<Vec<TimelineEvent>> {
        let rows = sqlx::query(
            "SELECT id, incident_id, at_ms, kind, actor, message FROM desk_incident_events \
             WHERE incident_id = $1 ORDER BY at_ms, id LIMIT $2",
        )
        .bind(incident_id)
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("read timeline"))?;
        rows.iter()
            .map(|row| {
                Ok(TimelineEvent {
                    id: row.try_get("id")?,
                    incident_id: row.try_get("incident_id")?,
                    at_ms: row.try_get("at_ms")?,
                    kind: row.try_get("kind")?,
                    actor: row.try_get("actor")?,
                    message: row.try_get("message")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DeskError::storage("decode timeline"))
    }

    // ---- escalation firings ----

    /// Records that a step fired; false if it had fired already (the row is the dedup guard).
    pub async fn record_firing(
        &self,
        incident_id: i64,
        step_index: i64,
        cycle: i64,
        at_ms: UnixMs,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO desk_escalation_firings (incident_id, step_index, cycle, fired_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(incident_id)
        .bind(step_index)
        .bind(cycle)
        .bind(at_ms)
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("record escalation firing"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a step firing and queues its deliveries in one transaction: either the step is
    /// fired with all its notifications queued, or nothing happened. False if it had fired.
    pub async fn fire_step(
        &self,
        incident_id: i64,
        step_index: i64,
        cycle: i64,
        at_ms: UnixMs,
        deliveries: &[QueuedDelivery],
    ) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(DeskError::storage("begin escalation firing"))?;
        let done = sqlx::query(
            "INSERT INTO desk_escalation_firings (incident_id, step_index, cycle, fired_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(incident_id)
        .bind(step_index)
        .bind(cycle)
        .bind(at_ms)
        .execute(&mut *tx)
        .await
        .map_err(DeskError::storage("record escalation firing"))?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO desk_deliveries (incident_id, channel_id, recipient, payload, status, \
                 attempts, next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
            )
            .bind(incident_id)
            .bind(&delivery.channel_id)
            .bind(&delivery.recipient)
            .bind(delivery.payload.to_string())
            .bind(DeliveryStatus::Pending.as_str())
            .bind(at_ms)
            .execute(&mut *tx)
            .await
            .map_err(DeskError::storage("queue delivery"))?;
        }
        tx.commit()
            .await
            .map_err(DeskError::storage("commit escalation firing"))?;
        Ok(true)
    }

    /// `(step_index, cycle)` pairs already fired for an incident.
    pub async fn firings(&self, incident_id: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT step_index, cycle FROM desk_escalation_firings WHERE incident_id = $1 \
             ORDER BY step_index, cycle",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("read escalation firings"))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DeskError::storage("decode escalation firings"))
    }

    // ---- deliveries ----

    pub async fn insert_delivery(
        &self,
        incident_id: i64,
        channel_id: &str,
        recipient: &str,
        payload: &serde_json::Value,
        now_ms: UnixMs,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO desk_deliveries (incident_id, channel_id, recipient, payload, status, \
             attempts, next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
             RETURNING id",
        )
        .bind(incident_id)
        .bind(channel_id)
        .bind(recipient)
        .bind(payload.to_string())
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map_err(DeskError::storage("insert delivery"))
    }

    /// Pending deliveries due at `now_ms`, oldest first, at most `limit`.
    pub async fn due_deliveries(&self, now_ms: UnixMs, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE status = $1 AND next_attempt_at_ms <= $2 \
             ORDER BY next_attempt_at_ms, id LIMIT $3"
        ))
        .bind(DeliveryStatus::Pending.as_str())
        .bind(now_ms)
        .bind(limit.clamp(1, MAX_LIST_ROWS))
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list due deliveries"))?;
        rows.iter().map(delivery_from_row).collect()
    }

    pub async fn deliveries_for(&self, incident_id: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE incident_id = $1 ORDER BY id LIMIT $2"
        ))
        .bind(incident_id)
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list deliveries"))?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Records one attempt and the delivery's new state together.
    pub async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: &DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at_ms: UnixMs,
    ) -> Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(DeskError::storage("begin delivery attempt"))?;
        sqlx::query(
            "INSERT INTO desk_delivery_attempts (delivery_id, attempt, at_ms, ok, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(delivery_id)
        .bind(attempt.attempt)
        .bind(attempt.at_ms)
        .bind(i64::from(attempt.ok))
        .bind(&attempt.detail)
        .execute(&mut *tx)
        .await
        .map_err(DeskError::storage("insert delivery attempt"))?;
        sqlx::query(
            "UPDATE desk_deliveries SET status = $1, attempts = $2, next_attempt_at_ms = $3 \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(attempt.attempt)
        .bind(next_attempt_at_ms)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(DeskError::storage("update delivery"))?;
        tx.commit()
            .await
            .map_err(DeskError::storage("commit delivery attempt"))
    }

    pub async fn attempts_for(&self, delivery_id: i64) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT delivery_id, attempt, at_ms, ok, detail FROM desk_delivery_attempts \
             WHERE delivery_id = $1 ORDER BY attempt LIMIT $2",
        )
        .bind(delivery_id)
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list delivery attempts"))?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    delivery_id: row.try_get("delivery_id")?,
                    attempt: row.try_get("attempt")?,
                    at_ms: row.try_get("at_ms")?,
                    ok: row.try_get::<i64, _>("ok")? != 0,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DeskError::storage("decode delivery attempts"))
    }

    // ---- users and tokens ----

    pub async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now_ms: UnixMs,
    ) -> Result<User> {
        let result = sqlx::query(
            "INSERT INTO desk_users (username, password_hash, role, created_at_ms) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await;
        let id: i64 = match result.and_then(|row| row.try_get(0)) {
            Ok(id) => id,
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                return Err(DeskError::Conflict {
                    detail: format!("user {username:?} exists"),
                })
            }
            Err(source) => return Err(DeskError::storage("insert user")(source)),
        };
        Ok(User {
            id,
            username: username.into(),
            role,
            created_at_ms: now_ms,
        })
    }

    pub async fn count_users(&self) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) FROM desk_users")
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(DeskError::storage("count users"))
    }

    /// The user and password hash for a login name.
    pub async fn user_for_login(&self, username: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT id, username, role, created_at_ms, password_hash FROM desk_users \
             WHERE username = $1 AND disabled = 0",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("find user"))?;
        let Some(row) = row else { return Ok(None) };
        let user = user_from_row(&row)?;
        let hash: String = row
            .try_get("password_hash")
            .map_err(DeskError::storage("decode user"))?;
        Ok(Some((user, hash)))
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, username, role, created_at_ms FROM desk_users ORDER BY id LIMIT $1",
        )
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list users"))?;
        rows.iter().map(user_from_row).collect()
    }

    /// Changes a user's role; returns the user as before the change.
    pub async fn set_user_role(&self, username: &str, role: Role) -> Result<User> {
        let row = sqlx::query(
            "SELECT id, username, role, created_at_ms FROM desk_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("find user"))?
        .ok_or_else(|| DeskError::not_found(format!("user {username:?}")))?;
        let before = user_from_row(&row)?;
        sqlx::query("UPDATE desk_users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(before.id)
            .execute(&self.pool)
            .await
            .map_err(DeskError::storage("set user role"))?;
        Ok(before)
    }

    pub async fn insert_token(
        &self,
        user_id: i64,
        token_sha256: &str,
        label: &str,
        now_ms: UnixMs,
        expires_at_ms: Option<UnixMs>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO desk_api_tokens (user_id, token_sha256, label, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(token_sha256)
        .bind(label)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(DeskError::storage("insert token"))?;
        Ok(())
    }

    /// The principal behind a live (unexpired, unrevoked) token, by the token's SHA-256.
    pub async fn principal_for_token(
        &self,
        token_sha256: &str,
        now_ms: UnixMs,
    ) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.role FROM desk_api_tokens t \
             JOIN desk_users u ON u.id = t.user_id \
             WHERE t.token_sha256 = $1 AND t.revoked_at_ms IS NULL \
             AND (t.expires_at_ms IS NULL OR t.expires_at_ms > $2) AND u.disabled = 0",
        )
        .bind(token_sha256)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("find token"))?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get(2).map_err(DeskError::storage("decode token"))?;
        Ok(Some(Principal {
            user_id: row.try_get(0).map_err(DeskError::storage("decode token"))?,
            username: row.try_get(1).map_err(DeskError::storage("decode token"))?,
            role: Role::parse(&role)?,
        }))
    }

    // ---- audit ----

    /// Appends one action to the audit chain: reads the head under its row lock, hashes the
    /// entry over the previous hash, inserts it and moves the head, in one transaction.
    pub async fn append_audit(
        &self,
        at_ms: UnixMs,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        let _one_appender = self.audit_lock.lock().await;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(DeskError::storage("begin audit append"))?;
        let id =
            append_chained(&mut tx, at_ms, actor, action, subject, &detail.to_string()).await?;
        tx.commit()
            .await
            .map_err(DeskError::storage("commit audit append"))?;
        Ok(id)
    }

    /// Chains rows written before the chain existed (schema version 1), in id order.
    async fn seal_unchained_audit(&self) -> Result<()> {
        let _one_appender = self.audit_lock.lock().await;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(DeskError::storage("begin audit sealing"))?;
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, subject, detail FROM desk_audit \
             WHERE hash IS NULL AND seq IS NULL AND prev_hash IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(DeskError::storage("read unchained audit"))?;
        if rows.is_empty() {
            return Ok(());
        }
        let (mut seq, mut prev_hash) = lock_head(&mut tx).await?;
        for row in &rows {
            let get =
                |row: &AnyRow| -> Result<(i64, i64, String, String, String, String), sqlx::Error> {
                    Ok((
                        row.try_get("id")?,
                        row.try_get("at_ms")?,
                        row.try_get("actor")?,
                        row.try_get("action")?,
                        row.try_get("subject")?,
                        row.try_get("detail")?,
                    ))
                };
            let (id, at_ms, actor, action, subject, detail) =
                get(row).map_err(DeskError::storage("decode unchained audit"))?;
            seq += 1;
            let hash = crate::audit::entry_hash(crate::audit::EntryContent {
                seq,
                at_ms,
                actor: &actor,
                action: &action,
                subject: &subject,
                detail: &detail,
                prev_hash: &prev_hash,
            });
            sqlx::query("UPDATE desk_audit SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4")
                .bind(seq)
                .bind(&prev_hash)
                .bind(&hash)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(DeskError::storage("seal audit row"))?;
            prev_hash = hash;
        }
        move_head(&mut tx, seq, &prev_hash).await?;
        tx.commit()
            .await
            .map_err(DeskError::storage("commit audit sealing"))
    }

    /// The chain head: the number of entries and the last entry's hash.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM desk_audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(DeskError::storage("read audit head"))?;
        match row {
            Some(row) => Ok((
                row.try_get(0)
                    .map_err(DeskError::storage("decode audit head"))?,
                row.try_get(1)
                    .map_err(DeskError::storage("decode audit head"))?,
            )),
            // A deleted head row is tampering too; it verifies as an empty chain's head,
            // which every non-empty chain fails.
            None => Ok((0, crate::audit::GENESIS_HASH.to_owned())),
        }
    }

    /// Raw chain rows in id order, from id `after_id` on, at most `limit`.
    pub async fn audit_chain_rows(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<crate::audit::ChainedEntry>> {
        let rows = sqlx::query(
            "SELECT id, seq, at_ms, actor, action, subject, detail, prev_hash, hash \
             FROM desk_audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit.clamp(1, MAX_LIST_ROWS))
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("read audit chain"))?;
        rows.iter()
            .map(|row| {
                Ok(crate::audit::ChainedEntry {
                    id: row.try_get("id")?,
                    seq: row.try_get("seq")?,
                    at_ms: row.try_get("at_ms")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    subject: row.try_get("subject")?,
                    detail: row.try_get("detail")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DeskError::storage("decode audit chain"))
    }

    /// Recomputes the whole chain, page by page, and compares its end with the head (and
    /// with `expect_head`, a head hash kept outside the database, if given).
    pub async fn verify_audit_chain(
        &self,
        expect_head: Option<&str>,
    ) -> Result<crate::audit::ChainVerification> {
        // The head and the last row id in one statement (one snapshot on both backends):
        // rows appended while we read have larger ids and are left for the next run.
        let row = sqlx::query(
            "SELECT h.seq, h.hash, (SELECT MAX(a.id) FROM desk_audit a) \
             FROM desk_audit_head h WHERE h.id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(DeskError::storage("read audit head"))?;
        let (head_seq, head_hash, last_id): (i64, String, Option<i64>) = match row {
            Some(row) => (
                row.try_get(0)
                    .map_err(DeskError::storage("decode audit head"))?,
                row.try_get(1)
                    .map_err(DeskError::storage("decode audit head"))?,
                row.try_get(2)
                    .map_err(DeskError::storage("decode audit head"))?,
            ),
            None => {
                let last_id: Option<i64> = sqlx::query("SELECT MAX(id) FROM desk_audit")
                    .fetch_one(&self.pool)
                    .await
                    .and_then(|row| row.try_get(0))
                    .map_err(DeskError::storage("read audit rows"))?;
                (0, crate::audit::GENESIS_HASH.to_owned(), last_id)
            }
        };
        let mut verifier = crate::audit::ChainVerifier::new(head_seq, &head_hash);
        let mut after_id = i64::MIN;
        let last_id = last_id.unwrap_or(i64::MIN);
        'pages: while after_id < last_id {
            let page = self.audit_chain_rows(after_id, MAX_LIST_ROWS).await?;
            let Some(last) = page.last() else { break };
            after_id = last.id;
            for entry in page.iter().filter(|entry| entry.id <= last_id) {
                verifier.push(entry);
                if verifier.failed() {
                    break 'pages;
                }
            }
        }
        Ok(verifier.finish(expect_head))
    }

    /// Audit entries in order, from id `after_id` on, at most `limit`.
    pub async fn audit_entries(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = self.audit_chain_rows(after_id, limit).await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditEntry {
                id: row.id,
                at_ms: row.at_ms,
                actor: row.actor,
                action: row.action,
                subject: row.subject,
                detail: serde_json::from_str(&row.detail)
                    .unwrap_or(serde_json::Value::String(row.detail)),
                seq: row.seq,
                hash: row.hash,
            })
            .collect())
    }
}

impl Store {
    // ---- customer notices ----

    /// Stores a template unless one exists for `(kind, lang)`; true if it was inserted.
    pub async fn seed_notice_template(&self, template: &NoticeTemplate) -> Result<bool> {
        sqlx::query(
            "INSERT INTO desk_notice_templates (kind, lang, body, updated_at_ms, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, lang) DO NOTHING",
        )
        .bind(&template.kind)
        .bind(&template.lang)
        .bind(&template.body)
        .bind(template.updated_at_ms)
        .bind(&template.updated_by)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected() > 0)
        .map_err(DeskError::storage("seed notice template"))
    }

    /// Inserts or replaces the template for `(kind, lang)`.
    pub async fn put_notice_template(&self, template: &NoticeTemplate) -> Result<()> {
        sqlx::query(
            "INSERT INTO desk_notice_templates (kind, lang, body, updated_at_ms, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, lang) DO UPDATE SET \
             body = excluded.body, updated_at_ms = excluded.updated_at_ms, \
             updated_by = excluded.updated_by",
        )
        .bind(&template.kind)
        .bind(&template.lang)
        .bind(&template.body)
        .bind(template.updated_at_ms)
        .bind(&template.updated_by)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(DeskError::storage("store notice template"))
    }

    pub async fn notice_templates(&self) -> Result<Vec<NoticeTemplate>> {
        let rows = sqlx::query(
            "SELECT kind, lang, body, updated_at_ms, updated_by FROM desk_notice_templates \
             ORDER BY kind, lang",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list notice templates"))?;
        rows.iter()
            .map(|row| {
                Ok(NoticeTemplate {
                    kind: row.try_get("kind")?,
                    lang: row.try_get("lang")?,
                    body: row.try_get("body")?,
                    updated_at_ms: row.try_get("updated_at_ms")?,
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DeskError::storage("decode notice templates"))
    }

    pub async fn insert_public_notice(&self, notice: &PublicNotice) -> Result<i64> {
        sqlx::query(
            "INSERT INTO desk_public_notices \
             (incident_id, at_ms, kind, state, body_ja, body_en, inputs, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(notice.incident_id)
        .bind(notice.at_ms)
        .bind(&notice.kind)
        .bind(&notice.state)
        .bind(&notice.body_ja)
        .bind(&notice.body_en)
        .bind(notice.inputs.to_string())
        .bind(&notice.actor)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map_err(DeskError::storage("insert public notice"))
    }

    /// Published notices at or after `since_ms`, oldest first (at most [`MAX_LIST_ROWS`]
    /// newest ones).
    pub async fn public_notices_since(&self, since_ms: UnixMs) -> Result<Vec<PublicNotice>> {
        let rows = sqlx::query(
            "SELECT id, incident_id, at_ms, kind, state, body_ja, body_en, inputs, actor \
             FROM desk_public_notices WHERE at_ms >= $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list public notices"))?;
        let mut notices = rows
            .iter()
            .map(public_notice_from_row)
            .collect::<Result<Vec<_>>>()?;
        notices.reverse();
        Ok(notices)
    }

    pub async fn public_notices_for(&self, incident_id: i64) -> Result<Vec<PublicNotice>> {
        let rows = sqlx::query(
            "SELECT id, incident_id, at_ms, kind, state, body_ja, body_en, inputs, actor \
             FROM desk_public_notices WHERE incident_id = $1 ORDER BY at_ms, id LIMIT $2",
        )
        .bind(incident_id)
        .bind(MAX_LIST_ROWS)
        .fetch_all(&self.pool)
        .await
        .map_err(DeskError::storage("list incident notices"))?;
        rows.iter().map(public_notice_from_row).collect()
    }
}

fn public_notice_from_row(row: &AnyRow) -> Result<PublicNotice> {
    let get = |row: &AnyRow| -> Result<(PublicNotice, String), sqlx::Error> {
        Ok((
            PublicNotice {
                id: row.try_get("id")?,
                incident_id: row.try_get("incident_id")?,
                at_ms: row.try_get("at_ms")?,
                kind: row.try_get("kind")?,
                state: row.try_get("state")?,
                body_ja: row.try_get("body_ja")?,
                body_en: row.try_get("body_en")?,
                inputs: serde_json::Value::Null,
                actor: row.try_get("actor")?,
            },
            row.try_get("inputs")?,
        ))
    };
    let (mut notice, inputs) = get(row).map_err(DeskError::storage("decode public notice"))?;
    notice.inputs = serde_json::from_str(&inputs).unwrap_or(serde_json::Value::String(inputs));
    Ok(notice)
}

/// Locks the head row for this transaction and returns it. The `UPDATE` comes first so that
/// PostgreSQL takes the row lock and SQLite the write lock before anything is read.
async fn lock_head(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(i64, String)> {
    sqlx::query("UPDATE desk_audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map_err(DeskError::storage("lock audit head"))?;
    let row = sqlx::query("SELECT seq, hash FROM desk_audit_head WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(DeskError::storage("read audit head"))?
        .ok_or_else(|| DeskError::Conflict {
            detail: "the audit chain head row is missing: run fxdesk audit verify".into(),
        })?;
    Ok((
        row.try_get(0)
            .map_err(DeskError::storage("decode audit head"))?,
        row.try_get(1)
            .map_err(DeskError::storage("decode audit head"))?,
    ))
}

async fn move_head(tx: &mut sqlx::Transaction<'_, sqlx::Any>, seq: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE desk_audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map_err(DeskError::storage("move audit head"))?;
    Ok(())
}

/// Appends one chained entry inside `tx` (which the caller commits).
pub(crate) async fn append_chained(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    at_ms: UnixMs,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<i64> {
    let (head_seq, head_hash) = lock_head(tx).await?;
    let seq = head_seq + 1;
    let hash = crate::audit::entry_hash(crate::audit::EntryContent {
        seq,
        at_ms,
        actor,
        action,
        subject,
        detail,
        prev_hash: &head_hash,
    });
    let id = sqlx::query(
        "INSERT INTO desk_audit (at_ms, actor, action, subject, detail, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(at_ms)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(seq)
    .bind(&head_hash)
    .bind(&hash)
    .fetch_one(&mut **tx)
    .await
    .and_then(|row| row.try_get::<i64, _>(0))
    .map_err(DeskError::storage("append audit"))?;
    move_head(tx, seq, &hash).await?;
    Ok(id)
}

pub(crate) const INCIDENT_SELECT: &str =
    "SELECT id, title, component, state, impact, source_key, policy_id, \
    impact_started_at_ms, detected_at_ms, acknowledged_at_ms, acknowledged_by, recovered_at_ms, \
    resolved_at_ms, created_by FROM desk_incidents";

const DELIVERY_SELECT: &str = "SELECT id, incident_id, channel_id, recipient, payload, status, \
    attempts, next_attempt_at_ms, created_at_ms FROM desk_deliveries";

fn component_from_row(row: &AnyRow) -> Result<Component> {
    let decode = DeskError::storage("decode component");
    let status: String = row
        .try_get("status")
        .map_err(DeskError::storage("decode component"))?;
    Ok(Component {
        id: row
            .try_get("id")
            .map_err(DeskError::storage("decode component"))?,
        name: row
            .try_get("name")
            .map_err(DeskError::storage("decode component"))?,
        status: ComponentStatus::parse(&status)?,
        updated_at_ms: row.try_get("updated_at_ms").map_err(decode)?,
    })
}

pub(crate) fn incident_from_row(row: &AnyRow) -> Result<Incident> {
    let get = |row: &AnyRow| -> Result<(Incident, String, String), sqlx::Error> {
        Ok((
            Incident {
                id: row.try_get("id")?,
                title: row.try_get("title")?,
                component: row.try_get("component")?,
                state: IncidentState::Investigating,
                impact: ComponentStatus::Operational,
                source_key: row.try_get("source_key")?,
                policy_id: row.try_get("policy_id")?,
                impact_started_at_ms: row.try_get("impact_started_at_ms")?,
                detected_at_ms: row.try_get("detected_at_ms")?,
                acknowledged_at_ms: row.try_get("acknowledged_at_ms")?,
                acknowledged_by: row.try_get("acknowledged_by")?,
                recovered_at_ms: row.try_get("recovered_at_ms")?,
                resolved_at_ms: row.try_get("resolved_at_ms")?,
                created_by: row.try_get("created_by")?,
            },
            row.try_get("state")?,
            row.try_get("impact")?,
        ))
    };
    let (mut incident, state, impact) = get(row).map_err(DeskError::storage("decode incident"))?;
    incident.state = IncidentState::parse(&state)?;
    incident.impact = ComponentStatus::parse(&impact)?;
    Ok(incident)
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery> {
    let get = |row: &AnyRow| -> Result<(Delivery, String, String), sqlx::Error> {
        Ok((
            Delivery {
                id: row.try_get("id")?,
                incident_id: row.try_get("incident_id")?,
                channel_id: row.try_get("channel_id")?,
                recipient: row.try_get("recipient")?,
                payload: serde_json::Value::Null,
                status: DeliveryStatus::Pending,
                attempts: row.try_get("attempts")?,
                next_attempt_at_ms: row.try_get("next_attempt_at_ms")?,
                created_at_ms: row.try_get("created_at_ms")?,
            },
            row.try_get("payload")?,
            row.try_get("status")?,
        ))
    };
    let (mut delivery, payload, status) =
        get(row).map_err(DeskError::storage("decode delivery"))?;
    delivery.payload = serde_json::from_str(&payload)
        .map_err(|err| DeskError::invalid("stored delivery payload", err.to_string()))?;
    delivery.status = DeliveryStatus::parse(&status)?;
    Ok(delivery)
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    let get = |row: &AnyRow| -> Result<(User, String), sqlx::Error> {
        Ok((
            User {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                role: Role::Viewer,
                created_at_ms: row.try_get("created_at_ms")?,
            },
            row.try_get("role")?,
        ))
    };
    let (mut user, role) = get(row).map_err(DeskError::storage("decode user"))?;
    user.role = Role::parse(&role)?;
    Ok(user)
}
