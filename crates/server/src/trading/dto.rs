//! The API's JSON: request bodies (strict: unknown fields are refused) and answers. Kept apart
//! from engine types so the wire format is ours to keep stable. Prices and money are decimal
//! strings converted exactly (never floats); quantities are integers in base-currency units.

use std::str::FromStr;

use fxdesk_engine::{
    Account, Amendment, Currency, InstrumentId, InstrumentSpec, Order, OrderKind, OrderRequest,
    OrderSpec, Position, PositionId, PositionMode, Price, Qty, Side, Slippage, TimeInForce, TimeNs,
    Valuation,
};
use fxdesk_market::price::{format_scaled, format_ticks, parse_ticks};
use serde::{Deserialize, Serialize};

use crate::trading::error::ApiError;

/// Instruments as configured in the engine, for symbol and price conversions outside it.
#[derive(Debug, Clone)]
pub struct Instruments {
    specs: Vec<InstrumentSpec>,
}

impl Instruments {
    pub fn new(specs: Vec<InstrumentSpec>) -> Instruments {
        Instruments { specs }
    }

    pub fn by_symbol(&self, symbol: &str) -> Result<(InstrumentId, &InstrumentSpec), ApiError> {
        self.specs
            .iter()
            .enumerate()
            .find(|(_, spec)| spec.symbol == symbol)
            .and_then(|(i, spec)| Some((InstrumentId(u16::try_from(i).ok()?), spec)))
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_instrument",
                    format!("unknown instrument {symbol:?}"),
                )
            })
    }

    pub fn spec(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.specs.get(usize::from(id.0))
    }

    pub fn symbol(&self, id: InstrumentId) -> String {
        self.spec(id)
            .map_or_else(|| id.to_string(), |s| s.symbol.clone())
    }

    pub fn price_text(&self, id: InstrumentId, ticks: Price) -> String {
        match self.spec(id) {
            Some(spec) => format_ticks(ticks, spec.price_decimals),
            None => ticks.to_string(),
        }
    }

    /// (symbol, price decimals) lookup for the tick file reader.
    pub fn lookup(&self, symbol: &str) -> Option<(InstrumentId, u32)> {
        self.by_symbol(symbol)
            .ok()
            .map(|(id, spec)| (id, spec.price_decimals))
    }

    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> {
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (InstrumentId(i as u16), s))
    }
}

fn unprocessable(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn price(text: &str, field: &str, spec: &InstrumentSpec) -> Result<Price, ApiError> {
    parse_ticks(text, spec.price_decimals)
        .map_err(|e| unprocessable("invalid_price", format!("{field}: {e}")))
}

fn parse_time(text: &str, field: &str) -> Result<TimeNs, ApiError> {
    fxdesk_market::csv::parse_time_ns(text)
        .map_err(|e| unprocessable("invalid_time", format!("{field}: {e}")))
}

/// Money in an account currency: a decimal with at most its minor digits ("1000", "12.34").
pub fn parse_money(text: &str, currency: Currency) -> Result<i64, ApiError> {
    parse_ticks(text, currency.minor_digits())
        .map_err(|e| unprocessable("invalid_amount", format!("amount: {e}")))
}

pub fn money_text(minor: i128, currency: Currency) -> String {
    format_scaled(minor, currency.minor_digits())
}

fn time_text(ns: TimeNs) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ns.to_string())
}

// ----- requests --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SideDto {
    Buy,
    Sell,
}

