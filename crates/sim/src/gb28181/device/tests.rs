//! The simulated device against camwatch's real platform, exchanging real bytes in memory on
//! virtual time: registration with digest, keepalives, a paged catalog in GB2312, faults.

use std::collections::HashSet;
use std::net::SocketAddr;

use camwatch_core::secret::Password;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::manscdp::ChannelStatus;
use camwatch_gb28181::platform::{GbEvent, Outgoing, Peer, Platform, PlatformConfig, Refusal};
use camwatch_gb28181::registrar::{Liveness, OfflineReason, Presence};

use super::*;

const T0: i64 = 1_790_000_000;

fn lower(channels: u32) -> GbDeviceConfig {
    GbDeviceConfig {
        id: "34020000002000000009".parse().unwrap(),
        platform_id: "34020000002000000001".into(),
        domain: "3402000000".into(),
        password: "pw".into(),
        expires: 3600,
        keepalive_sec: 60,
        channels: (0..channels)
            .map(|n| SimChannel {
                code: format!("340200000013100{n:05}").parse().unwrap(),
                name: format!("通道 {n}"),
                civil_code: "340200".into(),
                on: n % 10 != 0,
            })
            .collect(),
        page_size: 40,
        charset: Charset::Gb2312,
        dies_at: None,
        malformed_catalog: false,
    }
}

fn platform(known: DeviceCode) -> Platform {
    Platform::new(
        PlatformConfig {
            shared_password: Some(Password::new("pw")),
            known: HashSet::from([known]),
            liveness: Liveness {
                interval_sec: 60,
                misses: 3,
            },
            ..PlatformConfig::default()
        },
        Nonces::new([3; 16]),
        1,
    )
}

/// Delivers messages both ways until neither side has anything to say.
struct Wire {
    dev: GbDevice,
    plat: Platform,
    peer: Peer,
    events: Vec<GbEvent>,
}

impl Wire {
    fn new(cfg: GbDeviceConfig) -> Self {
        let local: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let plat = platform(cfg.id);
        Self {
            dev: GbDevice::new(cfg, local, false),
            plat,
            peer: Peer::Udp(local),
            events: Vec::new(),
        }
    }

    fn run(&mut self, mut to_platform: Vec<Vec<u8>>, now: i64) {
        // Bounded: every round trip is one request and its answer.
        for _ in 0..100_000 {
            let mut to_device: Vec<Vec<u8>> = Vec::new();
            for m in to_platform.drain(..) {
                to_device.extend(
                    self.plat
                        .on_message(&m, self.peer, now)
                        .into_iter()
                        .map(|o: Outgoing| o.bytes),
                );
            }
            self.events.extend(self.plat.take_events());
            if to_device.is_empty() {
                return;
            }
            for m in to_device {
                to_platform.extend(self.dev.on_message(&m, now));
            }
        }
        panic!("the exchange never settled");
    }

    fn at(&mut self, now: i64) {
        let out = self.dev.tick(now);
        self.run(out, now);
        self.plat.tick(now);
        self.events.extend(self.plat.take_events());
    }
}

#[test]
fn registers_keeps_alive_and_answers_a_paged_gb2312_catalog() {
    let mut w = Wire::new(lower(1000));
    w.at(T0);
    assert!(matches!(w.dev.phase(), Phase::Registered { .. }));
    let catalogs: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            GbEvent::Catalog(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(catalogs.len(), 1);
    let c = catalogs[0];
    assert!(c.complete);
    assert_eq!(c.items.len(), 1000);
    assert_eq!(c.items[7].name.as_deref(), Some("通道 7"));
    assert_eq!(c.items[10].status, ChannelStatus::Off);
    assert_eq!(w.dev.stats().catalog_pages, 25);
    // An hour of keepalives: online throughout, re-registered before expiry.
    for s in (T0 + 1..T0 + 7200).step_by(10) {
        w.at(s);
        assert_eq!(
            w.plat.state(&w.dev.id(), s).presence,
            Presence::Online,
            "at +{}",
            s - T0
        );
    }
    assert!(w.dev.stats().registered >= 2, "{:?}", w.dev.stats());
    assert!(w.dev.stats().keepalives >= 119);
}

#[test]
fn a_dead_device_goes_offline_after_the_misses() {
    let mut cfg = lower(3);
    cfg.dies_at = Some(T0 + 600);
    let mut w = Wire::new(cfg);
    for s in T0..T0 + 1200 {
        w.at(s);
    }
    let offline: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            GbEvent::Presence(t) if t.presence != Presence::Online => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(offline.len(), 1);
    assert_eq!(
        offline[0].presence,
        Presence::Offline(OfflineReason::KeepaliveLost)
    );
    // The last keepalive went at +540 (every 60 s from registration): offline 180 s later.
    assert_eq!(offline[0].at, T0 + 540 + 180);
}

#[test]
fn a_wrong_password_is_refused_and_retried() {
    let mut cfg = lower(3);
    cfg.password = "wrong".into();
    let mut w = Wire::new(cfg);
    for s in T0..T0 + 150 {
        w.at(s);
    }
    assert!(matches!(w.dev.phase(), Phase::Refused { .. }));
    let refusals = w
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                GbEvent::Refused {
                    why: Refusal::WrongPassword,
                    ..
                }
            )
        })
        .count();
    assert_eq!(refusals, 3, "at +0, +60 and +120");
    assert_eq!(w.dev.stats().refused, 3);
}

#[test]
fn a_malformed_catalog_is_refused_page_by_page_and_given_up_as_partial() {
    let mut cfg = lower(100);
    cfg.malformed_catalog = true;
    let mut w = Wire::new(cfg);
    w.at(T0);
    // Every page was sent (each answered 400) and none was taken.
    assert_eq!(w.dev.stats().catalog_pages, 3);
    assert!(!w.events.iter().any(|e| matches!(e, GbEvent::Catalog(_))));
    for s in T0 + 1..T0 + 200 {
        w.at(s);
    }
    assert!(
        !w.events
            .iter()
            .any(|e| matches!(e, GbEvent::Catalog(c) if c.complete))
    );
}

#[test]
fn device_info_and_status_are_answered() {
    let mut w = Wire::new(lower(5));
    w.at(T0);
    for q in [
        camwatch_gb28181::manscdp::Query::DeviceInfo,
        camwatch_gb28181::manscdp::Query::DeviceStatus,
    ] {
        let out = w.plat.query(w.dev.id(), q).unwrap();
        let back = w.dev.on_message(&out.bytes, T0 + 1);
        w.run(back, T0 + 1);
    }
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, GbEvent::DeviceInfo { .. }))
    );
    assert!(
        w.events
            .iter()
            .any(|e| matches!(e, GbEvent::DeviceStatus { .. }))
    );
}
