//! camwatch-access: accounts for the HTTP API and the CLI. Logs users in (with lockout),
//! issues and checks sessions and API tokens, and changes users, each change audited.
//!
//! The rules themselves are pure and live in `camwatch_core::access` (roles, permissions,
//! scope, the password rule, the lockout policy); rows live in `camwatch_store::users`. This
//! crate is the glue with the secrets in it:
//!
//! - [`Accounts::login`] → an [`IssuedSession`] (session id for the cookie, CSRF token) and
//!   the [`Principal`];
//! - [`Accounts::session`] / [`Accounts::token`] → who is calling (a [`SessionAuth`] carries
//!   the CSRF check for cookie-authenticated writes);
//! - user management: [`Accounts::create_user`], [`Accounts::reset_password`],
//!   [`Accounts::change_own_password`], [`Accounts::disable`], [`Accounts::enable`],
//!   [`Accounts::unlock`], [`Accounts::issue_token`], [`Accounts::revoke_token`], the lists,
//!   and [`Accounts::ensure_first_admin`] at start-up.
//!
//! Invariants:
//! - **No secret is stored usable.** Passwords are argon2id hashes; session ids, CSRF tokens
//!   and API tokens are random 256-bit values stored as SHA-256 digests and returned to their
//!   owner exactly once, as a [`Secret`] that never prints.
//! - **A login never tells whether a name exists**: an unknown name costs the same argon2
//!   verification (against a dummy hash) and is locked out the same way; only the caller's own
//!   error value distinguishes them, and [`LoginError::public_message`] merges them.
//! - **Every session is new at login** (no id chosen by a client is ever accepted: fixation),
//!   and a password change or a disable ends the user's other sessions.
//! - **Time is the injected clock's**; nothing here reads the system time.
//! - Management calls check the [`Actor`]'s permission themselves, so no caller can forget.
//!
//! Must not: speak HTTP (cookies, headers and status codes are the API's), print, or log a
//! secret.
//!
//! Known limit: two logins racing on one name may together exceed the failure count by one
//! before the lock applies (the count is read, then the attempt written).

mod crypto;

use std::sync::Arc;

use camwatch_core::access::{
    Action, AttemptOutcome, Denied, LockState, LockoutPolicy, PasswordProblem, PasswordRule,
    PasswordState, Principal, RegionPrefix, Role, Scope, TokenAccess,
};
use camwatch_core::clock::SharedClock;
use camwatch_core::error::{Error, ErrorKind};
use camwatch_core::secret::Password;
use camwatch_store::{LoginRecord, NewSession, NewToken, NewUser, Store, TokenRecord, User};

pub use crypto::Secret;

/// The most characters in a user name or a token name.
pub const NAME_CHARS: usize = 64;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPolicy {
    /// A session unused this long ends (MLPS asks for an idle timeout): 30 minutes.
    pub idle_sec: i64,
    /// A session ends this long after login whatever its use: 12 hours.
    pub absolute_sec: i64,
    /// `last_seen` is written at most this often, not on every request: 60 s.
    pub touch_every_sec: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_sec: 30 * 60,
            absolute_sec: 12 * 3600,
            touch_every_sec: 60,
        }
    }
}

/// Every account rule in one value (the config's `[access]` section, when it has one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub password: PasswordRule,
    pub lockout: LockoutPolicy,
    pub session: SessionPolicy,
}

/// Who asks for a change: the local command line, camwatch itself, or a signed-in user.
#[derive(Debug, Clone)]
pub enum Actor {
    /// `camwatch user …` run by this OS user: whoever can run it holds the database and the
    /// key, so it may do everything.
    Cli { os_user: String },
    /// camwatch itself (the first admin).
    System,
    /// A signed-in user or token; its role and scope are checked.
    User(Principal),
}