impl From<SideDto> for Side {
    fn from(side: SideDto) -> Side {
        match side {
            SideDto::Buy => Side::Buy,
            SideDto::Sell => Side::Sell,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OrderTypeDto {
    Market,
    Limit,
    Stop,
    StopLimit,
    TrailingStop,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForceDto {
    Gtc,
    Day,
    Week,
    Gtd,
    Ioc,
    Fok,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModeDto {
    Hedging,
    Netting,
}

/// `POST /v1/accounts` (admin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountBody {
    /// "JPY" (default), "USD", "EUR", "GBP", "AUD".
    pub currency: Option<String>,
    pub mode: Option<ModeDto>,
    /// Account group (default 1).
    pub group_id: Option<u32>,
}

impl OpenAccountBody {
    pub fn currency(&self) -> Result<Currency, ApiError> {
        match &self.currency {
            None => Ok(Currency::JPY),
            Some(code) => Currency::from_code(code).ok_or_else(|| {
                unprocessable("unknown_currency", format!("unknown currency {code:?}"))
            }),
        }
    }

    pub fn mode(&self) -> PositionMode {
        match self.mode {
            Some(ModeDto::Netting) => PositionMode::Netting,
            _ => PositionMode::Hedging,
        }
    }
}

/// `POST /v1/accounts/{id}/deposits` (admin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositBody {
    /// In the account currency, e.g. "1000000" (JPY) or "1000.50" (USD).
    pub amount: String,
}

/// `POST /v1/tokens` (admin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub role: crate::auth::Role,
    /// Required for (and only for) the customer role.
    pub account_id: Option<u64>,
}

/// `POST /v1/quotes` (feed or admin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    pub instrument: String,
    pub bid: String,
    pub ask: String,
    /// The tick's own time (RFC 3339 or ns); default: the sequencer's time.
    pub time: Option<String>,
}

/// One order leg: what every order kind needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegBody {
    pub instrument: String,
    pub side: SideDto,
    pub qty: u64,
    #[serde(rename = "type")]
    pub order_type: OrderTypeDto,
    /// Limit price (limit), stop price (stop, stop_limit).
    pub price: Option<String>,
    /// The limit of a stop_limit.
    pub limit_price: Option<String>,
    /// How far a trailing stop follows the market, in ticks.
    pub distance_ticks: Option<u64>,
    /// Default gtc (ioc for market orders).
    pub time_in_force: Option<TimeInForceDto>,
    /// For gtd: RFC 3339 or ns.
    pub expire_time: Option<String>,
    /// A closing order for this position (hedging accounts).
    pub close_position_id: Option<u64>,
    /// A market order's protection: the price seen and how many ticks worse is acceptable.
    pub expected_price: Option<String>,
    pub slippage_ticks_max: Option<u64>,
}

/// `POST /v1/orders`: one leg, plus optional linked legs (OCO, IFD, IFO).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    /// Required for admin callers; customers may omit it (their own) but not name another.
    pub account_id: Option<u64>,
    /// Unique per account; the same id again returns the first answer.
    pub client_order_id: Option<String>,
    pub order: LegBody,
    /// The other side of an OCO pair with `order`.
    pub oco: Option<LegBody>,
    /// IFD: becomes live when `order` fills.
    pub then: Option<LegBody>,
    /// IFO: with `then`, becomes an OCO pair when `order` fills.
    pub then_oco: Option<LegBody>,
}

fn qty(value: u64) -> Result<Qty, ApiError> {
    if value == 0 || value > fxdesk_engine::limits::QTY_MAX as u64 {
        return Err(unprocessable(
            "invalid_qty",
            format!(
                "qty {value} is outside 1..={}",
                fxdesk_engine::limits::QTY_MAX
            ),
        ));
    }
    Ok(value as Qty)
}

fn ticks_u64(value: u64, field: &str) -> Result<Price, ApiError> {
    if value == 0 || value > fxdesk_engine::limits::PRICE_MAX_TICKS as u64 {
        return Err(unprocessable(
            "invalid_distance",
            format!(
                "{field} {value} is outside 1..={}",
                fxdesk_engine::limits::PRICE_MAX_TICKS
            ),
        ));
    }
    Ok(value as Price)
}

fn slippage_ticks(max: u64) -> Result<Price, ApiError> {
    i64::try_from(max)
        .ok()
        .filter(|m| *m <= fxdesk_engine::limits::PRICE_MAX_TICKS)
        .ok_or_else(|| unprocessable("invalid_slippage", "slippage_ticks_max is too large"))
}

