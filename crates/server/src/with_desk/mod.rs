//! `fxdesk serve` with the incident desk in the same process (the default): one listener serves
//! the trading API, the desk's API, the outside-signals push endpoint and one `/metrics`.
//!
//! - The desk watches the live sequencer through [`engine_watch::EngineWatch`] (liveness by a
//!   query through the sequencer's queue, quote staleness per instrument, ack and fsync p99).
//! - Outside signals ([`signals::SignalsWatch`]), when configured, poll their sources and open
//!   or annotate incidents through the desk.
//! - `GET /metrics` shows the trading figures (`fxdesk_*`), the desk's (`fxdesk_desk_*`) and the
//!   signals' (`fxdesk_signals_*`); a trading admin or feed token, or a desk token whose role
//!   may view metrics, reads it (the two routers each had a `/metrics`; axum refuses both).
//!
//! Every time-dependent step reads the injected clock: production runs the loops of
//! [`ServerWithDesk`] once a second; tests call [`ServerWithDesk::tick`] with a manual clock.

pub mod engine_watch;
pub mod signals;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fxdesk_desk::auth::Permission;
use fxdesk_desk::{BackgroundTasks, Clock, Desk, DeskConfig, Store, UnixMs};
use serde_json::json;

use crate::auth::{Caller, Role};
use crate::trading::serve::AppState;
use crate::trading::{start_with_front, RunningServer, ServeOptions, ServerError};

use engine_watch::EngineWatch;
use signals::{PushBody, PushError, SignalsSetup, SignalsWatch};

/// Largest push body accepted (a day of minute counts fits easily).
pub const PUSH_BODY_BYTES_MAX: usize = 256 * 1024;
/// How often the engine is sampled and the signals monitor runs.
pub const LOOP_INTERVAL: Duration = Duration::from_secs(1);

/// What the desk needs to run beside the trading server.
pub struct DeskSetup {
    pub config: DeskConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub signals: Option<SignalsSetup>,
    /// Run the production loops. Tests leave it off and call [`ServerWithDesk::tick`].
    pub background: bool,
}

/// Why the combined server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Desk(#[from] fxdesk_desk::DeskError),
    #[error(transparent)]
    Signals(#[from] signals::SignalsSetupError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("status page or console: {0}")]
    Site(#[from] crate::site::SiteError),
}

/// The trading server with the desk running in-process.
pub struct ServerWithDesk {
    pub trading: RunningServer,
    pub desk: Arc<Desk>,
    pub engine: Arc<EngineWatch>,
    pub signals: Option<Arc<SignalsWatch>>,
    /// Dropping these stops the loops.
    _desk_loops: Option<BackgroundTasks>,
    _loops: Vec<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The desk side of a [`ServerWithDesk`], for a caller that runs the trading server's
/// lifecycle itself: keep it alive as long as the server runs (dropping it stops the loops).
pub struct DeskRunning {
    pub desk: Arc<Desk>,
    pub engine: Arc<EngineWatch>,
    pub signals: Option<Arc<SignalsWatch>>,
    _desk_loops: Option<BackgroundTasks>,
    _loops: Vec<AbortOnDrop>,
}

impl ServerWithDesk {
    pub fn into_parts(self) -> (RunningServer, DeskRunning) {
        (
            self.trading,
            DeskRunning {
                desk: self.desk,
                engine: self.engine,
                signals: self.signals,
                _desk_loops: self._desk_loops,
                _loops: self._loops,
            },
        )
    }

    /// One pass of everything the loops do, at `now_ms`: sample the engine, evaluate the desk's
    /// monitors and escalations, deliver notifications, run the signals monitor.
    pub async fn tick(&self, now_ms: UnixMs) -> Result<(), fxdesk_desk::DeskError> {
        self.engine.sample(now_ms).await;
        self.desk.evaluate(now_ms).await?;
        self.desk.deliver_due(now_ms).await?;
        if let Some(signals) = &self.signals {
            signals.step(now_ms).await?;
        }
        Ok(())
    }
}

/// Starts the trading server with the desk's routes in front of it and the desk watching it.
pub async fn start_with_desk(
    options: ServeOptions,
    setup: DeskSetup,
) -> Result<ServerWithDesk, StartError> {
    let engine = Arc::new(EngineWatch::new(setup.clock.clone()));
    let desk = Desk::open(
        setup.config,
        setup.store,
        setup.clock.clone(),
        Some(engine.clone()),
    )
    .await?;
    let signals = match &setup.signals {
        Some(signals_setup) => Some(Arc::new(SignalsWatch::new(
            signals_setup,
            desk.clone(),
            setup.clock.clone(),
        )?)),
        None => None,
    };
    let pages =
        crate::site::pages_with_plans(desk.clone(), Some(options.data_dir.join("backfill")))
            .await?;
    let front = {
        let (engine, desk, signals) = (engine.clone(), desk.clone(), signals.clone());
        Box::new(move |trading: &AppState| {
            engine.attach(trading.clone());
            front_routes(trading.clone(), desk, signals).merge(pages)
        })
    };
    let trading = start_with_front(options, Some(front)).await?;
    let mut loops = Vec::new();
    let desk_loops = if setup.background {
        loops.push(spawn_engine_sampler(engine.clone(), setup.clock.clone()));
        if let Some(signals) = &signals {
            loops.push(spawn_signals_loop(signals.clone(), setup.clock.clone()));
        }
        Some(fxdesk_desk::spawn_background(desk.clone(), setup.clock))
    } else {
        None
    };
    Ok(ServerWithDesk {
        trading,
        desk,
        engine,
        signals,
        _desk_loops: desk_loops,
        _loops: loops,
    })
}

fn spawn_engine_sampler(engine: Arc<EngineWatch>, clock: Arc<dyn Clock>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut interval = tokio::time::interval(LOOP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            engine.sample(clock.now_ms()).await;
        }
    }))
}

