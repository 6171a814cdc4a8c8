//! `fxdesk audit verify` and `fxdesk report check|draft|submit|impact|classify|export`: the
//! compliance tools. They open the desk's database directly (the same `--config`,
//! `--data-dir` and `--database-url` as `fxdesk desk`); actions that change records
//! (submit, impact, classify) also need a user's API token in `FXDESK_TOKEN`, so they are
//! checked against the same roles and recorded under the same name as over HTTP.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use fxdesk_desk::model::Principal;
use fxdesk_desk::reports::draft::Format;
use fxdesk_desk::reports::rules::DoraAssessment;
use fxdesk_desk::reports::{ComplianceFields, ImpactInput, ReportKind};
use fxdesk_desk::{Desk, DeskConfig, Store, SystemClock};

/// Environment variable with the API token for commands that change records.
pub const TOKEN_ENV: &str = "FXDESK_TOKEN";
/// Largest JSON input file read (fields, impact, assessment).
const MAX_INPUT_BYTES: u64 = 1 << 20;

#[derive(clap::Args, Clone)]
pub struct DeskLocation {
    /// Desk configuration (TOML); its `[reports]` section holds the rules and deadlines.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory; the desk's SQLite file is `<data-dir>/desk.sqlite`.
    #[arg(long, default_value = "fxdesk-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL to use instead of the SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit hash chain and check every kept report version against it; name
    /// the first bad entry (and any bad version) and exit 1 if anything does not match.
    Verify {
        #[command(flatten)]
        at: DeskLocation,
        /// A head hash kept outside the database (from an earlier export); fail if it differs.
        #[arg(long)]
        expect_head: Option<String>,
        /// Print JSON instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum ReportCommand {
    /// List reportable incidents lacking a required report or filed late; exit 1 if any.
    Check {
        #[command(flatten)]
        at: DeskLocation,
        /// Check as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at_time: Option<String>,
        /// Also list reports still pending (not late yet).
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a draft of a report, filled from the incident and a fields file.
    Draft {
        #[command(flatten)]
        at: DeskLocation,
        #[arg(long)]
        incident: i64,
        /// jp_fsa.first, jp_fsa.recovery, jp_fsa.cause_prevention, jp_fsa.status,
        /// eu_dora.initial|intermediate|final, us_sci.immediate|form_sci|interim|final.
        #[arg(long)]
        kind: String,
        /// JSON with what compliance writes (cause, prevention, response, ...).
        #[arg(long)]
        fields: Option<PathBuf>,
        /// md, html or json.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Submit a report (needs a compliance or admin token in FXDESK_TOKEN); the version is kept.
    Submit {
        #[command(flatten)]
        at: DeskLocation,
        #[arg(long)]
        incident: i64,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        fields: Option<PathBuf>,
    },
    /// Record an incident's impact figures from a JSON file (token in FXDESK_TOKEN).
    Impact {
        #[command(flatten)]
        at: DeskLocation,
        #[arg(long)]
        incident: i64,
        #[arg(long)]
        file: PathBuf,
    },
    /// Classify an incident under DORA (token in FXDESK_TOKEN); the assessment file is optional.
    Classify {
        #[command(flatten)]
        at: DeskLocation,
        #[arg(long)]
        incident: i64,
        #[arg(long)]
        assessment: Option<PathBuf>,
    },
    /// Write the inspection archive (tar with index.html) for incidents detected in a range.
    Export {
        #[command(flatten)]
        at: DeskLocation,
        /// First day (YYYY-MM-DD, UTC) or an RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (YYYY-MM-DD, UTC), or an RFC 3339 instant (exclusive).
        #[arg(long)]
        to: String,
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

pub(crate) async fn open_desk(at: &DeskLocation) -> anyhow::Result<Arc<Desk>> {
    let mut config = match &at.config {
        Some(path) => DeskConfig::load(path)?,
        None => DeskConfig::default(),
    };
    config.engine.enabled = false;
    let store = match &at.database_url {
        Some(url) => Store::connect(url).await?,
        None => {
            let path = at.data_dir.join("desk.sqlite");
            if !path.exists() {
                bail!("no desk database at {} (see --data-dir)", path.display());
            }
            Store::open_sqlite(&path).await?
        }
    };
    Ok(Desk::open(config, store, Arc::new(SystemClock), None).await?)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > MAX_INPUT_BYTES {
        bail!("{} is larger than {MAX_INPUT_BYTES} bytes", path.display());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

async fn principal(desk: &Desk) -> anyhow::Result<Principal> {
    let token = std::env::var(TOKEN_ENV)
        .with_context(|| format!("this command needs an API token in {TOKEN_ENV}"))?;
    Ok(desk.authenticate(Some(token.trim())).await?)
}

/// Parses `YYYY-MM-DD` (midnight UTC; `end_of_day` moves it to the next midnight) or RFC 3339.
fn parse_instant(text: &str, end_of_day: bool) -> anyhow::Result<i64> {
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let date = if end_of_day {
            date.tomorrow().context("date out of range")?
        } else {
            date
        };
        let at = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .context("date out of range")?;
        return Ok(at.timestamp().as_millisecond());
    }
    let at: jiff::Timestamp = text
        .parse()
        .with_context(|| format!("{text:?} is neither YYYY-MM-DD nor an RFC 3339 time"))?;
    Ok(at.as_millisecond())
}

fn time_text(ms: i64) -> String {
    fxdesk_desk::reports::draft::DraftTime::at(ms).utc
}

pub fn run_audit(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify {
        at,
        expect_head,
        json,
    } = command;
    let result = runtime()?.block_on(async {
        let desk = open_desk(&at).await?;
        anyhow::Ok(
            desk.verify_records_unchecked(expect_head.as_deref())
                .await?,
        )
    })?;
    let mut stdout = std::io::stdout();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&result)?)?;
    } else {
        let chain = &result.chain;
        match &chain.first_bad {
            None => writeln!(
                stdout,
                "audit chain intact: {} entries, head {}",
                chain.entries_checked, chain.last_good_hash
            )?,
            Some(bad) => writeln!(
                stdout,
                "audit chain BROKEN: {} (last good entry: seq {})",
                bad.message, chain.last_good_seq
            )?,
        }
        if result.report_version_problems.is_empty() {
            writeln!(
                stdout,
                "{} report versions match the audit chain",
                result.report_versions_checked
            )?;
        }
        for problem in &result.report_version_problems {
            writeln!(
                stdout,
                "report {} v{} of incident #{}: {}",
                problem.kind, problem.version, problem.incident_id, problem.problem
            )?;
        }
    }
    stdout.flush()?;
    if !result.ok {
        std::process::exit(1);
    }
    Ok(())
}

pub fn run_report(command: ReportCommand) -> anyhow::Result<()> {
    let runtime = runtime()?;
    match command {
        ReportCommand::Check {
            at,
            at_time,
            all,
            json,
        } => {
            let result = runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let now = match &at_time {
                    Some(text) => parse_instant(text, false)?,
                    None => desk.now_ms(),
                };
                anyhow::Ok(desk.check_reports_at(now).await?)
            })?;
            let mut out = std::io::stdout();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
            } else {
                writeln!(
                    out,
                    "{} incidents checked at {}: {} problem(s), {} pending",
                    result.incidents_checked,
                    time_text(result.checked_at_ms),
                    result.problems.len(),
                    result.pending.len()
                )?;
                let listed = result
                    .problems
                    .iter()
                    .chain(result.pending.iter().filter(|_| all));
                for item in listed {
                    let o = &item.obligation;
                    writeln!(
                        out,
                        "#{} {:<26} {:<8} due {} {}{}  [{}]",
                        item.incident_id,
                        o.kind.as_str(),
                        format!("{:?}", o.status).to_lowercase(),
                        o.due_at_ms.map_or("-".into(), time_text),
                        o.submitted_at_ms
                            .map_or(String::new(), |at| format!("filed {} ", time_text(at))),
                        item.title,
                        o.basis
                    )?;
                }
                for (incident, tolerance) in &result.uk_breaches {
                    writeln!(
                        out,
                        "#{incident} UK impact tolerance breached: {} down {} min, tolerance {} min",
                        tolerance.service_name,
                        tolerance.disruption_minutes,
                        tolerance.impact_tolerance_minutes
                    )?;
                }
            }
            out.flush()?;
            if !result.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        ReportCommand::Draft {
            at,
            incident,
            kind,
            fields,
            format,
            out,
        } => {
            let kind = ReportKind::parse(&kind)?;
            let format = Format::parse(&format)?;
            let fields: ComplianceFields = match &fields {
                Some(path) => read_json(path)?,
                None => ComplianceFields::default(),
            };
            let text = runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let draft = desk
                    .build_draft(incident, kind, &fields, desk.now_ms())
                    .await?;
                anyhow::Ok(desk.render_draft(&draft, format)?)
            })?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout();
                    stdout.write_all(text.as_bytes())?;
                    stdout.flush()?;
                }
            }
            Ok(())
        }
        ReportCommand::Submit {
            at,
            incident,
            kind,
            fields,
        } => {
            let kind = ReportKind::parse(&kind)?;
            let fields: ComplianceFields = match &fields {
                Some(path) => read_json(path)?,
                None => ComplianceFields::default(),
            };
            let version = runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let who = principal(&desk).await?;
                anyhow::Ok(desk.submit_report(&who, incident, kind, &fields).await?)
            })?;
            println!(
                "submitted {} v{} for incident #{} at {} by {} (sha256 {})",
                version.kind,
                version.version,
                version.incident_id,
                time_text(version.submitted_at_ms),
                version.submitted_by,
                version.content_sha256
            );
            Ok(())
        }
        ReportCommand::Impact { at, incident, file } => {
            let impact: ImpactInput = read_json(&file)?;
            runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let who = principal(&desk).await?;
                anyhow::Ok(desk.record_impact(&who, incident, &impact).await?)
            })?;
            println!("recorded the impact of incident #{incident}");
            Ok(())
        }
        ReportCommand::Classify {
            at,
            incident,
            assessment,
        } => {
            let assessment: DoraAssessment = match &assessment {
                Some(path) => read_json(path)?,
                None => DoraAssessment::default(),
            };
            let classification = runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let who = principal(&desk).await?;
                anyhow::Ok(desk.classify_dora(&who, incident, &assessment).await?)
            })?;
            println!("{}", serde_json::to_string_pretty(&classification)?);
            Ok(())
        }
        ReportCommand::Export { at, from, to, out } => {
            let from_ms = parse_instant(&from, false)?;
            let to_ms = parse_instant(&to, to.parse::<jiff::civil::Date>().is_ok())?;
            let summary = runtime.block_on(async {
                let desk = open_desk(&at).await?;
                let file = std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?;
                let mut writer = std::io::BufWriter::new(file);
                let summary = desk.export_inspection(from_ms, to_ms, &mut writer).await?;
                writer
                    .into_inner()
                    .map_err(|err| anyhow::anyhow!("writing {}: {err}", out.display()))?
                    .sync_all()
                    .with_context(|| format!("syncing {}", out.display()))?;
                anyhow::Ok(summary)
            })?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            if !summary.audit_ok {
                eprintln!("warning: the audit chain does not verify; the archive says where");
            }
            Ok(())
        }
    }
}
