//! External outage signals: counts of posts about us on public message boards (2ch/5ch dat
//! threads), RSS/Atom items and call-centre calls, per minute, compared with the same counts for
//! peer brokers. A one-sided CUSUM on our share of the posts raises an [`Alarm`] when our rate
//! rises beyond what the peers' current rates and the usual ratio predict.
//!
//! Guarantees: parsers never panic on any bytes (bad lines are counted by reason, not fatal);
//! memory is bounded (named limits in each module); a market-wide rise that lifts the peers as
//! much as us never alarms, because the test conditions on the minute's total. Never does: page
//! anyone by itself (it returns alarms; the desk opens or annotates incidents), nor judge a
//! stream without peers. See README.md for the model and the measured figures.

pub mod counts;
pub mod dat;
pub mod detector;
pub mod error;
pub mod eval;
pub mod feeds;
mod fetch;
pub mod monitor;
pub mod poll;
pub mod sim;
pub mod time;
pub mod words;

pub use counts::{SignalsConfig, StreamConfig, StreamRole};
pub use detector::{Alarm, Detector, DetectorParams, Sensitivity};
pub use error::SignalsError;
pub use fetch::Source;
pub use monitor::SignalsMonitor;
pub use time::UnixMinute;
pub use words::{OutageWords, OutageWordsConfig};
