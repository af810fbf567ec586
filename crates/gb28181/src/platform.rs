//! The platform's decisions: one SIP message in (bytes, from which peer, at what time), the
//! replies and requests to send and the events to publish out. Pure, so that every exchange,
//! including hours of keepalives and their absence, is tested without sockets or real time.
//!
//! What it answers:
//! - REGISTER: `401` with a digest challenge, then `200` (with `Expires`) for the right
//!   password, `403` for a wrong one or a username other than the From ID; `Expires: 0`
//!   unregisters. A device not in the known set is recorded for review and, by policy,
//!   refused with `403` or accepted with the shared password. A new registration is followed by
//!   a Catalog query.
//! - MESSAGE: a Keepalive from a registered device `200`, from one that is not `403` (so it
//!   registers again); a Catalog page `200`, collected until complete; DeviceInfo and
//!   DeviceStatus responses `200`, published; a body we cannot read `400` naming the fault.
//! - Responses to our own requests are accepted silently; anything else `405`/`501`.
//!
//! Invariants: work per message is bounded by the message size; per-peer state (unknown
//! devices, rate windows) is bounded in count; a peer sending too much is dropped for the rest
//! of the second without an answer, so it cannot crowd out the others.
//!
//! Must not: do I/O, read a clock, log a password, or decide a device's debounced status.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use camwatch_core::health::PictureSample;
use camwatch_core::quality::FaultSet;
use camwatch_core::registry::DeviceCode;
use camwatch_core::secret::Password;

use crate::catalog::{Catalog, Collector};
use crate::digest::{self, Credentials, NonceCheck, Nonces};
use crate::manscdp::{self, CatalogEvent, CatalogItem, ChannelStatus, Manscdp, Query};
use crate::nonce_count::{NcCheck, NonceCounts};
use crate::outcomes::{ChannelFault, SipObservation, channel_outcome, peer_outcome};
use crate::registrar::{KeepaliveResult, Liveness, PeerState, Presence, Registrar, Transition};
use crate::sip::{self, InRequest, Inbound, Method, OutRequest};
use crate::status_poll::{Freed, PollConfig, PollStats, StatusPoll};
use crate::subscription::{SubState, SubscribeRequest, Subscriptions};
use crate::transaction::TxKey;

/// The registration lifetime granted when a REGISTER asks for none, and the longest granted.
pub const DEFAULT_EXPIRES_SEC: u32 = 3600;
pub const MAX_EXPIRES_SEC: u32 = 86_400;
/// The most unknown devices remembered for review (oldest forgotten first).
pub const MAX_UNKNOWN: usize = 10_000;
/// Messages accepted from one IP address per second before the rest are dropped. A device
/// sends a few per minute; a lower platform answering a big catalog a few hundred per second.
pub const MAX_MESSAGES_PER_SEC: u32 = 1000;
/// Events held for the consumer; beyond this the oldest are dropped (and counted).
pub const MAX_EVENTS: usize = 100_000;

/// What to do with a device that registers but is not in the register (the config's closed
/// set, used as is).
pub use camwatch_core::config::UnknownDevices as UnknownPolicy;

#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// camwatch's own 20-digit SIP ID.
    pub id: String,
    /// The SIP domain (10 digits by convention); also the digest realm.
    pub domain: String,
    /// The password of every device without one of its own.
    pub shared_password: Option<Password>,
    pub passwords: HashMap<DeviceCode, Password>,
    /// Devices expected to register (from the register); others are unknown.
    pub known: HashSet<DeviceCode>,
    pub unknown: UnknownPolicy,
    pub liveness: Liveness,
    pub per_device_liveness: HashMap<DeviceCode, Liveness>,
    /// The lifetime asked for the catalog subscription made to each peer that registers
    /// (seconds; 0: no subscriptions).
    pub catalog_subscription_sec: u32,
    /// DeviceStatus polls of every registered peer (`crate::status_poll`; interval 0: none).
    pub status_poll: PollConfig,
    /// Peers whose catalog only the holder of their `catalog:<code>` lease may sync (query,
    /// subscribe to, write into the register): with several nodes, the register's NVRs and
    /// lower platforms. The platform syncs one of them only while told it holds the lease
    /// ([`Platform::hold_catalog`]); every other peer's catalog it syncs freely.
    pub catalog_leased: HashSet<DeviceCode>,
    /// The zone of the `Date` header in the 200 to a REGISTER (devices set their clocks by it).
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            id: "34020000002000000001".into(),
            domain: "3402000000".into(),
            shared_password: None,
            passwords: HashMap::new(),
            known: HashSet::new(),
            unknown: UnknownPolicy::default(),
            liveness: Liveness::default(),
            per_device_liveness: HashMap::new(),
            catalog_subscription_sec: 0,
            status_poll: PollConfig {
                interval_sec: 0,
                at_once: 64,
            },
            catalog_leased: HashSet::new(),
            time_zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC),
        }
    }
}