fn spawn_signals_loop(signals: Arc<SignalsWatch>, clock: Arc<dyn Clock>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut interval = tokio::time::interval(LOOP_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = signals.step(clock.now_ms()).await {
                tracing::error!("signals pass failed: {error}");
            }
        }
    }))
}

#[derive(Clone)]
struct Shared {
    trading: AppState,
    desk: Arc<Desk>,
    signals: Option<Arc<SignalsWatch>>,
}

fn front_routes(trading: AppState, desk: Arc<Desk>, signals: Option<Arc<SignalsWatch>>) -> Router {
    let shared = Shared {
        trading,
        desk: desk.clone(),
        signals,
    };
    crate::desk::api_routes(desk).merge(
        Router::new()
            .route("/metrics", get(metrics))
            .route("/api/signals/{stream}/counts", post(push_counts))
            .layer(DefaultBodyLimit::max(PUSH_BODY_BYTES_MAX))
            .with_state(shared),
    )
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

fn problem(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

/// One `/metrics` for the process: trading, desk and signals figures.
async fn metrics(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let token = bearer(&headers);
    match token.and_then(|t| shared.trading.tokens.check(t)) {
        Some(caller) if caller.role() == Role::Customer => {
            return problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "metrics need an admin or feed token, or a desk role that may view metrics",
            );
        }
        Some(Caller::Admin | Caller::Feed) => {}
        _ => {
            // Not a trading token: a desk token must carry the right.
            let principal = match shared.desk.authenticate(token).await {
                Ok(principal) => principal,
                Err(error) => return crate::desk::ApiError::from(error).into_response(),
            };
            if let Err(error) = fxdesk_desk::auth::require(principal.role, Permission::ViewMetrics)
            {
                return crate::desk::ApiError::from(error).into_response();
            }
        }
    }
    let mut text = shared.trading.metrics.render(
        &shared.trading.instruments,
        shared.trading.readiness().is_ok(),
    );
    match shared.desk.metrics_text().await {
        Ok(desk_text) => text.push_str(&desk_text),
        Err(error) => return crate::desk::ApiError::from(error).into_response(),
    }
    if let Some(signals) = &shared.signals {
        text.push_str(&signals.render_metrics());
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `POST /api/signals/{stream}/counts`: see [`signals`].
async fn push_counts(
    State(shared): State<Shared>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match shared.desk.authenticate(bearer(&headers)).await {
        Ok(principal) => principal,
        Err(error) => return crate::desk::ApiError::from(error).into_response(),
    };
    if let Err(error) = fxdesk_desk::auth::require(principal.role, Permission::PushSignals) {
        return crate::desk::ApiError::from(error).into_response();
    }
    let Some(signals) = &shared.signals else {
        return problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "outside signals are not configured (--signals-config)",
        );
    };
    let body: PushBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "invalid request body: {error}; expected {{\"minute\", \"count\"}} or {{\"counts\": [...]}}"
                ),
            )
        }
    };
    match signals.push(&stream, body).await {
        Ok(outcome) => Json(outcome).into_response(),
        Err(PushError::UnknownStream(name)) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no signal stream {name:?} is configured"),
        ),
        Err(PushError::Invalid(detail)) => {
            problem(StatusCode::BAD_REQUEST, "invalid_request", detail)
        }
        Err(PushError::Desk(error)) => crate::desk::ApiError::from(error).into_response(),
    }
}
