//! The sequencer: one OS thread owns the engine (the LMAX pattern).
//!
//! Handlers send a [`Request`] with a oneshot reply over a bounded queue ([`QUEUE_CAPACITY`];
//! full: 503, nothing queued). The thread drains up to [`BATCH_MAX`] requests, and for each:
//! checks it against the current state (unknown or foreign ids are answered 404 here and never
//! journaled), stamps the time (`max(now, last + 1)`: strictly increasing), submits the command
//! to the journal and applies it. The batch's answers, queries included (so no answer ever shows
//! state that a crash could take back), and its quotes and account events for the stream are
//! then parked; the journal's writer thread releases them once the group commit holding the
//! batch's last command is durable (fdatasync). Meanwhile the sequencer already applies the next
//! batch: journaling and the business logic run in parallel, as in the LMAX pattern.
//!
//! A journal failure (submit or fsync) stops the sequencer for good: the engine may then hold
//! commands the disk does not, so it must not answer anything more. Every request of the failed
//! batch gets 503 `journal_failed` (its outcome is unknown), later requests get 503
//! `sequencer_stopped`, and `/readyz` turns 503. Restarting the process recovers from the journal.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use fxdesk_engine::{
    AccountId, Command, CommandKind, Currency, Engine, Event, GroupId, InstrumentId, OrderEnd,
    OrderId, OrderRequest, PositionId, PositionMode, Price, TimeNs,
};
use fxdesk_journal::Journal;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::auth::Caller;
use crate::reopening::guard::Verdict;
use crate::reopening::Reopening;
use crate::trading::dto::{
    parse_money, AccountView, AmendBody, CloseBody, EngineStateView, Instruments, OrderView,
    PlacedView, PositionView, ProtectionBody, QuoteView,
};
use crate::trading::error::ApiError;
use crate::trading::metrics::Metrics;

/// Requests that may wait for the sequencer; more gets 503 `overloaded`.
pub const QUEUE_CAPACITY: usize = 8192;
/// Most requests applied per group commit.
pub const BATCH_MAX: usize = 2048;
/// Stream items buffered per subscriber before a slow one is dropped.
pub const STREAM_BUFFER: usize = 8192;

/// Which accounts a request may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Admin: every account.
    Any,
    /// A customer: this one only. Any other account is answered as if it did not exist.
    Account(AccountId),
    /// Feed: no account at all.
    None,
}

impl From<Caller> for Scope {
    fn from(caller: Caller) -> Scope {
        match caller {
            Caller::Admin => Scope::Any,
            Caller::Customer(account) => Scope::Account(account),
            Caller::Feed => Scope::None,
        }
    }
}

impl Scope {
    fn allows(self, account: AccountId) -> bool {
        match self {
            Scope::Any => true,
            Scope::Account(own) => own == account,
            Scope::None => false,
        }
    }
}

#[derive(Debug)]
pub enum Request {
    OpenAccount {
        group: GroupId,
        currency: Currency,
        mode: PositionMode,
    },
    Deposit {
        account: AccountId,
        amount: String,
    },
    Withdraw {
        account: AccountId,
        amount: String,
    },
    SetProtection {
        scope: Scope,
        position: PositionId,
        body: ProtectionBody,
    },
    PlaceOrder {
        account: AccountId,
        scope: Scope,
        client_order_id: Option<String>,
        request: OrderRequest,
    },
    CancelOrder {
        scope: Scope,
        order: OrderId,
    },
    AmendOrder {
        scope: Scope,
        order: OrderId,
        body: AmendBody,
    },
    ClosePosition {
        scope: Scope,
        position: PositionId,
        body: CloseBody,
    },
    Quote {
        instrument: InstrumentId,
        bid: Price,
        ask: Price,
        source_time_ns: Option<TimeNs>,
    },
    Rollover {
        weekly: bool,
    },
    Account {
        scope: Scope,
        account: AccountId,
    },
    Positions {
        scope: Scope,
        account: AccountId,
    },
    Orders {
        scope: Scope,
        account: AccountId,
    },
    Order {
        scope: Scope,
        order: OrderId,
    },
    Quotes,
    EngineState,
    /// Halt (or resume) triggering and new orders for all instruments (see `crate::reopening`).
    Halt,
    Resume,
    /// Whether the engine is halted (a query).
    Trading,
}

/// What a request produced (serialised as the answer body).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Answer {
    AccountOpened { account_id: u64 },
    Account(AccountView),
    Positions { positions: Vec<PositionView> },
    Orders { orders: Vec<OrderView> },
    Order(OrderView),
    Position(PositionView),
    Placed(PlacedView),
    Cancelled { order_id: u64, status: &'static str },
    Closed(ClosedView),
    QuoteTaken { instrument: String, accepted: bool },
    Quotes { quotes: Vec<QuoteView> },
    EngineState(EngineStateView),
    RolledOver { weekly: bool },
    QuoteHeld(HeldView),
    Trading { halted: bool },
}

