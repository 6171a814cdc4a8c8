//! The engine: state plus `apply`. Every command is validated completely before anything
//! changes, so a rejected command leaves the state untouched.

use crate::books::{Rest, TriggerBook};
use crate::command::{
    Amendment, Command, CommandKind, CorrectionId, GroupSpec, LossCutMode, OrderKind, OrderRequest,
    OrderSpec, Slippage, SwapRate, TimeInForce,
};
use crate::event::{CancelReason, ClientOrderOutcome, Event, Reject};
use crate::hash::StableHasher;
use crate::instrument::InstrumentSpec;
use crate::limits;
use crate::money::{self, ConversionPath, Rate};
use crate::risk::{BandIndex, Valuation};
use crate::state::{Account, FinishedOrder, Order, OrderEnd, Position};
use crate::table::{IdList, IdTable};
use crate::types::{
    AccountId, Currency, GroupId, InstrumentId, MoneyMinor, OrderId, PositionId, PositionMode,
    Price, Qty, Side, TimeNs,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

mod backfill;
use backfill::Repricing;

/// How the engine starts: its instruments and account groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub instruments: Vec<InstrumentSpec>,
    pub groups: Vec<GroupSpec>,
}

impl Default for EngineConfig {
    /// The six default pairs and group 1: 25x leverage, margin call at 100 %, loss-cut at 50 %.
    fn default() -> Self {
        EngineConfig {
            instruments: InstrumentSpec::defaults(),
            groups: vec![GroupSpec {
                id: GroupId(1),
                leverage: 25,
                margin_call_bp: 10_000,
                loss_cut_bp: 5_000,
                loss_cut_mode: LossCutMode::AllAtMarket,
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quote {
    pub bid: Price,
    pub ask: Price,
    pub source_time_ns: TimeNs,
    pub engine_time_ns: TimeNs,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Market {
    spec: InstrumentSpec,
    quote: Option<Quote>,
    halted: bool,
    book: TriggerBook,
}

/// The dealing engine's whole state. Serialises completely (snapshots) and hashes stably.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Engine {
    markets: Vec<Market>,
    /// conversion[from][to] for every pair of known currencies.
    conversion: Vec<Vec<Option<ConversionPath>>>,
    groups: BTreeMap<GroupId, GroupSpec>,
    accounts: Vec<Account>,
    orders: IdTable<OrderId, Order>,
    /// Orders with a client order id that no longer work, and how they ended (answers for a
    /// repeated client order id). Grows with `client_orders`, never with anonymous orders.
    finished: IdTable<OrderId, FinishedOrder>,
    positions: IdTable<PositionId, Position>,
    /// Per account: client order id -> the first outcome (nested so the state serialises to JSON).
    client_orders: BTreeMap<AccountId, BTreeMap<String, ClientOrderOutcome>>,
    /// Good-till-date expiries.
    expiries: BTreeSet<(TimeNs, OrderId)>,
    day_orders: BTreeSet<OrderId>,
    week_orders: BTreeSet<OrderId>,
    bands: BandIndex,
    halted_all: bool,
    now_ns: TimeNs,
    next_order: u64,
    next_position: u64,
    /// Outage-backfill corrections already applied (each applies once; see `backfill.rs`).
    corrections: BTreeSet<CorrectionId>,
}

const CURRENCIES: [Currency; 5] = [
    Currency::JPY,
    Currency::USD,
    Currency::EUR,
    Currency::GBP,
    Currency::AUD,
];

fn currency_index(currency: Currency) -> usize {
    match currency {
        Currency::JPY => 0,
        Currency::USD => 1,
        Currency::EUR => 2,
        Currency::GBP => 3,
        Currency::AUD => 4,
    }
}

/// The error for a configuration the engine cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid engine configuration: {0}")]
pub struct ConfigError(pub String);

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Engine, ConfigError> {
        if config.instruments.is_empty() || config.instruments.len() > limits::INSTRUMENTS_MAX {
            return Err(ConfigError(format!(
                "between 1 and {} instruments are needed",
                limits::INSTRUMENTS_MAX
            )));
        }
        let mut symbols = BTreeSet::new();
        for spec in &config.instruments {
            spec.validate().map_err(ConfigError)?;
            if !symbols.insert(spec.symbol.clone()) {
                return Err(ConfigError(format!(
                    "instrument {} is listed twice",
                    spec.symbol
                )));
            }
        }
        let pairs: Vec<(Currency, Currency)> = config
            .instruments
            .iter()
            .map(|s| (s.base, s.quote))
            .collect();
        let conversion = CURRENCIES
            .iter()
            .map(|&from| {
                CURRENCIES
                    .iter()
                    .map(|&to| money::find_path(&pairs, from, to))
                    .collect()
            })
            .collect();
        let mut engine = Engine {
            markets: config
                .instruments
                .iter()
                .map(|spec| Market {
                    spec: spec.clone(),
                    quote: None,
                    halted: false,
                    book: TriggerBook::default(),
                })
                .collect(),
            conversion,
            groups: BTreeMap::new(),
            accounts: Vec::new(),
            orders: IdTable::default(),
            finished: IdTable::default(),
            positions: IdTable::default(),
            client_orders: BTreeMap::new(),
            expiries: BTreeSet::new(),
            day_orders: BTreeSet::new(),
            week_orders: BTreeSet::new(),
            bands: BandIndex::new(config.instruments.len()),
            halted_all: false,
            now_ns: i64::MIN,
            next_order: 1,
            next_position: 1,
            corrections: BTreeSet::new(),
        };
        for group in config.groups {
            validate_group(&group).map_err(|r| ConfigError(format!("group {}: {r}", group.id)))?;
            engine.groups.insert(group.id, group);
        }
        Ok(engine)
    }

    /// Applies one command and returns what happened.
    pub fn apply(&mut self, command: &Command) -> Vec<Event> {
        let mut events = Vec::new();
        self.apply_into(command, &mut events);
        events
    }

    /// Applies one command, appending its events to `events` (which the caller may reuse).
    pub fn apply_into(&mut self, command: &Command, events: &mut Vec<Event>) {
        if command.time_ns < self.now_ns {
            events.push(Event::Rejected(Reject::TimeWentBackwards));
            return;
        }
        self.now_ns = command.time_ns;
        self.warm(&command.kind);
        self.expire_due(events);
        let result = match &command.kind {
            CommandKind::Quote {
                instrument,
                bid,
                ask,
                source_time_ns,
            } => self.quote(*instrument, *bid, *ask, *source_time_ns, events),
            CommandKind::SetGroup(spec) => self.set_group(spec, events),
            CommandKind::OpenAccount {
                group,
                currency,
                mode,
            } => self.open_account(*group, *currency, *mode, events),
            CommandKind::Deposit {
                account,
                amount_minor,
            } => self.deposit(*account, *amount_minor, events),
            CommandKind::Withdraw {
                account,
                amount_minor,
            } => self.withdraw(*account, *amount_minor, events),
            CommandKind::PlaceOrder {
                account,
                client_order_id,
                request,
            } => self.place(*account, client_order_id.as_deref(), request, events),
            CommandKind::AmendOrder {
                account,
                order,
                amendment,
            } => self.amend(*account, *order, amendment, events),
            CommandKind::CancelOrder { account, order } => self.cancel(*account, *order, events),
            CommandKind::ClosePosition {
                account,
                position,
                qty,
                slippage,
            } => self.close_at_market(*account, *position, *qty, *slippage, events),
            CommandKind::SetProtection {
                account,
                position,
                take_profit,
                stop_loss,
            } => self.set_protection(*account, *position, *take_profit, *stop_loss, events),
            CommandKind::Rollover { swaps, weekly } => self.rollover(swaps, *weekly, events),
            CommandKind::Halt { instrument } => self.halt(*instrument, true, events),
            CommandKind::Resume { instrument } => self.halt(*instrument, false, events),
            CommandKind::BackfillFill {
                correction,
                order,
                price,
                at_ns,
            } => self.backfill_fill(*correction, *order, *price, *at_ns, events),
            CommandKind::BackfillClose {
                correction,
                position,
                price,
                at_ns,
            } => self.backfill_close(*correction, *position, *price, *at_ns, events),
            CommandKind::CashAdjustment {
                correction,
                account,
                amount_minor,
                reason,
            } => self.cash_adjustment(*correction, *account, *amount_minor, reason, events),
            CommandKind::BackfillRestore {
                correction,
                position,
                orders,
            } => self.backfill_restore(*correction, position, orders, events),
            CommandKind::BackfillRestoreOrder { correction, order } => {
                self.backfill_restore_order(*correction, order, events)
            }
            CommandKind::BackfillRestoreOrders { correction, orders } => {
                self.backfill_restore_orders(*correction, orders, events)
            }
            CommandKind::BackfillReprice {
                correction,
                account,
                instrument,
                position,
                qty,
                from,
                to,
                realised_pnl_minor,
            } => self.backfill_reprice(
                *correction,
                Repricing {
                    account: *account,
                    instrument: *instrument,
                    position: *position,
                    qty: *qty,
                    from: *from,
                    to: *to,
                    realised_pnl_minor: *realised_pnl_minor,
                },
                events,
            ),
        };
        if let Err(reason) = result {
            events.push(Event::Rejected(reason));
        }
    }

    // ----- queries -------------------------------------------------------------------------

    /// A hash of the whole state; equal states give equal hashes on every run.
    pub fn state_hash(&self) -> u64 {
        let mut hasher = StableHasher::default();
        self.hash(&mut hasher);
        hasher.finish()
    }

    pub fn now_ns(&self) -> TimeNs {
        self.now_ns
    }

    pub fn instruments(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> {
        self.markets
            .iter()
            .enumerate()
            .map(|(i, m)| (InstrumentId(i as u16), &m.spec))
    }

    pub fn instrument_by_symbol(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments()
            .find(|(_, spec)| spec.symbol == symbol)
            .map(|(id, _)| id)
    }

    pub fn instrument(&self, id: InstrumentId) -> Option<&InstrumentSpec> {
        self.markets.get(usize::from(id.0)).map(|m| &m.spec)
    }

    pub fn quote_of(&self, id: InstrumentId) -> Option<&Quote> {
        self.markets.get(usize::from(id.0))?.quote.as_ref()
    }

    pub fn is_halted(&self, id: InstrumentId) -> bool {
        self.halted_all
            || self
                .markets
                .get(usize::from(id.0))
                .is_some_and(|m| m.halted)
    }

    pub fn is_halted_globally(&self) -> bool {
        self.halted_all
    }

    pub fn group(&self, id: GroupId) -> Option<&GroupSpec> {
        self.groups.get(&id)
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        let index = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.accounts.get(index)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter()
    }

    pub fn order(&self, id: OrderId) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Every working order, in id order.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.sorted_values()
    }

    /// Number of working orders (including IFD children waiting for their parent).
    /// How an order with a client order id ended, once it no longer works.
    pub fn finished_order(&self, id: OrderId) -> Option<&FinishedOrder> {
        self.finished.get(&id)
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn position(&self, id: PositionId) -> Option<&Position> {
        self.positions.get(&id)
    }

    /// Every open position, in id order.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.sorted_values()
    }

    pub fn positions_of(&self, account: AccountId) -> Vec<&Position> {
        self.account(account)
            .map(|a| {
                a.positions
                    .iter()
                    .filter_map(|p| self.positions.get(p))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn orders_of(&self, account: AccountId) -> Vec<&Order> {
        self.account(account)
            .map(|a| a.orders.iter().filter_map(|o| self.orders.get(o)).collect())
            .unwrap_or_default()
    }

    /// The current stop price of a working trailing stop.
    pub fn trailing_stop_price(&self, order: OrderId) -> Option<Price> {
        let order = self.orders.get(&order)?;
        self.markets
            .get(usize::from(order.instrument.0))?
            .book
            .trailing_stop_price(order.id, order.side)
    }

    /// The outcome recorded for an account's client order id, if it was used.
    pub fn client_order(
        &self,
        account: AccountId,
        client_order_id: &str,
    ) -> Option<&ClientOrderOutcome> {
        self.client_orders.get(&account)?.get(client_order_id)
    }

    /// Number of (account, instrument) margin bands filed: accounts with positions x instruments.
    pub fn margin_bands(&self) -> usize {
        self.bands.len()
    }

    /// Number of orders resting in trigger books (active orders only).
    pub fn resting_orders(&self) -> usize {
        self.markets.iter().map(|m| m.book.len()).sum()
    }

    /// Equity, margin and ratio at the current quotes.
    pub fn valuation(&self, account: AccountId) -> Option<Valuation> {
        let account = self.account(account)?;
        self.value(account)
    }

    // ----- validation helpers ----------------------------------------------------------------

    fn market(&self, id: InstrumentId) -> Result<&Market, Reject> {
        self.markets
            .get(usize::from(id.0))
            .ok_or(Reject::UnknownInstrument)
    }

    fn live_quote(&self, id: InstrumentId) -> Result<(Price, Price), Reject> {
        let market = self.market(id)?;
        market
            .quote
            .as_ref()
            .map(|q| (q.bid, q.ask))
            .ok_or(Reject::NoQuote)
    }

    fn account_index(&self, id: AccountId) -> Result<usize, Reject> {
        let index = usize::try_from(id.0)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .ok_or(Reject::UnknownAccount)?;
        if index < self.accounts.len() {
            Ok(index)
        } else {
            Err(Reject::UnknownAccount)
        }
    }

    fn account_mut(&mut self, id: AccountId) -> &mut Account {
        // Only called with ids validated earlier in the same command.
        let index = usize::try_from(id.0).unwrap_or(usize::MAX).wrapping_sub(1);
        assert!(
            index < self.accounts.len(),
            "account {id} vanished mid-command"
        );
        &mut self.accounts[index]
    }

    fn halted(&self, id: InstrumentId) -> bool {
        self.is_halted(id)
    }

    /// The rate converting money in `from` into `to`, from current mids.
    fn rate(&self, from: Currency, to: Currency) -> Result<Rate, Reject> {
        self.rate_at(from, to, |_, market| {
            market.quote.as_ref().map(|q| (q.bid, q.ask))
        })
    }

    /// The rate converting money in `from` into `to`, from the mids of the (bid, ask) quotes
    /// `quote_of` gives for the conversion path's instruments.
    fn rate_at(
        &self,
        from: Currency,
        to: Currency,
        quote_of: impl Fn(InstrumentId, &Market) -> Option<(Price, Price)>,
    ) -> Result<Rate, Reject> {
        let path = self.conversion[currency_index(from)][currency_index(to)]
            .ok_or(Reject::NoConversion)?;
        let leg = |(index, forward): (u16, bool)| -> Result<Rate, Reject> {
            let market = self
                .markets
                .get(usize::from(index))
                .ok_or(Reject::NoConversion)?;
            let (bid, ask) = quote_of(InstrumentId(index), market).ok_or(Reject::NoQuote)?;
            let mid = Rate::mid_of(bid, ask, market.spec.ticks_per_unit());
            Ok(if forward { mid } else { mid.inverse() })
        };
        match path {
            ConversionPath::Same => Ok(Rate::ONE),
            ConversionPath::Direct(index, forward) => leg((index, forward)),
            ConversionPath::ViaUsd(first, second) => Ok(leg(first)?.times(leg(second)?)),
        }
    }

    fn conversion_instruments(&self, from: Currency, to: Currency, out: &mut Vec<InstrumentId>) {
        match self.conversion[currency_index(from)][currency_index(to)] {
            Some(ConversionPath::Direct(index, _)) => out.push(InstrumentId(index)),
            Some(ConversionPath::ViaUsd((a, _), (b, _))) => {
                out.push(InstrumentId(a));
                out.push(InstrumentId(b));
            }
            _ => {}
        }
    }

    /// Margin required for `qty` of an instrument in an account's currency (rounded up).
    fn margin_for(
        &self,
        account: &Account,
        instrument: InstrumentId,
        qty: Qty,
    ) -> Result<i128, Reject> {
        let spec = &self.market(instrument)?.spec;
        let group = self
            .groups
            .get(&account.group)
            .ok_or(Reject::UnknownGroup)?;
        let rate_bp = i128::from(
            spec.margin_rate_bp
                .max(money::div_ceil(10_000, i128::from(group.leverage)) as i64),
        );
        let base = self.rate(spec.base, account.currency)?;
        let notional_num =
            i128::from(qty) * base.num * money::pow10(account.currency.minor_digits());
        Ok(money::div_ceil(notional_num * rate_bp, base.den * 10_000))
    }

    /// P&L of `qty` moved from `entry` to `exit` on a `side` position, in account minor units.
    fn pnl(
        &self,
        account_currency: Currency,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
        entry: Price,
        exit: Price,
    ) -> Result<i128, Reject> {
        let spec = &self.market(instrument)?.spec;
        let rate = self.rate(spec.quote, account_currency)?;
        Ok(money::pnl_minor(
            side,
            qty,
            (entry, exit),
            spec.ticks_per_unit(),
            rate,
            account_currency,
        ))
    }

    /// The instruments whose quotes convert `instrument`'s P&L (its quote currency) into
    /// `currency`: none when they are the same currency (or nothing converts them), one for a
    /// listed pair, two through USD.
    pub fn pnl_conversion_instruments(
        &self,
        instrument: InstrumentId,
        currency: Currency,
    ) -> Vec<InstrumentId> {
        let mut out = Vec::new();
        if let Ok(market) = self.market(instrument) {
            self.conversion_instruments(market.spec.quote, currency, &mut out);
        }
        out
    }

    /// The realised P&L closing `qty` of `position` at `exit` would book, by the engine's own
    /// rules (the conversion path, mids, rounding once), but with the P&L converted at the
    /// (bid, ask) `quote_of` gives for each conversion instrument instead of its current
    /// quote. With the current quotes it is what the close books. `None`: no such position,
    /// no such quantity of it, an exit price off the instrument's scale, or no (valid) quote
    /// for a conversion instrument.
    pub fn close_pnl_at(
        &self,
        position: PositionId,
        qty: Qty,
        exit: Price,
        quote_of: impl Fn(InstrumentId) -> Option<(Price, Price)>,
    ) -> Option<MoneyMinor> {
        let position = self.positions.get(&position)?;
        if qty <= 0 || qty > position.qty {
            return None;
        }
        let currency = self.account(position.account)?.currency;
        let spec = &self.market(position.instrument).ok()?.spec;
        Self::check_price(spec, exit).ok()?;
        // A quote no market could have (not positive, crossed) is no rate, like a missing one.
        let rate = self
            .rate_at(spec.quote, currency, |id, _| {
                quote_of(id).filter(|&(bid, ask)| bid > 0 && ask >= bid)
            })
            .ok()?;
        let pnl = money::pnl_minor(
            position.side,
            qty,
            (position.open_price, exit),
            spec.ticks_per_unit(),
            rate,
            currency,
        );
        Some(money::to_money(pnl))
    }

    /// Exact valuation of an account at the current quotes.
    fn value(&self, account: &Account) -> Option<Valuation> {
        let mut valuation = Valuation {
            equity: i128::from(account.balance_minor),
            ..Valuation::default()
        };
        let mut dependencies: Vec<InstrumentId> = Vec::new();
        for position_id in &account.positions {
            let position = self.positions.get(position_id)?;
            let market = self.markets.get(usize::from(position.instrument.0))?;
            let quote = market.quote.as_ref()?;
            let exit = match position.side {
                Side::Buy => quote.bid,
                Side::Sell => quote.ask,
            };
            let pnl = self
                .pnl(
                    account.currency,
                    position.instrument,
                    position.side,
                    position.qty,
                    position.open_price,
                    exit,
                )
                .ok()?;
            let quote_rate = self.rate(market.spec.quote, account.currency).ok()?;
            let mid_num = i128::from(quote.bid) + i128::from(quote.ask);
            let notional = money::div_ceil(
                i128::from(position.qty)
                    * mid_num
                    * quote_rate.num
                    * money::pow10(account.currency.minor_digits()),
                2 * market.spec.ticks_per_unit() * quote_rate.den,
            );
            valuation.unrealised += pnl;
            valuation.unrealised_abs += pnl.abs();
            valuation.swaps += i128::from(position.swap_minor);
            valuation.notional += notional;
            valuation.required_margin += self
                .margin_for(account, position.instrument, position.qty)
                .ok()?;
            valuation.positions += 1;
            dependencies.push(position.instrument);
            self.conversion_instruments(market.spec.quote, account.currency, &mut dependencies);
            self.conversion_instruments(market.spec.base, account.currency, &mut dependencies);
        }
        valuation.equity += valuation.unrealised + valuation.swaps;
        dependencies.sort_unstable();
        dependencies.dedup();
        for instrument in dependencies {
            let quote = self
                .markets
                .get(usize::from(instrument.0))?
                .quote
                .as_ref()?;
            let half_spread = money::div_ceil(
                i128::from(quote.ask - quote.bid) * crate::risk::PPB,
                i128::from(quote.bid) + i128::from(quote.ask),
            );
            valuation.half_spread_ppb = valuation.half_spread_ppb.max(half_spread);
            valuation
                .dependencies
                .push((instrument, quote.bid, quote.ask));
        }
        Some(valuation)
    }

    fn check_qty(spec: &InstrumentSpec, qty: Qty) -> Result<(), Reject> {
        if qty < spec.qty_min || qty > spec.qty_max {
            return Err(Reject::QtyOutOfRange);
        }
        if qty % spec.qty_step != 0 {
            return Err(Reject::QtyNotOnStep);
        }
        Ok(())
    }

    fn check_price(spec: &InstrumentSpec, price: Price) -> Result<(), Reject> {
        if price <= 0 {
            return Err(Reject::InvalidPrice);
        }
        if price < spec.price_min_ticks || price > spec.price_max_ticks {
            return Err(Reject::PriceOffScale);
        }
        Ok(())
    }

    fn check_kind(spec: &InstrumentSpec, kind: &OrderKind) -> Result<(), Reject> {
        match *kind {
            OrderKind::Market { slippage } => {
                if let Some(s) = slippage {
                    Self::check_price(spec, s.expected_price)?;
                    if s.max_ticks < 0 || s.max_ticks > spec.price_max_ticks {
                        return Err(Reject::InvalidPrice);
                    }
                }
                Ok(())
            }
            OrderKind::Limit { price } | OrderKind::Stop { price } => {
                Self::check_price(spec, price)
            }
            OrderKind::StopLimit { stop, limit } => {
                Self::check_price(spec, stop)?;
                Self::check_price(spec, limit)
            }
            OrderKind::TrailingStop { distance_ticks } => {
                if distance_ticks <= 0 || distance_ticks >= spec.price_max_ticks {
                    Err(Reject::InvalidDistance)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn check_time_in_force(
        &self,
        tif: TimeInForce,
        is_single: bool,
        kind: &OrderKind,
    ) -> Result<(), Reject> {
        match tif {
            TimeInForce::GoodTillDate(t) if t <= self.now_ns => Err(Reject::ExpiryInPast),
            TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill if !is_single => {
                Err(Reject::InvalidTimeInForce)
            }
            _ => {
                let _ = kind;
                Ok(())
            }
        }
    }

    /// Validates one order of a request. `parent_fill` is true for IFD/IFO children, whose
    /// closing target is the position their parent will open.
    fn check_spec(
        &self,
        account: &Account,
        spec: &OrderSpec,
        is_single: bool,
        is_child: bool,
    ) -> Result<(), Reject> {
        let market = self.market(spec.instrument)?;
        Self::check_qty(&market.spec, spec.qty)?;
        Self::check_kind(&market.spec, &spec.kind)?;
        self.check_time_in_force(spec.time_in_force, is_single, &spec.kind)?;
        if is_child && matches!(spec.kind, OrderKind::Market { .. }) {
            return Err(Reject::InvalidPrice);
        }
        if let Some(position_id) = spec.close_position {
            if is_child {
                return Err(Reject::CloseTargetMismatch);
            }
            let position = self
                .positions
                .get(&position_id)
                .ok_or(Reject::UnknownPosition)?;
            if position.account != account.id {
                return Err(Reject::UnknownPosition);
            }
            if position.instrument != spec.instrument || position.side == spec.side {
                return Err(Reject::CloseTargetMismatch);
            }
        }
        Ok(())
    }

    /// Starts, all at once, the cache misses an order command is about to take one after
    /// another. In a book of a million orders the account's record, its list of orders and
    /// the price level the order waits at are cold, and each is found only after the work
    /// before it: serial misses. Read here first (the values are dropped; `black_box` keeps
    /// the reads), the misses overlap, and the work itself finds the lines in cache.
    /// Reads only; a command that turns out to be refused has lost a few loads.
    fn warm(&self, command: &CommandKind) {
        // What each command goes on to touch: an order placed or cancelled changes its
        // account's list of orders; a placement (market orders included) and an amend that
        // grows an order check margin, valuing the account's positions.
        let (account, spec, order_list, margin) = match command {
            CommandKind::PlaceOrder {
                account, request, ..
            } => (
                account,
                Some(request.first_spec()),
                request.lone_market().is_none(),
                true,
            ),
            CommandKind::CancelOrder { account, .. } => (account, None, true, false),
            CommandKind::AmendOrder { account, .. } => (account, None, false, true),
            _ => return,
        };
        if let Some(account) = self.account_index(*account).ok().map(|i| &self.accounts[i]) {
            if order_list {
                std::hint::black_box((account.orders.first(), account.orders.last()));
            }
            if let Some(position) = account.positions.first().filter(|_| margin) {
                std::hint::black_box(self.positions.get(&position).map(|p| p.open_price));
            }
        }
        let Some(spec) = spec else { return };
        match rest_of_kind(spec.side, &spec.kind, false) {
            Some(rest) => {
                if let Some(market) = self.markets.get(usize::from(spec.instrument.0)) {
                    std::hint::black_box(market.book.peek(spec.side, rest));
                }
                std::hint::black_box(self.orders.contains_key(&OrderId(self.next_order)));
            }
            // A market order opens a position under the next id.
            None => {
                let next = PositionId(self.next_position);
                std::hint::black_box(self.positions.contains_key(&next));
            }
        }
    }

    /// True when a fill of this spec would open (not only close) exposure.
    fn opens(&self, account: &Account, spec: &OrderSpec) -> bool {
        spec.close_position.is_none()
            && (account.mode == PositionMode::Hedging
                || self.netting_open_qty(account, spec.instrument, spec.side, spec.qty) > 0)
    }

    /// In netting mode, how much of a fill would be left to open after closing opposite positions.
    fn netting_open_qty(
        &self,
        account: &Account,
        instrument: InstrumentId,
        side: Side,
        qty: Qty,
    ) -> Qty {
        let opposite: Qty = account
            .positions
            .iter()
            .filter_map(|p| self.positions.get(p))
            .filter(|p| p.instrument == instrument && p.side != side)
            .map(|p| p.qty)
            .sum();
        (qty - opposite).max(0)
    }

    fn free_margin(&self, account: &Account) -> Result<i128, Reject> {
        let valuation = self.value(account).ok_or(Reject::NoQuote)?;
        Ok(valuation.equity - valuation.required_margin)
    }

    fn check_margin(
        &self,
        account: &Account,
        instrument: InstrumentId,
        qty: Qty,
    ) -> Result<(), Reject> {
        let needed = self.margin_for(account, instrument, qty)?;
        if self.free_margin(account)? < needed {
            return Err(Reject::InsufficientMargin);
        }
        Ok(())
    }

    // ----- commands -------------------------------------------------------------------------

    fn quote(
        &mut self,
        instrument: InstrumentId,
        bid: Price,
        ask: Price,
        source_time_ns: TimeNs,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let market = self.market(instrument)?;
        if bid <= 0 || ask <= 0 {
            return Err(Reject::NonPositivePrice);
        }
        if bid > ask {
            return Err(Reject::CrossedQuote);
        }
        if bid < market.spec.price_min_ticks || ask > market.spec.price_max_ticks {
            return Err(Reject::PriceOffScale);
        }
        if ask - bid > market.spec.spread_max_ticks {
            return Err(Reject::SpreadTooWide);
        }
        if market
            .quote
            .as_ref()
            .is_some_and(|q| source_time_ns < q.source_time_ns)
        {
            return Err(Reject::StaleQuote);
        }
        let now = self.now_ns;
        let index = usize::from(instrument.0);
        self.markets[index].quote = Some(Quote {
            bid,
            ask,
            source_time_ns,
            engine_time_ns: now,
        });
        if !self.halted(instrument) {
            self.run_triggers(instrument, events);
            self.run_risk(instrument, events);
        }
        Ok(())
    }

    fn set_group(&mut self, spec: &GroupSpec, events: &mut Vec<Event>) -> Result<(), Reject> {
        validate_group(spec)?;
        if !self.groups.contains_key(&spec.id) && self.groups.len() >= limits::GROUPS_MAX {
            return Err(Reject::TooManyGroups);
        }
        self.groups.insert(spec.id, spec.clone());
        events.push(Event::GroupSet { group: spec.id });
        // New thresholds change every member's bands and may call or cut at once.
        let members: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|a| a.group == spec.id && !a.positions.is_empty())
            .map(|a| a.id)
            .collect();
        for account in members {
            self.review_account(account, events);
        }
        Ok(())
    }

    fn open_account(
        &mut self,
        group: GroupId,
        currency: Currency,
        mode: PositionMode,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        if !self.groups.contains_key(&group) {
            return Err(Reject::UnknownGroup);
        }
        if self.accounts.len() >= limits::ACCOUNTS_MAX {
            return Err(Reject::TooManyAccounts);
        }
        let id = AccountId(self.accounts.len() as u64 + 1);
        self.accounts.push(Account {
            id,
            group,
            currency,
            mode,
            balance_minor: 0,
            deposited_minor: 0,
            withdrawn_minor: 0,
            realised_pnl_minor: 0,
            swaps_booked_minor: 0,
            adjustments_minor: 0,
            positions: IdList::default(),
            orders: IdList::default(),
            margin_call: false,
            loss_cuts: 0,
            bands: Vec::new(),
        });
        events.push(Event::AccountOpened { account: id });
        Ok(())
    }

    fn check_amount(amount: MoneyMinor) -> Result<(), Reject> {
        if amount <= 0 {
            Err(Reject::NonPositiveAmount)
        } else if amount > limits::AMOUNT_MAX_MINOR {
            Err(Reject::AmountTooLarge)
        } else {
            Ok(())
        }
    }

    fn deposit(
        &mut self,
        id: AccountId,
        amount: MoneyMinor,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        Self::check_amount(amount)?;
        let index = self.account_index(id)?;
        let account = &self.accounts[index];
        let balance = account
            .balance_minor
            .checked_add(amount)
            .ok_or(Reject::Overflow)?;
        let deposited = account
            .deposited_minor
            .checked_add(amount)
            .ok_or(Reject::Overflow)?;
        let account = &mut self.accounts[index];
        account.balance_minor = balance;
        account.deposited_minor = deposited;
        events.push(Event::Deposited {
            account: id,
            amount_minor: amount,
            balance_minor: balance,
        });
        self.review_account(id, events);
        Ok(())
    }

    fn withdraw(
        &mut self,
        id: AccountId,
        amount: MoneyMinor,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        Self::check_amount(amount)?;
        let index = self.account_index(id)?;
        let account = &self.accounts[index];
        let free = if account.positions.is_empty() {
            i128::from(account.balance_minor)
        } else {
            self.free_margin(account)?
        };
        if i128::from(amount) > free {
            return Err(Reject::InsufficientFreeMargin);
        }
        let account = &mut self.accounts[index];
        account.balance_minor -= amount;
        account.withdrawn_minor += amount;
        let balance = account.balance_minor;
        events.push(Event::Withdrawn {
            account: id,
            amount_minor: amount,
            balance_minor: balance,
        });
        self.review_account(id, events);
        Ok(())
    }

    fn place(
        &mut self,
        id: AccountId,
        client_order_id: Option<&str>,
        request: &OrderRequest,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let index = self.account_index(id)?;
        if let Some(client) = client_order_id {
            let valid = !client.is_empty()
                && client.len() <= limits::CLIENT_ORDER_ID_LEN_MAX
                && client.bytes().all(|b| b.is_ascii_graphic());
            if !valid {
                return Err(Reject::ClientOrderIdInvalid);
            }
            if let Some(first) = self.client_orders.get(&id).and_then(|m| m.get(client)) {
                events.push(Event::DuplicateClientOrderId {
                    account: id,
                    first: first.clone(),
                });
                return Ok(());
            }
        }
        let outcome = self.check_request(&self.accounts[index], request);
        if let Some(client) = client_order_id {
            let recorded = match outcome {
                Ok(()) => ClientOrderOutcome::Accepted(OrderId(self.next_order)),
                Err(reason) => ClientOrderOutcome::Rejected(reason),
            };
            self.client_orders
                .entry(id)
                .or_default()
                .insert(client.to_owned(), recorded);
        }
        outcome?;
        self.accept(id, client_order_id, request, events);
        Ok(())
    }

    /// Every check a placement must pass; nothing changes here.
    fn check_request(&self, account: &Account, request: &OrderRequest) -> Result<(), Reject> {
        let (first, rest): (&OrderSpec, Vec<&OrderSpec>) = match request {
            OrderRequest::Single(spec) => (spec, vec![]),
            OrderRequest::Oco(a, b) => (a, vec![b]),
            OrderRequest::Ifd { first, then } => (first, vec![then]),
            OrderRequest::Ifo {
                first,
                then_a,
                then_b,
            } => (first, vec![then_a, then_b]),
        };
        let is_single = matches!(request, OrderRequest::Single(_));
        let is_oco = matches!(request, OrderRequest::Oco(..));
        self.check_spec(account, first, is_single, false)?;
        for spec in &rest {
            self.check_spec(account, spec, false, !is_oco)?;
            if spec.instrument != first.instrument {
                return Err(Reject::CloseTargetMismatch);
            }
        }
        if is_oco && matches!(first.kind, OrderKind::Market { .. }) {
            return Err(Reject::InvalidPrice);
        }
        if self.halted(first.instrument) || self.halted_all {
            return Err(Reject::Halted);
        }
        let (bid, ask) = self.live_quote(first.instrument)?;
        let new_orders = 1 + rest.len();
        if account.orders.len() + new_orders > limits::ORDERS_PER_ACCOUNT_MAX {
            return Err(Reject::TooManyOrders);
        }
        for spec in std::iter::once(first).chain(rest.iter().copied()) {
            let market = &self.market(spec.instrument)?.spec;
            self.rate(market.quote, account.currency)?;
            self.rate(market.base, account.currency)?;
        }
        if let OrderKind::Market { slippage } = first.kind {
            if let Some(slippage) = slippage {
                check_slippage(first.side, bid, ask, slippage)?;
            }
            if account.positions.len() >= limits::POSITIONS_PER_ACCOUNT_MAX
                && self.opens(account, first)
            {
                return Err(Reject::TooManyPositions);
            }
        }
        for spec in std::iter::once(first).chain(if is_oco { rest.clone() } else { vec![] }) {
            if self.opens(account, spec) {
                let qty = if account.mode == PositionMode::Netting {
                    self.netting_open_qty(account, spec.instrument, spec.side, spec.qty)
                } else {
                    spec.qty
                };
                self.check_margin(account, spec.instrument, qty)?;
            }
        }
        Ok(())
    }

    fn new_order(
        &mut self,
        account: AccountId,
        client_order_id: Option<&str>,
        spec: &OrderSpec,
        active: bool,
    ) -> OrderId {
        let order = self.make_order(account, client_order_id, spec, active);
        let id = order.id;
        self.register(order);
        id
    }

    /// An order under the next id, filed nowhere yet.
    fn make_order(
        &mut self,
        account: AccountId,
        client_order_id: Option<&str>,
        spec: &OrderSpec,
        active: bool,
    ) -> Order {
        let id = OrderId(self.next_order);
        self.next_order += 1;
        Order {
            id,
            account,
            client_order_id: client_order_id.map(str::to_owned),
            instrument: spec.instrument,
            side: spec.side,
            qty: spec.qty,
            kind: spec.kind,
            time_in_force: spec.time_in_force,
            close_position: spec.close_position,
            placed_ns: self.now_ns,
            active,
            stop_reached: false,
            oco_peer: None,
            parent: None,
            children: Vec::new(),
            protects: None,
        }
    }

    /// Adds an order to every index (and to its book when active).
    fn register(&mut self, order: Order) {
        let id = order.id;
        match order.time_in_force {
            TimeInForce::GoodTillDate(t) => {
                self.expiries.insert((t, id));
            }
            TimeInForce::Day => {
                self.day_orders.insert(id);
            }
            TimeInForce::Week => {
                self.week_orders.insert(id);
            }
            _ => {}
        }
        if let Some(position) = order
            .close_position
            .and_then(|p| self.positions.get_mut(&p))
        {
            position.closing_orders.insert(id);
        }
        self.account_mut(order.account).orders.insert(id);
        // Filed in its book from the record in hand: reading it back out of the table right
        // after writing it would wait for the write's cache miss.
        let book_entry = order
            .active
            .then(|| rest_of(&order).map(|rest| (order.side, order.instrument, rest)))
            .flatten();
        self.orders.insert(id, order);
        if let Some((side, instrument, rest)) = book_entry {
            self.file_in_book(id, side, instrument, rest);
        }
    }

    /// Puts an active order into its instrument's trigger book.
    fn rest(&mut self, id: OrderId) {
        let Some(order) = self.orders.get(&id) else {
            return;
        };
        let Some(rest) = rest_of(order) else { return };
        let (side, instrument) = (order.side, order.instrument);
        self.file_in_book(id, side, instrument, rest);
    }

    fn file_in_book(&mut self, id: OrderId, side: Side, instrument: InstrumentId, rest: Rest) {
        let market = &mut self.markets[usize::from(instrument.0)];
        let (bid, ask) = market.quote.as_ref().map_or((0, 0), |q| (q.bid, q.ask));
        market.book.insert(id, side, rest, bid, ask);
    }

    fn unrest(&mut self, id: OrderId) {
        let Some(order) = self.orders.get(&id) else {
            return;
        };
        if !order.active {
            return;
        }
        let Some(rest) = rest_of(order) else { return };
        let (side, instrument) = (order.side, order.instrument);
        self.markets[usize::from(instrument.0)]
            .book
            .remove(id, side, rest);
    }

    fn accept(
        &mut self,
        account: AccountId,
        client_order_id: Option<&str>,
        request: &OrderRequest,
        events: &mut Vec<Event>,
    ) {
        let first_spec = request.first_spec();
        let instrument = first_spec.instrument;
        if let Some(spec) = request.lone_market() {
            // A lone market order ends within this command, filled or refused, so it is not
            // filed in the order table and the account only to be taken out again: in a table
            // of a million orders that insert and removal are cache misses on the hottest
            // path. It leaves the same events and the same state as a filed one.
            let order = self.make_order(account, client_order_id, spec, true);
            events.push(Event::OrderAccepted {
                order: order.id,
                account,
                active: true,
            });
            self.fill_unfiled(order, events);
            self.run_triggers(instrument, events);
            return;
        }
        let first = self.new_order(account, client_order_id, first_spec, true);
        events.push(Event::OrderAccepted {
            order: first,
            account,
            active: true,
        });
        let mut children = Vec::new();
        match request {
            OrderRequest::Single(_) => {}
            OrderRequest::Oco(_, b) => {
                let second = self.new_order(account, None, b, true);
                events.push(Event::OrderAccepted {
                    order: second,
                    account,
                    active: true,
                });
                self.link_oco(first, second);
            }
            OrderRequest::Ifd { then, .. } => {
                children.push(self.new_order(account, None, then, false));
            }
            OrderRequest::Ifo { then_a, then_b, .. } => {
                let a = self.new_order(account, None, then_a, false);
                let b = self.new_order(account, None, then_b, false);
                self.link_oco(a, b);
                children.extend([a, b]);
            }
        }
        for &child in &children {
            events.push(Event::OrderAccepted {
                order: child,
                account,
                active: false,
            });
            if let Some(order) = self.orders.get_mut(&child) {
                order.parent = Some(first);
            }
        }
        if let Some(order) = self.orders.get_mut(&first) {
            order.children = children;
        }
        if let OrderKind::Market { .. } = first_spec.kind {
            self.fill_checked(first, true, events);
        }
        self.run_triggers(instrument, events);
        if matches!(
            first_spec.time_in_force,
            TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill
        ) && self.orders.contains_key(&first)
        {
            self.unrest(first);
            self.drop_order(first, Some(CancelReason::NotImmediatelyFillable), events);
        }
        // No review here: only fills move money, and `fill` reviews the account itself.
        let _ = account;
    }

    fn link_oco(&mut self, a: OrderId, b: OrderId) {
        if let Some(order) = self.orders.get_mut(&a) {
            order.oco_peer = Some(b);
        }
        if let Some(order) = self.orders.get_mut(&b) {
            order.oco_peer = Some(a);
        }
    }

    fn owned_order(&self, account: AccountId, id: OrderId) -> Result<&Order, Reject> {
        self.account_index(account)?;
        match self.orders.get(&id) {
            Some(order) if order.account == account => Ok(order),
            _ => Err(Reject::UnknownOrder),
        }
    }

    fn amend(
        &mut self,
        account: AccountId,
        id: OrderId,
        amendment: &Amendment,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let order = self.owned_order(account, id)?;
        if self.halted(order.instrument) {
            return Err(Reject::Halted);
        }
        let spec = &self.market(order.instrument)?.spec;
        let mut amended = order.clone();
        if let Some(qty) = amendment.qty {
            Self::check_qty(spec, qty)?;
            amended.qty = qty;
        }
        amended.kind = match (
            order.kind,
            amendment.price,
            amendment.limit,
            amendment.distance_ticks,
        ) {
            (kind, None, None, None) => kind,
            (OrderKind::Limit { .. }, Some(price), None, None) => OrderKind::Limit { price },
            (OrderKind::Stop { .. }, Some(price), None, None) => OrderKind::Stop { price },
            (OrderKind::StopLimit { stop, limit }, price, new_limit, None) => {
                OrderKind::StopLimit {
                    stop: price.unwrap_or(stop),
                    limit: new_limit.unwrap_or(limit),
                }
            }
            (OrderKind::TrailingStop { .. }, None, None, Some(distance_ticks)) => {
                OrderKind::TrailingStop { distance_ticks }
            }
            _ => return Err(Reject::NotAmendable),
        };
        Self::check_kind(spec, &amended.kind)?;
        if let Some(tif) = amendment.time_in_force {
            if matches!(
                tif,
                TimeInForce::ImmediateOrCancel | TimeInForce::FillOrKill
            ) {
                return Err(Reject::InvalidTimeInForce);
            }
            self.check_time_in_force(tif, false, &amended.kind)?;
            amended.time_in_force = tif;
        }
        if amended.qty > order.qty && order.close_position.is_none() && !order.is_child() {
            let account_ref = &self.accounts[self.account_index(account)?];
            let extra = amended.qty - order.qty;
            self.check_margin(account_ref, order.instrument, extra)?;
        }
        // Validated: swap the order in, keeping a trailing stop's anchor.
        let instrument = order.instrument;
        // A book entry is the order's id at its trigger level (side and instrument never
        // change here); fills go by id, so an order that waits at the same level keeps its
        // place without being taken out of the book and put back.
        let same_level = rest_of(order) == rest_of(&amended);
        let retrail = matches!(
            (order.kind, amended.kind),
            (
                OrderKind::TrailingStop { .. },
                OrderKind::TrailingStop { .. }
            )
        ) && order.active;
        if retrail {
            if let OrderKind::TrailingStop { distance_ticks } = amended.kind {
                self.markets[usize::from(instrument.0)].book.retrail(
                    id,
                    amended.side,
                    distance_ticks,
                );
            }
        }
        if retrail || same_level {
            self.unindex_expiry(id);
            self.orders.insert(id, amended.clone());
            self.index_expiry(&amended);
        } else {
            self.unrest(id);
            self.unindex_expiry(id);
            self.orders.insert(id, amended.clone());
            self.index_expiry(&amended);
            if amended.active {
                self.rest(id);
            }
        }
        events.push(Event::OrderAmended { order: id });
        self.run_triggers(instrument, events);
        Ok(())
    }

    fn index_expiry(&mut self, order: &Order) {
        match order.time_in_force {
            TimeInForce::GoodTillDate(t) => {
                self.expiries.insert((t, order.id));
            }
            TimeInForce::Day => {
                self.day_orders.insert(order.id);
            }
            TimeInForce::Week => {
                self.week_orders.insert(order.id);
            }
            _ => {}
        }
    }

    fn unindex_expiry(&mut self, id: OrderId) {
        let Some(order) = self.orders.get(&id) else {
            return;
        };
        match order.time_in_force {
            TimeInForce::GoodTillDate(t) => {
                self.expiries.remove(&(t, id));
            }
            TimeInForce::Day => {
                self.day_orders.remove(&id);
            }
            TimeInForce::Week => {
                self.week_orders.remove(&id);
            }
            _ => {}
        }
    }

    fn cancel(
        &mut self,
        account: AccountId,
        id: OrderId,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.owned_order(account, id)?;
        self.unrest(id);
        self.drop_order(id, Some(CancelReason::ByCustomer), events);
        Ok(())
    }

    /// Removes an order (already out of its book) and everything tied to it: its OCO peer and
    /// its inactive children. `reason: None` means it expired.
    fn drop_order(&mut self, id: OrderId, reason: Option<CancelReason>, events: &mut Vec<Event>) {
        // A worklist, allocated only when the order drags others with it.
        let mut pending: Vec<(OrderId, Option<CancelReason>)> = Vec::new();
        let mut next = Some((id, reason));
        while let Some((id, reason)) = next.take().or_else(|| pending.pop()) {
            self.unindex_expiry(id);
            let Some(order) = self.orders.remove(&id) else {
                continue;
            };
            self.account_mut(order.account).orders.remove(&id);
            let end = match reason {
                Some(reason) => OrderEnd::Cancelled(reason),
                None => OrderEnd::Expired,
            };
            self.remember_finished(&order, end);
            if let Some(position) = order
                .close_position
                .and_then(|p| self.positions.get_mut(&p))
            {
                position.closing_orders.remove(&id);
                if position.take_profit == Some(id) {
                    position.take_profit = None;
                }
                if position.stop_loss == Some(id) {
                    position.stop_loss = None;
                }
            }
            events.push(match reason {
                Some(reason) => Event::OrderCancelled { order: id, reason },
                None => Event::OrderExpired { order: id },
            });
            let cascade = if reason.is_none() {
                None
            } else {
                Some(CancelReason::ParentCancelled)
            };
            if let Some(peer) = order.oco_peer {
                if self.orders.contains_key(&peer) {
                    self.unrest(peer);
                    let peer_reason = reason;
                    pending.push((peer, peer_reason));
                }
            }
            for child in order.children {
                // Only a child still waiting for this very order: a child that ended alone
                // (cancelled, expired) stays listed here, and a backfill restore may have put
                // its id back elsewhere.
                if self
                    .orders
                    .get(&child)
                    .is_some_and(|c| !c.active && c.parent == Some(id))
                {
                    pending.push((child, cascade.or(None)));
                }
            }
        }
    }

    /// Keeps how a client-identified order ended (anonymous orders leave no trace).
    fn remember_finished(&mut self, order: &Order, end: OrderEnd) {
        if order.client_order_id.is_some() {
            self.finished.insert(
                order.id,
                FinishedOrder {
                    order: order.clone(),
                    end,
                    ended_ns: self.now_ns,
                },
            );
        }
    }

    fn expire_due(&mut self, events: &mut Vec<Event>) {
        while let Some(&(t, id)) = self.expiries.first() {
            if t > self.now_ns {
                break;
            }
            self.expiries.pop_first();
            self.unrest(id);
            self.drop_order(id, None, events);
        }
    }

    fn close_at_market(
        &mut self,
        account: AccountId,
        id: PositionId,
        qty: Option<Qty>,
        slippage: Option<Slippage>,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.account_index(account)?;
        let position = self
            .positions
            .get(&id)
            .filter(|p| p.account == account)
            .ok_or(Reject::UnknownPosition)?;
        let qty = qty.unwrap_or(position.qty);
        if qty <= 0 || qty > position.qty {
            return Err(Reject::QtyOutOfRange);
        }
        let spec = &self.market(position.instrument)?.spec;
        if qty != position.qty && qty % spec.qty_step != 0 {
            return Err(Reject::QtyNotOnStep);
        }
        if self.halted(position.instrument) {
            return Err(Reject::Halted);
        }
        let (bid, ask) = self.live_quote(position.instrument)?;
        let closing_side = position.side.opposite();
        if let Some(slippage) = slippage {
            check_slippage(closing_side, bid, ask, slippage)?;
        }
        let price = match closing_side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        self.close_qty(id, qty, price, events);
        self.review_account(account, events);
        Ok(())
    }

    fn set_protection(
        &mut self,
        account: AccountId,
        id: PositionId,
        take_profit: Option<Price>,
        stop_loss: Option<Price>,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.account_index(account)?;
        let position = self
            .positions
            .get(&id)
            .filter(|p| p.account == account)
            .ok_or(Reject::UnknownPosition)?;
        let spec = &self.market(position.instrument)?.spec;
        for price in [take_profit, stop_loss].into_iter().flatten() {
            Self::check_price(spec, price)?;
        }
        if self.halted(position.instrument) {
            return Err(Reject::Halted);
        }
        let account_ref = &self.accounts[self.account_index(account)?];
        let new_orders = usize::from(take_profit.is_some()) + usize::from(stop_loss.is_some());
        let old_orders =
            usize::from(position.take_profit.is_some()) + usize::from(position.stop_loss.is_some());
        if account_ref.orders.len() + new_orders > limits::ORDERS_PER_ACCOUNT_MAX + old_orders {
            return Err(Reject::TooManyOrders);
        }
        let (instrument, side, qty) = (position.instrument, position.side.opposite(), position.qty);
        for old in [position.take_profit, position.stop_loss]
            .into_iter()
            .flatten()
        {
            self.unrest(old);
            if let Some(order) = self.orders.get_mut(&old) {
                order.oco_peer = None;
            }
            self.drop_order(old, Some(CancelReason::ByCustomer), events);
        }
        let make = |kind| OrderSpec {
            instrument,
            side,
            qty,
            kind,
            time_in_force: TimeInForce::GoodTillCancelled,
            close_position: Some(id),
        };
        let tp = take_profit
            .map(|price| self.new_order(account, None, &make(OrderKind::Limit { price }), true));
        let sl = stop_loss
            .map(|price| self.new_order(account, None, &make(OrderKind::Stop { price }), true));
        for order in [tp, sl].into_iter().flatten() {
            if let Some(o) = self.orders.get_mut(&order) {
                o.protects = Some(id);
            }
            events.push(Event::OrderAccepted {
                order,
                account,
                active: true,
            });
        }
        if let (Some(tp), Some(sl)) = (tp, sl) {
            self.link_oco(tp, sl);
        }
        if let Some(position) = self.positions.get_mut(&id) {
            position.take_profit = tp;
            position.stop_loss = sl;
        }
        self.run_triggers(instrument, events);
        Ok(())
    }

    fn rollover(
        &mut self,
        swaps: &[SwapRate],
        weekly: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        for swap in swaps {
            self.market(swap.instrument)?;
            if !(0..=7).contains(&swap.days)
                || swap.long_ticks_per_unit.unsigned_abs() > 1_000_000
                || swap.short_ticks_per_unit.unsigned_abs() > 1_000_000
            {
                return Err(Reject::InvalidPrice);
            }
        }
        // Swaps need a conversion for every charged position; check them all first.
        let rates: BTreeMap<InstrumentId, &SwapRate> =
            swaps.iter().map(|s| (s.instrument, s)).collect();
        let mut charges: Vec<(PositionId, AccountId, i128)> = Vec::new();
        for position in self.positions.sorted_values() {
            let Some(swap) = rates.get(&position.instrument) else {
                continue;
            };
            let account = &self.accounts[self.account_index(position.account)?];
            let spec = &self.market(position.instrument)?.spec;
            let rate = self.rate(spec.quote, account.currency)?;
            let ticks = match position.side {
                Side::Buy => swap.long_ticks_per_unit,
                Side::Sell => swap.short_ticks_per_unit,
            };
            let num = i128::from(position.qty)
                * i128::from(ticks)
                * i128::from(swap.days)
                * rate.num
                * money::pow10(account.currency.minor_digits());
            let amount = money::div_round(num, spec.ticks_per_unit() * rate.den);
            charges.push((position.id, position.account, amount));
        }
        let mut touched = BTreeSet::new();
        for (position_id, account, amount) in &charges {
            if let Some(position) = self.positions.get_mut(position_id) {
                position.swap_minor = money::to_money(i128::from(position.swap_minor) + amount);
            }
            events.push(Event::SwapAccrued {
                position: *position_id,
                amount_minor: money::to_money(*amount),
            });
            touched.insert(*account);
        }
        let mut expiring: Vec<OrderId> = self.day_orders.iter().copied().collect();
        if weekly {
            expiring.extend(self.week_orders.iter().copied());
        }
        expiring.sort_unstable();
        let mut expired = 0u32;
        for id in expiring {
            if self.orders.contains_key(&id) {
                self.unrest(id);
                self.drop_order(id, None, events);
                expired += 1;
            }
        }
        events.push(Event::RolledOver {
            weekly,
            orders_expired: expired,
            positions_charged: charges.len() as u32,
        });
        for account in touched {
            self.review_account(account, events);
        }
        Ok(())
    }

    fn halt(
        &mut self,
        instrument: Option<InstrumentId>,
        halt: bool,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        match instrument {
            Some(id) => {
                self.market(id)?;
                self.markets[usize::from(id.0)].halted = halt;
            }
            None => {
                self.halted_all = halt;
                if !halt {
                    for market in &mut self.markets {
                        market.halted = false;
                    }
                }
            }
        }
        events.push(if halt {
            Event::Halted { instrument }
        } else {
            Event::Resumed { instrument }
        });
        if !halt {
            // Orders whose condition is already met fill at the quote current at reopening.
            let reopened: Vec<InstrumentId> = match instrument {
                Some(id) => vec![id],
                None => (0..self.markets.len())
                    .map(|i| InstrumentId(i as u16))
                    .collect(),
            };
            for id in reopened {
                if !self.halted(id) && self.markets[usize::from(id.0)].quote.is_some() {
                    self.run_triggers(id, events);
                    self.run_risk(id, events);
                }
            }
        }
        Ok(())
    }

    // ----- triggering and filling -----------------------------------------------------------

    /// Fires every order the current quote of `instrument` reaches, oldest order first, until
    /// nothing more fires (an IFD child activated by a fill may fire at once).
    fn run_triggers(&mut self, instrument: InstrumentId, events: &mut Vec<Event>) {
        let index = usize::from(instrument.0);
        let mut fired = Vec::new();
        loop {
            let Some((bid, ask)) = self.markets[index].quote.as_ref().map(|q| (q.bid, q.ask))
            else {
                return;
            };
            fired.clear();
            self.markets[index].book.take_fired(bid, ask, &mut fired);
            if fired.is_empty() {
                return;
            }
            fired.sort_unstable();
            for &id in &fired {
                self.on_fired(id, bid, ask, events);
            }
        }
    }

    /// An order's trigger was reached (it is already out of its book).
    fn on_fired(&mut self, id: OrderId, bid: Price, ask: Price, events: &mut Vec<Event>) {
        let Some(order) = self.orders.get_mut(&id) else {
            return;
        };
        let market_price = match order.side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        match order.kind {
            OrderKind::StopLimit { limit, .. } if !order.stop_reached => {
                order.stop_reached = true;
                events.push(Event::OrderTriggered {
                    order: id,
                    price: market_price,
                });
                let marketable = match order.side {
                    Side::Buy => ask <= limit,
                    Side::Sell => bid >= limit,
                };
                if marketable {
                    self.fill(id, events);
                } else {
                    self.rest(id);
                }
            }
            OrderKind::Stop { .. } | OrderKind::TrailingStop { .. } => {
                events.push(Event::OrderTriggered {
                    order: id,
                    price: market_price,
                });
                self.fill(id, events);
            }
            _ => self.fill(id, events),
        }
    }

    /// Fills a live order (already out of its book) at the current quote.
    fn fill(&mut self, id: OrderId, events: &mut Vec<Event>) {
        self.fill_checked(id, false, events);
    }

    /// Fills an order; `margin_checked` when the placement checked margin at this very quote.
    fn fill_checked(&mut self, id: OrderId, margin_checked: bool, events: &mut Vec<Event>) {
        let Some(order) = self.orders.get(&id) else {
            return;
        };
        let Some((bid, ask)) = self.markets[usize::from(order.instrument.0)]
            .quote
            .as_ref()
            .map(|q| (q.bid, q.ask))
        else {
            return;
        };
        let price = match order.side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        self.fill_at(id, price, margin_checked, events);
    }

    /// Fills a lone market order that was never filed (see `accept`) at the current quote,
    /// its margin checked by the placement at this very quote.
    fn fill_unfiled(&mut self, order: Order, events: &mut Vec<Event>) {
        debug_assert!(matches!(order.kind, OrderKind::Market { .. }) && order.children.is_empty());
        let quote = self.markets[usize::from(order.instrument.0)]
            .quote
            .as_ref()
            .map(|q| (q.bid, q.ask));
        let Some((bid, ask)) = quote else {
            // As a filed order without a quote to fill at: it stays filed.
            self.register(order);
            return;
        };
        let price = match order.side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        self.execute(order, Filed::No, price, true, events);
    }

    /// Fills an order at `price` (the current quote, or a backfill's approved price).
    fn fill_at(
        &mut self,
        id: OrderId,
        price: Price,
        margin_checked: bool,
        events: &mut Vec<Event>,
    ) {
        let Some(order) = self.orders.get(&id).cloned() else {
            return;
        };
        self.execute(order, Filed::Yes, price, margin_checked, events);
    }

    /// Drops an order the fill refuses, filing an unfiled one first so that it ends the way a
    /// filed one does (same events, same record of how a client order id ended).
    fn refuse_fill(
        &mut self,
        order: &Order,
        filed: Filed,
        reason: CancelReason,
        events: &mut Vec<Event>,
    ) {
        if filed == Filed::No {
            self.register(order.clone());
        }
        self.drop_order(order.id, Some(reason), events);
    }

    /// The fill itself: what it closes and opens, the books, the money, the OCO peer, the
    /// children and the account's review.
    fn execute(
        &mut self,
        order: Order,
        filed: Filed,
        price: Price,
        margin_checked: bool,
        events: &mut Vec<Event>,
    ) {
        let id = order.id;
        let account_index = usize::try_from(order.account.0)
            .unwrap_or(0)
            .wrapping_sub(1);
        let account = &self.accounts[account_index];
        // What the fill closes, and how much it opens.
        let mut closes: Vec<(PositionId, Qty)> = Vec::new();
        let mut open_qty = 0;
        match order.close_position {
            Some(target) => match self.positions.get(&target) {
                Some(p) if p.side != order.side && p.instrument == order.instrument => {
                    closes.push((target, order.qty.min(p.qty)));
                }
                _ => {
                    self.refuse_fill(&order, filed, CancelReason::TargetInvalid, events);
                    return;
                }
            },
            None if account.mode == PositionMode::Netting => {
                let mut left = order.qty;
                for p in account
                    .positions
                    .iter()
                    .filter_map(|p| self.positions.get(p))
                {
                    if left == 0 {
                        break;
                    }
                    if p.instrument == order.instrument && p.side != order.side {
                        let take = left.min(p.qty);
                        closes.push((p.id, take));
                        left -= take;
                    }
                }
                open_qty = left;
            }
            None => open_qty = order.qty,
        }
        if open_qty > 0 {
            let too_many = account.positions.len() >= limits::POSITIONS_PER_ACCOUNT_MAX;
            let margin_ok = margin_checked
                || self
                    .check_margin(account, order.instrument, open_qty)
                    .is_ok();
            if too_many || !margin_ok {
                self.refuse_fill(&order, filed, CancelReason::InsufficientMargin, events);
                return;
            }
        }
        // Committed: the order leaves the books and indexes, then the money moves.
        if filed == Filed::Yes {
            self.unindex_expiry(id);
            self.orders.remove(&id);
            self.account_mut(order.account).orders.remove(&id);
            if let Some(position) = order
                .close_position
                .and_then(|p| self.positions.get_mut(&p))
            {
                position.closing_orders.remove(&id);
            }
        }
        let filled_qty = closes.iter().map(|c| c.1).sum::<Qty>() + open_qty;
        self.remember_finished(
            &order,
            OrderEnd::Filled {
                qty: filled_qty,
                price,
            },
        );
        events.push(Event::OrderFilled {
            order: id,
            account: order.account,
            instrument: order.instrument,
            side: order.side,
            qty: filled_qty,
            price,
        });
        // The peer goes first: it is cancelled because this leg filled, whatever the fill closes.
        if let Some(peer) = order.oco_peer {
            if self.orders.contains_key(&peer) {
                if let Some(p) = self.orders.get_mut(&peer) {
                    p.oco_peer = None;
                }
                self.unrest(peer);
                self.drop_order(peer, Some(CancelReason::OcoPeerFilled), events);
            }
        }
        let mut opened = None;
        for (position, qty) in closes {
            self.close_qty(position, qty, price, events);
        }
        if open_qty > 0 {
            opened = Some(self.open_position(&order, open_qty, price, events));
        }
        for &child in &order.children {
            self.activate(child, &order, opened, events);
        }
        self.review_account(order.account, events);
    }

    fn activate(
        &mut self,
        child: OrderId,
        parent: &Order,
        opened: Option<PositionId>,
        events: &mut Vec<Event>,
    ) {
        // Only a child still waiting for this parent (see `drop_order`).
        let Some(order) = self
            .orders
            .get_mut(&child)
            .filter(|c| !c.active && c.parent == Some(parent.id))
        else {
            return;
        };
        order.active = true;
        order.parent = None;
        if order.side != parent.side {
            if let Some(position) = opened {
                order.close_position = Some(position);
                if let Some(p) = self.positions.get_mut(&position) {
                    p.closing_orders.insert(child);
                }
            }
        }
        events.push(Event::OrderActivated { order: child });
        self.rest(child);
    }

    fn open_position(
        &mut self,
        order: &Order,
        qty: Qty,
        price: Price,
        events: &mut Vec<Event>,
    ) -> PositionId {
        let id = PositionId(self.next_position);
        self.next_position += 1;
        self.positions.insert(
            id,
            Position {
                id,
                account: order.account,
                instrument: order.instrument,
                side: order.side,
                qty,
                open_price: price,
                opened_ns: self.now_ns,
                swap_minor: 0,
                take_profit: None,
                stop_loss: None,
                closing_orders: IdList::default(),
            },
        );
        self.account_mut(order.account).positions.insert(id);
        events.push(Event::PositionOpened {
            position: id,
            account: order.account,
            instrument: order.instrument,
            side: order.side,
            qty,
            price,
        });
        id
    }

    /// Closes `qty` of a position at `price`, booking P&L and the pro-rata swap.
    fn close_qty(&mut self, id: PositionId, qty: Qty, price: Price, events: &mut Vec<Event>) {
        let Some(position) = self.positions.get(&id).cloned() else {
            return;
        };
        debug_assert!(qty > 0 && qty <= position.qty);
        let currency = self.accounts[usize::try_from(position.account.0)
            .unwrap_or(0)
            .wrapping_sub(1)]
        .currency;
        let pnl = self
            .pnl(
                currency,
                position.instrument,
                position.side,
                qty,
                position.open_price,
                price,
            )
            .map(money::to_money)
            .unwrap_or(0);
        let swap = if qty == position.qty {
            position.swap_minor
        } else {
            money::to_money(money::div_round(
                i128::from(position.swap_minor) * i128::from(qty),
                i128::from(position.qty),
            ))
        };
        let remaining = position.qty - qty;
        let account = self.account_mut(position.account);
        account.balance_minor = account
            .balance_minor
            .saturating_add(pnl)
            .saturating_add(swap);
        account.realised_pnl_minor = account.realised_pnl_minor.saturating_add(pnl);
        account.swaps_booked_minor = account.swaps_booked_minor.saturating_add(swap);
        let balance = account.balance_minor;
        if remaining == 0 {
            account.positions.remove(&id);
        }
        events.push(Event::PositionClosed {
            position: id,
            account: position.account,
            qty,
            price,
            realised_pnl_minor: pnl,
            swap_minor: swap,
            qty_remaining: remaining,
            balance_minor: balance,
        });
        if remaining == 0 {
            self.positions.remove(&id);
            for order in position.closing_orders {
                self.unrest(order);
                self.drop_order(order, Some(CancelReason::PositionClosed), events);
            }
        } else if let Some(p) = self.positions.get_mut(&id) {
            p.qty = remaining;
            p.swap_minor -= swap;
        }
    }

    // ----- margin ---------------------------------------------------------------------------

    /// Re-evaluates the accounts whose bands this instrument's quote left.
    fn run_risk(&mut self, instrument: InstrumentId, events: &mut Vec<Event>) {
        let Some((bid, ask)) = self.markets[usize::from(instrument.0)]
            .quote
            .as_ref()
            .map(|q| (q.bid, q.ask))
        else {
            return;
        };
        for account in self.bands.crossed(instrument, bid, ask) {
            self.review_account(account, events);
        }
    }

    /// Evaluates one account exactly: raises or clears its margin call, cuts its losses when
    /// below the loss-cut threshold, and files its new bands.
    fn review_account(&mut self, id: AccountId, events: &mut Vec<Event>) {
        let Ok(index) = self.account_index(id) else {
            return;
        };
        let old_bands = std::mem::take(&mut self.accounts[index].bands);
        self.bands.remove(id, &old_bands);
        if self.accounts[index].positions.is_empty() {
            self.set_margin_call(index, false, 0, events);
            return;
        }
        let Some(group) = self.groups.get(&self.accounts[index].group).cloned() else {
            return;
        };
        let Some(mut valuation) = self.value(&self.accounts[index]) else {
            return;
        };
        if valuation.below(group.loss_cut_bp) {
            let halted = self.accounts[index]
                .positions
                .iter()
                .filter_map(|p| self.positions.get(p))
                .any(|p| self.halted(p.instrument));
            if !halted {
                self.loss_cut(index, &group, &valuation, events);
                if self.accounts[index].positions.is_empty() {
                    self.set_margin_call(index, false, 0, events);
                    return;
                }
                match self.value(&self.accounts[index]) {
                    Some(v) => valuation = v,
                    None => return,
                }
            }
        }
        let ratio = valuation.ratio_bp().unwrap_or(i64::MAX);
        let in_call = valuation.below(group.margin_call_bp);
        self.set_margin_call(index, in_call, ratio, events);
        // In margin call (or waiting on a halted instrument) every quote re-evaluates.
        let bands = if in_call {
            valuation.bands_always_crossed()
        } else {
            valuation.bands(group.margin_call_bp)
        };
        self.bands.add(id, &bands);
        self.accounts[index].bands = bands;
    }

    fn set_margin_call(
        &mut self,
        index: usize,
        in_call: bool,
        ratio_bp: i64,
        events: &mut Vec<Event>,
    ) {
        let account = &mut self.accounts[index];
        if account.margin_call == in_call {
            return;
        }
        account.margin_call = in_call;
        events.push(if in_call {
            Event::MarginCall {
                account: account.id,
                ratio_bp,
            }
        } else {
            Event::MarginCallCleared {
                account: account.id,
                ratio_bp,
            }
        });
    }

    fn loss_cut(
        &mut self,
        index: usize,
        group: &GroupSpec,
        valuation: &Valuation,
        events: &mut Vec<Event>,
    ) {
        let id = self.accounts[index].id;
        let currency = self.accounts[index].currency;
        // Order of closing: all at once (oldest first), or the largest loss first.
        let mut victims: Vec<(i128, PositionId)> = Vec::new();
        for position in self.accounts[index]
            .positions
            .iter()
            .filter_map(|p| self.positions.get(p))
        {
            let Some(quote) = self.markets[usize::from(position.instrument.0)]
                .quote
                .as_ref()
            else {
                continue;
            };
            let exit = match position.side {
                Side::Buy => quote.bid,
                Side::Sell => quote.ask,
            };
            let pnl = self
                .pnl(
                    currency,
                    position.instrument,
                    position.side,
                    position.qty,
                    position.open_price,
                    exit,
                )
                .unwrap_or(0);
            victims.push((pnl, position.id));
        }
        if group.loss_cut_mode == LossCutMode::LargestLossFirst {
            victims.sort_unstable();
        }
        let mut closed = 0u32;
        for (_, position_id) in victims {
            let Some(position) = self.positions.get(&position_id) else {
                continue;
            };
            let Some(quote) = self.markets[usize::from(position.instrument.0)]
                .quote
                .as_ref()
            else {
                continue;
            };
            let price = match position.side {
                Side::Buy => quote.bid,
                Side::Sell => quote.ask,
            };
            let qty = position.qty;
            self.close_qty(position_id, qty, price, events);
            closed += 1;
            if group.loss_cut_mode == LossCutMode::LargestLossFirst {
                let still_below = self
                    .value(&self.accounts[index])
                    .is_some_and(|v| v.below(group.loss_cut_bp));
                if !still_below {
                    break;
                }
            }
        }
        self.accounts[index].loss_cuts += 1;
        events.push(Event::LossCut {
            account: id,
            ratio_bp: valuation.ratio_bp().unwrap_or(0),
            positions_closed: closed,
        });
        let balance = self.accounts[index].balance_minor;
        if balance < 0 {
            events.push(Event::NegativeBalance {
                account: id,
                balance_minor: balance,
            });
        }
    }
}

/// Whether an order being filled sits in the order table and its account's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filed {
    Yes,
    No,
}

fn rest_of(order: &Order) -> Option<Rest> {
    rest_of_kind(order.side, &order.kind, order.stop_reached)
}

/// Where an order of this side and kind waits in its trigger book (`None`: it never rests).
fn rest_of_kind(side: Side, kind: &OrderKind, stop_reached: bool) -> Option<Rest> {
    let buy = side == Side::Buy;
    Some(match *kind {
        OrderKind::Market { .. } => return None,
        OrderKind::Limit { price } => {
            if buy {
                Rest::AtOrBelow(price)
            } else {
                Rest::AtOrAbove(price)
            }
        }
        OrderKind::Stop { price } => {
            if buy {
                Rest::AtOrAbove(price)
            } else {
                Rest::AtOrBelow(price)
            }
        }
        OrderKind::StopLimit { stop, limit } => {
            if stop_reached {
                if buy {
                    Rest::AtOrBelow(limit)
                } else {
                    Rest::AtOrAbove(limit)
                }
            } else if buy {
                Rest::AtOrAbove(stop)
            } else {
                Rest::AtOrBelow(stop)
            }
        }
        OrderKind::TrailingStop { distance_ticks } => Rest::Trailing {
            distance: distance_ticks,
        },
    })
}

fn check_slippage(side: Side, bid: Price, ask: Price, slippage: Slippage) -> Result<(), Reject> {
    let worse_by = match side {
        Side::Buy => ask - slippage.expected_price,
        Side::Sell => slippage.expected_price - bid,
    };
    if worse_by > slippage.max_ticks {
        Err(Reject::SlippageExceeded)
    } else {
        Ok(())
    }
}

fn validate_group(spec: &GroupSpec) -> Result<(), Reject> {
    let ok = (1..=limits::LEVERAGE_MAX).contains(&spec.leverage)
        && spec.loss_cut_bp > 0
        && spec.loss_cut_bp <= spec.margin_call_bp
        && spec.margin_call_bp <= 100_000;
    if ok {
        Ok(())
    } else {
        Err(Reject::InvalidGroup)
    }
}