impl Actor {
    /// The audit log's actor: `cli:<os user>`, `system`, the user name (with the token).
    pub fn audit_name(&self) -> String {
        match self {
            Self::Cli { os_user } => format!("cli:{os_user}"),
            Self::System => "system".into(),
            Self::User(p) => match p.token {
                Some((id, _)) => format!("{} (token {id})", p.name),
                None => p.name.clone(),
            },
        }
    }

    fn require(&self, action: Action) -> Result<(), AccessError> {
        match self {
            Self::Cli { .. } | Self::System => Ok(()),
            Self::User(p) => p.require(action).map_err(AccessError::Denied),
        }
    }

    /// The scope within which this actor may hand out access.
    fn scope(&self) -> Scope {
        match self {
            Self::User(p) => p.scope.clone(),
            _ => Scope::all(),
        }
    }
}

/// Where a login comes from (recorded with the attempt and the session).
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Why a login failed.
#[derive(Debug)]
pub enum LoginError {
    UnknownUser,
    WrongPassword,
    /// Too many failures: refused unchecked until `until` (Unix seconds).
    Locked {
        until: i64,
    },
    /// The right password for a disabled user.
    Disabled,
    Store(Error),
}

impl LoginError {
    /// What to tell the client: an unknown name and a wrong password read the same.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::UnknownUser | Self::WrongPassword => "wrong user name or password",
            Self::Locked { .. } => "too many failed logins: try again later",
            Self::Disabled => "this account is disabled",
            Self::Store(_) => "login is unavailable",
        }
    }
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => write!(f, "login: {e}"),
            Self::Locked { until } => write!(
                f,
                "{} (until {})",
                self.public_message(),
                camwatch_store::fmt_at(*until)
            ),
            _ => f.write_str(self.public_message()),
        }
    }
}

impl std::error::Error for LoginError {}

/// Why a session id or token was refused (HTTP 401).
#[derive(Debug)]
pub enum AuthError {
    /// Not a session id or token camwatch issued.
    Unknown,
    /// Idle too long, past its lifetime, or past a token's expiry.
    Expired,
    /// Logged out, ended by a password change, or a revoked token.
    Ended,
    /// The user is disabled.
    Disabled,
    Store(Error),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown => f.write_str("not signed in"),
            Self::Expired => f.write_str("the session or token has expired"),
            Self::Ended => f.write_str("the session or token has ended"),
            Self::Disabled => f.write_str("this account is disabled"),
            Self::Store(e) => write!(f, "authentication: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Why a management call was refused.
#[derive(Debug)]
pub enum AccessError {
    /// The actor may not (HTTP 403).
    Denied(Denied),
    /// The new password fails the rule: every problem.
    WeakPassword(Vec<PasswordProblem>),
    /// A change of one's own password named the wrong current one.
    WrongCurrentPassword,
    /// Anything else, with its kind: a bad name or scope (`InvalidArgument`), no such user or
    /// token (`NotFound`), a taken name (`Conflict`), the database (`Unavailable`).
    Error(Error),
}

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied(d) => d.fmt(f),
            Self::WeakPassword(p) => {
                let parts: Vec<String> = p.iter().map(ToString::to_string).collect();
                write!(f, "the password needs {}", parts.join(", "))
            }
            Self::WrongCurrentPassword => f.write_str("the current password is wrong"),
            Self::Error(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AccessError {}

impl From<Error> for AccessError {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

impl From<AccessError> for Error {
    /// For the CLI, which reports every failure the same way.
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Error(e) => e,
            other => Error::invalid(other.to_string()),
        }
    }
}

/// A session handed out at login: the id goes in the cookie, the CSRF token to the page.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub id: i64,
    pub token: Secret,
    pub csrf: Secret,
    /// Its absolute end (Unix seconds); it ends earlier when idle.
    pub expires_at: i64,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub session: IssuedSession,
    pub principal: Principal,
}

/// A valid session: who it is, and the CSRF check for its writes.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub session_id: i64,
    pub principal: Principal,
    pub expires_at: i64,
    csrf_hash: String,
}

