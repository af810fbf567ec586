//! Users, sessions, API tokens and login attempts in the store (tables `app_user`,
//! `app_session`, `api_token`, `login_attempt`; migration 0004).
//!
//! - **Secrets arrive hashed.** This module never sees a password, a session id or a token:
//!   the access crate hashes them (argon2id for passwords, SHA-256 for the random values) and
//!   looks rows up by hash.
//! - **Every change is audited in its own transaction**: creating a user, changing a password,
//!   disabling or enabling, each login attempt, a logout, issuing and revoking a token, an
//!   unlock — the row and its `audit_log` entry commit together or not at all. Marking a
//!   session or token as just used (`touch_*`) is bookkeeping, not a change, and is not
//!   audited.
//! - **Nothing is deleted**: ended sessions and revoked tokens keep their rows.
//!
//! Must not: decide whether a login, session or token is valid (expiry, lockout, disabled
//! users are the access crate's rules); rows are returned as stored.

use async_trait::async_trait;

use camwatch_core::access::{
    AttemptOutcome, PasswordState, RegionPrefix, Role, Scope, TokenAccess,
};
use camwatch_core::error::{Error, Result};

/// A stored user (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Regions and, for a contractor, the maintainer.
    pub scope: Scope,
    pub password: PasswordState,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub scope: Scope,
    /// argon2id PHC string.
    pub password_hash: String,
    pub password: PasswordState,
}

/// A session to store with a successful login.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Hex SHA-256 of the session id.
    pub token_hash: String,
    /// Hex SHA-256 of the CSRF token.
    pub csrf_hash: String,
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A stored session with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub user: User,
    pub csrf_hash: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: i64,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    pub name: String,
    pub access: TokenAccess,
    /// Narrows the user's scope; empty: the user's.
    pub regions: Vec<RegionPrefix>,
    pub expires_at: Option<i64>,
}

/// A stored token (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub name: String,
    pub access: TokenAccess,
    pub regions: Vec<RegionPrefix>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One login attempt to record.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The name as typed (trimmed), known or not.
    pub user_name: String,
    pub at: i64,
    pub outcome: AttemptOutcome,
    pub ip: Option<String>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user (audit `user.add` by `actor`); `Conflict` when the name is taken.
    async fn create_user(&self, u: &NewUser, actor: &str, at: i64) -> Result<User>;
    /// The user named `name` with its password hash.
    async fn user_by_name(&self, name: &str) -> Result<Option<(User, String)>>;
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// Sorted by name.
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn count_users(&self) -> Result<u64>;
    /// Replaces a user's password hash (audit `user.password`) and ends every open session of
    /// the user but `keep_session`. `NotFound` for an unknown id.
    async fn set_password_hash(
        &self,
        user_id: i64,
        password_hash: &str,
        state: PasswordState,
        keep_session: Option<i64>,
        actor: &str,
        at: i64,
    ) -> Result<()>;
    /// Disables a user, ending its sessions (audit `user.disable`), or enables it again
    /// (`user.enable`). `NotFound` for an unknown id.
    async fn set_disabled(&self, user_id: i64, disabled: bool, actor: &str, at: i64) -> Result<()>;
    /// A name's attempts at or after `since`, in the order they were made.
    async fn login_attempts(
        &self,
        user_name: &str,
        since: i64,
    ) -> Result<Vec<(i64, AttemptOutcome)>>;
    /// Records a login attempt (audit `user.login` or `user.login_failed`, the actor being
    /// the name typed) and, for a success, the new session; returns the session's id.
    async fn record_login(
        &self,
        attempt: &LoginRecord,
        session: Option<(i64, &NewSession)>,
    ) -> Result<Option<i64>>;
    /// Lifts a lock: an `unlocked` attempt (audit `user.unlock` by `actor`).
    async fn unlock(&self, user_name: &str, actor: &str, at: i64) -> Result<()>;
    /// The session whose id hashes to `token_hash`, ended or not.
    async fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRecord>>;
    /// The session was used at `at`.
    async fn touch_session(&self, id: i64, at: i64) -> Result<()>;
    /// Ends an open session (audit `user.logout`); false when it was not open.
    async fn end_session(&self, id: i64, actor: &str, at: i64) -> Result<bool>;
    /// Stores a token (audit `token.issue`); returns its id.
    async fn create_token(&self, t: &NewToken, actor: &str, at: i64) -> Result<i64>;
    /// The token whose value hashes to `token_hash` with its user, revoked or not.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<(TokenRecord, User)>>;
    async fn touch_token(&self, id: i64, at: i64) -> Result<()>;
    /// Revokes a token (audit `token.revoke`); false when it was already revoked;
    /// `NotFound` for an unknown id.
    async fn revoke_token(&self, id: i64, actor: &str, at: i64) -> Result<bool>;
    async fn token_by_id(&self, id: i64) -> Result<Option<TokenRecord>>;
    /// Every token (of one user when given), newest first.
    async fn list_tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenRecord>>;
}

