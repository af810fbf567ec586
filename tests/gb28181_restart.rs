//! A GB/T 28181 peer's SIP facts survive a restart of `camwatch serve`: a simulated camera
//! registers, keeps alive and answers its Catalog, DeviceInfo and DeviceStatus queries; serve
//! stops (writing the facts as they stand), the camera stops too, and serve starts again. The
//! API's device (and `camwatch probe`) then shows the last known facts, marked as stored before
//! the start, and the camera as not registered: a registration from before a restart proves
//! nothing now.
//!
//! Real clock, child processes over loopback; waits are bounded polls, never timed.

mod gb_serve;
mod serve;

use std::time::Duration;

use camwatch_sim::gb28181::{GbFleet, device_code};
use serde_json::Value;

const SEED: u32 = 920;

/// Polls the device's live state until `done` holds (at most two minutes: the first
/// DeviceStatus comes within a minute of registering).
async fn device_until(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    code: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..1200 {
        last = gb_serve::device(http, base, cookie, code).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never came: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_sip_facts_are_shown_after_a_restart_as_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let code = device_code(SEED, 0);
    let fleet = GbFleet {
        devices: 1,
        keepalive_sec: 5,
        seed: SEED,
        ..GbFleet::default()
    };
    gb_serve::configure(dir, 5, 60, "");
    gb_serve::import(dir, &fleet);
    serve::add_user(dir, "ops", "admin", &[], "Camw4tch!", true);
    let token = serve::run(
        dir,
        &["user", "token", "issue", "ops", "--name", "probe"],
        "",
    );
    let token = token.trim().to_string();

    let (mut child, addr) = serve::start(dir).await;
    let platform = gb_serve::platform_address(&mut child, dir).await;
    let base = format!("http://{addr}/api/v1");
    let http = reqwest::Client::new();
    let cookie = serve::login(&http, &base, "ops", "Camw4tch!").await;
    let (_peers, sim_stop) = gb_serve::start_fleet(fleet, platform).await;
    let code_s = code.to_string();
    let before = device_until(&http, &base, &cookie, &code_s, "the first facts", |v| {
        let s = &v["sip"];
        s["presence"] == "online"
            && s["catalog"].is_object()
            && s["device_info"].is_object()
            && s["recording"].is_object()
            && s["last_keepalive"].is_i64()
    })
    .await["sip"]
        .clone();
    assert_eq!(
        before["stored_at"],
        Value::Null,
        "heard by this node: {before}"
    );
    serve::stop(child, dir);
    sim_stop.send(true).unwrap();

    // Again, the camera gone.
    let (child, addr) = serve::start(dir).await;
    let base = format!("http://{addr}/api/v1");
    let cookie = serve::login(&http, &base, "ops", "Camw4tch!").await;
    let after = device_until(&http, &base, &cookie, &code_s, "the stored facts", |v| {
        v["sip"]["stored_at"].is_i64()
    })
    .await["sip"]
        .clone();
    assert_eq!(after["presence"], "never_registered", "{after}");
    assert_eq!(after["offline_at"], Value::Null, "{after}");
    for field in [
        "registered_at",
        "expires_at",
        "transport",
        "addr",
        "catalog",
        "device_info",
    ] {
        assert_eq!(after[field], before[field], "{field}: {after} vs {before}");
    }
    // The keepalive stored is the last one or, at most a minute, before it.
    let (k0, k1) = (
        before["last_keepalive"].as_i64().unwrap(),
        after["last_keepalive"].as_i64().unwrap(),
    );
    assert!(
        k1 >= before["registered_at"].as_i64().unwrap() && k1 + 60 >= k0,
        "{after}"
    );
    assert_eq!(after["recording"]["record"], before["recording"]["record"]);
    assert_eq!(after["recording"]["since"], before["recording"]["since"]);

    // `camwatch probe` says so: not registered now, the registration as history; down.
    let out = serve::camwatch(dir)
        .args([
            "probe",
            &code_s,
            "--api",
            &format!("http://{addr}"),
            "--deadline",
            "5",
        ])
        .env("CAMWATCH_API_TOKEN", &token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT REGISTERED since the node started; before its restart"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(4), "down: {text}");
    serve::stop(child, dir);
}
