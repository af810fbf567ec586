//! Test helpers (not a test): `camwatch serve` as a child process with `[gb28181] enabled` on
//! loopback port 0, its register holding a simulated GB/T 28181 fleet, and the fleet (played
//! in the test's process on the real clock) registering to it; the API read with a session.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::registry::export::to_csv;
use camwatch_sim::gb28181::{GbFleet, PeerHandle};

use crate::serve;

/// The `[gb28181]` section: loopback port 0, keepalives every `keepalive_sec` (offline after
/// 3 missed), DeviceStatus every `status_sec` (0 or at least 60: the first within a minute of
/// registering), no subscriptions or pictures. `extra` is
/// appended to the config (other sections).
pub fn configure(dir: &Path, keepalive_sec: u32, status_sec: u32, extra: &str) {
    serve::config(
        dir,
        &format!(
            "[gb28181]\nenabled = true\nudp_listen = \"127.0.0.1:0\"\ntcp_listen = \
             \"127.0.0.1:0\"\nkeepalive_interval_sec = {keepalive_sec}\nkeepalive_misses = 3\n\
             catalog_subscription_sec = 0\npicture_invites = false\ndevice_status_sec = \
             {status_sec}\n{extra}"
        ),
    );
}

/// Imports `fleet`'s register (with its passwords, sealed by the import).
pub fn import(dir: &Path, fleet: &GbFleet) {
    std::fs::write(dir.join("register.csv"), to_csv(&fleet.register(), true)).unwrap();
    serve::run(
        dir,
        &[
            "device",
            "import",
            dir.join("register.csv").to_str().unwrap(),
        ],
        "",
    );
}

/// The platform's UDP address from serve's log (`GB/T 28181 platform … udp=ADDR`); waits for
/// it (at most a minute; serve ending fails).
pub async fn platform_address(serve: &mut Child, dir: &Path) -> SocketAddr {
    for _ in 0..600 {
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        if let Some(a) = log
            .lines()
            .find(|l| l.contains("GB/T 28181 platform"))
            .and_then(|l| l[l.find("udp=")? + 4..].split_whitespace().next())
        {
            return a.parse().unwrap();
        }
        if let Some(st) = serve.try_wait().unwrap() {
            panic!("serve ended ({st}) before its GB/T 28181 platform started: {log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no GB/T 28181 platform in serve's log");
}

/// Starts `fleet` against `platform` on the real clock; the sender stops it.
pub async fn start_fleet(
    mut fleet: GbFleet,
    platform: SocketAddr,
) -> (Vec<PeerHandle>, tokio::sync::watch::Sender<bool>) {
    fleet.platform = platform;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let peers = camwatch_sim::gb28181::start(&fleet, clock, stopped)
        .await
        .unwrap();
    (peers, stop)
}

/// `GET {base}/devices/{code}` as JSON.
pub async fn device(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    code: &str,
) -> serde_json::Value {
    let r = http
        .get(format!("{base}/devices/{code}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}
