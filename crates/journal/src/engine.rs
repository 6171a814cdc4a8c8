//! The dealing engine as the journaled state machine: commands are [`fxdesk_engine::Command`]s,
//! the state is the whole [`fxdesk_engine::Engine`], outputs are the engine's events.

use fxdesk_engine::{Command, Engine, Event};

use crate::machine::StateMachine;

impl StateMachine for Engine {
    type Command = Command;
    type Output = Vec<Event>;

    fn apply(&mut self, command: &Command) -> Vec<Event> {
        Engine::apply(self, command)
    }

    fn state_hash(&self) -> u64 {
        Engine::state_hash(self)
    }

    fn command_time_ns(command: &Command) -> i64 {
        command.time_ns
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap is how a test fails
mod tests {
    use super::*;
    use crate::{state_at, At, Journal, JournalOptions};
    use fxdesk_engine::{CommandKind, Currency, EngineConfig, GroupId, PositionMode};

    fn fresh() -> Engine {
        Engine::new(EngineConfig::default()).unwrap()
    }

    #[test]
    fn engine_commands_round_trip_through_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) =
            Journal::<Engine>::open(dir.path(), JournalOptions::default(), fresh).unwrap();
        let mut live = fresh();
        let commands = [
            CommandKind::OpenAccount {
                group: GroupId(1),
                currency: Currency::JPY,
                mode: PositionMode::Hedging,
            },
            CommandKind::Deposit {
                account: fxdesk_engine::AccountId(1),
                amount_minor: 1_000_000,
            },
        ];
        for (i, kind) in commands.into_iter().enumerate() {
            let command = Command {
                time_ns: 1_000 + i as i64,
                kind,
            };
            journal.append(&command).unwrap();
            StateMachine::apply(&mut live, &command);
        }
        journal.close();
        let replayed = state_at(dir.path(), At::Seq(2), fresh).unwrap();
        assert_eq!(replayed.state.state_hash(), live.state_hash());
        assert_eq!(
            replayed
                .state
                .account(fxdesk_engine::AccountId(1))
                .unwrap()
                .balance_minor,
            1_000_000
        );
    }
}
