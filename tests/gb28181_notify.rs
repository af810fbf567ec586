//! Catalog subscription over loopback UDP: a simulated lower platform registers to camwatch's
//! platform (as `serve` runs it, catalogs and NOTIFYs synced into a SQLite register), accepts
//! the platform's SUBSCRIBE and then sends scripted catalog NOTIFYs: OFF, VLOST, ADD and DEL.
//! Each must become what the issue says: OFF a down channel, VLOST a picture fault of an
//! online channel, ADD an unconfirmed register channel, DEL a channel flagged removed and still
//! in the register.
//!
//! One scaled clock (×20) for platform and simulator; waits are bounded polls on outcomes,
//! never timed.

mod common;
use common::wait_until;

use std::sync::Arc;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::health::PictureSample;
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::quality::{FaultKind, FaultSet};
use camwatch_core::registry::Confirmation;
use camwatch_core::secret::SecretKey;
use camwatch_gb28181::manscdp::CatalogEvent;
use camwatch_sim::gb28181::{GbFleet, ScriptedNotify, SimChannel, channel_code};
use camwatch_store::gb28181::ChannelQuery;
use camwatch_store::{DeviceFilter, Store};

const CHANNELS: u32 = 10;
const SEED: u32 = 700;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_notifies_become_status_picture_faults_and_register_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    let t0 = clock.now().as_second();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ch = |n| channel_code(SEED, n);
    let sim_channel = |n| SimChannel {
        code: ch(n),
        name: format!("下级平台 通道 {n}"),
        civil_code: "340201".into(),
        on: true,
    };
    let added = SimChannel {
        code: ch(CHANNELS + 5),
        name: "新增 通道".into(),
        civil_code: "340202".into(),
        on: true,
    };
    let fleet = GbFleet {
        platform: udp.local_addr().unwrap(),
        lower_platform_channels: CHANNELS,
        keepalive_sec: 10,
        seed: SEED,
        lower_platform_notifies: vec![
            ScriptedNotify {
                at: t0 + 60,
                event: CatalogEvent::Off,
                channel: sim_channel(1),
            },
            ScriptedNotify {
                at: t0 + 70,
                event: CatalogEvent::VideoLost,
                channel: sim_channel(2),
            },
            ScriptedNotify {
                at: t0 + 80,
                event: CatalogEvent::Add,
                channel: added.clone(),
            },
            ScriptedNotify {
                at: t0 + 90,
                event: CatalogEvent::Del,
                channel: sim_channel(3),
            },
        ],
        ..GbFleet::default()
    };
    let lp = camwatch_sim::gb28181::lower_platform_code(SEED);
    store.upsert_devices(&fleet.register()).await.unwrap();
    let gb = Gb28181Config {
        keepalive_interval_sec: 10,
        keepalive_misses: 3,
        catalog_subscription_sec: 600,
        ..Gb28181Config::default()
    };
    let register = store.list_devices(&DeviceFilter::default()).await.unwrap();
    let pcfg =
        camwatch::cli::gb28181::platform_config(&gb, &SecretKey::generate(), &register).unwrap();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let (server, signalling) = camwatch::cli::gb28181::start_bound(
        pcfg,
        None,
        udp,
        tcp,
        clock.clone(),
        store.clone(),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )
    .unwrap();
    let (sim_stop, sim_stopped) = tokio::sync::watch::channel(false);
    let peers = camwatch_sim::gb28181::start(&fleet, clock.clone(), sim_stopped)
        .await
        .unwrap();

    // The catalog first, then every NOTIFY (the DEL is the last one sent).
    wait_until("catalog synced", 60, || async {
        store.unconfirmed_codes().await.unwrap().len() >= CHANNELS as usize
    })
    .await;
    wait_until("DEL flagged", 60, || async {
        !store
            .catalog_channels(&ChannelQuery {
                removed_only: true,
                ..ChannelQuery::default()
            })
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert!(peers[0].stats().subscribes >= 1);
    assert_eq!(peers[0].stats().notifies, 4);

    let now = clock.now().as_second();
    let status = |n| {
        signalling
            .observe(&ch(n), now)
            .map(|o| (o.status, o.parent_down))
    };
    // OFF: down (the parent is alive, so no parent to blame).
    assert_eq!(status(1), Some((ProbeStatus::Down, None)));
    // VLOST: online, picture fault signal loss; the others normal.
    assert_eq!(status(2), Some((ProbeStatus::Up, None)));
    assert_eq!(
        signalling.picture(&ch(2), now),
        Some(PictureSample::Diagnosed {
            faults: FaultSet::of(&[FaultKind::SignalLoss]),
            still: None
        })
    );
    assert_eq!(
        signalling.picture(&ch(0), now),
        Some(PictureSample::Diagnosed {
            faults: FaultSet::EMPTY,
            still: None
        })
    );
    // ADD: online, and in the register, unconfirmed, under the lower platform.
    assert_eq!(status(CHANNELS + 5), Some((ProbeStatus::Up, None)));
    let rows = store
        .catalog_channels(&ChannelQuery {
            source: Some(lp),
            state: Some(Confirmation::Unconfirmed),
            ..ChannelQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), CHANNELS as usize + 1);
    let devices = store.list_devices(&DeviceFilter::default()).await.unwrap();
    let new = devices.iter().find(|d| d.code == added.code).unwrap();
    assert_eq!(new.name, "新增 通道");
    assert_eq!(new.parent, Some(lp));
    // DEL: flagged removed, never deleted.
    let removed = store
        .catalog_channels(&ChannelQuery {
            removed_only: true,
            ..ChannelQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        removed.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![ch(3)]
    );
    assert!(devices.iter().any(|d| d.code == ch(3)));
    assert_eq!(status(3), None, "no longer a channel of the platform");

    sim_stop.send(true).unwrap();
    stop_tx.send(true).unwrap();
    server.await.unwrap().unwrap();
}
