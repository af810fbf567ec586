//! The simulator's RTSP 1.0 server: OPTIONS, DESCRIBE (SDP for H.264 or H.265), SETUP (RTP over the RTSP
//! connection, interleaved, or over UDP to the client's ports), PLAY (keyframes at 5 fps, FU-A fragmented), GET_PARAMETER,
//! TEARDOWN; Basic and Digest auth; and the wire-level faults of the schedule.
//!
//! Hand-written: no maintained Rust crate serves RTSP (retina is a client; the GStreamer server
//! is C and would take the fault injection out of our hands). The parser is deliberately small:
//! request line, headers, optional body, with a size cap. Every connection is bounded in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;

use super::auth;
use super::faults::{FaultKind, Malformation};
use super::world::{Codec, Encoded, World};

/// No connection lives longer than this (real time): bounds every load loop.
const MAX_CONNECTION: Duration = Duration::from_secs(300);
const MAX_HEAD: usize = 16 * 1024;
const FPS: u64 = 5;

/// A parsed request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Takes one complete request off the front of `buf`; `Err` for a malformed or oversized one.
pub fn parse_request(buf: &mut Vec<u8>) -> Result<Option<Request>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err("request head too large".into());
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(url), Some(ver)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("bad request line {first:?}"));
    };
    if !ver.starts_with("RTSP/1.") && !ver.starts_with("HTTP/1.") {
        return Err(format!("bad protocol {ver:?}"));
    }
    let mut r = Request {
        method: method.to_string(),
        url: url.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            r.headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let body = r
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if body > 64 * 1024 {
        return Err("request body too large".into());
    }
    if buf.len() < end + 4 + body {
        return Ok(None);
    }
    r.body = buf[end + 4..end + 4 + body].to_vec();
    buf.drain(..end + 4 + body);
    Ok(Some(r))
}

/// The channel (device index) a URL path names on host `h`.
fn channel_of(w: &World, h: usize, url: &str) -> Option<usize> {
    let path = url
        .strip_prefix("rtsp://")
        .map(|r| &r[r.find('/').unwrap_or(r.len())..])
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or("");
    let rest = path.strip_prefix("/Streaming/Channels/")?;
    let num: u32 = rest.split('/').next()?.parse().ok()?;
    let ch = (num / 100) as usize;
    let host = &w.hosts[h];
    if host.nvr.is_some() {
        host.channels.get(ch.checked_sub(1)?).copied()
    } else if ch == 1 {
        host.channels.first().copied()
    } else {
        None
    }
}

