//! User and token management over HTTP, for admins: list, create, reset a password, disable,
//! enable, unlock; issue, list and revoke API tokens. Everything goes through `Accounts`, the
//! same service as `camwatch user`, so the password rule, the lockout, the last-admin guard and
//! the audit log (in the change's own transaction) are the same.
//!
//! Scope: an admin scoped to some regions manages only users whose scope lies within its own
//! (it neither sees nor changes the city's admins); a user outside reads as one that does not
//! exist (404).
//!
//! Must not: return a password or a token except the one-time value at creation, or a hash.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_access::{AccessError, Actor, NewAccount, TokenSpec};
use camwatch_core::access::scope::parse_regions;
use camwatch_core::access::{Action, PasswordState, Role, Scope, TokenAccess};
use camwatch_core::secret::Password;
use camwatch_store::{TokenRecord, User};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::input::{Body, Params, parse};

/// A user as an admin sees it (never a password or hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRow {
    pub name: String,
    /// `admin`, `operator`, `contractor`, `auditor`.
    pub role: String,
    /// Civil-code prefixes; empty: the whole fleet.
    pub regions: Vec<String>,
    /// A contractor's maintainer (运维单位).
    pub maintainer: Option<String>,
    pub must_change_password: bool,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

fn user_row(u: &User) -> UserRow {
    UserRow {
        name: u.name.clone(),
        role: u.role.as_str().to_string(),
        regions: u
            .scope
            .regions()
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        maintainer: u.scope.maintainer().map(str::to_string),
        must_change_password: u.password == PasswordState::MustChange,
        disabled: u.disabled_at.is_some(),
        created_at: u.created_at,
    }
}

/// Users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserRow>,
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub name: String,
    /// `admin`, `operator`, `contractor`, `auditor`.
    pub role: String,
    /// Civil-code prefixes; omitted or empty: the whole fleet (within the caller's own scope).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Required for a contractor, refused for anyone else.
    pub maintainer: Option<String>,
    /// Omitted: a one-time password is generated and returned once. Either way it must be
    /// changed at the first login.
    pub password: Option<String>,
}

/// A created user, with the generated one-time password when none was given.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserRow,
    pub one_time_password: Option<String>,
}

/// A password set by an admin: the user must change it at the next login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    pub password: String,
}

/// An API token as listed (never its value).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenRow {
    pub id: i64,
    pub user: String,
    pub name: String,
    /// `read_only` or `full`.
    pub access: String,
    pub regions: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn token_row(t: &TokenRecord) -> TokenRow {
    TokenRow {
        id: t.id,
        user: t.user_name.clone(),
        name: t.name.clone(),
        access: t.access.as_str().to_string(),
        regions: t.regions.iter().map(|r| r.as_str().to_string()).collect(),
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
    }
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenRow>,
}

/// Whose tokens.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// One user's (default: everyone's the caller may manage).
    pub user: Option<String>,
}

/// A token to issue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// The user it acts as.
    pub user: String,
    /// What it is for ("city platform", "contractor ticketing").
    pub name: String,
    /// `read_only` (default) or `full` (whatever the user's role permits).
    pub access: Option<String>,
    /// Narrows the user's scope (empty: the user's).
    #[serde(default)]
    pub regions: Vec<String>,
    /// RFC 3339 expiry (omitted: until revoked).
    pub expires_at: Option<String>,
}

/// An issued token: its value is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedTokenBody {
    pub id: i64,
    pub token: String,
}

fn actor(caller: &Caller) -> Actor {
    Actor::User(caller.principal.clone())
}

/// `AccessError` with a weak password named by the body's field.
fn access_err(e: AccessError) -> ApiError {
    match e {
        AccessError::WeakPassword(_) => ApiError::invalid("password", e.to_string()),
        other => other.into(),
    }
}

