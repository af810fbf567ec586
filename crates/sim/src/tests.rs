//! The simulator's wire faults, seen with raw sockets (no client library smoothing anything
//! over): black holes accept and never answer, malformed replies are malformed on the wire.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{BindMode, FaultPlan, SimConfig, start};
use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::registry::generate::generate;

const KINDS: [&str; 6] = [
    "black_hole",
    "garbage",
    "truncated",
    "wrong_cseq",
    "huge_header",
    "endless_body",
];

/// Reads until EOF, `limit` bytes, `wait` of silence or 2 s in all; true when the peer closed.
async fn read_some(s: &mut TcpStream, limit: usize, wait: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        match tokio::time::timeout(wait.min(left), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() >= limit {
                    return (out, false);
                }
            }
            Err(_) => return (out, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_faults_misbehave_on_the_wire() {
    let reg = generate(40, 3);
    let cams: Vec<String> = reg
        .iter()
        .filter(|d| d.ip.is_some() && !d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();
    let mut sched = String::new();
    for (k, c) in KINDS.iter().zip(&cams) {
        sched += &format!(
            "[[fault]]\ndevice = \"{c}\"\nkind = \"{k}\"\nstart = \"0s\"\nduration = \"1h\"\n"
        );
    }
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: 40 },
            seed: 3,
            bind: BindMode::OnePort {
                ip: Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1),
            },
            faults: FaultPlan::Schedule(sched, "wire.toml".into()),
            horizon_sec: 3600,
        },
        clock,
    )
    .await
    .unwrap();
    let addr = |code: &str| -> (SocketAddr, String) {
        let d = fleet
            .devices()
            .iter()
            .find(|d| d.code.to_string() == code)
            .unwrap();
        (
            SocketAddr::new(d.ip.unwrap(), d.rtsp_port.unwrap()),
            d.stream_urls[0].clone(),
        )
    };
    for (kind, code) in KINDS.iter().zip(&cams) {
        let (a, url) = addr(code);
        let mut s = TcpStream::connect(a).await.unwrap();
        s.write_all(format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 7\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (got, closed) = read_some(&mut s, 2 << 20, Duration::from_millis(700)).await;
        let text = String::from_utf8_lossy(&got[..got.len().min(200)]).to_string();
        match *kind {
            "black_hole" => assert!(got.is_empty() && !closed, "{kind}: {text:?}"),
            "garbage" => assert!(!got.starts_with(b"RTSP/1.0"), "{kind}: {text:?}"),
            "truncated" => {
                assert!(
                    closed && !got.windows(4).any(|w| w == b"\r\n\r\n"),
                    "{kind}: {text:?}"
                )
            }
            "wrong_cseq" => {
                assert!(
                    text.contains("CSeq: 1007") && !text.contains("CSeq: 7\r"),
                    "{text:?}"
                )
            }
            "huge_header" => assert!(got.len() >= 1 << 20, "{kind}: {} bytes", got.len()),
            "endless_body" => {
                // Still dripping after 2 s, far from the 100 MB it announced.
                assert!(
                    text.contains("Content-Length: 100000000") && !closed,
                    "{text:?}"
                );
                assert!(got.len() > 1000 && got.len() < 100_000_000, "{}", got.len());
            }
            _ => unreachable!(),
        }
    }
    // A healthy camera answers its own CSeq.
    let (a, url) = addr(&cams[KINDS.len()]);
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 7\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (got, _) = read_some(&mut s, 4096, Duration::from_millis(300)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("RTSP/1.0 200 OK") && text.contains("CSeq: 7"),
        "{text}"
    );
    fleet.shutdown().await;
}