/// Where a message came from and where its answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Udp(SocketAddr),
    /// A TCP connection (its number in this process) and its remote address.
    Tcp(u64, SocketAddr),
}

impl Peer {
    pub fn addr(self) -> SocketAddr {
        match self {
            Self::Udp(a) | Self::Tcp(_, a) => a,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Peer,
    pub bytes: Vec<u8>,
    /// A request of ours (not a response): the transaction to track it under, sent again over
    /// UDP until answered (`crate::transaction`), and what it is for.
    pub tx: Option<Tracked>,
}

/// A request the platform sent, as its transaction is tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub key: TxKey,
    pub what: Pending,
}

/// What a request of ours was for: given back when it goes unanswered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Query {
        device: DeviceCode,
        query: Query,
    },
    Subscribe {
        device: DeviceCode,
        call_id: String,
    },
    /// An INVITE for live video of `device` (a channel), in dialog `call_id`.
    Invite {
        device: DeviceCode,
        call_id: String,
    },
    /// The BYE ending that dialog.
    Bye {
        device: DeviceCode,
    },
}

impl Pending {
    pub fn device(&self) -> DeviceCode {
        match self {
            Self::Query { device, .. }
            | Self::Subscribe { device, .. }
            | Self::Invite { device, .. }
            | Self::Bye { device } => *device,
        }
    }
}

/// Why a REGISTER was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongPassword,
    /// The digest username is not the device's ID.
    UsernameMismatch,
    /// Unknown device under the refuse policy.
    Unknown,
    /// No password configured for this device (no shared one either).
    NoPassword,
}

/// What the platform tells the rest of camwatch.
#[derive(Debug, Clone, PartialEq)]
pub enum GbEvent {
    /// A peer came online or went offline (at the instant it happened).
    Presence(Transition),
    Keepalive {
        device: DeviceCode,
        at: i64,
    },
    /// A catalog, complete or (after its deadline) partial.
    Catalog(Catalog),
    DeviceInfo {
        device: DeviceCode,
        info: Manscdp,
    },
    DeviceStatus {
        device: DeviceCode,
        status: Manscdp,
    },
    /// A peer's recording health changed (`Record`, `Encode` or `Status` of its DeviceStatus
    /// answer), or was heard for the first time since start (`previous` is `None`).
    Recording {
        device: DeviceCode,
        previous: Option<camwatch_core::signalling::RecordingFacts>,
        now: camwatch_core::signalling::RecordingFacts,
    },
    Refused {
        device: DeviceCode,
        from: SocketAddr,
        why: Refusal,
        at: i64,
    },
    /// A catalog NOTIFY from `source` under its subscription: every change as the device
    /// sent it (ADD and UPDATE to sync into the register like a partial catalog, DEL to flag).
    /// ON, OFF, VLOST and DEFECT are already in the platform's view of the channels.
    CatalogNotify {
        source: DeviceCode,
        at: i64,
        changes: Vec<(CatalogEvent, CatalogItem)>,
    },
    /// A device not in the register tried to register (every attempt, for the review list;
    /// whether it was refused follows as `Refused`).
    Unknown {
        device: DeviceCode,
        from: SocketAddr,
        at: i64,
    },
    /// A request of ours got no final answer within its transaction's timeout (64·T1, 32 s),
    /// retransmissions over UDP included.
    NoAnswer {
        what: Pending,
        at: i64,
    },
}

/// A device that tried to register without being in the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDevice {
    pub first_seen: i64,
    pub last_seen: i64,
    pub from: SocketAddr,
    pub attempts: u64,
}