fn time_in_force(
    dto: Option<TimeInForceDto>,
    expire_time: Option<&str>,
    default: TimeInForce,
) -> Result<TimeInForce, ApiError> {
    let tif = match dto {
        None => default,
        Some(TimeInForceDto::Gtc) => TimeInForce::GoodTillCancelled,
        Some(TimeInForceDto::Day) => TimeInForce::Day,
        Some(TimeInForceDto::Week) => TimeInForce::Week,
        Some(TimeInForceDto::Ioc) => TimeInForce::ImmediateOrCancel,
        Some(TimeInForceDto::Fok) => TimeInForce::FillOrKill,
        Some(TimeInForceDto::Gtd) => {
            let text = expire_time.ok_or_else(|| {
                unprocessable("missing_field", "time_in_force gtd needs expire_time")
            })?;
            return Ok(TimeInForce::GoodTillDate(parse_time(text, "expire_time")?));
        }
    };
    if expire_time.is_some() {
        return Err(unprocessable(
            "unexpected_field",
            "expire_time is only for time_in_force gtd",
        ));
    }
    Ok(tif)
}

impl LegBody {
    pub fn to_spec(&self, instruments: &Instruments) -> Result<OrderSpec, ApiError> {
        let (instrument, spec) = instruments.by_symbol(&self.instrument)?;
        fn need<'a>(
            field: Option<&'a String>,
            name: &str,
            order_type: OrderTypeDto,
        ) -> Result<&'a String, ApiError> {
            field.ok_or_else(|| {
                unprocessable(
                    "missing_field",
                    format!("a {order_type:?} order needs {name}"),
                )
            })
        }
        let forbid = |present: bool, name: &str| {
            if present {
                Err(unprocessable(
                    "unexpected_field",
                    format!("{name} does not apply to a {:?} order", self.order_type),
                ))
            } else {
                Ok(())
            }
        };
        let kind = match self.order_type {
            OrderTypeDto::Market => {
                forbid(self.price.is_some(), "price")?;
                forbid(self.limit_price.is_some(), "limit_price")?;
                forbid(self.distance_ticks.is_some(), "distance_ticks")?;
                let slippage = match (&self.expected_price, self.slippage_ticks_max) {
                    (None, None) => None,
                    (Some(expected), Some(max)) => Some(Slippage {
                        expected_price: price(expected, "expected_price", spec)?,
                        max_ticks: slippage_ticks(max)?,
                    }),
                    _ => {
                        return Err(unprocessable(
                            "missing_field",
                            "expected_price and slippage_ticks_max go together",
                        ))
                    }
                };
                OrderKind::Market { slippage }
            }
            OrderTypeDto::Limit | OrderTypeDto::Stop => {
                forbid(self.limit_price.is_some(), "limit_price")?;
                forbid(self.distance_ticks.is_some(), "distance_ticks")?;
                let at = price(
                    need(self.price.as_ref(), "price", self.order_type)?,
                    "price",
                    spec,
                )?;
                if self.order_type == OrderTypeDto::Limit {
                    OrderKind::Limit { price: at }
                } else {
                    OrderKind::Stop { price: at }
                }
            }
            OrderTypeDto::StopLimit => {
                forbid(self.distance_ticks.is_some(), "distance_ticks")?;
                OrderKind::StopLimit {
                    stop: price(
                        need(self.price.as_ref(), "price", self.order_type)?,
                        "price",
                        spec,
                    )?,
                    limit: price(
                        need(self.limit_price.as_ref(), "limit_price", self.order_type)?,
                        "limit_price",
                        spec,
                    )?,
                }
            }
            OrderTypeDto::TrailingStop => {
                forbid(self.price.is_some(), "price")?;
                forbid(self.limit_price.is_some(), "limit_price")?;
                let distance = self.distance_ticks.ok_or_else(|| {
                    unprocessable(
                        "missing_field",
                        "a trailing_stop order needs distance_ticks",
                    )
                })?;
                OrderKind::TrailingStop {
                    distance_ticks: ticks_u64(distance, "distance_ticks")?,
                }
            }
        };
        if self.order_type != OrderTypeDto::Market
            && (self.expected_price.is_some() || self.slippage_ticks_max.is_some())
        {
            return Err(unprocessable(
                "unexpected_field",
                "expected_price and slippage_ticks_max are for market orders",
            ));
        }
        let default_tif = if self.order_type == OrderTypeDto::Market {
            TimeInForce::ImmediateOrCancel
        } else {
            TimeInForce::GoodTillCancelled
        };
        Ok(OrderSpec {
            instrument,
            side: self.side.into(),
            qty: qty(self.qty)?,
            kind,
            time_in_force: time_in_force(
                self.time_in_force,
                self.expire_time.as_deref(),
                default_tif,
            )?,
            close_position: self.close_position_id.map(PositionId),
        })
    }
}

