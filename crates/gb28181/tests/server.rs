//! The server over real loopback sockets (port 0): a TCP peer registers with digest auth, is
//! sent the Catalog query on its own connection, answers it, and a second, garbage-sending
//! connection is closed without disturbing it. Receives are bounded by a timeout so a broken
//! server fails the test instead of hanging it; nothing asserts on how long anything took.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::SystemClock;
use camwatch_core::secret::Password;
use camwatch_gb28181::digest::{Credentials, Nonces};
use camwatch_gb28181::platform::{GbEvent, Platform, PlatformConfig};
use camwatch_gb28181::registrar::Presence;
use camwatch_gb28181::sip::{self, Inbound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const DEV: &str = "34020000001320000007";
const BOUND: Duration = Duration::from_secs(20);

fn register(cseq: u32, auth: &str, local: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKr{cseq}\r\n\
         From: <sip:{DEV}@3402000000>;tag=a{cseq}\r\n\
         To: <sip:{DEV}@3402000000>\r\n\
         Call-ID: reg@{local}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{DEV}@{local};transport=tcp>\r\n\
         {auth}Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Reads one SIP message from a TCP stream.
async fn read_msg(s: &mut TcpStream, buf: &mut Vec<u8>) -> Inbound {
    loop {
        if let Some(n) = sip::frame(buf).unwrap() {
            let m: Vec<u8> = buf.drain(..n).collect();
            return sip::parse(&m).unwrap();
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn tcp_peer_registers_and_answers_the_catalog_query() {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let cfg = PlatformConfig {
        shared_password: Some(Password::new("secret")),
        known: [DEV.parse().unwrap()].into(),
        ..Default::default()
    };
    let platform = Arc::new(Mutex::new(Platform::new(cfg, Nonces::random(), 7)));
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(camwatch_gb28181::server::run(
        platform.clone(),
        udp,
        tcp,
        Arc::new(SystemClock),
        events_tx,
        async {
            let _ = stop_rx.await;
        },
    ));

    // A garbage-sending connection first: it is closed, the next peer is served.
    let mut bad = TcpStream::connect(addr).await.unwrap();
    // The server may close before it has read everything: a failed write is fine here.
    let _ = bad.write_all(&vec![b'x'; sip::MAX_MESSAGE + 10]).await;

    let mut s = TcpStream::connect(addr).await.unwrap();
    let local = s.local_addr().unwrap().to_string();
    let mut buf = Vec::new();
    s.write_all(&register(1, "", &local)).await.unwrap();
    let Inbound::Response(challenge) = read_msg(&mut s, &mut buf).await else {
        panic!("expected a response")
    };
    assert_eq!(challenge.status, 401);
    let text = String::from_utf8_lossy(&challenge.common.body).into_owned();
    assert!(text.is_empty());

    // The challenge's nonce, from the raw bytes of a fresh 401.
    s.write_all(&register(2, "", &local)).await.unwrap();
    let mut raw = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(BOUND, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        raw.extend_from_slice(&chunk[..n]);
        if sip::frame(&raw).unwrap().is_some() {
            break;
        }
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let nonce = raw
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut c = Credentials {
        username: DEV.into(),
        realm: "3402000000".into(),
        nonce: nonce.into(),
        uri: "sip:34020000002000000001@3402000000".into(),
        response: String::new(),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        cnonce: Some("c0ffee".into()),
    };
    c.response = c.expected("REGISTER", "secret");
    let auth = format!(
        "Authorization: Digest username=\"{DEV}\", realm=\"3402000000\", nonce=\"{nonce}\", \
         uri=\"{}\", response=\"{}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n",
        c.uri, c.response
    );
    s.write_all(&register(3, &auth, &local)).await.unwrap();
    let Inbound::Response(ok) = read_msg(&mut s, &mut buf).await else {
        panic!("expected a response")
    };
    assert_eq!(ok.status, 200);

    // The Catalog query comes on the same connection.
    let Inbound::Request(q) = read_msg(&mut s, &mut buf).await else {
        panic!("expected the catalog query")
    };
    assert!(String::from_utf8_lossy(&q.common.body).contains("Catalog"));
    s.write_all(&sip::response(&q, 200, "OK", "dev", &[]))
        .await
        .unwrap();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><CmdType>Catalog</CmdType><SN>1</SN>\
         <DeviceID>{DEV}</DeviceID><SumNum>1</SumNum><DeviceList Num=\"1\"><Item>\
         <DeviceID>34020000001310000001</DeviceID><Status>ON</Status></Item></DeviceList></Response>"
    );
    let msg = format!(
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKc1\r\n\
         From: <sip:{DEV}@3402000000>;tag=c1\r\n\
         To: <sip:34020000002000000001@3402000000>\r\n\
         Call-ID: cat@{local}\r\n\
         CSeq: 20 MESSAGE\r\n\
         Content-Type: Application/MANSCDP+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(msg.as_bytes()).await.unwrap();
    let Inbound::Response(ok) = read_msg(&mut s, &mut buf).await else {
        panic!("expected a response")
    };
    assert_eq!(ok.status, 200);

    let mut online = false;
    let mut catalog = None;
    while catalog.is_none() {
        match tokio::time::timeout(BOUND, events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            GbEvent::Presence(t) => online |= t.presence == Presence::Online,
            GbEvent::Catalog(c) => catalog = Some(c),
            _ => {}
        }
    }
    assert!(online);
    assert_eq!(catalog.unwrap().items[0].device_id, "34020000001310000001");

    // The garbage connection was closed by the server.
    let mut sink = [0u8; 64];
    let n = tokio::time::timeout(BOUND, bad.read(&mut sink))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)));

    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
