//! Pictures over GB/T 28181, end to end over loopback: a simulated lower platform registers to
//! camwatch's platform (as `serve` runs it), its catalog syncs, and the monitor samples the
//! pictures of its channels (which have no RTSP or snapshot URL) by INVITE: RTP carrying
//! MPEG-PS from the simulator, demuxed to the first keyframe, decoded and diagnosed like an
//! RTSP keyframe, then BYE.
//!
//! - the whole path: a blurred and a too-dark channel are confirmed with those faults, with
//!   an evidence frame; a normal channel stays normal;
//! - a channel that answers the INVITE and never sends media is `no_media`, at the media
//!   timeout;
//! - a refused INVITE and RTP that is no program stream are their own clear outcomes;
//! - at most `invite_per_platform` sessions at once through one peer (counted by the sim);
//!   one channel in four sends H.265 in PS, decoded like the others (and diagnosed: the
//!   too-dark channel of the first test is one);
//! - media over TCP (RFC 4571): the monitor confirms a blurred channel whose pictures come
//!   with the device connecting to camwatch (`tcp_passive`); camwatch connecting to the device
//!   (`tcp_active`, chosen for that peer in `media_transport_peers`) gets keyframes too.

mod common;
mod gb_world;
use common::wait_until;
use gb_world::GbWorld;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::config::{Gb28181Config, GbMediaTransport};
use camwatch_core::health::HealthConfig;
use camwatch_core::outcome::{FailureKind, Frame, ProbeKind, ProbeStatus};
use camwatch_core::quality::FaultKind;
use camwatch_core::secret::SecretKey;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::media::MediaProber;
use camwatch_gb28181::platform::Platform;
use camwatch_gb28181::server::Server;
use camwatch_monitor::{EventBus, MonitorConfig, MonitorState};
use camwatch_sim::gb28181::{GbFleet, MediaFault, PeerHandle, channel_code};
use camwatch_sim::picture::PictureFault;
use camwatch_store::DeviceFilter;

const SEED: u32 = 900;

/// The platform (with picture INVITEs, `per_platform` at once) and a lower platform of
/// `channels` channels with `media` faults, registered and its catalog synced.
async fn world(
    clock: Arc<dyn Clock>,
    channels: u32,
    media: Vec<(u32, MediaFault)>,
    per_platform: usize,
) -> GbWorld {
    world_over(clock, channels, media, per_platform, GbMediaTransport::Udp).await
}

/// [`world`] with media asked for over `transport`.
async fn world_over(
    clock: Arc<dyn Clock>,
    channels: u32,
    media: Vec<(u32, MediaFault)>,
    per_platform: usize,
    transport: GbMediaTransport,
) -> GbWorld {
    let fleet = GbFleet {
        lower_platform_channels: channels,
        keepalive_sec: 10,
        seed: SEED,
        media: media
            .into_iter()
            .map(|(n, f)| (channel_code(SEED, n), f))
            .collect(),
        ..GbFleet::default()
    };
    let gb = Gb28181Config {
        keepalive_interval_sec: 10,
        keepalive_misses: 3,
        catalog_subscription_sec: 0,
        invite_per_platform: per_platform,
        media_ip: "127.0.0.1".into(),
        media_transport: transport,
        ..Gb28181Config::default()
    };
    let w = gb_world::start(clock.clone(), fleet, gb).await;
    let ch0 = channel_code(SEED, 0);
    wait_until("catalog in the platform", 60, || {
        let s = w.signalling.clone();
        let clock = clock.clone();
        async move {
            s.observe(&ch0, clock.now().as_second())
                .is_some_and(|o| o.status == ProbeStatus::Up)
        }
    })
    .await;
    w
}

/// A monitor running over the world's register.
struct Running {
    state: Arc<MonitorState>,
    stop: tokio::sync::watch::Sender<bool>,
    monitor: tokio::task::JoinHandle<camwatch_core::error::Result<()>>,
}

