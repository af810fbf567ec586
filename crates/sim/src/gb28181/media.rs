//! A simulated channel's live video, as a GB/T 28181 device sends it after an INVITE: the
//! channel's picture (its scene, and its picture fault, exactly as the RTSP simulator renders
//! them) as keyframes, H.264 or, for one channel in four, H.265 ([`codec`]), each muxed into
//! an MPEG program stream (stream type 0x1B or 0x24, `camwatch_gb28181::ps::mux_frame`) and
//! sent in RTP packets, one frame a second, until the platform's BYE or [`MAX_FRAMES`]: over
//! UDP to the address the platform offered, or over TCP (RFC 4571 framing) on a connection we
//! open to the platform's offered port (its offer `passive`) or accept on our own listener
//! (its offer `active`).
//!
//! Faults: a picture fault shows in the frames; `Garbage` sends RTP whose payload is not a
//! program stream; `NeverSends` sends nothing (over TCP active its listener still accepts);
//! `Refuses` is the device's (no session starts here).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::Clock;
use camwatch_core::quality::keyframe::Codec;
use camwatch_gb28181::{ps, tcp_rtp};
use camwatch_synth::picture::PictureFault;

use super::device::MediaFault;

/// Frames a session sends at most (a probe needs the first keyframe; a platform that never
/// says BYE does not keep a simulated channel streaming for ever).
pub const MAX_FRAMES: u32 = 60;
/// RTP payload bytes per packet (an Ethernet MTU less the headers).
pub const MTU: usize = 1400;

/// The codec catalog channel `index` streams: one channel in four H.265 (the register
/// generator's share for RTSP channels, `index % 4 == 3`), the others H.264.
pub fn codec(index: usize) -> Codec {
    if index % 4 == 3 {
        Codec::H265
    } else {
        Codec::H264
    }
}

/// One keyframe (Annex B) of catalog channel `index` with `fault`, in its [`codec`]: H.264
/// SPS, PPS, IDR, or H.265 VPS, SPS, PPS and the IDR's slices; `variant` varies the sensor
/// noise from frame to frame.
pub fn keyframe(index: usize, fault: Option<PictureFault>, variant: u64) -> Vec<u8> {
    // A frozen picture is one stuck frame: the same noise whatever the variant.
    let variant = if fault == Some(PictureFault::Frozen) {
        0
    } else {
        variant
    };
    let img = crate::world::channel_picture(index, fault, variant);
    let nals = crate::world::keyframe_nals(&img, codec(index).into());
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&nal);
    }
    out
}

/// Where a session's packets go.
#[derive(Debug)]
pub enum Out {
    Udp(SocketAddr),
    /// Connect to the platform's port.
    Connect(SocketAddr),
    /// Accept the platform's connection on our listener.
    Accept(tokio::net::TcpListener),
}

/// An open media path.
enum Sink {
    Udp(tokio::net::UdpSocket, SocketAddr),
    Tcp(tokio::net::TcpStream),
}

impl Sink {
    async fn open(bind: IpAddr, out: Out) -> std::io::Result<Self> {
        Ok(match out {
            Out::Udp(to) => Self::Udp(tokio::net::UdpSocket::bind((bind, 0)).await?, to),
            Out::Connect(to) => {
                let s = if bind.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                s.bind(SocketAddr::new(bind, 0))?;
                let s = s.connect(to).await?;
                s.set_nodelay(true)?;
                Self::Tcp(s)
            }
            Out::Accept(l) => Self::Tcp(l.accept().await?.0),
        })
    }

    async fn send(&mut self, packet: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            Self::Udp(s, to) => s.send_to(packet, *to).await.map(drop),
            Self::Tcp(s) => {
                let framed = tcp_rtp::frame(packet).ok_or(std::io::ErrorKind::InvalidInput)?;
                s.write_all(&framed).await
            }
        }
    }
}

/// Streams a session until `MAX_FRAMES` (the caller aborts the task at the BYE). `session`
/// counts the channel's sessions: a live sensor's noise differs from one to the next (else two
/// samples in a row would be the same picture: frozen).
pub async fn stream(
    bind: IpAddr,
    out: Out,
    ssrc: u32,
    index: usize,
    fault: Option<MediaFault>,
    session: u64,
    clock: Arc<dyn Clock>,
) {
    let mut sink = match Sink::open(bind, out).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%bind, error = %e, "sim GB media: no connection");
            return;
        }
    };
    if fault == Some(MediaFault::NeverSends) {
        // Connected and silent until the BYE aborts us (bounded like a stream).
        clock
            .sleep(Duration::from_secs(u64::from(MAX_FRAMES)))
            .await;
        return;
    }
    let picture = match fault {
        Some(MediaFault::Picture(p)) => Some(p),
        _ => None,
    };
    // Two noise variants, encoded once: the frames alternate between them.
    let frames: Vec<Vec<u8>> = (0..2u64)
        .map(|k| {
            let kf = keyframe(index, picture, (session + k) % 4 + 3);
            if fault == Some(MediaFault::Garbage) {
                // The same size, none of the structure: no start codes at all.
                kf.iter().map(|b| b | 0x80).collect()
            } else {
                kf
            }
        })
        .collect();
    let mut seq: u16 = (ssrc as u16).wrapping_mul(7);
    for n in 0..MAX_FRAMES {
        let pts = u64::from(n) * 90_000;
        let frame = &frames[n as usize % frames.len()];
        let payload = if fault == Some(MediaFault::Garbage) {
            frame.clone()
        } else {
            ps::mux_frame(codec(index), frame, pts, true)
        };
        for p in ps::packetize(&payload, &mut seq, pts as u32, ssrc, MTU) {
            if sink.send(&p).await.is_err() {
                return;
            }
        }
        clock.sleep(Duration::from_secs(1)).await;
    }
}
