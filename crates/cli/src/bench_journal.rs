//! `fxdesk bench journal` and `fxdesk bench recovery`: the journal's durability cost and replay
//! speed, printed as JSON. The journal bench appends the sample ledger's small commands, so it
//! measures the journal itself; the recovery bench journals and replays a real engine session.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use fxdesk_engine::{Engine, EngineConfig};
use fxdesk_journal::sample::{CommandStream, Ledger, LedgerCommand};
use fxdesk_journal::{Journal, JournalOptions};
use serde::Serialize;

/// Longest a timed phase may be asked to run.
pub const BENCH_SECONDS_MAX: u64 = 600;
/// Most appender threads the journal bench may start.
pub const BENCH_THREADS_MAX: usize = 1024;
/// Most commands the recovery bench may generate (about 4 GB of journal).
pub const RECOVERY_COMMANDS_MAX: u64 = 100_000_000;
/// Latency samples kept per thread; later appends are counted but not sampled.
const LATENCY_SAMPLES_PER_THREAD_MAX: usize = 2_000_000;
/// Recovery target from issue 3.
const REPLAY_TARGET_COMMANDS_PER_S: f64 = 2_000_000.0;
/// Fixed start time of generated commands (2026-01-01T00:00:00Z).
const START_NS: i64 = 1_767_225_600_000_000_000;

#[derive(Args, Debug)]
pub struct JournalBenchArgs {
    /// Directory for the benchmark's files (removed afterwards); put it on the disk to measure.
    #[arg(long, default_value = "fxdesk-data/bench-journal")]
    dir: PathBuf,
    /// Concurrent appenders.
    #[arg(long, default_value_t = 64)]
    threads: usize,
    /// Seconds for each measurement: raw fsync (half before, half after), and group commit.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Print one JSON object (the default output is the same JSON, pretty).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RecoveryBenchArgs {
    /// Directory for the generated journal (removed afterwards unless --keep).
    #[arg(long, default_value = "fxdesk-data/bench-recovery")]
    dir: PathBuf,
    /// Commands to journal and then recover.
    #[arg(long, default_value_t = 10_000_000)]
    commands: u64,
    /// Funded accounts the session opens before its mix (as in `fxdesk bench engine`).
    #[arg(long, default_value_t = 100_000)]
    accounts: u64,
    /// Limit orders the session rests before its mix.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Keep the generated journal.
    #[arg(long)]
    keep: bool,
    /// Print one JSON object (the default output is the same JSON, pretty).
    #[arg(long)]
    json: bool,
}

fn print_json(value: &impl Serialize, compact: bool) -> anyhow::Result<()> {
    let text = if compact {
        serde_json::to_string(value)?
    } else {
        serde_json::to_string_pretty(value)?
    };
    println!("{text}");
    Ok(())
}

#[derive(Serialize)]
struct Percentiles {
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

fn percentiles(samples_ns: &mut [u64]) -> Percentiles {
    samples_ns.sort_unstable();
    let at = |fraction: f64| -> f64 {
        if samples_ns.is_empty() {
            return 0.0;
        }
        let index = ((samples_ns.len() - 1) as f64 * fraction).round() as usize;
        samples_ns[index] as f64 / 1000.0
    };
    Percentiles {
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

#[derive(Serialize)]
struct RawFsync {
    fsyncs: u64,
    fsyncs_per_s: f64,
    latency: Percentiles,
    bytes_per_write: usize,
}

#[derive(Serialize)]
struct GroupCommit {
    threads: usize,
    appends: u64,
    durable_appends_per_s: f64,
    ack_latency: Percentiles,
    group_commits: u64,
    records_per_group_commit_avg: f64,
    payload_bytes_avg: f64,
}

#[derive(Serialize)]
struct JournalBenchReport {
    benchmark: &'static str,
    dir: String,
    seconds_per_phase: u64,
    raw_fsync: RawFsync,
    group_commit: GroupCommit,
    /// Durable appends per second divided by raw fsyncs per second: what group commit buys.
    group_commit_vs_raw_fsync: f64,
}

/// A fresh, empty benchmark directory; refuses to reuse a non-empty one it did not make.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!("{} is not empty; give an empty or new --dir", dir.display());
        }
    }
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))
}

