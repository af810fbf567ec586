//! The monitor's handler (health, picture confirmation, live state, events, the span writer's
//! queue) driven by the real scheduler and a scripted prober, on virtual time: a paused tokio
//! runtime and a `TokioClock`, so an hour of probing runs in milliseconds and every time below is
//! exact on any machine. The socket-level runs against the simulator are in `tests/`.

use std::sync::Arc;
use std::time::Duration;

use camwatch_core::cause::Cause;
use camwatch_core::clock::{Clock, TokioClock};
use camwatch_core::history::Status;
use camwatch_core::outcome::{FailureKind, PictureVerdict, ProbeKind, ProbeOutcome};
use camwatch_core::quality::{FaultKind, FaultSet};
use camwatch_core::registry::Device;
use tokio::sync::{mpsc, watch};

use super::*;
use crate::events::{EventKind, Received};

const MIN: i64 = 60;

/// What each device does, in seconds since the start.
#[derive(Clone, Default)]
struct Script {
    /// Refuses connections in `[from, to)`.
    down: Option<(i64, i64)>,
    /// Its picture is blurred from this time on.
    blur_from: Option<i64>,
    /// Its picture, with no approved baseline, may show a colour cast (a suspect).
    suspect_cast: bool,
}

struct Scripted {
    scripts: Vec<Script>,
    clock: Arc<dyn Clock>,
    start: i64,
}

impl Prober for Scripted {
    fn probe(
        &self,
        target: usize,
        class: ProbeClass,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ProbeOutcome> + Send + 'static>> {
        let s = self.scripts[target].clone();
        let t = self.clock.now().as_second() - self.start;
        Box::pin(async move {
            // Every probe takes 50 ms of (virtual) time.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if s.down.is_some_and(|(a, b)| (a..b).contains(&t)) {
                return ProbeOutcome::down(
                    ProbeKind::Rtsp,
                    FailureKind::ConnectionRefused,
                    "Connection refused (os error 111)",
                );
            }
            let mut o = ProbeOutcome::up(match class {
                ProbeClass::Liveness => ProbeKind::Rtsp,
                ProbeClass::Picture => ProbeKind::Snapshot,
                ProbeClass::Onvif => ProbeKind::Onvif,
            });
            if class == ProbeClass::Picture {
                let blurred = s.blur_from.is_some_and(|b| t >= b);
                o.picture = Some(PictureVerdict {
                    faults: if blurred {
                        FaultSet::of(&[FaultKind::Blur])
                    } else {
                        FaultSet::EMPTY
                    },
                    suspects: if s.suspect_cast {
                        FaultSet::of(&[FaultKind::ColorCast])
                    } else {
                        FaultSet::EMPTY
                    },
                    fingerprint: t as u64,
                    // No summary to compare: never frozen.
                    still: None,
                });
            }
            o
        })
    }
}

struct Run {
    devices: Vec<Device>,
    start: i64,
    transitions: Vec<Transition>,
    events: Vec<Received>,
    state: Arc<MonitorState>,
}

