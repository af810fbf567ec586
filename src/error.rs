//! One application error type carrying a kind, so every caller (CLI exit codes now, HTTP
//! statuses later) maps kinds to responses in exactly one place.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller asked for something malformed (bad file, bad flag, bad value).
    InvalidArgument,
    NotFound,
    /// Conflicts with stored state (overlapping spans, duplicate ids).
    Conflict,
    /// A dependency (database, file system) failed.
    Unavailable,
    /// A bug: an invariant did not hold.
    Internal,
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    msg: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Self {
            kind,
            msg: msg.into(),
            source: None,
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, msg)
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, msg)
    }
    pub fn unavailable(
        msg: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind: ErrorKind::Unavailable,
            msg: msg.into(),
            source: Some(Box::new(source)),
        }
    }
    /// An error of `kind` caused by `source`, which is kept for the cause chain.
    pub fn with_source(
        kind: ErrorKind,
        msg: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            msg: msg.into(),
            source: Some(Box::new(source)),
        }
    }
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

/// Kept while the store's queries use `?` on sqlx results; the classification lives in the
/// store (`store::db_error`) so that this module need not know sqlx once it moves into a crate
/// of its own.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        crate::store::db_error(e)
    }
}
