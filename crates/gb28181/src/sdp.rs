//! SDP (RFC 4566) as GB/T 28181 uses it in an INVITE for live video: the platform offers where
//! it receives (`c=`, `m=video PORT RTP/AVP 96`, `a=recvonly`, `a=rtpmap:96 PS/90000`), names
//! the session `s=Play` and adds the SSRC it expects in GB/T 28181's own `y=` line; the device
//! answers with where it sends from and the SSRC it uses. Pure.
//!
//! Over TCP (GB/T 28181-2016 annex C, RFC 4571 framing) the `m=` line says `TCP/RTP/AVP` and
//! RFC 4145's `a=setup:` says who connects: an offer of `passive` means the platform listens on
//! the offered port and the device connects (answering `active`); `active` means the platform
//! connects to the port of the device's answer (which says `passive`), the offer's port being
//! the discard port 9 as RFC 4145 asks. [`plan`] reads from the offer and the answer what the
//! platform must do.
//!
//! Only the fields a picture probe needs are read: the connection address, the video port and
//! transport, the payload types, `a=setup`, `a=connection` and `y=`. Must not: do I/O.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The most lines read from a session description (a device's answer has about a dozen).
pub const MAX_LINES: usize = 64;

/// How media travels, as offered (`m=video … RTP/AVP` over UDP, `TCP/RTP/AVP` over TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    Udp,
    Tcp,
}

/// How the platform asks for media: RTP over UDP, or RFC 4571 framed RTP over one TCP
/// connection that the device opens to us (`TcpPassive`: we listen) or we open to the device
/// (`TcpActive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaMode {
    Udp,
    TcpPassive,
    TcpActive,
}

impl MediaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::TcpPassive => "tcp_passive",
            Self::TcpActive => "tcp_active",
        }
    }

    /// The transport of the offer's `m=` line.
    pub fn transport(self) -> MediaTransport {
        match self {
            Self::Udp => MediaTransport::Udp,
            Self::TcpPassive | Self::TcpActive => MediaTransport::Tcp,
        }
    }
}

/// RFC 4145 `a=setup:`: who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// This side connects.
    Active,
    /// This side listens.
    Passive,
    /// Either (an offer's choice left to the answer).
    ActPass,
}

impl Setup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
        }
    }
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
    /// `a=setup:` (TCP only).
    pub setup: Option<Setup>,
}

/// What the platform does for media once the device answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPlan {
    /// Receive RTP datagrams on the offered port.
    Udp,
    /// Accept the device's TCP connection on the offered port.
    Accept,
    /// Connect to the device's TCP port.
    Connect(SocketAddr),
}

/// Why an answer does not fit the offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("offered {offered} but the device answered {answered}")]
    Transport {
        offered: &'static str,
        answered: &'static str,
    },
    #[error("offered a=setup:{offered} but the device answered a=setup:{answered}")]
    Setup {
        offered: &'static str,
        answered: &'static str,
    },
    #[error("the device's answer gives port 0 to connect to")]
    NoPort,
}

