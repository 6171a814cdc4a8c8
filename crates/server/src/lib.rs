//! fxdesk's HTTP server (axum): the customer trading API around the sequenced dealing engine
//! ([`trading`]), the incident desk's API ([`desk`]), the public status page ([`status`]) with
//! customer notices ([`notices`]), and the operator console ([`console`]), put together by [`site`].
//!
//! Guarantees: a trading command is answered only after it is durable in the journal; requests
//! refused for bad input, missing rights or unknown ids are never journaled; a customer token
//! sees only its own account; every route except the public status page needs authentication;
//! client errors come back as JSON with a machine-readable code. Never: holds business logic
//! (that is in the lower crates), lets two threads touch the engine (one sequencer thread owns
//! it), or panics on a request.

pub mod auth;
pub mod console;
pub mod desk;
pub mod notices;
pub mod site;
pub mod status;
pub mod trading;
