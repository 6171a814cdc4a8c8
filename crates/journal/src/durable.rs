//! A journal together with the state it protects, for a single owner of the state.
//!
//! The dealing engine pipelines (submit, apply in seq order, answer after durability) and uses
//! [`Journal`] directly; tools, tests and simple services use this: execute = append (durable)
//! then apply.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::journal::{Journal, JournalOptions, RecoveryReport};
use crate::machine::StateMachine;

/// A state machine whose every applied command is durable first.
pub struct Durable<S: StateMachine> {
    journal: Journal<S>,
    state: S,
    applied_seq: u64,
    applied_time_ns: Option<i64>,
}

impl<S: StateMachine> Durable<S> {
    /// Opens the journal in `dir` and recovers the state (see [`Journal::open`]).
    pub fn open(
        dir: &Path,
        options: JournalOptions,
        initial_state: impl FnOnce() -> S,
    ) -> Result<(Self, RecoveryReport)> {
        let (journal, recovered) = Journal::open(dir, options, initial_state)?;
        let durable = Durable {
            journal,
            state: recovered.state,
            applied_seq: recovered.last_seq,
            applied_time_ns: recovered.last_time_ns,
        };
        Ok((durable, recovered.report))
    }

    /// Makes `command` durable, then applies it. Returns its seq and what applying produced.
    /// If the append fails, the state is untouched.
    pub fn execute(&mut self, command: &S::Command) -> Result<(u64, S::Output)> {
        let seq = self.journal.append(command)?;
        debug_assert_eq!(
            seq,
            self.applied_seq + 1,
            "a single owner sees consecutive seqs"
        );
        let output = self.state.apply(command);
        self.applied_seq = seq;
        self.applied_time_ns = Some(S::command_time_ns(command));
        Ok((seq, output))
    }

    /// Writes a snapshot if `snapshot_every_commands` have passed since the last one.
    pub fn snapshot_if_due(&mut self) -> Result<Option<PathBuf>> {
        if self.journal.snapshot_due(self.applied_seq) {
            self.snapshot_now()
        } else {
            Ok(None)
        }
    }

    /// Writes a snapshot of the current state now (None if nothing was ever applied).
    pub fn snapshot_now(&mut self) -> Result<Option<PathBuf>> {
        match self.applied_time_ns {
            Some(time_ns) if self.applied_seq > 0 => self
                .journal
                .write_snapshot(&self.state, self.applied_seq, time_ns)
                .map(Some),
            _ => Ok(None),
        }
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    /// Sequence number of the last applied (and durable) command.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    pub fn journal(&self) -> &Journal<S> {
        &self.journal
    }

    /// Closes the journal and hands back the state.
    pub fn close(self) -> S {
        self.journal.close();
        self.state
    }
}
