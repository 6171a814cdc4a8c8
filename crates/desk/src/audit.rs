//! The tamper-evident audit chain: every desk action and every money-moving action is one row
//! of `desk_audit`, and each row carries the SHA-256 of the row before it.
//!
//! ## Canonical encoding (version 1)
//!
//! The hash of an entry is `SHA-256(encoding)`, written as 64 lower-case hex digits, where the
//! encoding is the ASCII tag `fxdesk-audit-v1` followed by these fields in order:
//!
//! | field | encoding |
//! |---|---|
//! | `seq` (1, 2, 3, ... in chain order) | 8 bytes, big-endian two's complement |
//! | `at_ms` | 8 bytes, big-endian two's complement |
//! | `actor`, `action`, `subject`, `detail` (the stored JSON text, byte for byte), `prev_hash` | 8-byte big-endian length, then the UTF-8 bytes |
//!
//! The first entry's `prev_hash` is [`GENESIS_HASH`] (64 zeros). The row id is not hashed: the
//! chain order is the id order, and `seq` must equal the position in it.
//!
//! ## What verification catches, and what it cannot
//!
//! [`verify_entries`] walks the rows in id order and names the first row where the chain
//! breaks: a changed row (its hash no longer matches its content), a deleted row (the next
//! row's `seq` and `prev_hash` do not follow), an inserted row (it, or the row after it, does
//! not follow), reordered rows (`seq` out of place) and a removed tail (the head record,
//! `desk_audit_head`, is ahead of the last row). Someone able to rewrite the whole table *and*
//! the head consistently can forge a new chain; against that, keep the head hash somewhere
//! else (the inspection export prints it, and `fxdesk audit verify --expect-head` checks it).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::UnixMs;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN_TAG: &[u8] = b"fxdesk-audit-v1";

/// One row of the chain as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEntry {
    pub id: i64,
    /// Position in the chain (1-based); `None` on a row that was never chained.
    pub seq: Option<i64>,
    pub at_ms: UnixMs,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The detail JSON exactly as stored.
    pub detail: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// The content of an entry that the hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EntryContent<'a> {
    pub seq: i64,
    pub at_ms: UnixMs,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a str,
    pub prev_hash: &'a str,
}

fn put_text(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
}

/// The hash of an entry under the version 1 encoding (see the module doc).
pub fn entry_hash(content: EntryContent<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN_TAG);
    hasher.update(content.seq.to_be_bytes());
    hasher.update(content.at_ms.to_be_bytes());
    put_text(&mut hasher, content.actor);
    put_text(&mut hasher, content.action);
    put_text(&mut hasher, content.subject);
    put_text(&mut hasher, content.detail);
    put_text(&mut hasher, content.prev_hash);
    hex::encode(hasher.finalize())
}

/// What is wrong with the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The row was never chained (added behind the desk's back).
    Unsealed,
    /// The row's content no longer matches its hash: it was changed.
    ContentChanged,
    /// The row sits at a position its `seq` does not claim: rows before it were deleted,
    /// inserted or reordered.
    OutOfSequence { expected_seq: i64, found_seq: i64 },
    /// The row does not link to the one before it.
    BrokenLink,
    /// The head record says the chain is longer (or different) than the rows: the tail was
    /// deleted, or rows after it were changed.
    HeadMismatch {
        head_seq: i64,
        head_hash: String,
        last_seq: i64,
        last_hash: String,
    },
    /// The chain's head is not the hash the caller expected (kept outside the database).
    UnexpectedHead { expected: String, found: String },
}

impl ChainProblem {
    /// A sentence for the person reading the verification.
    pub fn describe(&self) -> String {
        match self {
            ChainProblem::Unsealed => {
                "the row carries no chain hash: it was added outside the desk".into()
            }
            ChainProblem::ContentChanged => {
                "the row's content does not match its hash: it was changed".into()
            }
            ChainProblem::OutOfSequence {
                expected_seq,
                found_seq,
            } => format!(
                "expected entry {expected_seq} of the chain here but found entry {found_seq}: \
                 rows before it were deleted, inserted or reordered"
            ),
            ChainProblem::BrokenLink => {
                "the row does not carry the hash of the row before it: a row before it was \
                 deleted, inserted or changed"
                    .into()
            }
            ChainProblem::HeadMismatch {
                head_seq, last_seq, ..
            } => format!(
                "the chain head records {head_seq} entries but the rows end at entry {last_seq}: \
                 the last rows were deleted or rewritten"
            ),
            ChainProblem::UnexpectedHead { expected, found } => {
                format!("the chain head is {found}, not the expected {expected}")
            }
        }
    }
}

