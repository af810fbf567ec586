//! The picture probe of a channel reachable only over GB/T 28181: INVITE (through the peer
//! that registered it), RTP carrying MPEG-PS received over UDP on a socket of our own, or over
//! TCP (RFC 4571 framing, [`crate::tcp_rtp`]) on a connection the device opens to our listener
//! (passive) or we open to the port of its answer (active), as [`MediaConfig::mode_for`] the
//! peer says; demuxed to the first keyframe ([`crate::ps`]), then BYE. The keyframe goes back in a
//! [`ProbeOutcome`] as any RTSP keyframe does, for the monitor to decode and diagnose.
//!
//! Outcomes (probe kind `sip`):
//! - a keyframe: up, with the H.264/H.265 access unit as the frame;
//! - the INVITE refused (a final status ≥ 300): down, `sip_status`, the status named;
//! - the INVITE unanswered (no final answer within the answer timeout, or the transaction's
//!   32 s), or the channel not reachable (unknown, its parent offline, reported OFF): down,
//!   `no_answer` (liveness speaks for those: the monitor takes no picture sample from them);
//! - answered, but no keyframe within the media timeout: down, `no_media` (no RTP at all, or
//!   so many packets and no keyframe, as the detail says; over TCP also: the device never
//!   connected, our connection to it failed, or it closed the connection first);
//! - RTP or PS that cannot be read: down, `malformed_reply`, naming what was wrong.
//!
//! Bounds: at most `per_parent` probes at once through one peer (a lower platform, an NVR,
//! a camera: each has few encoder sessions to spare); the others wait for a slot. The stream
//! is bounded by the demuxer ([`crate::ps::MAX_FRAME`], [`crate::ps::MAX_BEFORE_KEYFRAME`])
//! and in time by the timeouts, measured on the injected clock. The dialog ends with a BYE
//! however the probe ends, cancellation by the scheduler's deadline included (the guard's
//! drop sends it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::outcome::{FailureKind, Frame, ProbeKind, ProbeOutcome};
use camwatch_core::quality::keyframe::Codec;
use camwatch_core::registry::DeviceCode;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::platform::InviteAnswer;
use crate::ps::{self, Demuxer};
use crate::sdp::{self, Media, MediaMode, MediaPlan};
use crate::server::Handle;
use crate::tcp_rtp::Deframer;

/// The largest RTP datagram read (a device's are at most its MTU, about 1,400 bytes).
const MAX_DATAGRAM: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The address offered in the SDP, where the media socket binds (port 0: any free one);
    /// `None`: the local address that routes to the peer.
    pub ip: Option<IpAddr>,
    /// How long the INVITE may wait for its final answer.
    pub answer_timeout: Duration,
    /// After the answer, how long for the first keyframe.
    pub media_timeout: Duration,
    /// Probes at once through one peer.
    pub per_parent: usize,
    /// How media is asked for: RTP over UDP, or over TCP (RFC 4571) with the device
    /// connecting to us (passive) or we to it (active)...
    pub mode: MediaMode,
    /// ...unless the peer the INVITE goes through is named here.
    pub mode_per_peer: HashMap<DeviceCode, MediaMode>,
}

impl MediaConfig {
    /// The media mode for INVITEs through `via`.
    pub fn mode_for(&self, via: &DeviceCode) -> MediaMode {
        self.mode_per_peer.get(via).copied().unwrap_or(self.mode)
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ip: None,
            answer_timeout: Duration::from_secs(4),
            media_timeout: Duration::from_secs(5),
            per_parent: 4,
            mode: MediaMode::Udp,
            mode_per_peer: HashMap::new(),
        }
    }
}

/// Picture probes over GB/T 28181 on a running platform.
#[derive(Debug)]
pub struct MediaProber {
    handle: Handle,
    cfg: MediaConfig,
    slots: Mutex<HashMap<DeviceCode, Arc<Semaphore>>>,
    sessions: std::sync::atomic::AtomicU32,
}

impl MediaProber {
    pub fn new(handle: Handle, cfg: MediaConfig) -> Self {
        Self {
            handle,
            cfg,
            slots: Mutex::new(HashMap::new()),
            sessions: Default::default(),
        }
    }