/// Appends 64 bytes and fdatasyncs, over and over, for `duration`; returns each call's latency
/// and the time taken.
fn raw_fsync_samples(dir: &Path, duration: Duration) -> anyhow::Result<(Vec<u64>, f64)> {
    let path = dir.join("raw-fsync.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("create {}", path.display()))?;
    let mut samples_ns = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration && samples_ns.len() < LATENCY_SAMPLES_PER_THREAD_MAX {
        let begun = Instant::now();
        file.write_all(&RAW_FSYNC_BLOCK)
            .context("write raw fsync file")?;
        file.sync_data().context("fdatasync raw fsync file")?;
        samples_ns.push(begun.elapsed().as_nanos() as u64);
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    Ok((samples_ns, elapsed_s))
}

/// What one raw fsync writes: about one small record.
const RAW_FSYNC_BLOCK: [u8; 64] = [0x5a; 64];

/// This disk's raw fsync rate from samples taken half before and half after the group-commit
/// phase, so a disk whose speed drifts (shared machines) is compared fairly.
fn raw_fsync_report(before: (Vec<u64>, f64), after: (Vec<u64>, f64)) -> RawFsync {
    let (mut samples_ns, before_s) = before;
    let (after_samples_ns, after_s) = after;
    samples_ns.extend(after_samples_ns);
    let fsyncs = samples_ns.len() as u64;
    RawFsync {
        fsyncs,
        fsyncs_per_s: fsyncs as f64 / (before_s + after_s),
        latency: percentiles(&mut samples_ns),
        bytes_per_write: RAW_FSYNC_BLOCK.len(),
    }
}

fn measure_group_commit(
    dir: &Path,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<GroupCommit> {
    let (journal, _) = Journal::<Ledger>::open(dir, JournalOptions::default(), Ledger::default)?;
    let journal = Arc::new(journal);
    let payload_bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let journal = Arc::clone(&journal);
            let payload_bytes = Arc::clone(&payload_bytes);
            std::thread::spawn(move || -> anyhow::Result<(u64, Vec<u64>)> {
                let mut samples_ns = Vec::new();
                let mut appends = 0u64;
                let mut commands = CommandStream::new(thread as u64 + 1, 10_000, START_NS, 0);
                while started.elapsed() < duration {
                    let command = commands.next().context("command stream ended")?;
                    let size = postcard_size(&command);
                    let begun = Instant::now();
                    journal.append(&command)?;
                    if samples_ns.len() < LATENCY_SAMPLES_PER_THREAD_MAX {
                        samples_ns.push(begun.elapsed().as_nanos() as u64);
                    }
                    payload_bytes.fetch_add(size, Ordering::Relaxed);
                    appends += 1;
                }
                Ok((appends, samples_ns))
            })
        })
        .collect();
    let mut appends = 0;
    let mut samples_ns = Vec::new();
    for worker in workers {
        let (count, samples) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("appender thread panicked"))??;
        appends += count;
        samples_ns.extend(samples);
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let group_commits = journal.group_commits();
    let journal = Arc::try_unwrap(journal).map_err(|_| anyhow::anyhow!("journal still shared"))?;
    journal.close();
    Ok(GroupCommit {
        threads,
        appends,
        durable_appends_per_s: appends as f64 / elapsed_s,
        ack_latency: percentiles(&mut samples_ns),
        group_commits,
        records_per_group_commit_avg: appends as f64 / group_commits.max(1) as f64,
        payload_bytes_avg: payload_bytes.load(Ordering::Relaxed) as f64 / appends.max(1) as f64,
    })
}

fn postcard_size(command: &LedgerCommand) -> u64 {
    // Only for the average payload size in the report; never fails for ledger commands.
    fxdesk_journal::encoded_command_len::<Ledger>(command).map_or(0, |len| len as u64)
}

pub fn run_journal(args: JournalBenchArgs) -> anyhow::Result<()> {
    if args.threads == 0 || args.threads > BENCH_THREADS_MAX {
        bail!("--threads must be 1..={BENCH_THREADS_MAX}");
    }
    if args.seconds == 0 || args.seconds > BENCH_SECONDS_MAX {
        bail!("--seconds must be 1..={BENCH_SECONDS_MAX}");
    }
    fresh_dir(&args.dir)?;
    let duration = Duration::from_secs(args.seconds);
    let outcome = (|| -> anyhow::Result<JournalBenchReport> {
        let raw_before = raw_fsync_samples(&args.dir, duration / 2)?;
        let group_commit = measure_group_commit(&args.dir.join("journal"), args.threads, duration)?;
        let raw_after = raw_fsync_samples(&args.dir, duration / 2)?;
        let raw_fsync = raw_fsync_report(raw_before, raw_after);
        Ok(JournalBenchReport {
            benchmark: "journal",
            dir: args.dir.display().to_string(),
            seconds_per_phase: args.seconds,
            group_commit_vs_raw_fsync: group_commit.durable_appends_per_s / raw_fsync.fsyncs_per_s,
            raw_fsync,
            group_commit,
        })
    })();
    fs::remove_dir_all(&args.dir).with_context(|| format!("remove {}", args.dir.display()))?;
    print_json(&outcome?, args.json)
}

#[derive(Serialize)]
struct RecoveryBenchReport {
    benchmark: &'static str,
    state_machine: &'static str,
    dir: String,
    commands: u64,
    accounts: u64,
    resting_orders: u64,
    journal_bytes: u64,
    segments: usize,
    generate_s: f64,
    /// Frames and checksums only (`fxdesk journal verify`).
    verify_s: f64,
    /// Applying the same commands in memory, without the journal: the engine's own cost.
    apply_only_s: f64,
    /// `Journal::open`: read, check, decode and apply every record, then start the writer.
    recover_s: f64,
    replay_commands_per_s: f64,
    target_commands_per_s: f64,
    meets_target: bool,
    /// Whether the recovered state hash equals the hash of the state applied in memory.
    state_matches: bool,
    page_cache: &'static str,
}

/// Commands a session spends before its mix: 6 first quotes, an account and a deposit per
/// account, one placement per resting order.
fn session_setup_commands(accounts: u64, orders: u64) -> u64 {
    6 + 2 * accounts + orders
}

/// Journals an engine session (accounts, resting orders, then the quote-heavy mix of
/// `fxdesk bench engine`) and returns the engine as it stands after applying it in memory.
fn generate(dir: &Path, commands: u64, accounts: u64, orders: u64) -> anyhow::Result<Engine> {
    let initial = Engine::new(EngineConfig::default())?;
    let (journal, _) = Journal::<Engine>::open(dir, JournalOptions::default(), || initial)?;
    let mix = commands - session_setup_commands(accounts, orders);
    let failures = Arc::new(AtomicU64::new(0));
    let engine = crate::bench_engine::record_session(accounts, orders, mix, 42, |command| {
        let failures = Arc::clone(&failures);
        journal.submit_with(command, move |outcome| {
            if outcome.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        })?;
        Ok(())
    })?;
    // `close` drains the queue: every submitted record is durable when it returns.
    journal.close();
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} appends failed while generating the journal");
    }
    Ok(engine)
}