/// Waits until the `channels` channels of the catalog are in the register, then runs the
/// monitor over it: a picture sample every 120 s confirmed by two, evidence frames in
/// `evidence` when given.
async fn monitor(
    w: &GbWorld,
    clock: &Arc<dyn Clock>,
    channels: usize,
    evidence: Option<&std::path::Path>,
) -> Running {
    wait_until("catalog synced", 60, || async {
        w.store.unconfirmed_codes().await.unwrap().len() == channels
    })
    .await;
    let devices = w
        .store
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap();
    let lease = w
        .store
        .acquire_monitor("test", std::process::id(), clock.now().as_second())
        .await
        .unwrap();
    let state = Arc::new(MonitorState::for_devices(&devices, clock.now().as_second()));
    let cfg = MonitorConfig {
        liveness_interval_sec: 60,
        picture_interval_sec: 120,
        picture_confirm: 2,
        health: HealthConfig {
            confirm_failures: 3,
            confirm_window_sec: 60,
            ..HealthConfig::default()
        },
        evidence_dir: evidence.map(std::path::Path::to_path_buf),
        register_poll_sec: 3600,
        signalling: Some(w.signalling.clone()),
        ..MonitorConfig::default()
    };
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(camwatch_monitor::run(
        w.store.clone(),
        lease,
        devices,
        cfg,
        clock.clone(),
        state.clone(),
        EventBus::new(4096),
        stop_rx,
    ));
    Running {
        state,
        stop,
        monitor,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picture_faults_over_gb28181_are_diagnosed_through_the_monitor() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    // Channel 0 shows the street scene as it is, 1 the indoor one blurred, 3 the vivid one too
    // dark (the scene is the channel's index, as in the RTSP simulator); channel 3 streams
    // H.265 (one in four), so its confirmed fault is an H.265 keyframe's diagnosis.
    let w = world(
        clock.clone(),
        4,
        vec![
            (1, MediaFault::Picture(PictureFault::Blur)),
            (3, MediaFault::Picture(PictureFault::TooDark)),
        ],
        4,
    )
    .await;
    let evidence = tempfile::tempdir().unwrap();
    let Running {
        state,
        stop: stop_tx,
        monitor,
    } = monitor(&w, &clock, 4, Some(evidence.path())).await;
    let ch = |n| channel_code(SEED, n);
    let picture = |n| state.device(&ch(n)).and_then(|d| d.picture);
    wait_until("blur and too dark confirmed", 120, || async {
        picture(1).is_some_and(|c| c.picture_faults().contains(FaultKind::Blur))
            && picture(3).is_some_and(|c| c.picture_faults().contains(FaultKind::TooDark))
    })
    .await;
    // The normal channel was sampled too, and diagnosed normal.
    let normal = state.device(&ch(0)).unwrap();
    assert_eq!(normal.picture, None);
    let sampled = normal
        .recent
        .iter()
        .find(|r| r.class == camwatch_monitor::scheduler::ProbeClass::Picture)
        .expect("a picture probe of the normal channel");
    assert_eq!(
        (sampled.kind, sampled.status),
        (ProbeKind::Sip, ProbeStatus::Up)
    );
    assert_eq!(
        sampled.picture,
        Some(camwatch_core::quality::FaultSet::EMPTY)
    );
    // The blurred channel's evidence: the decoded keyframe, kept as a JPEG.
    let blurred = state.device(&ch(1)).unwrap();
    let ev = blurred.evidence.expect("evidence frame");
    assert!(ev.jpeg.starts_with(&[0xFF, 0xD8]));
    wait_until("evidence on disk", 30, || async {
        std::fs::read_dir(evidence.path().join(ch(1).to_string()))
            .is_ok_and(|mut d| d.next().is_some())
    })
    .await;
    // Every session ended with a BYE (the monitor stopped: no new ones).
    stop_tx.send(true).unwrap();
    monitor.await.unwrap().unwrap();
    wait_until("sessions ended", 30, || async {
        w.peers[0].stats().sessions == 0
    })
    .await;
    let s = w.peers[0].stats();
    // Two samples each of the faulty channels, at least one of each other.
    assert!(s.invites >= 6 && s.byes == s.invites, "{s:?}");
    w.end().await;
}

/// The platform without a store: the server and the picture probe as `start_bound` builds
/// them (a media timeout of 1 s), and the simulated lower platform.
async fn bare(
    clock: Arc<dyn Clock>,
    media: Vec<(u32, MediaFault)>,
) -> (
    MediaProber,
    Vec<PeerHandle>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    bare_with(clock, media, Gb28181Config::default()).await
}

/// [`bare`] with `gb`'s media transport settings.
async fn bare_with(
    clock: Arc<dyn Clock>,
    media: Vec<(u32, MediaFault)>,
    gb: Gb28181Config,
) -> (
    MediaProber,
    Vec<PeerHandle>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fleet = GbFleet {
        platform: udp.local_addr().unwrap(),
        lower_platform_channels: 3,
        keepalive_sec: 10,
        seed: SEED,
        media: media
            .into_iter()
            .map(|(n, f)| (channel_code(SEED, n), f))
            .collect(),
        ..GbFleet::default()
    };
    let gb = Gb28181Config {
        catalog_subscription_sec: 0,
        media_ip: "127.0.0.1".into(),
        media_timeout_sec: 1,
        ..gb
    };
    let pcfg =
        camwatch::cli::gb28181::platform_config(&gb, &SecretKey::generate(), &fleet.register())
            .unwrap();
    let platform = Arc::new(Mutex::new(Platform::new(pcfg, Nonces::new([5; 16]), 7)));
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::new(platform.clone(), udp, tcp, clock.clone(), events).unwrap();
    let prober = MediaProber::new(
        server.handle(),
        camwatch::cli::gb28181::media_config(&gb).unwrap(),
    );
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let peers = camwatch_sim::gb28181::start(&fleet, clock.clone(), stop.subscribe())
        .await
        .unwrap();
    let last = channel_code(SEED, 2);
    wait_until("catalog in the platform", 60, || {
        let p = platform.clone();
        let now = clock.now().as_second();
        async move {
            let p = p.lock().unwrap();
            p.observe(&last, now)
                .is_some_and(|o| o.outcome.status == ProbeStatus::Up)
        }
    })
    .await;
    (prober, peers, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_without_media_is_no_media_at_the_deadline() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        1.0,
    ));
    let (prober, peers, stop, server) = bare(
        clock.clone(),
        vec![
            (0, MediaFault::NeverSends),
            (1, MediaFault::Refuses),
            (2, MediaFault::Garbage),
        ],
    )
    .await;
    let ch = |n| channel_code(SEED, n);

    let t = tokio::time::Instant::now();
    let o = prober.probe(ch(0)).await;
    assert_eq!((o.kind, o.status), (ProbeKind::Sip, ProbeStatus::Down));
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert!(o.detail.contains("no media within 1 s"), "{}", o.detail);
    // Not before the media timeout (the answer itself comes at once).
    assert!(t.elapsed() >= Duration::from_secs(1));

    let o = prober.probe(ch(1)).await;
    assert_eq!(o.failure, Some(FailureKind::SipStatus), "{}", o.detail);
    assert!(o.detail.contains("SIP 486"), "{}", o.detail);

    let o = prober.probe(ch(2)).await;
    assert_eq!(o.failure, Some(FailureKind::MalformedReply), "{}", o.detail);
    assert!(o.detail.contains("MPEG-PS"), "{}", o.detail);
    assert!(o.frame.is_none());

    // Each dialog was ended: the silent and the garbage one by BYE (the refused one has none).
    wait_until("sessions ended", 30, || async {
        peers[0].stats().sessions == 0
    })
    .await;
    assert_eq!(peers[0].stats().byes, 2);
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_through_one_peer_never_exceed_the_cap() {
    const CAP: usize = 2;
    const CHANNELS: u32 = 8;
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        1.0,
    ));
    let w = world(clock.clone(), CHANNELS, Vec::new(), CAP).await;
    let probes: Vec<_> = (0..CHANNELS)
        .map(|n| tokio::spawn(w.signalling.picture_probe(channel_code(SEED, n))))
        .collect();
    let mut outcomes = Vec::new();
    for p in probes {
        outcomes.push(p.await.unwrap());
    }
    for (n, o) in outcomes.iter().enumerate() {
        assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
        // One channel in four streams H.265 in PS (stream type 0x24), the others H.264; the
        // decoder camwatch uses for RTSP keyframes reads both: the simulator's picture.
        let (codec, thumb) = match &o.frame {
            Some(Frame::H264(k)) => ("h264", camwatch_core::quality::from_h264(k).unwrap()),
            Some(Frame::H265(k)) => ("h265", camwatch_core::quality::from_h265(k).unwrap()),
            other => panic!("channel {n}: {other:?}"),
        };
        assert_eq!(
            codec,
            if n % 4 == 3 { "h265" } else { "h264" },
            "channel {n}"
        );
        assert!(o.facts.iter().any(|(k, v)| k == "codec" && v == codec));
        assert!(thumb.width > 0 && thumb.height > 0);
    }
    let s = w.peers[0].stats();
    assert_eq!(s.invites, u64::from(CHANNELS));
    assert!(
        s.max_sessions >= 1 && s.max_sessions as usize <= CAP,
        "at most {CAP} at once, the sim saw {}",
        s.max_sessions
    );
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_over_tcp_passive_are_diagnosed_through_the_monitor() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        20.0,
    ));
    let w = world_over(
        clock.clone(),
        2,
        vec![(1, MediaFault::Picture(PictureFault::Blur))],
        4,
        GbMediaTransport::TcpPassive,
    )
    .await;
    let Running {
        state,
        stop: stop_tx,
        monitor,
    } = monitor(&w, &clock, 2, None).await;
    let ch = |n| channel_code(SEED, n);
    wait_until("blur confirmed over TCP", 120, || async {
        state
            .device(&ch(1))
            .and_then(|d| d.picture)
            .is_some_and(|c| c.picture_faults().contains(FaultKind::Blur))
    })
    .await;
    stop_tx.send(true).unwrap();
    monitor.await.unwrap().unwrap();
    // The probe as the monitor ran it: over TCP, the device connecting.
    let o = w.signalling.picture_probe(ch(0)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
    assert!(
        o.facts
            .iter()
            .any(|(k, v)| k == "media_transport" && v == "tcp_passive"),
        "{:?}",
        o.facts
    );
    wait_until("sessions ended", 30, || async {
        w.peers[0].stats().sessions == 0
    })
    .await;
    let s = w.peers[0].stats();
    assert!(s.invites >= 3 && s.byes == s.invites, "{s:?}");
    w.end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_active_for_one_peer_reads_keyframes_and_silence_is_no_media() {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        "2026-11-10T00:00:00Z".parse().unwrap(),
        1.0,
    ));
    let peer = camwatch_sim::gb28181::lower_platform_code(SEED);
    let gb = Gb28181Config {
        media_transport_peers: [(peer.to_string(), GbMediaTransport::TcpActive)].into(),
        ..Gb28181Config::default()
    };
    let (prober, peers, stop, server) = bare_with(
        clock.clone(),
        vec![(1, MediaFault::NeverSends), (2, MediaFault::Garbage)],
        gb,
    )
    .await;
    let ch = |n| channel_code(SEED, n);
    let o = prober.probe(ch(0)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
    assert!(
        o.facts
            .iter()
            .any(|(k, v)| k == "media_transport" && v == "tcp_active")
    );
    let Some(Frame::H264(k)) = &o.frame else {
        panic!("an H.264 keyframe")
    };
    assert!(camwatch_core::quality::from_h264(k).is_ok());
    // Connected, and nothing comes: no media at the timeout.
    let t = tokio::time::Instant::now();
    let o = prober.probe(ch(1)).await;
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert!(o.detail.contains("no media within 1 s"), "{}", o.detail);
    assert!(t.elapsed() >= Duration::from_secs(1));
    let o = prober.probe(ch(2)).await;
    assert_eq!(o.failure, Some(FailureKind::MalformedReply), "{}", o.detail);
    assert!(o.detail.contains("MPEG-PS"), "{}", o.detail);
    wait_until("sessions ended", 30, || async {
        peers[0].stats().sessions == 0
    })
    .await;
    assert_eq!(peers[0].stats().byes, 3);
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
