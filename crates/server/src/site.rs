//! Everything the desk serves over HTTP in one router: the desk API, the public status page and
//! the operator console. Seeds the shipped notice templates on start.

use std::sync::Arc;

use axum::Router;
use fxdesk_desk::Desk;

/// Why the site could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("seeding notice templates: {0}")]
    Seed(#[from] fxdesk_desk::DeskError),
    #[error("compiling page templates: {0:#}")]
    Template(#[from] minijinja::Error),
}

/// The desk API, the status page and the console.
pub async fn router(desk: Arc<Desk>) -> Result<Router, SiteError> {
    router_with_plans(desk, None).await
}

/// [`router`], with the console reviewing the backfill plans in `plans_dir`.
pub async fn router_with_plans(
    desk: Arc<Desk>,
    plans_dir: Option<std::path::PathBuf>,
) -> Result<Router, SiteError> {
    let pages = pages_with_plans(desk.clone(), plans_dir).await?;
    Ok(crate::desk::router(desk).merge(pages))
}

/// The public status page and the operator console alone (`fxdesk serve` puts them beside the
/// trading API and the desk API).
pub async fn pages(desk: Arc<Desk>) -> Result<Router, SiteError> {
    pages_with_plans(desk, None).await
}

/// [`pages`], with the console reviewing the backfill plans in `plans_dir`.
pub async fn pages_with_plans(
    desk: Arc<Desk>,
    plans_dir: Option<std::path::PathBuf>,
) -> Result<Router, SiteError> {
    crate::notices::seed_templates(&desk).await?;
    let status = crate::status::StatusSite::new(desk.clone())?;
    let console = crate::console::Console::with_plans_dir(desk, plans_dir)?;
    Ok(crate::status::router(status).merge(crate::console::router(console)))
}
