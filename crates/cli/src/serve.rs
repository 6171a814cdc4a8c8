//! `fxdesk serve --data-dir DIR --listen ADDR [--feed FILE --speed X]`: the trading server,
//! with the incident desk in the same process unless `--no-desk` (see `serve_desk.rs`).
//!
//! Prints `listening on http://ADDR` on stdout once the socket is bound (recovery continues in
//! the background; `/readyz` says when it is done). `FXDESK_ADMIN_TOKEN` sets the admin token;
//! without it the first start writes one to `DATA_DIR/admin.token` (mode 0600). Stops cleanly on
//! SIGINT or SIGTERM; every acknowledged command is already durable, so SIGKILL loses nothing
//! that was acknowledged either.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use fxdesk_server::reopening::guard::GuardConfig;
use fxdesk_server::trading::{start, ServeOptions};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Directory for the journal, snapshots and tokens (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// A tick file (CSV: time,instrument,bid,ask) to replay as the price feed.
    #[arg(long)]
    pub feed: Option<PathBuf>,
    /// Replay speed: 1 is the recording's own pace, 60 a minute per second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Do not send the daily 17:00 New York rollover.
    #[arg(long)]
    pub no_rollover: bool,
    #[command(flatten)]
    pub desk: crate::serve_desk::DeskArgs,
    /// Trade at once after recovering a non-empty journal (default: start halted until an
    /// operator calls POST /v1/admin/resume or a backfill plan is applied).
    #[arg(long)]
    pub start_trading: bool,
    /// Price-jump guard: hold quotes moving more than this many pips from the last good quote
    /// (every instrument; default 100).
    #[arg(long)]
    pub price_jump_pips: Option<i64>,
    /// Per-instrument price-jump limit, e.g. `USD/JPY=150`, or `USD/JPY=off`; repeatable.
    #[arg(long = "price-jump", value_name = "SYMBOL=PIPS")]
    pub price_jump: Vec<String>,
    /// Quotes at a new level (the held one included) that confirm a jump (default 3).
    #[arg(long)]
    pub price_jump_confirm: Option<usize>,
    /// Seconds after a confirmed jump during which a return to the level before it marks the
    /// jump off-market for the backfill (default 60; 0: off).
    #[arg(long)]
    pub price_jump_revert_secs: Option<i64>,
}

/// The guard's configuration from the command line.
fn price_guard(args: &Args) -> anyhow::Result<GuardConfig> {
    let specs = fxdesk_engine::InstrumentSpec::defaults();
    let mut config = GuardConfig::defaults(specs.len());
    if let Some(pips) = args.price_jump_pips {
        config.jump_pips_max = vec![Some(pips); specs.len()];
    }
    if let Some(count) = args.price_jump_confirm {
        config.confirm_quotes = count;
    }
    if let Some(secs) = args.price_jump_revert_secs {
        config.revert_window_ns = secs.saturating_mul(1_000_000_000);
    }
    for item in &args.price_jump {
        let (symbol, pips) = item
            .split_once('=')
            .with_context(|| format!("--price-jump {item:?} is not SYMBOL=PIPS"))?;
        let index = specs
            .iter()
            .position(|s| s.symbol == symbol)
            .with_context(|| format!("--price-jump: unknown instrument {symbol:?}"))?;
        let pips = match pips {
            "off" => None,
            number => Some(
                number
                    .parse::<i64>()
                    .with_context(|| format!("--price-jump {item:?}: pips must be a number"))?,
            ),
        };
        let id = fxdesk_engine::InstrumentId(u16::try_from(index)?);
        config.set(id, pips).map_err(anyhow::Error::msg)?;
    }
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let guard = price_guard(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fxdesk-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut options = ServeOptions::new(&args.data_dir, &args.listen);
        options.admin_token = std::env::var("FXDESK_ADMIN_TOKEN").ok();
        options.feed = args.feed;
        options.speed = args.speed;
        options.rollover = !args.no_rollover;
        options.start_trading = args.start_trading;
        options.price_guard = Some(guard);
        let (mut server, _desk) = if args.desk.no_desk {
            let server = start(options).await.context("cannot start fxdesk serve")?;
            (server, None)
        } else {
            let (server, desk) = crate::serve_desk::start(options, &args.data_dir, &args.desk)
                .await
                .context("cannot start fxdesk serve with the incident desk")?;
            (server, Some(desk))
        };
        if server.admin_token_created.is_some() {
            eprintln!(
                "created the admin token in {}",
                args.data_dir.join("admin.token").display()
            );
        }
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{}", server.addr())?;
        stdout.flush()?;
        let stop = server.take_shutdown();
        tokio::spawn(async move {
            wait_for_signal().await;
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
        server.wait().await.context("fxdesk serve failed")
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
