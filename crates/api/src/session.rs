//! Login, logout, the caller, and changing one's own password.
//!
//! Invariants: a login answers an unknown name and a wrong password with the same code and
//! message (`LoginError::public_message`); the session id goes only into an `HttpOnly` cookie,
//! the CSRF token only into the body; logout ends the session in the store, not just the
//! cookie.
//!
//! Must not: accept a session id from the client at login (fixation), or log a password.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use camwatch_access::Client;
use camwatch_core::access::{Action, PasswordState, Principal};
use camwatch_core::secret::Password;

use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::{ApiError, Code};
use crate::input::Body;

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

/// A successful login: the session cookie is set; this is the CSRF token for its writes.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `X-CSRF-Token` with every write made with the cookie.
    pub csrf: String,
    /// The session's absolute end (Unix seconds); it ends earlier when idle.
    pub expires_at: i64,
    pub me: Me,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    /// `admin`, `operator`, `contractor` or `auditor`.
    pub role: String,
    /// Civil-code prefixes the caller sees; empty: the whole fleet.
    pub regions: Vec<String>,
    /// A contractor's maintainer: only its devices and its orders.
    pub maintainer: Option<String>,
    /// The password must be changed before anything else.
    pub must_change_password: bool,
    /// `session` or `token`.
    pub via: String,
}

impl Me {
    fn of(p: &Principal) -> Self {
        Self {
            name: p.name.clone(),
            role: p.role.as_str().to_string(),
            regions: p
                .scope
                .regions()
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            maintainer: p.scope.maintainer().map(str::to_string),
            must_change_password: p.password == PasswordState::MustChange,
            via: if p.token.is_some() {
                "token"
            } else {
                "session"
            }
            .into(),
        }
    }
}

/// A change of one's own password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

fn client(headers: &HeaderMap, peer: Option<&ConnectInfo<crate::tls::Peer>>) -> Client {
    Client {
        ip: peer.map(|c| c.0.0.ip().to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    }
}

/// Log in: sets the session cookie and returns its CSRF token.
#[utoipa::path(
    post, path = "/api/v1/session", tag = "session", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the cookie is set", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ApiError),
        (status = 401, description = "Wrong user name or password", body = ApiError),
        (status = 429, description = "Locked out after repeated failures", body = ApiError),
    )
)]
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<crate::tls::Peer>>()
        .cloned();
    let Body(body): Body<LoginRequest> =
        <Body<LoginRequest> as axum::extract::FromRequest<AppState>>::from_request(req, &st)
            .await?;
    let login = st
        .accounts
        .login(
            &body.name,
            &Password::new(body.password),
            &client(&headers, peer.as_ref()),
        )
        .await?;
    let max_age = (login.session.expires_at - st.now()).max(0);
    let cookie = auth::set_cookie(login.session.token.expose(), max_age, st.secure_cookie);
    let out = LoginResponse {
        csrf: login.session.csrf.expose().to_string(),
        expires_at: login.session.expires_at,
        me: Me::of(&login.principal),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(out)).into_response())
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(
    delete, path = "/api/v1/session", tag = "session",
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, description = "Not a session (a token cannot log out)", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "CSRF token missing or wrong", body = ApiError),
    )
)]
pub async fn logout(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Some((_, cookie)) = &caller.session else {
        return Err(ApiError::invalid(
            "authorization",
            "an API token has no session to end: revoke the token instead",
        ));
    };
    st.accounts.logout(cookie).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::clear_cookie(st.secure_cookie))],
    )
        .into_response())
}

/// The caller: name, role, scope.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "session",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = ApiError),
    )
)]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me::of(&caller.principal))
}

/// Change one's own password (ends one's other sessions).
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "session",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Wrong current password, or the new one fails the rule", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Forbidden (CSRF, token)", body = ApiError),
    )
)]
pub async fn change_password(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    caller.principal.require(Action::ChangeOwnPassword)?;
    if caller.session.is_none() {
        return Err(ApiError::new(
            Code::Forbidden,
            "sign in with the password to change it, not with a token",
        ));
    }
    st.accounts
        .change_own_password(
            &caller.principal,
            caller.session.as_ref().map(|s| s.0),
            &Password::new(body.current),
            &Password::new(body.new),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
