//! Digest replay over real loopback UDP, on paused tokio time: a REGISTER captured on the wire
//! and sent again (by the device's address or another) is challenged again (`401`, a fresh
//! nonce) instead of registering; the device answering that challenge registers. Sent again
//! after its nonce's lifetime, the captured REGISTER is challenged with `stale=true`.

use std::time::Duration;

use camwatch_gb28181::digest;
use camwatch_gb28181::platform::GbEvent;
use camwatch_gb28181::registrar::Presence;
use camwatch_gb28181::sip::{self, InResponse, Inbound};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

mod device;
use device::{authorization, recv, register, start_platform};

async fn response(sock: &UdpSocket) -> InResponse {
    // The platform's own requests (Catalog query) may come between: skip them.
    loop {
        if let Inbound::Response(r) = sip::parse(&recv(sock).await.0).unwrap() {
            return r;
        }
    }
}

fn onlines(events: &mut UnboundedReceiver<GbEvent>) -> usize {
    let mut n = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, GbEvent::Presence(t) if t.presence == Presence::Online) {
            n += 1;
        }
    }
    n
}

#[tokio::test(start_paused = true)]
async fn a_captured_register_sent_again_is_challenged_not_registered() {
    let device::Harness {
        addr: platform,
        mut events,
        _stop,
        ..
    } = start_platform(3).await;
    let dev = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = dev.local_addr().unwrap();
    dev.send_to(&register("UDP", local, 1, None), platform)
        .await
        .unwrap();
    let auth = authorization(&sip::parse(&recv(&dev).await.0).unwrap());
    // What an eavesdropper captures: the authorized REGISTER, byte for byte.
    let captured = register("UDP", local, 2, Some(auth));
    dev.send_to(&captured, platform).await.unwrap();
    let ok = response(&dev).await;
    assert_eq!(ok.status, 200);
    assert_eq!(onlines(&mut events), 1);

    // Replayed from the device's own address (a spoofed source) and from another.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for sock in [&dev, &attacker] {
        sock.send_to(&captured, platform).await.unwrap();
        let again = response(sock).await;
        assert_eq!(again.status, 401, "a replay is challenged again");
        let www = again.www_authenticate.as_deref().expect("a new challenge");
        assert!(!www.contains("stale=true"), "the nonce is not stale: {www}");
        let (_, nonce) = digest::parse_challenge(www).unwrap();
        assert!(
            !String::from_utf8_lossy(&captured).contains(&nonce),
            "a fresh nonce"
        );
    }

    // The device itself answers the new challenge and registers again.
    dev.send_to(&register("UDP", local, 3, None), platform)
        .await
        .unwrap();
    let auth = authorization(&sip::parse(&recv(&dev).await.0).unwrap());
    dev.send_to(&register("UDP", local, 4, Some(auth)), platform)
        .await
        .unwrap();
    assert_eq!(response(&dev).await.status, 200);

    // After the nonce's lifetime the captured REGISTER is stale.
    tokio::time::sleep(Duration::from_secs(digest::NONCE_TTL_SEC as u64 + 1)).await;
    attacker.send_to(&captured, platform).await.unwrap();
    let stale = response(&attacker).await;
    assert_eq!(stale.status, 401);
    assert!(
        stale
            .www_authenticate
            .as_deref()
            .is_some_and(|w| w.contains("stale=true"))
    );
}