/// The answer to a quote the price-jump guard held: `accepted` false, `held` true.
#[derive(Debug, Clone, Serialize)]
pub struct HeldView {
    pub instrument: String,
    pub accepted: bool,
    pub held: bool,
    pub jump_pips: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClosedView {
    pub position_id: u64,
    pub closed_qty: i64,
    pub price: String,
    pub realised_pnl: String,
    pub qty_remaining: i64,
    pub balance: String,
}

pub type Reply = Result<Answer, ApiError>;

struct Envelope {
    request: Request,
    reply: oneshot::Sender<Reply>,
    received: Instant,
}

/// One item of the event stream, published only once durable.
#[derive(Debug, Clone)]
pub enum StreamItem {
    Quote(QuoteView),
    /// An engine event that concerns one account, as the API shows it (see [`event_view`]).
    Account {
        account: AccountId,
        event: serde_json::Value,
    },
}

/// Shared view of the sequencer's health.
#[derive(Debug, Default)]
pub struct SequencerStatus {
    running: AtomicBool,
    failure: Mutex<Option<String>>,
    applied_seq: AtomicU64,
}

impl SequencerStatus {
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn applied_seq(&self) -> u64 {
        self.applied_seq.load(Ordering::Acquire)
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "sequencer stopped: journal failure");
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
        self.running.store(false, Ordering::Release);
    }
}

/// The handlers' side of the sequencer.
#[derive(Clone)]
pub struct SequencerHandle {
    sender: mpsc::Sender<Envelope>,
    pub status: Arc<SequencerStatus>,
    pub stream: broadcast::Sender<Arc<StreamItem>>,
}

impl SequencerHandle {
    /// Sends a request and waits for its answer (which comes only after durability).
    pub async fn call(&self, request: Request) -> Reply {
        let (reply, answer) = oneshot::channel();
        let envelope = Envelope {
            request,
            reply,
            received: Instant::now(),
        };
        self.sender
            .try_send(envelope)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ApiError::unavailable(
                    "overloaded",
                    format!("more than {QUEUE_CAPACITY} requests are waiting; retry shortly"),
                ),
                mpsc::error::TrySendError::Closed(_) => stopped_error(&self.status),
            })?;
        answer.await.map_err(|_| stopped_error(&self.status))?
    }

    /// Queues a request without waiting for its answer, waiting for room in the queue instead
    /// of refusing. Requests queued by one task are applied in the order queued (the replay
    /// feed relies on this to keep ticks in time order while many are in flight).
    pub async fn enqueue(&self, request: Request) -> Result<oneshot::Receiver<Reply>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let envelope = Envelope {
            request,
            reply,
            received: Instant::now(),
        };
        self.sender
            .send(envelope)
            .await
            .map_err(|_| stopped_error(&self.status))?;
        Ok(answer)
    }
}

fn stopped_error(status: &SequencerStatus) -> ApiError {
    ApiError::unavailable(
        "sequencer_stopped",
        format!(
            "the sequencer has stopped ({}); restart the server to recover from the journal",
            status.failure().unwrap_or_else(|| "shut down".to_owned())
        ),
    )
}

/// Starts the sequencer thread over a recovered engine and its open journal.
pub fn spawn(
    engine: Engine,
    journal: Journal<Engine>,
    applied_seq: u64,
    last_time_ns: TimeNs,
    instruments: Instruments,
    metrics: Arc<Metrics>,
    reopening: Arc<Reopening>,
) -> std::io::Result<SequencerHandle> {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let (stream, _) = broadcast::channel(STREAM_BUFFER);
    let status = Arc::new(SequencerStatus::default());
    status.applied_seq.store(applied_seq, Ordering::Release);
    status.running.store(true, Ordering::Release);
    let mut sequencer = Sequencer::new(
        engine,
        journal,
        applied_seq,
        last_time_ns,
        instruments,
        metrics,
        Arc::clone(&status),
        stream.clone(),
        reopening,
    );
    std::thread::Builder::new()
        .name("fxdesk-sequencer".to_owned())
        .spawn(move || sequencer.run(receiver))?;
    Ok(SequencerHandle {
        sender,
        status,
        stream,
    })
}

struct Sequencer {
    engine: Engine,
    journal: Option<Journal<Engine>>,
    applied_seq: u64,
    last_time_ns: TimeNs,
    instruments: Instruments,
    metrics: Arc<Metrics>,
    status: Arc<SequencerStatus>,
    waiters: Arc<Waiters>,
    /// Owners of working orders and open positions, for events that name only the order or
    /// position. Bounded by the engine's own limits on orders and positions.
    order_owner: HashMap<OrderId, AccountId>,
    position_owner: HashMap<PositionId, AccountId>,
    /// Halt state and the price-jump guard (see `crate::reopening`).
    reopening: Arc<Reopening>,
}

/// What one request of a batch left to do after the group commit.
struct Done {
    reply: oneshot::Sender<Reply>,
    answer: Reply,
    received: Instant,
    journaled: bool,
}

