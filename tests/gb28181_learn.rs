//! A device a catalog brings into the register may register to the running platform at once,
//! without a restart: a simulated lower platform's catalog NOTIFY adds a device (`ADD`), the
//! register gets it (unconfirmed), and that device then registers with the shared password and
//! is online. (Before, the platform knew only the register it started with: the newcomer was
//! refused as unknown until `serve` restarted.) On a node of several, an NVR or lower platform
//! learnt this way is leased like one of the register at start (`Platform::learn_device`,
//! tested in `platform/tests.rs`).
//!
//! One scaled clock (×20) for platform and simulator over loopback UDP; waits are bounded
//! polls, never timed.

mod common;
use common::wait_until;

use std::sync::Arc;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::secret::{Password, SecretKey};
use camwatch_gb28181::manscdp::CatalogEvent;
use camwatch_sim::gb28181::{GbFleet, Phase, ScriptedNotify, SimChannel, device_code};
use camwatch_store::{DeviceFilter, Store};

const SEED: u32 = 940;
const NEWCOMER_SEED: u32 = 950;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_a_catalog_added_registers_without_a_restart() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-12T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    let t0 = clock.now().as_second();
    let newcomer = device_code(NEWCOMER_SEED, 0);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let platform_addr = udp.local_addr().unwrap();
    let lower = GbFleet {
        platform: platform_addr,
        lower_platform_channels: 3,
        keepalive_sec: 10,
        seed: SEED,
        lower_platform_notifies: vec![ScriptedNotify {
            at: t0 + 30,
            event: CatalogEvent::Add,
            channel: SimChannel {
                code: newcomer,
                name: "新接入设备".into(),
                civil_code: "340200".into(),
                on: true,
            },
        }],
        ..GbFleet::default()
    };
    store.upsert_devices(&lower.register()).await.unwrap();
    let register = store.list_devices(&DeviceFilter::default()).await.unwrap();
    let gb = Gb28181Config {
        keepalive_interval_sec: 10,
        keepalive_misses: 3,
        catalog_subscription_sec: 600,
        picture_invites: false,
        device_status_sec: 0,
        ..Gb28181Config::default()
    };
    let mut pcfg =
        camwatch::cli::gb28181::platform_config(&gb, &SecretKey::generate(), &register).unwrap();
    // The simulator's password, for devices without one of their own (a catalog brings none).
    pcfg.shared_password = Some(Password::new(GbFleet::default().password));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (server, signalling) = camwatch::cli::gb28181::start_bound(
        pcfg,
        None,
        udp,
        tcp,
        clock.clone(),
        store.clone(),
        None,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .unwrap();
    let (sim_stop, sim_stopped) = tokio::sync::watch::channel(false);
    let _lower_peers = camwatch_sim::gb28181::start(&lower, clock.clone(), sim_stopped.clone())
        .await
        .unwrap();

    // The lower platform's ADD brings the newcomer into the register, unconfirmed.
    wait_until("the newcomer in the register", 60, || async {
        store
            .list_devices_by_codes(&[newcomer])
            .await
            .unwrap()
            .contains_key(&newcomer)
    })
    .await;
    // Now the newcomer itself registers, with the shared password: it is taken.
    let newcomers = GbFleet {
        platform: platform_addr,
        devices: 1,
        keepalive_sec: 10,
        seed: NEWCOMER_SEED,
        ..GbFleet::default()
    };
    let peers = camwatch_sim::gb28181::start(&newcomers, clock.clone(), sim_stopped)
        .await
        .unwrap();
    // Taken (200), and online as a peer of its own (not only as the lower platform's channel).
    wait_until("the newcomer registered", 60, || async {
        matches!(peers[0].phase(), Phase::Registered { .. })
    })
    .await;
    assert!(
        signalling
            .observe(&newcomer, clock.now().as_second())
            .is_some_and(|o| o.status == ProbeStatus::Up)
    );
    let stats = peers[0].stats();
    assert_eq!(stats.refused, 0, "never refused as unknown: {stats:?}");
    assert!(stats.registered >= 1);
    // And it is not kept for review as an unknown device.
    assert!(
        store
            .unknown_devices(100)
            .await
            .unwrap()
            .iter()
            .all(|u| u.code != newcomer)
    );

    sim_stop.send(true).unwrap();
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
