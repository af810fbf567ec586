//! One simulated GB/T 28181 peer (a camera, an NVR or a lower platform with thousands of
//! channels), the device's side of the protocol as a pure state machine: bytes and the time in,
//! bytes to send out. The I/O shell (`super`) owns the socket and the clock.
//!
//! What it does: REGISTER, answer the digest challenge (`camwatch_gb28181::digest::answer`),
//! re-register before expiry, keepalive MESSAGEs every interval, answer Catalog (paged: the
//! next page goes when the platform has accepted the previous one, as devices do), DeviceInfo
//! and DeviceStatus queries. SIP is written and parsed with `camwatch_gb28181::sip`, the code
//! the platform itself uses, so the two sides cannot drift apart silently; the MANSCDP
//! documents a device sends are written here (the platform never writes them).
//!
//! Faults: keepalives stop from a given instant; a wrong password (configured as such: the
//! device retries every minute and is refused each time); the catalog in GB2312; malformed XML
//! in every catalog page; huge catalogs (any channel count).
//!
//! Over UDP the device's own requests that need an answer (REGISTER, catalog pages, its
//! DeviceInfo and DeviceStatus answers) are sent again until answered, and a request of the platform's heard again (same Via branch: the
//! platform retransmits too) gets the same response again and nothing more, as a SIP server
//! transaction does: a retransmitted Catalog query does not start the catalog over.
//!
//! Invariants: at most one catalog page in flight; a lost REGISTER exchange is retried after
//! [`RETRY_SEC`]; at most [`ANSWERED`] answered requests remembered. Must not: read a clock or
//! touch a socket.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;

use camwatch_core::registry::DeviceCode;
use camwatch_gb28181::digest;
use camwatch_gb28181::manscdp::{self, CatalogEvent};
use camwatch_gb28181::sdp::{Media, MediaTransport, Setup};
use camwatch_gb28181::sip::{self, InRequest, InResponse, Inbound, Method, OutRequest};

/// Seconds before an unanswered or refused REGISTER is sent again.
pub const RETRY_SEC: i64 = 60;
/// Over UDP an unanswered REGISTER is sent again, the same bytes, after 2 s, then every 4 s,
/// until [`REGISTER_TIMEOUT_SEC`] (RFC 3261's timers E and F for a non-INVITE request, on
/// whole seconds: T1 = 500 ms rounded up so that a request sent late in a second is not
/// repeated a few milliseconds later). A datagram lost in a storm costs seconds, not a minute.
pub const RETRANSMIT_FIRST_SEC: i64 = 2;
pub const RETRANSMIT_MAX_SEC: i64 = 4;
pub const REGISTER_TIMEOUT_SEC: i64 = 32;
/// The platform's requests remembered with their response, to answer a retransmission alike.
pub const ANSWERED: usize = 16;

/// The character set of the MANSCDP documents a device sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    #[default]
    Utf8,
    /// Declared GB2312, encoded as GBK (its superset; what devices do).
    Gb2312,
}

/// The longest catalog subscription a device grants, seconds.
pub const MAX_SUBSCRIPTION_SEC: u32 = 3600;

/// A catalog NOTIFY a device sends at an instant (for `channel`), once a platform has
/// subscribed; one due while nobody is subscribed waits for a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedNotify {
    pub at: i64,
    pub event: CatalogEvent,
    pub channel: SimChannel,
}

/// One channel a device lists in its catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct SimChannel {
    pub code: DeviceCode,
    pub name: String,
    pub civil_code: String,
    /// Status ON (else OFF).
    pub on: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GbDeviceConfig {
    pub id: DeviceCode,
    /// The platform's ID and domain (also the digest realm).
    pub platform_id: String,
    pub domain: String,
    pub password: String,
    /// Registration lifetime asked for.
    pub expires: u32,
    pub keepalive_sec: i64,
    pub channels: Vec<SimChannel>,
    /// Catalog items per MESSAGE.
    pub page_size: usize,
    pub charset: Charset,
    /// Keepalives stop at this instant (and registrations with them: the device is dead).
    pub dies_at: Option<i64>,
    /// Every catalog page is cut short (malformed XML).
    pub malformed_catalog: bool,
    /// Catalog NOTIFYs to send to the subscriber, in time order.
    pub notifies: Vec<ScriptedNotify>,
    /// Fault: while subscribed, this many NOTIFYs a second, each turning one of the channels
    /// OFF or back ON in turn (a flapping lower platform, or a broken one).
    pub notify_storm_per_sec: u32,
    /// Channels' media faults (INVITE for live video).
    pub media: HashMap<DeviceCode, MediaFault>,
    /// Fault: its DeviceStatus answers say `<Record>OFF</Record>` (recording stopped).
    pub recording_off: bool,
}

