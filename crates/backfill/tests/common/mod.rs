//! A trading day on a real journal in a temporary data directory, tick files written as our
//! CSV, and the plan/approve/apply steps as the CLI runs them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use fxdesk_backfill::{Plan, PlanRequest, Policy};
use fxdesk_engine::*;
use fxdesk_journal::{Durable, JournalOptions};

pub const USDJPY: &str = "USD/JPY";
pub const EURUSD: &str = "EUR/USD";
/// Tuesday 2026-07-14 10:00:00 UTC: a weekday, far from the rollover.
pub const T0: i64 = 1_784_023_200_000_000_000;
pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;

pub fn fresh() -> Engine {
    Engine::new(EngineConfig::default()).unwrap()
}

pub struct Desk {
    pub dir: tempfile::TempDir,
    pub durable: Option<Durable<Engine>>,
    pub time_ns: i64,
}

impl Desk {
    /// Where the server's price-jump guard keeps its flags in this data directory.
    pub fn guard_flags(&self) -> PathBuf {
        fxdesk_backfill::guard_flags::path_in(self.dir.path())
    }

    pub fn new(start_ns: i64) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let (durable, _) = Durable::open(
            &dir.path().join("journal"),
            JournalOptions::default(),
            fresh,
        )
        .unwrap();
        Desk {
            dir,
            durable: Some(durable),
            time_ns: start_ns,
        }
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    pub fn engine(&self) -> &Engine {
        self.durable.as_ref().unwrap().state()
    }

    /// Runs a command one millisecond after the last.
    pub fn run(&mut self, kind: CommandKind) -> Vec<Event> {
        self.time_ns += 1_000_000;
        self.run_at(self.time_ns, kind)
    }

    pub fn run_at(&mut self, time_ns: i64, kind: CommandKind) -> Vec<Event> {
        self.time_ns = self.time_ns.max(time_ns);
        let durable = match self.durable.as_mut() {
            Some(d) => d,
            None => {
                let (d, _) =
                    Durable::open(&self.journal_dir(), JournalOptions::default(), fresh).unwrap();
                self.durable = Some(d);
                self.durable.as_mut().unwrap()
            }
        };
        durable
            .execute(&Command {
                time_ns: self.time_ns,
                kind,
            })
            .unwrap()
            .1
    }

    pub fn id(&self, symbol: &str) -> InstrumentId {
        self.engine().instrument_by_symbol(symbol).unwrap()
    }

    pub fn quote_at(&mut self, time_ns: i64, symbol: &str, bid: Price, ask: Price) -> Vec<Event> {
        let instrument = self.id(symbol);
        self.run_at(
            time_ns,
            CommandKind::Quote {
                instrument,
                bid,
                ask,
                source_time_ns: time_ns,
            },
        )
    }

    pub fn quote(&mut self, symbol: &str, bid: Price, ask: Price) -> Vec<Event> {
        let t = self.time_ns + 1_000_000;
        self.quote_at(t, symbol, bid, ask)
    }

    pub fn account(&mut self, currency: Currency, deposit_minor: i64) -> AccountId {
        let events = self.run(CommandKind::OpenAccount {
            group: GroupId(1),
            currency,
            mode: PositionMode::Hedging,
        });
        let Some(Event::AccountOpened { account }) = events.first().cloned() else {
            panic!("{events:?}")
        };
        self.run(CommandKind::Deposit {
            account,
            amount_minor: deposit_minor,
        });
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

    pub fn place(&mut self, account: AccountId, request: OrderRequest) -> Vec<OrderId> {
        let events = self.run(CommandKind::PlaceOrder {
            account,
            client_order_id: None,
            request,
        });
        let ids: Vec<OrderId> = events
            .iter()
            .filter_map(|e| match e {
                Event::OrderAccepted { order, .. } => Some(*order),
                _ => None,
            })
            .collect();
        assert!(!ids.is_empty(), "not accepted: {events:?}");
        ids
    }

    pub fn place_one(&mut self, account: AccountId, spec: OrderSpec) -> OrderId {
        self.place(account, OrderRequest::Single(spec))[0]
    }

    /// Stops "the server": the journal is closed (its lock released).
    pub fn stop(&mut self) {
        if let Some(d) = self.durable.take() {
            d.close();
        }
    }
}

/// Writes ticks as our CSV (times as integer nanoseconds).
pub fn write_ticks(
    dir: &Path,
    name: &str,
    engine: &Engine,
    ticks: &[(i64, &str, Price, Price)],
) -> PathBuf {
    let mut text = String::from("time,instrument,bid,ask\n");
    for (t, symbol, bid, ask) in ticks {
        let id = engine.instrument_by_symbol(symbol).unwrap();
        let decimals = engine.instrument(id).unwrap().price_decimals;
        text.push_str(&format!(
            "{t},{symbol},{},{}\n",
            fxdesk_market::format_ticks(*bid, decimals),
            fxdesk_market::format_ticks(*ask, decimals)
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn plan(desk: &Desk, from_ns: i64, to_ns: i64, ticks: &[PathBuf], policy: Policy) -> Plan {
    fxdesk_backfill::plan_from_journal(
        &PlanRequest {
            journal_dir: desk.journal_dir(),
            from_ns,
            to_ns,
            tick_sources: ticks.to_vec(),
            policy,
            guard_flags: Some(desk.guard_flags()),
        },
        fresh,
    )
    .unwrap()
}

/// Corrects every outage, whatever its length; holds nothing back as uncertain.
pub fn eager_policy() -> Policy {
    Policy {
        minimum_outage_minutes: 0,
        uncertain_window_ms: 0,
        ..Policy::default()
    }
}

pub fn approved(mut plan: Plan) -> Plan {
    fxdesk_backfill::approve(&mut plan, "alice", "2026-07-14T12:00:00Z".to_owned()).unwrap();
    fxdesk_backfill::approve(&mut plan, "bob", "2026-07-14T12:01:00Z".to_owned()).unwrap();
    plan
}

/// (order, trigger time, proposed price, qty) of the plan's fill corrections.
pub fn planned_fills(plan: &Plan) -> Vec<(u64, i64, i64, i64)> {
    plan.corrections
        .iter()
        .filter(|c| c.kind == fxdesk_backfill::CorrectionKind::Fill)
        .map(|c| {
            (
                c.order.unwrap_or(0),
                c.trigger_time_ns,
                c.proposed_price,
                c.qty,
            )
        })
        .collect()
}

/// The plan of the hour after T0 (the window the scenarios use), approved by two people.
pub fn approved_hour_plan(desk: &Desk, ticks: &Path, policy: Policy) -> Plan {
    approved(plan(
        desk,
        T0,
        T0 + 60 * MINUTE,
        &[ticks.to_path_buf()],
        policy,
    ))
}

/// The journal's state at its end.
pub fn journal_state(desk: &Desk) -> Engine {
    fxdesk_journal::state_at(
        &desk.journal_dir(),
        fxdesk_journal::At::Time(i64::MAX),
        fresh,
    )
    .unwrap()
    .state
}