pub fn run_recovery(args: RecoveryBenchArgs) -> anyhow::Result<()> {
    if args.commands == 0 || args.commands > RECOVERY_COMMANDS_MAX {
        bail!("--commands must be 1..={RECOVERY_COMMANDS_MAX}");
    }
    let setup = session_setup_commands(args.accounts, args.orders);
    if args.accounts == 0 || args.orders > args.accounts * 1_000 || args.commands <= setup {
        bail!(
            "--commands must exceed the session's setup ({setup} commands for these --accounts \
             and --orders), with at most 1,000 orders per account"
        );
    }
    let journal_dir = args.dir.join("journal");
    fresh_dir(&args.dir)?;
    eprintln!(
        "bench recovery: journaling {} engine commands",
        args.commands
    );
    let started = Instant::now();
    let live = generate(&journal_dir, args.commands, args.accounts, args.orders)?;
    let generate_s = started.elapsed().as_secs_f64();

    let segments = fxdesk_journal::list_segments(&journal_dir)?;
    let mut journal_bytes = 0;
    for segment in &segments {
        journal_bytes += fs::metadata(&segment.path)?.len();
    }

    eprintln!("bench recovery: verifying frames and checksums");
    let started = Instant::now();
    let verified = fxdesk_journal::verify(&journal_dir)?;
    let verify_s = started.elapsed().as_secs_f64();
    if verified.records != args.commands {
        bail!(
            "the journal holds {} records, expected {}",
            verified.records,
            args.commands
        );
    }

    eprintln!("bench recovery: applying the same session in memory");
    let started = Instant::now();
    let in_memory = crate::bench_engine::record_session(
        args.accounts,
        args.orders,
        args.commands - setup,
        42,
        |_| Ok(()),
    )?;
    let apply_only_s = started.elapsed().as_secs_f64();

    eprintln!("bench recovery: recovering from the journal");
    let initial = Engine::new(EngineConfig::default())?;
    let started = Instant::now();
    let (journal, recovered) =
        Journal::<Engine>::open(&journal_dir, JournalOptions::default(), || initial)?;
    let recover_s = started.elapsed().as_secs_f64();
    journal.close();
    if recovered.last_seq != args.commands {
        bail!(
            "recovered {} commands, expected {}",
            recovered.last_seq,
            args.commands
        );
    }
    let replay_commands_per_s = args.commands as f64 / recover_s;
    let report = RecoveryBenchReport {
        benchmark: "recovery",
        state_machine: "fxdesk-engine",
        dir: args.dir.display().to_string(),
        commands: args.commands,
        accounts: args.accounts,
        resting_orders: args.orders,
        journal_bytes,
        segments: segments.len(),
        generate_s,
        verify_s,
        apply_only_s,
        recover_s,
        replay_commands_per_s,
        target_commands_per_s: REPLAY_TARGET_COMMANDS_PER_S,
        meets_target: replay_commands_per_s >= REPLAY_TARGET_COMMANDS_PER_S,
        state_matches: recovered.state.state_hash() == live.state_hash()
            && in_memory.state_hash() == live.state_hash(),
        page_cache: "warm (the journal was just written and verified)",
    };
    if !args.keep {
        fs::remove_dir_all(&args.dir).with_context(|| format!("remove {}", args.dir.display()))?;
    }
    print_json(&report, args.json)
}