/// What a channel does when the platform INVITEs it for live video (the simulator's media
/// faults; a channel without one streams its normal picture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFault {
    /// Streams a picture with this fault (blur, too dark, …), as the RTSP simulator shows it.
    Picture(camwatch_synth::picture::PictureFault),
    /// Answers 200 and never sends a packet.
    NeverSends,
    /// Refuses the INVITE (`486 Busy Here`).
    Refuses,
    /// Streams RTP whose payload is not a program stream.
    Garbage,
}

impl std::str::FromStr for MediaFault {
    type Err = String;
    /// A picture fault's name (`blur`, `too_dark`, …), or `never_sends`, `refuses`, `garbage`.
    fn from_str(s: &str) -> Result<Self, String> {
        use camwatch_synth::picture::PictureFault;
        match s {
            "never_sends" => Ok(Self::NeverSends),
            "refuses" => Ok(Self::Refuses),
            "garbage" => Ok(Self::Garbage),
            _ => PictureFault::ALL
                .into_iter()
                .find(|f| f.as_str() == s)
                .map(Self::Picture)
                .ok_or_else(|| {
                    let names: Vec<&str> = PictureFault::ALL.iter().map(|f| f.as_str()).collect();
                    format!(
                        "unknown media fault {s:?} (expected never_sends, refuses, garbage or a picture fault: {})",
                        names.join(", ")
                    )
                }),
        }
    }
}

/// How a session's media travels, as the platform's offer asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaLink {
    /// RTP datagrams to where the platform receives.
    Udp(SocketAddr),
    /// RTP over TCP (RFC 4571) on a connection we open to the platform (its offer `passive`).
    TcpConnect(SocketAddr),
    /// RTP over TCP on a connection the platform opens to us (its offer `active`): the shell
    /// listens on a port of its own and gives it back with [`GbDevice::listening`], which
    /// writes the 200 (held until then).
    TcpListen,
}

/// A live-video session for the shell to start or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    Start {
        call_id: String,
        channel: DeviceCode,
        /// The channel's index in the catalog (which scene it shows).
        index: usize,
        link: MediaLink,
        ssrc: u32,
        fault: Option<MediaFault>,
    },
    Stop {
        call_id: String,
    },
}

/// Where the device is in its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing sent yet, or waiting to retry from `since`.
    Idle {
        retry_at: i64,
    },
    /// A REGISTER is out (`authorized`: with credentials), sent at `since`.
    Registering {
        authorized: bool,
        since: i64,
    },
    Registered {
        until: i64,
    },
    /// The platform refused (403) at `at`; retried after [`RETRY_SEC`].
    Refused {
        at: i64,
    },
}

/// Counters for tests and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub registered: u64,
    pub refused: u64,
    pub keepalives: u64,
    pub catalog_pages: u64,
    pub queries: u64,
    /// REGISTER requests sent again because no answer came (UDP).
    pub retransmissions: u64,
    /// SUBSCRIBE requests accepted (new and refreshes) and NOTIFYs sent.
    pub subscribes: u64,
    pub notifies: u64,
    /// INVITEs accepted (200), live sessions now, the most at once, and BYEs taken.
    pub invites: u64,
    pub sessions: u32,
    pub max_sessions: u32,
    pub byes: u64,
}

#[derive(Debug)]
pub struct GbDevice {
    cfg: GbDeviceConfig,
    /// Our address as the platform sees it (Via and Contact).
    local: SocketAddr,
    transport: &'static str,
    phase: Phase,
    next_keepalive: i64,
    cseq: u32,
    counter: u64,
    sn: u32,
    /// Catalog pages still to send, and the Call-ID of the one in flight.
    pages: VecDeque<Vec<u8>>,
    in_flight: Option<String>,
    /// Over UDP: the REGISTER out and when it is sent again (and the gap after that).
    resend: Option<Resend>,
    /// Over UDP: the catalog page out, sent again the same way until answered or timer F.
    page_resend: Option<(Resend, i64)>,
    /// Over UDP: our DeviceInfo and DeviceStatus answers (MESSAGE requests of ours) not yet
    /// taken by the platform, by Call-ID, each sent again until its 200 or timer F; at most
    /// [`ANSWERED`] (the oldest given up first).
    answers_out: VecDeque<(String, Resend, i64)>,
    /// The platform's last requests (their Via branch) and our response to each.
    answered: VecDeque<(String, Vec<u8>)>,
    /// The platform's catalog subscription, and the scripted NOTIFYs not yet sent.
    sub: Option<Subscription>,
    script: VecDeque<ScriptedNotify>,
    /// The storm's next channel and whether it goes OFF (else back ON).
    storm_next: usize,
    storm_off: bool,
    /// The second the storm last sent its share in.
    storm_at: i64,
    stats: DeviceStats,
    /// Live-video sessions by Call-ID, and the commands for the shell.
    sessions: HashMap<String, DeviceCode>,
    media: Vec<MediaCommand>,
    /// INVITEs whose 200 waits for the shell's listening port (TCP active), by Call-ID.
    held: HashMap<String, InRequest>,
}

