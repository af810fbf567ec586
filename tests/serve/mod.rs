//! Test helpers (not a test): `camwatch serve` as a child process with its own config and
//! data directory, for the tests that drive the binary end to end over HTTP.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary with `DIR/camwatch.toml` and none of the caller's camwatch environment.
pub fn camwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--config")
        .arg(dir.join("camwatch.toml"))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_DATA")
        .env_remove("CAMWATCH_SECRET_KEY")
        .env_remove("RUST_LOG");
    c
}

/// Runs a camwatch command with `stdin`, asserting success; returns its stdout.
pub fn run(dir: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = camwatch(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Adds user `name` with `role` (and `extra` arguments, e.g. `--maintainer M`) and
/// `password`; `ready`: the password is set again with no change required at the first login,
/// as a user who has logged in once has it (otherwise the first login must change it).
pub fn add_user(dir: &Path, name: &str, role: &str, extra: &[&str], password: &str, ready: bool) {
    let mut args = vec!["user", "add", name, "--role", role, "--password-stdin"];
    args.extend_from_slice(extra);
    let stdin = format!("{password}\n");
    run(dir, &args, &stdin);
    if ready {
        run(
            dir,
            &[
                "user",
                "passwd",
                name,
                "--password-stdin",
                "--no-change-required",
            ],
            &stdin,
        );
    }
}

/// Writes `DIR/camwatch.toml`: data in DIR, the API on 127.0.0.1:0, `extra` appended.
pub fn config(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\ndeadline_ms = 1000\n[api]\nlisten = \
             \"127.0.0.1:0\"\n[log]\nfilter = \"info,sqlx=warn\"\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
}

/// Signs `name` in at the API under `base` (`http://ADDR/api/v1`); returns the session cookie
/// (`name=value`) to send back.
pub async fn login(http: &reqwest::Client, base: &str, name: &str, password: &str) -> String {
    let r = http
        .post(format!("{base}/session"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "name": name, "password": password }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in of {name}");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// The address in the log line `camwatch serve: HTTP API on /api/v1 … listen=ADDR`.
pub fn api_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("HTTP API on /api/v1"))?;
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    Some(rest.split_whitespace().next()?.to_string())
}

/// Starts `camwatch serve` (its log in `DIR/serve.log`) and waits for the API's bound
/// address; fails if serve ends first.
pub async fn start(dir: &Path) -> (Child, String) {
    let log_path = dir.join("serve.log");
    let mut serve = camwatch(dir)
        .args(["serve", "--summary-every", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let addr = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if let Some(a) = api_address(&log) {
            break a;
        }
        if let Some(st) = serve.try_wait().unwrap() {
            panic!("serve ended ({st}) before the API started: {log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    (serve, addr)
}

/// SIGTERM, then asserts serve stopped cleanly.
pub fn stop(mut serve: Child, dir: &Path) {
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let st = serve.wait().unwrap();
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
    assert!(st.success(), "serve did not stop cleanly: {log}");
}

/// Polls `cond` every 250 ms, up to `tries` times; the bound only keeps a broken run from
/// hanging, the outcome is what `cond` reads.
pub async fn until<F, Fut>(tries: usize, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
