//! Starting the trading server: data directory, tokens, listener, recovery, sequencer, feed.
//!
//! The listener comes up first so `/healthz` and `/readyz` answer during recovery; every trading
//! endpoint answers 503 `not_ready` until the journal is recovered and the sequencer runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use fxdesk_engine::{Engine, EngineConfig};
use fxdesk_journal::{Journal, JournalOptions};
use fxdesk_market::{read_tick_file, ReplaySchedule, Tick};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{write_admin_token_file, Caller, TokenStore};
use crate::reopening::guard::{GuardConfig, PriceGuard};
use crate::reopening::Reopening;
use crate::trading::dto::Instruments;
use crate::trading::error::{ApiError, ServerError};
use crate::trading::metrics::Metrics;
use crate::trading::sequencer::{self, Request, SequencerHandle};

/// How to run `fxdesk serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// "127.0.0.1:8080"; port 0 picks a free one (see [`RunningServer::addr`]).
    pub listen: String,
    /// The admin token from `FXDESK_ADMIN_TOKEN`; without it the first start writes one to
    /// `DATA_DIR/admin.token` (mode 0600).
    pub admin_token: Option<String>,
    /// A tick file to replay into the engine, and how fast (1.0: the recording's own pace).
    pub feed: Option<PathBuf>,
    pub speed: f64,
    /// Send the daily rollover at 17:00 New York time.
    pub rollover: bool,
    /// Journal tunables (segment size, group commit size, snapshot interval).
    pub journal: JournalOptions,
    /// Trade at once even after recovering a non-empty journal (default: start halted until an
    /// operator resumes; see `crate::reopening`).
    pub start_trading: bool,
    /// The price-jump guard's limits (None: the defaults for every instrument).
    pub price_guard: Option<GuardConfig>,
}

impl ServeOptions {
    pub fn new(data_dir: impl Into<PathBuf>, listen: impl Into<String>) -> ServeOptions {
        ServeOptions {
            data_dir: data_dir.into(),
            listen: listen.into(),
            admin_token: None,
            feed: None,
            speed: 1.0,
            rollover: true,
            journal: JournalOptions::default(),
            start_trading: false,
            price_guard: None,
        }
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub tokens: Arc<TokenStore>,
    pub instruments: Arc<Instruments>,
    pub metrics: Arc<Metrics>,
    /// Halt state and the price-jump guard.
    pub reopening: Arc<Reopening>,
    sequencer: Arc<OnceLock<SequencerHandle>>,
    recovery_failure: Arc<Mutex<Option<String>>>,
}

impl AppState {
    /// The sequencer, or 503 while recovering (or after recovery failed).
    pub fn sequencer(&self) -> Result<&SequencerHandle, ApiError> {
        self.sequencer
            .get()
            .ok_or_else(|| match self.recovery_failure() {
                Some(reason) => {
                    ApiError::unavailable("recovery_failed", format!("recovery failed: {reason}"))
                }
                None => ApiError::unavailable("not_ready", "recovering the journal; retry shortly"),
            })
    }

    pub fn recovery_failure(&self) -> Option<String> {
        self.recovery_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ready: recovered, and the sequencer runs (it stops for good on a journal failure).
    pub fn readiness(&self) -> Result<(), String> {
        match self.sequencer.get() {
            Some(handle) if handle.status.is_running() => Ok(()),
            Some(handle) => Err(format!(
                "sequencer stopped: {}",
                handle
                    .status
                    .failure()
                    .unwrap_or_else(|| "shut down".to_owned())
            )),
            None => Err(self.recovery_failure().map_or_else(
                || "recovering".to_owned(),
                |r| format!("recovery failed: {r}"),
            )),
        }
    }
}

/// A started server.
pub struct RunningServer {
    addr: SocketAddr,
    /// The admin token made on this start (None when it existed or came from the environment).
    pub admin_token_created: Option<String>,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    http: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until `/readyz` would say ready; Err with the reason on timeout or failure.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.state.readiness() {
                Ok(()) => return Ok(()),
                Err(reason) if reason.starts_with("recovery failed") => return Err(reason),
                Err(reason) if tokio::time::Instant::now() >= deadline => return Err(reason),
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// The trigger for a graceful shutdown, for code that waits with [`RunningServer::wait`].
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }

    /// Runs until the HTTP server ends (it ends only on [`RunningServer::shutdown`] or an error).
    pub async fn wait(mut self) -> Result<(), ServerError> {
        let http = &mut self.http;
        http.await
            .map_err(|e| ServerError::Http(std::io::Error::other(e.to_string())))?
    }

