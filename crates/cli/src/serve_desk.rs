//! The incident desk inside `fxdesk serve` (the default; `--no-desk` turns it off): the desk's
//! API and the trading API on one listener, the desk watching the live sequencer, and outside
//! signals when configured.
//!
//! Defaults, so that `fxdesk serve --data-dir D` needs nothing else: desk storage is the SQLite
//! file `D/desk.sqlite`; the desk configuration (components, monitors, escalation policies,
//! on-call, channels) is `D/desk.toml` if it exists, else the built-in defaults (engine health
//! on, no one to notify); outside signals run if `D/signals.toml` exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use fxdesk_desk::{DeskConfig, Store, SystemClock};
use fxdesk_server::trading::{RunningServer, ServeOptions};
use fxdesk_server::with_desk::signals::SignalsSetup;
use fxdesk_server::with_desk::{start_with_desk, DeskRunning, DeskSetup};

use crate::desk::ADMIN_PASSWORD_ENV;

/// File names looked for in the data directory when no path is given.
pub const DESK_CONFIG_FILE: &str = "desk.toml";
pub const SIGNALS_CONFIG_FILE: &str = "signals.toml";
pub const DESK_SQLITE_FILE: &str = "desk.sqlite";

#[derive(clap::Args, Debug)]
pub struct DeskArgs {
    /// Run the trading server alone, without the incident desk.
    #[arg(long)]
    pub no_desk: bool,
    /// Desk configuration with escalation policies (TOML, see
    /// crates/desk/config/desk.example.toml) [default: DATA_DIR/desk.toml if present, else
    /// built-in defaults].
    #[arg(long)]
    pub desk_config: Option<PathBuf>,
    /// PostgreSQL URL for the desk's storage (postgres://...) [default: SQLite file
    /// DATA_DIR/desk.sqlite].
    #[arg(long)]
    pub desk_db_url: Option<String>,
    /// Outside-signals configuration (TOML, see crates/server/src/with_desk/signals.rs)
    /// [default: DATA_DIR/signals.toml if present, else no signals].
    #[arg(long)]
    pub signals_config: Option<PathBuf>,
    /// Create this desk admin if the desk has no users yet (password from FXDESK_ADMIN_PASSWORD).
    #[arg(long)]
    pub desk_bootstrap_admin: Option<String>,
}

/// Opens the desk's configuration and storage and starts the trading server with the desk.
pub async fn start(
    options: ServeOptions,
    data_dir: &Path,
    args: &DeskArgs,
) -> anyhow::Result<(RunningServer, DeskRunning)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let config = match explicit_or_default(&args.desk_config, data_dir, DESK_CONFIG_FILE) {
        Some(path) => DeskConfig::load(&path)?,
        None => DeskConfig::default(),
    };
    let signals = match explicit_or_default(&args.signals_config, data_dir, SIGNALS_CONFIG_FILE) {
        Some(path) => Some(SignalsSetup::load(&path)?),
        None => None,
    };
    let store = match &args.desk_db_url {
        Some(url) => Store::connect(url).await?,
        None => Store::open_sqlite(&data_dir.join(DESK_SQLITE_FILE)).await?,
    };
    let setup = DeskSetup {
        config,
        store,
        clock: Arc::new(SystemClock),
        signals,
        background: true,
    };
    let (server, desk) = start_with_desk(options, setup).await?.into_parts();
    if let Some(username) = &args.desk_bootstrap_admin {
        let password = std::env::var(ADMIN_PASSWORD_ENV)
            .with_context(|| format!("--desk-bootstrap-admin needs {ADMIN_PASSWORD_ENV}"))?;
        if desk
            .desk
            .bootstrap_admin(username, &password)
            .await?
            .is_some()
        {
            eprintln!("created desk admin {username:?}");
        }
    }
    Ok((server, desk))
}

/// The path given on the command line, else the default file in the data directory if it
/// exists (an explicit path that does not exist is an error later, when it is read).
fn explicit_or_default(explicit: &Option<PathBuf>, data_dir: &Path, name: &str) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let path = data_dir.join(name);
        path.exists().then_some(path)
    })
}