#[derive(Debug)]
pub struct Platform {
    cfg: PlatformConfig,
    registrar: Registrar,
    nonces: Nonces,
    catalogs: Collector,
    /// Where each registered device was last heard from (requests to it go there).
    peers: HashMap<DeviceCode, Peer>,
    unknown: BTreeMap<DeviceCode, UnknownDevice>,
    /// Each catalog channel's parent and the Status the parent last reported for it.
    channels: HashMap<DeviceCode, (DeviceCode, ChannelStatus)>,
    /// Channels whose parent reported VLOST or DEFECT, until it reports them ON again.
    faults: HashMap<DeviceCode, ChannelFault>,
    subs: Subscriptions,
    /// What each peer's last catalog, DeviceInfo and DeviceStatus said, for diagnostics.
    facts: facts::Facts,
    /// When each registered peer is next asked for its DeviceStatus.
    polls: StatusPoll,
    /// Live-video dialogs (INVITE) opened by the picture probe, and the answers to hand it.
    invites: invite::Invites,
    /// Queries that went unanswered, asked again at the device's next keepalive (bounded by
    /// the registered devices: one entry per device and kind of query).
    requery: HashSet<(DeviceCode, Query)>,
    /// Leased peers (`PlatformConfig::catalog_leased`) whose lease this node holds.
    catalog_held: HashSet<DeviceCode>,
    /// Peers to subscribe to at their next keepalive (their lease came after they registered).
    subscribe_later: HashSet<DeviceCode>,
    rate: HashMap<IpAddr, (i64, u32)>,
    events: VecDeque<GbEvent>,
    dropped_events: u64,
    dropped_messages: u64,
    /// Our addresses as peers should answer them, per transport (`host:port`).
    via_udp: String,
    via_tcp: String,
    /// Tags, Call-IDs and branches are this prefix and a counter.
    prefix: u64,
    counter: u64,
    sn: u32,
    /// The instant of the message being handled, in milliseconds (for the `Date` header).
    now_ms: i64,
    /// Digest nonce counts of verified REGISTERs (replays refused).
    nonce_counts: NonceCounts,
}

impl Platform {
    pub fn new(cfg: PlatformConfig, nonces: Nonces, prefix: u64) -> Self {
        let mut registrar = Registrar::new(cfg.liveness);
        for (d, l) in &cfg.per_device_liveness {
            registrar.set_liveness(*d, *l);
        }
        let subs = Subscriptions::new(cfg.catalog_subscription_sec);
        let polls = StatusPoll::new(cfg.status_poll);
        Self {
            cfg,
            registrar,
            faults: HashMap::new(),
            subs,
            facts: facts::Facts::default(),
            polls,
            invites: invite::Invites::default(),
            requery: HashSet::new(),
            catalog_held: HashSet::new(),
            subscribe_later: HashSet::new(),
            nonces,
            catalogs: Collector::default(),
            peers: HashMap::new(),
            unknown: BTreeMap::new(),
            channels: HashMap::new(),
            rate: HashMap::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            dropped_messages: 0,
            via_udp: "127.0.0.1:5060".into(),
            via_tcp: "127.0.0.1:5060".into(),
            prefix,
            counter: 0,
            sn: 0,
            now_ms: 0,
            nonce_counts: NonceCounts::new(),
        }
    }

    /// Our local addresses, for the Via of requests we send.
    pub fn set_local(&mut self, udp: SocketAddr, tcp: SocketAddr) {
        self.via_udp = udp.to_string();
        self.via_tcp = tcp.to_string();
    }

    /// Whether this platform may sync `device`'s catalog (query it, subscribe to it, write it
    /// into the register): always, unless it is leased and this node does not hold its lease.
    pub fn may_sync_catalog(&self, device: &DeviceCode) -> bool {
        !self.cfg.catalog_leased.contains(device) || self.catalog_held.contains(device)
    }

    /// This node now holds (`true`) or no longer holds the `catalog:<device>` lease. Taken
    /// while the peer is registered, its catalog is asked for and subscribed to at its next
    /// keepalive (a keepalive proves it is there to answer); given up, nothing more is asked
    /// and its subscription is not refreshed.
    pub fn hold_catalog(&mut self, device: DeviceCode, held: bool, now: i64) {
        if held {
            if !self.catalog_held.insert(device) {
                return;
            }
            if self.registrar.state(&device, now).presence == Presence::Online {
                self.requery.insert((device, Query::Catalog));
                self.subscribe_later.insert(device);
            }
        } else if self.catalog_held.remove(&device) {
            self.requery.remove(&(device, Query::Catalog));
            self.subscribe_later.remove(&device);
            self.subs.end(&device);
        }
    }

    pub fn config(&self) -> &PlatformConfig {
        &self.cfg
    }

    /// Replaces the known set (the register changed).
    pub fn set_known(&mut self, known: HashSet<DeviceCode>) {
        self.cfg.known = known;
    }

