//! The one error type of the desk crate.

/// Everything that can go wrong in the desk, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The configuration file could not be read or is invalid.
    #[error("desk config {what}: {detail}")]
    Config { what: String, detail: String },
    /// A storage operation failed.
    #[error("desk storage ({doing}): {source}")]
    Storage {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// A request was well-formed but refers to something that does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// A request is malformed or breaks a limit.
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    /// A request conflicts with the current state (for example acknowledging a resolved incident).
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    /// No valid credentials were presented.
    #[error("authentication required: {detail}")]
    Unauthenticated { detail: String },
    /// Valid credentials, but the role does not allow the action.
    #[error("role {role} may not {action}")]
    Forbidden { role: String, action: String },
    /// Password hashing failed (not a wrong password: that is `Unauthenticated`).
    #[error("password hashing: {detail}")]
    PasswordHash { detail: String },
}

impl DeskError {
    pub(crate) fn storage(doing: &'static str) -> impl FnOnce(sqlx::Error) -> DeskError {
        move |source| DeskError::Storage { doing, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, detail: impl Into<String>) -> DeskError {
        DeskError::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn config(what: impl Into<String>, detail: impl Into<String>) -> DeskError {
        DeskError::Config {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> DeskError {
        DeskError::NotFound { what: what.into() }
    }
}

/// Result alias of the desk crate.
pub type Result<T, E = DeskError> = std::result::Result<T, E>;
