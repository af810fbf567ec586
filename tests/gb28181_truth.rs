//! The GB/T 28181 truth test: a simulated lower platform with 20,000 channels registers to
//! camwatch's platform over UDP (digest auth) and answers its Catalog query in 400 pages; the
//! catalog syncs into the register (all unconfirmed); the monitor takes the channels' liveness
//! from the platform; then the lower platform dies (keepalives stop). Every channel must go
//! offline with the platform as cause within one liveness interval of the platform's offline
//! instant, and the monthly report must count them: not at all while unconfirmed, and once
//! confirmed with the offline time the truth says.
//!
//! Real sockets on loopback, one scaled clock (×20) for platform, simulator and monitor, as the
//! RTSP truth tests do; waits are bounded polls, and the bounds on times are what the
//! protocol allows (keepalive interval, misses, liveness interval), never measured durations.

mod common;
mod gb_world;
use common::wait_until;

use std::collections::HashMap;
use std::sync::Arc;

use camwatch_core::cause::Cause;
use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::health::HealthConfig;
use camwatch_core::history::Status;
use camwatch_monitor::{EventBus, MonitorConfig, MonitorState};
use camwatch_sim::gb28181::{GbFleet, lower_platform_code};
use camwatch_store::DeviceFilter;
use camwatch_store::gb28181::ConfirmTarget;

