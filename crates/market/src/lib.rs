//! Tick data for fxdesk: importers for our CSV (`time,instrument,bid,ask`), HistData and
//! Dukascopy tick files with a report of every line left out ([`import`]); exact
//! decimal-to-tick price conversion ([`price`]); the price archive, an append-only tick store per
//! instrument and UTC day with a time-ordered merged reader ([`archive`]); hourly bars and a
//! deterministic tick path through them ([`bars`]); and a replay schedule ([`replay`]).
//!
//! Guarantees: prices are converted exactly (no floats anywhere near a price); every bad row is
//! reported with its line number and counted, never used silently; inputs are bounded
//! ([`csv::TICKS_PER_FILE_MAX`], [`csv::LINE_BYTES_MAX`]). It never does network I/O and never
//! touches engine state: callers turn ticks into quote commands.

pub mod archive;
pub mod bars;
pub mod catalog;
pub mod civil;
pub mod csv;
pub mod error;
pub mod import;
pub mod price;
pub mod replay;

pub use archive::{read_all, read_range, Appended, ArchiveError, ArchiveReport, ArchiveWriter};
pub use catalog::{Catalog, Scale};
pub use csv::{read_tick_file, read_ticks, write_ticks, BadRow, Tick, TickFile};
pub use error::MarketError;
pub use import::{import, Format, ImportReport, Imported, Reason, Source};
pub use price::{format_ticks, parse_ticks, PriceError};
pub use replay::ReplaySchedule;
