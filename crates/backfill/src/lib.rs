//! Outage backfill for fxdesk: which orders should have filled while the system was down, at
//! what price, and the corrections that make it so, applied once after two approvals.
//!
//! - [`gaps`]: outage windows found in the journal (silences of the journaled feed in market
//!   hours).
//! - [`shadow`]: the window's ticks, all instruments merged in time order, replayed through a
//!   copy of the engine as it stood just before the outage.
//! - [`policy`]: how fills are priced per order kind, how corrections are made (rewrite or
//!   cash), the minimum outage, the uncertain window; defaults in `policy.default.toml`.
//! - [`plan`]: the plan (JSON) with its inputs' hash, corrections, totals, skipped items;
//!   [`plan::approve`] by two different users.
//! - [`guard_flags`]: the server price-jump guard's flag file (`DATA_DIR/price-guard/
//!   flags.jsonl`), written by the guard, read by the plan as the evidence that a journaled
//!   quote was off-market.
//! - [`journal_io`]: the plan made from a data directory's journal, and [`journal_io::apply`]
//!   which writes the corrections through the journal, idempotently.
//! - [`report`]: a terminal table and an HTML page with the price path of a chosen order.
//!
//! Guarantees: the replay uses the live engine's own code, so triggers, chains, expiries,
//! margin calls and loss-cuts are exactly the live rules; a plan is refused at apply time if
//! its content changed after approval or the journal no longer matches its inputs; applying a
//! plan twice changes nothing (every correction command carries the plan id and is applied by
//! the engine at most once). Lost opportunities are never compensated.

pub mod calendar;
pub mod error;
pub mod gaps;
pub mod guard_flags;
pub mod journal_io;
pub mod money;
pub mod plan;
pub mod policy;
pub mod report;
pub mod shadow;
pub mod ticks;

pub use error::BackfillError;
pub use journal_io::{apply, check_inputs, plan_from_journal, ApplyReport, PlanRequest};
pub use plan::{approve, build_plan, Correction, CorrectionKind, LiveAfter, Plan, PlanInput};
pub use policy::Policy;
