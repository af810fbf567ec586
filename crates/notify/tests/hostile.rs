//! Receivers that misbehave on purpose, against `deliver::send` under paused tokio time: the
//! per-delivery deadline and the answer-size cap bound what any of them can cost.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use camwatch_notify::config::HttpMethod;
use camwatch_notify::deliver::{http_client, send};
use camwatch_notify::render::HttpRequest;

const TIMEOUT: Duration = Duration::from_secs(10);
const CAP: usize = 64 * 1024;

fn request(addr: std::net::SocketAddr) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        url: format!("http://{addr}/hook"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: b"{}".to_vec(),
    }
}

/// Reads the request head, then hands the socket to `answer`.
async fn serve<F, Fut>(answer: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            tokio::spawn(answer(s));
        }
    });
    addr
}

/// Accepts, reads the request, never answers: the deadline ends the attempt.
#[tokio::test(start_paused = true)]
async fn a_receiver_that_never_answers_is_cut_at_the_deadline() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        drop(s);
    })
    .await;
    let client = http_client(TIMEOUT).unwrap();
    let t0 = tokio::time::Instant::now();
    let got = send(&client, &request(addr), TIMEOUT, CAP).await;
    assert_eq!(got, Err("no complete answer within 10000 ms".to_string()));
    assert_eq!(t0.elapsed(), TIMEOUT);
}

/// 200 and then a body trickling a kilobyte a second, forever: the deadline ends it, however
/// little or much has arrived.
#[tokio::test(start_paused = true)]
async fn a_slow_endless_body_is_cut_at_the_deadline() {
    let addr = serve(|mut s| async move {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n";
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if s.write_all(&[b' '; 1024]).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = http_client(TIMEOUT).unwrap();
    let got = send(&client, &request(addr), TIMEOUT, CAP).await;
    assert_eq!(got, Err("no complete answer within 10000 ms".to_string()));
}

/// 200 with a 10 MB body at once: only the cap is read, and the answer says it was cut.
#[tokio::test(start_paused = true)]
async fn a_huge_body_is_read_only_up_to_the_cap() {
    let addr = serve(|mut s| async move {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10000000\r\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..10 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    let client = http_client(TIMEOUT).unwrap();
    let got = send(&client, &request(addr), TIMEOUT, CAP).await.unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), CAP);
    assert!(got.truncated);
}

/// Nothing listening: a connection failure, reported without the URL (robot URLs carry
/// their tokens).
#[tokio::test(start_paused = true)]
async fn a_closed_port_is_a_connection_failure_without_the_url() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut req = request(addr);
    req.url.push_str("?access_token=SECRET-TOKEN");
    let client = http_client(TIMEOUT).unwrap();
    let err = send(&client, &req, TIMEOUT, CAP).await.unwrap_err();
    assert!(err.starts_with("connection failed"), "{err}");
    assert!(
        !err.contains("SECRET-TOKEN") && !err.contains("127.0.0.1"),
        "{err}"
    );
}
