//! Recording health over loopback UDP: two simulated cameras register to camwatch's platform
//! (as `serve` runs it, with a SQLite store); one of them has the simulator's "recording off"
//! fault. The platform's periodic DeviceStatus queries (the first, with DeviceInfo, within a
//! minute of registering) must report the faulty one as not recording and the other as
//! recording, in the platform's facts (what the API and `camwatch probe` show) and in the
//! store (`gb_recording`, with its history).
//!
//! One scaled clock (×20) for platform and simulator; waits are bounded polls, never timed.

mod common;
mod gb_world;
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
