//! The API's one error type and its one mapping to HTTP. Every handler returns
//! `Result<_, ApiError>`; [`Code::status`] is the only place a failure becomes a status code.
//!
//! Invariants: the body is always `{"code", "field", "message"}` JSON; `code` is a closed set
//! ([`Code`]); an internal failure's text is logged here and replaced by a fixed message, so no
//! database error, path or secret reaches a client.
//!
//! Must not: build a response anywhere else, or pass a lower layer's message for an internal
//! or unavailable failure through to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use camwatch_access::{AccessError, AuthError, LoginError};
use camwatch_core::access::Denied;
use camwatch_core::error::{Error, ErrorKind};

/// What went wrong, as a machine reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// A malformed or invalid request: `field` names what.
    InvalidArgument,
    /// The request body is larger than the API accepts.
    PayloadTooLarge,
    /// No valid session or token.
    Unauthenticated,
    /// Wrong user name or password (the two read the same).
    LoginFailed,
    /// Too many failed logins: refused until later.
    LockedOut,
    /// A cookie-authenticated write without the session's `X-CSRF-Token`.
    CsrfRequired,
    /// The caller's role (or read-only token, or a pending password change) forbids it.
    Forbidden,
    /// No such thing, or not in the caller's scope (the two read the same).
    NotFound,
    /// It conflicts with the current state (e.g. the order's state does not allow it).
    Conflict,
    /// The path exists; the method does not (e.g. `PUT /devices`).
    MethodNotAllowed,
    /// A dependency (the database) is unavailable; retry later.
    Unavailable,
    /// A bug; the details are in the server's log.
    Internal,
}

impl Code {
    /// The one mapping from an error to its HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated | Self::LoginFailed => StatusCode::UNAUTHORIZED,
            Self::LockedOut => StatusCode::TOO_MANY_REQUESTS,
            Self::CsrfRequired | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiError {
    pub code: Code,
    /// The request field at fault (a JSON path, a query parameter, a path segment), if one.
    pub field: Option<String>,
    /// For a person; never a lower layer's internal text.
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArgument,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Code::NotFound, what)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(Code::Unauthenticated, "sign in, or present an API token")
    }

    /// An internal failure: logged with its cause, answered with a fixed text.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "api: internal error");
        Self::new(Code::Internal, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), axum::Json(self)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e.kind {
            ErrorKind::InvalidArgument => Self::new(Code::InvalidArgument, e.message()),
            ErrorKind::NotFound => Self::new(Code::NotFound, e.message()),
            ErrorKind::Conflict => Self::new(Code::Conflict, e.message()),
            ErrorKind::Unavailable => {
                tracing::warn!(cause = %e, "api: a dependency is unavailable");
                Self::new(
                    Code::Unavailable,
                    "the database is unavailable: retry later",
                )
            }
            ErrorKind::Internal => Self::internal(&e),
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    /// A path segment that is not valid text (bad percent-encoding).
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::invalid("path", e.body_text().chars().take(200).collect::<String>())
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        Self::new(Code::Forbidden, d.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(Code::Unauthenticated, e.to_string())
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(e) => e.into(),
            LoginError::Locked { .. } => Self::new(Code::LockedOut, e.public_message()),
            LoginError::UnknownUser | LoginError::WrongPassword | LoginError::Disabled => {
                Self::new(Code::LoginFailed, e.public_message())
            }
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Denied(d) => d.into(),
            AccessError::WeakPassword(_) => Self::invalid("new", e.to_string()),
            AccessError::WrongCurrentPassword => {
                Self::invalid("current", "the current password is wrong")
            }
            AccessError::Error(e) => e.into(),
        }
    }
}