    fn slot(&self, via: DeviceCode) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the peers that registered: forget idle ones beyond a few thousand.
        if slots.len() > 4096 {
            slots.retain(|_, s| s.available_permits() < self.cfg.per_parent.max(1));
        }
        slots
            .entry(via)
            .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_parent.max(1))))
            .clone()
    }

    /// One picture probe of `channel`.
    pub async fn probe(&self, channel: DeviceCode) -> ProbeOutcome {
        let started = tokio::time::Instant::now();
        let mut o = match self.run(channel).await {
            Ok(o) | Err(o) => o,
        };
        o.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        o
    }

    async fn run(&self, channel: DeviceCode) -> Result<ProbeOutcome, ProbeOutcome> {
        let (via, peer) = self
            .handle
            .with_platform(|p, now| p.media_route(&channel, now))
            .map_err(|e| down(FailureKind::NoAnswer, format!("no INVITE: {channel} {e}")))?;
        let mode = self.cfg.mode_for(&via);
        let ip = match self.cfg.ip {
            Some(ip) => ip,
            None => route_to(peer.addr()).await.map_err(|e| {
                down(
                    FailureKind::Io,
                    format!("no local address routes to {}: {e}", peer.addr()),
                )
            })?,
        };
        let slot = self.slot(via);
        let _permit = slot
            .acquire_owned()
            .await
            .map_err(|_| down(FailureKind::Io, "probe slots closed".into()))?;
        let (link, port) = Link::open(mode, ip)
            .await
            .map_err(|e| down(FailureKind::Io, format!("media socket on {ip}: {e}")))?;
        let n = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let domain = self.handle.with_platform(|p, _| p.config().domain.clone());
        let ssrc = sdp::ssrc_for(&domain, n);
        let t = tokio::time::Instant::now();
        let (invite, answer) = self
            .handle
            .invite(channel, mode, ip, port, &ssrc)
            .await
            .map_err(|e| down(FailureKind::NoAnswer, format!("no INVITE: {channel} {e}")))?;
        let mut guard = ByeGuard {
            handle: Some(self.handle.clone()),
            call_id: invite.call_id.clone(),
        };
        let clock = self.handle.clock().clone();
        let answer = tokio::select! {
            a = answer => a.unwrap_or(InviteAnswer::NoAnswer),
            _ = clock.sleep(self.cfg.answer_timeout) => InviteAnswer::NoAnswer,
        };
        let result = match answer {
            InviteAnswer::Accepted { sdp } => {
                let mut o = ProbeOutcome::up(ProbeKind::Sip);
                o.step("INVITE", t.elapsed());
                o.fact("invite_via", via);
                o.fact("ssrc", &ssrc);
                o.fact("media_transport", mode.as_str());
                let planned = Media::parse(&sdp)
                    .map_err(|e| format!("INVITE answered with an unreadable SDP: {e}"))
                    .and_then(|m| {
                        if m.ssrc.as_deref().is_some_and(|s| s != ssrc) {
                            o.fact("device_ssrc", m.ssrc.as_deref().unwrap_or(""));
                        }
                        // A passive probe takes media only from the device's answer's
                        // address or from the peer the INVITE went through.
                        let known = vec![peer.addr().ip(), m.ip];
                        sdp::plan(mode, &m)
                            .map(|p| (p, known))
                            .map_err(|e| format!("INVITE answer: {e}"))
                    });
                match planned {
                    Ok((plan, known)) => self.receive(link, plan, &known, o).await,
                    Err(detail) => Err(down(FailureKind::MalformedReply, detail)),
                }
            }
            InviteAnswer::Refused { status } => Err(down(
                FailureKind::SipStatus,
                format!("INVITE refused by {via}: SIP {status}"),
            )),
            InviteAnswer::NoAnswer => Err(down(
                FailureKind::NoAnswer,
                format!(
                    "INVITE unanswered by {via} within {} s",
                    self.cfg.answer_timeout.as_secs()
                ),
            )),
        };
        guard.bye().await;
        result
    }

    /// RTP until the first keyframe, the media timeout, or an unreadable packet: datagrams on
    /// our socket, or RFC 4571 frames on the TCP connection the device opens to us (passive)
    /// or we open to it (active), the connection's wait within the same timeout. A passive
    /// connection from an address not in `known` (the device's answer, the peer the INVITE
    /// went through) is dropped, logged, and the wait goes on: a port scanner or a stray
    /// stream must neither feed the probe nor end it.
    async fn receive(
        &self,
        link: Link,
        plan: MediaPlan,
        known: &[IpAddr],
        mut o: ProbeOutcome,
    ) -> Result<ProbeOutcome, ProbeOutcome> {
        let t = tokio::time::Instant::now();
        let clock = self.handle.clock().clone();
        let secs = self.cfg.media_timeout.as_secs();
        let deadline = clock.sleep(self.cfg.media_timeout);
        tokio::pin!(deadline);
        let mut rx = Rx::new(secs);
        let au = match (link, plan) {
            (Link::Udp(sock), _) => {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    let (n, from) = tokio::select! {
                        r = sock.recv_from(&mut buf) => match r {
                            Ok(r) => r,
                            // ICMP errors from an earlier send surface here on some systems.
                            Err(_) => continue,
                        },
                        _ = &mut deadline => return Err(rx.no_media()),
                    };
                    if let Some(au) = rx.packet(&buf[..n], from).map_err(malformed)? {
                        break au;
                    }
                }
            }
            (Link::Listen(listener), plan) => {
                let (stream, from) = match plan {
                    MediaPlan::Connect(to) => tokio::select! {
                        r = TcpStream::connect(to) => r.map(|s| (s, to)).map_err(|e| down(
                            FailureKind::NoMedia,
                            format!("INVITE answered but the media connection to {to} failed: {e}"),
                        ))?,
                        _ = &mut deadline => return Err(down(
                            FailureKind::NoMedia,
                            format!("INVITE answered but the media connection to {to} did not open within {secs} s"),
                        )),
                    },
                    _ => {
                        let Some(listener) = listener else {
                            return Err(down(FailureKind::Io, "no media listener".into()));
                        };
                        let mut strangers = 0u32;
                        loop {
                            let (s, from) = tokio::select! {
                                r = listener.accept() => r.map_err(|e| down(
                                    FailureKind::Io,
                                    format!("accepting the media connection: {e}"),
                                ))?,
                                _ = &mut deadline => return Err(down(
                                    FailureKind::NoMedia,
                                    format!(
                                        "INVITE answered but the device never connected for media (TCP) within {secs} s{}",
                                        if strangers > 0 {
                                            format!(" ({strangers} connection(s) from unknown addresses dropped)")
                                        } else {
                                            String::new()
                                        }
                                    ),
                                )),
                            };
                            if known.contains(&from.ip()) {
                                break (s, from);
                            }
                            strangers += 1;
                            tracing::warn!(%from, ?known,
                                "GB/T 28181 media: a TCP connection from an address that is neither the device's nor its peer's dropped");
                        }
                    }
                };
                let _ = stream.set_nodelay(true);
                let mut stream = stream;
                let mut deframer = Deframer::new();
                let mut chunk = vec![0u8; 16 * 1024];
                'read: loop {
                    let n = tokio::select! {
                        r = stream.read(&mut chunk) => match r {
                            Ok(0) => return Err(rx.closed(from)),
                            Ok(n) => n,
                            Err(e) => return Err(down(
                                FailureKind::NoMedia,
                                format!("media connection from {from}: {e}"),
                            )),
                        },
                        _ = &mut deadline => return Err(rx.no_media()),
                    };
                    deframer.push(&chunk[..n]);
                    loop {
                        let packet = deframer.next_packet().map_err(|e| {
                            down(
                                FailureKind::MalformedReply,
                                format!("media from {from}: {e}"),
                            )
                        })?;
                        let Some(packet) = packet else { continue 'read };
                        if let Some(au) = rx.packet(packet, from).map_err(malformed)? {
                            break 'read au;
                        }
                    }
                }
            }
        };
        o.step("first_keyframe", t.elapsed());
        o.fact("codec", au.codec.as_str());
        o.fact("rtp_packets", rx.packets);
        if rx.lost > 0 {
            o.fact("rtp_packets_lost", rx.lost);
        }
        o.detail = format!(
            "first keyframe over GB/T 28181 after {} RTP packets",
            rx.packets
        );
        o.frame = Some(match au.codec {
            Codec::H264 => Frame::H264(au.annex_b.into()),
            Codec::H265 => Frame::H265(au.annex_b.into()),
        });
        Ok(o)
    }
}

