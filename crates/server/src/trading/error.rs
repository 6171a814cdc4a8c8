//! Errors: [`ServerError`] for starting and running the server, [`ApiError`] for one HTTP answer.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("journal: {0}")]
    Journal(#[from] fxdesk_journal::JournalError),
    #[error("engine configuration: {0}")]
    Engine(#[from] fxdesk_engine::ConfigError),
    #[error(transparent)]
    Market(#[from] fxdesk_market::MarketError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the sequencer thread: {0}")]
    Thread(std::io::Error),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
}

/// An HTTP error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable (`unknown_account`, `invalid_json`, an engine reject code, ...).
    pub code: String,
    /// For the person reading it: what was wrong, and where.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The engine refused the command (it is journaled: the refusal is part of the history).
    pub fn rejected(reject: fxdesk_engine::Reject) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            reject.code(),
            format!("the dealing engine refused the command: {}", reject.code()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
