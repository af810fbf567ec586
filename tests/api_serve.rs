//! `camwatch serve` with `[api] listen`: the API answers on the address it bound (port 0
//! here), with the running monitor's live state and a user made by `camwatch user`, and stops
//! with the monitor on SIGTERM.

mod serve;

use std::time::Duration;

use serve::{add_user, config, login, run, start};

use camwatch_core::registry::export::to_csv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_the_api_on_the_bound_address_and_stops_with_the_monitor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    config(dir, "");
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
    add_user(dir, "wang", "operator", &[], "Camw4tch!", true);
    let (mut serve, addr) = start(dir).await;
    let base = format!("http://{addr}/api/v1");
    let http = reqwest::Client::new();
    let cookie = login(&http, &base, "wang", "Camw4tch!").await;
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
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap();
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

/// `[api] tls_cert` without `tls_key` (or a file that is no certificate) stops serve at start
/// with the setting named, before anything is probed or served.
#[test]
fn a_half_or_broken_tls_setting_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    config(dir.path(), "");
    let register = camwatch_core::registry::generate::generate(4, 7);
    std::fs::write(dir.path().join("register.csv"), to_csv(&register, true)).unwrap();
    let file = dir.path().join("register.csv");
    run(
        dir.path(),
        &["device", "import", file.to_str().unwrap()],
        "",
    );
    for (extra, want) in [
        (
            format!("tls_cert = \"{}\"\n", cert.display()),
            "tls_cert and tls_key go together",
        ),
        (
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                cert.display(),
                cert.display()
            ),
            "cert.pem",
        ),
    ] {
        // The [api] table is the config's last: the settings land in it.
        config(dir.path(), "");
        let text = std::fs::read_to_string(dir.path().join("camwatch.toml")).unwrap();
        let text = text.replace("[log]", &format!("{extra}[log]"));
        std::fs::write(dir.path().join("camwatch.toml"), text).unwrap();
        let out = serve::camwatch(dir.path())
            .args(["serve", "--summary-every", "0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}: {err}");
        assert!(err.contains(want), "{extra}: {err}");
    }
}
