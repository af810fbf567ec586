//! The picture probe's deadlines on paused tokio time with real loopback sockets: a device
//! that accepts the INVITE and never sends media is `no_media` exactly at the media timeout
//! after its answer, and gets its BYE; a device that never answers the INVITE receives it
//! again on the RFC 3261 timer A instants and the probe is `no_answer` at the answer timeout.
//!
//! Media over TCP (RFC 4571): passive, the device connects to the port of our offer and its
//! keyframe comes back whole; a device that never connects, or connects and stays silent, is
//! `no_media` exactly at the media timeout; a length beyond the bound is `malformed_reply`
//! naming it. Active, we connect to the port of the device's answer and read the keyframe; a
//! port where nothing listens is `no_media` at once.
//!
//! Paused time is exact here for the reason `retransmit.rs` gives: the server's timers and the
//! device's receives share tokio's virtual clock, and a datagram on loopback is readable as
//! soon as it is sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::TokioClock;
use camwatch_core::outcome::Frame;
use camwatch_core::outcome::{FailureKind, ProbeStatus};
use camwatch_core::quality::keyframe::Codec;
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::media::{MediaConfig, MediaProber};
use camwatch_gb28181::platform::{Platform, PlatformConfig};
use camwatch_gb28181::ps;
use camwatch_gb28181::sdp::{Media, MediaMode, MediaTransport, Setup};
use camwatch_gb28181::server::Server;
use camwatch_gb28181::sip::{self, InRequest, Inbound, Method};
use camwatch_gb28181::tcp_rtp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

mod device;
use device::{BOUND, DEV, PASSWORD, recv, registered_udp};