/// The dialog a platform's SUBSCRIBE opened.
#[derive(Debug)]
struct Subscription {
    call_id: String,
    /// The platform's tag (its From) and ours (our To in the 200).
    their_tag: String,
    our_tag: String,
    expires_at: i64,
}

#[derive(Debug)]
struct Resend {
    bytes: Vec<u8>,
    at: i64,
    gap: i64,
}

impl GbDevice {
    pub fn new(cfg: GbDeviceConfig, local: SocketAddr, tcp: bool) -> Self {
        let mut script: Vec<ScriptedNotify> = cfg.notifies.clone();
        script.sort_by_key(|n| n.at);
        Self {
            cfg,
            local,
            transport: if tcp { "TCP" } else { "UDP" },
            phase: Phase::Idle { retry_at: i64::MIN },
            next_keepalive: i64::MAX,
            cseq: 0,
            counter: 0,
            sn: 0,
            pages: VecDeque::new(),
            in_flight: None,
            resend: None,
            page_resend: None,
            answers_out: VecDeque::new(),
            answered: VecDeque::new(),
            script: script.into(),
            sub: None,
            storm_next: 0,
            storm_off: true,
            storm_at: i64::MIN,
            stats: DeviceStats::default(),
            sessions: HashMap::new(),
            media: Vec::new(),
            held: HashMap::new(),
        }
    }

    /// The live-video sessions to start and stop since the last call.
    pub fn take_media(&mut self) -> Vec<MediaCommand> {
        std::mem::take(&mut self.media)
    }

    /// An INVITE for live video of one of our channels: `200` with our SDP answer and a session
    /// for the shell to stream (or the channel's fault: refused, silent, garbage).
    fn on_invite(&mut self, r: &InRequest) -> Vec<Vec<u8>> {
        let tag = format!("{}i", self.cfg.id);
        let channel = r
            .uri
            .strip_prefix("sip:")
            .and_then(|u| u.split('@').next())
            .and_then(|u| u.parse::<DeviceCode>().ok());
        let index = channel.and_then(|c| self.cfg.channels.iter().position(|ch| ch.code == c));
        let (Some(channel), Some(index)) = (channel, index) else {
            return vec![sip::response(r, 404, "Not Found", &tag, &[])];
        };
        let fault = self.cfg.media.get(&channel).copied();
        if fault == Some(MediaFault::Refuses) {
            return vec![sip::response(r, 486, "Busy Here", &tag, &[])];
        }
        let offer = match Media::parse(&r.common.body) {
            Ok(m) => m,
            Err(_) => return vec![sip::response(r, 400, "Bad Request", &tag, &[])],
        };
        // A copy of an INVITE whose 200 the shell still owes: it comes with that.
        if self.held.contains_key(&r.common.call_id) {
            return Vec::new();
        }
        if self.sessions.len() >= 10_000 {
            return vec![sip::response(r, 486, "Busy Here", &tag, &[])];
        }
        self.sessions.insert(r.common.call_id.clone(), channel);
        self.stats.invites += 1;
        self.stats.sessions = self.sessions.len() as u32;
        self.stats.max_sessions = self.stats.max_sessions.max(self.stats.sessions);
        let ssrc = offer.ssrc_value().unwrap_or(0);
        let to = SocketAddr::new(offer.ip, offer.port);
        let link = match (offer.transport, offer.setup) {
            (MediaTransport::Udp, _) => MediaLink::Udp(to),
            (MediaTransport::Tcp, Some(Setup::Active)) => MediaLink::TcpListen,
            (MediaTransport::Tcp, _) => MediaLink::TcpConnect(to),
        };
        // A silent channel over TCP active still listens (the platform's connection opens and
        // nothing comes); otherwise it starts nothing.
        if fault != Some(MediaFault::NeverSends) || link == MediaLink::TcpListen {
            self.media.push(MediaCommand::Start {
                call_id: r.common.call_id.clone(),
                channel,
                index,
                link,
                ssrc,
                fault,
            });
        }
        if link == MediaLink::TcpListen {
            self.held.insert(r.common.call_id.clone(), r.clone());
            return Vec::new();
        }
        vec![self.invite_ok(r, &offer, self.local.port())]
    }

