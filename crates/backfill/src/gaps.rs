//! Outage windows found in the journal.
//!
//! **Definition.** While the system is up, the price feed is journaled: every quote is a
//! command. So the system was down (an outage) wherever two consecutive journal records are
//! further apart than `min_silence` *in market time* (time when the FX market trades, Sunday
//! 17:00 to Friday 17:00 New York; a quiet weekend is not an outage). The window runs from the
//! last record before the silence to the first record after it; if the journal ends in such a
//! silence (up to `until`, normally now), the outage is still open.

use std::path::Path;

use fxdesk_engine::{Engine, TimeNs};
use serde::Serialize;

use crate::calendar::{market_open_ns, rfc3339};
use crate::error::BackfillError;

/// One silence of the journal during market hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Time of the last record before the silence: the outage starts after it.
    pub from_ns: TimeNs,
    /// Time of the first record after it (`None`: the journal ends in the silence).
    pub to_ns: Option<TimeNs>,
    pub from: String,
    pub to: Option<String>,
    /// Sequence number of the last record before the silence.
    pub last_seq_before: u64,
    /// Market-time length of the silence, in seconds.
    pub market_seconds: i64,
}

/// Finds every silence longer than `min_silence_ns` of market time. `until`: where an open
/// silence at the end of the journal is measured to (normally now); `None` ignores the end.
pub fn find_gaps(
    journal_dir: &Path,
    min_silence_ns: TimeNs,
    until: Option<TimeNs>,
) -> Result<Vec<Gap>, BackfillError> {
    let mut gaps = Vec::new();
    let mut last: Option<(u64, TimeNs)> = None;
    for record in fxdesk_journal::records::<Engine>(journal_dir, 1)? {
        let record = record?;
        if let Some((seq, time_ns)) = last {
            let open = market_open_ns(time_ns, record.time_ns);
            if open > min_silence_ns {
                gaps.push(gap(seq, time_ns, Some(record.time_ns), open));
            }
        }
        last = Some((record.seq, record.time_ns));
    }
    if let (Some((seq, time_ns)), Some(until)) = (last, until) {
        let open = market_open_ns(time_ns, until);
        if open > min_silence_ns {
            gaps.push(gap(seq, time_ns, None, open));
        }
    }
    Ok(gaps)
}

fn gap(seq: u64, from_ns: TimeNs, to_ns: Option<TimeNs>, open_ns: TimeNs) -> Gap {
    Gap {
        from_ns,
        to_ns,
        from: rfc3339(from_ns),
        to: to_ns.map(rfc3339),
        last_seq_before: seq,
        market_seconds: open_ns / 1_000_000_000,
    }
}