/// What to do for media after offering `mode` and receiving `answer`. An answer without
/// `a=setup:` takes the role the offer left it (RFC 4145 §4.1 makes `active` the default of
/// an answer; GB/T 28181 devices often omit it). An answer of `a=setup:actpass` (which RFC
/// 4145 §4.1 reserves for offers, but devices echo) is negotiated, not refused: the offer
/// made a definite choice, so the offerer's role decides and the device takes the other one.
pub fn plan(mode: MediaMode, answer: &Media) -> Result<MediaPlan, PlanError> {
    let name = |t: MediaTransport| match t {
        MediaTransport::Udp => "RTP/AVP (UDP)",
        MediaTransport::Tcp => "TCP/RTP/AVP",
    };
    if answer.transport != mode.transport() {
        return Err(PlanError::Transport {
            offered: name(mode.transport()),
            answered: name(answer.transport),
        });
    }
    match (mode, answer.setup) {
        (MediaMode::Udp, _) => Ok(MediaPlan::Udp),
        (MediaMode::TcpPassive, None | Some(Setup::Active | Setup::ActPass)) => {
            Ok(MediaPlan::Accept)
        }
        (MediaMode::TcpActive, None | Some(Setup::Passive | Setup::ActPass)) => {
            if answer.port == 0 {
                return Err(PlanError::NoPort);
            }
            Ok(MediaPlan::Connect(SocketAddr::new(answer.ip, answer.port)))
        }
        (MediaMode::TcpPassive, Some(s)) => Err(PlanError::Setup {
            offered: "passive",
            answered: s.as_str(),
        }),
        (MediaMode::TcpActive, Some(s)) => Err(PlanError::Setup {
            offered: "active",
            answered: s.as_str(),
        }),
    }
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
    /// The offer of a platform `id` receiving at `ip:port` (UDP, or TCP where we listen; for
    /// `TcpActive` the port is 9 whatever `port` says) and expecting `ssrc`.
    pub fn offer(id: &str, mode: MediaMode, ip: IpAddr, port: u16, ssrc: &str) -> Vec<u8> {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let (port, proto, tcp) = match mode {
            MediaMode::Udp => (port, "RTP/AVP", ""),
            MediaMode::TcpPassive => (
                port,
                "TCP/RTP/AVP",
                "a=setup:passive\r\na=connection:new\r\n",
            ),
            MediaMode::TcpActive => (9, "TCP/RTP/AVP", "a=setup:active\r\na=connection:new\r\n"),
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "v=0\r\no={id} 0 0 IN {family} {ip}\r\ns=Play\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=video {port} {proto} 96 98\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n\
             a=rtpmap:98 H264/90000\r\n{tcp}y={ssrc}\r\n"
        );
        s.into_bytes()
    }

    /// The answer of a device `id` to an offer read as `offer`: sending from `ip:port` (over
    /// TCP for a TCP offer: connecting from that port, or listening on it for an `active`
    /// offer) with `ssrc` (the simulator's).
    pub fn answer(id: &str, offer: &Media, ip: IpAddr, port: u16, ssrc: &str) -> Vec<u8> {
        let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
        let (proto, tcp) = match (offer.transport, offer.setup) {
            (MediaTransport::Udp, _) => ("RTP/AVP", ""),
            (MediaTransport::Tcp, Some(Setup::Active)) => {
                ("TCP/RTP/AVP", "a=setup:passive\r\na=connection:new\r\n")
            }
            (MediaTransport::Tcp, _) => ("TCP/RTP/AVP", "a=setup:active\r\na=connection:new\r\n"),
        };
        format!(
            "v=0\r\no={id} 0 0 IN {family} {ip}\r\ns=Play\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
             m=video {port} {proto} 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n{tcp}y={ssrc}\r\n"
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
        let mut setup = None;
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
                "a" if value.starts_with("setup:") => {
                    setup = Some(match value["setup:".len()..].trim() {
                        "active" => Setup::Active,
                        "passive" => Setup::Passive,
                        "actpass" => Setup::ActPass,
                        _ => return Err(bad("a=setup: is none of active, passive, actpass")),
                    });
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
            setup,
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
        let m = Media::parse(&Media::offer(
            "34020000002000000001",
            MediaMode::Udp,
            ip,
            30_000,
            &ssrc,
        ))
        .unwrap();
        assert_eq!(m.session, "Play");
        assert_eq!(
            (m.ip, m.port, m.transport, m.setup),
            (ip, 30_000, MediaTransport::Udp, None)
        );
        assert_eq!(m.payload_types, vec![96, 98]);
        assert_eq!(m.ssrc_value(), Some(200_000_007));
        let a = Media::parse(&Media::answer("34020000001310000001", &m, ip, 5000, &ssrc)).unwrap();
        assert_eq!((a.port, a.ssrc.as_deref()), (5000, Some(ssrc.as_str())));
        assert_eq!(plan(MediaMode::Udp, &a), Ok(MediaPlan::Udp));
    }

    fn offered(mode: MediaMode) -> Media {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        Media::parse(&Media::offer(
            "34020000002000000001",
            mode,
            ip,
            30_000,
            "0200000001",
        ))
        .unwrap()
    }

    #[test]
    fn tcp_offers_say_who_connects_and_answers_take_the_other_role() {
        let dev: IpAddr = "10.0.0.2".parse().unwrap();
        // Passive: we listen on the offered port; the device answers active and connects.
        let o = offered(MediaMode::TcpPassive);
        assert_eq!(
            (o.transport, o.setup, o.port),
            (MediaTransport::Tcp, Some(Setup::Passive), 30_000)
        );
        let a = Media::parse(&Media::answer("d", &o, dev, 6000, "0200000001")).unwrap();
        assert_eq!(
            (a.transport, a.setup),
            (MediaTransport::Tcp, Some(Setup::Active))
        );
        assert_eq!(plan(MediaMode::TcpPassive, &a), Ok(MediaPlan::Accept));
        // Active: the offer's port is the discard port; the device listens, we connect.
        let o = offered(MediaMode::TcpActive);
        assert_eq!((o.setup, o.port), (Some(Setup::Active), 9));
        let a = Media::parse(&Media::answer("d", &o, dev, 6000, "0200000001")).unwrap();
        assert_eq!(a.setup, Some(Setup::Passive));
        assert_eq!(
            plan(MediaMode::TcpActive, &a),
            Ok(MediaPlan::Connect(SocketAddr::new(dev, 6000)))
        );
    }

    #[test]
    fn answers_that_do_not_fit_the_offer_are_named() {
        let dev: IpAddr = "10.0.0.2".parse().unwrap();
        let udp = Media::parse(&Media::answer(
            "d",
            &offered(MediaMode::Udp),
            dev,
            6000,
            "0200000001",
        ))
        .unwrap();
        assert_eq!(
            plan(MediaMode::TcpPassive, &udp).unwrap_err().to_string(),
            "offered TCP/RTP/AVP but the device answered RTP/AVP (UDP)"
        );
        let passive = Media::parse(&Media::answer(
            "d",
            &offered(MediaMode::TcpActive),
            dev,
            6000,
            "0200000001",
        ))
        .unwrap();
        assert_eq!(
            plan(MediaMode::TcpPassive, &passive),
            Err(PlanError::Setup {
                offered: "passive",
                answered: "passive"
            })
        );
        let mut zero = passive.clone();
        zero.port = 0;
        assert_eq!(plan(MediaMode::TcpActive, &zero), Err(PlanError::NoPort));
        // No a=setup in the answer: the role the offer left.
        let mut bare = passive;
        bare.setup = None;
        assert!(matches!(
            plan(MediaMode::TcpActive, &bare),
            Ok(MediaPlan::Connect(_))
        ));
        assert_eq!(plan(MediaMode::TcpPassive, &bare), Ok(MediaPlan::Accept));
        // actpass in an answer: the offer's role decides (we listen: it connects; we
        // connect: to its port), never malformed.
        let mut actpass = bare;
        actpass.setup = Some(Setup::ActPass);
        assert_eq!(plan(MediaMode::TcpPassive, &actpass), Ok(MediaPlan::Accept));
        assert_eq!(
            plan(MediaMode::TcpActive, &actpass),
            Ok(MediaPlan::Connect(SocketAddr::new(
                actpass.ip,
                actpass.port
            )))
        );
        let parsed = Media::parse(
            b"v=0\r\ns=Play\r\nc=IN IP4 10.1.2.3\r\nm=video 6000 TCP/RTP/AVP 96\r\na=setup:actpass\r\n",
        )
        .unwrap();
        assert_eq!(
            plan(MediaMode::TcpActive, &parsed),
            Ok(MediaPlan::Connect("10.1.2.3:6000".parse().unwrap()))
        );
        assert_eq!(plan(MediaMode::TcpPassive, &parsed), Ok(MediaPlan::Accept));
        assert!(matches!(
            Media::parse(
                b"s=Play\r\nc=IN IP4 1.2.3.4\r\nm=video 1 TCP/RTP/AVP 96\r\na=setup:sideways\r\n"
            ),
            Err(SdpError::Bad { .. })
        ));
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
            if let Ok(m) = Media::parse(&bytes) {
                for mode in [MediaMode::Udp, MediaMode::TcpPassive, MediaMode::TcpActive] {
                    let _ = plan(mode, &m);
                }
            }
        }

        /// Any offer, answered as a device answers it, plans the role the offer asked for,
        /// on the answer's address.
        #[test]
        fn every_offer_and_its_answer_agree(
            mode in prop_oneof![Just(MediaMode::Udp), Just(MediaMode::TcpPassive), Just(MediaMode::TcpActive)],
            a in any::<[u8; 4]>(), b in any::<[u8; 4]>(),
            port in 1u16.., dev_port in 1u16.., n in any::<u32>(),
        ) {
            let ssrc = ssrc_for("3402000000", n);
            let o = Media::parse(&Media::offer("34020000002000000001", mode, IpAddr::from(a), port, &ssrc)).unwrap();
            prop_assert_eq!(o.transport, mode.transport());
            prop_assert_eq!(o.ssrc.as_deref(), Some(ssrc.as_str()));
            let ans = Media::parse(&Media::answer("d", &o, IpAddr::from(b), dev_port, &ssrc)).unwrap();
            let expected = match mode {
                MediaMode::Udp => MediaPlan::Udp,
                MediaMode::TcpPassive => MediaPlan::Accept,
                MediaMode::TcpActive => MediaPlan::Connect(SocketAddr::new(IpAddr::from(b), dev_port)),
            };
            prop_assert_eq!(plan(mode, &ans), Ok(expected));
        }
    }
}