impl PlaceOrderBody {
    pub fn to_request(&self, instruments: &Instruments) -> Result<OrderRequest, ApiError> {
        let first = self.order.to_spec(instruments)?;
        let leg = |leg: &Option<LegBody>| leg.as_ref().map(|l| l.to_spec(instruments)).transpose();
        match (leg(&self.oco)?, leg(&self.then)?, leg(&self.then_oco)?) {
            (None, None, None) => Ok(OrderRequest::Single(first)),
            (Some(other), None, None) => Ok(OrderRequest::Oco(first, other)),
            (None, Some(then), None) => Ok(OrderRequest::Ifd { first, then }),
            (None, Some(then_a), Some(then_b)) => Ok(OrderRequest::Ifo {
                first,
                then_a,
                then_b,
            }),
            _ => Err(unprocessable(
                "invalid_combination",
                "use order alone, order+oco (OCO), order+then (IFD) or order+then+then_oco (IFO)",
            )),
        }
    }
}

/// `PATCH /v1/orders/{id}`: only the fields given change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendBody {
    pub qty: Option<u64>,
    pub price: Option<String>,
    pub limit_price: Option<String>,
    pub distance_ticks: Option<u64>,
    pub time_in_force: Option<TimeInForceDto>,
    pub expire_time: Option<String>,
}

impl AmendBody {
    pub fn to_amendment(&self, spec: &InstrumentSpec) -> Result<Amendment, ApiError> {
        let amendment = Amendment {
            qty: self.qty.map(qty).transpose()?,
            price: self
                .price
                .as_deref()
                .map(|p| price(p, "price", spec))
                .transpose()?,
            limit: self
                .limit_price
                .as_deref()
                .map(|p| price(p, "limit_price", spec))
                .transpose()?,
            distance_ticks: self
                .distance_ticks
                .map(|d| ticks_u64(d, "distance_ticks"))
                .transpose()?,
            time_in_force: match (self.time_in_force, &self.expire_time) {
                (None, None) => None,
                (tif, expire) => Some(time_in_force(
                    Some(tif.unwrap_or(TimeInForceDto::Gtd)),
                    expire.as_deref(),
                    TimeInForce::GoodTillCancelled,
                )?),
            },
        };
        if amendment == Amendment::default() {
            return Err(unprocessable("empty_amendment", "nothing to amend"));
        }
        Ok(amendment)
    }
}

/// `POST /v1/positions/{id}/close`: all (empty body or no qty) or part.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    pub qty: Option<u64>,
    pub expected_price: Option<String>,
    pub slippage_ticks_max: Option<u64>,
}

impl CloseBody {
    pub fn qty(&self) -> Result<Option<Qty>, ApiError> {
        self.qty.map(qty).transpose()
    }

    pub fn slippage(&self, spec: &InstrumentSpec) -> Result<Option<Slippage>, ApiError> {
        match (&self.expected_price, self.slippage_ticks_max) {
            (None, None) => Ok(None),
            (Some(expected), Some(max)) => Ok(Some(Slippage {
                expected_price: price(expected, "expected_price", spec)?,
                max_ticks: slippage_ticks(max)?,
            })),
            _ => Err(unprocessable(
                "missing_field",
                "expected_price and slippage_ticks_max go together",
            )),
        }
    }
}

