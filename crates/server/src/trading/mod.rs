//! The customer trading API: the sequencer that owns the engine, the HTTP handlers around it, the
//! price feed, the event stream and the metrics.

pub mod api;
pub mod dto;
pub mod error;
pub mod extract;
pub mod listener;
pub mod metrics;
pub mod rollover;
pub mod sequencer;
pub mod serve;
pub mod stream;

pub use error::{ApiError, ServerError};
pub use serve::{start, start_with_front, FrontRoutes, RunningServer, ServeOptions};
