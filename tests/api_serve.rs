//! `camwatch serve` with `[api] listen`: the API answers on the address it bound (port 0
//! here), with the running monitor's live state and a user made by `camwatch user`, and stops
//! with the monitor on SIGTERM.

mod common;

use common::serve::{config, run, start, stop};

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
    let (serve, addr) = start(dir).await;
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
    stop(serve, dir);
    assert!(
        http.get(format!("{base}/me")).send().await.is_err(),
        "the API still answers after serve stopped"
    );
}
