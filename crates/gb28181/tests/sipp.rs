//! Interop with SIPp (Debian `sip-tester`), a SIP peer not written here, playing a GB/T 28181
//! device from the scenario files in `tests/sipp/`: it registers with digest auth, sends
//! keepalives and answers the Catalog query in two pages; with a wrong password it is refused
//! with 403; it accepts the platform's catalog SUBSCRIBE and sends NOTIFYs in its dialog that
//! turn a channel OFF and back ON, each reflected in the channel's outcome. The device's keepalive window is set short (1 s × 3), so once SIPp has finished
//! the device goes offline; the test waits for that event (bounded) and checks its instant
//! against the last keepalive exactly, without timing anything itself.
//!
//! Skipped with a message naming `sip-tester` when SIPp is absent, unless
//! `CAMWATCH_REQUIRE_PEERS=1`. Everything is on loopback; the server binds port 0 and SIPp
//! picks a free local port.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::SystemClock;
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::registry::DeviceCode;
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::manscdp::{CatalogEvent, ChannelStatus};
use camwatch_gb28181::platform::{GbEvent, Platform, PlatformConfig, Refusal};
use camwatch_gb28181::registrar::{Liveness, OfflineReason, Presence};
use camwatch_gb28181::subscription::SubState;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc::UnboundedReceiver;

const DEV: &str = "34020000001320000001";
const PASSWORD: &str = "12345678";
/// A bound on every wait, so a broken exchange fails instead of hanging; never asserted on.
const BOUND: Duration = Duration::from_secs(60);

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