impl SessionAuth {
    /// Whether `presented` (the request's CSRF header or field) is this session's CSRF token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        crypto::same_digest(&crypto::digest(presented), &self.csrf_hash)
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub role: Role,
    /// A contractor's must name its maintainer; no one else's may.
    pub scope: Scope,
    /// `None`: a random one is generated and returned.
    pub password: Option<Password>,
}

/// An API token to issue.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    /// What it is for.
    pub name: String,
    pub access: TokenAccess,
    /// Narrows the user's scope (empty: the user's).
    pub regions: Vec<RegionPrefix>,
    /// Unix seconds; `None`: until revoked.
    pub expires_at: Option<i64>,
}

/// A token handed out once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: i64,
    pub token: Secret,
}

/// The first admin, created at the first start.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub name: String,
    /// One-time: it must be changed at the first login.
    pub password: Secret,
}

/// The account service. Cheap to clone (an `Arc` inside would do; it holds `Arc`s).
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    clock: SharedClock,
    policy: Policy,
    /// Verified against when the name is unknown, so that costs what a known name costs.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn principal_of(user: &User, scope: Scope, token: Option<(i64, TokenAccess)>) -> Principal {
    Principal {
        user_id: user.id,
        name: user.name.clone(),
        role: user.role,
        scope,
        token,
        password: user.password,
    }
}

fn invalid(msg: impl Into<String>) -> AccessError {
    AccessError::Error(Error::invalid(msg))
}

/// A user or token name: 1–64 characters, no control characters, no blanks at either end.
fn check_name(what: &str, name: &str) -> Result<(), AccessError> {
    if name.trim().is_empty() {
        return Err(invalid(format!("{what}: must not be empty")));
    }
    if name.trim() != name {
        return Err(invalid(format!("{what} {name:?}: no blanks at either end")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!("{what} {name:?}: no control characters")));
    }
    camwatch_core::limits::check_chars(name, NAME_CHARS)
        .map_err(|e| invalid(format!("{what}: {e}")))
}

