//! The API over TLS (`serve_tls`, `[api] tls_cert`/`tls_key`): a real handshake against a
//! certificate made for the test, the cookie marked `Secure`, the client's address still
//! recorded at login, and a client that connects and says nothing stalls nobody.

mod common;

use common::*;

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
    let err = camwatch_api::tls::acceptor(&c, &k).err().unwrap();
    assert!(
        err.contains("tls_cert") && err.contains("cert.pem"),
        "{err}"
    );
    let err = camwatch_api::tls::acceptor(&dir.path().join("missing.pem"), &k)
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
    let err = camwatch_api::tls::acceptor(&c, &k).err().unwrap();
    assert!(err.contains("do not make a usable pair"), "{err}");
}
