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
mod gb_world;
use common::wait_until;

use std::sync::Arc;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::health::PictureSample;
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::quality::{FaultKind, FaultSet};
use camwatch_core::registry::Confirmation;
use camwatch_gb28181::manscdp::CatalogEvent;
use camwatch_sim::gb28181::{GbFleet, ScriptedNotify, SimChannel, channel_code};
use camwatch_store::DeviceFilter;
use camwatch_store::gb28181::ChannelQuery;

const CHANNELS: u32 = 10;
const SEED: u32 = 700;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_notifies_become_status_picture_faults_and_register_changes() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    let t0 = clock.now().as_second();
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
    let gb = Gb28181Config {
        keepalive_interval_sec: 10,
        keepalive_misses: 3,
        catalog_subscription_sec: 600,
        picture_invites: false,
        ..Gb28181Config::default()
    };
    let w = gb_world::start(clock.clone(), fleet, gb).await;
    let (store, signalling, peers) = (w.store.clone(), w.signalling.clone(), w.peers.clone());

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

    w.end().await;
}
