//! The picture probe of a channel reachable only over GB/T 28181: INVITE (through the peer
//! that registered it), RTP over UDP carrying MPEG-PS received on a socket of our own, demuxed
//! to the first keyframe ([`crate::ps`]), then BYE. The keyframe goes back in a
//! [`ProbeOutcome`] as any RTSP keyframe does, for the monitor to decode and diagnose.
//!
//! Outcomes (probe kind `sip`):
//! - a keyframe: up, with the H.264/H.265 access unit as the frame;
//! - the INVITE refused (a final status ≥ 300): down, `sip_status`, the status named;
//! - the INVITE unanswered (no final answer within the answer timeout, or the transaction's
//!   32 s), or the channel not reachable (unknown, its parent offline, reported OFF): down,
//!   `no_answer` (liveness speaks for those: the monitor takes no picture sample from them);
//! - answered, but no keyframe within the media timeout: down, `no_media` (no RTP at all, or
//!   so many packets and no keyframe, as the detail says);
//! - RTP or PS that cannot be read: down, `malformed_reply`, naming what was wrong.
//!
//! Bounds: at most `per_parent` probes at once through one peer (a lower platform, an NVR,
//! a camera: each has few encoder sessions to spare); the others wait for a slot. The stream
//! is bounded by the demuxer ([`crate::ps::MAX_FRAME`], [`crate::ps::MAX_BEFORE_KEYFRAME`])
//! and in time by the timeouts, measured on the injected clock. The dialog ends with a BYE
//! however the probe ends, cancellation by the scheduler's deadline included (the guard's
//! drop sends it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_core::outcome::{FailureKind, Frame, ProbeKind, ProbeOutcome};
use camwatch_core::quality::keyframe::Codec;
use camwatch_core::registry::DeviceCode;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::platform::InviteAnswer;
use crate::ps::{self, Demuxer};
use crate::sdp::{self, Media};
use crate::server::Handle;

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
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ip: None,
            answer_timeout: Duration::from_secs(4),
            media_timeout: Duration::from_secs(5),
            per_parent: 4,
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
        let down = |failure, detail: String| ProbeOutcome::down(ProbeKind::Sip, failure, detail);
        let (via, peer) = self
            .handle
            .with_platform(|p, now| p.media_route(&channel, now))
            .map_err(|e| down(FailureKind::NoAnswer, format!("no INVITE: {channel} {e}")))?;
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
        let sock = UdpSocket::bind((ip, 0))
            .await
            .map_err(|e| down(FailureKind::Io, format!("media socket on {ip}: {e}")))?;
        let port = sock
            .local_addr()
            .map_err(|e| down(FailureKind::Io, format!("media socket: {e}")))?
            .port();
        let n = self
            .sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let domain = self.handle.with_platform(|p, _| p.config().domain.clone());
        let ssrc = sdp::ssrc_for(&domain, n);
        let t = tokio::time::Instant::now();
        let (invite, answer) = self
            .handle
            .invite(channel, ip, port, &ssrc)
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
                match Media::parse(&sdp) {
                    Ok(m) => {
                        if m.ssrc.as_deref().is_some_and(|s| s != ssrc) {
                            o.fact("device_ssrc", m.ssrc.as_deref().unwrap_or(""));
                        }
                        self.receive(&sock, o).await
                    }
                    Err(e) => Err(down(
                        FailureKind::MalformedReply,
                        format!("INVITE answered with an unreadable SDP: {e}"),
                    )),
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

    /// RTP until the first keyframe, the media timeout, or an unreadable packet.
    async fn receive(
        &self,
        sock: &UdpSocket,
        mut o: ProbeOutcome,
    ) -> Result<ProbeOutcome, ProbeOutcome> {
        let down = |failure, detail: String| ProbeOutcome::down(ProbeKind::Sip, failure, detail);
        let t = tokio::time::Instant::now();
        let mut demux = Demuxer::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let (mut packets, mut lost) = (0u64, 0u64);
        let mut last_seq: Option<u16> = None;
        let clock = self.handle.clock().clone();
        let deadline = clock.sleep(self.cfg.media_timeout);
        tokio::pin!(deadline);
        let au = loop {
            let (n, from) = tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    // ICMP errors from an earlier send surface here on some systems.
                    Err(_) => continue,
                },
                _ = &mut deadline => {
                    let secs = self.cfg.media_timeout.as_secs();
                    return Err(down(FailureKind::NoMedia, if packets == 0 {
                        format!("INVITE answered but no media within {secs} s")
                    } else {
                        format!("{packets} RTP packets ({} bytes of PS) but no keyframe within {secs} s", demux.bytes())
                    }));
                }
            };
            let p = ps::rtp(&buf[..n])
                .map_err(|e| down(FailureKind::MalformedReply, format!("RTP from {from}: {e}")))?;
            packets += 1;
            if let Some(prev) = last_seq
                && p.seq != prev.wrapping_add(1)
            {
                lost += u64::from(p.seq.wrapping_sub(prev).wrapping_sub(1));
                demux.lost();
            }
            last_seq = Some(p.seq);
            match demux.push(p.payload, p.marker) {
                Ok(Some(au)) => break au,
                Ok(None) => {}
                Err(e) => {
                    return Err(down(
                        FailureKind::MalformedReply,
                        format!("media from {from}: {e}"),
                    ));
                }
            }
        };
        o.step("first_keyframe", t.elapsed());
        o.fact("codec", au.codec.as_str());
        o.fact("rtp_packets", packets);
        if lost > 0 {
            o.fact("rtp_packets_lost", lost);
        }
        o.detail = format!(
            "first keyframe over GB/T 28181 after {} RTP packets",
            packets
        );
        o.frame = Some(match au.codec {
            Codec::H264 => Frame::H264(au.annex_b.into()),
            Codec::H265 => Frame::H265(au.annex_b.into()),
        });
        Ok(o)
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