/// `SELECT`able user columns, in [`user_from_parts`]'s order.
pub(crate) const USER_COLUMNS: &str = "u.id, u.name, u.role, u.regions, u.maintainer, \
    u.must_change_password, u.disabled_at, u.created_at, u.updated_at";

/// Token columns (with the user's name), in [`token_from_parts`]'s order.
pub(crate) const TOKEN_COLUMNS: &str = "t.id, t.user_id, u.name, t.name, t.access, t.regions, \
    t.created_at, t.last_used_at, t.expires_at, t.revoked_at";

pub(crate) type UserParts = (
    i64,
    String,
    String,
    String,
    Option<String>,
    bool,
    Option<i64>,
    i64,
    i64,
);

pub(crate) fn user_from_parts(p: UserParts) -> Result<User> {
    let role: Role =
        p.2.parse()
            .map_err(|e| Error::internal(format!("stored user: {e}")))?;
    let regions = camwatch_core::access::scope::parse_regions(&p.3)
        .map_err(|e| Error::internal(format!("stored user {}: {e}", p.1)))?;
    Ok(User {
        id: p.0,
        name: p.1,
        role,
        scope: Scope::new(regions, p.4),
        password: if p.5 {
            PasswordState::MustChange
        } else {
            PasswordState::Current
        },
        disabled_at: p.6,
        created_at: p.7,
        updated_at: p.8,
    })
}

pub(crate) type TokenParts = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

pub(crate) fn token_from_parts(p: TokenParts) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: p.0,
        user_id: p.1,
        user_name: p.2,
        name: p.3,
        access: p
            .4
            .parse()
            .map_err(|e| Error::internal(format!("stored token: {e}")))?,
        regions: camwatch_core::access::scope::parse_regions(&p.5)
            .map_err(|e| Error::internal(format!("stored token {}: {e}", p.0)))?,
        created_at: p.6,
        last_used_at: p.7,
        expires_at: p.8,
        revoked_at: p.9,
    })
}

