//! The API over TLS (`serve_tls`, `[api] tls_cert`/`tls_key`): a real handshake against a
//! certificate made for the test, the cookie marked `Secure`, the client's address still
//! recorded at login, and a client that connects and says nothing stalls nobody.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn the_api_answers_over_tls_with_a_secure_cookie() {
    let e = env_tls().await;
    assert!(e.base.starts_with("https://127.0.0.1:"), "{}", e.base);
    let r = e.login_reply("op", GOOD, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    let auth = e.login("op").await;
    let me = e.get("/me", &auth).await;
    assert_eq!((me.status, me.body["name"].as_str()), (200, Some("op")));
    // The client's address reaches the login's audit entry through the TLS listener.
    let admin = e.login("admin1").await;
    let r = e.get("/audit?action=user.login&actor=op", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{}", r.body);
    for i in items {
        assert_eq!(i["detail"]["ip"], "127.0.0.1", "{i}");
    }
}

#[tokio::test]
async fn a_silent_or_plain_text_client_stalls_no_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = env_tls().await;
    let addr = e
        .base
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // One connects and says nothing; another speaks plain HTTP to the TLS port.
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut plain = tokio::net::TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Both held open, a real client is served.
    let r = e.get("/me", &Auth::None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // The plain-text client gets no HTTP answer: its handshake failed and it was dropped.
    let mut buf = Vec::new();
    let n = plain.read_to_end(&mut buf).await.unwrap_or(0);
    assert!(!String::from_utf8_lossy(&buf[..n]).contains("HTTP/1.1 200"));
}

#[test]
fn a_bad_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, "not a certificate").unwrap();
    std::fs::write(&k, "not a key").unwrap();
    let err = camwatch_api::tls::Certificates::load(&c, &k).err().unwrap();
    assert!(
        err.contains("tls_cert") && err.contains("cert.pem"),
        "{err}"
    );
    let err = camwatch_api::tls::Certificates::load(&dir.path().join("missing.pem"), &k)
        .err()
        .unwrap();
    assert!(err.contains("missing.pem"), "{err}");
    // A real certificate with a key that is not its own.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let err = camwatch_api::tls::Certificates::load(&c, &k).err().unwrap();
    assert!(err.contains("do not make a usable pair"), "{err}");
}

/// A self-signed certificate for `localhost`, written to `c` and `k`; its DER.
fn write_pair(c: &std::path::Path, k: &std::path::Path) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(c, cert.pem()).unwrap();
    std::fs::write(k, key.serialize_pem()).unwrap();
    cert.der().to_vec()
}

/// The certificate the server at `addr` presents in a new handshake.
async fn presented(addr: std::net::SocketAddr, trusted: &[Vec<u8>]) -> Vec<u8> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for der in trusted {
        roots.add(der.clone().into()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A renewed certificate is served from the next handshake on, without a restart: by an
/// explicit reload (SIGHUP) and by the watcher when the files change. A broken renewal keeps
/// the certificate in use.
#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    use axum::serve::Listener;
    use camwatch_api::tls::{Certificates, TlsListener};
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = write_pair(&c, &k);
    let certs = Certificates::load(&c, &k).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut listener = TlsListener::new(tcp, certs.acceptor().unwrap()).unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded by the test: it is aborted at the end.
        loop {
            held.push(listener.accept().await);
        }
    });
    assert_eq!(presented(addr, std::slice::from_ref(&first)).await, first);

    let second = write_pair(&c, &k);
    let trusted = [first.clone(), second.clone()];
    assert_eq!(
        presented(addr, &trusted).await,
        first,
        "not before a reload"
    );
    certs.reload().unwrap();
    assert_eq!(presented(addr, &trusted).await, second);

    // A half-written renewal: refused, naming the file; the second pair stays.
    std::fs::write(&c, "-----BEGIN CERTIFICATE-----\nAAAA").unwrap();
    let err = certs.reload().unwrap_err();
    assert!(err.contains("cert.pem"), "{err}");
    assert_eq!(presented(addr, &trusted).await, second);

    // The watcher takes up a change of the files by itself.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(certs.clone().watch(Duration::from_millis(20), async {
        let _ = stop_rx.await;
    }));
    let third = write_pair(&c, &k);
    let trusted = [first, second, third.clone()];
    // A hang guard, not a timing expectation: the watcher looks every 20 ms.
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = presented(addr, &trusted).await;
        if seen == third {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, third, "the watcher never reloaded");
    stop_tx.send(()).unwrap();
    watcher.await.unwrap();
    server.abort();
}
