//! Tick data for fxdesk: the reader for our CSV tick files (`time,instrument,bid,ask`), exact
//! decimal-to-tick price conversion, and a replay schedule that paces ticks at a speed factor.
//!
//! Guarantees: prices are converted exactly (no floats anywhere); every bad row is reported with
//! its line number and counted; inputs are bounded ([`csv::TICKS_PER_FILE_MAX`],
//! [`csv::LINE_BYTES_MAX`]). It never does network I/O and never touches engine state: callers
//! turn ticks into quote commands.

pub mod csv;
pub mod error;
pub mod price;
pub mod replay;

pub use csv::{read_tick_file, read_ticks, BadRow, Tick, TickFile};
pub use error::MarketError;
pub use price::{format_ticks, parse_ticks, PriceError};
pub use replay::ReplaySchedule;
