//! TCP connect probe: can a port be reached, and how fast. Also used by the other probes to
//! classify a failed connection (refused vs. timed out vs. no route).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::outcome::{FailureKind, ProbeKind, ProbeOutcome, StepTiming};

/// Maps a connect error to the failure it means.
pub fn classify_connect_error(e: &std::io::Error) -> FailureKind {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => FailureKind::ConnectionRefused,
        TimedOut => FailureKind::ConnectTimeout,
        HostUnreachable | NetworkUnreachable | AddrNotAvailable => FailureKind::DnsOrRoute,
        _ => FailureKind::Io,
    }
}

/// Connects with a deadline; `Ok` carries the stream and the connect time.
pub async fn connect(
    addr: SocketAddr,
    deadline: Duration,
) -> Result<(TcpStream, Duration), (FailureKind, String)> {
    let t = Instant::now();
    match tokio::time::timeout(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok((s, t.elapsed())),
        Ok(Err(e)) => Err((classify_connect_error(&e), format!("connect {addr}: {e}"))),
        Err(_) => Err((
            FailureKind::ConnectTimeout,
            format!(
                "connect {addr}: no answer within {} ms",
                deadline.as_millis()
            ),
        )),
    }
}

/// One TCP connect to `addr`.
pub async fn probe(addr: SocketAddr, deadline: Duration) -> ProbeOutcome {
    let t = Instant::now();
    let mut o = match connect(addr, deadline).await {
        Ok((_s, took)) => {
            let mut o = ProbeOutcome::up(ProbeKind::Tcp);
            o.steps.push(StepTiming {
                step: "connect".into(),
                elapsed_ms: took.as_secs_f64() * 1000.0,
            });
            o.detail = format!("{addr} accepts connections");
            o
        }
        Err((kind, detail)) => ProbeOutcome::down(ProbeKind::Tcp, kind, detail),
    };
    o.elapsed_ms = t.elapsed().as_secs_f64() * 1000.0;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = l.local_addr().unwrap();
        let o = probe(open, Duration::from_secs(2)).await;
        assert_eq!(o.status, crate::ProbeStatus::Up);
        drop(l);
        let o = probe(open, Duration::from_secs(2)).await;
        assert_eq!(o.failure, Some(FailureKind::ConnectionRefused), "{o:?}");
    }
}