const CHANNELS: u32 = 20_000;
const SCALE: f64 = 20.0;
const KEEPALIVE_SEC: i64 = 10;
const MISSES: i64 = 3;
const LIVENESS_SEC: i64 = 120;
const SLACK: i64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lower_platforms_20000_channels_go_offline_and_the_report_counts_them() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        SCALE,
    ));
    let fleet = GbFleet {
        lower_platform_channels: CHANNELS,
        keepalive_sec: KEEPALIVE_SEC,
        page_size: 50,
        seed: 500,
        ..GbFleet::default()
    };
    let lp = lower_platform_code(fleet.seed);

    // The platform, as `serve` runs it: catalogs sync into the store.
    let gb = Gb28181Config {
        keepalive_interval_sec: KEEPALIVE_SEC as u32,
        keepalive_misses: MISSES as u32,
        picture_invites: false,
        ..Gb28181Config::default()
    };
    let w = gb_world::start(clock.clone(), fleet, gb).await;
    let (store, signalling) = (w.store.clone(), w.signalling.clone());
    let stop_rx = w.stop.subscribe();

    // The catalog syncs: every channel in the register, unconfirmed.
    wait_until("catalog synced", 60, || async {
        store.unconfirmed_codes().await.unwrap().len() == CHANNELS as usize
    })
    .await;
    let devices = store.list_devices(&DeviceFilter::default()).await.unwrap();
    assert_eq!(devices.len(), CHANNELS as usize + 1);
    assert!(
        devices
            .iter()
            .filter(|d| d.code != lp)
            .all(|d| d.parent == Some(lp))
    );

    // The monitor, liveness from the platform.
    let lease = store
        .acquire_monitor("test", std::process::id(), clock.now().as_second())
        .await
        .unwrap();
    let state = Arc::new(MonitorState::for_devices(&devices, clock.now().as_second()));
    let cfg = MonitorConfig {
        liveness_interval_sec: LIVENESS_SEC as u64,
        health: HealthConfig {
            confirm_failures: 3,
            confirm_window_sec: 60,
            ..HealthConfig::default()
        },
        max_per_platform: 512,
        register_poll_sec: 3600,
        signalling: Some(signalling),
        ..MonitorConfig::default()
    };
    let monitor = tokio::spawn(camwatch_monitor::run(
        store.clone(),
        lease,
        devices,
        cfg,
        clock.clone(),
        state.clone(),
        EventBus::new(4096),
        stop_rx,
    ));
    let all = |status: Status| {
        let state = state.clone();
        async move {
            state
                .statuses()
                .iter()
                .filter(|s| s.status == status)
                .count()
                == CHANNELS as usize + 1
        }
    };
    wait_until("all online", 120, || all(Status::Online)).await;

    // The lower platform dies: its last keepalive went within the interval before this.
    let killed_at = clock.now().as_second();
    w.sim_stop.send(true).unwrap();
    // The platform's offline instant is the last keepalive + interval × misses; the last one
    // went at most an interval (and the peer's one-second nap) before the kill.
    let offline_earliest = killed_at - KEEPALIVE_SEC - 2 + KEEPALIVE_SEC * MISSES;
    let offline_latest = killed_at + KEEPALIVE_SEC * MISSES + 1;
    wait_until("all offline", 120, || all(Status::Offline)).await;
    w.stop.send(true).unwrap();
    monitor.await.unwrap().unwrap();
    w.server.await.unwrap().unwrap();
    let stopped_at = clock.now().as_second();

    // The record: each channel online, then offline with the platform as cause, dated within
    // one liveness interval of the platform's offline instant (plus the scheduler's slack on a
    // shared machine: SLACK simulated seconds, a second and a half of real time).
    let spans = store
        .spans_overlapping(0, stopped_at + 1, stopped_at)
        .await
        .unwrap();
    let mut by_device: HashMap<_, Vec<_>> = HashMap::new();
    for s in &spans {
        by_device.entry(s.device).or_default().push(s);
    }
    let mut offline_at = HashMap::new();
    for d in state.statuses().iter().filter(|s| s.code != lp) {
        let v = &by_device[&d.code];
        assert_eq!(v.len(), 2, "{}: {v:?}", d.code);
        assert_eq!(v[0].status, Status::Online);
        assert_eq!(v[1].status, Status::Offline);
        assert_eq!(v[1].cause, Some(Cause::ParentDown(lp)), "{}", d.code);
        let t = v[1].start_at;
        assert!(
            t >= offline_earliest && t <= offline_latest + LIVENESS_SEC + SLACK,
            "{}: offline at {t}, platform offline in [{offline_earliest}, {offline_latest}]",
            d.code
        );
        offline_at.insert(d.code.to_string(), (v[0].start_at, t, v[1].end_at));
    }
    assert_eq!(offline_at.len(), CHANNELS as usize);

    // The month's report: unconfirmed channels are no contract points…
    const CONTRACT: &str = "name = \"t\"\ntimezone = \"Asia/Shanghai\"\n";
    let contract = camwatch_core::contract::Contract::parse(CONTRACT, "test").unwrap();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let period = camwatch_report::Period::month("2026-11".parse().unwrap(), tz, "Asia/Shanghai");
    let report = camwatch_report::load(&store, &period, &contract, CONTRACT, stopped_at)
        .await
        .unwrap();
    assert_eq!(report.fleet.devices, 0);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with(&format!("{CHANNELS} channel(s)"))
                && n.contains("not yet confirmed")),
        "{:?}",
        report.notes
    );
    // …until an operator confirms them; then each counts with the truth's hours.
    let confirmed = store
        .confirm_channels(&ConfirmTarget::Parent(lp), "cli:test", stopped_at)
        .await
        .unwrap();
    assert_eq!(confirmed.len(), CHANNELS as usize);
    let report = camwatch_report::load(&store, &period, &contract, CONTRACT, stopped_at)
        .await
        .unwrap();
    assert_eq!(report.fleet.devices, u64::from(CHANNELS));
    for row in &report.devices {
        let (on, off, end) = offline_at[&row.code];
        let hours = |s: i64| (s as f64 / 3600.0 * 10_000.0).round() / 10_000.0;
        assert_eq!(row.online_hours, hours(off - on), "{}", row.code);
        assert_eq!(row.offline_hours, hours(end - off), "{}", row.code);
        // The truth: offline from no earlier than the platform's death was detectable.
        assert!(row.offline_hours <= hours(stopped_at - offline_earliest) + 0.0001);
    }
}
