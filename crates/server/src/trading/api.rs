//! The HTTP routes of the trading API. Handlers check the caller's role and the body, then hand
//! a [`Request`] to the sequencer; everything that can be refused without the engine's state is
//! refused here, before anything reaches the journal.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use fxdesk_engine::{AccountId, GroupId, OrderId, PositionId};
use fxdesk_market::price::parse_ticks;
use serde_json::json;

use crate::auth::{Caller, Role};
use crate::trading::dto::{
    AmendBody, CloseBody, DepositBody, OpenAccountBody, PlaceOrderBody, ProtectionBody, QuoteBody,
    TokenBody,
};
use crate::trading::error::ApiError;
use crate::trading::extract::{ApiJson, Auth, IdPath, OptionalJson, BODY_BYTES_MAX};
use crate::trading::sequencer::{created, Answer, Request, Scope};
use crate::trading::serve::AppState;

type ApiResult = Result<(StatusCode, Json<Answer>), ApiError>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/accounts", post(open_account))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/accounts/{id}/deposits", post(deposit))
        .route("/v1/accounts/{id}/withdrawals", post(withdraw))
        .route("/v1/accounts/{id}/positions", get(positions))
        .route("/v1/accounts/{id}/orders", get(orders))
        .route("/v1/orders", post(place_order))
        .route(
            "/v1/orders/{id}",
            patch(amend_order).delete(cancel_order).get(order),
        )
        .route("/v1/positions/{id}/close", post(close_position))
        .route("/v1/positions/{id}/protection", put(set_protection))
        .route("/v1/quotes", get(quotes).post(post_quote))
        .route("/v1/tokens", post(create_token))
        .route("/v1/engine/state", get(engine_state))
        .route("/v1/stream", get(crate::trading::stream::stream))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::reopening::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no_such_endpoint", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

fn admin_only(caller: Caller) -> Result<(), ApiError> {
    if caller == Caller::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs an admin token"))
    }
}

/// Scope of a caller that trades or reads accounts; the feed role does neither.
fn trading_scope(caller: Caller) -> Result<Scope, ApiError> {
    match caller {
        Caller::Feed => Err(ApiError::forbidden(
            "a feed token cannot trade or read accounts",
        )),
        other => Ok(other.into()),
    }
}

async fn call(state: &AppState, request: Request) -> ApiResult {
    let answer = state.sequencer()?.call(request).await?;
    Ok((created(&answer), Json(answer)))
}

async fn open_account(
    State(state): State<AppState>,
    Auth(caller): Auth,
    OptionalJson(body): OptionalJson<OpenAccountBody>,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let body = body.unwrap_or(OpenAccountBody {
        currency: None,
        mode: None,
        group_id: None,
    });
    let request = Request::OpenAccount {
        group: GroupId(body.group_id.unwrap_or(1)),
        currency: body.currency()?,
        mode: body.mode(),
    };
    let Answer::AccountOpened { account_id } = state.sequencer()?.call(request).await? else {
        return Err(ApiError::internal("unexpected answer to OpenAccount"));
    };
    // The account is durable now; if this token write fails, the admin can issue one with
    // POST /v1/tokens.
    let tokens = state.tokens.clone();
    let token =
        tokio::task::spawn_blocking(move || tokens.issue(Caller::Customer(AccountId(account_id))))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| {
                ApiError::internal(format!(
                    "account {account_id} was opened but its token could not be stored: {e}"
                ))
            })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"account_id": account_id, "token": token})),
    )
        .into_response())
}

async fn deposit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DepositBody>,
) -> ApiResult {
    admin_only(caller)?;
    let (_, answer) = call(
        &state,
        Request::Deposit {
            account: AccountId(id),
            amount: body.amount,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, answer))
}

async fn withdraw(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DepositBody>,
) -> ApiResult {
    admin_only(caller)?;
    let (_, answer) = call(
        &state,
        Request::Withdraw {
            account: AccountId(id),
            amount: body.amount,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, answer))
}

async fn set_protection(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ProtectionBody>,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::SetProtection {
            scope,
            position: PositionId(id),
            body,
        },
    )
    .await
}

async fn account(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::Account {
            scope,
            account: AccountId(id),
        },
    )
    .await
}

async fn positions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::Positions {
            scope,
            account: AccountId(id),
        },
    )
    .await
}

async fn orders(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::Orders {
            scope,
            account: AccountId(id),
        },
    )
    .await
}

async fn order(State(state): State<AppState>, Auth(caller): Auth, IdPath(id): IdPath) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::Order {
            scope,
            order: OrderId(id),
        },
    )
    .await
}

fn client_order_id_valid(id: &str) -> bool {
    (1..=fxdesk_engine::limits::CLIENT_ORDER_ID_LEN_MAX).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_graphic())
}