    /// Stops accepting connections and finishes the ones in flight.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.wait().await
    }
}

/// Routes served in front of the trading API (they win where paths overlap, e.g. a combined
/// `/metrics`); built once the trading state exists. See [`start_with_front`].
pub type FrontRoutes = Box<dyn FnOnce(&AppState) -> axum::Router + Send>;

/// Opens the data directory, binds the listener and starts recovery in the background.
pub async fn start(options: ServeOptions) -> Result<RunningServer, ServerError> {
    start_with_front(options, None).await
}

/// Same as [`start`], with `front` routes (the incident desk's API when it runs in-process)
/// tried first; requests they do not match go to the trading API.
pub async fn start_with_front(
    options: ServeOptions,
    front: Option<FrontRoutes>,
) -> Result<RunningServer, ServerError> {
    let data_dir = options.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| ServerError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let config = EngineConfig::default();
    let initial = Engine::new(config)?;
    let instruments = Instruments::new(initial.instruments().map(|(_, s)| s.clone()).collect());

    let tokens = TokenStore::open(&data_dir)?;
    let admin_token_created = ensure_admin(&tokens, &data_dir, options.admin_token.as_deref())?;

    let feed = match &options.feed {
        Some(path) => {
            let file = read_tick_file(path, |symbol| instruments.lookup(symbol))?;
            Some(ReplaySchedule::new(file.ticks, options.speed)?)
        }
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: options.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: options.listen.clone(),
        source,
    })?;

    let metrics = Arc::new(Metrics::new(instruments.iter().count()));
    let specs: Vec<_> = instruments.iter().map(|(_, s)| s.clone()).collect();
    let guard_config = options
        .price_guard
        .clone()
        .unwrap_or_else(|| GuardConfig::defaults(specs.len()));
    guard_config.validate().map_err(ServerError::Config)?;
    // The guard's flags outlive a restart: read back, then appended to (a torn last line is
    // cut off; a damaged file stops the start, naming the line, rather than losing evidence).
    let flags_path = fxdesk_backfill::guard_flags::path_in(&data_dir);
    let (flag_log, flags_before) = fxdesk_backfill::guard_flags::FlagWriter::open(&flags_path)
        .map_err(|e| ServerError::Config(format!("price-jump guard flags: {e}")))?;
    if let Some(at) = flags_before.torn_tail_at {
        tracing::warn!(
            path = %flags_path.display(),
            "the price-jump guard's flag file ended in a torn line at byte {at}; cut off"
        );
    }
    let mut price_guard = PriceGuard::new(guard_config, &specs);
    price_guard.restore(&flags_before);
    let reopening = Arc::new(Reopening::with_log(price_guard, flag_log));
    let state = AppState {
        tokens: Arc::new(tokens),
        instruments: Arc::new(instruments),
        metrics,
        reopening,
        sequencer: Arc::new(OnceLock::new()),
        recovery_failure: Arc::new(Mutex::new(None)),
    };
    let trading = crate::trading::api::router(state.clone());
    let router = match front {
        Some(front) => front(&state).fallback_service(trading),
        None => trading,
    };
    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        let listener = crate::trading::listener::LimitedListener::new(
            listener,
            crate::trading::listener::CONNECTIONS_MAX,
        );
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown_signal.await;
            })
            .await
            .map_err(ServerError::Http)
    });

    tokio::spawn(recover_and_run(
        state.clone(),
        data_dir,
        options.journal.clone(),
        initial,
        feed,
        options.rollover,
        options.start_trading,
    ));

    Ok(RunningServer {
        addr,
        admin_token_created,
        state,
        shutdown: Some(shutdown),
        http,
    })
}

/// The admin token: from the operator, already stored, or made now and written to a 0600 file.
fn ensure_admin(
    tokens: &TokenStore,
    data_dir: &Path,
    from_env: Option<&str>,
) -> Result<Option<String>, ServerError> {
    if let Some(token) = from_env {
        tokens.ensure(token, Caller::Admin)?;
        return Ok(None);
    }
    if tokens.has_admin() {
        return Ok(None);
    }
    let path = data_dir.join("admin.token");
    // A file without a stored hash means the last start stopped between the two writes.
    if let Ok(text) = std::fs::read_to_string(&path) {
        tokens.ensure(text.trim(), Caller::Admin)?;
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| crate::auth::AuthError::Random(e.to_string()))?;
    let token = format!("{}{}", crate::auth::TOKEN_PREFIX, hex::encode(bytes));
    write_admin_token_file(&path, &token)?;
    tokens.ensure(&token, Caller::Admin)?;
    Ok(Some(token))
}

/// True when the journal's last command is a Resume of all instruments: the previous run's
/// last act (an operator's resume, or a backfill plan applied while the server was down) was to
/// reopen trading, so this start does not halt again. Anything unreadable counts as false.
fn last_command_resumed(journal_dir: &Path, last_seq: u64) -> bool {
    fxdesk_journal::records::<Engine>(journal_dir, last_seq)
        .ok()
        .and_then(|mut records| records.next())
        .and_then(Result::ok)
        .is_some_and(|record| {
            record.seq == last_seq
                && matches!(
                    record.command.kind,
                    fxdesk_engine::CommandKind::Resume { instrument: None }
                )
        })
}

