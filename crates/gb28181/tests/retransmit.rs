//! The platform's own requests over UDP, on paused tokio time with real loopback sockets: a
//! device that never answers the Catalog query receives it again at exactly the RFC 3261
//! timer E instants and the query becomes a `NoAnswer` event at 64·T1; a device that misses
//! the first copy answers the retransmission and its catalog arrives, after which nothing is
//! sent again. Over TCP the query is sent once.
//!
//! Paused time is exact here: the server's timers and the device's receives share tokio's
//! virtual clock (`TokioClock`), and a datagram on loopback is readable as soon as it is sent,
//! so tokio never jumps time while one is in flight.

use std::time::Duration;

use camwatch_gb28181::manscdp::Query;
use camwatch_gb28181::platform::{GbEvent, Pending};
use camwatch_gb28181::sip::{self, InRequest, Inbound, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

mod device;
use device::{BOUND, DEV, authorization, recv, register, registered_udp, start_platform};

fn catalog_query(bytes: &[u8]) -> InRequest {
    match sip::parse(bytes).unwrap() {
        Inbound::Request(r)
            if r.method == Method::Message
                && String::from_utf8_lossy(&r.common.body).contains("Catalog") =>
        {
            r
        }
        other => panic!("expected the Catalog query, got {other:?}"),
    }
}

async fn next_no_answer(events: &mut UnboundedReceiver<GbEvent>) -> (Pending, Instant) {
    loop {
        let e = tokio::time::timeout(BOUND, events.recv())
            .await
            .expect("an event")
            .expect("the server runs");
        if let GbEvent::NoAnswer { what, .. } = e {
            return (what, Instant::now());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_query_is_sent_again_on_timer_e_then_fails_at_64_t1() {
    let mut h = start_platform(9).await;
    let dev = registered_udp(h.addr).await;
    let (first, t0) = recv(&dev).await;
    catalog_query(&first);
    let mut offsets_ms = Vec::new();
    // Ten copies are due before the timeout; each is the same request, byte for byte.
    for _ in 0..10 {
        let (copy, at) = recv(&dev).await;
        assert_eq!(copy, first, "a retransmission is the same bytes");
        offsets_ms.push((at - t0).as_millis());
    }
    assert_eq!(
        offsets_ms,
        [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    let (what, at) = next_no_answer(&mut h.events).await;
    assert_eq!(
        what,
        Pending::Query {
            device: DEV.parse().unwrap(),
            query: Query::Catalog
        }
    );
    assert_eq!((at - t0).as_millis(), 32_000);
    // Nothing more is sent for that query.
    let mut buf = [0u8; 2048];
    assert!(
        tokio::time::timeout(Duration::from_secs(20), dev.recv_from(&mut buf))
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_query_is_answered_after_its_retransmission() {
    let mut h = start_platform(9).await;
    let dev = registered_udp(h.addr).await;
    let local = dev.local_addr().unwrap();
    // The first copy is "lost": the device never saw it.
    let (first, t0) = recv(&dev).await;
    catalog_query(&first);
    let (copy, at) = recv(&dev).await;
    assert_eq!((copy.clone(), (at - t0).as_millis()), (first, 500));
    let q = catalog_query(&copy);
    let ok = sip::response(&q, 200, "OK", "dev", &[]);
    dev.send_to(&ok, h.addr).await.unwrap();
    // The same 200 again (as if our first had been slow): absorbed, not acted on twice.
    dev.send_to(&ok, h.addr).await.unwrap();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><CmdType>Catalog</CmdType><SN>1</SN>\
         <DeviceID>{DEV}</DeviceID><SumNum>1</SumNum><DeviceList Num=\"1\"><Item>\
         <DeviceID>34020000001310000001</DeviceID><Status>ON</Status></Item></DeviceList></Response>"
    );
    let page = format!(
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKpage1\r\n\
         From: <sip:{DEV}@3402000000>;tag=p1\r\n\
         To: <sip:34020000002000000001@3402000000>\r\n\
         Call-ID: page@{local}\r\n\
         CSeq: 20 MESSAGE\r\n\
         Content-Type: Application/MANSCDP+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    dev.send_to(page.as_bytes(), h.addr).await.unwrap();
    let Inbound::Response(r) = sip::parse(&recv(&dev).await.0).unwrap() else {
        panic!("expected the answer to our page")
    };
    assert_eq!(r.status, 200);
    let catalog = loop {
        match tokio::time::timeout(BOUND, h.events.recv()).await.unwrap() {
            Some(GbEvent::Catalog(c)) => break c,
            Some(GbEvent::NoAnswer { what, .. }) => panic!("{what:?} reported unanswered"),
            Some(_) => {}
            None => panic!("the server stopped"),
        }
    };
    assert!(catalog.complete);
    assert_eq!(catalog.items[0].device_id, "34020000001310000001");
    // Answered: no copy comes any more, and no timeout is reported (the keepalive misses are
    // 180 s away, so nothing else is due to this device either).
    let mut buf = [0u8; 2048];
    assert!(
        tokio::time::timeout(Duration::from_secs(60), dev.recv_from(&mut buf))
            .await
            .is_err()
    );
    while let Ok(e) = h.events.try_recv() {
        assert!(!matches!(e, GbEvent::NoAnswer { .. }), "{e:?}");
    }
}

/// One SIP message from a TCP stream, and when it was complete.
async fn read(s: &mut TcpStream, buf: &mut Vec<u8>) -> (Vec<u8>, Instant) {
    loop {
        if let Some(n) = sip::frame(buf).unwrap() {
            let m: Vec<u8> = buf.drain(..n).collect();
            return (m, Instant::now());
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("the platform sends")
            .unwrap();
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(start_paused = true)]
async fn over_tcp_the_query_is_sent_once_and_still_times_out() {
    let mut h = start_platform(9).await;
    let mut s = TcpStream::connect(h.tcp_addr).await.unwrap();
    let local = s.local_addr().unwrap();
    let mut buf = Vec::new();
    s.write_all(&register("TCP", local, 1, None)).await.unwrap();
    let auth = authorization(&sip::parse(&read(&mut s, &mut buf).await.0).unwrap());
    s.write_all(&register("TCP", local, 2, Some(auth)))
        .await
        .unwrap();
    let (ok, _) = read(&mut s, &mut buf).await;
    assert!(matches!(sip::parse(&ok).unwrap(), Inbound::Response(r) if r.status == 200));
    let (query, t0) = read(&mut s, &mut buf).await;
    catalog_query(&query);
    let (what, at) = next_no_answer(&mut h.events).await;
    assert!(matches!(what, Pending::Query { .. }));
    assert_eq!((at - t0).as_millis(), 32_000);
    // Nothing else came on the connection meanwhile.
    let mut chunk = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), s.read(&mut chunk))
            .await
            .is_err()
    );
    assert!(buf.is_empty());
}
