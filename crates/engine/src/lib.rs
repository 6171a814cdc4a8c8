//! The dealing engine of fxdesk: a deterministic state machine for a retail FX dealer.
//!
//! It guarantees: the same commands in the same order give byte-identical state (see
//! [`Engine::state_hash`]); every rejected command returns a typed [`Reject`] reason; no input
//! can make it panic. It never reads a clock, does I/O, spawns threads or uses floats in state.
