//! A small deterministic ledger (balances, deposits, withdrawals, transfers) that implements
//! [`StateMachine`]. It exists to test and benchmark the journal on its own, apart from the
//! dealing engine; it is not fxdesk's business logic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::machine::StateMachine;

/// Account balances in minor units, plus counters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub balances_minor: BTreeMap<u32, i64>,
    pub commands_applied: u64,
    pub commands_rejected: u64,
}

/// A ledger command, stamped with its time (UTC ns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerCommand {
    Deposit {
        time_ns: i64,
        account: u32,
        amount_minor: i64,
    },
    Withdraw {
        time_ns: i64,
        account: u32,
        amount_minor: i64,
    },
    Transfer {
        time_ns: i64,
        from: u32,
        to: u32,
        amount_minor: i64,
    },
}

/// Why the ledger refused a command (the command is still journaled: rejection is an outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerReject {
    NonPositiveAmount,
    InsufficientFunds,
    SameAccount,
    BalanceOverflow,
}

impl Ledger {
    fn try_apply(&mut self, command: &LedgerCommand) -> Result<(), LedgerReject> {
        match *command {
            LedgerCommand::Deposit {
                account,
                amount_minor,
                ..
            } => {
                positive(amount_minor)?;
                let balance = self.balance_minor(account);
                let new_balance = balance
                    .checked_add(amount_minor)
                    .ok_or(LedgerReject::BalanceOverflow)?;
                self.balances_minor.insert(account, new_balance);
            }
            LedgerCommand::Withdraw {
                account,
                amount_minor,
                ..
            } => {
                positive(amount_minor)?;
                let balance = self.balance_minor(account);
                if balance < amount_minor {
                    return Err(LedgerReject::InsufficientFunds);
                }
                self.balances_minor.insert(account, balance - amount_minor);
            }
            LedgerCommand::Transfer {
                from,
                to,
                amount_minor,
                ..
            } => {
                positive(amount_minor)?;
                if from == to {
                    return Err(LedgerReject::SameAccount);
                }
                let from_balance = self.balance_minor(from);
                if from_balance < amount_minor {
                    return Err(LedgerReject::InsufficientFunds);
                }
                let to_balance = self
                    .balance_minor(to)
                    .checked_add(amount_minor)
                    .ok_or(LedgerReject::BalanceOverflow)?;
                self.balances_minor
                    .insert(from, from_balance - amount_minor);
                self.balances_minor.insert(to, to_balance);
            }
        }
        Ok(())
    }

    pub fn balance_minor(&self, account: u32) -> i64 {
        self.balances_minor.get(&account).copied().unwrap_or(0)
    }
}

fn positive(amount_minor: i64) -> Result<(), LedgerReject> {
    if amount_minor > 0 {
        Ok(())
    } else {
        Err(LedgerReject::NonPositiveAmount)
    }
}

impl StateMachine for Ledger {
    type Command = LedgerCommand;
    type Output = Result<(), LedgerReject>;

    fn apply(&mut self, command: &LedgerCommand) -> Self::Output {
        let outcome = self.try_apply(command);
        match outcome {
            Ok(()) => self.commands_applied += 1,
            Err(_) => self.commands_rejected += 1,
        }
        outcome
    }

    fn state_hash(&self) -> u64 {
        let mut hash = Fnv64::default();
        for (account, balance) in &self.balances_minor {
            hash.write(&account.to_le_bytes());
            hash.write(&balance.to_le_bytes());
        }
        hash.write(&self.commands_applied.to_le_bytes());
        hash.write(&self.commands_rejected.to_le_bytes());
        hash.0
    }

    fn command_time_ns(command: &LedgerCommand) -> i64 {
        match *command {
            LedgerCommand::Deposit { time_ns, .. }
            | LedgerCommand::Withdraw { time_ns, .. }
            | LedgerCommand::Transfer { time_ns, .. } => time_ns,
        }
    }
}

/// FNV-1a, 64 bit: tiny, stable across platforms and releases (unlike std's hasher).
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A deterministic stream of ledger commands: mostly transfers between `accounts` accounts,
/// some deposits and withdrawals, times `step_ns` apart from `start_ns`. Same seed, same stream.
pub struct CommandStream {
    rng_state: u64,
    accounts: u32,
    next_time_ns: i64,
    step_ns: i64,
}

impl CommandStream {
    pub fn new(seed: u64, accounts: u32, start_ns: i64, step_ns: i64) -> Self {
        CommandStream {
            // xorshift must not start at zero.
            rng_state: seed | 1,
            accounts: accounts.max(2),
            next_time_ns: start_ns,
            step_ns,
        }
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng_state = x;
        x
    }
}

impl Iterator for CommandStream {
    type Item = LedgerCommand;

    fn next(&mut self) -> Option<LedgerCommand> {
        let random = self.next_random();
        let time_ns = self.next_time_ns;
        self.next_time_ns = self.next_time_ns.saturating_add(self.step_ns);
        let account = (random % u64::from(self.accounts)) as u32;
        let other = ((random >> 20) % u64::from(self.accounts)) as u32;
        let amount_minor = ((random >> 40) % 10_000) as i64 + 1;
        let command = match random % 10 {
            0..=1 => LedgerCommand::Deposit {
                time_ns,
                account,
                amount_minor: amount_minor * 10,
            },
            2 => LedgerCommand::Withdraw {
                time_ns,
                account,
                amount_minor,
            },
            _ => LedgerCommand::Transfer {
                time_ns,
                from: account,
                to: other,
                amount_minor,
            },
        };
        Some(command)
    }
}
