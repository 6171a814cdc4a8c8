//! Regulator reports and the audit chain over HTTP (roles are checked inside the desk).
//!
//! | route | who |
//! |---|---|
//! | `GET /api/audit/verify?expect_head=` -> chain verification (first bad entry) and report versions checked against it | compliance, admin |
//! | `GET /api/reports/check` -> reportable incidents lacking a report or filed late (the console's list) | operator, approver, compliance, admin |
//! | `GET /api/incidents/{id}/reports` -> obligations, deadlines, versions, UK tolerances | same |
//! | `PUT /api/incidents/{id}/impact` `ImpactInput` | operator, approver, compliance, admin |
//! | `POST /api/incidents/{id}/classification/eu_dora` `DoraAssessment` | compliance, admin |
//! | `POST /api/incidents/{id}/reports/{kind}/draft?format=md\|html\|json` `ComplianceFields` | viewers of reports |
//! | `POST /api/incidents/{id}/reports/{kind}/submit` `ComplianceFields` -> the kept version | compliance, admin |
//! | `PUT /api/users/{username}/role` `{role}` | admin |

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fxdesk_desk::reports::draft::Format;
use fxdesk_desk::reports::rules::DoraAssessment;
use fxdesk_desk::reports::{ComplianceFields, ImpactInput, ReportKind};
use fxdesk_desk::Role;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::handlers::Authed;
use super::{ApiError, DeskApi};

type ApiResult<T> = Result<T, ApiError>;

/// The routes of this module, merged into the desk router.
pub fn routes() -> Router<DeskApi> {
    Router::new()
        .route("/api/audit/verify", get(verify_audit))
        .route("/api/reports/check", get(check))
        .route("/api/incidents/{id}/reports", get(incident_reports))
        .route("/api/incidents/{id}/impact", put(record_impact))
        .route(
            "/api/incidents/{id}/classification/eu_dora",
            post(classify_dora),
        )
        .route("/api/incidents/{id}/reports/{kind}/draft", post(draft))
        .route("/api/incidents/{id}/reports/{kind}/submit", post(submit))
        .route("/api/users/{username}/role", put(set_role))
}

fn body_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|err| ApiError::Body(err.to_string()))
}

fn incident_id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::Param {
            what: "incident id",
            detail: format!("{text:?} is not a positive integer"),
        })
}

fn report_kind(text: &str) -> ApiResult<ReportKind> {
    Ok(ReportKind::parse(text)?)
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    expect_head: Option<String>,
}

async fn verify_audit(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Query(query): Query<VerifyQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        api.desk
            .verify_records(&who, query.expect_head.as_deref())
            .await?,
    ))
}

async fn check(State(api): State<DeskApi>, Authed(who): Authed) -> ApiResult<impl IntoResponse> {
    let result = api.desk.check_reports(&who).await?;
    Ok(Json(
        serde_json::json!({ "ok": result.ok(), "check": result }),
    ))
}

async fn incident_reports(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        api.desk.incident_reports(&who, incident_id(&id)?).await?,
    ))
}

async fn record_impact(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let impact: ImpactInput =
        serde_json::from_slice(&body).map_err(|err| ApiError::Body(err.to_string()))?;
    let id = incident_id(&id)?;
    api.desk.record_impact(&who, id, &impact).await?;
    Ok(Json(api.desk.incident_reports(&who, id).await?))
}

async fn classify_dora(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let assessment: DoraAssessment = body_or_default(&body)?;
    Ok(Json(
        api.desk
            .classify_dora(&who, incident_id(&id)?, &assessment)
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct DraftQuery {
    format: Option<String>,
}

async fn draft(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path((id, kind)): Path<(String, String)>,
    Query(query): Query<DraftQuery>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let fields: ComplianceFields = body_or_default(&body)?;
    let format = Format::parse(query.format.as_deref().unwrap_or("json"))?;
    let draft = api
        .desk
        .draft_report(&who, incident_id(&id)?, report_kind(&kind)?, &fields)
        .await?;
    let text = api.desk.render_draft(&draft, format)?;
    Ok(([(CONTENT_TYPE, format.content_type())], text))
}

async fn submit(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path((id, kind)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let fields: ComplianceFields = body_or_default(&body)?;
    let version = api
        .desk
        .submit_report(&who, incident_id(&id)?, report_kind(&kind)?, &fields)
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(version)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    role: Role,
}

async fn set_role(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(username): Path<String>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let request: RoleRequest =
        serde_json::from_slice(&body).map_err(|err| ApiError::Body(err.to_string()))?;
    Ok(Json(
        api.desk
            .set_user_role(&who, &username, request.role)
            .await?,
    ))
}
