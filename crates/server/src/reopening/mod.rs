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
//!   pips from the last good quote until the next quotes confirm the level, and marks a
//!   confirmed level off-market when the market comes back within its revert window. Its
//!   flags and off-market spans are appended to `DATA_DIR/price-guard/flags.jsonl` (format:
//!   `fxdesk_backfill::guard_flags`), read back at start, and are the evidence the backfill
//!   plan uses to cancel fills made on off-market quotes.
//!
//! Endpoints (admin token): `POST /v1/admin/resume`, `POST /v1/admin/halt`,
//! `GET /v1/admin/trading` (`{"halted": bool}`), `GET /v1/admin/price-guard` (limits, counts per
//! instrument, the held quotes and their outcomes),
//! `POST /v1/admin/price-guard/flags/{id}/off-market` (body `{"until_ns": source time where the
//! bad level ended, "operator": name, "reason": text}`: marks a confirmed level off-market;
//! 404 for an unknown flag, 409 for one never applied or marked already, 422 for a bad body). Metrics:
//! `fxdesk_trading_halted`, `fxdesk_price_guard_quotes_total{instrument,outcome}`,
//! `fxdesk_price_guard_write_errors_total`.

pub mod guard;

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::trading::dto::Instruments;
use crate::trading::error::ApiError;
use crate::trading::extract::{ApiJson, Auth, IdPath};
use crate::trading::sequencer::{Answer, Request};
use crate::trading::serve::AppState;
use fxdesk_backfill::guard_flags::{FlagWriter, OffMarketSpan};
use fxdesk_engine::{InstrumentId, Price, TimeNs};
use guard::{MarkError, Outcome, PriceGuard, Verdict};

/// Longest operator name kept with a hand-marked span, in bytes.
pub const OPERATOR_BYTES_MAX: usize = 64;

/// Shared between the sequencer thread (the only writer) and the admin handlers.
pub struct Reopening {
    guard: Mutex<PriceGuard>,
    /// The flag file; locked after `guard`, never before (one order, no deadlock).
    log: Mutex<Option<FlagWriter>>,
    write_errors: AtomicU64,
    halted: AtomicBool,
}

impl Reopening {
    /// A guard whose flags live in memory only (tests, benchmarks).
    pub fn new(guard: PriceGuard) -> Reopening {
        Reopening {
            guard: Mutex::new(guard),
            log: Mutex::new(None),
            write_errors: AtomicU64::new(0),
            halted: AtomicBool::new(false),
        }
    }

    /// A guard that appends its flags to `log` (opened by the caller, which restored the
    /// guard from what the file held).
    pub fn with_log(guard: PriceGuard, log: FlagWriter) -> Reopening {
        let reopening = Reopening::new(guard);
        *reopening.log.lock().unwrap_or_else(PoisonError::into_inner) = Some(log);
        // Whatever `restore` recorded (held flags of the last run, now discarded).
        let mut guard = reopening.guard();
        reopening.write_records(&mut guard);
        drop(guard);
        reopening
    }

    /// Writes the guard's new records to the flag file. A failed write is logged and counted,
    /// never fatal: the guard keeps trading safe in memory; the backfill evidence is what is
    /// lost, and the error metric says so.
    fn write_records(&self, guard: &mut PriceGuard) {
        let records = guard.take_records();
        if records.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(writer) = log.as_mut() else {
            return;
        };
        for record in &records {
            if let Err(e) = writer.append(record) {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    path = %writer.path().display(),
                    "cannot append to the price-jump guard's flag file: {e}"
                );
            }
        }
    }

    /// Checks one quote with the guard and writes what it recorded (the sequencer's path).
    pub fn check_quote(
        &self,
        instrument: InstrumentId,
        bid: Price,
        ask: Price,
        time_ns: TimeNs,
    ) -> Verdict {
        let mut guard = self.guard();
        let verdict = guard.check(instrument, bid, ask, time_ns);
        self.write_records(&mut guard);
        verdict
    }

    /// Marks a confirmed level off-market by hand and writes it (see
    /// [`PriceGuard::mark_off_market`]).
    pub fn mark_off_market(
        &self,
        id: u64,
        until_ns: TimeNs,
        user: &str,
        reason: &str,
    ) -> Result<OffMarketSpan, MarkError> {
        let mut guard = self.guard();
        let span = guard.mark_off_market(id, until_ns, user, reason)?;
        self.write_records(&mut guard);
        Ok(span)
    }

    /// Flag-file appends that failed since start.
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
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
                ("reverted", counts.reverted_total),
            ] {
                let _ = writeln!(
                    out,
                    "fxdesk_price_guard_quotes_total{{instrument=\"{}\",outcome=\"{outcome}\"}} {value}",
                    spec.symbol
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP fxdesk_price_guard_write_errors_total Price-jump guard flags that could not be written to the flag file\n\
             # TYPE fxdesk_price_guard_write_errors_total counter\nfxdesk_price_guard_write_errors_total {}",
            self.write_errors()
        );
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
        .route(
            "/v1/admin/price-guard/flags/{id}/off-market",
            post(mark_off_market),
        )
}

/// Body of `POST /v1/admin/price-guard/flags/{id}/off-market`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkBody {
    /// Source time (UTC ns) of the first good quote after the bad level: quotes applied from
    /// the level's applying quote up to this time (excluded) are off-market.
    until_ns: TimeNs,
    /// Who decided (admin tokens carry no name).
    operator: String,
    reason: String,
}

async fn mark_off_market(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MarkBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin_only(caller)?;
    let operator = body.operator.trim();
    if operator.is_empty() || operator.len() > OPERATOR_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_operator",
            format!("operator: a name of 1 to {OPERATOR_BYTES_MAX} bytes is needed"),
        ));
    }
    let span = state
        .reopening
        .mark_off_market(id, body.until_ns, operator, &body.reason)
        .map_err(|e| match e {
            MarkError::UnknownFlag => ApiError::not_found(
                "unknown_flag",
                format!("no price-guard flag {id} (only the newest {} are kept)", guard::FLAGS_KEPT_MAX),
            ),
            MarkError::NotApplied(outcome) => ApiError::new(
                StatusCode::CONFLICT,
                "flag_not_applied",
                format!(
                    "flag {id} is {}: only a confirmed level that was applied can be marked off-market",
                    serde_json::to_value(outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ),
            MarkError::Invalid(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_mark", why)
            }
        })?;
    tracing::warn!(
        flag = id,
        operator,
        from_ns = span.from_ns,
        until_ns = span.until_ns,
        "price-guard level marked off-market by an operator"
    );
    Ok((
        StatusCode::OK,
        Json(json!({
            "instrument": span.symbol,
            "from_ns": span.from_ns,
            "until_ns": span.until_ns,
            "flags": span.flags,
            "operator": operator,
        })),
    ))
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
                "reverted_total": counts.reverted_total,
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
                "applied_from_ns": flag.applied_from_ns,
            })
        })
        .collect();
    let held_now = guard.flags().filter(|f| f.outcome == Outcome::Held).count();
    Ok((
        StatusCode::OK,
        Json(json!({
            "confirm_quotes": config.confirm_quotes,
            "revert_window_ns": config.revert_window_ns,
            "write_errors": state.reopening.write_errors(),
            "held_now": held_now,
            "instruments": per_instrument,
            "flags": flags,
        })),
    ))
}
