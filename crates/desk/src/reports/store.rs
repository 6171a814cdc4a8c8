//! Storage of impact figures, classifications, report versions and sent reminders. Every
//! write that matters to an inspector goes into the audit chain in the same transaction.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Classification, ComplianceFields, ImpactInput, Regulator, ReportKind, ReportVersion};
use crate::clock::UnixMs;
use crate::error::{DeskError, Result};
use crate::store::{append_chained, QueuedDelivery, Store, MAX_LIST_ROWS};

/// Versions of one report kept at most per incident (a bound, not a retention policy:
/// submitting more is refused).
pub const MAX_VERSIONS_PER_REPORT: i64 = 100;

fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|err| DeskError::invalid("json", err.to_string()))
}

/// Records (or replaces) the impact figures of an incident, audited.
pub async fn put_impact(
    store: &Store,
    incident_id: i64,
    impact: &ImpactInput,
    actor: &str,
    now_ms: UnixMs,
) -> Result<()> {
    let text = json_text(impact)?;
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(DeskError::storage("begin impact"))?;
    sqlx::query(
        "INSERT INTO desk_incident_impacts (incident_id, impact, recorded_at_ms, recorded_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id) DO UPDATE SET impact = excluded.impact, \
         recorded_at_ms = excluded.recorded_at_ms, recorded_by = excluded.recorded_by",
    )
    .bind(incident_id)
    .bind(&text)
    .bind(now_ms)
    .bind(actor)
    .execute(&mut *tx)
    .await
    .map_err(DeskError::storage("record impact"))?;
    append_chained(
        &mut tx,
        now_ms,
        actor,
        "report.impact",
        &format!("incident:{incident_id}"),
        &text,
    )
    .await?;
    tx.commit()
        .await
        .map_err(DeskError::storage("commit impact"))
}