async fn place_order(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<PlaceOrderBody>,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    let account = match (scope, body.account_id) {
        (Scope::Account(own), None) => own,
        (Scope::Account(own), Some(id)) if id == own.0 => own,
        (Scope::Account(_), Some(id)) => {
            return Err(ApiError::not_found(
                "unknown_account",
                format!("no account {id}"),
            ))
        }
        (_, Some(id)) => AccountId(id),
        (_, None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                "an admin placing an order must give account_id",
            ))
        }
    };
    if let Some(id) = &body.client_order_id {
        if !client_order_id_valid(id) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_order_id_invalid",
                format!(
                    "client_order_id must be 1..={} printable ASCII characters without spaces",
                    fxdesk_engine::limits::CLIENT_ORDER_ID_LEN_MAX
                ),
            ));
        }
    }
    let request = body.to_request(&state.instruments)?;
    call(
        &state,
        Request::PlaceOrder {
            account,
            scope,
            client_order_id: body.client_order_id,
            request,
        },
    )
    .await
}

async fn cancel_order(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::CancelOrder {
            scope,
            order: OrderId(id),
        },
    )
    .await
}

async fn amend_order(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<AmendBody>,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    call(
        &state,
        Request::AmendOrder {
            scope,
            order: OrderId(id),
            body,
        },
    )
    .await
}

async fn close_position(
    State(state): State<AppState>,
    Auth(caller): Auth,
    IdPath(id): IdPath,
    OptionalJson(body): OptionalJson<CloseBody>,
) -> ApiResult {
    let scope = trading_scope(caller)?;
    let body = body.unwrap_or(CloseBody {
        qty: None,
        expected_price: None,
        slippage_ticks_max: None,
    });
    call(
        &state,
        Request::ClosePosition {
            scope,
            position: PositionId(id),
            body,
        },
    )
    .await
}

async fn quotes(State(state): State<AppState>, Auth(_): Auth) -> ApiResult {
    call(&state, Request::Quotes).await
}

async fn post_quote(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<QuoteBody>,
) -> ApiResult {
    if !matches!(caller, Caller::Feed | Caller::Admin) {
        return Err(ApiError::forbidden("posting quotes needs a feed token"));
    }
    let (instrument, spec) = state.instruments.by_symbol(&body.instrument)?;
    let unprocessable = |code: &str, message: String| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    };
    let bid = parse_ticks(&body.bid, spec.price_decimals)
        .map_err(|e| unprocessable("invalid_price", format!("bid: {e}")))?;
    let ask = parse_ticks(&body.ask, spec.price_decimals)
        .map_err(|e| unprocessable("invalid_price", format!("ask: {e}")))?;
    if bid > ask {
        return Err(unprocessable(
            "crossed_quote",
            format!("bid {} is above ask {}", body.bid, body.ask),
        ));
    }
    let source_time_ns = body
        .time
        .as_deref()
        .map(fxdesk_market::csv::parse_time_ns)
        .transpose()
        .map_err(|e| unprocessable("invalid_time", format!("time: {e}")))?;
    let (_, answer) = call(
        &state,
        Request::Quote {
            instrument,
            bid,
            ask,
            source_time_ns,
        },
    )
    .await?;
    // A quote held by the price-jump guard was received but not applied.
    let status = match answer.0 {
        Answer::QuoteHeld(_) => StatusCode::ACCEPTED,
        _ => StatusCode::CREATED,
    };
    Ok((status, answer))
}

async fn create_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Response, ApiError> {
    admin_only(caller)?;
    let for_caller = match (body.role, body.account_id) {
        (Role::Admin, None) => Caller::Admin,
        (Role::Feed, None) => Caller::Feed,
        (Role::Customer, Some(id)) => {
            // The account must exist (a query: nothing is journaled).
            let _exists = call(
                &state,
                Request::Account {
                    scope: Scope::Any,
                    account: AccountId(id),
                },
            )
            .await?;
            Caller::Customer(AccountId(id))
        }
        (Role::Customer, None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_field",
                "a customer token needs account_id",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unexpected_field",
                "only customer tokens are bound to an account",
            ))
        }
    };
    let tokens = state.tokens.clone();
    let token = tokio::task::spawn_blocking(move || tokens.issue(for_caller))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "role": body.role, "account_id": body.account_id})),
    )
        .into_response())
}

async fn engine_state(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult {
    admin_only(caller)?;
    call(&state, Request::EngineState).await
}

async fn metrics(State(state): State<AppState>, Auth(caller): Auth) -> Result<Response, ApiError> {
    if caller.role() == Role::Customer {
        return Err(ApiError::forbidden("metrics need an admin or feed token"));
    }
    let mut body = state
        .metrics
        .render(&state.instruments, state.readiness().is_ok());
    body.push_str(&state.reopening.render_metrics(&state.instruments));
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn healthz(Auth(_): Auth) -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>, Auth(_): Auth) -> Response {
    match state.readiness() {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": reason})),
        )
            .into_response(),
    }
}
