//! The dealing engine of fxdesk: a deterministic state machine for a retail FX dealer.
//!
//! Customers trade against the broker's streamed bid/ask; they are not matched with each other.
//! [`Engine::apply`] takes a [`Command`] and returns the [`Event`]s it caused.
//!
//! It guarantees: the same commands in the same order give the same state, byte for byte (see
//! [`Engine::state_hash`]); every refused command returns a typed [`Reject`] and changes nothing;
//! no input can make it panic; a quote costs O(log n + what it fires), however many orders rest
//! and accounts exist. It never reads a clock, does I/O, spawns threads or uses floats in state:
//! time, trading sessions and rollover all come in as commands.

pub mod books;
pub mod command;
pub mod engine;
pub mod event;
pub mod hash;
pub mod instrument;
pub mod limits;
pub mod money;
pub mod risk;
pub mod state;
pub mod table;
pub mod types;

pub use command::{
    Amendment, Command, CommandKind, CorrectionId, GroupSpec, LossCutMode, OrderKind, OrderRequest,
    OrderSpec, RestoredLinkedOrder, RestoredOpeningOrder, RestoredOrder, RestoredPosition,
    Slippage, SwapRate, TimeInForce,
};
pub use engine::{ConfigError, Engine, EngineConfig, Quote};
pub use event::{CancelReason, ClientOrderOutcome, Event, Reject};
pub use instrument::InstrumentSpec;
pub use risk::Valuation;
pub use state::{Account, FinishedOrder, Order, OrderEnd, Position};
pub use types::{
    AccountId, Currency, GroupId, InstrumentId, MoneyMinor, OrderId, PositionId, PositionMode,
    Price, Qty, RatioBp, Side, TimeNs,
};