/// The first entry where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadEntry {
    /// Row id (`None` when the problem is the head itself, with no rows at all).
    pub id: Option<i64>,
    pub seq: Option<i64>,
    #[serde(flatten)]
    pub problem: ChainProblem,
    pub message: String,
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainVerification {
    pub ok: bool,
    pub entries_checked: u64,
    /// Seq and hash of the last good entry (the head, when `ok`).
    pub last_good_seq: i64,
    pub last_good_hash: String,
    pub first_bad: Option<BadEntry>,
}

/// Incremental verifier: feed rows in id order, then [`ChainVerifier::finish`].
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    head_seq: i64,
    head_hash: String,
    expected_seq: i64,
    prev_hash: String,
    checked: u64,
    first_bad: Option<BadEntry>,
}

impl ChainVerifier {
    /// A verifier for a chain whose head record says `head_seq` entries ending in `head_hash`.
    pub fn new(head_seq: i64, head_hash: &str) -> ChainVerifier {
        ChainVerifier {
            head_seq,
            head_hash: head_hash.to_owned(),
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checked: 0,
            first_bad: None,
        }
    }

    /// Whether a bad entry was found already (the rest need not be read).
    pub fn failed(&self) -> bool {
        self.first_bad.is_some()
    }

    fn fail(&mut self, entry: &ChainedEntry, problem: ChainProblem) {
        let message = format!(
            "audit entry id {}{}: {}",
            entry.id,
            entry.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
            problem.describe()
        );
        self.first_bad = Some(BadEntry {
            id: Some(entry.id),
            seq: entry.seq,
            problem,
            message,
        });
    }

    fn head_mismatch(&self) -> ChainProblem {
        ChainProblem::HeadMismatch {
            head_seq: self.head_seq,
            head_hash: self.head_hash.clone(),
            last_seq: self.expected_seq - 1,
            last_hash: self.prev_hash.clone(),
        }
    }

    /// Checks the next row in id order.
    pub fn push(&mut self, entry: &ChainedEntry) {
        if self.failed() {
            return;
        }
        self.checked += 1;
        let (Some(seq), Some(prev_hash), Some(hash)) = (entry.seq, &entry.prev_hash, &entry.hash)
        else {
            self.fail(entry, ChainProblem::Unsealed);
            return;
        };
        let recomputed = entry_hash(EntryContent {
            seq,
            at_ms: entry.at_ms,
            actor: &entry.actor,
            action: &entry.action,
            subject: &entry.subject,
            detail: &entry.detail,
            prev_hash,
        });
        if &recomputed != hash {
            self.fail(entry, ChainProblem::ContentChanged);
            return;
        }
        if seq != self.expected_seq {
            let expected_seq = self.expected_seq;
            self.fail(
                entry,
                ChainProblem::OutOfSequence {
                    expected_seq,
                    found_seq: seq,
                },
            );
            return;
        }
        if prev_hash != &self.prev_hash {
            self.fail(entry, ChainProblem::BrokenLink);
            return;
        }
        self.expected_seq += 1;
        self.prev_hash = hash.clone();
        // A well-formed row past the head, or a head entry that is not the head's hash, was
        // added or rewritten without moving the head: the desk always moves both together.
        if seq > self.head_seq || (seq == self.head_seq && hash != &self.head_hash) {
            let problem = self.head_mismatch();
            self.fail(entry, problem);
        }
    }