fn down(failure: FailureKind, detail: String) -> ProbeOutcome {
    ProbeOutcome::down(ProbeKind::Sip, failure, detail)
}

fn malformed(detail: String) -> ProbeOutcome {
    down(FailureKind::MalformedReply, detail)
}

/// Where media arrives: our UDP socket, or over TCP (a listener of ours for passive mode;
/// none for active, where we connect).
enum Link {
    Udp(UdpSocket),
    Listen(Option<TcpListener>),
}

impl Link {
    /// The socket for `mode` on `ip` (any free port) and the port to offer.
    async fn open(mode: MediaMode, ip: IpAddr) -> std::io::Result<(Self, u16)> {
        Ok(match mode {
            MediaMode::Udp => {
                let s = UdpSocket::bind((ip, 0)).await?;
                let port = s.local_addr()?.port();
                (Self::Udp(s), port)
            }
            MediaMode::TcpPassive => {
                let l = TcpListener::bind((ip, 0)).await?;
                let port = l.local_addr()?.port();
                (Self::Listen(Some(l)), port)
            }
            MediaMode::TcpActive => (Self::Listen(None), 9),
        })
    }
}

/// RTP packets in, counted and checked for gaps, demuxed to the first keyframe.
struct Rx {
    demux: Demuxer,
    packets: u64,
    lost: u64,
    last_seq: Option<u16>,
    secs: u64,
}

