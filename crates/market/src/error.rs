//! The one error type of the market crate.

use std::path::PathBuf;

use crate::csv::BadRow;

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("cannot read tick file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tick file {path}: {bad_rows} bad rows; first: {first}")]
    BadRows {
        path: PathBuf,
        bad_rows: u64,
        first: BadRow,
    },
    #[error("tick file {path}: more than {limit} ticks")]
    TooManyTicks { path: PathBuf, limit: usize },
    #[error("replay speed {speed} is not a finite number above 0")]
    InvalidSpeed { speed: f64 },
}