    /// Compares the end of the rows with the head (and with an externally kept head).
    pub fn finish(mut self, expect_head: Option<&str>) -> ChainVerification {
        let last_seq = self.expected_seq - 1;
        if self.first_bad.is_none() && last_seq != self.head_seq {
            let problem = self.head_mismatch();
            self.first_bad = Some(BadEntry {
                id: None,
                seq: Some(last_seq + 1),
                message: format!(
                    "audit entries from seq {} on are missing: {}",
                    last_seq + 1,
                    problem.describe()
                ),
                problem,
            });
        }
        if let (None, Some(expected)) = (&self.first_bad, expect_head) {
            if !expected.eq_ignore_ascii_case(&self.prev_hash) {
                let problem = ChainProblem::UnexpectedHead {
                    expected: expected.to_owned(),
                    found: self.prev_hash.clone(),
                };
                self.first_bad = Some(BadEntry {
                    id: None,
                    seq: Some(last_seq),
                    message: format!("audit chain head: {}", problem.describe()),
                    problem,
                });
            }
        }
        let (last_good_seq, last_good_hash) = if self.first_bad.is_some() {
            // The last entry that verified is the one before the bad one.
            (self.expected_seq - 1, self.prev_hash.clone())
        } else {
            (last_seq, self.prev_hash.clone())
        };
        ChainVerification {
            ok: self.first_bad.is_none(),
            entries_checked: self.checked,
            last_good_seq,
            last_good_hash,
            first_bad: self.first_bad,
        }
    }
}

/// Verifies a complete list of rows (in id order) against the head.
pub fn verify_entries(
    entries: &[ChainedEntry],
    head_seq: i64,
    head_hash: &str,
    expect_head: Option<&str>,
) -> ChainVerification {
    let mut verifier = ChainVerifier::new(head_seq, head_hash);
    for entry in entries {
        verifier.push(entry);
    }
    verifier.finish(expect_head)
}

/// Money-moving actions other crates record through [`crate::Desk::record_money_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyAction {
    /// An operator proposed a backfill plan for approval (maker).
    BackfillPropose,
    /// An approver approved a backfill plan (checker).
    BackfillApprove,
    /// A backfill plan was refused.
    BackfillReject,
    /// An approved plan's corrections were written to the journal.
    BackfillApply,
    /// A correction entered by hand (balance, position or fill).
    ManualCorrection,
}