struct Server {
    addr: std::net::SocketAddr,
    platform: Arc<Mutex<Platform>>,
    events: UnboundedReceiver<GbEvent>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(liveness: Liveness) -> Server {
    start_subscribing(liveness, 0).await
}

async fn start_subscribing(liveness: Liveness, catalog_subscription_sec: u32) -> Server {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let dev: DeviceCode = DEV.parse().unwrap();
    let cfg = PlatformConfig {
        shared_password: Some(Password::new(PASSWORD)),
        known: [dev].into(),
        liveness,
        catalog_subscription_sec,
        ..Default::default()
    };
    let platform = Arc::new(Mutex::new(Platform::new(cfg, Nonces::random(), 1)));
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(camwatch_gb28181::server::run(
        platform.clone(),
        udp,
        tcp,
        Arc::new(SystemClock),
        tx,
        async {
            let _ = stop_rx.await;
        },
    ));
    Server {
        addr,
        platform,
        events,
        stop: Some(stop),
        task,
    }
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Runs SIPp as a UAC against `server`; returns whether it reported every call successful,
/// and its output for the failure message.
async fn sipp(
    server: std::net::SocketAddr,
    scenario_file: &str,
    extra: &[&str],
    password: &str,
) -> (bool, String) {
    // SIPp writes its error log into the working directory.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.arg(server.to_string())
        .args(["-sf", &scenario(scenario_file)])
        .args(["-i", "127.0.0.1", "-m", "1", "-l", "1"])
        .args([
            "-key",
            "dev",
            DEV,
            "-key",
            "platform",
            "34020000002000000001",
        ])
        .args(["-key", "domain", "3402000000"])
        .args(["-au", DEV, "-ap", password])
        .args([
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .args(extra)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(BOUND, cmd.output())
        .await
        .expect("sipp finishes")
        .expect("sipp runs");
    let mut log = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    (out.status.success(), log)
}

async fn next(events: &mut UnboundedReceiver<GbEvent>) -> GbEvent {
    tokio::time::timeout(BOUND, events.recv())
        .await
        .expect("an event")
        .expect("the server is running")
}

#[tokio::test]
async fn sipp_registers_keeps_alive_answers_the_catalog_then_goes_offline() {
    if !common::sipp() {
        return;
    }
    let misses = 3;
    let mut server = start(Liveness {
        interval_sec: 1,
        misses,
    })
    .await;
    let (ok, log) = sipp(
        server.addr,
        "device.xml",
        &["-oocsf", &scenario("catalog.xml")],
        PASSWORD,
    )
    .await;
    assert!(ok, "sipp failed:\n{log}");

    let mut online = false;
    let mut keepalives = Vec::new();
    let mut catalog = None;
    let offline = loop {
        match next(&mut server.events).await {
            GbEvent::Presence(t) if t.presence == Presence::Online => online = true,
            GbEvent::Presence(t) => break t,
            GbEvent::Keepalive { at, .. } => keepalives.push(at),
            GbEvent::Catalog(c) => catalog = Some(c),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(online);
    assert_eq!(keepalives.len(), 3);
    let catalog = catalog.expect("the catalog arrived before the device went silent");
    assert!(catalog.complete);
    let statuses: Vec<(&str, ChannelStatus)> = catalog
        .items
        .iter()
        .map(|i| (i.device_id.as_str(), i.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("34020000001310000001", ChannelStatus::On),
            ("34020000001310000002", ChannelStatus::Off)
        ]
    );
    // Offline after the configured misses: exactly 3 × 1 s after the last keepalive.
    assert_eq!(
        offline.presence,
        Presence::Offline(OfflineReason::KeepaliveLost)
    );
    assert_eq!(offline.at, keepalives[2] + i64::from(misses));
    server.stop().await;
}

#[tokio::test]
async fn sipp_with_a_wrong_password_is_refused() {
    if !common::sipp() {
        return;
    }
    let mut server = start(Liveness::default()).await;
    let (ok, log) = sipp(server.addr, "wrong_password.xml", &[], "not-the-password").await;
    assert!(ok, "sipp did not see its 403:\n{log}");
    match next(&mut server.events).await {
        GbEvent::Refused { why, .. } => assert_eq!(why, Refusal::WrongPassword),
        other => panic!("unexpected {other:?}"),
    }
    server.stop().await;
}

/// The channel's outcome as the monitor would read it now.
fn channel_status(server: &Server, channel: &str) -> ProbeStatus {
    let p = server.platform.lock().unwrap();
    p.observe(
        &channel.parse().unwrap(),
        jiff::Timestamp::now().as_second(),
    )
    .expect("a channel the platform knows")
    .outcome
    .status
}

#[tokio::test]
async fn sipp_accepts_the_catalog_subscription_and_notifies_a_channel_off_then_on() {
    if !common::sipp() {
        return;
    }
    const CHANNEL: &str = "34020000001310000001";
    let mut server = start_subscribing(Liveness::default(), 3600).await;
    let addr = server.addr;
    let run = tokio::spawn(async move {
        let ooc = scenario("subscriber.xml");
        sipp(addr, "stay_online.xml", &["-oocsf", &ooc], PASSWORD).await
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let GbEvent::CatalogNotify {
            source, changes, ..
        } = next(&mut server.events).await
        {
            assert_eq!(source.as_str(), DEV);
            let [(event, item)] = changes.as_slice() else {
                panic!("one change per NOTIFY: {changes:?}")
            };
            assert_eq!(item.device_id, CHANNEL);
            // Read at once: the scenario waits two seconds before the next NOTIFY.
            seen.push((*event, channel_status(&server, CHANNEL)));
        }
    }
    assert_eq!(
        seen,
        [
            (CatalogEvent::Off, ProbeStatus::Down),
            (CatalogEvent::On, ProbeStatus::Up)
        ]
    );
    let (ok, log) = run.await.unwrap();
    assert!(ok, "sipp failed:\n{log}");
    let sub = server
        .platform
        .lock()
        .unwrap()
        .subscription(&DEV.parse().unwrap());
    assert!(
        matches!(sub, Some(SubState::Active { .. })),
        "the subscription SIPp accepted: {sub:?}"
    );
    server.stop().await;
}
