//! The incident desk's HTTP API over [`fxdesk_desk::Desk`].
//!
//! Authentication: `Authorization: Bearer <token>` (from `POST /api/login` or `POST /api/tokens`)
//! on every route, except those that carry their own credential: `POST /api/login`,
//! `POST /api/heartbeats/{token}` (the token in the path), `/api/incidents/{id}/ack-link` (an
//! HMAC-signed link from a notification: GET shows a confirmation form, POST acknowledges, so
//! mail scanners that open links acknowledge nothing) and `POST /api/alertmanager` (its own
//! bearer token, as Alertmanager's `http_config.authorization` sends it). Roles are checked
//! inside the desk, in one place (`fxdesk_desk::auth::allows`).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/login` `{username, password}` -> session token | anyone with a password |
//! | `POST /api/tokens` `{label}` -> API token | any user |
//! | `GET/POST /api/users` `{username, password, role}` | admin |
//! | `GET /api/components`, `PUT /api/components/{id}` `{status}` | viewer / operator |
//! | `GET /api/incidents?limit=`, `POST /api/incidents` `{component, title, impact?, message?, impact_started_at_ms?}` | viewer / operator |
//! | `GET /api/incidents/{id}` (timeline, deliveries with attempts, figures) | viewer |
//! | `POST /api/incidents/{id}/ack`, `/updates` `{state, message}`, `/resolve` `{message}` | operator |
//! | `GET/POST /api/incidents/{id}/ack-link?by=&exp=&sig=` | the signed link |
//! | `GET /api/figures` (MTTD/MTTA/MTTR) | viewer |
//! | `GET /api/audit?after=&limit=` | compliance, admin |
//! | `POST /api/heartbeats/{token}` | the heartbeat token |
//! | `POST /api/alertmanager` (webhook payload v4) | the Alertmanager token |
//! | `GET /metrics` (Prometheus text) | viewer |
//! | reports and the audit chain: see `reports.rs` (`/api/audit/verify`, `/api/reports/check`, ...) | compliance, ... |
//!
//! Errors are `{"code", "message"}` with 400 (bad input), 401, 403, 404, 409 or 500.

pub(crate) mod error;
mod handlers;
mod reports;

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
    api_routes(desk.clone()).merge(
        Router::new()
            .route("/metrics", get(handlers::metrics))
            .with_state(DeskApi { desk }),
    )
}

/// Every desk route but `GET /metrics`, for a server that serves one `/metrics` with the
/// desk's figures among others (`fxdesk serve`, see `crate::with_desk`).
pub fn api_routes(desk: Arc<Desk>) -> Router {
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
            get(handlers::confirm_ack_link).post(handlers::acknowledge_by_link),
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
        .merge(reports::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(DeskApi { desk })
}

/// Serves the desk alone on `listener` until the future is dropped (for `fxdesk desk`-style
/// standalone runs), with the status page and the console ([`crate::site`]).
pub async fn serve(listener: tokio::net::TcpListener, desk: Arc<Desk>) -> std::io::Result<()> {
    serve_with_plans(listener, desk, None).await
}

/// [`serve`], with the console reviewing the backfill plans in `plans_dir`.
pub async fn serve_with_plans(
    listener: tokio::net::TcpListener,
    desk: Arc<Desk>,
    plans_dir: Option<std::path::PathBuf>,
) -> std::io::Result<()> {
    let app = crate::site::router_with_plans(desk, plans_dir)
        .await
        .map_err(std::io::Error::other)?;
    // Small answers go out at once (the status page is many short keep-alive exchanges).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {err}");
        }
    });
    axum::serve(listener, app).await
}
