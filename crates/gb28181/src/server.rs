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
//! Requests the platform sends (queries, SUBSCRIBEs) are tracked as client transactions
//! ([`crate::transaction`], behind its own sync mutex for the same reason): over UDP a task
//! sends them again on the RFC 3261 timers until answered, and reports the unanswered ones to
//! the platform ([`Platform::no_answer`]) at their timeout. A response is looked at here
//! before the platform sees it, so that a retransmitted one is absorbed (it is parsed twice
//! then, once here for its branch and once by the platform: responses are a small share of
//! the traffic, one per request we send).
//!
//! Must not: decide anything (the platform does), or retry a send other than by the
//! transaction timers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::clock::SharedClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::platform::{GbEvent, InviteAnswer, Outgoing, Peer, Pending, Platform};
use crate::sip::{self, Inbound};
use crate::transaction::{Due, Seen, Transactions, TxKey};

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
/// The picture probes waiting for the answer to their INVITE, by Call-ID.
type Waiting = Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<InviteAnswer>>>>;

/// The shared parts every task uses.
#[derive(Clone)]
struct Shared {
    platform: Arc<Mutex<Platform>>,
    clock: SharedClock,
    events: mpsc::UnboundedSender<GbEvent>,
    udp: Arc<UdpSocket>,
    writers: Writers,
    txs: Arc<Mutex<Transactions<Pending>>>,
    /// Wakes the retransmission task when a transaction starts (its deadline may be sooner).
    timers: Arc<Notify>,
    waiting: Waiting,
}