/// Runs the handler over `scripts` (one per device) for `minutes` of virtual time.
async fn run_scripted(scripts: Vec<Script>, minutes: i64) -> Run {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(
        "2026-12-01T00:00:00Z".parse().expect("a time"),
    ));
    let start = clock.now().as_second();
    // Standalone cameras, one per script.
    let devices: Vec<Device> = camwatch_core::registry::generate::generate(200, 5)
        .into_iter()
        .filter(|d| d.parent.is_none() && !d.kind.is_parent())
        .take(scripts.len())
        .collect();
    assert_eq!(devices.len(), scripts.len());
    let cfg = MonitorConfig {
        liveness_interval_sec: 60,
        picture_interval_sec: 600,
        deadline: Duration::from_secs(5),
        ..MonitorConfig::default()
    };
    let state = Arc::new(MonitorState::for_devices(&devices, start));
    let bus = EventBus::new(10_000);
    let mut sub = bus.subscribe();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tracks = vec![DeviceTrack::default(); devices.len()];
    let (handler, _, sched, mut limits) =
        assemble(&devices, &cfg, &clock, &state, &bus, &tx, tracks);
    // No ONVIF in this script.
    limits.interval_ms.remove(&ProbeClass::Onvif);
    let sched: Vec<Target> = sched
        .into_iter()
        .map(|mut t| {
            t.classes.retain(|c| *c != ProbeClass::Onvif);
            t
        })
        .collect();
    let prober = Arc::new(Scripted {
        scripts,
        clock: clock.clone(),
        start,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (_, urgent) = tokio::sync::mpsc::unbounded_channel();
    let s = tokio::spawn(scheduler::run(
        Arc::new(sched),
        limits,
        clock.clone(),
        prober,
        handler,
        urgent,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_secs(minutes as u64 * 60)).await;
    stop_tx.send(true).unwrap();
    s.await.unwrap();
    drop(tx);
    drop(bus);
    let mut transitions = Vec::new();
    while let Some(w) = rx.recv().await {
        if let writer::Write::Change(t) = w {
            transitions.push(t);
        }
    }
    let mut events = Vec::new();
    loop {
        match sub.recv().await {
            Received::Closed => break,
            r => events.push(r),
        }
    }
    Run {
        devices,
        start,
        transitions,
        events,
        state,
    }
}

impl Run {
    /// (status, seconds since start, cause) of each transition of device `i`.
    fn of(&self, i: usize) -> Vec<(Status, i64, Option<Cause>)> {
        self.transitions
            .iter()
            .filter(|t| t.device == self.devices[i].code)
            .map(|t| (t.status, t.at - self.start, t.cause.clone()))
            .collect()
    }
    fn events_of(&self, i: usize) -> Vec<&crate::events::Event> {
        self.events
            .iter()
            .filter_map(|r| match r {
                Received::Event(e) if e.device.code == self.devices[i].code => Some(&**e),
                _ => None,
            })
            .collect()
    }
}

/// A suspect (a finding of a camera with no approved baseline that a healthy scene shows too)
/// is listed with each picture probe and never confirmed: the camera stays online, with no
/// picture problem, however many samples show it.
#[tokio::test(start_paused = true)]
async fn suspects_are_listed_never_confirmed() {
    let scripts = vec![Script {
        suspect_cast: true,
        ..Script::default()
    }];
    let r = run_scripted(scripts, 60).await;
    let d0 = r.of(0);
    assert_eq!(d0.len(), 1, "{d0:?}");
    assert_eq!((d0[0].0, d0[0].2.clone()), (Status::Online, None));
    let live = r.state.device(&r.devices[0].code).unwrap();
    assert_eq!(
        (live.status, live.cause.clone(), live.picture.clone()),
        (Status::Online, None, None)
    );
    assert_eq!(live.suspects, FaultSet::of(&[FaultKind::ColorCast]));
}

/// An outage is confirmed by three failures over a minute, dated at the first failure, and
/// ends with the first success; the events say so with the typed cause and the device's
/// metadata; the failed probes before confirmation are lighter events; a picture fault seen in
/// two samples in a row degrades its camera; a one-probe failure is a blip, not an outage.
#[tokio::test(start_paused = true)]
async fn an_hour_of_outages_picture_faults_and_blips() {
    let scripts = vec![
        Script {
            down: Some((10 * MIN, 30 * MIN)),
            ..Script::default()
        },
        Script::default(),
        Script {
            blur_from: Some(20 * MIN),
            ..Script::default()
        },
        // Down for 10 s around its probe at 40:45 (the fourth of four targets starts 45 s in;
        // jitter keeps it within ±3 s of that): one failed probe, then the recheck 30 s later
        // succeeds.
        Script {
            down: Some((40 * MIN + 40, 40 * MIN + 50)),
            ..Script::default()
        },
    ];
    let r = run_scripted(scripts, 60).await;
    let refused = Some(Cause::Failure(FailureKind::ConnectionRefused));

    // Device 0: probed every minute (±5 %, staggered by 0 s as the first of four targets).
    let d0 = r.of(0);
    assert_eq!(d0.len(), 3, "{d0:?}");
    assert_eq!((d0[0].0, d0[0].1), (Status::Online, 0));
    let (st, down_at, cause) = d0[1].clone();
    assert_eq!((st, cause), (Status::Offline, refused.clone()));
    // The first probe at or after 10:00, within one interval and its jitter.
    assert!((10 * MIN..10 * MIN + 63).contains(&down_at), "{d0:?}");
    let (st, up_at, _) = d0[2].clone();
    assert_eq!(st, Status::Online);
    assert!((30 * MIN..30 * MIN + 63).contains(&up_at), "{d0:?}");
    let ev = r.events_of(0);
    let statuses: Vec<(Status, Status)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Status(c) => Some((c.from, c.to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (Status::Unknown, Status::Online),
            (Status::Online, Status::Offline),
            (Status::Offline, Status::Online)
        ]
    );
    let offline = ev
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Status(c) if c.to == Status::Offline))
        .unwrap();
    assert_eq!(offline.at - r.start, down_at);
    assert_eq!(offline.device.name, r.devices[0].name);
    assert_eq!(offline.device.region, r.devices[0].region());
    assert_eq!(offline.device.maintainer, r.devices[0].maintainer);
    // Two failed probes before the third confirmed it, and every failed probe while down.
    let failed = ev
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ProbeFailed { .. }))
        .count();
    assert!(failed >= 2 + 17, "{failed} failed-probe events");

    // Device 1: online from its first probe on, and nothing else.
    assert_eq!(r.of(1).len(), 1);
    assert!(r.events_of(1).len() == 1);

    // Device 2: degraded with blur from the second blurred picture sample (every 10 min).
    let d2 = r.of(2);
    assert_eq!(d2.len(), 2, "{d2:?}");
    let blur = Some(Cause::Picture(FaultSet::of(&[FaultKind::Blur])));
    assert_eq!((d2[1].0, d2[1].2.clone()), (Status::Degraded, blur.clone()));
    assert!((30 * MIN..40 * MIN + 60).contains(&d2[1].1), "{d2:?}");
    let live = r.state.device(&r.devices[2].code).unwrap();
    assert_eq!(
        (live.status, live.cause, live.picture.clone()),
        (Status::Degraded, blur.clone(), blur)
    );

    // Device 3: a blip, counted and published, never an outage.
    assert_eq!(r.of(3).len(), 1, "{:?}", r.of(3));
    assert!(
        r.events_of(3)
            .iter()
            .any(|e| matches!(e.kind, EventKind::Blip)),
        "{:?}",
        r.events_of(3)
    );

    // Nothing was missed: the subscriber kept up, and the numbers run without a gap.
    assert!(r.events.iter().all(|e| matches!(e, Received::Event(_))));
    let seqs: Vec<u64> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Received::Event(e) => Some(e.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    // The metrics agree with the live state's totals: every probe counted once, by class and
    // outcome, with its start lag; every change handed to the (here unread) writer queue.
    let m = r.state.metrics();
    let c = r.state.counters();
    let up = crate::metrics::ProbeResult::Status(camwatch_core::outcome::ProbeStatus::Up);
    let refused = crate::metrics::ProbeResult::Failed(FailureKind::ConnectionRefused);
    let classes = [ProbeClass::Liveness, ProbeClass::Picture];
    let of = |o| classes.iter().map(|&k| m.probes_of(k, o)).sum::<u64>();
    assert_eq!(of(up), c.up);
    assert_eq!(of(refused), c.by_failure[&FailureKind::ConnectionRefused]);
    assert_eq!(of(up) + of(refused), c.total);
    assert_eq!(m.writer_queue(), r.transitions.len() as i64);
}