fn reply(cseq: &str, status: &str, extra: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut s = format!("RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: camwatch-sim\r\n");
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

/// Datagrams sent back to back before the UDP sender pauses for a millisecond.
const UDP_BURST: u32 = 32;

fn sdp(w: &World, ch: usize, host_ip: &str) -> String {
    let pic = w.picture(ch, w.now_rel());
    let b64 = base64::engine::general_purpose::STANDARD;
    let (rtpmap, fmtp) = match pic.codec {
        Codec::H264 => {
            let (sps, pps) = (&pic.nals[0], &pic.nals[1]);
            let profile = hex::encode(&sps[1..4.min(sps.len())]);
            (
                "H264",
                format!(
                    "packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={},{}",
                    b64.encode(sps),
                    b64.encode(pps)
                ),
            )
        }
        Codec::H265 => (
            "H265",
            format!(
                "profile-id=1;sprop-vps={};sprop-sps={};sprop-pps={}",
                b64.encode(&pic.nals[0]),
                b64.encode(&pic.nals[1]),
                b64.encode(&pic.nals[2])
            ),
        ),
    };
    format!(
        "v=0\r\no=- 0 0 IN IP4 {host_ip}\r\ns=camwatch-sim\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n\
         m=video 0 RTP/AVP 96\r\na=rtpmap:96 {rtpmap}/90000\r\na=fmtp:96 {fmtp}\r\n\
         a=framerate:{FPS}\r\na=control:trackID=1\r\n"
    )
}

/// RTP packets (interleaved on channel 0) of one access unit: single NAL unit packets, and
/// fragmentation units for NALs over 1400 bytes (FU-A, RFC 6184; FU, RFC 7798).
fn packetize(pic: &Encoded, seq: &mut u16, ts: u32, ssrc: u32) -> Vec<u8> {
    const MAX: usize = 1400;
    let nals = &pic.nals;
    let mut out = Vec::with_capacity(nals.iter().map(|n| n.len() + 64).sum());
    let mut push = |payload: &[&[u8]], marker: bool, seq: &mut u16| {
        let len: usize = 12 + payload.iter().map(|p| p.len()).sum::<usize>();
        out.push(b'$');
        out.push(0);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(0x80);
        out.push(96 | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&ssrc.to_be_bytes());
        for p in payload {
            out.extend_from_slice(p);
        }
        *seq = seq.wrapping_add(1);
    };
    for (i, nal) in nals.iter().enumerate() {
        let last_nal = i + 1 == nals.len();
        if nal.len() <= MAX {
            push(&[nal], last_nal, seq);
            continue;
        }
        // The FU's own header(s), with the NAL type moved into the FU header.
        let (header, kind, body): (Vec<u8>, u8, &[u8]) = match pic.codec {
            Codec::H264 => (vec![(nal[0] & 0xE0) | 28], nal[0] & 0x1F, &nal[1..]),
            Codec::H265 => (
                vec![(nal[0] & 0x81) | (49 << 1), nal[1]],
                (nal[0] >> 1) & 0x3F,
                &nal[2..],
            ),
        };
        let chunks: Vec<&[u8]> = body.chunks(MAX).collect();
        for (k, c) in chunks.iter().enumerate() {
            let start = if k == 0 { 0x80 } else { 0 };
            let end = if k + 1 == chunks.len() { 0x40 } else { 0 };
            push(
                &[&header, &[start | end | kind], c],
                last_nal && end != 0,
                seq,
            );
        }
    }
    out
}

async fn write_malformed(s: &mut TcpStream, m: Malformation, cseq: &str) {
    match m {
        Malformation::Garbage => {
            let junk: Vec<u8> = (0..512u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            let _ = s.write_all(&junk).await;
        }
        Malformation::Truncated => {
            let _ = s
                .write_all(format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Le").as_bytes())
                .await;
        }
        Malformation::WrongCseq => {
            let n: u64 = cseq.parse().unwrap_or(0) + 1000;
            let _ = s
                .write_all(&reply(
                    &n.to_string(),
                    "200 OK",
                    &[("Public", "OPTIONS, DESCRIBE".into())],
                    "",
                ))
                .await;
            // Then silence: the client waits for its own CSeq.
            tokio::time::sleep(MAX_CONNECTION).await;
        }
        Malformation::HugeHeader => {
            let mut v = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nX-Padding: ").into_bytes();
            v.extend(std::iter::repeat_n(b'a', 1 << 20));
            v.extend_from_slice(b"\r\n\r\n");
            let _ = s.write_all(&v).await;
        }
        Malformation::EndlessBody => {
            let head = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 100000000\r\n\r\n"
            );
            if s.write_all(head.as_bytes()).await.is_ok() {
                // Drip until the client gives up (bounded by the connection limit).
                let _ = tokio::time::timeout(MAX_CONNECTION, async {
                    loop {
                        if s.write_all(&[b'v'; 64]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
                .await;
            }
        }
    }
}

/// The client's RTP port from `client_port=a-b`.
fn client_port(transport: &str) -> Option<u16> {
    transport
        .split(';')
        .find_map(|p| p.trim().strip_prefix("client_port="))
        .and_then(|r| r.split('-').next())
        .and_then(|p| p.parse().ok())
}

/// An even RTP port and the next one for RTCP, on the host's own address (so datagrams come
/// from the address the client's RTSP connection went to).
async fn udp_pair(ip: std::net::IpAddr) -> Option<(UdpSocket, UdpSocket)> {
    for _ in 0..32 {
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).await.ok()?;
        let p = rtp.local_addr().ok()?.port();
        if p % 2 != 0 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, p + 1)).await {
            return Some((rtp, rtcp));
        }
    }
    None
}

pub async fn serve(w: Arc<World>, h: usize, stream: TcpStream, shutdown: watch::Receiver<bool>) {
    let _ = tokio::time::timeout(MAX_CONNECTION, session(w, h, stream, shutdown)).await;
}

async fn session(w: Arc<World>, h: usize, mut s: TcpStream, mut shutdown: watch::Receiver<bool>) {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    let nonce = hex::encode(b);
    let ssrc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let host = w.hosts[h].clone();
    let ip = host.rtsp_addr.ip().to_string();
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut playing: Option<usize> = None;
    let mut setup_ch: Option<usize> = None;
    let (mut seq, mut ts) = (1u16, 0u32);
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / FPS));
    let mut black_hole = false;
    let peer_ip = s.peer_addr().map(|a| a.ip()).ok();
    // RTP over UDP: (RTP socket, RTCP socket, where the client receives RTP).
    let mut udp: Option<(UdpSocket, UdpSocket, SocketAddr)> = None;
    loop {
        tokio::select! {
            r = s.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if black_hole {
                    buf.clear();
                    continue;
                }
                loop {
                    let req = match parse_request(&mut buf) {
                        Ok(Some(r)) => r,
                        Ok(None) => break,
                        Err(e) => {
                            let _ = s.write_all(&reply("0", "400 Bad Request", &[], &format!("{e}\n"))).await;
                            return;
                        }
                    };
                    let cseq = req.header("CSeq").unwrap_or("0").to_string();
                    let t = w.now_rel();
                    let ch = channel_of(&w, h, &req.url);
                    let fault = match ch {
                        Some(c) => w.device_fault(c, t),
                        None => w.host_fault(h, t),
                    };
                    match fault {
                        Some(FaultKind::BlackHole) => {
                            black_hole = true;
                            buf.clear();
                            break;
                        }
                        Some(FaultKind::Slow { ms }) => {
                            tokio::time::sleep(Duration::from_millis(ms as u64)).await;
                        }
                        Some(FaultKind::Malformed(m)) => {
                            write_malformed(&mut s, m, &cseq).await;
                            return;
                        }
                        _ => {}
                    }
                    let mut udp_ports = None;
                    if req.method == "SETUP" {
                        let tr = req.header("Transport").unwrap_or("");
                        if let (false, Some(cp), Some(peer)) = (tr.contains("RTP/AVP/TCP"), client_port(tr), peer_ip)
                            && let Some((rtp, rtcp)) = udp_pair(host.rtsp_addr.ip()).await
                        {
                            let sp = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
                            udp_ports = Some((sp, cp));
                            udp = Some((rtp, rtcp, SocketAddr::new(peer, cp)));
                        }
                    }
                    let out = handle(&w, &host, &req, &cseq, ch, fault, &nonce, &ip, udp_ports, &mut setup_ch, &mut playing);
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                    if req.method == "TEARDOWN" {
                        return;
                    }
                }
            }
            _ = ticker.tick(), if playing.is_some() => {
                let ch = playing.expect("guarded");
                // A session's first frame is a fresh sample, like a snapshot: two keyframes
                // sampled apart in time never show the same sensor noise (that is `frozen`).
                let pic = if ts == 0 {
                    w.snapshot(ch, w.now_rel())
                } else {
                    w.picture(ch, w.now_rel())
                };
                let pkts = packetize(&pic, &mut seq, ts, ssrc);
                ts = ts.wrapping_add((90_000 / FPS) as u32);
                match &udp {
                    Some((rtp, _, to)) => {
                        // The same packets without the 4-byte interleave prefix, one datagram each,
                        // paced as a camera's network stack does: a keyframe sent in one burst
                        // overflows a client's default socket buffer (~200 KB) before it reads.
                        let mut rest = &pkts[..];
                        let mut sent = 0u32;
                        while rest.len() >= 4 {
                            let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
                            let Some(p) = rest.get(4..4 + len) else { break };
                            let _ = rtp.send_to(p, *to).await;
                            rest = &rest[4 + len..];
                            sent += 1;
                            if sent.is_multiple_of(UDP_BURST) {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                    }
                    None => {
                        if s.write_all(&pkts).await.is_err() {
                            return;
                        }
                    }
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    w: &World,
    host: &super::world::Host,
    req: &Request,
    cseq: &str,
    ch: Option<usize>,
    fault: Option<FaultKind>,
    nonce: &str,
    ip: &str,
    udp: Option<(u16, u16)>,
    setup_ch: &mut Option<usize>,
    playing: &mut Option<usize>,
) -> Vec<u8> {
    let m = req.method.as_str();
    if m == "OPTIONS" {
        return reply(
            cseq,
            "200 OK",
            &[(
                "Public",
                "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN".into(),
            )],
            "",
        );
    }
    if !matches!(
        m,
        "DESCRIBE" | "SETUP" | "PLAY" | "GET_PARAMETER" | "TEARDOWN" | "PAUSE"
    ) {
        return reply(cseq, "501 Not Implemented", &[], "");
    }
    // A changed password: the stored one no longer works.
    let password = if fault == Some(FaultKind::AuthFailure) {
        format!("{}-changed", host.password)
    } else {
        host.password.clone()
    };
    if !auth::check(
        req.header("Authorization"),
        m,
        &host.username,
        &password,
        nonce,
    ) {
        return reply(
            cseq,
            "401 Unauthorized",
            &[("WWW-Authenticate", auth::challenge(nonce))],
            "",
        );
    }
    match m {
        "DESCRIBE" => {
            let Some(c) = ch else {
                return reply(cseq, "404 Not Found", &[], "");
            };
            w.log_describe(c, req.header("User-Agent"));
            match fault {
                Some(FaultKind::RtspStatus(404)) => return reply(cseq, "404 Not Found", &[], ""),
                Some(FaultKind::RtspStatus(454)) => {
                    return reply(cseq, "454 Session Not Found", &[], "");
                }
                Some(FaultKind::RtspStatus(s)) => {
                    return reply(cseq, &format!("{s} Service Unavailable"), &[], "");
                }
                // An NVR channel whose camera is off: the NVR answers, the channel cannot stream.
                Some(FaultKind::Offline | FaultKind::Flapping { .. }) => {
                    return reply(cseq, "503 Service Unavailable", &[], "");
                }
                _ => {}
            }
            let base = format!("{}/", req.url.trim_end_matches('/'));
            let body = sdp(w, c, ip);
            reply(
                cseq,
                "200 OK",
                &[
                    ("Content-Type", "application/sdp".into()),
                    ("Content-Base", base),
                ],
                &body,
            )
        }
        "SETUP" => {
            let transport = req.header("Transport").unwrap_or("");
            let answer = if transport.contains("RTP/AVP/TCP") {
                "RTP/AVP/TCP;unicast;interleaved=0-1".to_string()
            } else if let Some((sp, cp)) = udp {
                format!(
                    "RTP/AVP;unicast;client_port={cp}-{};server_port={sp}-{}",
                    cp + 1,
                    sp + 1
                )
            } else {
                return reply(cseq, "461 Unsupported Transport", &[], "");
            };
            *setup_ch = ch.or(*setup_ch).or_else(|| host.channels.first().copied());
            reply(
                cseq,
                "200 OK",
                &[
                    ("Transport", answer),
                    ("Session", "12345678;timeout=60".into()),
                ],
                "",
            )
        }
        "PLAY" => {
            let Some(c) = *setup_ch else {
                return reply(cseq, "455 Method Not Valid in This State", &[], "");
            };
            if fault != Some(FaultKind::NoMedia) {
                *playing = Some(c);
            }
            reply(
                cseq,
                "200 OK",
                &[
                    ("Session", "12345678".into()),
                    ("Range", "npt=0.000-".into()),
                ],
                "",
            )
        }
        "TEARDOWN" => {
            *playing = None;
            reply(cseq, "200 OK", &[("Session", "12345678".into())], "")
        }
        _ => reply(cseq, "200 OK", &[("Session", "12345678".into())], ""),
    }
}
