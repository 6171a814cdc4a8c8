//! Request handlers: parse, authenticate, call the desk, answer JSON.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use fxdesk_desk::model::{Component, Principal, User};
use fxdesk_desk::{ComponentStatus, Incident, IncidentState, NewIncident, Role};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, DeskApi};

type ApiResult<T> = Result<T, ApiError>;

fn parse_json<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|err| ApiError::Body(err.to_string()))
}

fn parse_id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::Param {
            what: "incident id",
            detail: format!("{text:?} is not a positive integer"),
        })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The authenticated caller of a request.
pub struct Authed(pub Principal);

impl FromRequestParts<DeskApi> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &DeskApi,
    ) -> Result<Self, Self::Rejection> {
        let principal = state.desk.authenticate(bearer(&parts.headers)).await?;
        Ok(Authed(principal))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

pub async fn login(State(api): State<DeskApi>, body: Bytes) -> ApiResult<impl IntoResponse> {
    let request: LoginRequest = parse_json(&body)?;
    Ok(Json(
        api.desk.login(&request.username, &request.password).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    label: String,
}

pub async fn create_token(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let request: TokenRequest = parse_json(&body)?;
    Ok(Json(api.desk.create_api_token(&who, &request.label).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    username: String,
    password: String,
    role: Role,
}

pub async fn create_user(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    body: Bytes,
) -> ApiResult<Json<User>> {
    let request: UserRequest = parse_json(&body)?;
    Ok(Json(
        api.desk
            .create_user(&who, &request.username, &request.password, request.role)
            .await?,
    ))
}

pub async fn list_users(
    State(api): State<DeskApi>,
    Authed(who): Authed,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(api.desk.list_users(&who).await?))
}

pub async fn list_components(
    State(api): State<DeskApi>,
    Authed(who): Authed,
) -> ApiResult<Json<Vec<Component>>> {
    Ok(Json(api.desk.components(&who).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRequest {
    status: ComponentStatus,
}

pub async fn set_component(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Component>> {
    let request: ComponentRequest = parse_json(&body)?;
    Ok(Json(
        api.desk
            .set_component_status(&who, &id, request.status)
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

pub async fn list_incidents(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Incident>>> {
    Ok(Json(
        api.desk.incidents(&who, query.limit.unwrap_or(100)).await?,
    ))
}

pub async fn open_incident(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let request: NewIncident = parse_json(&body)?;
    let incident = api.desk.open_incident(&who, request).await?;
    Ok((axum::http::StatusCode::CREATED, Json(incident)))
}

pub async fn incident_detail(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(api.desk.incident_detail(&who, parse_id(&id)?).await?))
}

pub async fn acknowledge(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    Ok(Json(api.desk.acknowledge(&who, parse_id(&id)?).await?))
}

#[derive(Deserialize)]
pub struct AckLinkQuery {
    by: String,
    exp: i64,
    sig: String,
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Opening the signed link from a notification shows a confirmation form and changes nothing:
/// mail scanners that prefetch links must not acknowledge incidents. The form POSTs back.
pub async fn confirm_ack_link(
    State(api): State<DeskApi>,
    Path(id): Path<String>,
    Query(query): Query<AckLinkQuery>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id(&id)?;
    api.desk
        .verify_ack_link(id, &query.by, query.exp, &query.sig)?;
    let by = escape_html(&query.by);
    Ok((
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><meta charset=\"utf-8\"><title>Acknowledge incident {id}</title>\n\
             <form method=\"post\"><p>Acknowledge incident {id} as {by}?</p>\
             <button type=\"submit\">Acknowledge</button></form>\n"
        ),
    ))
}

/// The POST of the signed link's form: the signature is the credential.
pub async fn acknowledge_by_link(
    State(api): State<DeskApi>,
    Path(id): Path<String>,
    Query(query): Query<AckLinkQuery>,
) -> ApiResult<impl IntoResponse> {
    let incident = api
        .desk
        .acknowledge_by_link(parse_id(&id)?, &query.by, query.exp, &query.sig)
        .await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Incident {} acknowledged.\n", incident.id),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    state: IncidentState,
    message: String,
}

pub async fn update_incident(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Incident>> {
    let request: UpdateRequest = parse_json(&body)?;
    Ok(Json(
        api.desk
            .update_incident(&who, parse_id(&id)?, request.state, &request.message)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    #[serde(default)]
    message: String,
}

pub async fn resolve(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let request: ResolveRequest = if body.is_empty() {
        ResolveRequest {
            message: String::new(),
        }
    } else {
        parse_json(&body)?
    };
    let incident = api
        .desk
        .resolve(&who, parse_id(&id)?, &request.message)
        .await?;
    Ok(Json(
        json!({ "figures": incident.figures(), "incident": incident }),
    ))
}

pub async fn figures(
    State(api): State<DeskApi>,
    Authed(who): Authed,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(api.desk.figures(&who).await?))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn audit(
    State(api): State<DeskApi>,
    Authed(who): Authed,
    Query(query): Query<AuditQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        api.desk
            .audit(&who, query.after.unwrap_or(0), query.limit.unwrap_or(100))
            .await?,
    ))
}

/// Dead man's switch: the token in the path is the credential.
pub async fn heartbeat(
    State(api): State<DeskApi>,
    Path(token): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = api.desk.heartbeat(&token).await?;
    Ok(Json(
        json!({ "heartbeat": id, "received_at_ms": api.desk.now_ms() }),
    ))
}

/// Prometheus Alertmanager webhook (payload version 4), authenticated by its bearer token.
pub async fn alertmanager(
    State(api): State<DeskApi>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    api.desk.check_alertmanager_token(bearer(&headers))?;
    let outcome = api.desk.alertmanager(&body).await?;
    Ok(Json(json!(outcome)))
}

pub async fn metrics(
    State(api): State<DeskApi>,
    Authed(who): Authed,
) -> ApiResult<impl IntoResponse> {
    let text = api.desk.render_metrics(&who).await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    ))
}
