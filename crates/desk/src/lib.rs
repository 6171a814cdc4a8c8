//! Incident desk of fxdesk: detects outages (engine health, HTTP/TCP probes, push heartbeats,
//! Prometheus Alertmanager), opens and deduplicates incidents, escalates by outage duration
//! and missing acknowledgement along on-call schedules, and notifies through webhook, Slack,
//! email and SMS/voice gateways with retries and a delivery log. State lives in SQLite or
//! PostgreSQL (sqlx); users, roles and API tokens guard every action.
//!
//! Regulator reports live in [`reports`]: reportability rules, deadlines, drafts, versions,
//! the completeness check, reminders and the inspection export.
//!
//! Guarantees: all timing reads an injected [`Clock`] (tests never sleep); every incident
//! change is on the incident's timeline and in the hash-chained audit log ([`audit`]); each
//! escalation step fires once per incident (and cycle), enforced by storage; a failing channel
//! never blocks another.
//! Never: depends on the engine crate (engine health comes through [`EngineHealth`]), speaks
//! HTTP as a server (that is `fxdesk-server`), or panics on client input.

pub mod alertmanager;
pub mod audit;
pub mod auth;
pub mod background;
pub mod channels;
pub mod clock;
pub mod config;
pub mod desk;
pub mod error;
pub mod escalation;
pub mod health;
pub mod metrics;
pub mod model;
pub mod notices;
pub mod probes;
pub mod reports;
pub mod schedule;
pub mod store;

pub use background::{spawn_background, BackgroundTasks};
pub use clock::{Clock, ManualClock, SystemClock, UnixMs};
pub use config::DeskConfig;
pub use desk::{Desk, MonitorView, NewIncident, OnCallView};
pub use error::{DeskError, Result};
pub use health::{EngineHealth, EngineHealthSnapshot, HealthRecorder};
pub use model::{ComponentStatus, Incident, IncidentState, Principal, Role};
pub use store::Store;
