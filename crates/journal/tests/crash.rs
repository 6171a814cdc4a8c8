//! A child process appending from many threads is killed with SIGKILL mid-append, three times in
//! a row on the same directory; every acknowledged seq must be there after each recovery.
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::START_NS;
use fxdesk_journal::sample::{Ledger, LedgerCommand};
use fxdesk_journal::{records, verify, Journal, JournalOptions};

/// Set in the child: the journal directory it appends to.
const CHILD_DIR_ENV: &str = "FXDESK_JOURNAL_CRASH_CHILD_DIR";
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill_of_the_writer_process";

fn options() -> JournalOptions {
    JournalOptions {
        segment_bytes_max: 16 * 1024,
        ..JournalOptions::default()
    }
}

/// The child: append forever from 8 threads, printing each acknowledged seq.
fn run_child(dir: &str) -> ! {
    let (journal, _) =
        Journal::<Ledger>::open(std::path::Path::new(dir), options(), Ledger::default).unwrap();
    let journal = Arc::new(journal);
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..8u32)
        .map(|thread| {
            let journal = Arc::clone(&journal);
            let stdout = Arc::clone(&stdout);
            std::thread::spawn(move || loop {
                let command = LedgerCommand::Deposit {
                    time_ns: START_NS,
                    account: thread,
                    amount_minor: 1,
                };
                let seq = journal.append(&command).unwrap();
                let mut out = stdout.lock().unwrap();
                writeln!(out, "acked {seq}").unwrap();
                out.flush().unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    unreachable!("appenders never stop");
}

#[test]
fn acknowledged_appends_survive_sigkill_of_the_writer_process() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acked_max = 0u64;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(seq) = line.strip_prefix("acked ") {
                    acked.push(seq.parse::<u64>().unwrap());
                }
            }
            acked
        });
        // Let it run until it has acknowledged a few hundred appends (or a time limit), then kill.
        let started = Instant::now();
        let round_start_size = dir_size(dir.path());
        while started.elapsed() < Duration::from_secs(3)
            && dir_size(dir.path()) < round_start_size + 20_000
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(
            !acked.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        acked_max = acked_max.max(*acked.iter().max().unwrap());

        verify(dir.path()).unwrap();
        let (journal, recovered) =
            Journal::<Ledger>::open(dir.path(), options(), Ledger::default).unwrap();
        assert!(
            recovered.last_seq >= acked_max,
            "round {round}: acked {acked_max}, recovered {}",
            recovered.last_seq
        );
        let deposited: i64 = recovered.state.balances_minor.values().sum();
        assert_eq!(
            deposited as u64, recovered.last_seq,
            "every record applied once"
        );
        journal.close();
        let stored = records::<Ledger>(dir.path(), 1).unwrap().count() as u64;
        assert_eq!(stored, recovered.last_seq);
        acked_max = recovered.last_seq;
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
