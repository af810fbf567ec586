//! `camwatch user` end to end: the real binary on a SQLite database in a temporary data
//! directory. Users are added (password from stdin, or generated), refused when the rules say
//! so, listed as text and JSON, have passwords reset, are disabled and enabled; API tokens are
//! issued (printed once), listed without their values, used and revoked; the first `serve`
//! creates the admin with a one-time password. Every change is in the audit log as
//! `cli:<os user>`, and what the CLI did is what the account service then sees.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use camwatch_access::{Accounts, AuthError, Client, LoginError, Policy};
use camwatch_core::access::{Action, PasswordState, Role};
use camwatch_core::clock::SystemClock;
use camwatch_core::secret::{Password, SecretKey};

const KEY: [u8; 32] = [9; 32];

fn camwatch(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("CAMWATCH_SECRET_KEY", hex::encode(KEY))
        .env("USER", "tester")
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run camwatch");
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn ok(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let o = camwatch(data, args, stdin);
    assert!(
        o.status.success(),
        "camwatch {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Fails with exit status 1; returns stderr.
fn fails(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let o = camwatch(data, args, stdin);
    assert_eq!(o.status.code(), Some(1), "camwatch {args:?} should fail");
    String::from_utf8(o.stderr).unwrap()
}

async fn accounts(data: &Path) -> (Accounts, Arc<dyn camwatch_store::Store>) {
    let store = camwatch_store::connect(
        &format!("sqlite://{}", data.join("camwatch.db").display()),
        SecretKey::from_bytes(KEY),
    )
    .await
    .unwrap();
    (
        Accounts::new(store.clone(), Arc::new(SystemClock), Policy::default()).unwrap(),
        store,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(ok(d, &["user", "list"], None).contains("no users yet"));

    let out = ok(
        d,
        &[
            "user",
            "add",
            "wang",
            "--role",
            "operator",
            "--region",
            "340104,340103",
            "--password-stdin",
        ],
        Some("Camw4tch!\n"),
    );
    assert_eq!(out.trim(), "user wang added: operator, scope 340103 340104");
    let err = fails(
        d,
        &[
            "user",
            "add",
            "weak",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some("password\n"),
    );
    assert!(
        err.contains("the password needs an upper-case letter, a digit, a symbol"),
        "{err}"
    );
    let err = fails(
        d,
        &[
            "user",
            "add",
            "c",
            "--role",
            "contractor",
            "--generate-password",
        ],
        None,
    );
    assert!(err.contains("maintainer"), "{err}");
    let err = fails(
        d,
        &["user", "add", "x", "--role", "root", "--generate-password"],
        None,
    );
    assert!(err.contains("unknown role \"root\""), "{err}");
    let err = fails(
        d,
        &[
            "user",
            "add",
            "x",
            "--role",
            "auditor",
            "--region",
            "34a",
            "--generate-password",
        ],
        None,
    );
    assert!(err.contains("--region"), "{err}");
    let err = fails(d, &["user", "add", "x", "--role", "auditor"], None);
    assert!(err.contains("--password-stdin"), "no terminal: {err}");
    let err = fails(
        d,
        &[
            "user",
            "add",
            "wang",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some("Camw4tch!\n"),
    );
    assert!(err.contains("already exists"), "{err}");

    let out = ok(
        d,
        &[
            "user",
            "add",
            "jia",
            "--role",
            "contractor",
            "--maintainer",
            "甲公司",
            "--generate-password",
        ],
        None,
    );
    let one_time = out
        .lines()
        .find_map(|l| l.strip_prefix("one-time password (must be changed at the first login): "))
        .expect("the generated password is printed")
        .to_string();

    let listed: serde_json::Value =
        serde_json::from_str(&ok(d, &["user", "list", "--json"], None)).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["jia", "wang"]);
    assert_eq!(listed[0]["role"], "contractor");
    assert_eq!(listed[0]["maintainer"], "甲公司");
    assert_eq!(
        listed[1]["regions"],
        serde_json::json!(["340103", "340104"])
    );
    assert_eq!(listed[1]["must_change_password"], true);
    assert!(
        listed.to_string().find("argon2").is_none(),
        "no hash is listed"
    );
    let text = ok(d, &["user", "list"], None);
    assert!(
        text.contains("wang") && text.contains("must change password"),
        "{text}"
    );

    // What the CLI stored, the account service logs in with.
    let (acc, store) = accounts(d).await;
    let jia = acc
        .login("jia", &Password::new(&one_time), &Client::default())
        .await
        .unwrap();
    assert_eq!(jia.principal.role, Role::Contractor);
    assert_eq!(jia.principal.password, PasswordState::MustChange);

    ok(
        d,
        &[
            "user",
            "passwd",
            "wang",
            "--password-stdin",
            "--no-change-required",
        ],
        Some("N3w-passw0rd\n"),
    );
    let w = acc
        .login("wang", &Password::new("N3w-passw0rd"), &Client::default())
        .await
        .unwrap();
    assert!(w.principal.can(Action::WriteDevices));
    let err = fails(
        d,
        &["user", "passwd", "nobody", "--password-stdin"],
        Some("N3w-passw0rd\n"),
    );
    assert!(err.contains("does not exist"), "{err}");

    // A token: printed once on stdout, then only its description.
    let token = ok(
        d,
        &[
            "user", "token", "issue", "wang", "--name", "大屏", "--region", "340104",
        ],
        None,
    );
    let token = token.trim();
    assert!(token.starts_with("cwt_") && token.len() == 68, "{token}");
    let p = acc.token(token).await.unwrap();
    assert_eq!(p.scope.regions_text(), "340104");
    assert!(
        p.can(Action::ReadStatus) && !p.can(Action::WriteDevices),
        "read-only by default"
    );
    let err = fails(
        d,
        &[
            "user", "token", "issue", "wang", "--name", "x", "--region", "34",
        ],
        None,
    );
    assert!(err.contains("outside the scope"), "{err}");
    let list = ok(d, &["user", "token", "list", "wang", "--json"], None);
    assert!(
        !list.contains(token) && !list.contains(&token[4..]),
        "never the value"
    );
    let tokens: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(tokens[0]["name"], "大屏");
    assert_eq!(tokens[0]["access"], "read_only");
    let id = tokens[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        ok(d, &["user", "token", "revoke", &id], None).trim(),
        format!("token {id} revoked")
    );
    assert!(matches!(acc.token(token).await, Err(AuthError::Ended)));

    // Disable: the session ends, no login; enable again.
    ok(d, &["user", "disable", "wang"], None);
    assert!(matches!(
        acc.session(w.session.token.expose()).await,
        Err(AuthError::Ended)
    ));
    assert!(matches!(
        acc.login("wang", &Password::new("N3w-passw0rd"), &Client::default())
            .await,
        Err(LoginError::Disabled)
    ));
    ok(d, &["user", "enable", "wang"], None);
    acc.login("wang", &Password::new("N3w-passw0rd"), &Client::default())
        .await
        .unwrap();

    // Locked after five failures; the CLI unlocks.
    for _ in 0..5 {
        let _ = acc
            .login("wang", &Password::new("Wrong-pass1"), &Client::default())
            .await;
    }
    assert!(matches!(
        acc.login("wang", &Password::new("N3w-passw0rd"), &Client::default())
            .await,
        Err(LoginError::Locked { .. })
    ));
    ok(d, &["user", "unlock", "wang"], None);
    acc.login("wang", &Password::new("N3w-passw0rd"), &Client::default())
        .await
        .unwrap();

    let audit: Vec<(String, String, String)> = store
        .recent_audit(1000)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .filter(|e| e.actor == "cli:tester")
        .map(|e| (e.actor, e.action, e.target))
        .collect();
    let want = [
        ("user.add", "wang"),
        ("user.add", "jia"),
        ("user.password", "wang"),
        ("token.issue", "wang"),
        ("token.revoke", "wang"),
        ("user.disable", "wang"),
        ("user.enable", "wang"),
        ("user.unlock", "wang"),
    ];
    assert_eq!(
        audit
            .iter()
            .map(|(_, a, t)| (a.as_str(), t.as_str()))
            .collect::<Vec<_>>(),
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_serve_creates_an_admin_with_a_one_time_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The register is empty, so serve stops at once, but only after the first admin.
    let o = camwatch(d, &["serve"], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let password = err
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "camwatch: first start: created the user admin with the one-time password ",
            )
        })
        .unwrap_or_else(|| panic!("no one-time password in: {err}"))
        .to_string();
    let (acc, _) = accounts(d).await;
    let l = acc
        .login("admin", &Password::new(&password), &Client::default())
        .await
        .unwrap();
    assert_eq!(l.principal.role, Role::Admin);
    assert_eq!(l.principal.password, PasswordState::MustChange);
    // The second start says nothing of it.
    let o = camwatch(d, &["serve"], None);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("one-time password"));
    assert_eq!(
        ok(d, &["user", "list"], None).split_whitespace().next(),
        Some("admin")
    );
}