    /// A device the register gained while the platform runs (a catalog listed it, here or on
    /// another node, or an import added it): it may register from now on (with `password`,
    /// else the shared one), and with `leased` (an NVR, encoder or lower platform, on a node
    /// of several) its catalog is synced only under its `catalog:<code>` lease, as for one
    /// that was in the register at start. Returns whether it became leased while online here
    /// (registered before it was in the register, unknown devices accepted): its duty is then
    /// wanted at once, its registration having come before the lease rule.
    pub fn learn_device(
        &mut self,
        device: DeviceCode,
        password: Option<Password>,
        leased: bool,
        now: i64,
    ) -> bool {
        self.cfg.known.insert(device);
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            self.cfg.passwords.insert(device, p);
        }
        leased
            && self.cfg.catalog_leased.insert(device)
            && self.registrar.state(&device, now).presence == Presence::Online
    }

    /// Takes the events published since the last call.
    pub fn take_events(&mut self) -> Vec<GbEvent> {
        self.events.drain(..).collect()
    }

    /// Events and messages dropped because a bound was reached.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_events, self.dropped_messages)
    }

    /// What the DeviceStatus polls did since start.
    pub fn poll_stats(&self) -> PollStats {
        self.polls.stats()
    }

    pub fn unknown_devices(&self) -> &BTreeMap<DeviceCode, UnknownDevice> {
        &self.unknown
    }

    pub fn state(&self, device: &DeviceCode, now: i64) -> PeerState {
        self.registrar.state(device, now)
    }

    /// What signalling says about `device` at `now`: as a registered peer, or as a channel in
    /// a parent's catalog (down with the parent as cause while the parent is offline); `None`
    /// when camwatch has heard of it neither way.
    pub fn observe(&self, device: &DeviceCode, now: i64) -> Option<SipObservation> {
        if self.registrar.knows(device) {
            return Some(peer_outcome(*device, self.registrar.presence(device, now)));
        }
        let (parent, status) = self.channels.get(device)?;
        channel_outcome(
            *device,
            *parent,
            self.registrar.presence(parent, now),
            *status,
        )
    }

    /// A picture fault the channel's parent reported for it (VLOST, DEFECT), while the parent
    /// is online and has not reported the channel OFF since; `None` otherwise.
    pub fn channel_fault(&self, device: &DeviceCode, now: i64) -> Option<ChannelFault> {
        let fault = *self.faults.get(device)?;
        let (parent, status) = self.channels.get(device)?;
        (self.registrar.presence(parent, now) == Presence::Online && *status != ChannelStatus::Off)
            .then_some(fault)
    }

    /// What the channel's parent says of its picture at `now`: its VLOST or DEFECT, or a
    /// normal picture when it reported none (or reported the channel ON since); `None` when
    /// `device` is no catalog channel, or its parent is offline, or it is OFF (liveness says
    /// all there is then).
    pub fn channel_picture(&self, device: &DeviceCode, now: i64) -> Option<PictureSample> {
        let (parent, status) = self.channels.get(device)?;
        if self.registrar.presence(parent, now) != Presence::Online || *status == ChannelStatus::Off
        {
            return None;
        }
        Some(match self.faults.get(device) {
            Some(f) => f.sample(),
            None => PictureSample::Diagnosed {
                faults: FaultSet::EMPTY,
                still: None,
            },
        })
    }

    /// Where the catalog subscription to `device` stands (`None`: none made).
    pub fn subscription(&self, device: &DeviceCode) -> Option<SubState> {
        self.subs.state(device)
    }

    fn learn_catalog(&mut self, c: &Catalog) {
        let Ok(parent) = c.device_id.parse::<DeviceCode>() else {
            return;
        };
        for item in &c.items {
            if let Ok(code) = item.device_id.parse::<DeviceCode>()
                && code != parent
            {
                self.channels.insert(code, (parent, item.status));
            }
        }
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.registrar.next_deadline()
    }

    fn publish(&mut self, e: GbEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(e);
    }

    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{:x}{:x}", self.prefix, self.counter)
    }

    fn over_rate(&mut self, ip: IpAddr, now: i64) -> bool {
        if self.rate.len() > 100_000 {
            self.rate.retain(|_, (second, _)| *second == now);
        }
        let w = self.rate.entry(ip).or_insert((now, 0));
        if w.0 != now {
            *w = (now, 0);
        }
        w.1 += 1;
        w.1 > MAX_MESSAGES_PER_SEC
    }

    /// Handles one message at `now` (Unix seconds); returns what to send.
    pub fn on_message(&mut self, bytes: &[u8], from: Peer, now: i64) -> Vec<Outgoing> {
        self.on_message_at(bytes, from, now.saturating_mul(1000))
    }

    /// Handles one message at `now_ms` (Unix milliseconds, which the `Date` header of a
    /// registration's 200 carries); returns what to send.
    pub fn on_message_at(&mut self, bytes: &[u8], from: Peer, now_ms: i64) -> Vec<Outgoing> {
        self.now_ms = now_ms;
        let now = now_ms.div_euclid(1000);
        if self.over_rate(from.addr().ip(), now) {
            self.dropped_messages += 1;
            return Vec::new();
        }
        let msg = match sip::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                // Nothing to answer: without a parsed Via there is nowhere to route a reply.
                tracing::debug!(peer = %from.addr(), error = %e, "unparsable SIP message");
                return Vec::new();
            }
        };
        let req = match msg {
            Inbound::Response(r) => {
                if r.common.cseq_method == Method::Invite {
                    return self.on_invite_response(&r);
                }
                if r.common.cseq_method == Method::Subscribe {
                    self.subs.answered(
                        &r.common.call_id,
                        r.status,
                        r.common.to_tag.as_deref(),
                        r.expires,
                        now,
                    );
                }
                if r.status >= 300 {
                    tracing::info!(peer = %from.addr(), status = r.status, method = %r.common.cseq_method,
                        "a peer refused our request");
                }
                return Vec::new();
            }
            Inbound::Request(r) => r,
        };
        let mut out = Vec::new();
        let reply =
            |out: &mut Vec<Outgoing>, status: u16, reason: &str, extra: &[(&str, String)]| {
                out.push(Outgoing {
                    to: from,
                    bytes: sip::response(&req, status, reason, &format!("{:x}", now), extra),
                    tx: None,
                })
            };
        let device: DeviceCode = match req.common.from_user.parse() {
            Ok(d) => d,
            Err(_) => {
                reply(
                    &mut out,
                    400,
                    "Bad Request",
                    &[("Warning", warning("From is not a 20-digit GB/T 28181 ID"))],
                );
                return out;
            }
        };
        match req.method {
            Method::Register => self.on_register(&req, device, from, now, &mut out),
            Method::Message | Method::Notify => {
                self.on_message_body(&req, device, from, now, &mut out)
            }
            Method::Ack => {}
            Method::Options => reply(&mut out, 200, "OK", &[]),
            // A device ending a live-video dialog (its stream stops; the probe sees no media).
            Method::Bye => {
                self.invites.peer_ended(&req.common.call_id);
                reply(&mut out, 200, "OK", &[])
            }
            _ => reply(&mut out, 501, "Not Implemented", &[]),
        }
        out
    }

    fn on_register(
        &mut self,
        req: &InRequest,
        device: DeviceCode,
        from: Peer,
        now: i64,
        out: &mut Vec<Outgoing>,
    ) {
        let tag = format!("{:x}", now);
        let mut reply = |status: u16, reason: &str, extra: &[(&str, String)]| {
            out.push(Outgoing {
                to: from,
                bytes: sip::response(req, status, reason, &tag, extra),
                tx: None,
            })
        };
        let known = self.cfg.known.contains(&device);
        if !known {
            let u = self.unknown.entry(device).or_insert(UnknownDevice {
                first_seen: now,
                last_seen: now,
                from: from.addr(),
                attempts: 0,
            });
            u.last_seen = now;
            u.from = from.addr();
            u.attempts += 1;
            self.publish(GbEvent::Unknown {
                device,
                from: from.addr(),
                at: now,
            });
            if self.unknown.len() > MAX_UNKNOWN
                && let Some(oldest) = self
                    .unknown
                    .iter()
                    .min_by_key(|(_, u)| u.last_seen)
                    .map(|(d, _)| *d)
            {
                self.unknown.remove(&oldest);
            }
            if self.cfg.unknown == UnknownPolicy::Refuse {
                reply(403, "Forbidden", &[]);
                self.refused(device, from, Refusal::Unknown, now);
                return;
            }
        }
        let challenge = |nonces: &Nonces, stale: bool| {
            digest::challenge(&self.cfg.domain, &nonces.issue(now), stale)
        };
        let Some(auth) = &req.authorization else {
            reply(
                401,
                "Unauthorized",
                &[("WWW-Authenticate", challenge(&self.nonces, false))],
            );
            return;
        };
        let creds = match Credentials::parse(auth) {
            Ok(c) => c,
            Err(e) => {
                reply(400, "Bad Request", &[("Warning", warning(&e.to_string()))]);
                return;
            }
        };
        match self.nonces.check(&creds.nonce, now) {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => {
                reply(
                    401,
                    "Unauthorized",
                    &[("WWW-Authenticate", challenge(&self.nonces, true))],
                );
                return;
            }
            NonceCheck::Invalid => {
                reply(
                    401,
                    "Unauthorized",
                    &[("WWW-Authenticate", challenge(&self.nonces, false))],
                );
                return;
            }
        }
        let password = self
            .cfg
            .passwords
            .get(&device)
            .or(self.cfg.shared_password.as_ref());
        let why = if creds.username != device.as_str() {
            Some(Refusal::UsernameMismatch)
        } else if let Some(p) = password {
            (!creds.verify("REGISTER", p.expose())).then_some(Refusal::WrongPassword)
        } else {
            Some(Refusal::NoPassword)
        };
        if let Some(why) = why {
            reply(403, "Forbidden", &[]);
            self.refused(device, from, why, now);
            return;
        }
        // The right password, but perhaps a captured REGISTER sent again: its nonce count must
        // be new (`crate::nonce_count`).
        match self
            .nonce_counts
            .take(&creds.username, &creds.nonce, creds.nc.as_deref(), now)
        {
            NcCheck::Fresh => {}
            NcCheck::Malformed => {
                reply(
                    400,
                    "Bad Request",
                    &[("Warning", warning("Authorization: nc is not 8 hex digits"))],
                );
                return;
            }
            check @ (NcCheck::Replayed | NcCheck::Full) => {
                tracing::warn!(%device, peer = %from.addr(), ?check,
                    "REGISTER with a nonce count already used: challenged again");
                reply(
                    401,
                    "Unauthorized",
                    &[("WWW-Authenticate", challenge(&self.nonces, false))],
                );
                return;
            }
        }
        let expires = req
            .expires
            .unwrap_or(DEFAULT_EXPIRES_SEC)
            .min(MAX_EXPIRES_SEC);
        let date = sip::gb_date(self.now_ms, &self.cfg.time_zone);
        reply(
            200,
            "OK",
            &[("Expires", expires.to_string()), ("Date", date)],
        );
        self.peers.insert(device, from);
        for t in self.registrar.register(device, now, expires) {
            let came_online = t.presence == Presence::Online;
            self.publish(GbEvent::Presence(t));
            if came_online {
                if self.may_sync_catalog(&device) {
                    let q = self.query(device, Query::Catalog);
                    out.extend(q);
                    out.extend(self.subscribe_anew(device, now));
                }
                self.polls.start(device, now);
            } else {
                self.subs.end(&device);
                self.subscribe_later.remove(&device);
                self.polls.end(&device);
            }
        }
    }

    fn refused(&mut self, device: DeviceCode, from: Peer, why: Refusal, at: i64) {
        tracing::info!(%device, peer = %from.addr(), ?why, "REGISTER refused");
        self.publish(GbEvent::Refused {
            device,
            from: from.addr(),
            why,
            at,
        });
    }

    fn on_message_body(
        &mut self,
        req: &InRequest,
        device: DeviceCode,
        from: Peer,
        now: i64,
        out: &mut Vec<Outgoing>,
    ) {
        let tag = format!("{:x}", now);
        let mut reply = |status: u16, reason: &str, extra: &[(&str, String)]| {
            out.push(Outgoing {
                to: from,
                bytes: sip::response(req, status, reason, &tag, extra),
                tx: None,
            })
        };
        let body = match manscdp::parse(&req.common.body) {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(%device, peer = %from.addr(), error = %e, "unreadable MANSCDP body");
                reply(400, "Bad Request", &[("Warning", warning(&e.to_string()))]);
                return;
            }
        };
        if matches!(body, Manscdp::Keepalive { .. }) {
            match self.registrar.keepalive(device, now) {
                KeepaliveResult::Accepted => {
                    self.peers.insert(device, from);
                    reply(200, "OK", &[]);
                    self.publish(GbEvent::Keepalive { device, at: now });
                    for query in [Query::Catalog, Query::DeviceInfo, Query::DeviceStatus] {
                        if self.requery.remove(&(device, query)) {
                            tracing::info!(%device, ?query, "GB/T 28181: asking again what went unanswered");
                            out.extend(self.query(device, query));
                        }
                    }
                    if self.subscribe_later.remove(&device) {
                        out.extend(self.subscribe_anew(device, now));
                    }
                }
                KeepaliveResult::NotRegistered => reply(403, "Forbidden", &[]),
            }
            return;
        }
        if !self
            .registrar
            .state(&device, now)
            .presence
            .eq(&crate::registrar::Presence::Online)
        {
            reply(403, "Forbidden", &[]);
            return;
        }
        reply(200, "OK", &[]);
        match body {
            Manscdp::CatalogPage {
                sn,
                device_id,
                sum_num,
                items,
            } => {
                self.facts.page(device, sn);
                match self.catalogs.page(&device_id, sn, sum_num, items, now) {
                    Ok(Some(c)) => {
                        self.facts.catalog(device, &c, now);
                        self.learn_catalog(&c);
                        self.publish(GbEvent::Catalog(c))
                    }
                    Ok(None) => {}
                    Err(e) => tracing::info!(%device, error = %e, "catalog refused"),
                }
            }
            Manscdp::CatalogNotify { items, .. } => self.on_catalog_notify(device, items, now),
            info @ Manscdp::DeviceInfo { .. } => {
                self.facts.info(device, &info, now);
                self.publish(GbEvent::DeviceInfo { device, info })
            }
            status @ Manscdp::DeviceStatus { .. } => {
                self.polls.done(&device, Freed::Answered, now);
                // The slot goes to the next poll due now, not at the next tick.
                out.extend(self.send_polls(now));
                if let Some((previous, now)) = self.facts.status(device, &status, now) {
                    self.publish(GbEvent::Recording {
                        device,
                        previous,
                        now,
                    });
                }
                self.publish(GbEvent::DeviceStatus { device, status })
            }
            Manscdp::Keepalive { .. } | Manscdp::Other { .. } => {}
        }
    }

    /// A catalog NOTIFY's changes: ON/OFF set the channel's Status under `parent` (counted only
    /// while the parent is online, as for catalogs), VLOST/DEFECT set its picture fault (ON
    /// clears it), ADD/UPDATE are learnt like catalog items, DEL forgets the channel here (the
    /// register flags it, never deletes). Bounded by the message size.
    fn on_catalog_notify(
        &mut self,
        parent: DeviceCode,
        items: Vec<(CatalogEvent, CatalogItem)>,
        now: i64,
    ) {
        for (event, item) in &items {
            let Ok(code) = item.device_id.parse::<DeviceCode>() else {
                continue;
            };
            if code == parent {
                continue;
            }
            let known = self.channels.get(&code).map(|(_, st)| *st);
            match event {
                CatalogEvent::On => {
                    self.channels.insert(code, (parent, ChannelStatus::On));
                    self.faults.remove(&code);
                }
                CatalogEvent::Off => {
                    self.channels.insert(code, (parent, ChannelStatus::Off));
                }
                CatalogEvent::VideoLost | CatalogEvent::Defect => {
                    let fault = if *event == CatalogEvent::VideoLost {
                        ChannelFault::VideoLost
                    } else {
                        ChannelFault::Defect
                    };
                    self.faults.insert(code, fault);
                    // Reporting a picture fault, the channel is there (and, for VLOST, online).
                    let status = known.unwrap_or(ChannelStatus::Unknown);
                    self.channels.insert(code, (parent, status));
                }
                CatalogEvent::Add | CatalogEvent::Update => {
                    let status = match (item.status, known) {
                        (ChannelStatus::Unknown, Some(k)) => k,
                        (s, _) => s,
                    };
                    self.channels.insert(code, (parent, status));
                }
                CatalogEvent::Del => {
                    self.channels.remove(&code);
                    self.faults.remove(&code);
                }
            }
        }
        self.publish(GbEvent::CatalogNotify {
            source: parent,
            at: now,
            changes: items,
        });
    }

    /// A new catalog subscription to `device`, if subscriptions are on and it was heard from.
    fn subscribe_anew(&mut self, device: DeviceCode, now: i64) -> Option<Outgoing> {
        if !self.subs.enabled() || !self.peers.contains_key(&device) {
            return None;
        }
        let (call_id, tag) = (format!("{}@camwatch", self.next_id()), self.next_id());
        let r = self.subs.start(device, call_id, tag, now)?;
        self.subscribe(&r)
    }

    /// The SUBSCRIBE for `r` (`Event: Catalog`, a Catalog query as its body).
    fn subscribe(&mut self, r: &SubscribeRequest) -> Option<Outgoing> {
        let to = *self.peers.get(&r.device)?;
        self.sn = self.sn.wrapping_add(1);
        let body = Query::Catalog.body(self.sn, r.device.as_str());
        let branch = self.next_id();
        let (via, transport) = match to {
            Peer::Udp(_) => (self.via_udp.clone(), "UDP"),
            Peer::Tcp(..) => (self.via_tcp.clone(), "TCP"),
        };
        let host = to.addr().to_string();
        let bytes = sip::request_with(
            &OutRequest {
                method: Method::Subscribe,
                to_user: r.device.as_str(),
                to_host: &host,
                from_user: &self.cfg.id,
                from_domain: &self.cfg.domain,
                via_host: &via,
                transport,
                branch: &branch,
                from_tag: &r.from_tag,
                to_tag: r.to_tag.as_deref(),
                call_id: &r.call_id,
                cseq: r.cseq,
                content_type: "Application/MANSCDP+xml",
            },
            &[
                ("Event", "Catalog".to_string()),
                ("Expires", r.expires.to_string()),
                ("Contact", format!("<sip:{}@{}>", self.cfg.id, via)),
            ],
            &body,
        );
        Some(Outgoing {
            to,
            bytes,
            tx: Some(Tracked {
                key: TxKey {
                    branch: format!("z9hG4bK{branch}"),
                    method: Method::Subscribe,
                },
                what: Pending::Subscribe {
                    device: r.device,
                    call_id: r.call_id.clone(),
                },
            }),
        })
    }

    /// A query MESSAGE to a registered device (none if it was never heard from).
    pub fn query(&mut self, device: DeviceCode, query: Query) -> Option<Outgoing> {
        let to = *self.peers.get(&device)?;
        self.sn = self.sn.wrapping_add(1);
        let body = query.body(self.sn, device.as_str());
        let (branch, tag, call_id) = (self.next_id(), self.next_id(), self.next_id());
        let (via, transport) = match to {
            Peer::Udp(_) => (self.via_udp.clone(), "UDP"),
            Peer::Tcp(..) => (self.via_tcp.clone(), "TCP"),
        };
        let host = to.addr().to_string();
        let bytes = sip::request(
            &OutRequest {
                method: Method::Message,
                to_user: device.as_str(),
                to_host: &host,
                from_user: &self.cfg.id,
                from_domain: &self.cfg.domain,
                via_host: &via,
                transport,
                branch: &branch,
                from_tag: &tag,
                to_tag: None,
                call_id: &format!("{call_id}@camwatch"),
                cseq: 1,
                content_type: "Application/MANSCDP+xml",
            },
            &body,
        );
        Some(Outgoing {
            to,
            bytes,
            tx: Some(Tracked {
                key: TxKey {
                    branch: format!("z9hG4bK{branch}"),
                    method: Method::Message,
                },
                what: Pending::Query { device, query },
            }),
        })
    }

    /// A request of ours went unanswered (its transaction timed out, retransmissions
    /// included): published as [`GbEvent::NoAnswer`]; an unanswered SUBSCRIBE counts as
    /// refused (`408`), so it is asked again later.
    pub fn no_answer(&mut self, what: Pending, now: i64) {
        tracing::info!(device = %what.device(), ?what, "GB/T 28181: our request got no answer");
        match &what {
            Pending::Subscribe { call_id, .. } => {
                self.subs.answered(call_id, 408, None, None, now);
            }
            Pending::Invite { call_id, .. } => self.invites.unanswered(call_id),
            Pending::Query { device, query } => {
                if *query == Query::DeviceStatus {
                    // Not an outage: the next poll follows at its time.
                    self.polls.done(device, Freed::TimedOut, now);
                }
                // Asked again when the device is next heard from (its keepalive), rather
                // than at its next registration.
                if self.registrar.knows(device) {
                    self.requery.insert((*device, *query));
                }
            }
            Pending::Bye { .. } => {}
        }
        self.publish(GbEvent::NoAnswer { what, at: now });
    }

    /// The DeviceStatus polls due at `now` within the bound of polls in flight (with DeviceInfo
    /// for a registration's first).
    fn send_polls(&mut self, now: i64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for poll in self.polls.due(now) {
            tracing::debug!(device = %poll.device, with_info = poll.with_info, "DeviceStatus poll sent");
            if poll.with_info {
                out.extend(self.query(poll.device, Query::DeviceInfo));
            }
            out.extend(self.query(poll.device, Query::DeviceStatus));
        }
        out
    }

    /// Time passes: publishes peers gone offline and catalogs given up as partial; returns
    /// the catalog subscriptions due (refreshes, and new ones where a peer refused before).
    pub fn tick(&mut self, now: i64) -> Vec<Outgoing> {
        for t in self.registrar.tick(now) {
            if t.presence != Presence::Online {
                self.subs.end(&t.device);
                self.polls.end(&t.device);
            }
            self.publish(GbEvent::Presence(t));
        }
        for c in self.catalogs.expire(now) {
            if let Ok(d) = c.device_id.parse::<DeviceCode>() {
                self.facts.catalog(d, &c, now);
            }
            self.learn_catalog(&c);
            self.publish(GbEvent::Catalog(c));
        }
        let mut out = self.send_polls(now);
        if self.subs.is_empty() {
            return out;
        }
        let (refresh, restart) = self.subs.due(now);
        for r in &refresh {
            out.extend(self.subscribe(r));
        }
        for d in restart {
            if self.registrar.presence(&d, now) == Presence::Online {
                out.extend(self.subscribe_anew(d, now));
            } else {
                self.subs.end(&d);
            }
        }
        out
    }
}

/// A `Warning` header value (RFC 3261 §20.43, code 399) carrying `text`: quotes and control
/// characters a peer's bytes may have put in an error message are replaced, and the length is
/// capped, so the text can neither break the header nor inject another.
fn warning(text: &str) -> String {
    let clean: String = text
        .chars()
        .take(200)
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect();
    format!("399 camwatch \"{clean}\"")
}

mod facts;
mod invite;
pub use invite::{Invite, InviteAnswer, InviteError, MAX_INVITES};

#[cfg(test)]
mod tests;