/// `PUT /v1/positions/{id}/protection`: take-profit and stop-loss prices; a missing or null
/// field removes that side.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionBody {
    pub take_profit: Option<String>,
    pub stop_loss: Option<String>,
}

impl ProtectionBody {
    pub fn prices(
        &self,
        spec: &InstrumentSpec,
    ) -> Result<(Option<Price>, Option<Price>), ApiError> {
        Ok((
            self.take_profit
                .as_deref()
                .map(|p| price(p, "take_profit", spec))
                .transpose()?,
            self.stop_loss
                .as_deref()
                .map(|p| price(p, "stop_loss", spec))
                .transpose()?,
        ))
    }
}

// ----- answers ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: u64,
    pub currency: String,
    pub mode: ModeDto,
    pub group_id: u32,
    pub balance: String,
    pub equity: Option<String>,
    pub required_margin: Option<String>,
    pub free_margin: Option<String>,
    /// equity / required margin in percent ("250.00"); null without positions or a valuation.
    pub maintenance_ratio_pct: Option<String>,
    pub margin_call: bool,
    pub positions: usize,
    pub orders: usize,
}

impl AccountView {
    pub fn new(account: &Account, valuation: Option<&Valuation>) -> AccountView {
        let money = |v: i128| money_text(v, account.currency);
        AccountView {
            account_id: account.id.0,
            currency: account.currency.code().to_owned(),
            mode: match account.mode {
                PositionMode::Hedging => ModeDto::Hedging,
                PositionMode::Netting => ModeDto::Netting,
            },
            group_id: account.group.0,
            balance: money(i128::from(account.balance_minor)),
            equity: valuation.map(|v| money(v.equity)),
            required_margin: valuation.map(|v| money(v.required_margin)),
            free_margin: valuation.map(|v| money(v.equity - v.required_margin)),
            maintenance_ratio_pct: valuation
                .and_then(Valuation::ratio_bp)
                .map(|bp| format_scaled(i128::from(bp), 2)),
            margin_call: account.margin_call,
            positions: account.positions.len(),
            orders: account.orders.len(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PositionView {
    pub position_id: u64,
    pub account_id: u64,
    pub instrument: String,
    pub side: SideDto,
    pub qty: i64,
    pub open_price: String,
    pub opened_at: String,
    pub swap: String,
    pub take_profit_order_id: Option<u64>,
    pub stop_loss_order_id: Option<u64>,
}

impl PositionView {
    pub fn new(position: &Position, currency: Currency, instruments: &Instruments) -> Self {
        PositionView {
            position_id: position.id.0,
            account_id: position.account.0,
            instrument: instruments.symbol(position.instrument),
            side: side_dto(position.side),
            qty: position.qty,
            open_price: instruments.price_text(position.instrument, position.open_price),
            opened_at: time_text(position.opened_ns),
            swap: money_text(i128::from(position.swap_minor), currency),
            take_profit_order_id: position.take_profit.map(|o| o.0),
            stop_loss_order_id: position.stop_loss.map(|o| o.0),
        }
    }
}

fn side_dto(side: Side) -> SideDto {
    match side {
        Side::Buy => SideDto::Buy,
        Side::Sell => SideDto::Sell,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderView {
    pub order_id: u64,
    pub account_id: u64,
    pub client_order_id: Option<String>,
    pub instrument: String,
    pub side: SideDto,
    pub qty: i64,
    #[serde(rename = "type")]
    pub order_type: OrderTypeDto,
    pub price: Option<String>,
    pub limit_price: Option<String>,
    pub distance_ticks: Option<i64>,
    pub time_in_force: TimeInForceDto,
    pub expire_time: Option<String>,
    pub close_position_id: Option<u64>,
    pub placed_at: String,
    /// "working", or "waiting" (an IFD/IFO child until its parent fills).
    pub status: String,
    pub oco_peer_order_id: Option<u64>,
    pub parent_order_id: Option<u64>,
}

impl OrderView {
    pub fn new(order: &Order, instruments: &Instruments) -> OrderView {
        let text = |p: Price| Some(instruments.price_text(order.instrument, p));
        let (order_type, price, limit_price, distance_ticks) = match order.kind {
            OrderKind::Market { .. } => (OrderTypeDto::Market, None, None, None),
            OrderKind::Limit { price } => (OrderTypeDto::Limit, text(price), None, None),
            OrderKind::Stop { price } => (OrderTypeDto::Stop, text(price), None, None),
            OrderKind::StopLimit { stop, limit } => {
                (OrderTypeDto::StopLimit, text(stop), text(limit), None)
            }
            OrderKind::TrailingStop { distance_ticks } => {
                (OrderTypeDto::TrailingStop, None, None, Some(distance_ticks))
            }
        };
        let (time_in_force, expire_time) = match order.time_in_force {
            TimeInForce::GoodTillCancelled => (TimeInForceDto::Gtc, None),
            TimeInForce::Day => (TimeInForceDto::Day, None),
            TimeInForce::Week => (TimeInForceDto::Week, None),
            TimeInForce::GoodTillDate(at) => (TimeInForceDto::Gtd, Some(time_text(at))),
            TimeInForce::ImmediateOrCancel => (TimeInForceDto::Ioc, None),
            TimeInForce::FillOrKill => (TimeInForceDto::Fok, None),
        };
        OrderView {
            order_id: order.id.0,
            account_id: order.account.0,
            client_order_id: order.client_order_id.clone(),
            instrument: instruments.symbol(order.instrument),
            side: side_dto(order.side),
            qty: order.qty,
            order_type,
            price,
            limit_price,
            distance_ticks,
            time_in_force,
            expire_time,
            close_position_id: order.close_position.map(|p| p.0),
            placed_at: time_text(order.placed_ns),
            status: if order.active { "working" } else { "waiting" }.to_owned(),
            oco_peer_order_id: order.oco_peer.map(|o| o.0),
            parent_order_id: order.parent.map(|o| o.0),
        }
    }
}

/// The answer to `POST /v1/orders`, and to the same client order id sent again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlacedView {
    pub order_id: u64,
    pub client_order_id: Option<String>,
    /// "working"/"waiting" while the engine holds the order; then "filled", "cancelled" or
    /// "expired". A repeated client order id gets the first answer's outcome, also after the
    /// order ended; "done" only for an anonymous order that ended before this answer.
    pub status: String,
    pub order: Option<OrderView>,
    /// Set when `status` is "filled".
    pub filled_qty: Option<i64>,
    pub fill_price: Option<String>,
    /// Set when `status` is "cancelled" (e.g. "slippage_exceeded", "not_immediately_fillable").
    pub cancel_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuoteView {
    pub instrument: String,
    pub bid: String,
    pub ask: String,
    /// The tick's own time.
    pub time: String,
    /// When the sequencer took it.
    pub received_at: String,
}

impl QuoteView {
    pub fn new(
        instrument: InstrumentId,
        quote: &fxdesk_engine::Quote,
        instruments: &Instruments,
    ) -> Self {
        QuoteView {
            instrument: instruments.symbol(instrument),
            bid: instruments.price_text(instrument, quote.bid),
            ask: instruments.price_text(instrument, quote.ask),
            time: time_text(quote.source_time_ns),
            received_at: time_text(quote.engine_time_ns),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EngineStateView {
    /// Sequence number of the last command applied (and durable).
    pub seq: u64,
    pub state_hash: String,
    pub time_ns: i64,
    pub commands_applied: u64,
}

/// Parses a side given as text (used by tests and tools).
impl FromStr for SideDto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "buy" => Ok(SideDto::Buy),
            "sell" => Ok(SideDto::Sell),
            _ => Err(format!("unknown side {s:?}")),
        }
    }
}
