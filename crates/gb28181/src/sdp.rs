//! SDP (RFC 4566) as GB/T 28181 uses it in an INVITE for live video: the platform offers where
//! it receives (`c=`, `m=video PORT RTP/AVP 96`, `a=recvonly`, `a=rtpmap:96 PS/90000`), names
//! the session `s=Play` and adds the SSRC it expects in GB/T 28181's own `y=` line; the device
//! answers with where it sends from and the SSRC it uses. Pure.
//!
//! Only the fields a picture probe needs are read: the connection address, the video port and
//! transport, the payload types and `y=`. Must not: do I/O.

use std::fmt::Write as _;
use std::net::IpAddr;

/// The most lines read from a session description (a device's answer has about a dozen).
pub const MAX_LINES: usize = 64;

/// How media travels, as offered (`m=video … RTP/AVP` over UDP, `TCP/RTP/AVP` over TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    Udp,
    Tcp,
}

/// A session description's video stream, as read from it or as offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `s=`: `Play` for live video.
    pub session: String,
    pub ip: IpAddr,
    pub port: u16,
    pub transport: MediaTransport,
    /// The payload types of the `m=` line.
    pub payload_types: Vec<u8>,
    /// GB/T 28181's `y=` line: ten digits, the RTP SSRC in decimal.
    pub ssrc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not UTF-8 text")]
    NotText,
    #[error("SDP has more than {MAX_LINES} lines")]
    TooLong,
    #[error("SDP lacks a{0} line")]
    Missing(&'static str),
    #[error("SDP line {line:?}: {detail}")]
    Bad { line: String, detail: &'static str },
}

impl Media {
    /// The offer of a platform `id` receiving at `ip:port` and expecting `ssrc`.
    pub fn offer(id: &str, ip: IpAddr, port: u16, ssrc: &str) -> Vec<u8> {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let mut s = String::new();
        let _ = write!(
            s,
            "v=0\r\no={id} 0 0 IN {family} {ip}\r\ns=Play\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=video {port} RTP/AVP 96 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n\
             a=rtpmap:98 H264/90000\r\ny={ssrc}\r\n"
        );
        s.into_bytes()
    }

    /// The answer of a device `id` sending from `ip:port` with `ssrc` (the simulator's).
    pub fn answer(id: &str, ip: IpAddr, port: u16, ssrc: &str) -> Vec<u8> {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "v=0\r\no={id} 0 0 IN {family} {ip}\r\ns=Play\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=video {port} RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny={ssrc}\r\n"
        )
        .into_bytes()
    }

    /// Reads the video stream of a session description.
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
        let mut session = None;
        let mut ip = None;
        let mut video = None;
        let mut ssrc = None;
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_LINES {
                return Err(SdpError::TooLong);
            }
            let line = line.trim_end();
            let bad = |detail| SdpError::Bad {
                line: line.chars().take(100).collect(),
                detail,
            };
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "s" => session = Some(value.to_string()),
                // The session's connection, or the video stream's (which comes later and wins).
                "c" => {
                    let addr = value
                        .split_whitespace()
                        .nth(2)
                        .ok_or_else(|| bad("no address"))?;
                    ip = Some(
                        addr.parse::<IpAddr>()
                            .map_err(|_| bad("not an IP address"))?,
                    );
                }
                "m" if value.starts_with("video ") => {
                    let mut f = value.split_whitespace().skip(1);
                    let port = f
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(|| bad("no port"))?;
                    let transport = match f.next() {
                        Some("RTP/AVP") => MediaTransport::Udp,
                        Some("TCP/RTP/AVP") => MediaTransport::Tcp,
                        _ => return Err(bad("transport is neither RTP/AVP nor TCP/RTP/AVP")),
                    };
                    let pts = f.filter_map(|p| p.parse::<u8>().ok()).collect();
                    video = Some((port, transport, pts));
                }
                "y" => {
                    if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("y= is not ten digits"));
                    }
                    ssrc = Some(value.to_string());
                }
                _ => {}
            }
        }
        let (port, transport, payload_types) = video.ok_or(SdpError::Missing(" m=video"))?;
        Ok(Self {
            session: session.ok_or(SdpError::Missing("n s="))?,
            ip: ip.ok_or(SdpError::Missing(" c="))?,
            port,
            transport,
            payload_types,
            ssrc,
        })
    }

    /// The `y=` SSRC as the RTP header carries it.
    pub fn ssrc_value(&self) -> Option<u32> {
        self.ssrc.as_deref()?.parse().ok()
    }
}

/// The SSRC a platform of `domain` offers for its `n`th live session: `0` (live), the
/// domain's digits 4–8, and four digits of `n` (GB/T 28181 §9.2 / annex F).
pub fn ssrc_for(domain: &str, n: u32) -> String {
    let mid: String = domain
        .bytes()
        .skip(3)
        .take(5)
        .map(char::from)
        .chain(std::iter::repeat('0'))
        .take(5)
        .collect();
    format!("0{mid}{:04}", n % 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_offer_reads_back() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ssrc = ssrc_for("3402000000", 7);
        assert_eq!(ssrc, "0200000007");
        let m = Media::parse(&Media::offer("34020000002000000001", ip, 30_000, &ssrc)).unwrap();
        assert_eq!(m.session, "Play");
        assert_eq!(
            (m.ip, m.port, m.transport),
            (ip, 30_000, MediaTransport::Udp)
        );
        assert_eq!(m.payload_types, vec![96, 98]);
        assert_eq!(m.ssrc_value(), Some(200_000_007));
        let a = Media::parse(&Media::answer("34020000001310000001", ip, 5000, &ssrc)).unwrap();
        assert_eq!((a.port, a.ssrc.as_deref()), (5000, Some(ssrc.as_str())));
    }

    #[test]
    fn what_is_wrong_is_named() {
        assert_eq!(
            Media::parse(b"v=0\r\ns=Play\r\n"),
            Err(SdpError::Missing(" m=video"))
        );
        assert!(matches!(
            Media::parse(b"s=Play\r\nc=IN IP4 nowhere\r\n"),
            Err(SdpError::Bad { .. })
        ));
        assert!(matches!(
            Media::parse(b"s=Play\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/SAVP 96\r\n"),
            Err(SdpError::Bad { .. })
        ));
        assert_eq!(Media::parse(&[0xFF, 0xFE]), Err(SdpError::NotText));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = Media::parse(&bytes);
        }
    }
}