fn regions_of(
    field: &str,
    v: &[String],
) -> Result<Vec<camwatch_core::access::RegionPrefix>, ApiError> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    parse_regions(&v.join(",")).map_err(|e| ApiError::invalid(field, e))
}

/// The user `name` if the caller may manage it (its scope within the caller's), else 404.
async fn managed(st: &AppState, caller: &Caller, name: &str) -> Result<User, ApiError> {
    let users = st
        .accounts
        .list_users(&actor(caller))
        .await
        .map_err(access_err)?;
    users
        .into_iter()
        .find(|u| u.name == name && caller.principal.scope.contains(&u.scope))
        .ok_or_else(|| {
            ApiError::not_found(format!("user {name:?} does not exist")).with_field("name")
        })
}

/// Users the caller may manage, by name.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    responses(
        (status = 200, description = "Users", body = UserList),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
    )
)]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<UserList>, ApiError> {
    caller.principal.require(Action::ManageUsers)?;
    let users = st
        .accounts
        .list_users(&actor(&caller))
        .await
        .map_err(access_err)?;
    Ok(Json(UserList {
        items: users
            .iter()
            .filter(|u| caller.principal.scope.contains(&u.scope))
            .map(user_row)
            .collect(),
    }))
}

/// Creates a user.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The user (and a one-time password when none was given)", body = CreatedUser),
        (status = 400, description = "A bad name, role, scope or password", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
        (status = 409, description = "The name is taken", body = ApiError),
    )
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<NewUserBody>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    caller.principal.require(Action::ManageUsers)?;
    let role: Role = parse("role", &b.role)?;
    let regions = regions_of("regions", &b.regions)?;
    let (user, generated) = st
        .accounts
        .create_user(
            &actor(&caller),
            &NewAccount {
                name: b.name.trim().to_string(),
                role,
                scope: Scope::new(regions, b.maintainer.map(|m| m.trim().to_string())),
                password: b.password.map(Password::new),
            },
        )
        .await
        .map_err(access_err)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: user_row(&user),
            one_time_password: generated.map(|g| g.expose().to_string()),
        }),
    ))
}

/// An admin's action on a user.
#[derive(Debug, Clone, Copy)]
enum UserAction {
    Disable,
    Enable,
    Unlock,
}

impl std::str::FromStr for UserAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disable" => Ok(Self::Disable),
            "enable" => Ok(Self::Enable),
            "unlock" => Ok(Self::Unlock),
            _ => Err(format!("{s:?}: expected disable, enable or unlock")),
        }
    }
}

/// Disables, enables or unlocks a user.
#[utoipa::path(
    post, path = "/api/v1/users/{name}/{action}", tag = "users",
    params(
        ("name" = String, Path, description = "The user"),
        ("action" = String, Path, description = "`disable`, `enable` or `unlock`"),
    ),
    responses(
        (status = 204, description = "Done"),
        (status = 400, description = "An unknown action, or disabling oneself", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
        (status = 404, description = "No such user the caller may manage", body = ApiError),
        (status = 409, description = "The last enabled admin", body = ApiError),
    )
)]
pub async fn act(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((name, action)) = path?;
    caller.principal.require(Action::ManageUsers)?;
    let action: UserAction = parse("action", &action)?;
    let u = managed(&st, &caller, &name).await?;
    let by = actor(&caller);
    match action {
        UserAction::Disable => st.accounts.disable(&by, &u.name).await,
        UserAction::Enable => st.accounts.enable(&by, &u.name).await,
        UserAction::Unlock => st.accounts.unlock(&by, &u.name).await,
    }
    .map_err(access_err)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's password; they must change it at the next login, and their sessions end.
#[utoipa::path(
    post, path = "/api/v1/users/{name}/password", tag = "users",
    params(("name" = String, Path, description = "The user")),
    request_body = ResetBody,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "The password breaks the rule", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
        (status = 404, description = "No such user the caller may manage", body = ApiError),
    )
)]
pub async fn reset_password(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Body(b): Body<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = path?;
    caller.principal.require(Action::ManageUsers)?;
    let u = managed(&st, &caller, &name).await?;
    st.accounts
        .reset_password(
            &actor(&caller),
            &u.name,
            &Password::new(b.password),
            PasswordState::MustChange,
        )
        .await
        .map_err(access_err)?;
    Ok(StatusCode::NO_CONTENT)
}