/// The sequencer, and whether to halt it before publishing it.
type Opened = (SequencerHandle, bool);

async fn recover_and_run(
    state: AppState,
    data_dir: PathBuf,
    journal_options: JournalOptions,
    initial: Engine,
    feed: Option<ReplaySchedule>,
    rollover: bool,
    start_trading: bool,
) {
    let instruments = Instruments::clone(&state.instruments);
    let metrics = Arc::clone(&state.metrics);
    let reopening = Arc::clone(&state.reopening);
    let journal_dir = data_dir.join("journal");
    let opened = tokio::task::spawn_blocking(move || -> Result<Opened, ServerError> {
        let (journal, recovered) =
            Journal::<Engine>::open(&journal_dir, journal_options, || initial)?;
        tracing::info!(
            last_seq = recovered.last_seq,
            replayed = recovered.report.records_replayed,
            truncated_tail = recovered.report.truncated_tail.is_some(),
            "journal recovered"
        );
        let last_time_ns = recovered.last_time_ns.unwrap_or(0);
        // The guard measures jumps from the prices the engine last applied.
        for (id, _) in instruments.iter() {
            if let Some(quote) = recovered.state.quote_of(id) {
                reopening.guard().applied(id, quote.bid, quote.ask);
            }
        }
        let halt = !start_trading
            && recovered.last_seq > 0
            && !recovered.state.is_halted_globally()
            && !last_command_resumed(&journal_dir, recovered.last_seq);
        sequencer::spawn(
            recovered.state,
            journal,
            recovered.last_seq,
            last_time_ns,
            instruments,
            metrics,
            reopening,
        )
        .map(|handle| (handle, halt))
        .map_err(ServerError::Thread)
    })
    .await;
    let (handle, halt) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(error)) => return fail_recovery(&state, error.to_string()),
        Err(join) => return fail_recovery(&state, join.to_string()),
    };
    // Halt before any trading request can reach the sequencer (the handle is not published yet).
    if halt {
        match handle.call(Request::Halt).await {
            Ok(_) => tracing::warn!(
                "recovered a non-empty journal: trading is halted until an operator resumes \
                 (POST /v1/admin/resume) or a backfill plan is applied"
            ),
            Err(error) => {
                return fail_recovery(&state, format!("cannot halt after recovery: {error:?}"))
            }
        }
    }
    let handle = state.sequencer.get_or_init(|| handle).clone();
    if let Some(schedule) = feed {
        tokio::spawn(replay(handle.clone(), schedule));
    }
    if rollover {
        tokio::spawn(crate::trading::rollover::run(handle));
    }
}

fn fail_recovery(state: &AppState, reason: String) {
    tracing::error!(%reason, "recovery failed");
    *state
        .recovery_failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(reason);
}

/// Ticks of a replay queued but not yet answered; the replay waits for the oldest beyond this.
pub const REPLAY_IN_FLIGHT_MAX: usize = 1_024;

/// Posts the recorded ticks into the sequencer at their scheduled times, in order, with up to
/// [`REPLAY_IN_FLIGHT_MAX`] waiting for their group commit at once (so a fast replay is not held
/// to one fsync per tick).
async fn replay(handle: SequencerHandle, schedule: ReplaySchedule) {
    let started = tokio::time::Instant::now();
    let (mut taken, mut refused) = (0u64, 0u64);
    let mut in_flight = std::collections::VecDeque::with_capacity(REPLAY_IN_FLIGHT_MAX);
    let mut settle = |answer: Result<sequencer::Reply, oneshot::error::RecvError>| match answer {
        Ok(Ok(_)) => {
            taken += 1;
            true
        }
        Ok(Err(error)) if error.status.is_client_error() => {
            refused += 1;
            true
        }
        Ok(Err(error)) => {
            tracing::warn!(%error.message, "replay stopped");
            false
        }
        Err(_) => false,
    };
    for (offset, tick) in schedule {
        tokio::time::sleep_until(started + offset).await;
        let Tick {
            time_ns,
            instrument,
            bid,
            ask,
        } = tick;
        let request = Request::Quote {
            instrument,
            bid,
            ask,
            source_time_ns: Some(time_ns),
        };
        match handle.enqueue(request).await {
            Ok(answer) => in_flight.push_back(answer),
            Err(error) => {
                tracing::warn!(%error.message, "replay stopped");
                return;
            }
        }
        if in_flight.len() >= REPLAY_IN_FLIGHT_MAX {
            if let Some(oldest) = in_flight.pop_front() {
                if !settle(oldest.await) {
                    return;
                }
            }
        }
    }
    while let Some(answer) = in_flight.pop_front() {
        if !settle(answer.await) {
            return;
        }
    }
    tracing::info!(taken, refused, "replay finished");
}
