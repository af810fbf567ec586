//! The I/O shell around [`Platform`]: a UDP socket and a TCP listener (bound by the caller, so
//! tests bind port 0), a task per TCP connection, and a tick that lets time pass.
//!
//! Bounds, so that one broken or flooding peer never stalls the others: at most
//! [`MAX_TCP_CONNECTIONS`] connections (more are closed at accept); a connection silent for
//! [`TCP_IDLE`] is closed; a TCP stream buffers at most one message ([`sip::MAX_MESSAGE`]) and is
//! closed on a framing error; replies to a TCP peer go through a queue of [`TCP_QUEUE`]
//! messages and are dropped, not waited for, when it is full. The platform itself bounds the
//! work per message and the messages per address and second.
//!
//! The platform sits behind a `std::sync::Mutex`: nothing awaits while it is held (each call is
//! a bounded, synchronous computation), and sends happen after it is released.
//!
//! Must not: decide anything (the platform does), or retry a send.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::SharedClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

use crate::platform::{GbEvent, Outgoing, Peer, Platform};
use crate::sip;

pub const MAX_TCP_CONNECTIONS: usize = 4096;
/// A registered TCP peer sends a keepalive every minute; five minutes of silence is a dead peer.
pub const TCP_IDLE: Duration = Duration::from_secs(300);
pub const TCP_QUEUE: usize = 64;
/// How often time is let pass (offline detection is exact anyway: the registrar backdates).
pub const TICK: Duration = Duration::from_secs(1);
/// The UDP receive buffer asked for: 10,000 devices registering at once send about 5 MB of
/// REGISTERs within a second; the default buffer (about 200 KB on Linux) holds a few hundred
/// and the rest would wait for the devices' retransmissions. The kernel caps the size at
/// `net.core.rmem_max` (often 4 MB or less); what it grants is logged.
pub const UDP_RECV_BUFFER: usize = 8 << 20;

type Writers = Arc<Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>>;

/// The shared parts every task uses.
#[derive(Clone)]
struct Shared {
    platform: Arc<Mutex<Platform>>,
    clock: SharedClock,
    events: mpsc::UnboundedSender<GbEvent>,
    udp: Arc<UdpSocket>,
    writers: Writers,
}

impl Shared {
    fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// Runs `f` on the platform, publishes its events and returns what to send.
    fn with<R>(&self, f: impl FnOnce(&mut Platform, i64) -> R) -> R {
        let now = self.now();
        let (r, events) = {
            let mut p = self.platform.lock().unwrap_or_else(|e| e.into_inner());
            let r = f(&mut p, now);
            (r, p.take_events())
        };
        for e in events {
            // No receiver (a test that does not listen) is not an error of the server.
            let _ = self.events.send(e);
        }
        r
    }

    async fn send(&self, out: Vec<Outgoing>) {
        for o in out {
            match o.to {
                Peer::Udp(addr) => {
                    if let Err(e) = self.udp.send_to(&o.bytes, addr).await {
                        tracing::debug!(%addr, error = %e, "UDP send failed");
                    }
                }
                Peer::Tcp(id, addr) => {
                    let tx = self
                        .writers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&id)
                        .cloned();
                    match tx {
                        Some(tx) if tx.try_send(o.bytes).is_ok() => {}
                        _ => {
                            tracing::debug!(%addr, "TCP peer gone or not reading: message dropped")
                        }
                    }
                }
            }
        }
    }
}

/// Serves SIP on `udp` and `tcp` until `shutdown` completes. Events go to `events`; the
/// requests the platform makes as time passes (subscription refreshes) are sent each tick.
pub async fn run(
    platform: Arc<Mutex<Platform>>,
    udp: UdpSocket,
    tcp: TcpListener,
    clock: SharedClock,
    events: mpsc::UnboundedSender<GbEvent>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    {
        let mut p = platform.lock().unwrap_or_else(|e| e.into_inner());
        p.set_local(udp.local_addr()?, tcp.local_addr()?);
    }
    let sock = socket2::SockRef::from(&udp);
    if let Err(e) = sock.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::warn!(error = %e, "SIP UDP: the receive buffer could not be enlarged");
    }
    tracing::debug!(
        bytes = sock.recv_buffer_size().unwrap_or(0),
        "SIP UDP receive buffer"
    );
    let shared = Shared {
        platform,
        clock,
        events,
        udp: Arc::new(udp),
        writers: Arc::default(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(udp_loop(shared.clone()));
    tasks.spawn(tcp_accept(shared.clone(), tcp));
    tasks.spawn(tick_loop(shared.clone()));
    shutdown.await;
    tasks.shutdown().await;
    Ok(())
}

async fn udp_loop(s: Shared) {
    let mut buf = vec![0u8; sip::MAX_MESSAGE + 1];
    loop {
        let (n, from) = match s.udp.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable from an earlier send surfaces here on some systems.
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        let out = s.with(|p, now| p.on_message(&buf[..n], Peer::Udp(from), now));
        s.send(out).await;
    }
}

async fn tcp_accept(s: Shared, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let ids = AtomicU64::new(0);
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                // Out of file descriptors, typically: give the others a moment to close.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many SIP TCP connections: closing a new one");
            continue;
        };
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let s = s.clone();
        tokio::spawn(async move {
            tcp_conn(s, stream, id, addr).await;
            drop(permit);
        });
    }
}

async fn tcp_conn(s: Shared, stream: TcpStream, id: u64, addr: std::net::SocketAddr) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    s.writers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let peer = Peer::Tcp(id, addr);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        let n = match tokio::time::timeout(TCP_IDLE, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // Bounded: each pass removes a message or waits for more bytes.
        loop {
            let skip = buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            buf.drain(..skip);
            match sip::frame(&buf) {
                Ok(None) => break,
                Ok(Some(len)) => {
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    let out = s.with(|p, now| p.on_message(&msg, peer, now));
                    s.send(out).await;
                }
                Err(e) => {
                    tracing::info!(%addr, error = %e, "SIP TCP stream unframeable: closing");
                    break 'conn;
                }
            }
        }
    }
    s.writers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    // Let queued replies go out; the writer ends when its queue closes.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

async fn tick_loop(s: Shared) {
    loop {
        s.clock.sleep(TICK).await;
        let out = s.with(|p, now| p.tick(now));
        s.send(out).await;
    }
}