/// The same script gives the same record, to the second, every time.
#[tokio::test(start_paused = true)]
async fn virtual_time_runs_are_reproducible() {
    let script = || {
        vec![
            Script {
                down: Some((5 * MIN, 17 * MIN)),
                ..Script::default()
            },
            Script {
                blur_from: Some(0),
                ..Script::default()
            },
        ]
    };
    let a = run_scripted(script(), 30).await;
    let b = run_scripted(script(), 30).await;
    assert_eq!(a.of(0), b.of(0));
    assert_eq!(a.of(1), b.of(1));
}

/// A signalling source scripted like a GB/T 28181 lower platform whose keepalives stop at
/// `dies_at` (seconds since `start`): the platform's own presence, and its channels' as the
/// platform crate maps them (ON while it lives, down with it as cause after).
#[derive(Debug)]
struct DyingPlatform {
    platform: DeviceCode,
    start: i64,
    dies_at: i64,
}

impl SignallingStatus for DyingPlatform {
    fn observe(&self, device: &DeviceCode, now: i64) -> Option<ProbeOutcome> {
        use camwatch_gb28181::manscdp::ChannelStatus;
        use camwatch_gb28181::outcomes::{channel_outcome, peer_outcome};
        use camwatch_gb28181::registrar::{OfflineReason, Presence};
        let presence = if now - self.start < self.dies_at {
            Presence::Online
        } else {
            Presence::Offline(OfflineReason::KeepaliveLost)
        };
        if *device == self.platform {
            return Some(peer_outcome(*device, presence).outcome);
        }
        channel_outcome(*device, self.platform, presence, ChannelStatus::On).map(|o| o.outcome)
    }
}

