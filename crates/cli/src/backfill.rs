//! `fxdesk backfill gaps | plan | approve | apply | report`: the outage backfill over a data
//! directory's journal (see `crates/backfill`). Wiring only.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use fxdesk_backfill::{calendar, gaps, plan, report, Plan, PlanRequest, Policy};
use fxdesk_engine::{Engine, EngineConfig};

#[derive(Args, Debug)]
pub struct BackfillArgs {
    #[command(subcommand)]
    command: BackfillCommand,
}

#[derive(Subcommand, Debug)]
enum BackfillCommand {
    /// List outage windows: silences of the journaled feed during market hours.
    Gaps(GapsArgs),
    /// Replay a window against the state before it and write the plan (JSON).
    Plan(PlanArgs),
    /// Record an approval of a plan (two different users are needed).
    Approve(ApproveArgs),
    /// Write an approved plan's corrections to the journal (server stopped), then resume.
    Apply(ApplyArgs),
    /// Print a plan as a table, or write its HTML page with a chart for one order.
    Report(ReportArgs),
}

#[derive(Args, Debug)]
struct GapsArgs {
    /// Data directory; the journal lives in its `journal/` subdirectory.
    #[arg(long, default_value = "fxdesk-data")]
    data_dir: PathBuf,
    /// A silence longer than this (market time, seconds) is an outage.
    #[arg(long, default_value_t = 60)]
    min_silence_secs: i64,
    /// Where a silence at the end of the journal is measured to (RFC 3339; default now).
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[arg(long, default_value = "fxdesk-data")]
    data_dir: PathBuf,
    /// Start of the outage (RFC 3339): the state after every record at or before it is used.
    #[arg(long)]
    from: String,
    /// End of the outage (RFC 3339).
    #[arg(long)]
    to: String,
    /// Tick files (our CSV `time,instrument,bid,ask`) covering the window.
    #[arg(long, num_args = 1.., required = true)]
    ticks: Vec<PathBuf>,
    /// Policy TOML (defaults: crates/backfill/policy.default.toml).
    #[arg(long)]
    policy: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Also write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The order (or position) the HTML chart shows.
    #[arg(long)]
    order: Option<u64>,
}

#[derive(Args, Debug)]
struct ApproveArgs {
    plan: PathBuf,
    /// Who approves.
    #[arg(long = "as")]
    user: String,
    #[command(flatten)]
    audit: AuditArgs,
}

/// Where the desk's audit chain is, so approvals and applications are appended to it.
#[derive(Args, Debug)]
struct AuditArgs {
    /// Append this action to the audit chain of the desk whose data directory this is
    /// (`desk.sqlite` inside).
    #[arg(long)]
    audit_desk_dir: Option<PathBuf>,
    /// Append this action to the audit chain of the desk in this PostgreSQL database.
    #[arg(long)]
    audit_db_url: Option<String>,
}

impl AuditArgs {
    /// Appends a money action to the desk's audit chain, when a desk was named.
    fn record(
        &self,
        actor: &str,
        action: fxdesk_desk::audit::MoneyAction,
        plan: &Plan,
        detail: serde_json::Value,
    ) -> anyhow::Result<Option<i64>> {
        if self.audit_desk_dir.is_none() && self.audit_db_url.is_none() {
            return Ok(None);
        }
        let at = crate::report::DeskLocation {
            config: None,
            data_dir: self
                .audit_desk_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("fxdesk-data")),
            database_url: self.audit_db_url.clone(),
        };
        let subject = format!("backfill-plan:{}", plan.plan_id);
        let mut detail = detail;
        detail["plan_sha256"] = serde_json::json!(plan.plan_sha256);
        let entry = crate::report::runtime()?.block_on(async {
            let desk = crate::report::open_desk(&at).await?;
            anyhow::Ok(
                desk.record_money_action(actor, action, &subject, &detail)
                    .await?,
            )
        })?;
        Ok(Some(entry))
    }
}

#[derive(Args, Debug)]
struct ApplyArgs {
    plan: PathBuf,
    #[arg(long, default_value = "fxdesk-data")]
    data_dir: PathBuf,
    /// Who applies (recorded in the audit chain).
    #[arg(long = "as", default_value = "operator")]
    user: String,
    #[command(flatten)]
    audit: AuditArgs,
}

#[derive(Args, Debug)]
struct ReportArgs {
    plan: PathBuf,
    #[arg(long)]
    html: Option<PathBuf>,
    #[arg(long)]
    order: Option<u64>,
}

fn initial_state() -> Engine {
    // The default configuration is valid by construction (tested in the engine).
    Engine::new(EngineConfig::default()).unwrap_or_else(|e| panic!("default engine config: {e}"))
}

fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

fn now_ns() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

fn time_arg(text: &str, what: &str) -> anyhow::Result<i64> {
    calendar::parse_time(text).map_err(|e| anyhow::anyhow!("--{what}: {e}"))
}

fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    Ok(plan::read_plan_file(path)?)
}

fn write_plan(path: &Path, plan: &Plan) -> anyhow::Result<()> {
    Ok(plan::write_plan_file(path, plan)?)
}

pub fn run(args: BackfillArgs) -> anyhow::Result<()> {
    match args.command {
        BackfillCommand::Gaps(args) => {
            let until = match &args.until {
                Some(t) => time_arg(t, "until")?,
                None => now_ns(),
            };
            let found = gaps::find_gaps(
                &journal_dir(&args.data_dir),
                args.min_silence_secs.max(0) * 1_000_000_000,
                Some(until),
            )?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else if found.is_empty() {
                println!(
                    "no outage: the journal has no silence over {} s in market hours",
                    args.min_silence_secs
                );
            } else {
                for gap in &found {
                    println!(
                        "{} .. {}  {} market minutes  (after seq {})",
                        gap.from,
                        gap.to.as_deref().unwrap_or("still down"),
                        gap.market_seconds / 60,
                        gap.last_seq_before
                    );
                }
            }
        }
        BackfillCommand::Plan(args) => {
            let policy = match &args.policy {
                Some(path) => Policy::from_toml(
                    &std::fs::read_to_string(path)
                        .with_context(|| format!("read {}", path.display()))?,
                )?,
                None => Policy::default(),
            };
            let request = PlanRequest {
                journal_dir: journal_dir(&args.data_dir),
                from_ns: time_arg(&args.from, "from")?,
                to_ns: time_arg(&args.to, "to")?,
                tick_sources: args.ticks.clone(),
                policy,
                guard_flags: Some(fxdesk_backfill::guard_flags::path_in(&args.data_dir)),
            };
            let made = fxdesk_backfill::plan_from_journal(&request, initial_state)?;
            write_plan(&args.out, &made)?;
            print!("{}", report::terminal_table(&made));
            println!("plan written to {}", args.out.display());
            if let Some(html) = &args.html {
                std::fs::write(html, report::html_page(&made, args.order))
                    .with_context(|| format!("write {}", html.display()))?;
                println!("report written to {}", html.display());
            }
        }
        BackfillCommand::Approve(args) => {
            let mut loaded = read_plan(&args.plan)?;
            plan::approve(&mut loaded, &args.user, jiff::Timestamp::now().to_string())?;
            write_plan(&args.plan, &loaded)?;
            args.audit.record(
                &args.user,
                fxdesk_desk::audit::MoneyAction::BackfillApprove,
                &loaded,
                serde_json::json!({"corrections": loaded.corrections.len()}),
            )?;
            let users = plan::approvers(&loaded);
            println!(
                "plan {} approved by {} ({} of {} approvals)",
                loaded.plan_id,
                args.user,
                users.len(),
                plan::APPROVALS_NEEDED
            );
        }
        BackfillCommand::Apply(args) => {
            let loaded = read_plan(&args.plan)?;
            let dir = journal_dir(&args.data_dir);
            if !dir.is_dir() {
                bail!("no journal directory at {}", dir.display());
            }
            let flags = fxdesk_backfill::guard_flags::path_in(&args.data_dir);
            let done =
                fxdesk_backfill::apply(&loaded, &dir, Some(&flags), initial_state, now_ns())?;
            args.audit.record(
                &args.user,
                fxdesk_desk::audit::MoneyAction::BackfillApply,
                &loaded,
                serde_json::json!({"commands_written": done.executed,
                                   "already_applied": done.already_applied,
                                   "journal_seq": done.last_seq,
                                   "approvers": plan::approvers(&loaded)}),
            )?;
            println!(
                "plan {}: {} commands written, {} already applied earlier{}; journal at seq {}",
                done.plan_id,
                done.executed,
                done.already_applied,
                if done.resumed {
                    ", trading resumed"
                } else {
                    ""
                },
                done.last_seq
            );
        }
        BackfillCommand::Report(args) => {
            let loaded = read_plan(&args.plan)?;
            plan::check_integrity(&loaded)?;
            match &args.html {
                Some(html) => {
                    std::fs::write(html, report::html_page(&loaded, args.order))
                        .with_context(|| format!("write {}", html.display()))?;
                    println!("report written to {}", html.display());
                }
                None => print!("{}", report::terminal_table(&loaded)),
            }
        }
    }
    Ok(())
}
