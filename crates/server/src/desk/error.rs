//! Desk errors as HTTP problems: `{"code": "...", "message": "..."}` with a fitting status.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use fxdesk_desk::DeskError;
use serde_json::json;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Desk(#[from] DeskError),
    /// The body is not the JSON the route expects.
    #[error("invalid request body: {0}")]
    Body(String),
    /// A path or query parameter is malformed.
    #[error("invalid {what}: {detail}")]
    Param { what: &'static str, detail: String },
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Body(_) | ApiError::Param { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request")
            }
            ApiError::Desk(err) => match err {
                DeskError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
                DeskError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
                DeskError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
                DeskError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, "unauthenticated"),
                DeskError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
                DeskError::Config { .. }
                | DeskError::Storage { .. }
                | DeskError::PasswordHash { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Details of storage and configuration failures go to the log, not to clients.
            tracing::error!("desk request failed: {self}");
            "internal error; see the server log".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            axum::Json(json!({ "code": code, "message": message })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
