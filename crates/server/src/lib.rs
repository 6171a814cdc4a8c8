//! fxdesk's HTTP server (axum): the customer trading API around the sequenced dealing engine.
//!
//! Guarantees: a command is answered only after it is durable in the journal; requests refused
//! for bad input, missing rights or unknown ids are never journaled; a customer token sees only
//! its own account. It never lets two threads touch the engine: one sequencer thread owns it.

pub mod auth;
pub mod trading;