pub async fn get_impact(store: &Store, incident_id: i64) -> Result<Option<ImpactInput>> {
    let row = sqlx::query("SELECT impact FROM desk_incident_impacts WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_optional(store.pool())
        .await
        .map_err(DeskError::storage("read impact"))?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row
        .try_get(0)
        .map_err(DeskError::storage("decode impact"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|err| DeskError::invalid("stored impact", err.to_string()))
}

/// Records a classification, audited.
pub async fn put_classification(store: &Store, classification: &Classification) -> Result<()> {
    let criteria = json_text(&classification.criteria)?;
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(DeskError::storage("begin classification"))?;
    sqlx::query(
        "INSERT INTO desk_classifications (incident_id, regulator, major, criteria, \
         classified_at_ms, classified_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(classification.incident_id)
    .bind(classification.regulator.as_str())
    .bind(i64::from(classification.major))
    .bind(&criteria)
    .bind(classification.classified_at_ms)
    .bind(&classification.classified_by)
    .execute(&mut *tx)
    .await
    .map_err(DeskError::storage("record classification"))?;
    append_chained(
        &mut tx,
        classification.classified_at_ms,
        &classification.classified_by,
        "report.classify",
        &format!("incident:{}", classification.incident_id),
        &json_text(&serde_json::json!({
            "regulator": classification.regulator,
            "major": classification.major,
            "criteria": classification.criteria,
        }))?,
    )
    .await?;
    tx.commit()
        .await
        .map_err(DeskError::storage("commit classification"))
}

/// The latest classification of an incident for a regulator.
pub async fn latest_classification(
    store: &Store,
    incident_id: i64,
    regulator: Regulator,
) -> Result<Option<Classification>> {
    let row = sqlx::query(
        "SELECT incident_id, major, criteria, classified_at_ms, classified_by \
         FROM desk_classifications WHERE incident_id = $1 AND regulator = $2 \
         ORDER BY classified_at_ms DESC, id DESC LIMIT 1",
    )
    .bind(incident_id)
    .bind(regulator.as_str())
    .fetch_optional(store.pool())
    .await
    .map_err(DeskError::storage("read classification"))?;
    let Some(row) = row else { return Ok(None) };
    let get = |row: &AnyRow| -> Result<(i64, i64, String, i64, String), sqlx::Error> {
        Ok((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        ))
    };
    let (incident_id, major, criteria, classified_at_ms, classified_by) =
        get(&row).map_err(DeskError::storage("decode classification"))?;
    Ok(Some(Classification {
        incident_id,
        regulator,
        major: major != 0,
        criteria: serde_json::from_str(&criteria).unwrap_or(serde_json::Value::String(criteria)),
        classified_at_ms,
        classified_by,
    }))
}

/// What a new version carries.
pub struct NewVersion<'a> {
    pub incident_id: i64,
    pub kind: ReportKind,
    pub fields: &'a ComplianceFields,
    pub body_markdown: &'a str,
    pub body_json: &'a serde_json::Value,
    pub content_sha256: &'a str,
    pub submitted_at_ms: UnixMs,
    pub submitted_by: &'a str,
}

/// Stores the next version of a report and appends `report.submit` to the audit chain, in
/// one transaction: a version exists if and only if its submission is in the chain.
pub async fn insert_version(store: &Store, new: &NewVersion<'_>) -> Result<ReportVersion> {
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(DeskError::storage("begin report submission"))?;
    let current: i64 = sqlx::query(
        "SELECT COUNT(*) FROM desk_report_versions WHERE incident_id = $1 AND kind = $2",
    )
    .bind(new.incident_id)
    .bind(new.kind.as_str())
    .fetch_one(&mut *tx)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(DeskError::storage("count report versions"))?;
    if current >= MAX_VERSIONS_PER_REPORT {
        return Err(DeskError::Conflict {
            detail: format!("{} already has {current} versions", new.kind),
        });
    }
    let version = current + 1;
    let fields = json_text(new.fields)?;
    let body_json = json_text(new.body_json)?;
    let inserted = sqlx::query(
        "INSERT INTO desk_report_versions (incident_id, regulator, kind, version, fields, \
         body_markdown, body_json, content_sha256, submitted_at_ms, submitted_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(new.incident_id)
    .bind(new.kind.regulator().as_str())
    .bind(new.kind.as_str())
    .bind(version)
    .bind(&fields)
    .bind(new.body_markdown)
    .bind(&body_json)
    .bind(new.content_sha256)
    .bind(new.submitted_at_ms)
    .bind(new.submitted_by)
    .fetch_one(&mut *tx)
    .await
    .and_then(|row| row.try_get::<i64, _>(0));
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            return Err(DeskError::Conflict {
                detail: format!(
                    "{} version {version} was submitted at the same time",
                    new.kind
                ),
            })
        }
        Err(source) => return Err(DeskError::storage("insert report version")(source)),
    };
    append_chained(
        &mut tx,
        new.submitted_at_ms,
        new.submitted_by,
        "report.submit",
        &format!("incident:{}", new.incident_id),
        &json_text(&serde_json::json!({
            "kind": new.kind,
            "version": version,
            "content_sha256": new.content_sha256,
        }))?,
    )
    .await?;
    tx.commit()
        .await
        .map_err(DeskError::storage("commit report submission"))?;
    Ok(ReportVersion {
        id,
        incident_id: new.incident_id,
        kind: new.kind,
        version,
        fields: new.fields.clone(),
        body_markdown: new.body_markdown.to_owned(),
        body_json: new.body_json.clone(),
        content_sha256: new.content_sha256.to_owned(),
        submitted_at_ms: new.submitted_at_ms,
        submitted_by: new.submitted_by.to_owned(),
    })
}

/// Every version of every report of an incident, by kind then version.
pub async fn versions(store: &Store, incident_id: i64) -> Result<Vec<ReportVersion>> {
    let rows = sqlx::query(
        "SELECT id, incident_id, kind, version, fields, body_markdown, body_json, \
         content_sha256, submitted_at_ms, submitted_by FROM desk_report_versions \
         WHERE incident_id = $1 ORDER BY kind, version LIMIT $2",
    )
    .bind(incident_id)
    .bind(MAX_LIST_ROWS)
    .fetch_all(store.pool())
    .await
    .map_err(DeskError::storage("list report versions"))?;
    rows.iter().map(version_from_row).collect()
}

fn version_from_row(row: &AnyRow) -> Result<ReportVersion> {
    type Raw = (
        i64,
        i64,
        String,
        i64,
        String,
        String,
        String,
        String,
        i64,
        String,
    );
    let get = |row: &AnyRow| -> Result<Raw, sqlx::Error> {
        Ok((
            row.try_get("id")?,
            row.try_get("incident_id")?,
            row.try_get("kind")?,
            row.try_get("version")?,
            row.try_get("fields")?,
            row.try_get("body_markdown")?,
            row.try_get("body_json")?,
            row.try_get("content_sha256")?,
            row.try_get("submitted_at_ms")?,
            row.try_get("submitted_by")?,
        ))
    };
    let (id, incident_id, kind, version, fields, body_markdown, body_json, sha, at, by) =
        get(row).map_err(DeskError::storage("decode report version"))?;
    Ok(ReportVersion {
        id,
        incident_id,
        kind: ReportKind::parse(&kind)?,
        version,
        fields: serde_json::from_str(&fields)
            .map_err(|err| DeskError::invalid("stored report fields", err.to_string()))?,
        body_markdown,
        body_json: serde_json::from_str(&body_json)
            .map_err(|err| DeskError::invalid("stored report body", err.to_string()))?,
        content_sha256: sha,
        submitted_at_ms: at,
        submitted_by: by,
    })
}

/// Records a reminder and queues its deliveries in one transaction; false if this reminder
/// (incident, report, deadline, lead) was sent already.
pub async fn fire_reminder(
    store: &Store,
    incident_id: i64,
    kind: ReportKind,
    due_at_ms: UnixMs,
    lead_minutes: u64,
    now_ms: UnixMs,
    deliveries: &[QueuedDelivery],
) -> Result<bool> {
    let mut tx = store
        .pool()
        .begin()
        .await
        .map_err(DeskError::storage("begin report reminder"))?;
    let done = sqlx::query(
        "INSERT INTO desk_report_reminders (incident_id, kind, due_at_ms, lead_minutes, fired_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(due_at_ms)
    .bind(i64::try_from(lead_minutes).unwrap_or(i64::MAX))
    .bind(now_ms)
    .execute(&mut *tx)
    .await
    .map_err(DeskError::storage("record report reminder"))?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    for delivery in deliveries {
        sqlx::query(
            "INSERT INTO desk_deliveries (incident_id, channel_id, recipient, payload, status, \
             attempts, next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(incident_id)
        .bind(&delivery.channel_id)
        .bind(&delivery.recipient)
        .bind(delivery.payload.to_string())
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(DeskError::storage("queue reminder delivery"))?;
    }
    tx.commit()
        .await
        .map_err(DeskError::storage("commit report reminder"))?;
    Ok(true)
}
