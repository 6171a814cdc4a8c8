//! `fxdesk desk`: the incident desk on its own (HTTP API, monitors, escalation, deliveries).
//! `fxdesk serve` runs the same desk in-process beside the trading API and feeds it engine
//! health; standalone, the desk watches probes, heartbeats and Alertmanager only.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use fxdesk_desk::{Desk, DeskConfig, Store, SystemClock};

/// Environment variable holding the first admin's password for `--bootstrap-admin`.
pub const ADMIN_PASSWORD_ENV: &str = "FXDESK_ADMIN_PASSWORD";

#[derive(clap::Args)]
pub struct Args {
    /// Desk configuration (TOML, see crates/desk/config/desk.example.toml); defaults without.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory; the desk's SQLite file is `<data-dir>/desk.sqlite`.
    #[arg(long, default_value = "fxdesk-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL to use instead of the SQLite file (postgres://...).
    #[arg(long)]
    database_url: Option<String>,
    /// Address to serve the desk API on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// Create this admin user if there are no users yet (password from FXDESK_ADMIN_PASSWORD).
    #[arg(long)]
    bootstrap_admin: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => DeskConfig::load(path)?,
        None => DeskConfig::default(),
    };
    // Standalone there is no engine to watch.
    config.engine.enabled = false;
    let store = match &args.database_url {
        Some(url) => Store::connect(url).await?,
        None => {
            std::fs::create_dir_all(&args.data_dir)
                .with_context(|| format!("creating {}", args.data_dir.display()))?;
            Store::open_sqlite(&args.data_dir.join("desk.sqlite")).await?
        }
    };
    let clock = Arc::new(SystemClock);
    let desk = Desk::open(config, store, clock.clone(), None).await?;
    if let Some(username) = &args.bootstrap_admin {
        let password = std::env::var(ADMIN_PASSWORD_ENV)
            .with_context(|| format!("--bootstrap-admin needs {ADMIN_PASSWORD_ENV}"))?;
        if desk.bootstrap_admin(username, &password).await?.is_some() {
            eprintln!("created admin {username:?}");
        }
    }
    let _background = fxdesk_desk::spawn_background(desk.clone(), clock);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("fxdesk desk listening on http://{}", listener.local_addr()?);
    tokio::select! {
        served = fxdesk_server::desk::serve_with_plans(listener, desk, Some(args.data_dir.join("backfill"))) => served.context("serving the desk API")?,
        _ = tokio::signal::ctrl_c() => eprintln!("shutting down"),
    }
    Ok(())
}
