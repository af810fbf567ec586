//! Who is calling: the [`Caller`] extractor. A request is authenticated by an
//! `Authorization: Bearer` API token or by the session cookie; nothing else.
//!
//! Invariants:
//! - A cookie-authenticated request that may change something (any method but GET, HEAD and
//!   OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`, checked here, before any
//!   handler runs. A bearer token needs none: a browser never sends one on its own.
//! - When both a bearer token and a cookie arrive, the token decides (and a bad token is a
//!   401, never a fall back to the cookie).
//! - The session cookie is `HttpOnly`, `SameSite=Strict`, `Path=/api`, and `Secure` when the
//!   API is served over TLS; its value is only ever one issued by `Accounts::login`.
//!
//! Must not: decide what the caller may do (that is `Principal::require` / `may_on_*` in the
//! handlers), or log a token, cookie or CSRF value.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use camwatch_access::Actor;
use camwatch_core::access::Principal;

use crate::AppState;
use crate::error::{ApiError, Code};

/// The session cookie's name.
pub const COOKIE: &str = "camwatch_session";
/// The header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The session (id, cookie value) when authenticated by cookie; `None` for a token.
    pub session: Option<(i64, String)>,
}

impl Caller {
    /// The audit log's name for this caller (the user, with the token when through one).
    pub fn audit_name(&self) -> String {
        Actor::User(self.principal.clone()).audit_name()
    }
}

/// The bearer token in `Authorization`, if the header is a bearer one.
pub(crate) fn bearer(h: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let v = h.get(header::AUTHORIZATION)?;
    let bad = || ApiError::new(Code::Unauthenticated, "malformed Authorization header");
    let Ok(v) = v.to_str() else {
        return Some(Err(bad()));
    };
    let Some((scheme, token)) = v.split_once(' ') else {
        return Some(Err(bad()));
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Some(Err(bad()));
    }
    Some(Ok(token.trim()))
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

/// The `Set-Cookie` value that hands out `token`, living `max_age` seconds.
pub fn set_cookie(token: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/api; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            let principal = state.accounts.token(token?).await?;
            return Ok(Self {
                principal,
                session: None,
            });
        }
        let Some(cookie) = session_cookie(&parts.headers) else {
            return Err(ApiError::unauthenticated());
        };
        let auth = state.accounts.session(&cookie).await?;
        if is_write(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if presented.is_empty() || !auth.csrf_ok(presented) {
                return Err(ApiError::new(
                    Code::CsrfRequired,
                    "a write with the session cookie needs the session's X-CSRF-Token header",
                )
                .with_field(CSRF_HEADER));
            }
        }
        Ok(Self {
            principal: auth.principal,
            session: Some((auth.session_id, cookie)),
        })
    }
}
