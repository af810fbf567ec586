//! `camwatch serve` with `[api] listen`: the API answers on the address it bound (port 0
//! here), with the running monitor's live state and a user made by `camwatch user`, and stops
//! with the monitor on SIGTERM.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use camwatch_core::registry::export::to_csv;

fn camwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--config")
        .arg(dir.join("camwatch.toml"))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_DATA")
        .env_remove("CAMWATCH_SECRET_KEY")
        .env_remove("RUST_LOG");
    c
}

fn run(dir: &Path, args: &[&str], stdin: &str) {
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
}

/// The address in the log line `camwatch serve: HTTP API on /api/v1 … listen=ADDR`.
fn api_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("HTTP API on /api/v1"))?;
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    Some(rest.split_whitespace().next()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_the_api_on_the_bound_address_and_stops_with_the_monitor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\ndeadline_ms = 1000\n[api]\nlisten = \
             \"127.0.0.1:0\"\n[log]\nfilter = \"info,sqlx=warn\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let register = camwatch_core::registry::generate::generate(10, 7);
    let points = register.iter().filter(|d| !d.kind.is_parent()).count();
    std::fs::write(dir.join("register.csv"), to_csv(&register, true)).unwrap();
    run(
        dir,
        &[
            "device",
            "import",
            dir.join("register.csv").to_str().unwrap(),
        ],
        "",
    );
    run(
        dir,
        &[
            "user",
            "add",
            "wang",
            "--role",
            "operator",
            "--password-stdin",
        ],
        "Camw4tch!\n",
    );
    run(
        dir,
        &[
            "user",
            "passwd",
            "wang",
            "--password-stdin",
            "--no-change-required",
        ],
        "Camw4tch!\n",
    );
    let log_path = dir.join("serve.log");
    let mut serve = camwatch(dir)
        .args(["serve", "--summary-every", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    // Wait for the line that names the bound address (or for serve to end: then fail).
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
    let base = format!("http://{addr}/api/v1");
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/session"))
        .header("content-type", "application/json")
        .body(r#"{"name": "wang", "password": "Camw4tch!"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let summary = http
        .get(format!("{base}/fleet/summary"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&summary.bytes().await.unwrap()).unwrap();
    assert_eq!(body["total"]["points"], points, "{body}");
    let devices = http
        .get(format!("{base}/devices?limit=500"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&devices.bytes().await.unwrap()).unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), register.len());
    // Ready once the monitor has done its start-up recovery (a bounded wait for it).
    let root = format!("http://{addr}");
    let mut ready = false;
    for _ in 0..300 {
        let r = http.get(format!("{root}/readyz")).send().await.unwrap();
        if r.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz never said ready");
    // An event stream is open when serve is told to stop: it must not hold the stop up.
    let mut events = http
        .get(format!("{base}/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut text = String::new();
    while !text.contains("event: summary") {
        let chunk = tokio::time::timeout(Duration::from_secs(60), events.chunk())
            .await
            .expect("no summary on the event stream");
        text.push_str(std::str::from_utf8(&chunk.unwrap().unwrap()).unwrap());
    }
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let st = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || serve.wait().unwrap()),
    )
    .await
    .expect("serve did not stop with an event stream open")
    .unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(st.success(), "serve did not stop cleanly: {log}");
    // The stream was told why it ended.
    for _ in 0..100 {
        match events.chunk().await.unwrap() {
            Some(chunk) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            None => break,
        }
    }
    assert!(text.contains("\"shutting_down\""), "{text}");
    assert!(
        http.get(format!("{base}/me")).send().await.is_err(),
        "the API still answers after serve stopped"
    );
}
