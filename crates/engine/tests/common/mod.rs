//! A small harness: an engine with the default configuration and a sequencer-like clock.
#![allow(dead_code, clippy::unwrap_used)]

use fxdesk_engine::*;

pub const USDJPY: &str = "USD/JPY";
pub const EURUSD: &str = "EUR/USD";
pub const EURJPY: &str = "EUR/JPY";

pub struct Harness {
    pub engine: Engine,
    pub time_ns: i64,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new(EngineConfig::default())
    }
}

impl Harness {
    pub fn new(config: EngineConfig) -> Harness {
        Harness {
            engine: Engine::new(config).expect("valid config"),
            time_ns: 1_700_000_000_000_000_000,
        }
    }

    pub fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        self.time_ns += 1_000_000;
        self.engine.apply(&Command {
            time_ns: self.time_ns,
            kind,
        })
    }

    pub fn id(&self, symbol: &str) -> InstrumentId {
        self.engine
            .instrument_by_symbol(symbol)
            .expect("known symbol")
    }

    pub fn quote(&mut self, symbol: &str, bid: Price, ask: Price) -> Vec<Event> {
        let instrument = self.id(symbol);
        let source_time_ns = self.time_ns + 1_000_000;
        self.run(CommandKind::Quote {
            instrument,
            bid,
            ask,
            source_time_ns,
        })
    }

    /// Opens a funded account in group 1.
    pub fn account(
        &mut self,
        currency: Currency,
        mode: PositionMode,
        deposit_minor: i64,
    ) -> AccountId {
        let events = self.run(CommandKind::OpenAccount {
            group: GroupId(1),
            currency,
            mode,
        });
        let Some(Event::AccountOpened { account }) = events.first().cloned() else {
            panic!("account not opened: {events:?}")
        };
        if deposit_minor > 0 {
            let events = self.run(CommandKind::Deposit {
                account,
                amount_minor: deposit_minor,
            });
            assert!(rejection(&events).is_none(), "{events:?}");
        }
        account
    }

    pub fn spec(&self, symbol: &str, side: Side, qty: Qty, kind: OrderKind) -> OrderSpec {
        OrderSpec {
            instrument: self.id(symbol),
            side,
            qty,
            kind,
            time_in_force: TimeInForce::GoodTillCancelled,
            close_position: None,
        }
    }

    pub fn place(&mut self, account: AccountId, request: OrderRequest) -> Vec<Event> {
        self.run(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request,
        })
    }

    pub fn place_one(
        &mut self,
        account: AccountId,
        spec: OrderSpec,
    ) -> (Option<OrderId>, Vec<Event>) {
        let events = self.place(account, OrderRequest::Single(spec));
        (accepted(&events).first().copied(), events)
    }

    pub fn market(&mut self, account: AccountId, symbol: &str, side: Side, qty: Qty) -> Vec<Event> {
        let spec = self.spec(symbol, side, qty, OrderKind::Market { slippage: None });
        self.place(account, OrderRequest::Single(spec))
    }

    pub fn balance(&self, account: AccountId) -> i64 {
        self.engine.account(account).expect("account").balance_minor
    }

    pub fn positions(&self, account: AccountId) -> Vec<Position> {
        self.engine
            .positions_of(account)
            .into_iter()
            .cloned()
            .collect()
    }
}

pub fn rejection(events: &[Event]) -> Option<Reject> {
    events.iter().find_map(|e| match e {
        Event::Rejected(reason) => Some(*reason),
        _ => None,
    })
}

pub fn accepted(events: &[Event]) -> Vec<OrderId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderAccepted { order, .. } => Some(*order),
            _ => None,
        })
        .collect()
}

/// (order, qty, price) of every fill.
pub fn fills(events: &[Event]) -> Vec<(OrderId, Qty, Price)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderFilled {
                order, qty, price, ..
            } => Some((*order, *qty, *price)),
            _ => None,
        })
        .collect()
}

pub fn cancelled(events: &[Event]) -> Vec<(OrderId, CancelReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderCancelled { order, reason } => Some((*order, *reason)),
            _ => None,
        })
        .collect()
}

pub fn expired(events: &[Event]) -> Vec<OrderId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderExpired { order } => Some(*order),
            _ => None,
        })
        .collect()
}
