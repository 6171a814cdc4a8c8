//! Extractors that turn every malformed request into an [`ApiError`] with a JSON body: the
//! bearer token, JSON bodies (strict: unknown fields refused) and numeric path ids.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::trading::error::ApiError;
use crate::trading::serve::AppState;

/// Largest request body accepted, in bytes; larger gets 413.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// The authenticated caller (from `Authorization: Bearer <token>`).
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let text = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
        let token = text
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?
            .trim();
        state
            .tokens
            .check(token)
            .map(Auth)
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

/// A JSON body parsed strictly; an empty body is refused (use [`OptionalJson`] where allowed).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the request needs a JSON body",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent (empty body: `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        parse_json(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the request body is larger than {BODY_BYTES_MAX} bytes"),
                )
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                error.to_string(),
            ),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", error.to_string())
            }
        }
    })
}

/// A numeric id from the path (`/v1/orders/{id}`); anything else is a 400.
pub struct IdPath(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::bad_request("invalid_path", r.body_text()))?;
        text.parse::<u64>().map(IdPath).map_err(|_| {
            ApiError::bad_request(
                "invalid_id",
                format!("{text:?} is not an id (a positive integer)"),
            )
        })
    }
}
