//! The one error type of the library.
//!
//! Every fallible operation returns [`Error`]: a [`ErrorKind`] that says what went wrong in terms a
//! caller can act on, a message meant for the user (no secrets, no internals), and an optional
//! source kept for the log. The web layer maps the kind to an HTTP status in exactly one place
//! (`web::respond::status_for`).

use std::fmt;

/// What class of failure this is; decides the HTTP status and whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input (config, form, query) is wrong; the message says which field and why.
    Invalid,
    /// The thing asked for does not exist.
    NotFound,
    /// The request clashes with existing state (duplicate id, read-only camera).
    Conflict,
    /// Nobody is signed in, or the credentials (session, token, password) are not valid.
    Unauthenticated,
    /// Signed in, but this account may not do this.
    Forbidden,
    /// Too many attempts (sign-ins); the message says when to try again.
    TooManyRequests,
    /// A dependency (database, ffmpeg, disk) is not available right now; retrying may help.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

/// A failure with a user-facing message and, for the log, its cause.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attaches the underlying cause (logged, never shown to users).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        let text = err.to_string();
        let kind = if text.contains("locked") || text.contains("busy") || text.contains("Connection") {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Internal
        };
        Error::new(kind, "database error").with_source(err)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Unavailable, "file system error").with_source(err)
    }
}
