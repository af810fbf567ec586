//! Recording health over loopback UDP: two simulated cameras register to camwatch's platform
//! (as `serve` runs it, with a SQLite store); one of them has the simulator's "recording off"
//! fault. The platform's periodic DeviceStatus queries (the first, with DeviceInfo, within a
//! minute of registering) must report the faulty one as not recording and the other as
//! recording, in the platform's facts (what the API and `camwatch probe` show) and in the
//! store (`gb_recording`, with its history).
//!
//! One scaled clock (×20) for platform and simulator; waits are bounded polls, never timed.
//!
//! And through `camwatch serve` (a child process, on the real clock): a change of recording
//! health is a `recording` event on the API's event stream.

mod common;
mod gb_serve;
mod gb_world;
mod serve;
use common::wait_until;

use std::sync::Arc;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::signalling::OnOff;
use camwatch_sim::gb28181::{GbFleet, device_code};

const SEED: u32 = 900;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_not_recording_is_reported_as_such() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-12T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    let (recording, not_recording) = (device_code(SEED, 0), device_code(SEED, 1));
    let fleet = GbFleet {
        devices: 2,
        keepalive_sec: 10,
        seed: SEED,
        recording_off: vec![not_recording],
        ..GbFleet::default()
    };
    let gb = Gb28181Config {
        keepalive_interval_sec: 10,
        keepalive_misses: 3,
        catalog_subscription_sec: 0,
        picture_invites: false,
        device_status_sec: 60,
        ..Gb28181Config::default()
    };
    let w = gb_world::start(clock.clone(), fleet, gb).await;
    let (store, signalling) = (w.store.clone(), w.signalling.clone());
    let t0 = clock.now().as_second();

    let facts = |code| {
        signalling
            .facts(&code, clock.now().as_second())
            .and_then(|f| f.peer.recording)
    };
    wait_until("both DeviceStatus answers", 60, || async {
        facts(recording).is_some() && facts(not_recording).is_some()
    })
    .await;
    let off = facts(not_recording).unwrap();
    assert_eq!(
        (off.record, off.encode, off.status),
        (OnOff::Off, OnOff::On, OnOff::On)
    );
    assert!(
        off.since >= t0 && off.since <= t0 + 60,
        "first asked within a minute"
    );
    assert_eq!(facts(recording).unwrap().record, OnOff::On);
    // DeviceInfo came with the first DeviceStatus.
    let info = signalling
        .facts(&not_recording, clock.now().as_second())
        .unwrap()
        .peer
        .info
        .expect("DeviceInfo on registration");
    assert_eq!(info.manufacturer.as_deref(), Some("camwatch-sim"));

    wait_until("stored", 30, || async {
        store.recording_states(false, 10).await.unwrap().len() == 2
    })
    .await;
    let stored_off = store.recording_states(true, 10).await.unwrap();
    assert_eq!(stored_off.len(), 1, "{stored_off:?}");
    assert_eq!(stored_off[0].code, not_recording);
    assert_eq!(stored_off[0].since, off.since);

    // Asked again every interval: the fact stays, its start kept, no new history.
    let first_check = off.checked_at;
    wait_until("the second DeviceStatus", 60, || async {
        facts(not_recording).is_some_and(|f| f.checked_at > first_check)
    })
    .await;
    let again = facts(not_recording).unwrap();
    assert_eq!((again.record, again.since), (OnOff::Off, off.since));
    assert!(
        again.checked_at - first_check >= 54,
        "not before interval - 10 %"
    );
    assert_eq!(
        store.recording_history(&not_recording).await.unwrap().len(),
        1
    );
    w.end().await;
}

/// The SSE stream's text until `done` holds for it (bounded: at most 3,000 chunks, each
/// waited for at most a minute; the stream ending fails).
async fn read_until(
    events: &mut reqwest::Response,
    text: &mut String,
    what: &str,
    done: impl Fn(&str) -> bool,
) {
    for _ in 0..3000 {
        if done(text) {
            return;
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(60), events.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {what} on the event stream: {text}"))
            .unwrap();
        match chunk {
            Some(c) => text.push_str(std::str::from_utf8(&c).unwrap()),
            None => panic!("the event stream ended before {what}: {text}"),
        }
    }
    panic!("no {what} in 3,000 chunks: {text}");
}

/// `camwatch serve` end to end: a simulated camera with the "recording off" fault registers;
/// its DeviceStatus answer becomes a `recording` event on the API's event stream (`off`, with
/// since when), and the camera that records one saying `on`; both are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_recording_is_an_event_on_the_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (recording, not_recording) = (device_code(SEED, 0), device_code(SEED, 1));
    let fleet = GbFleet {
        devices: 2,
        keepalive_sec: 5,
        seed: SEED,
        recording_off: vec![not_recording],
        ..GbFleet::default()
    };
    gb_serve::configure(dir, 5, 60, "");
    gb_serve::import(dir, &fleet);
    serve::add_user(dir, "wang", "operator", &[], "Camw4tch!", true);
    let (mut child, addr) = serve::start(dir).await;
    let platform = gb_serve::platform_address(&mut child, dir).await;
    let base = format!("http://{addr}/api/v1");
    let http = reqwest::Client::new();
    let cookie = serve::login(&http, &base, "wang", "Camw4tch!").await;
    let mut events = http
        .get(format!("{base}/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut text = String::new();
    read_until(&mut events, &mut text, "the first summary", |t| {
        t.contains("event: summary")
    })
    .await;
    let (_peers, sim_stop) = gb_serve::start_fleet(fleet, platform).await;
    let data = |t: &str, code: &str| -> Option<serde_json::Value> {
        t.split("\n\n")
            .filter(|b| b.starts_with("event: recording\n"))
            .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
            .find(|v| v["code"] == code)
    };
    let (off_code, on_code) = (not_recording.to_string(), recording.to_string());
    read_until(&mut events, &mut text, "both recording events", |t| {
        data(t, &off_code).is_some() && data(t, &on_code).is_some()
    })
    .await;
    let off = data(&text, &off_code).unwrap();
    assert_eq!(
        (&off["record"], &off["encode"], &off["status"]),
        (
            &serde_json::Value::from("off"),
            &serde_json::Value::from("on"),
            &serde_json::Value::from("on")
        ),
        "{off}"
    );
    assert_eq!(off["region"], "340200");
    assert!(
        off["since"].as_i64().unwrap() <= off["at"].as_i64().unwrap(),
        "{off}"
    );
    assert_eq!(data(&text, &on_code).unwrap()["record"], "on");
    sim_stop.send(true).unwrap();
    serve::stop(child, dir);
    let stored = serve::run(dir, &["gb28181", "recording", "--off", "--json"], "");
    assert!(
        stored.contains(&off_code) && !stored.contains(&on_code),
        "{stored}"
    );
}