/// API tokens (never their values).
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "users",
    params(TokenQuery),
    responses(
        (status = 200, description = "Tokens, newest first", body = TokenList),
        (status = 400, description = "An unknown parameter", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not allowed", body = ApiError),
        (status = 404, description = "No such user", body = ApiError),
    )
)]
pub async fn tokens(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<TokenQuery>,
) -> Result<Json<TokenList>, ApiError> {
    caller.principal.require(Action::ManageUsers)?;
    let owner = match q.user.as_deref() {
        Some(n) => Some(managed(&st, &caller, n).await?.name),
        None => None,
    };
    let users = st
        .accounts
        .list_users(&actor(&caller))
        .await
        .map_err(access_err)?;
    let mine: std::collections::HashSet<i64> = users
        .iter()
        .filter(|u| caller.principal.scope.contains(&u.scope))
        .map(|u| u.id)
        .collect();
    let list = st
        .accounts
        .list_tokens(&actor(&caller), owner.as_deref())
        .await
        .map_err(access_err)?;
    Ok(Json(TokenList {
        items: list
            .iter()
            .filter(|t| mine.contains(&t.user_id))
            .map(token_row)
            .collect(),
    }))
}

/// Issues an API token; its value is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "users",
    request_body = NewTokenBody,
    responses(
        (status = 201, description = "The token, shown once", body = IssuedTokenBody),
        (status = 400, description = "A bad field", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
        (status = 404, description = "No such user the caller may manage", body = ApiError),
    )
)]
pub async fn issue(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<NewTokenBody>,
) -> Result<(StatusCode, Json<IssuedTokenBody>), ApiError> {
    caller.principal.require(Action::ManageUsers)?;
    let u = managed(&st, &caller, &b.user).await?;
    let access: TokenAccess = match b.access.as_deref() {
        None => TokenAccess::ReadOnly,
        Some(a) => parse("access", a)?,
    };
    let expires_at = b
        .expires_at
        .as_deref()
        .map(|v| {
            v.trim()
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .map_err(|_| ApiError::invalid("expires_at", "expected an RFC 3339 instant"))
        })
        .transpose()?;
    let t = st
        .accounts
        .issue_token(
            &actor(&caller),
            &u.name,
            &TokenSpec {
                name: b.name,
                access,
                regions: regions_of("regions", &b.regions)?,
                expires_at,
            },
        )
        .await
        .map_err(access_err)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedTokenBody {
            id: t.id,
            token: t.token.expose().to_string(),
        }),
    ))
}

/// Revokes an API token.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "users",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 400, description = "Not an id", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not an admin", body = ApiError),
        (status = 404, description = "No such token the caller may manage", body = ApiError),
    )
)]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    caller.principal.require(Action::ManageUsers)?;
    let id: i64 = parse("id", &id)?;
    // Only a token of a user the caller manages.
    let users = st
        .accounts
        .list_users(&actor(&caller))
        .await
        .map_err(access_err)?;
    let all = st
        .accounts
        .list_tokens(&actor(&caller), None)
        .await
        .map_err(access_err)?;
    let owned = all.iter().find(|t| t.id == id).is_some_and(|t| {
        users
            .iter()
            .any(|u| u.id == t.user_id && caller.principal.scope.contains(&u.scope))
    });
    if !owned {
        return Err(
            ApiError::new(Code::NotFound, format!("token {id} does not exist")).with_field("id"),
        );
    }
    st.accounts
        .revoke_token(&actor(&caller), id)
        .await
        .map_err(access_err)?;
    Ok(StatusCode::NO_CONTENT)
}
