//! Request input turned into typed values or a JSON error naming the field: the [`Body`]
//! extractor for JSON bodies, and parsers for path segments and query parameters.
//!
//! Invariants: the body is bounded by the router's `DefaultBodyLimit` (a larger one is a 413
//! `payload_too_large`); unknown JSON fields are refused by the request types themselves
//! (`deny_unknown_fields`); a parse failure names the JSON path or parameter.
//!
//! Must not: echo back more than a bounded piece of what a client sent.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Code};

/// A JSON request body of type `T`.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !is_json {
            return Err(ApiError::invalid(
                "content-type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(Code::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::invalid("body", "the request body could not be read")
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(Body(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let field = if inner.is_syntax() || inner.is_eof() {
                    "body".to_string()
                } else if path == "." {
                    // A missing or unknown field is named in serde's own message.
                    backticked(&inner.to_string()).unwrap_or_else(|| "body".into())
                } else {
                    path
                };
                Err(ApiError::invalid(field, bounded(&inner.to_string())))
            }
        }
    }
}

/// A raw request body (a file upload), bounded by the route's `DefaultBodyLimit`.
pub struct Upload(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Upload)
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(Code::PayloadTooLarge, "the request body is too large")
                } else {
                    ApiError::invalid("body", "the request body could not be read")
                }
            })
    }
}

/// The first `name` in serde's "missing field `name`" / "unknown field `name`", at most 100
/// characters of it (the name is the client's own text).
fn backticked(msg: &str) -> Option<String> {
    if !(msg.starts_with("missing field") || msg.starts_with("unknown field")) {
        return None;
    }
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].chars().take(100).collect())
}

/// At most 200 characters of a message that may quote the client's input.
pub(crate) fn bounded(msg: &str) -> String {
    msg.chars().take(200).collect()
}

/// Parses a closed-set or otherwise typed value of `field`, naming it on failure.
pub fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| ApiError::invalid(field, bounded(&format!("{field}: {e}"))))
}

/// An RFC 3339 instant in a parameter or field named `field`, as Unix seconds.
pub fn instant(field: &str, v: &str) -> Result<i64, ApiError> {
    v.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            ApiError::invalid(
                field,
                format!("{field}: expected an RFC 3339 instant, e.g. 2026-12-01T08:00:00+08:00"),
            )
        })
}

/// A period `[from, to)` from optional RFC 3339 `from` and `to` parameters: `to` defaults to
/// `now`, `from` to `default_secs` before `to`; `from` must be before `to`, and the period at
/// most `max_days` long.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
    default_secs: i64,
    max_days: i64,
) -> Result<(i64, i64), ApiError> {
    let to = to.map(|v| instant("to", v)).transpose()?.unwrap_or(now);
    let from = from
        .map(|v| instant("from", v))
        .transpose()?
        .unwrap_or(to - default_secs);
    if from >= to {
        return Err(ApiError::invalid("from", "from must be before to"));
    }
    if to - from > max_days * 86_400 {
        return Err(ApiError::invalid(
            "from",
            format!("at most {max_days} days per request"),
        ));
    }
    Ok((from, to))
}

/// Query parameters of type `T` (every field a string or number; unknown ones refused).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<T>(q).map(Params).map_err(|e| {
            let msg = e.to_string();
            let field = backticked(&msg).unwrap_or_else(|| "query".into());
            ApiError::invalid(field, bounded(&msg))
        })
    }
}
