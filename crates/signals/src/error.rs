//! The one error type of the crate. Each variant says what was being done and on what.

use std::path::PathBuf;

/// Everything that can go wrong in `fxdesk-signals`.
///
/// Malformed *lines* of a thread or malformed *entries* of a feed are not errors: they are counted
/// in a parse report and skipped. Errors are for things that stop a whole operation.
#[derive(Debug, thiserror::Error)]
pub enum SignalsError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fetching {url}: {message}")]
    Http { url: String, message: String },
    #[error("fetching {url}: unexpected HTTP status {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("{what} is {size_bytes} bytes, more than the limit of {limit_bytes}")]
    TooLarge {
        what: String,
        size_bytes: u64,
        limit_bytes: u64,
    },
    #[error("parsing feed {source_name}: {message}")]
    Feed {
        source_name: String,
        message: String,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("unknown stream {0:?}")]
    UnknownStream(String),
    #[error("count for stream {stream:?} at minute {minute}: {reason}")]
    CountRejected {
        stream: String,
        minute: i64,
        reason: String,
    },
    #[error("simulation parameters: {0}")]
    SimParams(String),
}
