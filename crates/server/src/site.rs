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
    crate::notices::seed_templates(&desk).await?;
    let status = crate::status::StatusSite::new(desk.clone())?;
    let console = crate::console::Console::new(desk.clone())?;
    Ok(crate::desk::router(desk)
        .merge(crate::status::router(status))
        .merge(crate::console::router(console)))
}
