//! The account service on a real SQLite store and a manual clock: logins, lockout, sessions,
//! tokens, user management and the audit log they leave.

use std::sync::Arc;
use std::time::Duration;

use camwatch_core::access::{Action, LockState, PasswordState, Role, Scope, TokenAccess};
use camwatch_core::clock::{Clock, ManualClock};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_store::Store;

use super::*;

struct Env {
    accounts: Accounts,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let clock = Arc::new(ManualClock::new("2026-12-01T08:00:00Z".parse().unwrap()));
    let accounts = Accounts::new(store.clone(), clock.clone(), Policy::default()).unwrap();
    Env {
        accounts,
        store,
        clock,
        _dir: dir,
    }
}

fn cli() -> Actor {
    Actor::Cli {
        os_user: "root".into(),
    }
}

fn pw(s: &str) -> Password {
    Password::new(s)
}

const GOOD: &str = "Camw4tch!";
const OTHER: &str = "N3w-passw0rd";

fn region(s: &str) -> Scope {
    Scope::new(
        camwatch_core::access::scope::parse_regions(s).unwrap(),
        None,
    )
}

impl Env {
    async fn user(&self, name: &str, role: Role, scope: Scope) -> User {
        self.accounts
            .create_user(
                &cli(),
                &NewAccount {
                    name: name.into(),
                    role,
                    scope,
                    password: Some(pw(GOOD)),
                },
            )
            .await
            .unwrap()
            .0
    }

    /// A user whose password is current (no change pending), logged in.
    async fn signed_in(&self, name: &str, role: Role, scope: Scope) -> Login {
        self.user(name, role, scope).await;
        self.accounts
            .reset_password(&cli(), name, &pw(GOOD), PasswordState::Current)
            .await
            .unwrap();
        self.accounts
            .login(name, &pw(GOOD), &Client::default())
            .await
            .unwrap()
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    async fn audit_actions(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self
            .store
            .recent_audit(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.action, e.target))
            .collect();
        v.reverse();
        v
    }
}

fn as_user(l: &Login) -> Actor {
    Actor::User(l.principal.clone())
}