    /// The 200 of an INVITE held for the shell's listening `port` (TCP active), remembered as
    /// the INVITE's answer for its copies; `None` when no INVITE is held by `call_id`.
    pub fn listening(&mut self, call_id: &str, port: u16) -> Option<Vec<u8>> {
        let r = self.held.remove(call_id)?;
        let offer = Media::parse(&r.common.body).ok()?;
        let ok = self.invite_ok(&r, &offer, port);
        if let Some(b) = r.common.branch() {
            if self.answered.len() >= ANSWERED {
                self.answered.pop_front();
            }
            self.answered.push_back((b.to_string(), ok.clone()));
        }
        Some(ok)
    }

    /// `200` with our SDP answer to `offer` (its `y=` SSRC echoed), media from or on `port`.
    fn invite_ok(&self, r: &InRequest, offer: &Media, port: u16) -> Vec<u8> {
        let tag = format!("{}i", self.cfg.id);
        let channel = r
            .uri
            .strip_prefix("sip:")
            .and_then(|u| u.split('@').next())
            .unwrap_or_default();
        let ssrc = offer.ssrc.clone().unwrap_or_else(|| "0000000000".into());
        let body = Media::answer(channel, offer, self.local.ip(), port, &ssrc);
        sip::response_with_body(r, 200, "OK", &tag, "APPLICATION/SDP", &body)
    }

    /// The platform ends a live-video session.
    fn on_bye(&mut self, r: &InRequest) -> Vec<Vec<u8>> {
        let tag = format!("{}i", self.cfg.id);
        if self.sessions.remove(&r.common.call_id).is_none() {
            return vec![sip::response(
                r,
                481,
                "Call/Transaction Does Not Exist",
                &tag,
                &[],
            )];
        }
        self.held.remove(&r.common.call_id);
        self.stats.byes += 1;
        self.stats.sessions = self.sessions.len() as u32;
        self.media.push(MediaCommand::Stop {
            call_id: r.common.call_id.clone(),
        });
        vec![sip::response(r, 200, "OK", &tag, &[])]
    }

