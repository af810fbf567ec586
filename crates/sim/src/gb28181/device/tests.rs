//! The simulated device against camwatch's real platform, exchanging real bytes in memory on
//! virtual time: registration with digest, keepalives, a paged catalog in GB2312, faults.

use std::collections::HashSet;
use std::net::SocketAddr;

use camwatch_core::health::PictureSample;
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::quality::{FaultKind, FaultSet};
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::manscdp::CatalogEvent;
use camwatch_gb28181::manscdp::ChannelStatus;
use camwatch_gb28181::platform::{
    GbEvent, InviteAnswer, Outgoing, Peer, Platform, PlatformConfig, Refusal,
};
use camwatch_gb28181::registrar::{Liveness, OfflineReason, Presence};
use camwatch_gb28181::sdp::{Media, MediaMode, Setup};
use camwatch_gb28181::subscription::SubState;

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
        recording_off: false,
        notifies: Vec::new(),
        notify_storm_per_sec: 0,
        media: Default::default(),
    }
}

fn platform(known: DeviceCode) -> Platform {
    platform_subscribing(known, 0)
}

fn platform_subscribing(known: DeviceCode, catalog_subscription_sec: u32) -> Platform {
    Platform::new(
        PlatformConfig {
            shared_password: Some(Password::new("pw")),
            known: HashSet::from([known]),
            liveness: Liveness {
                interval_sec: 60,
                misses: 3,
            },
            catalog_subscription_sec,
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
        let mut back = Vec::new();
        for o in self.plat.tick(now) {
            back.extend(self.dev.on_message(&o.bytes, now));
        }
        self.run(back, now);
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

/// An answer of ours lost on the way (a DeviceStatus answer MESSAGE dropped by a full socket
/// buffer in a storm) is sent again, as RFC 3261 has a device do, until the platform takes it:
/// the platform's poll gets its answer and frees its slot within seconds, instead of holding
/// it until its backstop a minute later. Taken, it is not sent again.
#[test]
fn a_lost_device_status_answer_is_sent_again_until_taken() {
    let cfg = lower(1);
    let id = cfg.id;
    let mut w = Wire::new(cfg);
    w.plat = Platform::new(
        PlatformConfig {
            shared_password: Some(Password::new("pw")),
            known: HashSet::from([id]),
            status_poll: camwatch_gb28181::status_poll::PollConfig {
                interval_sec: 600,
                at_once: 1,
            },
            ..PlatformConfig::default()
        },
        Nonces::new([3; 16]),
        1,
    );
    w.at(T0);
    assert!(matches!(w.dev.phase(), Phase::Registered { .. }));
    // The first poll (DeviceInfo and DeviceStatus) within a minute; its answers lost.
    let mut t = T0;
    let queries = loop {
        t += 1;
        assert!(t < T0 + 61, "polled within a minute");
        let out = w.plat.tick(t);
        if !out.is_empty() {
            break out;
        }
    };
    assert_eq!(queries.len(), 2);
    let mut answers = Vec::new();
    for q in &queries {
        for m in w.dev.on_message(&q.bytes, t) {
            match sip::parse(&m).unwrap() {
                // The device's 200 to each query reaches the platform ...
                Inbound::Response(_) => w.run(vec![m], t),
                // ... its answers do not.
                Inbound::Request(_) => answers.push(m),
            }
        }
    }
    assert_eq!(answers.len(), 2);
    assert_eq!(w.plat.poll_stats().answered, 0);
    assert_eq!(w.plat.poll_stats().sent, 1);
    // The next tick of the device sends them again, the same bytes.
    let is_answer = |m: &Vec<u8>| String::from_utf8_lossy(m).contains("<Response>");
    let mut again = Vec::new();
    for s in t + 1..t + 4 {
        again.extend(w.dev.tick(s).into_iter().filter(is_answer));
        if !again.is_empty() {
            t = s;
            break;
        }
    }
    assert_eq!(again, answers, "sent again, byte for byte");
    w.run(again, t);
    assert_eq!(
        w.plat.poll_stats().answered,
        1,
        "the slot freed by the answer"
    );
    assert_eq!(w.plat.poll_stats().stuck, 0);
    // Taken (the platform answered 200): never sent again.
    for s in t + 1..t + 40 {
        assert!(!w.dev.tick(s).iter().any(is_answer), "sent again at {s}");
    }
}

#[test]
fn a_lost_catalog_page_is_sent_again_and_a_repeated_query_answered_alike() {
    let mut w = Wire::new(lower(100));
    w.at(T0);
    let catalogs = |w: &Wire| {
        w.events
            .iter()
            .filter_map(|e| match e {
                GbEvent::Catalog(c) => Some(c.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(catalogs(&w).len(), 1);
    let q = w
        .plat
        .query(w.dev.id(), camwatch_gb28181::manscdp::Query::Catalog)
        .unwrap();
    let out = w.dev.on_message(&q.bytes, T0 + 10);
    assert_eq!(out.len(), 2, "the 200 and the first page");
    // The platform sends its query again (our 200 was slow): the same 200, and no new catalog.
    assert_eq!(w.dev.on_message(&q.bytes, T0 + 10), vec![out[0].clone()]);
    // The first page is lost on its way: it is sent again 2 s later, the same bytes.
    assert!(w.dev.tick(T0 + 11).is_empty());
    let resent = w.dev.tick(T0 + 12);
    assert_eq!(resent, vec![out[1].clone()]);
    assert_eq!(w.dev.stats().retransmissions, 1);
    w.run(resent, T0 + 12);
    let all = catalogs(&w);
    assert_eq!(all.len(), 2);
    assert!(all[1].complete);
    assert_eq!(all[1].items.len(), 100);
    // Every page answered: nothing is sent again.
    assert!((T0 + 13..T0 + 50).all(|s| w.dev.tick(s).is_empty()));
}

fn channel(cfg: &GbDeviceConfig, n: usize) -> DeviceCode {
    cfg.channels[n].code
}

fn scripted(at: i64, event: CatalogEvent, channel: SimChannel) -> ScriptedNotify {
    ScriptedNotify { at, event, channel }
}

#[test]
fn an_unanswered_register_is_retransmitted_then_retried() {
    let mut dev = GbDevice::new(lower(1), "127.0.0.1:5070".parse().unwrap(), false);
    let first = dev.tick(T0);
    assert_eq!(first.len(), 1);
    let mut resent = Vec::new();
    for s in T0 + 1..T0 + 60 {
        for m in dev.tick(s) {
            assert_eq!(m, first[0], "the same request, byte for byte");
            resent.push(s - T0);
        }
    }
    assert_eq!(resent, [2, 6, 10, 14, 18, 22, 26, 30]);
    assert_eq!(dev.stats().retransmissions, 8);
    // Timer F ran out: a new REGISTER (a new transaction) after RETRY_SEC.
    let again = dev.tick(T0 + RETRY_SEC);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0], first[0]);
    // Over TCP nothing is retransmitted.
    let mut tcp = GbDevice::new(lower(1), "127.0.0.1:5070".parse().unwrap(), true);
    tcp.tick(T0);
    assert!((T0 + 1..T0 + 59).all(|s| tcp.tick(s).is_empty()));
}

#[test]
fn the_platform_subscribes_refreshes_and_takes_each_notify() {
    let mut cfg = lower(10);
    let added = SimChannel {
        code: "34020000001310099999".parse().unwrap(),
        name: "新 通道".into(),
        civil_code: "340200".into(),
        on: true,
    };
    cfg.notifies = vec![
        scripted(T0 + 100, CatalogEvent::Off, cfg.channels[1].clone()),
        scripted(T0 + 110, CatalogEvent::VideoLost, cfg.channels[2].clone()),
        scripted(T0 + 120, CatalogEvent::Add, added.clone()),
        scripted(T0 + 130, CatalogEvent::Del, cfg.channels[3].clone()),
        scripted(T0 + 140, CatalogEvent::Defect, cfg.channels[4].clone()),
        scripted(T0 + 150, CatalogEvent::On, cfg.channels[2].clone()),
    ];
    let (c1, c2, c3, c4) = (
        channel(&cfg, 1),
        channel(&cfg, 2),
        channel(&cfg, 3),
        channel(&cfg, 4),
    );
    let mut w = Wire::new(cfg.clone());
    w.plat = platform_subscribing(cfg.id, 600);
    let up = |w: &Wire, c: &DeviceCode, s: i64| {
        w.plat.observe(c, s).map(|o| o.outcome.status) == Some(ProbeStatus::Up)
    };
    let signal_loss = PictureSample::Diagnosed {
        faults: FaultSet::of(&[FaultKind::SignalLoss]),
        still: None,
    };
    let normal = PictureSample::Diagnosed {
        faults: FaultSet::EMPTY,
        still: None,
    };
    for s in T0..T0 + 1300 {
        w.at(s);
        match s - T0 {
            99 => {
                assert!(up(&w, &c1, s));
                assert_eq!(w.plat.channel_picture(&c2, s), Some(normal));
                assert!(matches!(
                    w.plat.subscription(&cfg.id),
                    Some(SubState::Active { .. })
                ));
            }
            100 => assert!(!up(&w, &c1, s), "OFF"),
            110 => {
                assert!(up(&w, &c2, s), "VLOST: online, no picture");
                assert_eq!(w.plat.channel_picture(&c2, s), Some(signal_loss));
            }
            120 => assert!(up(&w, &added.code, s), "ADD, Status ON"),
            130 => assert_eq!(w.plat.observe(&c3, s), None, "DEL: no longer a channel"),
            140 => assert_eq!(w.plat.channel_picture(&c4, s), Some(PictureSample::NoMedia)),
            150 => assert_eq!(w.plat.channel_picture(&c2, s), Some(normal)),
            _ => {}
        }
    }
    let notified: Vec<CatalogEvent> = w
        .events
        .iter()
        .filter_map(|e| match e {
            GbEvent::CatalogNotify { changes, .. } => Some(changes[0].0),
            _ => None,
        })
        .collect();
    assert_eq!(
        notified,
        [
            CatalogEvent::Off,
            CatalogEvent::VideoLost,
            CatalogEvent::Add,
            CatalogEvent::Del,
            CatalogEvent::Defect,
            CatalogEvent::On
        ]
    );
    // Asked for 600 s, refreshed inside the dialog at +540 and +1080: three in all, and
    // the subscription never lapsed.
    assert_eq!(w.dev.stats().subscribes, 3);
    assert!(matches!(
        w.plat.subscription(&cfg.id),
        Some(SubState::Active { expires_at, .. }) if expires_at > T0 + 1300
    ));
}

#[test]
fn a_dead_parents_stale_on_never_counts() {
    let mut cfg = lower(5);
    cfg.dies_at = Some(T0 + 300);
    cfg.notifies = vec![
        scripted(T0 + 100, CatalogEvent::On, cfg.channels[0].clone()),
        scripted(T0 + 110, CatalogEvent::VideoLost, cfg.channels[1].clone()),
    ];
    let (c0, c1) = (channel(&cfg, 0), channel(&cfg, 1));
    let mut w = Wire::new(cfg.clone());
    w.plat = platform_subscribing(cfg.id, 600);
    for s in T0..T0 + 600 {
        w.at(s);
    }
    // Last keepalive at +240; offline at +420; the ON of +100 says nothing after that.
    let o = w.plat.observe(&c0, T0 + 599).unwrap().outcome;
    assert_eq!(o.status, ProbeStatus::Down);
    assert_eq!(o.parent_down, Some(cfg.id));
    assert_eq!(w.plat.channel_picture(&c0, T0 + 599), None);
    assert_eq!(w.plat.channel_picture(&c1, T0 + 599), None);
    // The subscription ended with the peer.
    assert_eq!(w.plat.subscription(&cfg.id), None);
}

#[test]
fn a_notify_storm_is_cut_at_the_rate_bound_and_the_device_stays_online() {
    let mut cfg = lower(50);
    cfg.notify_storm_per_sec = 1200;
    let mut w = Wire::new(cfg.clone());
    w.plat = platform_subscribing(cfg.id, 600);
    for s in T0..T0 + 20 {
        w.at(s);
    }
    let (_, dropped) = w.plat.dropped();
    assert!(dropped > 0, "the storm exceeds the per-address bound");
    assert!(w.dev.stats().notifies >= 1200 * 18);
    // Keepalives go first each second, so the storm never crowds them out (one second in
    // five stormed, to bound the test's work; the keepalives fall on those seconds).
    for s in (T0 + 20..T0 + 400).step_by(5) {
        w.at(s);
        assert_eq!(w.plat.state(&cfg.id, s).presence, Presence::Online);
    }
}

#[test]
fn answers_invites_streams_and_stops_at_bye() {
    let mut cfg = lower(5);
    let (c1, c2, c3) = (
        cfg.channels[1].code,
        cfg.channels[2].code,
        cfg.channels[3].code,
    );
    cfg.media.insert(c2, MediaFault::Refuses);
    cfg.media.insert(c3, MediaFault::NeverSends);
    let mut w = Wire::new(cfg);
    w.at(T0);
    assert!(matches!(w.dev.phase(), Phase::Registered { .. }));
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();

    // A channel that streams: 200 with an SDP answer echoing the SSRC, a session to start.
    let inv = w
        .plat
        .invite(c1, MediaMode::Udp, ip, 30_000, "0200000001", T0)
        .unwrap();
    w.run(vec![], T0);
    let out = w.dev.on_message(&inv.request.bytes, T0);
    assert_eq!(out.len(), 1);
    let starts = w.dev.take_media();
    assert!(
        matches!(&starts[..], [MediaCommand::Start { channel, index: 1, link: MediaLink::Udp(to), ssrc: 200_000_001, fault: None, .. }]
        if *channel == c1 && *to == "127.0.0.1:30000".parse::<SocketAddr>().unwrap())
    );
    // The same INVITE again (a retransmission): the same answer, no second session.
    assert_eq!(w.dev.on_message(&inv.request.bytes, T0), out);
    assert!(w.dev.take_media().is_empty());
    // The platform takes the 200 and ACKs it; the device says nothing to the ACK.
    w.run(out, T0);
    let answers = w.plat.take_invite_answers();
    let [(_, InviteAnswer::Accepted { sdp })] = &answers[..] else {
        panic!("{answers:?}")
    };
    let m = camwatch_gb28181::sdp::Media::parse(sdp).unwrap();
    assert_eq!(m.ssrc.as_deref(), Some("0200000001"));
    assert_eq!(w.dev.stats().sessions, 1);
    // BYE: the session stops.
    let bye = w.plat.bye(&inv.call_id).unwrap();
    let out = w.dev.on_message(&bye.bytes, T0 + 2);
    assert!(
        matches!(&w.dev.take_media()[..], [MediaCommand::Stop { call_id }] if *call_id == inv.call_id)
    );
    w.run(out, T0 + 2);
    let s = w.dev.stats();
    assert_eq!(
        (s.invites, s.byes, s.sessions, s.max_sessions),
        (1, 1, 0, 1)
    );

    // Refused: 486, no session.
    let inv = w
        .plat
        .invite(c2, MediaMode::Udp, ip, 30_002, "0200000002", T0)
        .unwrap();
    let out = w.dev.on_message(&inv.request.bytes, T0);
    assert!(w.dev.take_media().is_empty());
    w.run(out, T0);
    assert_eq!(
        w.plat.take_invite_answers(),
        vec![(inv.call_id, InviteAnswer::Refused { status: 486 })]
    );
    // Never sends: 200, a session, nothing to stream.
    let inv = w
        .plat
        .invite(c3, MediaMode::Udp, ip, 30_004, "0200000003", T0)
        .unwrap();
    let out = w.dev.on_message(&inv.request.bytes, T0);
    assert!(w.dev.take_media().is_empty());
    w.run(out, T0);
    assert!(matches!(
        &w.plat.take_invite_answers()[..],
        [(_, InviteAnswer::Accepted { .. })]
    ));
    assert_eq!(w.dev.stats().sessions, 1);
    assert_eq!(
        "blur".parse::<MediaFault>(),
        Ok(MediaFault::Picture(
            camwatch_synth::picture::PictureFault::Blur
        ))
    );
    assert_eq!("garbage".parse::<MediaFault>(), Ok(MediaFault::Garbage));
    assert!("sparkles".parse::<MediaFault>().is_err());
}

/// Media over TCP: to a passive offer the device answers `active` and connects to the offered
/// port; to an active offer it holds the 200 until the shell listens, then answers `passive`
/// with that port (a copy of the INVITE meanwhile gets nothing; after, the same 200).
#[test]
fn tcp_offers_are_answered_in_the_other_role() {
    let mut cfg = lower(3);
    let (c1, c2) = (cfg.channels[1].code, cfg.channels[2].code);
    cfg.media.insert(c2, MediaFault::NeverSends);
    let mut w = Wire::new(cfg);
    w.at(T0);
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();

    let inv = w
        .plat
        .invite(c1, MediaMode::TcpPassive, ip, 30_000, "0200000001", T0)
        .unwrap();
    let out = w.dev.on_message(&inv.request.bytes, T0);
    assert!(
        matches!(&w.dev.take_media()[..], [MediaCommand::Start { link: MediaLink::TcpConnect(to), .. }]
        if *to == "127.0.0.1:30000".parse::<SocketAddr>().unwrap())
    );
    w.run(out, T0);
    let answers = w.plat.take_invite_answers();
    let [(_, InviteAnswer::Accepted { sdp })] = &answers[..] else {
        panic!("{answers:?}")
    };
    assert_eq!(Media::parse(sdp).unwrap().setup, Some(Setup::Active));

    // Active, and the channel never sends: it still listens (the platform's connection opens).
    let inv = w
        .plat
        .invite(c2, MediaMode::TcpActive, ip, 0, "0200000002", T0)
        .unwrap();
    assert!(w.dev.on_message(&inv.request.bytes, T0).is_empty());
    let [
        MediaCommand::Start {
            call_id,
            link: MediaLink::TcpListen,
            fault: Some(MediaFault::NeverSends),
            ..
        },
    ] = &w.dev.take_media()[..]
    else {
        panic!("a listening session")
    };
    assert_eq!(*call_id, inv.call_id);
    assert!(w.dev.on_message(&inv.request.bytes, T0).is_empty());
    assert_eq!(w.dev.listening("nobody", 7000), None);
    let ok = w.dev.listening(&inv.call_id, 7000).unwrap();
    assert_eq!(w.dev.on_message(&inv.request.bytes, T0), vec![ok.clone()]);
    w.run(vec![ok], T0);
    let answers = w.plat.take_invite_answers();
    let [(_, InviteAnswer::Accepted { sdp })] = &answers[..] else {
        panic!("{answers:?}")
    };
    let m = Media::parse(sdp).unwrap();
    assert_eq!((m.setup, m.port), (Some(Setup::Passive), 7000));
    assert_eq!(w.dev.stats().sessions, 2);
}
