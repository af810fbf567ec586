//! A simulated GB/T 28181 device's side for the platform's tests (not a test): its REGISTER
//! with digest auth over a loopback socket, and bounded receives.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::TokioClock;
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::{self, Nonces};
use camwatch_gb28181::platform::{GbEvent, Platform, PlatformConfig};
use camwatch_gb28181::sip::{self, Inbound};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

pub const DEV: &str = "34020000001320000009";
pub const PASSWORD: &str = "secret";
/// Virtual time: a bound that only a broken server reaches.
pub const BOUND: Duration = Duration::from_secs(600);

pub fn register(transport: &str, local: SocketAddr, cseq: u32, auth: Option<String>) -> Vec<u8> {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bKreg{cseq}\r\n\
         From: <sip:{DEV}@3402000000>;tag=r{cseq}\r\n\
         To: <sip:{DEV}@3402000000>\r\n\
         Call-ID: reg@{local}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{DEV}@{local}>\r\n\
         {auth}Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub fn authorization(challenge: &Inbound) -> String {
    let Inbound::Response(r) = challenge else {
        panic!("expected the challenge")
    };
    assert_eq!(r.status, 401);
    let (realm, nonce) =
        digest::parse_challenge(r.www_authenticate.as_deref().expect("WWW-Authenticate")).unwrap();
    digest::answer(
        DEV,
        PASSWORD,
        &realm,
        &nonce,
        "REGISTER",
        "sip:34020000002000000001@3402000000",
    )
}

pub async fn recv(sock: &UdpSocket) -> (Vec<u8>, Instant) {
    let mut buf = vec![0u8; 65_536];
    let (n, _) = tokio::time::timeout(BOUND, sock.recv_from(&mut buf))
        .await
        .expect("the platform sends")
        .unwrap();
    buf.truncate(n);
    (buf, Instant::now())
}

/// A device registered over UDP with digest auth; returns its socket.
pub async fn registered_udp(platform: SocketAddr) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    sock.send_to(&register("UDP", local, 1, None), platform)
        .await
        .unwrap();
    let auth = authorization(&sip::parse(&recv(&sock).await.0).unwrap());
    sock.send_to(&register("UDP", local, 2, Some(auth)), platform)
        .await
        .unwrap();
    let Inbound::Response(ok) = sip::parse(&recv(&sock).await.0).unwrap() else {
        panic!("expected a response")
    };
    assert_eq!(ok.status, 200);
    sock
}

/// camwatch's platform serving UDP and TCP on loopback port 0, knowing `DEV` by the shared
/// `PASSWORD`, on the tokio clock; dropping `_stop` stops it.
pub struct Harness {
    pub addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub events: UnboundedReceiver<GbEvent>,
    pub _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts a platform whose nonces come from `seed`.
pub async fn start_platform(seed: u64) -> Harness {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let cfg = PlatformConfig {
        shared_password: Some(Password::new(PASSWORD)),
        known: [DEV.parse().unwrap()].into(),
        ..Default::default()
    };
    let platform = Arc::new(Mutex::new(Platform::new(cfg, Nonces::random(), seed)));
    let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let clock = Arc::new(TokioClock::new(
        jiff::Timestamp::from_second(1_800_000_000).unwrap(),
    ));
    tokio::spawn(camwatch_gb28181::server::run(
        platform,
        udp,
        tcp,
        clock,
        events_tx,
        async {
            let _ = stop_rx.await;
        },
    ));
    Harness {
        addr,
        tcp_addr,
        events,
        _stop: stop,
    }
}
