//! The contract between the journal and the deterministic state it makes durable.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{JournalError, Result};

/// A deterministic state machine whose commands the journal stores.
///
/// The journal stores commands only; whatever [`StateMachine::apply`] produces (the engine's
/// events) is derived again by replay. Replay is correct only if `apply` is a pure function of
/// the state and the command: no clock, no randomness, no iteration order of unordered maps.
///
/// The state itself is serialized for snapshots, and commands for records, with `postcard`:
/// journaled types must use serde's default externally tagged enums and must not use
/// `#[serde(tag = ..)]`, `#[serde(flatten)]` or `skip_serializing_if` (postcard is not
/// self-describing, so those cannot be read back).
pub trait StateMachine: Serialize + DeserializeOwned + Sized {
    /// One input, as journaled.
    type Command: Serialize + DeserializeOwned;
    /// What applying a command yields (events, a rejection); discarded during replay.
    type Output;

    /// Applies one command. Must be deterministic and must not panic on any command.
    fn apply(&mut self, command: &Self::Command) -> Self::Output;

    /// A hash of the whole state; equal states give equal hashes across runs and machines.
    /// Stored in snapshots and checked when they are loaded.
    fn state_hash(&self) -> u64;

    /// The command's timestamp (UTC nanoseconds), stamped by the sequencer before journaling.
    /// Successive commands must not go backwards in time.
    fn command_time_ns(command: &Self::Command) -> i64;
}

pub(crate) fn encode_command<S: StateMachine>(command: &S::Command, seq: u64) -> Result<Vec<u8>> {
    postcard::to_allocvec(command).map_err(|error| JournalError::Codec {
        action: "encode",
        seq,
        reason: error.to_string(),
    })
}

/// The size of a command's record payload (its postcard encoding), in bytes.
pub fn encoded_command_len<S: StateMachine>(command: &S::Command) -> Result<usize> {
    encode_command::<S>(command, 0).map(|payload| payload.len())
}

/// Decodes a stored command. Trailing bytes after the command are refused: they mean the record
/// was written by a different command type.
pub fn decode_command<S: StateMachine>(payload: &[u8], seq: u64) -> Result<S::Command> {
    match postcard::take_from_bytes::<S::Command>(payload) {
        Ok((command, [])) => Ok(command),
        Ok((_, rest)) => Err(JournalError::Codec {
            action: "decode",
            seq,
            reason: format!("{} trailing bytes after the command", rest.len()),
        }),
        Err(error) => Err(JournalError::Codec {
            action: "decode",
            seq,
            reason: error.to_string(),
        }),
    }
}