/// Devices without an address of their own take their liveness from the signalling source: a
/// lower platform that stops its keepalives is confirmed offline, and its channels (whose last
/// catalog said ON) go offline with the platform as cause, at the platform's first failure.
#[tokio::test(start_paused = true)]
async fn a_dead_lower_platforms_channels_are_down_with_it_as_cause() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(
        "2026-12-01T00:00:00Z".parse().expect("a time"),
    ));
    let start = clock.now().as_second();
    let platform: DeviceCode = "34020000002000000009".parse().unwrap();
    let mut p = Device::new(platform, "lower platform");
    p.kind = camwatch_core::registry::DeviceKind::Platform;
    let mut devices = vec![p];
    for n in 1..=3u32 {
        let mut c = Device::new(format!("340200000013100{n:05}").parse().unwrap(), "channel");
        c.kind = camwatch_core::registry::DeviceKind::Channel;
        c.parent = Some(platform);
        devices.push(c);
    }
    let source = Arc::new(DyingPlatform {
        platform,
        start,
        dies_at: 10 * MIN,
    });
    let cfg = MonitorConfig {
        liveness_interval_sec: 60,
        deadline: Duration::from_secs(5),
        signalling: Some(source),
        ..MonitorConfig::default()
    };
    let state = Arc::new(MonitorState::for_devices(&devices, start));
    let bus = EventBus::new(10_000);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tracks = vec![DeviceTrack::default(); devices.len()];
    let (handler, probe, sched, limits) =
        assemble(&devices, &cfg, &clock, &state, &bus, &tx, tracks);
    assert!(
        sched.iter().all(|t| t.classes == [ProbeClass::Liveness]),
        "signalling is their liveness, and they have no picture"
    );
    let prober = Arc::new(RealProber {
        targets: probe,
        client: camwatch_probes::snapshot::client(),
        deadline: cfg.deadline,
        signalling: cfg.signalling.clone(),
        clock: clock.clone(),
        views: state.views().clone(),
        user_agent: "camwatch".into(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (_, urgent) = tokio::sync::mpsc::unbounded_channel();
    let s = tokio::spawn(scheduler::run(
        Arc::new(sched),
        limits,
        clock.clone(),
        prober,
        handler,
        urgent,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    stop_tx.send(true).unwrap();
    s.await.unwrap();
    drop(tx);
    let mut transitions = Vec::new();
    while let Some(w) = rx.recv().await {
        if let writer::Write::Change(t) = w {
            transitions.push(t);
        }
    }
    let offline = |code: DeviceCode| {
        transitions
            .iter()
            .find(|t| t.device == code && t.status == Status::Offline)
            .cloned()
            .unwrap_or_else(|| panic!("{code} never offline: {transitions:?}"))
    };
    let p = offline(platform);
    assert!(p.at - start >= 10 * MIN && p.at - start < 11 * MIN, "{p:?}");
    assert_eq!(p.cause, Some(Cause::Failure(FailureKind::NoAnswer)));
    for c in &devices[1..] {
        let t = offline(c.code);
        assert_eq!(t.cause, Some(Cause::ParentDown(platform)), "{t:?}");
        assert!(
            t.at - start >= 10 * MIN,
            "not before the platform died: {t:?}"
        );
    }
}