    pub fn id(&self) -> DeviceCode {
        self.cfg.id
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn stats(&self) -> DeviceStats {
        self.stats
    }

    fn dead(&self, now: i64) -> bool {
        self.cfg.dies_at.is_some_and(|d| now >= d)
    }

    fn next(&mut self) -> String {
        self.counter += 1;
        format!("{}x{}", self.cfg.id, self.counter)
    }

    /// The next instant `tick` has something to do (for the shell's sleep).
    pub fn next_due(&self) -> i64 {
        let phase_due = match self.phase {
            Phase::Idle { retry_at } => retry_at,
            Phase::Registering { since, .. } => since + RETRY_SEC,
            // Re-register when 90 % of the lifetime has passed.
            Phase::Registered { until } => until - i64::from(self.cfg.expires) / 10,
            Phase::Refused { at } => at + RETRY_SEC,
        };
        let resend_due = self
            .resend
            .as_ref()
            .map_or(i64::MAX, |r| r.at)
            .min(self.page_resend.as_ref().map_or(i64::MAX, |(r, _)| r.at))
            .min(
                self.answers_out
                    .iter()
                    .map(|(_, r, _)| r.at)
                    .min()
                    .unwrap_or(i64::MAX),
            );
        let notify_due = match (&self.sub, self.script.front()) {
            (Some(_), _) if self.cfg.notify_storm_per_sec > 0 => self.storm_at.saturating_add(1),
            (Some(_), Some(n)) => n.at,
            _ => i64::MAX,
        };
        phase_due
            .min(self.next_keepalive)
            .min(resend_due)
            .min(notify_due)
    }

    fn request(&mut self, method: Method, extra: &[(&str, String)], body: &[u8]) -> Vec<u8> {
        self.cseq += 1;
        let (branch, tag, call_id) = (self.next(), self.next(), self.next());
        let id = self.cfg.id.to_string();
        let (to_user, to_host) = match method {
            Method::Register => (id.clone(), self.cfg.domain.clone()),
            _ => (self.cfg.platform_id.clone(), self.cfg.domain.clone()),
        };
        let via = self.local.to_string();
        sip::request_with(
            &OutRequest {
                method,
                to_user: &to_user,
                to_host: &to_host,
                from_user: &id,
                from_domain: &self.cfg.domain,
                via_host: &via,
                transport: self.transport,
                branch: &branch,
                from_tag: &tag,
                to_tag: None,
                call_id: &call_id,
                cseq: self.cseq,
                content_type: "Application/MANSCDP+xml",
            },
            extra,
            body,
        )
    }

    fn register(&mut self, authorization: Option<String>, now: i64) -> Vec<u8> {
        let mut extra = vec![
            ("Contact", format!("<sip:{}@{}>", self.cfg.id, self.local)),
            ("Expires", self.cfg.expires.to_string()),
        ];
        let authorized = authorization.is_some();
        if let Some(a) = authorization {
            extra.push(("Authorization", a));
        }
        self.phase = Phase::Registering {
            authorized,
            since: now,
        };
        let bytes = self.request(Method::Register, &extra, b"");
        self.resend = (self.transport == "UDP").then(|| Resend {
            bytes: bytes.clone(),
            at: now + RETRANSMIT_FIRST_SEC,
            gap: RETRANSMIT_FIRST_SEC,
        });
        bytes
    }

    /// Lets time pass: (re-)registers and keeps alive as due.
    pub fn tick(&mut self, now: i64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.dead(now) {
            return out;
        }
        // Keepalives first: a re-registration due at the same instant does not hold them up.
        if matches!(self.phase, Phase::Registered { .. }) && now >= self.next_keepalive {
            self.next_keepalive = now + self.cfg.keepalive_sec;
            self.sn = self.sn.wrapping_add(1);
            let body = self.document(&format!(
                "<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>{}</SN>\r\n<DeviceID>{}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n",
                self.sn, self.cfg.id
            ));
            self.stats.keepalives += 1;
            out.push(self.request(Method::Message, &[], &body));
        }
        if let (Phase::Registering { since, .. }, Some(r)) = (self.phase, &mut self.resend)
            && now >= r.at
            && now < since + REGISTER_TIMEOUT_SEC
        {
            r.gap = (r.gap * 2).min(RETRANSMIT_MAX_SEC);
            r.at = now + r.gap;
            self.stats.retransmissions += 1;
            out.push(r.bytes.clone());
        }
        if let Some((r, until)) = &mut self.page_resend
            && now >= r.at
        {
            if now < *until {
                r.gap = (r.gap * 2).min(RETRANSMIT_MAX_SEC);
                r.at = now + r.gap;
                self.stats.retransmissions += 1;
                out.push(r.bytes.clone());
            } else {
                // Timer F: the platform is not answering; the catalog stops here.
                self.page_resend = None;
            }
        }
        // Our answers the platform has not taken yet; given up at timer F.
        self.answers_out.retain(|(_, _, until)| now < *until);
        for (_, r, _) in self.answers_out.iter_mut() {
            if now >= r.at {
                r.gap = (r.gap * 2).min(RETRANSMIT_MAX_SEC);
                r.at = now + r.gap;
                self.stats.retransmissions += 1;
                out.push(r.bytes.clone());
            }
        }
        // Answered, or timer F ran out: the retry after RETRY_SEC takes over.
        match self.phase {
            Phase::Registering { since, .. } if now < since + REGISTER_TIMEOUT_SEC => {}
            _ => self.resend = None,
        }
        out.extend(self.due_notifies(now));
        if now >= self.next_due() {
            let register = match self.phase {
                Phase::Idle { retry_at } => now >= retry_at,
                Phase::Registering { since, .. } => now >= since + RETRY_SEC,
                Phase::Registered { until } => now >= until - i64::from(self.cfg.expires) / 10,
                Phase::Refused { at } => now >= at + RETRY_SEC,
            };
            if register {
                out.push(self.register(None, now));
            }
        }
        out
    }

    /// One message from the platform.
    pub fn on_message(&mut self, bytes: &[u8], now: i64) -> Vec<Vec<u8>> {
        if self.dead(now) {
            return Vec::new();
        }
        match sip::parse(bytes) {
            Ok(Inbound::Response(r)) => self.on_response(&r, now),
            Ok(Inbound::Request(r)) => self.on_request(&r, now),
            Err(e) => {
                tracing::debug!(device = %self.cfg.id, error = %e, "sim GB device: unparsable SIP");
                Vec::new()
            }
        }
    }

    fn on_response(&mut self, r: &InResponse, now: i64) -> Vec<Vec<u8>> {
        if r.common.cseq_method == Method::Register {
            // Answered: no more retransmissions of that request.
            self.resend = None;
        }
        match (r.common.cseq_method, r.status) {
            (Method::Register, 401) => {
                let Some((realm, nonce)) = r
                    .www_authenticate
                    .as_deref()
                    .and_then(|w| digest::parse_challenge(w).ok())
                else {
                    self.phase = Phase::Refused { at: now };
                    return Vec::new();
                };
                let id = self.cfg.id.to_string();
                let uri = format!("sip:{}@{}", self.cfg.platform_id, self.cfg.domain);
                let auth =
                    digest::answer(&id, &self.cfg.password, &realm, &nonce, "REGISTER", &uri);
                vec![self.register(Some(auth), now)]
            }
            (Method::Register, 200) => {
                if !matches!(self.phase, Phase::Registered { .. }) {
                    self.next_keepalive = now + self.cfg.keepalive_sec;
                }
                self.phase = Phase::Registered {
                    until: now + i64::from(self.cfg.expires),
                };
                self.stats.registered += 1;
                Vec::new()
            }
            (Method::Register, _) => {
                self.phase = Phase::Refused { at: now };
                self.stats.refused += 1;
                Vec::new()
            }
            (Method::Message, _)
                if self
                    .answers_out
                    .iter()
                    .any(|(c, _, _)| *c == r.common.call_id) =>
            {
                // The platform took one of our answers: not sent again.
                self.answers_out.retain(|(c, _, _)| *c != r.common.call_id);
                Vec::new()
            }
            (Method::Message, _) if self.in_flight.as_deref() == Some(&r.common.call_id) => {
                // The platform took (or refused: a malformed page) a catalog page: next one.
                self.in_flight = None;
                self.page_resend = None;
                self.send_page(now)
            }
            _ => Vec::new(),
        }
    }

    fn send_page(&mut self, now: i64) -> Vec<Vec<u8>> {
        let Some(body) = self.pages.pop_front() else {
            return Vec::new();
        };
        let msg = self.request(Method::Message, &[], &body);
        self.in_flight = sip::parse(&msg).ok().map(|m| match m {
            Inbound::Request(r) => r.common.call_id,
            Inbound::Response(r) => r.common.call_id,
        });
        self.stats.catalog_pages += 1;
        self.page_resend = (self.transport == "UDP").then(|| {
            (
                Resend {
                    bytes: msg.clone(),
                    at: now + RETRANSMIT_FIRST_SEC,
                    gap: RETRANSMIT_FIRST_SEC,
                },
                now + REGISTER_TIMEOUT_SEC,
            )
        });
        vec![msg]
    }

    /// The platform subscribes to our catalog (or refreshes, or ends with `Expires: 0`).
    fn on_subscribe(&mut self, r: &InRequest, now: i64) -> Vec<Vec<u8>> {
        let our_tag = format!("{}s", self.cfg.id);
        let granted = r
            .expires
            .unwrap_or(MAX_SUBSCRIPTION_SEC)
            .min(MAX_SUBSCRIPTION_SEC);
        let Some(their_tag) = r.common.from_tag.clone() else {
            return vec![sip::response(r, 400, "Bad Request", &our_tag, &[])];
        };
        self.stats.subscribes += 1;
        self.sub = (granted > 0).then(|| Subscription {
            call_id: r.common.call_id.clone(),
            their_tag,
            our_tag: our_tag.clone(),
            expires_at: now + i64::from(granted),
        });
        vec![sip::response(
            r,
            200,
            "OK",
            &our_tag,
            &[("Expires", granted.to_string())],
        )]
    }

    /// The NOTIFYs due at `now` to a live subscription: scripted ones, then the storm's.
    fn due_notifies(&mut self, now: i64) -> Vec<Vec<u8>> {
        if self.sub.as_ref().is_none_or(|s| now >= s.expires_at) {
            self.sub = None;
            return Vec::new();
        }
        let mut changes = Vec::new();
        while self.script.front().is_some_and(|n| n.at <= now) {
            let n = self.script.pop_front().expect("front");
            changes.push((n.event, n.channel));
        }
        let mut out: Vec<Vec<u8>> = changes
            .into_iter()
            .map(|(e, c)| self.notify(&[(e, c)], now))
            .collect();
        if self.cfg.notify_storm_per_sec > 0 && !self.cfg.channels.is_empty() && now > self.storm_at
        {
            self.storm_at = now;
            for _ in 0..self.cfg.notify_storm_per_sec {
                let c = self.cfg.channels[self.storm_next % self.cfg.channels.len()].clone();
                let event = if self.storm_off {
                    CatalogEvent::Off
                } else {
                    CatalogEvent::On
                };
                self.storm_next += 1;
                if self.storm_next.is_multiple_of(self.cfg.channels.len()) {
                    self.storm_off = !self.storm_off;
                }
                out.push(self.notify(&[(event, c)], now));
            }
        }
        out
    }

    /// A catalog NOTIFY inside the subscription's dialog.
    fn notify(&mut self, changes: &[(CatalogEvent, SimChannel)], now: i64) -> Vec<u8> {
        let Some(sub) = &self.sub else {
            return Vec::new();
        };
        let (call_id, their_tag, our_tag) = (
            sub.call_id.clone(),
            sub.their_tag.clone(),
            sub.our_tag.clone(),
        );
        let remaining = (sub.expires_at - now).max(0);
        self.sn = self.sn.wrapping_add(1);
        let mut xml = format!(
            "<Notify>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{}</SN>\r\n<DeviceID>{}</DeviceID>\r\n\
             <SumNum>{}</SumNum>\r\n<DeviceList Num=\"{}\">\r\n",
            self.sn,
            self.cfg.id,
            changes.len(),
            changes.len()
        );
        for (event, c) in changes {
            let _ = write!(
                xml,
                "<Item>\r\n<DeviceID>{}</DeviceID>\r\n<Event>{}</Event>\r\n",
                c.code,
                event.as_str()
            );
            if matches!(event, CatalogEvent::Add | CatalogEvent::Update) {
                let _ = write!(
                    xml,
                    "<Name>{}</Name>\r\n<Manufacturer>camwatch-sim</Manufacturer>\r\n<Model>SIM-GB</Model>\r\n\
                     <CivilCode>{}</CivilCode>\r\n<ParentID>{}</ParentID>\r\n<Status>{}</Status>\r\n",
                    xml_text(&c.name),
                    xml_text(&c.civil_code),
                    self.cfg.id,
                    if c.on { "ON" } else { "OFF" }
                );
            }
            xml.push_str("</Item>\r\n");
        }
        xml.push_str("</DeviceList>\r\n</Notify>\r\n");
        let body = self.document(&xml);
        self.cseq += 1;
        let branch = self.next();
        let id = self.cfg.id.to_string();
        let via = self.local.to_string();
        self.stats.notifies += 1;
        sip::request_with(
            &OutRequest {
                method: Method::Notify,
                to_user: &self.cfg.platform_id,
                to_host: &self.cfg.domain,
                from_user: &id,
                from_domain: &self.cfg.domain,
                via_host: &via,
                transport: self.transport,
                branch: &branch,
                from_tag: &our_tag,
                to_tag: Some(&their_tag),
                call_id: &call_id,
                cseq: self.cseq,
                content_type: "Application/MANSCDP+xml",
            },
            &[
                ("Event", "Catalog".to_string()),
                ("Subscription-State", format!("active;expires={remaining}")),
            ],
            &body,
        )
    }

    /// A request of the platform's: a retransmission of one already answered gets the same
    /// response again, anything else is answered anew.
    fn on_request(&mut self, r: &InRequest, now: i64) -> Vec<Vec<u8>> {
        // An ACK has no response (and a non-2xx's ACK shares its INVITE's branch).
        if r.method == Method::Ack {
            return Vec::new();
        }
        let branch = r.common.branch().map(str::to_string);
        if let Some(b) = &branch
            && let Some((_, response)) = self.answered.iter().find(|(k, _)| k == b)
        {
            return vec![response.clone()];
        }
        let out = self.answer(r, now);
        if let (Some(b), Some(response)) = (branch, out.first()) {
            if self.answered.len() >= ANSWERED {
                self.answered.pop_front();
            }
            self.answered.push_back((b, response.clone()));
        }
        out
    }

    fn answer(&mut self, r: &InRequest, now: i64) -> Vec<Vec<u8>> {
        let tag = format!("{:x}", now);
        if r.method == Method::Subscribe {
            return self.on_subscribe(r, now);
        }
        if r.method == Method::Invite {
            return self.on_invite(r);
        }
        if r.method == Method::Bye {
            return self.on_bye(r);
        }
        if r.method != Method::Message {
            return vec![sip::response(r, 501, "Not Implemented", &tag, &[])];
        }
        let Some((cmd, sn)) = query_of(&r.common.body) else {
            return vec![sip::response(r, 400, "Bad Request", &tag, &[])];
        };
        let mut out = vec![sip::response(r, 200, "OK", &tag, &[])];
        self.stats.queries += 1;
        match cmd.as_str() {
            "Catalog" => {
                self.pages = self.catalog_pages(sn).into();
                self.in_flight = None;
                out.extend(self.send_page(now));
            }
            "DeviceInfo" => {
                let body = self.document(&format!(
                    "<Response>\r\n<CmdType>DeviceInfo</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{}</DeviceID>\r\n\
                     <Result>OK</Result>\r\n<Manufacturer>camwatch-sim</Manufacturer>\r\n<Model>SIM-GB</Model>\r\n\
                     <Firmware>1.0</Firmware>\r\n<Channel>{}</Channel>\r\n</Response>\r\n",
                    self.cfg.id,
                    self.cfg.channels.len()
                ));
                out.push(self.answer_message(&body, now));
            }
            "DeviceStatus" => {
                let body = self.document(&format!(
                    "<Response>\r\n<CmdType>DeviceStatus</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{}</DeviceID>\r\n\
                     <Result>OK</Result>\r\n<Online>ONLINE</Online>\r\n<Status>OK</Status>\r\n\
                     <Encode>ON</Encode>\r\n<Record>{}</Record>\r\n</Response>\r\n",
                    self.cfg.id,
                    if self.cfg.recording_off { "OFF" } else { "ON" }
                ));
                out.push(self.answer_message(&body, now));
            }
            _ => {}
        }
        out
    }

    /// A MESSAGE carrying our answer `body` to a query (a request of ours, RFC 3261's
    /// non-INVITE client transaction): over UDP remembered to be sent again, as a catalog page
    /// is, until the platform's response or timer F, so that an answer lost on the way (a
    /// platform's full socket buffer in a storm) still arrives.
    fn answer_message(&mut self, body: &[u8], now: i64) -> Vec<u8> {
        let msg = self.request(Method::Message, &[], body);
        if self.transport == "UDP"
            && let Ok(Inbound::Request(r)) = sip::parse(&msg)
        {
            if self.answers_out.len() >= ANSWERED {
                self.answers_out.pop_front();
            }
            self.answers_out.push_back((
                r.common.call_id,
                Resend {
                    bytes: msg.clone(),
                    at: now + RETRANSMIT_FIRST_SEC,
                    gap: RETRANSMIT_FIRST_SEC,
                },
                now + REGISTER_TIMEOUT_SEC,
            ));
        }
        msg
    }

    /// A MANSCDP document with its declaration, in the configured character set.
    fn document(&self, xml: &str) -> Vec<u8> {
        match self.cfg.charset {
            Charset::Utf8 => {
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n{xml}").into_bytes()
            }
            Charset::Gb2312 => {
                let text = format!("<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n{xml}");
                encoding_rs::GBK.encode(&text).0.into_owned()
            }
        }
    }

    /// The whole catalog as pages of at most `page_size` items.
    pub fn catalog_pages(&self, sn: u32) -> Vec<Vec<u8>> {
        let total = self.cfg.channels.len();
        let size = self.cfg.page_size.max(1);
        let chunks: Vec<&[SimChannel]> = if total == 0 {
            vec![&[]]
        } else {
            self.cfg.channels.chunks(size).collect()
        };
        chunks
            .into_iter()
            .map(|chunk| {
                let mut xml = format!(
                    "<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{}</DeviceID>\r\n\
                     <SumNum>{total}</SumNum>\r\n<DeviceList Num=\"{}\">\r\n",
                    self.cfg.id,
                    chunk.len()
                );
                for c in chunk {
                    let _ = write!(
                        xml,
                        "<Item>\r\n<DeviceID>{}</DeviceID>\r\n<Name>{}</Name>\r\n<Manufacturer>camwatch-sim</Manufacturer>\r\n\
                         <Model>SIM-GB</Model>\r\n<Owner>0</Owner>\r\n<CivilCode>{}</CivilCode>\r\n<Parental>0</Parental>\r\n\
                         <ParentID>{}</ParentID>\r\n<SafetyWay>0</SafetyWay>\r\n<RegisterWay>1</RegisterWay>\r\n\
                         <Secrecy>0</Secrecy>\r\n<Status>{}</Status>\r\n</Item>\r\n",
                        c.code,
                        xml_text(&c.name),
                        xml_text(&c.civil_code),
                        self.cfg.id,
                        if c.on { "ON" } else { "OFF" }
                    );
                }
                xml.push_str("</DeviceList>\r\n</Response>\r\n");
                if self.cfg.malformed_catalog {
                    // Cut inside an element: not well-formed.
                    xml.truncate(xml.len() / 2);
                }
                self.document(&xml)
            })
            .collect()
    }
}

/// The CmdType and SN of a query document, if it is one.
fn query_of(body: &[u8]) -> Option<(String, u32)> {
    let text = manscdp::decode(body).ok()?;
    let root = manscdp::parse_tree(&text).ok()?;
    if root.name != "Query" {
        return None;
    }
    Some((
        root.child_text("CmdType")?.trim().to_string(),
        root.child_text("SN")?.trim().parse().ok()?,
    ))
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
