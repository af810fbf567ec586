//! The picture probe's deadlines on paused tokio time with real loopback sockets: a device
//! that accepts the INVITE and never sends media is `no_media` exactly at the media timeout
//! after its answer, and gets its BYE; a device that never answers the INVITE receives it
//! again on the RFC 3261 timer A instants and the probe is `no_answer` at the answer timeout.
//!
//! Paused time is exact here for the reason `retransmit.rs` gives: the server's timers and the
//! device's receives share tokio's virtual clock, and a datagram on loopback is readable as
//! soon as it is sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::TokioClock;
use camwatch_core::outcome::{FailureKind, ProbeStatus};
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::media::{MediaConfig, MediaProber};
use camwatch_gb28181::platform::{Platform, PlatformConfig};
use camwatch_gb28181::sdp::Media;
use camwatch_gb28181::server::Server;
use camwatch_gb28181::sip::{self, InRequest, Inbound, Method};
use tokio::net::UdpSocket;
use tokio::time::Instant;

mod device;
use device::{DEV, PASSWORD, recv, registered_udp};

struct Harness {
    addr: SocketAddr,
    prober: Arc<MediaProber>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Harness {
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