struct Harness {
    addr: SocketAddr,
    prober: Arc<MediaProber>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Harness {
    start_with(MediaMode::Udp).await
}

async fn start_with(mode: MediaMode) -> Harness {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let cfg = PlatformConfig {
        shared_password: Some(Password::new(PASSWORD)),
        known: [DEV.parse().unwrap()].into(),
        ..Default::default()
    };
    let platform = Arc::new(Mutex::new(Platform::new(cfg, Nonces::random(), 9)));
    let (events_tx, _events) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let clock = Arc::new(TokioClock::new(
        jiff::Timestamp::from_second(1_800_000_000).unwrap(),
    ));
    let server = Server::new(platform, udp, tcp, clock, events_tx).unwrap();
    let prober = Arc::new(MediaProber::new(
        server.handle(),
        MediaConfig {
            ip: Some("127.0.0.1".parse().unwrap()),
            answer_timeout: Duration::from_secs(4),
            media_timeout: Duration::from_secs(5),
            per_parent: 4,
            mode,
            ..MediaConfig::default()
        },
    ));
    tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    Harness {
        addr,
        prober,
        _stop: stop,
    }
}

/// The next request of `method` the device receives (others, like the Catalog query after
/// registering, are left unanswered), and when.
async fn next(sock: &UdpSocket, method: Method) -> (InRequest, Instant) {
    loop {
        let (bytes, at) = recv(sock).await;
        if let Ok(Inbound::Request(r)) = sip::parse(&bytes)
            && r.method == method
        {
            return (r, at);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_answered_invite_without_media_is_no_media_at_the_media_timeout() {
    let h = start().await;
    let dev = registered_udp(h.addr).await;
    let prober = h.prober.clone();
    let probe = tokio::spawn(async move {
        let o = prober.probe(DEV.parse().unwrap()).await;
        (o, Instant::now())
    });
    let (invite, _) = next(&dev, Method::Invite).await;
    let offer = Media::parse(&invite.common.body).unwrap();
    assert_eq!(offer.session, "Play");
    let answer = Media::answer(
        DEV,
        &offer,
        "127.0.0.1".parse().unwrap(),
        1,
        offer.ssrc.as_deref().unwrap(),
    );
    dev.send_to(
        &sip::response_with_body(&invite, 200, "OK", "d1", "APPLICATION/SDP", &answer),
        h.addr,
    )
    .await
    .unwrap();
    let answered = Instant::now();
    let (ack, _) = next(&dev, Method::Ack).await;
    assert_eq!(ack.common.call_id, invite.common.call_id);
    let (bye, bye_at) = next(&dev, Method::Bye).await;
    assert_eq!(bye.common.call_id, invite.common.call_id);
    dev.send_to(&sip::response(&bye, 200, "OK", "d1", &[]), h.addr)
        .await
        .unwrap();
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.status, ProbeStatus::Down);
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert_eq!(o.detail, "INVITE answered but no media within 5 s");
    // Exactly the media timeout after the answer, on virtual time; the BYE at that instant.
    assert_eq!(done - answered, Duration::from_secs(5));
    assert_eq!(bye_at - answered, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_invite_is_sent_again_then_no_answer_at_the_answer_timeout() {
    let h = start().await;
    let dev = registered_udp(h.addr).await;
    let prober = h.prober.clone();
    let probe = tokio::spawn(async move {
        let o = prober.probe(DEV.parse().unwrap()).await;
        (o, Instant::now())
    });
    let (first, t0) = next(&dev, Method::Invite).await;
    // Timer A: +0.5, +1.5, +3.5 s, the same bytes (branch) each time, before the 4 s timeout.
    let mut gaps = Vec::new();
    for _ in 0..3 {
        let (again, at) = next(&dev, Method::Invite).await;
        assert_eq!(again.common.branch(), first.common.branch());
        gaps.push((at - t0).as_millis());
    }
    assert_eq!(gaps, vec![500, 1500, 3500]);
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::NoAnswer), "{}", o.detail);
    assert!(o.detail.contains("INVITE unanswered"), "{}", o.detail);
    assert_eq!(done - t0, Duration::from_secs(4));
}

/// An H.264 keyframe (SPS, PPS, an IDR slice; the slice is not decoded here) as a device's
/// RTP packets of PS, each framed for TCP.
fn keyframe_over_tcp() -> (Vec<u8>, Vec<u8>) {
    let mut key = vec![
        0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0x38, 0x80, 0, 0, 0, 1, 0x65,
    ];
    key.extend((0..5000).map(|i| (i % 251) as u8 | 1));
    let ps = ps::mux_frame(Codec::H264, &key, 0, true);
    let mut seq = 100;
    let stream = ps::packetize(&ps, &mut seq, 0, 200_000_001, 1400)
        .iter()
        .flat_map(|p| tcp_rtp::frame(p).unwrap())
        .collect();
    (key, stream)
}

/// Answers the INVITE with a 200 for a TCP offer: our answer says `port` (where we listen,
/// for an active offer); returns the offer and the instant of the answer.
async fn answer_tcp(
    dev: &UdpSocket,
    platform: SocketAddr,
    port: u16,
) -> (InRequest, Media, Instant) {
    let (invite, _) = next(dev, Method::Invite).await;
    let offer = Media::parse(&invite.common.body).unwrap();
    assert_eq!(offer.transport, MediaTransport::Tcp);
    let ip = "127.0.0.1".parse().unwrap();
    let answer = Media::answer(DEV, &offer, ip, port, offer.ssrc.as_deref().unwrap());
    dev.send_to(
        &sip::response_with_body(&invite, 200, "OK", "d1", "APPLICATION/SDP", &answer),
        platform,
    )
    .await
    .unwrap();
    (invite, offer, Instant::now())
}

fn spawn_probe(
    h: &Harness,
) -> tokio::task::JoinHandle<(camwatch_core::outcome::ProbeOutcome, Instant)> {
    let prober = h.prober.clone();
    tokio::spawn(async move {
        let o = prober.probe(DEV.parse().unwrap()).await;
        (o, Instant::now())
    })
}

#[tokio::test(start_paused = true)]
async fn tcp_passive_the_device_connects_and_the_keyframe_comes_whole() {
    let h = start_with(MediaMode::TcpPassive).await;
    let dev = registered_udp(h.addr).await;
    let probe = spawn_probe(&h);
    let (_, offer, _) = answer_tcp(&dev, h.addr, 6000).await;
    assert_eq!(offer.setup, Some(Setup::Passive));
    assert_ne!(offer.port, 9);
    let mut conn = TcpStream::connect(("127.0.0.1", offer.port)).await.unwrap();
    let (key, stream) = keyframe_over_tcp();
    // In pieces that cut through lengths and packets.
    for piece in stream.chunks(1000) {
        conn.write_all(piece).await.unwrap();
    }
    let (o, _) = probe.await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
    assert_eq!(o.frame, Some(Frame::H264(key.into())));
    assert!(
        o.facts
            .iter()
            .any(|(k, v)| k == "media_transport" && v == "tcp_passive")
    );
    // The probe is over: the connection is closed.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(BOUND, conn.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(n.unwrap(), 0);
}

/// A connection from an address that is neither the device's answer's nor its peer's is
/// dropped and the probe keeps waiting: the device connecting after it still gets its keyframe
/// through; a probe that only strangers reach is `no_media` at the timeout, saying so.
#[tokio::test(start_paused = true)]
async fn tcp_passive_a_stranger_is_dropped_and_the_device_still_gets_through() {
    let h = start_with(MediaMode::TcpPassive).await;
    let dev = registered_udp(h.addr).await;
    let probe = spawn_probe(&h);
    let (_, offer, _) = answer_tcp(&dev, h.addr, 6000).await;
    let stranger = tokio::net::TcpSocket::new_v4().unwrap();
    stranger.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stranger = stranger
        .connect(format!("127.0.0.1:{}", offer.port).parse().unwrap())
        .await
        .unwrap();
    let (key, stream) = keyframe_over_tcp();
    // The stranger's bytes are never read: its connection is closed.
    let _ = stranger.write_all(&stream).await;
    let mut rest = Vec::new();
    let n = tokio::time::timeout(BOUND, stranger.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let mut conn = TcpStream::connect(("127.0.0.1", offer.port)).await.unwrap();
    conn.write_all(&stream).await.unwrap();
    let (o, _) = probe.await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
    assert_eq!(o.frame, Some(Frame::H264(key.into())));

    // Only a stranger: no media at the timeout, the drop named.
    let probe = spawn_probe(&h);
    let (_, offer, answered) = answer_tcp(&dev, h.addr, 6000).await;
    let stranger = tokio::net::TcpSocket::new_v4().unwrap();
    stranger.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let _stranger = stranger
        .connect(format!("127.0.0.1:{}", offer.port).parse().unwrap())
        .await
        .unwrap();
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert_eq!(
        o.detail,
        "INVITE answered but the device never connected for media (TCP) within 5 s \
         (1 connection(s) from unknown addresses dropped)"
    );
    assert_eq!(done - answered, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn tcp_passive_a_device_that_never_connects_is_no_media_at_the_media_timeout() {
    let h = start_with(MediaMode::TcpPassive).await;
    let dev = registered_udp(h.addr).await;
    let probe = spawn_probe(&h);
    let (invite, _, answered) = answer_tcp(&dev, h.addr, 6000).await;
    let (bye, bye_at) = next(&dev, Method::Bye).await;
    assert_eq!(bye.common.call_id, invite.common.call_id);
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert_eq!(
        o.detail,
        "INVITE answered but the device never connected for media (TCP) within 5 s"
    );
    assert_eq!(done - answered, Duration::from_secs(5));
    assert_eq!(bye_at - answered, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn tcp_passive_a_silent_connection_is_no_media_at_the_media_timeout() {
    let h = start_with(MediaMode::TcpPassive).await;
    let dev = registered_udp(h.addr).await;
    let probe = spawn_probe(&h);
    let (_, offer, answered) = answer_tcp(&dev, h.addr, 6000).await;
    let _conn = TcpStream::connect(("127.0.0.1", offer.port)).await.unwrap();
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert_eq!(o.detail, "INVITE answered but no media within 5 s");
    assert_eq!(done - answered, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn tcp_a_length_beyond_the_bound_is_malformed() {
    let h = start_with(MediaMode::TcpPassive).await;
    let dev = registered_udp(h.addr).await;
    let probe = spawn_probe(&h);
    let (_, offer, answered) = answer_tcp(&dev, h.addr, 6000).await;
    let mut conn = TcpStream::connect(("127.0.0.1", offer.port)).await.unwrap();
    let (_, stream) = keyframe_over_tcp();
    // One good packet, then a length of 60,000.
    let first = 2 + usize::from(u16::from_be_bytes([stream[0], stream[1]]));
    conn.write_all(&stream[..first]).await.unwrap();
    conn.write_all(&[0xEA, 0x60, 0x80, 0x60]).await.unwrap();
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::MalformedReply), "{}", o.detail);
    assert!(
        o.detail.contains(&format!(
            "RTP over TCP: a packet length of 60000 at stream byte {first}"
        )),
        "{}",
        o.detail
    );
    // At once, not at a deadline.
    assert_eq!(done, answered);
}

#[tokio::test(start_paused = true)]
async fn tcp_active_we_connect_to_the_device_and_read_the_keyframe() {
    let h = start_with(MediaMode::TcpActive).await;
    let dev = registered_udp(h.addr).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = spawn_probe(&h);
    let (_, offer, _) = answer_tcp(&dev, h.addr, port).await;
    assert_eq!((offer.setup, offer.port), (Some(Setup::Active), 9));
    let (mut conn, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let (key, stream) = keyframe_over_tcp();
    conn.write_all(&stream).await.unwrap();
    let (o, _) = probe.await.unwrap();
    assert_eq!(o.status, ProbeStatus::Up, "{}", o.detail);
    assert_eq!(o.frame, Some(Frame::H264(key.into())));
    assert!(
        o.facts
            .iter()
            .any(|(k, v)| k == "media_transport" && v == "tcp_active")
    );
}

#[tokio::test(start_paused = true)]
async fn tcp_active_a_port_where_nothing_listens_is_no_media_at_once() {
    let h = start_with(MediaMode::TcpActive).await;
    let dev = registered_udp(h.addr).await;
    // A port that was free a moment ago: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let probe = spawn_probe(&h);
    let (_, _, answered) = answer_tcp(&dev, h.addr, port).await;
    let (o, done) = probe.await.unwrap();
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{}", o.detail);
    assert!(
        o.detail.contains("the media connection to 127.0.0.1:") && o.detail.contains("failed"),
        "{}",
        o.detail
    );
    assert_eq!(done, answered);
}
