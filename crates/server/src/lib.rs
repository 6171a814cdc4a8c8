//! HTTP face of fxdesk (axum): the desk API lives in [`desk`]; the trading API, status page and
//! console join it in their own modules.
//!
//! Guarantees: every route except the public status page needs authentication; client errors
//! come back as JSON problems with a machine-readable code. Never: holds business logic (that
//! is in the lower crates) or panics on a request.

pub mod desk;