impl MoneyAction {
    /// The `action` text in the audit chain.
    pub fn as_str(self) -> &'static str {
        match self {
            MoneyAction::BackfillPropose => "money.backfill.propose",
            MoneyAction::BackfillApprove => "money.backfill.approve",
            MoneyAction::BackfillReject => "money.backfill.reject",
            MoneyAction::BackfillApply => "money.backfill.apply",
            MoneyAction::ManualCorrection => "money.correction.manual",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainedEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let detail = format!("{{\"n\":{seq}}}");
                let hash = entry_hash(EntryContent {
                    seq,
                    at_ms: 1_000 * seq,
                    actor: "user:aiko",
                    action: "incident.update",
                    subject: "incident:1",
                    detail: &detail,
                    prev_hash: &prev,
                });
                let entry = ChainedEntry {
                    id: seq,
                    seq: Some(seq),
                    at_ms: 1_000 * seq,
                    actor: "user:aiko".into(),
                    action: "incident.update".into(),
                    subject: "incident:1".into(),
                    detail,
                    prev_hash: Some(prev.clone()),
                    hash: Some(hash.clone()),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    fn head(entries: &[ChainedEntry]) -> (i64, String) {
        entries.last().map_or((0, GENESIS_HASH.to_owned()), |e| {
            (e.seq.unwrap(), e.hash.clone().unwrap())
        })
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        let (seq, hash) = head(&entries);
        let result = verify_entries(&entries, seq, &hash, Some(&hash));
        assert!(result.ok, "{result:?}");
        assert_eq!(result.entries_checked, 5);
        assert!(verify_entries(&[], 0, GENESIS_HASH, None).ok);
    }

    #[test]
    fn encoding_is_unambiguous_between_fields() {
        let a = entry_hash(EntryContent {
            seq: 1,
            at_ms: 0,
            actor: "ab",
            action: "c",
            subject: "",
            detail: "{}",
            prev_hash: GENESIS_HASH,
        });
        let b = entry_hash(EntryContent {
            seq: 1,
            at_ms: 0,
            actor: "a",
            action: "bc",
            subject: "",
            detail: "{}",
            prev_hash: GENESIS_HASH,
        });
        assert_ne!(a, b);
    }

    #[test]
    fn each_kind_of_tampering_names_the_first_bad_entry() {
        let entries = chain(6);
        let (seq, hash) = head(&entries);

        let mut changed = entries.clone();
        changed[2].actor = "user:mallory".into();
        let result = verify_entries(&changed, seq, &hash, None);
        let bad = result.first_bad.unwrap();
        assert_eq!(
            (bad.id, bad.problem),
            (Some(3), ChainProblem::ContentChanged)
        );

        let mut deleted = entries.clone();
        deleted.remove(3);
        let bad = verify_entries(&deleted, seq, &hash, None)
            .first_bad
            .unwrap();
        assert_eq!(bad.id, Some(5));
        assert!(matches!(
            bad.problem,
            ChainProblem::OutOfSequence {
                expected_seq: 4,
                found_seq: 5
            }
        ));

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        let bad = verify_entries(&reordered, seq, &hash, None)
            .first_bad
            .unwrap();
        assert_eq!(bad.id, Some(3));

        let mut forged = entries.clone();
        let mut extra = chain(7).pop().unwrap();
        extra.prev_hash = Some(hash.clone());
        extra.hash = Some(entry_hash(EntryContent {
            seq: 7,
            at_ms: extra.at_ms,
            actor: &extra.actor,
            action: &extra.action,
            subject: &extra.subject,
            detail: &extra.detail,
            prev_hash: &hash,
        }));
        forged.push(extra);
        let bad = verify_entries(&forged, seq, &hash, None).first_bad.unwrap();
        assert_eq!(
            bad.id,
            Some(7),
            "a well-formed row appended behind the head"
        );

        let mut tail_cut = entries.clone();
        tail_cut.pop();
        let bad = verify_entries(&tail_cut, seq, &hash, None)
            .first_bad
            .unwrap();
        assert!(matches!(bad.problem, ChainProblem::HeadMismatch { .. }));

        let mut unsealed = entries.clone();
        unsealed[4].hash = None;
        let bad = verify_entries(&unsealed, seq, &hash, None)
            .first_bad
            .unwrap();
        assert_eq!((bad.id, bad.problem), (Some(5), ChainProblem::Unsealed));

        let bad = verify_entries(&entries, seq, &hash, Some(GENESIS_HASH))
            .first_bad
            .unwrap();
        assert!(matches!(bad.problem, ChainProblem::UnexpectedHead { .. }));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Tamper {
            Change(usize),
            Delete(usize),
            Swap(usize),
            Duplicate(usize),
            TruncateTail,
        }

        fn tamper() -> impl Strategy<Value = Tamper> {
            prop_oneof![
                any::<usize>().prop_map(Tamper::Change),
                any::<usize>().prop_map(Tamper::Delete),
                any::<usize>().prop_map(Tamper::Swap),
                any::<usize>().prop_map(Tamper::Duplicate),
                Just(Tamper::TruncateTail),
            ]
        }

        proptest! {
            /// Any single change, deletion, swap of neighbours, duplication or cut tail is
            /// caught, and the named entry is never before the tampered position.
            #[test]
            fn every_single_tampering_is_caught(len in 2i64..40, how in tamper()) {
                let entries = chain(len);
                let (seq, hash) = head(&entries);
                let n = entries.len();
                let mut rows = entries.clone();
                let first_touched_id = match how {
                    Tamper::Change(i) => {
                        let i = i % n;
                        rows[i].detail.push(' ');
                        rows[i].id
                    }
                    Tamper::Delete(i) => {
                        let i = i % n;
                        rows.remove(i);
                        entries[i].id
                    }
                    Tamper::Swap(i) => {
                        let i = i % (n - 1);
                        let (a, b) = (rows[i].id, rows[i + 1].id);
                        rows.swap(i, i + 1);
                        rows[i].id = a;
                        rows[i + 1].id = b;
                        a
                    }
                    Tamper::Duplicate(i) => {
                        let i = i % n;
                        let mut copy = rows[i].clone();
                        copy.id = rows[i].id;
                        rows.insert(i + 1, copy);
                        for (k, row) in rows.iter_mut().enumerate().skip(i + 1) {
                            row.id = entries[0].id + k as i64;
                        }
                        entries[i].id + 1
                    }
                    Tamper::TruncateTail => {
                        rows.pop();
                        entries[n - 1].id
                    }
                };
                let result = verify_entries(&rows, seq, &hash, None);
                prop_assert!(!result.ok);
                let bad = result.first_bad.unwrap();
                if let Some(id) = bad.id {
                    prop_assert!(id >= first_touched_id, "named {id}, touched {first_touched_id}");
                }
            }
        }
    }
}
