//! The one error type of the backfill crate.

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("cannot read {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal: {0}")]
    Journal(#[from] fxdesk_journal::JournalError),
    #[error("{0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// The inputs cannot make a plan (bad window, unknown instrument, ...).
    #[error("{0}")]
    Input(String),
    /// The plan file is not a plan, or was changed after it was made.
    #[error("plan: {0}")]
    Plan(String),
    /// Approval refused (same user twice, unknown user name, ...).
    #[error("approval refused: {0}")]
    Approval(String),
    /// Apply refused: the journal no longer matches the plan's inputs, or not approved.
    #[error("apply refused: {0}")]
    Refused(String),
}