impl Accounts {
    /// An account service over `store`, reading time from `clock`. Hashes one dummy password
    /// (a few tens of milliseconds).
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, policy: Policy) -> Result<Self, Error> {
        let dummy = crypto::random_token("")?;
        Ok(Self {
            store,
            clock,
            policy,
            dummy_hash: crypto::hash_password(dummy.expose())?.into(),
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// argon2 takes tens of milliseconds of CPU: off the async workers.
    async fn hash(&self, password: &str) -> Result<String, Error> {
        let p = password.to_string();
        tokio::task::spawn_blocking(move || crypto::hash_password(&p))
            .await
            .map_err(|e| Error::internal(format!("hashing: {e}")))?
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, Error> {
        let (p, h) = (password.to_string(), hash.to_string());
        tokio::task::spawn_blocking(move || crypto::verify_password(&p, &h))
            .await
            .map_err(|e| Error::internal(format!("verifying: {e}")))
    }

    // --- login, sessions, tokens ---

    /// Logs `name` in with `password`: a new session, or why not. Every attempt is recorded
    /// (and audited) under the name as typed.
    pub async fn login(
        &self,
        name: &str,
        password: &Password,
        client: &Client,
    ) -> Result<Login, LoginError> {
        // Attempts are counted under the name as typed, cut to a bound (a longer name is no
        // user's: `NAME_CHARS`), so a huge name neither fills the table nor escapes the count.
        let name: String = name.trim().chars().take(NAME_CHARS + 1).collect();
        let name = name.as_str();
        let now = self.now();
        let record = |outcome| LoginRecord {
            user_name: name.to_string(),
            at: now,
            outcome,
            ip: client.ip.clone(),
        };
        let attempts = self
            .store
            .login_attempts(name, self.policy.lockout.horizon(now))
            .await
            .map_err(LoginError::Store)?;
        if let LockState::Locked { until } = self.policy.lockout.state(&attempts, now) {
            self.store
                .record_login(&record(AttemptOutcome::Locked), None)
                .await
                .map_err(LoginError::Store)?;
            return Err(LoginError::Locked { until });
        }
        let user = self
            .store
            .user_by_name(name)
            .await
            .map_err(LoginError::Store)?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.to_string(), |(_, h)| h.clone());
        let ok = self
            .verify(password.expose(), &hash)
            .await
            .map_err(LoginError::Store)?;
        let (user, outcome) = match user {
            None => (None, AttemptOutcome::UnknownUser),
            Some(_) if !ok => (None, AttemptOutcome::WrongPassword),
            Some((u, _)) if u.disabled_at.is_some() => (None, AttemptOutcome::Disabled),
            Some((u, _)) => (Some(u), AttemptOutcome::Success),
        };
        let Some(user) = user else {
            self.store
                .record_login(&record(outcome), None)
                .await
                .map_err(LoginError::Store)?;
            return Err(match outcome {
                AttemptOutcome::UnknownUser => LoginError::UnknownUser,
                AttemptOutcome::Disabled => LoginError::Disabled,
                _ => LoginError::WrongPassword,
            });
        };
        let token = crypto::random_token("").map_err(LoginError::Store)?;
        let csrf = crypto::random_token("").map_err(LoginError::Store)?;
        let expires_at = now + self.policy.session.absolute_sec;
        let new = NewSession {
            token_hash: crypto::digest(token.expose()),
            csrf_hash: crypto::digest(csrf.expose()),
            expires_at,
            user_agent: client
                .user_agent
                .as_ref()
                .map(|s| s.chars().take(500).collect()),
            ip: client.ip.clone(),
        };
        let id = self
            .store
            .record_login(&record(AttemptOutcome::Success), Some((user.id, &new)))
            .await
            .map_err(LoginError::Store)?
            .ok_or_else(|| LoginError::Store(Error::internal("a login stored no session")))?;
        Ok(Login {
            session: IssuedSession {
                id,
                token,
                csrf,
                expires_at,
            },
            principal: principal_of(&user, user.scope.clone(), None),
        })
    }

    /// Who holds the session id `token` (the cookie's value), if it is valid now. Marks it
    /// used, which keeps it from idling out.
    pub async fn session(&self, token: &str) -> Result<SessionAuth, AuthError> {
        self.check_session(token, true).await
    }

    /// As [`Self::session`], without marking it used: for a long-lived reader (an event
    /// stream) re-checking that its session still holds, which must not keep it from idling
    /// out.
    pub async fn session_still_valid(&self, token: &str) -> Result<SessionAuth, AuthError> {
        self.check_session(token, false).await
    }

    async fn check_session(&self, token: &str, touch: bool) -> Result<SessionAuth, AuthError> {
        let now = self.now();
        let s = self
            .store
            .session_by_hash(&crypto::digest(token))
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::Unknown)?;
        let p = &self.policy.session;
        if s.ended_at.is_some() {
            return Err(AuthError::Ended);
        }
        if now >= s.expires_at || now - s.last_seen_at >= p.idle_sec {
            return Err(AuthError::Expired);
        }
        if s.user.disabled_at.is_some() {
            return Err(AuthError::Disabled);
        }
        if touch && now - s.last_seen_at >= p.touch_every_sec {
            self.store
                .touch_session(s.id, now)
                .await
                .map_err(AuthError::Store)?;
        }
        Ok(SessionAuth {
            session_id: s.id,
            principal: principal_of(&s.user, s.user.scope.clone(), None),
            expires_at: s.expires_at,
            csrf_hash: s.csrf_hash,
        })
    }

    /// Ends the session `token` (logout); false when it was not open.
    pub async fn logout(&self, token: &str) -> Result<bool, Error> {
        let Some(s) = self.store.session_by_hash(&crypto::digest(token)).await? else {
            return Ok(false);
        };
        self.store.end_session(s.id, &s.user.name, self.now()).await
    }

    /// Who holds the API token `token` (a bearer token), if it is valid now: its user, with
    /// the scope narrowed to the token's and its access.
    pub async fn token(&self, token: &str) -> Result<Principal, AuthError> {
        let now = self.now();
        let (t, user) = self
            .store
            .token_by_hash(&crypto::digest(token))
            .await
            .map_err(AuthError::Store)?
            .ok_or(AuthError::Unknown)?;
        if t.revoked_at.is_some() {
            return Err(AuthError::Ended);
        }
        if t.expires_at.is_some_and(|e| now >= e) {
            return Err(AuthError::Expired);
        }
        if user.disabled_at.is_some() {
            return Err(AuthError::Disabled);
        }
        // The user's scope may have narrowed since: a token region outside it ends the token.
        let scope = user
            .scope
            .narrow(&t.regions)
            .map_err(|_| AuthError::Ended)?;
        if t.last_used_at
            .is_none_or(|u| now - u >= self.policy.session.touch_every_sec)
        {
            self.store
                .touch_token(t.id, now)
                .await
                .map_err(AuthError::Store)?;
        }
        Ok(principal_of(&user, scope, Some((t.id, t.access))))
    }

    // --- users ---

    async fn user_named(&self, name: &str) -> Result<User, AccessError> {
        Ok(self
            .store
            .user_by_name(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {name:?} does not exist")))?
            .0)
    }

    fn check_password(&self, password: &str, name: &str) -> Result<(), AccessError> {
        let p = self.policy.password.problems(password, name);
        if p.is_empty() {
            Ok(())
        } else {
            Err(AccessError::WeakPassword(p))
        }
    }

    /// Creates a user who must change the password at the first login (whoever set it knows
    /// it). Returns the user and, when none was given, the generated one-time password.
    pub async fn create_user(
        &self,
        by: &Actor,
        a: &NewAccount,
    ) -> Result<(User, Option<Secret>), AccessError> {
        by.require(Action::ManageUsers)?;
        check_name("user name", &a.name)?;
        match (a.role.needs_maintainer(), a.scope.maintainer()) {
            (true, None) => {
                return Err(invalid(
                    "a contractor stands for a maintainer (运维单位): name it",
                ));
            }
            (false, Some(m)) => {
                return Err(invalid(format!(
                    "only a contractor stands for a maintainer; a {} may not ({m})",
                    a.role
                )));
            }
            _ => {}
        }
        if let Some(m) = a.scope.maintainer() {
            camwatch_core::limits::check_chars(m, camwatch_core::limits::TEXT_CHARS)
                .map_err(|e| invalid(format!("maintainer: {e}")))?;
        }
        if !by.scope().contains(&a.scope) {
            return Err(invalid(format!(
                "the scope {} is wider than your own ({})",
                a.scope,
                by.scope()
            )));
        }
        let (password, generated) = match &a.password {
            Some(p) => {
                self.check_password(p.expose(), &a.name)?;
                (p.expose().to_string(), None)
            }
            None => {
                let g = crypto::generate_password(&self.policy.password)?;
                (g.expose().to_string(), Some(g))
            }
        };
        let user = self
            .store
            .create_user(
                &NewUser {
                    name: a.name.clone(),
                    role: a.role,
                    scope: a.scope.clone(),
                    password_hash: self.hash(&password).await?,
                    password: PasswordState::MustChange,
                },
                &by.audit_name(),
                self.now(),
            )
            .await?;
        Ok((user, generated))
    }

    /// Sets `name`'s password for them (an admin's reset, or the CLI's); `state` says whether
    /// they must change it at the next login (an admin's reset: `MustChange`). Ends the user's
    /// sessions.
    pub async fn reset_password(
        &self,
        by: &Actor,
        name: &str,
        password: &Password,
        state: PasswordState,
    ) -> Result<(), AccessError> {
        by.require(Action::ManageUsers)?;
        let user = self.user_named(name).await?;
        self.check_password(password.expose(), name)?;
        let hash = self.hash(password.expose()).await?;
        self.store
            .set_password_hash(user.id, &hash, state, None, &by.audit_name(), self.now())
            .await?;
        Ok(())
    }

    /// A signed-in user changes their own password, naming the current one. Ends their other
    /// sessions (the one in `keep_session` stays).
    pub async fn change_own_password(
        &self,
        who: &Principal,
        keep_session: Option<i64>,
        current: &Password,
        new: &Password,
    ) -> Result<(), AccessError> {
        who.require(Action::ChangeOwnPassword)
            .map_err(AccessError::Denied)?;
        if who.token.is_some() {
            return Err(invalid(
                "sign in with the password to change it, not with a token",
            ));
        }
        let (user, hash) = self
            .store
            .user_by_name(&who.name)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {:?} does not exist", who.name)))?;
        if !self.verify(current.expose(), &hash).await? {
            return Err(AccessError::WrongCurrentPassword);
        }
        self.check_password(new.expose(), &user.name)?;
        if current.expose() == new.expose() {
            return Err(invalid("the new password must differ from the current one"));
        }
        let hash = self.hash(new.expose()).await?;
        self.store
            .set_password_hash(
                user.id,
                &hash,
                PasswordState::Current,
                keep_session,
                &user.name,
                self.now(),
            )
            .await?;
        Ok(())
    }

    /// Disables `name`: no login, its sessions end, its tokens stop working. Nobody disables
    /// themselves, and the last enabled admin stays.
    pub async fn disable(&self, by: &Actor, name: &str) -> Result<(), AccessError> {
        by.require(Action::ManageUsers)?;
        let user = self.user_named(name).await?;
        if let Actor::User(p) = by
            && p.user_id == user.id
        {
            return Err(invalid("you cannot disable yourself"));
        }
        if user.role == Role::Admin && user.disabled_at.is_none() {
            let admins = self
                .store
                .list_users()
                .await?
                .into_iter()
                .filter(|u| u.role == Role::Admin && u.disabled_at.is_none())
                .count();
            if admins <= 1 {
                return Err(AccessError::Error(Error::conflict(format!(
                    "{name} is the last enabled admin: create or enable another first"
                ))));
            }
        }
        self.store
            .set_disabled(user.id, true, &by.audit_name(), self.now())
            .await?;
        Ok(())
    }

    /// Enables a disabled user again.
    pub async fn enable(&self, by: &Actor, name: &str) -> Result<(), AccessError> {
        by.require(Action::ManageUsers)?;
        let user = self.user_named(name).await?;
        self.store
            .set_disabled(user.id, false, &by.audit_name(), self.now())
            .await?;
        Ok(())
    }

    /// Lifts a login lock on `name` (known or not).
    pub async fn unlock(&self, by: &Actor, name: &str) -> Result<(), AccessError> {
        by.require(Action::ManageUsers)?;
        self.store
            .unlock(name.trim(), &by.audit_name(), self.now())
            .await?;
        Ok(())
    }

    /// Whether `name` may try to log in now.
    pub async fn lock_state(&self, name: &str) -> Result<LockState, Error> {
        let now = self.now();
        let a = self
            .store
            .login_attempts(name.trim(), self.policy.lockout.horizon(now))
            .await?;
        Ok(self.policy.lockout.state(&a, now))
    }

    /// Every user, by name.
    pub async fn list_users(&self, by: &Actor) -> Result<Vec<User>, AccessError> {
        by.require(Action::ManageUsers)?;
        Ok(self.store.list_users().await?)
    }

    /// At the first start (no user at all), creates the admin `admin` with a random one-time
    /// password to print; `None` when there are users already. There is no built-in default.
    pub async fn ensure_first_admin(&self) -> Result<Option<FirstAdmin>, Error> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let password = crypto::generate_password(&self.policy.password)?;
        let created = self
            .store
            .create_user(
                &NewUser {
                    name: "admin".into(),
                    role: Role::Admin,
                    scope: Scope::all(),
                    password_hash: self.hash(password.expose()).await?,
                    password: PasswordState::MustChange,
                },
                &Actor::System.audit_name(),
                self.now(),
            )
            .await;
        match created {
            Ok(u) => Ok(Some(FirstAdmin {
                name: u.name,
                password,
            })),
            // Another process started first and made it.
            Err(e) if e.kind == ErrorKind::Conflict => Ok(None),
            Err(e) => Err(e),
        }
    }

    // --- API tokens ---

    /// Whether `by` may manage `owner`'s tokens: its own (signed in with a password, not a
    /// token), or anyone's with `ManageUsers`.
    fn may_manage_tokens_of(&self, by: &Actor, owner: &User) -> Result<(), AccessError> {
        if let Actor::User(p) = by
            && p.user_id == owner.id
        {
            if p.token.is_some() {
                return Err(invalid("a token cannot issue or revoke tokens"));
            }
            return p
                .require(Action::ChangeOwnPassword)
                .map_err(AccessError::Denied);
        }
        by.require(Action::ManageUsers)
    }

    /// Issues an API token for `owner` (an enabled user), narrowed to `spec.regions`.
    pub async fn issue_token(
        &self,
        by: &Actor,
        owner: &str,
        spec: &TokenSpec,
    ) -> Result<IssuedToken, AccessError> {
        let user = self.user_named(owner).await?;
        self.may_manage_tokens_of(by, &user)?;
        check_name("token name", &spec.name)?;
        if user.disabled_at.is_some() {
            return Err(invalid(format!("{owner} is disabled")));
        }
        user.scope.narrow(&spec.regions).map_err(invalid)?;
        let now = self.now();
        if spec.expires_at.is_some_and(|e| e <= now) {
            return Err(invalid("the token would expire before it is issued"));
        }
        let token = crypto::random_token("cwt_")?;
        let id = self
            .store
            .create_token(
                &NewToken {
                    user_id: user.id,
                    token_hash: crypto::digest(token.expose()),
                    name: spec.name.clone(),
                    access: spec.access,
                    regions: spec.regions.clone(),
                    expires_at: spec.expires_at,
                },
                &by.audit_name(),
                now,
            )
            .await?;
        Ok(IssuedToken { id, token })
    }

    /// Revokes token `id`; false when it was already revoked.
    pub async fn revoke_token(&self, by: &Actor, id: i64) -> Result<bool, AccessError> {
        let t = self
            .store
            .token_by_id(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("token {id} does not exist")))?;
        let owner = self
            .store
            .user_by_id(t.user_id)
            .await?
            .ok_or_else(|| Error::internal(format!("token {id} has no user")))?;
        self.may_manage_tokens_of(by, &owner)?;
        Ok(self
            .store
            .revoke_token(id, &by.audit_name(), self.now())
            .await?)
    }

    /// `owner`'s tokens (everyone's when `None`, which needs `ManageUsers`), newest first.
    pub async fn list_tokens(
        &self,
        by: &Actor,
        owner: Option<&str>,
    ) -> Result<Vec<TokenRecord>, AccessError> {
        match owner {
            Some(name) => {
                let user = self.user_named(name).await?;
                self.may_manage_tokens_of(by, &user)?;
                Ok(self.store.list_tokens(Some(user.id)).await?)
            }
            None => {
                by.require(Action::ManageUsers)?;
                Ok(self.store.list_tokens(None).await?)
            }
        }
    }
}

#[cfg(test)]
mod tests;