pub(crate) fn join_regions(r: &[RegionPrefix]) -> String {
    r.iter()
        .map(RegionPrefix::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

macro_rules! users_sql {
    ($ty:ident, $db:ty, $begin:literal) => {
        impl $ty {
            async fn audit_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                at: i64,
                actor: &str,
                action: &str,
                target: &str,
                detail: serde_json::Value,
            ) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(detail.to_string())
                .execute(&mut **tx)
                .await
                .map_err(crate::db_error)?;
                Ok(())
            }

            async fn user_name_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: i64,
            ) -> camwatch_core::error::Result<String> {
                let name: Option<String> = sqlx::query_scalar("SELECT name FROM app_user WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(crate::db_error)?;
                name.ok_or_else(|| camwatch_core::error::Error::not_found(format!("user {id} does not exist")))
            }

            async fn end_sessions_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                user_id: i64,
                keep: Option<i64>,
                at: i64,
            ) -> camwatch_core::error::Result<u64> {
                let r = sqlx::query(
                    "UPDATE app_session SET ended_at = $1
                     WHERE user_id = $2 AND ended_at IS NULL AND id <> $3",
                )
                .bind(at)
                .bind(user_id)
                .bind(keep.unwrap_or(-1))
                .execute(&mut **tx)
                .await
                .map_err(crate::db_error)?;
                Ok(r.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::users::UserStore for $ty {
            async fn create_user(
                &self,
                u: &$crate::users::NewUser,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<$crate::users::User> {
                use camwatch_core::error::{Error, ErrorKind};
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let must = u.password == camwatch_core::access::PasswordState::MustChange;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO app_user (name, role, regions, maintainer, password_hash,
                        must_change_password, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                )
                .bind(&u.name)
                .bind(u.role.as_str())
                .bind(u.scope.regions_text())
                .bind(u.scope.maintainer())
                .bind(&u.password_hash)
                .bind(must)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    let e = crate::db_error(e);
                    if e.kind == ErrorKind::Conflict {
                        Error::conflict(format!(
                            "user {:?} already exists (or a contractor lacks its maintainer)",
                            u.name
                        ))
                    } else {
                        e
                    }
                })?;
                Self::audit_in(
                    &mut tx,
                    at,
                    actor,
                    "user.add",
                    &u.name,
                    serde_json::json!({
                        "id": id,
                        "role": u.role.as_str(),
                        "regions": u.scope.regions_text(),
                        "maintainer": u.scope.maintainer(),
                        "must_change_password": must,
                    }),
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok($crate::users::User {
                    id,
                    name: u.name.clone(),
                    role: u.role,
                    scope: u.scope.clone(),
                    password: u.password,
                    disabled_at: None,
                    created_at: at,
                    updated_at: at,
                })
            }

            async fn user_by_name(
                &self,
                name: &str,
            ) -> camwatch_core::error::Result<Option<($crate::users::User, String)>> {
                let sql = format!(
                    "SELECT {}, u.password_hash FROM app_user u WHERE u.name = $1",
                    $crate::users::USER_COLUMNS
                );
                let row: Option<(i64, String, String, String, Option<String>, bool, Option<i64>, i64, i64, String)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(crate::db_error)?;
                row.map(|r| {
                    let hash = r.9.clone();
                    Ok(($crate::users::user_from_parts((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8))?, hash))
                })
                .transpose()
            }

            async fn user_by_id(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Option<$crate::users::User>> {
                let sql = format!(
                    "SELECT {} FROM app_user u WHERE u.id = $1",
                    $crate::users::USER_COLUMNS
                );
                let row: Option<$crate::users::UserParts> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                row.map($crate::users::user_from_parts).transpose()
            }

            async fn list_users(&self) -> camwatch_core::error::Result<Vec<$crate::users::User>> {
                let sql = format!(
                    "SELECT {} FROM app_user u ORDER BY u.name",
                    $crate::users::USER_COLUMNS
                );
                let rows: Vec<$crate::users::UserParts> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                rows.into_iter().map($crate::users::user_from_parts).collect()
            }

            async fn count_users(&self) -> camwatch_core::error::Result<u64> {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM app_user")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                Ok(n as u64)
            }

            async fn set_password_hash(
                &self,
                user_id: i64,
                password_hash: &str,
                state: camwatch_core::access::PasswordState,
                keep_session: Option<i64>,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let name = Self::user_name_in(&mut tx, user_id).await?;
                let must = state == camwatch_core::access::PasswordState::MustChange;
                sqlx::query(
                    "UPDATE app_user SET password_hash = $1, must_change_password = $2, updated_at = $3
                     WHERE id = $4",
                )
                .bind(password_hash)
                .bind(must)
                .bind(at)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                let ended = Self::end_sessions_in(&mut tx, user_id, keep_session, at).await?;
                Self::audit_in(
                    &mut tx,
                    at,
                    actor,
                    "user.password",
                    &name,
                    serde_json::json!({ "must_change_password": must, "sessions_ended": ended }),
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn set_disabled(
                &self,
                user_id: i64,
                disabled: bool,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let name = Self::user_name_in(&mut tx, user_id).await?;
                sqlx::query("UPDATE app_user SET disabled_at = $1, updated_at = $2 WHERE id = $3")
                    .bind(disabled.then_some(at))
                    .bind(at)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                let ended = if disabled {
                    Self::end_sessions_in(&mut tx, user_id, None, at).await?
                } else {
                    0
                };
                Self::audit_in(
                    &mut tx,
                    at,
                    actor,
                    if disabled { "user.disable" } else { "user.enable" },
                    &name,
                    serde_json::json!({ "sessions_ended": ended }),
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn login_attempts(
                &self,
                user_name: &str,
                since: i64,
            ) -> camwatch_core::error::Result<Vec<(i64, camwatch_core::access::AttemptOutcome)>> {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT at, outcome FROM login_attempt WHERE user_name = $1 AND at >= $2 ORDER BY id",
                )
                .bind(user_name)
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(at, o)| {
                        Ok((
                            at,
                            o.parse().map_err(|e| {
                                camwatch_core::error::Error::internal(format!("stored login attempt: {e}"))
                            })?,
                        ))
                    })
                    .collect()
            }

            async fn record_login(
                &self,
                attempt: &$crate::users::LoginRecord,
                session: Option<(i64, &$crate::users::NewSession)>,
            ) -> camwatch_core::error::Result<Option<i64>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                sqlx::query(
                    "INSERT INTO login_attempt (user_name, at, outcome, ip) VALUES ($1, $2, $3, $4)",
                )
                .bind(&attempt.user_name)
                .bind(attempt.at)
                .bind(attempt.outcome.as_str())
                .bind(&attempt.ip)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                let session_id = match session {
                    Some((user_id, s)) => Some(
                        sqlx::query_scalar::<_, i64>(
                            "INSERT INTO app_session (token_hash, user_id, csrf_hash, created_at,
                                last_seen_at, expires_at, user_agent, ip)
                             VALUES ($1, $2, $3, $4, $4, $5, $6, $7) RETURNING id",
                        )
                        .bind(&s.token_hash)
                        .bind(user_id)
                        .bind(&s.csrf_hash)
                        .bind(attempt.at)
                        .bind(s.expires_at)
                        .bind(&s.user_agent)
                        .bind(&s.ip)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(crate::db_error)?,
                    ),
                    None => None,
                };
                let action = if attempt.outcome == camwatch_core::access::AttemptOutcome::Success {
                    "user.login"
                } else {
                    "user.login_failed"
                };
                Self::audit_in(
                    &mut tx,
                    attempt.at,
                    &attempt.user_name,
                    action,
                    &attempt.user_name,
                    serde_json::json!({
                        "outcome": attempt.outcome.as_str(),
                        "ip": attempt.ip,
                        "session": session_id,
                    }),
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(session_id)
            }

            async fn unlock(
                &self,
                user_name: &str,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                sqlx::query(
                    "INSERT INTO login_attempt (user_name, at, outcome) VALUES ($1, $2, 'unlocked')",
                )
                .bind(user_name)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                Self::audit_in(&mut tx, at, actor, "user.unlock", user_name, serde_json::json!({}))
                    .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn session_by_hash(
                &self,
                token_hash: &str,
            ) -> camwatch_core::error::Result<Option<$crate::users::SessionRecord>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT {}, s.id, s.csrf_hash, s.created_at, s.last_seen_at, s.expires_at, s.ended_at
                     FROM app_session s JOIN app_user u ON u.id = s.user_id WHERE s.token_hash = $1",
                    $crate::users::USER_COLUMNS
                );
                let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)?
                else {
                    return Ok(None);
                };
                let e = crate::db_error;
                let user = $crate::users::user_from_parts((
                    r.try_get(0).map_err(e)?,
                    r.try_get(1).map_err(e)?,
                    r.try_get(2).map_err(e)?,
                    r.try_get(3).map_err(e)?,
                    r.try_get(4).map_err(e)?,
                    r.try_get(5).map_err(e)?,
                    r.try_get(6).map_err(e)?,
                    r.try_get(7).map_err(e)?,
                    r.try_get(8).map_err(e)?,
                ))?;
                Ok(Some($crate::users::SessionRecord {
                    user,
                    id: r.try_get(9).map_err(e)?,
                    csrf_hash: r.try_get(10).map_err(e)?,
                    created_at: r.try_get(11).map_err(e)?,
                    last_seen_at: r.try_get(12).map_err(e)?,
                    expires_at: r.try_get(13).map_err(e)?,
                    ended_at: r.try_get(14).map_err(e)?,
                }))
            }

            async fn touch_session(&self, id: i64, at: i64) -> camwatch_core::error::Result<()> {
                sqlx::query("UPDATE app_session SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                Ok(())
            }

            async fn end_session(
                &self,
                id: i64,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let r = sqlx::query("UPDATE app_session SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                let ended = r.rows_affected() > 0;
                if ended {
                    Self::audit_in(&mut tx, at, actor, "user.logout", actor, serde_json::json!({ "session": id }))
                        .await?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(ended)
            }

            async fn create_token(
                &self,
                t: &$crate::users::NewToken,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<i64> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let user = Self::user_name_in(&mut tx, t.user_id).await?;
                let regions = $crate::users::join_regions(&t.regions);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_token (token_hash, user_id, name, access, regions, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(&t.token_hash)
                .bind(t.user_id)
                .bind(&t.name)
                .bind(t.access.as_str())
                .bind(&regions)
                .bind(at)
                .bind(t.expires_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                Self::audit_in(
                    &mut tx,
                    at,
                    actor,
                    "token.issue",
                    &user,
                    serde_json::json!({
                        "token": id, "name": t.name, "access": t.access.as_str(),
                        "regions": regions, "expires_at": t.expires_at,
                    }),
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(id)
            }

            async fn token_by_hash(
                &self,
                token_hash: &str,
            ) -> camwatch_core::error::Result<Option<($crate::users::TokenRecord, $crate::users::User)>> {
                let Some(t) = self.token_where("t.token_hash = $1", token_hash).await? else {
                    return Ok(None);
                };
                let user = self.user_by_id(t.user_id).await?.ok_or_else(|| {
                    camwatch_core::error::Error::internal(format!("token {} has no user", t.id))
                })?;
                Ok(Some((t, user)))
            }

            async fn touch_token(&self, id: i64, at: i64) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "UPDATE api_token SET last_used_at = $1
                     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok(())
            }

            async fn revoke_token(
                &self,
                id: i64,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<bool> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let owner: Option<(String, String)> = sqlx::query_as(
                    "SELECT u.name, t.name FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                let Some((user, name)) = owner else {
                    return Err(camwatch_core::error::Error::not_found(format!(
                        "token {id} does not exist"
                    )));
                };
                let r = sqlx::query("UPDATE api_token SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                let revoked = r.rows_affected() > 0;
                if revoked {
                    Self::audit_in(
                        &mut tx,
                        at,
                        actor,
                        "token.revoke",
                        &user,
                        serde_json::json!({ "token": id, "name": name }),
                    )
                    .await?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(revoked)
            }

            async fn token_by_id(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Option<$crate::users::TokenRecord>> {
                self.token_where("t.id = $1", id).await
            }

            async fn list_tokens(
                &self,
                user_id: Option<i64>,
            ) -> camwatch_core::error::Result<Vec<$crate::users::TokenRecord>> {
                let sql = format!(
                    "SELECT {} FROM api_token t JOIN app_user u ON u.id = t.user_id
                     WHERE $1 IS NULL OR t.user_id = $1 ORDER BY t.id DESC",
                    $crate::users::TOKEN_COLUMNS
                );
                let rows: Vec<$crate::users::TokenParts> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                rows.into_iter().map($crate::users::token_from_parts).collect()
            }
        }

        impl $ty {
            /// The one token matching `cond` (a fixed condition on one bound value).
            async fn token_where<'q, T>(
                &self,
                cond: &'static str,
                value: T,
            ) -> camwatch_core::error::Result<Option<$crate::users::TokenRecord>>
            where
                T: 'q + Send + sqlx::Encode<'q, $db> + sqlx::Type<$db>,
            {
                let sql = format!(
                    "SELECT {} FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE {cond}",
                    $crate::users::TOKEN_COLUMNS
                );
                let row: Option<$crate::users::TokenParts> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                row.map($crate::users::token_from_parts).transpose()
            }
        }
    };
}
pub(crate) use users_sql;