impl Sequencer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        engine: Engine,
        journal: Journal<Engine>,
        applied_seq: u64,
        last_time_ns: TimeNs,
        instruments: Instruments,
        metrics: Arc<Metrics>,
        status: Arc<SequencerStatus>,
        stream: broadcast::Sender<Arc<StreamItem>>,
        reopening: Arc<Reopening>,
    ) -> Sequencer {
        reopening.set_halted(engine.is_halted_globally());
        let order_owner = engine.orders().map(|o| (o.id, o.account)).collect();
        let position_owner = engine.positions().map(|p| (p.id, p.account)).collect();
        Sequencer {
            engine,
            journal: Some(journal),
            applied_seq,
            last_time_ns,
            instruments,
            metrics: Arc::clone(&metrics),
            status: Arc::clone(&status),
            waiters: Arc::new(Waiters {
                state: Mutex::new(WaitState {
                    durable_seq: applied_seq,
                    failure: None,
                    parked: VecDeque::new(),
                }),
                metrics,
                status,
                stream,
            }),
            order_owner,
            position_owner,
            reopening,
        }
    }

    fn run(&mut self, mut receiver: mpsc::Receiver<Envelope>) {
        let mut batch = Vec::with_capacity(BATCH_MAX);
        while let Some(first) = receiver.blocking_recv() {
            batch.push(first);
            while batch.len() < BATCH_MAX {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            if !self.run_batch(&mut batch) {
                receiver.close();
                // Answer whatever was queued behind the failed batch.
                while let Ok(envelope) = receiver.try_recv() {
                    let _ = envelope.reply.send(Err(stopped_error(&self.status)));
                }
                break;
            }
        }
        if let Some(journal) = self.journal.take() {
            journal.close();
        }
        self.status.running.store(false, Ordering::Release);
    }

    /// Applies a batch and parks its answers until the batch is durable. False if the journal
    /// failed (now or in an earlier group commit).
    fn run_batch(&mut self, batch: &mut Vec<Envelope>) -> bool {
        if self.waiters.failure().is_some() {
            // An earlier group commit failed: nothing of this batch was applied.
            for envelope in batch.drain(..) {
                let _ = envelope.reply.send(Err(stopped_error(&self.status)));
            }
            return false;
        }
        let mut done = Vec::with_capacity(batch.len());
        let mut published = Vec::new();
        let mut failure: Option<String> = None;
        for envelope in batch.drain(..) {
            if failure.is_some() {
                done.push(Done {
                    reply: envelope.reply,
                    answer: Err(stopped_error(&self.status)),
                    received: envelope.received,
                    journaled: false,
                });
                continue;
            }
            let (answer, journaled) = match self.prepare(envelope.request) {
                Err(error) => (Err(error), false),
                Ok(Prepared::Answer(answer)) => (Ok(answer), false),
                Ok(Prepared::Command(kind, then)) => match self.execute(kind, &mut published) {
                    Ok(events) => (self.respond(then, &events), true),
                    Err(reason) => {
                        failure = Some(reason);
                        (Err(stopped_error(&self.status)), true)
                    }
                },
            };
            done.push(Done {
                reply: envelope.reply,
                answer,
                received: envelope.received,
                journaled,
            });
        }
        if let Some(reason) = failure {
            self.waiters.fail(reason);
            Waiters::fail_all(done, &self.status);
            return false;
        }
        // Queries wait too: they may show commands of earlier batches that are not durable yet.
        self.waiters.park(self.applied_seq, done, published);
        self.snapshot_if_due();
        true
    }

    fn snapshot_if_due(&mut self) {
        let Some(journal) = &self.journal else { return };
        if !journal.snapshot_due(self.applied_seq) {
            return;
        }
        // A snapshot may only hold durable commands; wait for the group commit in flight (this
        // happens once per `snapshot_every_commands`).
        while journal.durable_seq() < self.applied_seq {
            if self.waiters.failure().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        if let Err(error) =
            journal.write_snapshot(&self.engine, self.applied_seq, self.last_time_ns)
        {
            // Not fatal: recovery replays from an older snapshot.
            tracing::warn!(%error, "snapshot failed");
        }
    }

    fn stamp(&mut self) -> TimeNs {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let time_ns = now.max(self.last_time_ns.saturating_add(1));
        self.last_time_ns = time_ns;
        time_ns
    }

    /// Journals and applies one command. Err: the journal refused it (fatal).
    fn execute(
        &mut self,
        kind: CommandKind,
        published: &mut Vec<StreamItem>,
    ) -> Result<Vec<Event>, String> {
        let command = Command {
            time_ns: self.stamp(),
            kind,
        };
        let journal = self.journal.as_ref().ok_or("journal closed")?;
        let waiters = Arc::clone(&self.waiters);
        let seq = journal
            .submit_with(&command, move |durable| waiters.on_durable(durable))
            .map_err(|e| format!("append failed: {e}"))?;
        debug_assert_eq!(seq, self.applied_seq + 1);
        self.applied_seq = seq;
        let events = self.engine.apply(&command);
        self.metrics.count_command();
        if let CommandKind::Quote { instrument, .. } = &command.kind {
            let accepted = !events.iter().any(|e| matches!(e, Event::Rejected(_)));
            if accepted {
                self.metrics.quote_taken(*instrument);
                if let CommandKind::Quote { bid, ask, .. } = &command.kind {
                    self.reopening.guard().applied(*instrument, *bid, *ask);
                }
            }
            if accepted && self.waiters.stream.receiver_count() > 0 {
                if let Some(quote) = self.engine.quote_of(*instrument) {
                    published.push(StreamItem::Quote(QuoteView::new(
                        *instrument,
                        quote,
                        &self.instruments,
                    )));
                }
            }
        }
        if matches!(
            command.kind,
            CommandKind::Halt { .. } | CommandKind::Resume { .. }
        ) {
            self.reopening.set_halted(self.engine.is_halted_globally());
        }
        self.route_events(&events, published);
        Ok(events)
    }

    /// Finds the account each event concerns and keeps the owner maps current.
    fn route_events(&mut self, events: &[Event], published: &mut Vec<StreamItem>) {
        for event in events {
            let account = match event {
                Event::OrderAccepted { order, account, .. } => {
                    self.order_owner.insert(*order, *account);
                    Some(*account)
                }
                Event::PositionOpened {
                    position, account, ..
                } => {
                    self.position_owner.insert(*position, *account);
                    Some(*account)
                }
                Event::OrderFilled { order, account, .. } => {
                    self.order_owner.remove(order);
                    Some(*account)
                }
                Event::OrderCancelled { order, .. } | Event::OrderExpired { order } => {
                    self.order_owner.remove(order)
                }
                Event::OrderActivated { order }
                | Event::OrderTriggered { order, .. }
                | Event::OrderAmended { order } => self.order_owner.get(order).copied(),
                Event::PositionClosed {
                    position,
                    account,
                    qty_remaining,
                    ..
                } => {
                    if *qty_remaining == 0 {
                        self.position_owner.remove(position);
                    }
                    Some(*account)
                }
                Event::SwapAccrued { position, .. } => self.position_owner.get(position).copied(),
                Event::PositionRestored {
                    position, account, ..
                } => {
                    self.position_owner.insert(*position, *account);
                    Some(*account)
                }
                Event::OrderRestored { order, account } => {
                    self.order_owner.insert(*order, *account);
                    Some(*account)
                }
                Event::DuplicateClientOrderId { account, .. }
                | Event::AccountOpened { account }
                | Event::Deposited { account, .. }
                | Event::Withdrawn { account, .. }
                | Event::MarginCall { account, .. }
                | Event::MarginCallCleared { account, .. }
                | Event::LossCut { account, .. }
                | Event::NegativeBalance { account, .. }
                | Event::CashAdjusted { account, .. }
                | Event::PositionRepriced { account, .. }
                | Event::ExecutionRepriced { account, .. } => Some(*account),
                Event::CorrectionApplied { .. } => None,
                Event::Rejected(_)
                | Event::GroupSet { .. }
                | Event::RolledOver { .. }
                | Event::Halted { .. }
                | Event::Resumed { .. } => None,
            };
            if let Some(account) = account {
                // Views cost time on the hot path; build them only for someone to read.
                if self.waiters.stream.receiver_count() > 0 {
                    published.push(StreamItem::Account {
                        account,
                        event: event_view(&self.engine, &self.instruments, account, event),
                    });
                }
            }
        }
    }

    fn account_in_scope(&self, scope: Scope, account: AccountId) -> Result<(), ApiError> {
        if scope.allows(account) && self.engine.account(account).is_some() {
            Ok(())
        } else {
            Err(ApiError::not_found(
                "unknown_account",
                format!("no account {}", account.0),
            ))
        }
    }

    fn order_in_scope(&self, scope: Scope, order: OrderId) -> Result<AccountId, ApiError> {
        match self.engine.order(order) {
            Some(o) if scope.allows(o.account) => Ok(o.account),
            _ => Err(ApiError::not_found(
                "unknown_order",
                format!("no working order {}", order.0),
            )),
        }
    }

    /// Checks a request against the state; either answers it at once (queries, refusals) or
    /// turns it into a command.
    fn prepare(&mut self, request: Request) -> Result<Prepared, ApiError> {
        let engine = &self.engine;
        Ok(match request {
            Request::OpenAccount {
                group,
                currency,
                mode,
            } => {
                if engine.group(group).is_none() {
                    return Err(ApiError::not_found(
                        "unknown_group",
                        format!("no account group {}", group.0),
                    ));
                }
                Prepared::Command(
                    CommandKind::OpenAccount {
                        group,
                        currency,
                        mode,
                    },
                    Then::AccountOpened,
                )
            }
            Request::Deposit { account, amount } => {
                self.account_in_scope(Scope::Any, account)?;
                let currency = engine
                    .account(account)
                    .map_or(Currency::JPY, |a| a.currency);
                let amount_minor = parse_money(&amount, currency)?;
                Prepared::Command(
                    CommandKind::Deposit {
                        account,
                        amount_minor,
                    },
                    Then::AccountView(account),
                )
            }
            Request::Withdraw { account, amount } => {
                self.account_in_scope(Scope::Any, account)?;
                let currency = engine
                    .account(account)
                    .map_or(Currency::JPY, |a| a.currency);
                let amount_minor = parse_money(&amount, currency)?;
                Prepared::Command(
                    CommandKind::Withdraw {
                        account,
                        amount_minor,
                    },
                    Then::AccountView(account),
                )
            }
            Request::SetProtection {
                scope,
                position,
                body,
            } => {
                let found = engine
                    .position(position)
                    .filter(|p| scope.allows(p.account))
                    .ok_or_else(|| {
                        ApiError::not_found(
                            "unknown_position",
                            format!("no open position {}", position.0),
                        )
                    })?;
                let spec = engine
                    .instrument(found.instrument)
                    .ok_or_else(|| ApiError::internal("position without instrument"))?;
                let (take_profit, stop_loss) = body.prices(spec)?;
                Prepared::Command(
                    CommandKind::SetProtection {
                        account: found.account,
                        position,
                        take_profit,
                        stop_loss,
                    },
                    Then::Position(position),
                )
            }
            Request::PlaceOrder {
                account,
                scope,
                client_order_id,
                request,
            } => {
                self.account_in_scope(scope, account)?;
                Prepared::Command(
                    CommandKind::PlaceOrder {
                        account,
                        client_order_id: client_order_id.clone(),
                        request,
                    },
                    Then::Placed(client_order_id),
                )
            }
            Request::CancelOrder { scope, order } => {
                let account = self.order_in_scope(scope, order)?;
                Prepared::Command(
                    CommandKind::CancelOrder { account, order },
                    Then::Cancelled(order),
                )
            }
            Request::AmendOrder { scope, order, body } => {
                let account = self.order_in_scope(scope, order)?;
                let spec = engine
                    .order(order)
                    .and_then(|o| engine.instrument(o.instrument))
                    .ok_or_else(|| ApiError::internal("order without instrument"))?;
                let amendment = body.to_amendment(spec)?;
                Prepared::Command(
                    CommandKind::AmendOrder {
                        account,
                        order,
                        amendment,
                    },
                    Then::OrderView(order),
                )
            }
            Request::ClosePosition {
                scope,
                position,
                body,
            } => {
                let found = engine
                    .position(position)
                    .filter(|p| scope.allows(p.account))
                    .ok_or_else(|| {
                        ApiError::not_found(
                            "unknown_position",
                            format!("no open position {}", position.0),
                        )
                    })?;
                let spec = engine
                    .instrument(found.instrument)
                    .ok_or_else(|| ApiError::internal("position without instrument"))?;
                Prepared::Command(
                    CommandKind::ClosePosition {
                        account: found.account,
                        position,
                        qty: body.qty()?,
                        slippage: body.slippage(spec)?,
                    },
                    Then::Closed(position, found.account),
                )
            }
            Request::Quote {
                instrument,
                bid,
                ask,
                source_time_ns,
            } => {
                let time = match source_time_ns {
                    Some(t) => t,
                    None => self.last_time_ns.saturating_add(1),
                };
                let verdict = self.reopening.check_quote(instrument, bid, ask, time);
                if let Verdict::Hold { jump_pips } = verdict {
                    return Ok(Prepared::Answer(Answer::QuoteHeld(HeldView {
                        instrument: self.instruments.symbol(instrument),
                        accepted: false,
                        held: true,
                        jump_pips,
                    })));
                }
                Prepared::Command(
                    CommandKind::Quote {
                        instrument,
                        bid,
                        ask,
                        source_time_ns: time,
                    },
                    Then::QuoteTaken(instrument),
                )
            }
            Request::Rollover { weekly } => Prepared::Command(
                CommandKind::Rollover {
                    swaps: Vec::new(),
                    weekly,
                },
                Then::RolledOver(weekly),
            ),
            Request::Account { scope, account } => {
                self.account_in_scope(scope, account)?;
                Prepared::Answer(self.account_view(account)?)
            }
            Request::Positions { scope, account } => {
                self.account_in_scope(scope, account)?;
                let currency = engine
                    .account(account)
                    .map_or(Currency::JPY, |a| a.currency);
                Prepared::Answer(Answer::Positions {
                    positions: engine
                        .positions_of(account)
                        .into_iter()
                        .map(|p| PositionView::new(p, currency, &self.instruments))
                        .collect(),
                })
            }
            Request::Orders { scope, account } => {
                self.account_in_scope(scope, account)?;
                Prepared::Answer(Answer::Orders {
                    orders: engine
                        .orders_of(account)
                        .into_iter()
                        .map(|o| OrderView::new(o, &self.instruments))
                        .collect(),
                })
            }
            Request::Order { scope, order } => {
                self.order_in_scope(scope, order)?;
                let found = engine
                    .order(order)
                    .ok_or_else(|| ApiError::internal("order vanished"))?;
                Prepared::Answer(Answer::Order(OrderView::new(found, &self.instruments)))
            }
            Request::Quotes => Prepared::Answer(Answer::Quotes {
                quotes: engine
                    .instruments()
                    .filter_map(|(id, _)| {
                        engine
                            .quote_of(id)
                            .map(|q| QuoteView::new(id, q, &self.instruments))
                    })
                    .collect(),
            }),
            Request::Halt => {
                Prepared::Command(CommandKind::Halt { instrument: None }, Then::Trading)
            }
            Request::Resume => {
                Prepared::Command(CommandKind::Resume { instrument: None }, Then::Trading)
            }
            Request::Trading => Prepared::Answer(Answer::Trading {
                halted: engine.is_halted_globally(),
            }),
            Request::EngineState => Prepared::Answer(Answer::EngineState(EngineStateView {
                seq: self.applied_seq,
                state_hash: format!("{:016x}", engine.state_hash()),
                time_ns: engine.now_ns(),
                commands_applied: self.applied_seq,
            })),
        })
    }

    fn account_view(&self, account: AccountId) -> Result<Answer, ApiError> {
        let found = self
            .engine
            .account(account)
            .ok_or_else(|| ApiError::not_found("unknown_account", "account vanished"))?;
        let valuation = self.engine.valuation(account);
        Ok(Answer::Account(AccountView::new(found, valuation.as_ref())))
    }

    fn placed_view(
        &self,
        order: OrderId,
        client_order_id: Option<String>,
        events: &[Event],
    ) -> Answer {
        let mut placed = PlacedView {
            order_id: order.0,
            client_order_id,
            status: "done".to_owned(),
            order: None,
            filled_qty: None,
            fill_price: None,
            cancel_reason: None,
        };
        if let Some(working) = self.engine.order(order) {
            let view = OrderView::new(working, &self.instruments);
            placed.status = view.status.clone();
            placed.order = Some(view);
            return Answer::Placed(placed);
        }
        // Gone already: the engine remembers how a client-identified order ended; an anonymous
        // one can only have ended in this very command, so its events say how.
        let ended = match self.engine.finished_order(order) {
            Some(finished) => {
                placed.order = Some(OrderView::new(&finished.order, &self.instruments));
                Some((finished.end, finished.order.instrument))
            }
            None => events.iter().find_map(|event| match *event {
                Event::OrderFilled {
                    order: id,
                    instrument,
                    qty,
                    price,
                    ..
                } if id == order => Some((OrderEnd::Filled { qty, price }, instrument)),
                Event::OrderCancelled { order: id, reason } if id == order => {
                    Some((OrderEnd::Cancelled(reason), InstrumentId(0)))
                }
                Event::OrderExpired { order: id } if id == order => {
                    Some((OrderEnd::Expired, InstrumentId(0)))
                }
                _ => None,
            }),
        };
        match ended {
            Some((OrderEnd::Filled { qty, price }, instrument)) => {
                placed.status = "filled".to_owned();
                placed.filled_qty = Some(qty);
                placed.fill_price = Some(self.instruments.price_text(instrument, price));
            }
            Some((OrderEnd::Cancelled(reason), _)) => {
                placed.status = "cancelled".to_owned();
                placed.cancel_reason = Some(reason.code().to_owned());
            }
            Some((OrderEnd::Expired, _)) => placed.status = "expired".to_owned(),
            None => {}
        }
        if let Some(view) = placed.order.as_mut() {
            view.status = placed.status.clone();
        }
        Answer::Placed(placed)
    }

    /// Turns a command's events into its answer.
    fn respond(&self, then: Then, events: &[Event]) -> Reply {
        // The engine reports a refusal as the command's last event (after any expiries the new
        // time caused); nothing else it emits is `Rejected`.
        if let Some(reject) = events.iter().find_map(|e| match e {
            Event::Rejected(reject) => Some(*reject),
            _ => None,
        }) {
            return Err(ApiError::rejected(reject));
        }
        match then {
            Then::AccountOpened => events
                .iter()
                .find_map(|e| match e {
                    Event::AccountOpened { account } => Some(Answer::AccountOpened {
                        account_id: account.0,
                    }),
                    _ => None,
                })
                .ok_or_else(|| ApiError::internal("no AccountOpened event")),
            Then::AccountView(account) => self.account_view(account),
            Then::Placed(client_order_id) => {
                let order = events.iter().find_map(|e| match e {
                    Event::OrderAccepted { order, .. } => Some(Ok(*order)),
                    Event::DuplicateClientOrderId { first, .. } => Some(match first {
                        fxdesk_engine::ClientOrderOutcome::Accepted(order) => Ok(*order),
                        fxdesk_engine::ClientOrderOutcome::Rejected(reject) => Err(*reject),
                    }),
                    _ => None,
                });
                match order {
                    Some(Ok(order)) => Ok(self.placed_view(order, client_order_id, events)),
                    Some(Err(reject)) => Err(ApiError::rejected(reject)),
                    None => Err(ApiError::internal("no OrderAccepted event")),
                }
            }
            Then::Cancelled(order) => Ok(Answer::Cancelled {
                order_id: order.0,
                status: "cancelled",
            }),
            Then::OrderView(order) => match self.engine.order(order) {
                Some(found) => Ok(Answer::Order(OrderView::new(found, &self.instruments))),
                None => Err(ApiError::not_found(
                    "unknown_order",
                    format!("order {} is no longer working", order.0),
                )),
            },
            Then::Closed(position, account) => {
                let currency = self
                    .engine
                    .account(account)
                    .map_or(Currency::JPY, |a| a.currency);
                events
                    .iter()
                    .find_map(|e| match e {
                        Event::PositionClosed {
                            position: p,
                            qty,
                            price,
                            realised_pnl_minor,
                            qty_remaining,
                            balance_minor,
                            ..
                        } if *p == position => {
                            let instrument = self
                                .engine
                                .position(position)
                                .map(|p| p.instrument)
                                .or_else(|| {
                                    events.iter().find_map(|e| match e {
                                        Event::OrderFilled { instrument, .. } => Some(*instrument),
                                        _ => None,
                                    })
                                })
                                .unwrap_or(InstrumentId(0));
                            Some(Answer::Closed(ClosedView {
                                position_id: position.0,
                                closed_qty: *qty,
                                price: self.instruments.price_text(instrument, *price),
                                realised_pnl: crate::trading::dto::money_text(
                                    i128::from(*realised_pnl_minor),
                                    currency,
                                ),
                                qty_remaining: *qty_remaining,
                                balance: crate::trading::dto::money_text(
                                    i128::from(*balance_minor),
                                    currency,
                                ),
                            }))
                        }
                        _ => None,
                    })
                    .ok_or_else(|| ApiError::internal("no PositionClosed event"))
            }
            Then::Position(position) => {
                let found = self.engine.position(position).ok_or_else(|| {
                    ApiError::not_found("unknown_position", "the position is closed")
                })?;
                let currency = self
                    .engine
                    .account(found.account)
                    .map_or(Currency::JPY, |a| a.currency);
                Ok(Answer::Position(PositionView::new(
                    found,
                    currency,
                    &self.instruments,
                )))
            }
            Then::QuoteTaken(instrument) => Ok(Answer::QuoteTaken {
                instrument: self.instruments.symbol(instrument),
                accepted: true,
            }),
            Then::RolledOver(weekly) => Ok(Answer::RolledOver { weekly }),
            Then::Trading => Ok(Answer::Trading {
                halted: self.engine.is_halted_globally(),
            }),
        }
    }
}

/// Answers parked until their batch is durable. The journal's writer thread calls
/// [`Waiters::on_durable`] after each group commit; it answers every parked batch whose last
/// command is now durable (records become durable in seq order, so that covers the batch).
struct Waiters {
    state: Mutex<WaitState>,
    metrics: Arc<Metrics>,
    status: Arc<SequencerStatus>,
    stream: broadcast::Sender<Arc<StreamItem>>,
}

struct WaitState {
    durable_seq: u64,
    failure: Option<String>,
    /// Batches waiting for durability, in seq order.
    parked: VecDeque<Parked>,
}

struct Parked {
    /// Seq of the batch's last command (or of the last command before it, for queries).
    seq: u64,
    done: Vec<Done>,
    published: Vec<StreamItem>,
    parked_at: Instant,
}

impl Waiters {
    fn failure(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failure
            .clone()
    }

    /// Parks a batch whose last command has `seq` (answered at once if already durable).
    ///
    /// Answers are sent while holding the lock, so batches are answered and published in seq
    /// order whichever thread (sequencer or journal writer) releases them. Sending never blocks.
    fn park(&self, seq: u64, done: Vec<Done>, published: Vec<StreamItem>) {
        let parked = Parked {
            seq,
            done,
            published,
            parked_at: Instant::now(),
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failure.is_some() {
            drop(state);
            Waiters::fail_all(parked.done, &self.status);
            return;
        }
        debug_assert!(state.parked.back().is_none_or(|last| last.seq <= seq));
        if seq <= state.durable_seq && state.parked.is_empty() {
            self.release(parked);
        } else {
            state.parked.push_back(parked);
        }
    }

    /// Called by the journal's writer thread once per appended command.
    fn on_durable(&self, durable: fxdesk_journal::Result<u64>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match durable {
            Ok(seq) => {
                state.durable_seq = state.durable_seq.max(seq);
                while state
                    .parked
                    .front()
                    .is_some_and(|p| p.seq <= state.durable_seq)
                {
                    if let Some(parked) = state.parked.pop_front() {
                        self.release(parked);
                    }
                }
            }
            Err(error) => {
                if state.failure.is_none() {
                    let reason = format!("group commit failed: {error}");
                    self.status.fail(reason.clone());
                    state.failure = Some(reason);
                }
                let failed: Vec<Parked> = state.parked.drain(..).collect();
                drop(state);
                for parked in failed {
                    Waiters::fail_all(parked.done, &self.status);
                }
            }
        }
    }

    /// Records a failure found by the sequencer and fails every parked batch.
    fn fail(&self, reason: String) {
        let failed: Vec<Parked> = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.failure.is_none() {
                self.status.fail(reason.clone());
                state.failure = Some(reason);
            }
            state.parked.drain(..).collect()
        };
        for parked in failed {
            Waiters::fail_all(parked.done, &self.status);
        }
    }

    /// Answers a batch whose outcome is unknown because the journal failed.
    fn fail_all(done: Vec<Done>, status: &SequencerStatus) {
        let reason = status
            .failure()
            .unwrap_or_else(|| "journal failure".to_owned());
        for item in done {
            let _ = item.reply.send(Err(ApiError::unavailable(
                "journal_failed",
                format!("the journal failed ({reason}); the outcome of this request is unknown"),
            )));
        }
    }

    /// Answers a durable batch and publishes its stream items.
    fn release(&self, parked: Parked) {
        self.metrics.observe_fsync(parked.parked_at.elapsed());
        self.status
            .applied_seq
            .fetch_max(parked.seq, Ordering::AcqRel);
        for item in parked.done {
            if item.journaled {
                self.metrics.observe_ack(item.received.elapsed());
            }
            let _ = item.reply.send(item.answer);
        }
        for item in parked.published {
            // No subscribers is fine.
            let _ = self.stream.send(Arc::new(item));
        }
    }
}

enum Prepared {
    Answer(Answer),
    Command(CommandKind, Then),
}

/// How to answer once a command is applied.
enum Then {
    AccountOpened,
    AccountView(AccountId),
    Placed(Option<String>),
    Cancelled(OrderId),
    OrderView(OrderId),
    Closed(PositionId, AccountId),
    Position(PositionId),
    QuoteTaken(InstrumentId),
    RolledOver(bool),
    Trading,
}

/// The status for an answer: 201 for what a POST created, 200 otherwise.
pub fn created(answer: &Answer) -> StatusCode {
    match answer {
        Answer::AccountOpened { .. } | Answer::Placed(_) => StatusCode::CREATED,
        _ => StatusCode::OK,
    }
}

/// An engine event as the stream shows it: `{"kind": "order_filled", ...}` with symbols, decimal
/// prices and money in the account's currency, like the rest of the API.
pub fn event_view(
    engine: &Engine,
    instruments: &Instruments,
    account: AccountId,
    event: &Event,
) -> serde_json::Value {
    use crate::trading::dto::money_text;
    use serde_json::json;
    let currency = engine
        .account(account)
        .map_or(Currency::JPY, |a| a.currency);
    let money = |minor: i64| money_text(i128::from(minor), currency);
    let order_price = |order: &OrderId, price: Price| {
        engine.order(*order).map_or_else(
            || price.to_string(),
            |o| instruments.price_text(o.instrument, price),
        )
    };
    let side = |side: &fxdesk_engine::Side| match side {
        fxdesk_engine::Side::Buy => "buy",
        fxdesk_engine::Side::Sell => "sell",
    };
    let ratio = |bp: &i64| fxdesk_market::price::format_scaled(i128::from(*bp), 2);
    match event {
        Event::OrderAccepted { order, active, .. } => {
            json!({"kind": "order_accepted", "order_id": order.0, "active": active})
        }
        Event::OrderActivated { order } => json!({"kind": "order_activated", "order_id": order.0}),
        Event::OrderTriggered { order, price } => json!({
            "kind": "order_triggered", "order_id": order.0, "price": order_price(order, *price),
        }),
        Event::OrderAmended { order } => json!({"kind": "order_amended", "order_id": order.0}),
        Event::OrderFilled {
            order,
            instrument,
            side: s,
            qty,
            price,
            ..
        } => json!({
            "kind": "order_filled", "order_id": order.0,
            "instrument": instruments.symbol(*instrument), "side": side(s), "qty": qty,
            "price": instruments.price_text(*instrument, *price),
        }),
        Event::OrderCancelled { order, reason } => json!({
            "kind": "order_cancelled", "order_id": order.0, "reason": format!("{reason:?}"),
        }),
        Event::OrderExpired { order } => json!({"kind": "order_expired", "order_id": order.0}),
        Event::PositionOpened {
            position,
            instrument,
            side: s,
            qty,
            price,
            ..
        } => json!({
            "kind": "position_opened", "position_id": position.0,
            "instrument": instruments.symbol(*instrument), "side": side(s), "qty": qty,
            "price": instruments.price_text(*instrument, *price),
        }),
        Event::PositionClosed {
            position,
            qty,
            price,
            realised_pnl_minor,
            swap_minor,
            qty_remaining,
            balance_minor,
            ..
        } => {
            let instrument = engine.position(*position).map(|p| p.instrument);
            json!({
                "kind": "position_closed", "position_id": position.0, "qty": qty,
                "price": instrument.map_or_else(|| price.to_string(), |i| instruments.price_text(i, *price)),
                "realised_pnl": money(*realised_pnl_minor), "swap": money(*swap_minor),
                "qty_remaining": qty_remaining, "balance": money(*balance_minor),
            })
        }
        Event::SwapAccrued {
            position,
            amount_minor,
        } => json!({
            "kind": "swap_accrued", "position_id": position.0, "amount": money(*amount_minor),
        }),
        Event::Deposited {
            amount_minor,
            balance_minor,
            ..
        } => json!({
            "kind": "deposited", "amount": money(*amount_minor), "balance": money(*balance_minor),
        }),
        Event::Withdrawn {
            amount_minor,
            balance_minor,
            ..
        } => json!({
            "kind": "withdrawn", "amount": money(*amount_minor), "balance": money(*balance_minor),
        }),
        Event::MarginCall { ratio_bp, .. } => {
            json!({"kind": "margin_call", "maintenance_ratio_pct": ratio(ratio_bp)})
        }
        Event::MarginCallCleared { ratio_bp, .. } => {
            json!({"kind": "margin_call_cleared", "maintenance_ratio_pct": ratio(ratio_bp)})
        }
        Event::LossCut {
            ratio_bp,
            positions_closed,
            ..
        } => json!({
            "kind": "loss_cut", "maintenance_ratio_pct": ratio(ratio_bp),
            "positions_closed": positions_closed,
        }),
        Event::NegativeBalance { balance_minor, .. } => {
            json!({"kind": "negative_balance", "balance": money(*balance_minor)})
        }
        Event::AccountOpened { .. } => json!({"kind": "account_opened"}),
        Event::DuplicateClientOrderId { first, .. } => match first {
            fxdesk_engine::ClientOrderOutcome::Accepted(order) => {
                json!({"kind": "duplicate_client_order_id", "order_id": order.0})
            }
            fxdesk_engine::ClientOrderOutcome::Rejected(reject) => {
                json!({"kind": "duplicate_client_order_id", "rejected": reject.code()})
            }
        },
        Event::CashAdjusted {
            amount_minor,
            balance_minor,
            ..
        } => json!({
            "kind": "cash_adjusted", "amount": money(*amount_minor), "balance": money(*balance_minor),
        }),
        Event::PositionRepriced {
            position,
            instrument,
            from,
            to,
            ..
        } => json!({
            "kind": "position_repriced", "position_id": position.0,
            "from": instruments.price_text(*instrument, *from),
            "to": instruments.price_text(*instrument, *to),
        }),
        Event::ExecutionRepriced {
            position,
            instrument,
            qty,
            from,
            to,
            realised_pnl_minor,
            balance_minor,
            ..
        } => json!({
            "kind": "execution_repriced", "position_id": position.0, "qty": qty,
            "from": instruments.price_text(*instrument, *from),
            "to": instruments.price_text(*instrument, *to),
            "realised_pnl": money(*realised_pnl_minor), "balance": money(*balance_minor),
        }),
        Event::Rejected(reject) => json!({"kind": "rejected", "code": reject.code()}),
        other => json!({"kind": "other", "event": format!("{other:?}")}),
    }
}
