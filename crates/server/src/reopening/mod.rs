//! Reopening after an outage: start halted, resume by an operator, and guard against price jumps.
//!
//! - After a restart that recovered a non-empty journal, `fxdesk serve` journals an engine
//!   `Halt` (all instruments) before it answers any trading request: quotes flow and are applied,
//!   nothing triggers (no limit, stop, TP/SL, margin call or loss-cut), new orders and closes are
//!   refused with `halted`. `POST /v1/admin/resume` (admin) journals `Resume`: orders whose
//!   condition the current quote already meets fire at once, at that quote. Applying a backfill
//!   plan resumes too. No halt when the journal's last command is already a `Resume` (a plan
//!   applied while the server was down, or a resume with nothing after it), nor with
//!   `--start-trading` (for a drill); a halt already in the journal stays until resumed.
//! - The price-jump guard ([`guard`]) holds quotes that move more than a configured number of
//!   pips from the last good quote until the next quotes confirm the level.
//!
//! Endpoints (admin token): `POST /v1/admin/resume`, `POST /v1/admin/halt`,
//! `GET /v1/admin/trading` (`{"halted": bool}`), `GET /v1/admin/price-guard` (limits, counts per
//! instrument, the held quotes and their outcomes). Metrics: `fxdesk_trading_halted`,
//! `fxdesk_price_guard_quotes_total{instrument,outcome}`.

pub mod guard;

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::trading::dto::Instruments;
use crate::trading::error::ApiError;
use crate::trading::extract::Auth;
use crate::trading::sequencer::{Answer, Request};
use crate::trading::serve::AppState;
use guard::{Outcome, PriceGuard};

/// Shared between the sequencer thread (the only writer) and the admin handlers.
pub struct Reopening {
    guard: Mutex<PriceGuard>,
    halted: AtomicBool,
}

impl Reopening {
    pub fn new(guard: PriceGuard) -> Reopening {
        Reopening {
            guard: Mutex::new(guard),
            halted: AtomicBool::new(false),
        }
    }

    /// The guard (the sequencer checks every quote under this lock; it is never contended long).
    pub fn guard(&self) -> std::sync::MutexGuard<'_, PriceGuard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True while the engine is halted for all instruments (as last seen by the sequencer).
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    pub(crate) fn set_halted(&self, halted: bool) {
        self.halted.store(halted, Ordering::Release);
    }

    /// Prometheus lines for `/metrics`.
    pub fn render_metrics(&self, instruments: &Instruments) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP fxdesk_trading_halted 1 while the engine is halted (after a restart, until resumed)\n\
             # TYPE fxdesk_trading_halted gauge\nfxdesk_trading_halted {}",
            u8::from(self.is_halted())
        );
        let _ = writeln!(
            out,
            "# HELP fxdesk_price_guard_quotes_total Quotes held by the price-jump guard, by outcome\n\
             # TYPE fxdesk_price_guard_quotes_total counter"
        );
        let guard = self.guard();
        for (id, spec) in instruments.iter() {
            let counts = guard.counts(id);
            // Like the quote-age gauge, an instrument appears once there is something to count.
            if counts.held_total == 0 {
                continue;
            }
            for (outcome, value) in [
                ("held", counts.held_total),
                ("confirmed", counts.confirmed_total),
                ("discarded", counts.discarded_total),
            ] {
                let _ = writeln!(
                    out,
                    "fxdesk_price_guard_quotes_total{{instrument=\"{}\",outcome=\"{outcome}\"}} {value}",
                    spec.symbol
                );
            }
        }
        out
    }
}

/// The admin routes of this module, merged into the trading router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/resume", post(resume))
        .route("/v1/admin/halt", post(halt))
        .route("/v1/admin/trading", get(trading))
        .route("/v1/admin/price-guard", get(price_guard))
}

fn admin_only(caller: Caller) -> Result<(), ApiError> {
    if caller == Caller::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs an admin token"))
    }
}

async fn halt_or_resume(state: &AppState, request: Request) -> Result<Json<Answer>, ApiError> {
    let answer = state.sequencer()?.call(request).await?;
    Ok(Json(answer))
}

async fn resume(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<Answer>, ApiError> {
    admin_only(caller)?;
    tracing::warn!("trading resumed by an operator");
    halt_or_resume(&state, Request::Resume).await
}

async fn halt(State(state): State<AppState>, Auth(caller): Auth) -> Result<Json<Answer>, ApiError> {
    admin_only(caller)?;
    tracing::warn!("trading halted by an operator");
    halt_or_resume(&state, Request::Halt).await
}

async fn trading(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<Json<Answer>, ApiError> {
    admin_only(caller)?;
    halt_or_resume(&state, Request::Trading).await
}

async fn price_guard(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin_only(caller)?;
    let instruments = &state.instruments;
    let guard = state.reopening.guard();
    let config = guard.config();
    let per_instrument: Vec<Value> = instruments
        .iter()
        .map(|(id, spec)| {
            let counts = guard.counts(id);
            json!({
                "instrument": spec.symbol,
                "jump_pips_max": config.jump_pips_max.get(usize::from(id.0)).copied().flatten(),
                "held_now": counts.held_now,
                "held_total": counts.held_total,
                "confirmed_total": counts.confirmed_total,
                "discarded_total": counts.discarded_total,
            })
        })
        .collect();
    let flags: Vec<Value> = guard
        .flags()
        .map(|flag| {
            json!({
                "id": flag.id,
                "instrument": instruments.symbol(flag.instrument),
                "time_ns": flag.time_ns,
                "bid": instruments.price_text(flag.instrument, flag.bid),
                "ask": instruments.price_text(flag.instrument, flag.ask),
                "last_good_bid": instruments.price_text(flag.instrument, flag.good_bid),
                "last_good_ask": instruments.price_text(flag.instrument, flag.good_ask),
                "jump_pips": flag.jump_pips,
                "outcome": flag.outcome,
            })
        })
        .collect();
    let held_now = guard.flags().filter(|f| f.outcome == Outcome::Held).count();
    Ok((
        StatusCode::OK,
        Json(json!({
            "confirm_quotes": config.confirm_quotes,
            "held_now": held_now,
            "instruments": per_instrument,
            "flags": flags,
        })),
    ))
}