impl Rx {
    fn new(secs: u64) -> Self {
        Self {
            demux: Demuxer::new(),
            packets: 0,
            lost: 0,
            last_seq: None,
            secs,
        }
    }

    /// One RTP packet; the keyframe once complete, or what is malformed.
    fn packet(&mut self, bytes: &[u8], from: SocketAddr) -> Result<Option<ps::AccessUnit>, String> {
        let p = ps::rtp(bytes).map_err(|e| format!("RTP from {from}: {e}"))?;
        self.packets += 1;
        if let Some(prev) = self.last_seq
            && p.seq != prev.wrapping_add(1)
        {
            self.lost += u64::from(p.seq.wrapping_sub(prev).wrapping_sub(1));
            self.demux.lost();
        }
        self.last_seq = Some(p.seq);
        self.demux
            .push(p.payload, p.marker)
            .map_err(|e| format!("media from {from}: {e}"))
    }

    fn no_media(&self) -> ProbeOutcome {
        let secs = self.secs;
        down(
            FailureKind::NoMedia,
            if self.packets == 0 {
                format!("INVITE answered but no media within {secs} s")
            } else {
                format!(
                    "{} RTP packets ({} bytes of PS) but no keyframe within {secs} s",
                    self.packets,
                    self.demux.bytes()
                )
            },
        )
    }

    fn closed(&self, from: SocketAddr) -> ProbeOutcome {
        down(
            FailureKind::NoMedia,
            format!(
                "the device closed the media connection from {from} after {} RTP packets, no keyframe",
                self.packets
            ),
        )
    }
}

/// The local address the system routes to `peer` from (no packet is sent).
async fn route_to(peer: std::net::SocketAddr) -> std::io::Result<IpAddr> {
    let any: IpAddr = if peer.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let s = UdpSocket::bind((any, 0)).await?;
    s.connect(peer).await?;
    Ok(s.local_addr()?.ip())
}

/// Ends the dialog however the probe ends: awaited on the normal path, spawned from `drop`
/// when the probe is cancelled (the scheduler's deadline).
struct ByeGuard {
    handle: Option<Handle>,
    call_id: String,
}

impl ByeGuard {
    async fn bye(&mut self) {
        if let Some(h) = self.handle.take() {
            h.bye(&self.call_id).await;
        }
    }
}

impl Drop for ByeGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let call_id = std::mem::take(&mut self.call_id);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { h.bye(&call_id).await });
            }
        }
    }
}
