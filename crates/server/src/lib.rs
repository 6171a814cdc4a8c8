//! fxdesk's HTTP server (axum): the customer trading API around the sequenced dealing engine
//! ([`trading`]), the incident desk's API ([`desk`]), and both in one process with the desk
//! watching the live sequencer and the outside signals ([`with_desk`], what `fxdesk serve` runs).
//!
//! Guarantees: a trading command is answered only after it is durable in the journal; requests
//! refused for bad input, missing rights or unknown ids are never journaled; a customer token
//! sees only its own account; every route except the public status page needs authentication;
//! client errors come back as JSON with a machine-readable code. Never: holds business logic
//! (that is in the lower crates), lets two threads touch the engine (one sequencer thread owns
//! it), or panics on a request.

pub mod auth;
pub mod desk;
pub mod trading;
pub mod with_desk;