impl Shared {
    fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millisecond()
    }

    fn txs(&self) -> std::sync::MutexGuard<'_, Transactions<Pending>> {
        self.txs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One message in: a response our transactions have seen already is absorbed, anything
    /// else goes to the platform. Returns what to send.
    fn inbound(&self, bytes: &[u8], from: Peer) -> Vec<Outgoing> {
        if bytes.starts_with(b"SIP/2.0")
            && let Ok(Inbound::Response(r)) = sip::parse(bytes)
            && let Some(branch) = r.common.branch()
        {
            let key = TxKey {
                branch: branch.to_string(),
                method: r.common.cseq_method,
            };
            let now = self.now_ms();
            if self.txs().on_response(&key, r.status, now) == Seen::Absorbed {
                return Vec::new();
            }
        }
        let now_ms = self.now_ms();
        self.with(|p, _| p.on_message_at(bytes, from, now_ms))
    }

    /// Runs `f` on the platform, publishes its events and returns what to send.
    fn with<R>(&self, f: impl FnOnce(&mut Platform, i64) -> R) -> R {
        let now = self.now();
        let (r, events, answers) = {
            let mut p = self.platform.lock().unwrap_or_else(|e| e.into_inner());
            let r = f(&mut p, now);
            (r, p.take_events(), p.take_invite_answers())
        };
        if !answers.is_empty() {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            for (call_id, answer) in answers {
                if let Some(tx) = waiting.remove(&call_id) {
                    // The probe may have given up (its deadline): nobody to tell.
                    let _ = tx.send(answer);
                }
            }
        }
        for e in events {
            // No receiver (a test that does not listen) is not an error of the server.
            let _ = self.events.send(e);
        }
        r
    }

    async fn send(&self, out: Vec<Outgoing>) {
        for mut o in out {
            // Tracked before it is sent, so that the quickest answer finds its transaction.
            if let Some(t) = o.tx.take() {
                let now = self.now_ms();
                if !self.txs().start(t.key, &o, t.what, now) {
                    tracing::warn!(peer = %o.to.addr(), "too many requests in flight: sent once, untracked");
                }
                self.timers.notify_one();
            }
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
    Server::new(platform, udp, tcp, clock, events)?
        .run(shutdown)
        .await
}

/// The server on its sockets, before it runs: [`Server::handle`] gives the picture probe its
/// way in (INVITE, BYE), then [`Server::run`] serves.
pub struct Server {
    shared: Shared,
    tcp: TcpListener,
}

/// What the picture probe (`crate::media`) uses of a running server: the platform, the clock,
/// and sending requests through the transaction layer with their answers routed back.
#[derive(Clone)]
pub struct Handle {
    shared: Shared,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    pub fn clock(&self) -> &SharedClock {
        &self.shared.clock
    }

    /// The local address of the SIP UDP socket (the media socket binds beside it).
    pub fn local_udp(&self) -> std::io::Result<std::net::SocketAddr> {
        self.shared.udp.local_addr()
    }

    /// Sends an INVITE for live video of `channel` to `ip:port` (see
    /// [`Platform::invite`]); the answer arrives on the receiver.
    pub async fn invite(
        &self,
        channel: camwatch_core::registry::DeviceCode,
        mode: crate::sdp::MediaMode,
        ip: std::net::IpAddr,
        port: u16,
        ssrc: &str,
    ) -> Result<
        (
            crate::platform::Invite,
            tokio::sync::oneshot::Receiver<InviteAnswer>,
        ),
        crate::platform::InviteError,
    > {
        let invite = self
            .shared
            .with(|p, now| p.invite(channel, mode, ip, port, ssrc, now))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(invite.call_id.clone(), tx);
        self.shared.send(vec![invite.request.clone()]).await;
        Ok((invite, rx))
    }

    /// Ends the dialog `call_id` (a BYE, or the answer ended at once when it comes).
    pub async fn bye(&self, call_id: &str) {
        self.shared
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(call_id);
        let bye = self.shared.with(|p, _| p.bye(call_id));
        self.shared.send(bye.into_iter().collect()).await;
    }

    /// Runs `f` on the platform (a few lookups; nothing awaits under the lock).
    pub fn with_platform<R>(&self, f: impl FnOnce(&mut Platform, i64) -> R) -> R {
        self.shared.with(f)
    }
}

impl Server {
    pub fn new(
        platform: Arc<Mutex<Platform>>,
        udp: UdpSocket,
        tcp: TcpListener,
        clock: SharedClock,
        events: mpsc::UnboundedSender<GbEvent>,
    ) -> std::io::Result<Self> {
        Self::setup(platform, udp, tcp, clock, events)
    }

    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let shared = self.shared;
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(udp_loop(shared.clone()));
        tasks.spawn(tcp_accept(shared.clone(), self.tcp));
        tasks.spawn(tick_loop(shared.clone()));
        tasks.spawn(transaction_loop(shared.clone()));
        shutdown.await;
        tasks.shutdown().await;
        Ok(())
    }

    fn setup(
        platform: Arc<Mutex<Platform>>,
        udp: UdpSocket,
        tcp: TcpListener,
        clock: SharedClock,
        events: mpsc::UnboundedSender<GbEvent>,
    ) -> std::io::Result<Self> {
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
            txs: Arc::default(),
            timers: Arc::default(),
            waiting: Arc::default(),
        };
        Ok(Self { shared, tcp })
    }
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
        let out = s.inbound(&buf[..n], Peer::Udp(from));
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
        // SIP messages are small and each is awaited by the peer: Nagle's algorithm would hold
        // a request written right after a response until the peer's delayed ACK (40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, error = %e, "TCP_NODELAY refused");
        }
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
                    let out = s.inbound(&msg, peer);
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

/// Sends our requests again and times them out as their transactions' timers say; sleeps on
/// the injected clock until the next deadline, or until a new transaction may need an earlier
/// one (a `Notify` keeps a wake-up that comes while nobody waits, so none is lost).
async fn transaction_loop(s: Shared) {
    loop {
        let next = s.txs().next_deadline();
        let now = s.now_ms();
        match next {
            Some(at) if at <= now => {
                let due = s.txs().due(now);
                let mut resend = Vec::new();
                let mut unanswered = Vec::new();
                for d in due {
                    match d {
                        Due::Retransmit(o) => resend.push(o),
                        Due::TimedOut { payload, .. } => unanswered.push(payload),
                    }
                }
                if !unanswered.is_empty() {
                    s.with(|p, now| {
                        for what in unanswered {
                            p.no_answer(what, now);
                        }
                    });
                }
                s.send(resend).await;
            }
            Some(at) => {
                let wait = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                tokio::select! {
                    _ = s.clock.sleep(wait) => {}
                    _ = s.timers.notified() => {}
                }
            }
            None => s.timers.notified().await,
        }
    }
}
