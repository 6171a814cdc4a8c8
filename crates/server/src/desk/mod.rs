//! The incident desk's HTTP API over [`fxdesk_desk::Desk`].
//!
//! Authentication: `Authorization: Bearer <token>` (from `POST /api/login` or `POST /api/tokens`)
//! on every route, except three that carry their own credential: `POST /api/heartbeats/{token}`
//! (the token in the path), `GET /api/incidents/{id}/ack-link` (an HMAC-signed link from a
//! notification) and `POST /api/login`. `POST /api/alertmanager` takes its own bearer token.
//! Roles are checked inside the desk, in one place (`fxdesk_desk::auth::allows`).

mod error;
mod handlers;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use fxdesk_desk::Desk;

pub use error::ApiError;

/// Largest request body any desk route accepts (the Alertmanager payload is the big one).
pub const MAX_BODY_BYTES: usize = fxdesk_desk::alertmanager::MAX_PAYLOAD_BYTES;

/// Shared state of the desk routes.
#[derive(Clone)]
pub struct DeskApi {
    pub desk: Arc<Desk>,
}

/// The desk's routes, ready to merge into the server's router or to serve on their own.
pub fn router(desk: Arc<Desk>) -> Router {
    Router::new()
        .route("/api/login", post(handlers::login))
        .route("/api/tokens", post(handlers::create_token))
        .route(
            "/api/users",
            get(handlers::list_users).post(handlers::create_user),
        )
        .route("/api/components", get(handlers::list_components))
        .route("/api/components/{id}", put(handlers::set_component))
        .route(
            "/api/incidents",
            get(handlers::list_incidents).post(handlers::open_incident),
        )
        .route("/api/incidents/{id}", get(handlers::incident_detail))
        .route("/api/incidents/{id}/ack", post(handlers::acknowledge))
        .route(
            "/api/incidents/{id}/ack-link",
            get(handlers::acknowledge_by_link),
        )
        .route(
            "/api/incidents/{id}/updates",
            post(handlers::update_incident),
        )
        .route("/api/incidents/{id}/resolve", post(handlers::resolve))
        .route("/api/figures", get(handlers::figures))
        .route("/api/audit", get(handlers::audit))
        .route("/api/heartbeats/{token}", post(handlers::heartbeat))
        .route("/api/alertmanager", post(handlers::alertmanager))
        .route("/metrics", get(handlers::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(DeskApi { desk })
}

/// Serves the desk alone on `listener` until the future is dropped (for `fxdesk desk`-style
/// standalone runs; `fxdesk serve` merges [`router`] into its own server instead).
pub async fn serve(listener: tokio::net::TcpListener, desk: Arc<Desk>) -> std::io::Result<()> {
    axum::serve(listener, router(desk)).await
}