#[tokio::test]
async fn a_login_gives_a_fresh_session_that_identifies_its_user() {
    let e = env().await;
    let a = e.signed_in("wang", Role::Operator, region("3401")).await;
    assert_eq!(a.principal.name, "wang");
    assert_eq!(a.principal.role, Role::Operator);
    assert_eq!(a.principal.scope, region("3401"));
    assert_eq!(a.principal.password, PasswordState::Current);
    let s = e.accounts.session(a.session.token.expose()).await.unwrap();
    assert_eq!(s.principal, a.principal);
    assert_eq!(s.session_id, a.session.id);
    assert!(s.csrf_ok(a.session.csrf.expose()));
    assert!(
        !s.csrf_ok(a.session.token.expose()),
        "the session id is not the CSRF token"
    );
    assert!(!s.csrf_ok(""));
    // Fixation: every login is a new id, and an id nobody was given is nobody's.
    let b = e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    assert_ne!(a.session.token, b.session.token);
    assert_ne!(a.session.csrf, b.session.csrf);
    assert!(matches!(
        e.accounts.session("0123456789abcdef").await,
        Err(AuthError::Unknown)
    ));
    let stored = e
        .store
        .session_by_hash(&crypto::digest(a.session.token.expose()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.csrf_hash, a.session.csrf.expose(), "stored hashed");
}

#[tokio::test]
async fn wrong_password_and_unknown_name_read_the_same_to_the_client() {
    let e = env().await;
    e.signed_in("wang", Role::Operator, Scope::all()).await;
    let wrong = e
        .accounts
        .login("wang", &pw("Wrong-pass1"), &Client::default())
        .await
        .unwrap_err();
    let unknown = e
        .accounts
        .login("nobody", &pw(GOOD), &Client::default())
        .await
        .unwrap_err();
    assert!(matches!(wrong, LoginError::WrongPassword));
    assert!(matches!(unknown, LoginError::UnknownUser));
    assert_eq!(wrong.public_message(), unknown.public_message());
    let log = e.audit_actions().await;
    assert!(log.contains(&("wang".into(), "user.login_failed".into(), "wang".into())));
    assert!(log.contains(&("nobody".into(), "user.login_failed".into(), "nobody".into())));
    assert!(log.contains(&("wang".into(), "user.login".into(), "wang".into())));
}

#[tokio::test]
async fn five_failures_lock_the_name_even_for_the_right_password() {
    let e = env().await;
    e.signed_in("wang", Role::Operator, Scope::all()).await;
    for _ in 0..5 {
        e.advance(10);
        let r = e
            .accounts
            .login("wang", &pw("Wrong-pass1"), &Client::default())
            .await;
        assert!(matches!(r, Err(LoginError::WrongPassword)));
    }
    let locked_at = e.clock.now().as_second();
    e.advance(60);
    match e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
    {
        Err(LoginError::Locked { until }) => assert_eq!(until, locked_at + 900),
        other => panic!("expected a lock, got {other:?}"),
    }
    // Attempts while locked do not extend the lock.
    e.advance(839);
    assert!(matches!(
        e.accounts
            .login("wang", &pw(GOOD), &Client::default())
            .await,
        Err(LoginError::Locked { .. })
    ));
    e.advance(1);
    e.accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .expect("the lock has run out");
}

#[tokio::test]
async fn unknown_names_lock_too_and_an_admin_unlocks() {
    let e = env().await;
    e.signed_in("wang", Role::Operator, Scope::all()).await;
    for name in ["ghost", "wang"] {
        for _ in 0..5 {
            let _ = e
                .accounts
                .login(name, &pw("Wrong-pass1"), &Client::default())
                .await;
        }
        assert!(matches!(
            e.accounts.lock_state(name).await.unwrap(),
            LockState::Locked { .. }
        ));
    }
    e.accounts.unlock(&cli(), "wang").await.unwrap();
    assert_eq!(
        e.accounts.lock_state("wang").await.unwrap(),
        LockState::Open { failures_left: 5 }
    );
    e.accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    assert!(e.audit_actions().await.contains(&(
        "cli:root".into(),
        "user.unlock".into(),
        "wang".into()
    )));
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_lifetime_and_at_logout() {
    let e = env().await;
    let l = e.signed_in("wang", Role::Operator, Scope::all()).await;
    let t = l.session.token.expose();
    // Used every 20 minutes, it stays; the touch is written once a minute at most.
    for _ in 0..3 {
        e.advance(20 * 60);
        e.accounts.session(t).await.unwrap();
    }
    e.advance(30 * 60);
    assert!(matches!(
        e.accounts.session(t).await,
        Err(AuthError::Expired)
    ));

    let l = e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    let t = l.session.token.expose();
    for _ in 0..(12 * 3) {
        e.advance(20 * 60 - 1);
        e.accounts.session(t).await.expect("used, within 12 hours");
    }
    e.advance(12 * 3600 - 36 * (20 * 60 - 1));
    assert!(
        matches!(e.accounts.session(t).await, Err(AuthError::Expired)),
        "12 hours is the most, however busy"
    );

    let l = e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    let t = l.session.token.expose();
    assert!(e.accounts.logout(t).await.unwrap());
    assert!(!e.accounts.logout(t).await.unwrap(), "already ended");
    assert!(matches!(e.accounts.session(t).await, Err(AuthError::Ended)));
    assert!(e.audit_actions().await.contains(&(
        "wang".into(),
        "user.logout".into(),
        "wang".into()
    )));
}

/// A long-lived reader (an event stream) re-checks its session without marking it used: the
/// session still idles out 30 minutes after its last real use.
#[tokio::test]
async fn checking_a_session_still_holds_does_not_keep_it_alive() {
    let e = env().await;
    let l = e.signed_in("wang", Role::Operator, Scope::all()).await;
    let t = l.session.token.expose();
    for _ in 0..5 {
        e.advance(5 * 60);
        e.accounts
            .session_still_valid(t)
            .await
            .expect("not idle yet");
    }
    e.advance(5 * 60);
    assert!(matches!(
        e.accounts.session_still_valid(t).await,
        Err(AuthError::Expired)
    ));
    assert!(matches!(
        e.accounts.session(t).await,
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn a_new_user_must_change_the_password_first() {
    let e = env().await;
    let (u, generated) = e
        .accounts
        .create_user(
            &cli(),
            &NewAccount {
                name: "li".into(),
                role: Role::Auditor,
                scope: Scope::all(),
                password: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(u.password, PasswordState::MustChange);
    let first = generated.expect("a generated password");
    let l = e
        .accounts
        .login("li", &pw(first.expose()), &Client::default())
        .await
        .unwrap();
    assert!(!l.principal.can(Action::ReadReports));
    assert!(l.principal.can(Action::ChangeOwnPassword));
    let r = e
        .accounts
        .change_own_password(
            &l.principal,
            Some(l.session.id),
            &pw("Not-it-1"),
            &pw(OTHER),
        )
        .await;
    assert!(matches!(r, Err(AccessError::WrongCurrentPassword)));
    let r = e
        .accounts
        .change_own_password(
            &l.principal,
            Some(l.session.id),
            &pw(first.expose()),
            &pw("short"),
        )
        .await;
    assert!(matches!(r, Err(AccessError::WeakPassword(ref p)) if p.len() >= 3));
    e.accounts
        .change_own_password(
            &l.principal,
            Some(l.session.id),
            &pw(first.expose()),
            &pw(OTHER),
        )
        .await
        .unwrap();
    let s = e.accounts.session(l.session.token.expose()).await.unwrap();
    assert_eq!(
        s.principal.password,
        PasswordState::Current,
        "the kept session"
    );
    assert!(s.principal.can(Action::ReadReports));
    assert!(matches!(
        e.accounts
            .login("li", &pw(first.expose()), &Client::default())
            .await,
        Err(LoginError::WrongPassword)
    ));
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let e = env().await;
    let a = e.signed_in("wang", Role::Operator, Scope::all()).await;
    let b = e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    e.accounts
        .change_own_password(&a.principal, Some(a.session.id), &pw(GOOD), &pw(OTHER))
        .await
        .unwrap();
    e.accounts.session(a.session.token.expose()).await.unwrap();
    assert!(matches!(
        e.accounts.session(b.session.token.expose()).await,
        Err(AuthError::Ended)
    ));
    // An admin's reset ends them all and asks for a change.
    e.accounts
        .reset_password(&cli(), "wang", &pw(GOOD), PasswordState::MustChange)
        .await
        .unwrap();
    assert!(matches!(
        e.accounts.session(a.session.token.expose()).await,
        Err(AuthError::Ended)
    ));
    let c = e
        .accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    assert_eq!(c.principal.password, PasswordState::MustChange);
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_its_sessions_and_tokens_stop() {
    let e = env().await;
    let admin = e.signed_in("boss", Role::Admin, Scope::all()).await;
    let w = e.signed_in("wang", Role::Operator, Scope::all()).await;
    let tok = e
        .accounts
        .issue_token(
            &as_user(&w),
            "wang",
            &TokenSpec {
                name: "dashboard".into(),
                access: TokenAccess::ReadOnly,
                regions: vec![],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    e.accounts.disable(&as_user(&admin), "wang").await.unwrap();
    assert!(matches!(
        e.accounts
            .login("wang", &pw(GOOD), &Client::default())
            .await,
        Err(LoginError::Disabled)
    ));
    assert!(
        matches!(
            e.accounts
                .login("wang", &pw("Wrong-pass1"), &Client::default())
                .await,
            Err(LoginError::WrongPassword)
        ),
        "disabled is told only to whoever knows the password"
    );
    assert!(matches!(
        e.accounts.session(w.session.token.expose()).await,
        Err(AuthError::Ended)
    ));
    assert!(matches!(
        e.accounts.token(tok.token.expose()).await,
        Err(AuthError::Disabled)
    ));
    e.accounts.enable(&as_user(&admin), "wang").await.unwrap();
    e.accounts.token(tok.token.expose()).await.unwrap();
    e.accounts
        .login("wang", &pw(GOOD), &Client::default())
        .await
        .unwrap();
    let log = e.audit_actions().await;
    assert!(log.contains(&("boss".into(), "user.disable".into(), "wang".into())));
    assert!(log.contains(&("boss".into(), "user.enable".into(), "wang".into())));
}

#[tokio::test]
async fn the_last_admin_stays_and_nobody_disables_themselves() {
    let e = env().await;
    let a = e.signed_in("boss", Role::Admin, Scope::all()).await;
    let r = e.accounts.disable(&as_user(&a), "boss").await;
    assert!(matches!(r, Err(AccessError::Error(ref x)) if x.message().contains("yourself")));
    let r = e.accounts.disable(&cli(), "boss").await;
    assert!(matches!(r, Err(AccessError::Error(ref x)) if x.kind == ErrorKind::Conflict));
    e.user("boss2", Role::Admin, Scope::all()).await;
    e.accounts.disable(&cli(), "boss").await.unwrap();
}

#[tokio::test]
async fn only_admins_manage_users_within_their_own_scope() {
    let e = env().await;
    let op = e.signed_in("wang", Role::Operator, Scope::all()).await;
    let new = |name: &str, role, scope| NewAccount {
        name: name.into(),
        role,
        scope,
        password: Some(pw(GOOD)),
    };
    let r = e
        .accounts
        .create_user(&as_user(&op), &new("x", Role::Auditor, Scope::all()))
        .await;
    assert!(matches!(r, Err(AccessError::Denied(_))));
    assert!(matches!(
        e.accounts.list_users(&as_user(&op)).await,
        Err(AccessError::Denied(_))
    ));
    assert!(matches!(
        e.accounts.disable(&as_user(&op), "wang").await,
        Err(AccessError::Denied(_))
    ));

    let hefei_admin = e.signed_in("hf", Role::Admin, region("3401")).await;
    let by = as_user(&hefei_admin);
    e.accounts
        .create_user(&by, &new("shushan", Role::Operator, region("340104")))
        .await
        .unwrap();
    for wider in [Scope::all(), region("34"), region("3402")] {
        let r = e
            .accounts
            .create_user(&by, &new("w", Role::Operator, wider))
            .await;
        assert!(
            matches!(r, Err(AccessError::Error(ref x)) if x.kind == ErrorKind::InvalidArgument)
        );
    }
    assert_eq!(
        e.accounts
            .list_users(&by)
            .await
            .unwrap()
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["hf", "shushan", "wang"]
    );
}

#[tokio::test]
async fn names_roles_and_passwords_are_checked_when_creating() {
    let e = env().await;
    let mk = |name: &str, role, scope, p: &str| NewAccount {
        name: name.into(),
        role,
        scope,
        password: Some(pw(p)),
    };
    let jia = Scope::new(vec![], Some("甲公司".into()));
    for (a, want) in [
        (mk("", Role::Operator, Scope::all(), GOOD), "empty"),
        (mk(" x", Role::Operator, Scope::all(), GOOD), "blanks"),
        (mk("a\u{7}", Role::Operator, Scope::all(), GOOD), "control"),
        (
            mk(&"n".repeat(65), Role::Operator, Scope::all(), GOOD),
            "too long",
        ),
        (mk("c", Role::Contractor, Scope::all(), GOOD), "maintainer"),
        (
            mk("o", Role::Operator, jia.clone(), GOOD),
            "only a contractor",
        ),
    ] {
        let err = e
            .accounts
            .create_user(&cli(), &a)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
    }
    let r = e
        .accounts
        .create_user(
            &cli(),
            &mk("weak", Role::Operator, Scope::all(), "password"),
        )
        .await;
    assert!(matches!(r, Err(AccessError::WeakPassword(_))));
    let r = e
        .accounts
        .create_user(
            &cli(),
            &mk("zhang", Role::Operator, Scope::all(), "Zhang#2026x"),
        )
        .await;
    assert!(
        matches!(r, Err(AccessError::WeakPassword(ref p)) if p == &[PasswordProblem::ContainsName])
    );
    let (c, _) = e
        .accounts
        .create_user(&cli(), &mk("jia", Role::Contractor, jia.clone(), GOOD))
        .await
        .unwrap();
    assert_eq!(c.scope, jia);
    let dup = e
        .accounts
        .create_user(&cli(), &mk("jia", Role::Auditor, Scope::all(), GOOD))
        .await;
    assert!(matches!(dup, Err(AccessError::Error(ref x)) if x.kind == ErrorKind::Conflict));
    assert!(
        e.store
            .user_by_name("jia")
            .await
            .unwrap()
            .unwrap()
            .1
            .starts_with("$argon2id$")
    );
}

#[tokio::test]
async fn tokens_are_narrowed_revocable_and_expire() {
    let e = env().await;
    let w = e.signed_in("wang", Role::Operator, region("3401")).await;
    let spec = |access, regions: &str, expires_at| TokenSpec {
        name: "city platform".into(),
        access,
        regions: camwatch_core::access::scope::parse_regions(regions).unwrap(),
        expires_at,
    };
    let by = as_user(&w);
    let t = e
        .accounts
        .issue_token(&by, "wang", &spec(TokenAccess::ReadOnly, "340104", None))
        .await
        .unwrap();
    assert!(t.token.expose().starts_with("cwt_"));
    let p = e.accounts.token(t.token.expose()).await.unwrap();
    assert_eq!(p.scope, region("340104"));
    assert_eq!(p.token, Some((t.id, TokenAccess::ReadOnly)));
    assert!(p.can(Action::ReadDevices) && !p.can(Action::WriteDevices));
    assert!(p.may_on_device(Action::ReadDevices, "340104", None));
    assert!(!p.may_on_device(Action::ReadDevices, "340103", None));

    let r = e
        .accounts
        .issue_token(&by, "wang", &spec(TokenAccess::Full, "34", None))
        .await;
    assert!(r.is_err(), "wider than the user");
    let r = e
        .accounts
        .issue_token(
            &Actor::User(p.clone()),
            "wang",
            &spec(TokenAccess::Full, "", None),
        )
        .await;
    assert!(r.is_err(), "a token does not mint tokens");

    let now = e.clock.now().as_second();
    let short = e
        .accounts
        .issue_token(&by, "wang", &spec(TokenAccess::Full, "", Some(now + 3600)))
        .await
        .unwrap();
    let p = e.accounts.token(short.token.expose()).await.unwrap();
    assert!(p.can(Action::WriteDevices));
    assert_eq!(p.scope, region("3401"));
    e.advance(3600);
    assert!(matches!(
        e.accounts.token(short.token.expose()).await,
        Err(AuthError::Expired)
    ));

    assert!(e.accounts.revoke_token(&by, t.id).await.unwrap());
    assert!(!e.accounts.revoke_token(&by, t.id).await.unwrap());
    assert!(matches!(
        e.accounts.token(t.token.expose()).await,
        Err(AuthError::Ended)
    ));
    assert!(matches!(
        e.accounts.token("cwt_nothing").await,
        Err(AuthError::Unknown)
    ));

    let listed = e.accounts.list_tokens(&by, Some("wang")).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [short.id, t.id]
    );
    assert!(listed[1].revoked_at.is_some() && listed[1].last_used_at.is_some());

    // Someone else's tokens are an admin's business.
    let other = e.signed_in("zhao", Role::Operator, Scope::all()).await;
    let r = e.accounts.revoke_token(&as_user(&other), short.id).await;
    assert!(matches!(r, Err(AccessError::Denied(_))));
    let r = e.accounts.list_tokens(&as_user(&other), Some("wang")).await;
    assert!(matches!(r, Err(AccessError::Denied(_))));
    let log = e.audit_actions().await;
    assert!(log.contains(&("wang".into(), "token.issue".into(), "wang".into())));
    assert!(log.contains(&("wang".into(), "token.revoke".into(), "wang".into())));
}

#[tokio::test]
async fn a_contractor_token_sees_only_its_maintainer() {
    let e = env().await;
    let jia = Scope::new(vec![], Some("甲公司".into()));
    e.user("jia", Role::Contractor, jia).await;
    let t = e
        .accounts
        .issue_token(
            &cli(),
            "jia",
            &TokenSpec {
                name: "ticketing".into(),
                access: TokenAccess::Full,
                regions: camwatch_core::access::scope::parse_regions("3401").unwrap(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let p = e.accounts.token(t.token.expose()).await.unwrap();
    assert_eq!(p.password, PasswordState::MustChange);
    assert!(p.scope.sees_device("340104", Some("甲公司")));
    assert!(!p.scope.sees_device("340104", Some("乙公司")));
    assert!(!p.scope.sees_device("340204", Some("甲公司")));
}

#[tokio::test]
async fn the_first_start_makes_one_admin_with_a_one_time_password() {
    let e = env().await;
    let first = e
        .accounts
        .ensure_first_admin()
        .await
        .unwrap()
        .expect("created");
    assert_eq!(first.name, "admin");
    assert!(
        e.accounts.ensure_first_admin().await.unwrap().is_none(),
        "only once"
    );
    assert!(
        Policy::default()
            .password
            .problems(first.password.expose(), "admin")
            .is_empty()
    );
    let l = e
        .accounts
        .login("admin", &pw(first.password.expose()), &Client::default())
        .await
        .unwrap();
    assert_eq!(l.principal.role, Role::Admin);
    assert_eq!(l.principal.password, PasswordState::MustChange);
    assert!(!l.principal.can(Action::ManageUsers));
    let again = Accounts::new(e.store.clone(), e.clock.clone(), Policy::default()).unwrap();
    assert!(again.ensure_first_admin().await.unwrap().is_none());
    assert_eq!(
        e.audit_actions().await[0],
        ("system".into(), "user.add".into(), "admin".into())
    );
}
