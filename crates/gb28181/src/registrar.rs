//! The registrar and liveness of registered peers (devices, NVRs, lower platforms), as a pure
//! state machine on injected time (Unix seconds).
//!
//! A peer is **online** from a successful REGISTER until the first of: its registration expires
//! (`registered_at + expires`), it unregisters (`Expires: 0`), or it misses `misses` keepalives
//! in a row (no keepalive, nor a re-REGISTER, for `interval × misses` seconds after the last
//! sign of life: 60 s × 3 by default, or the values configured for that peer). A keepalive from
//! a peer that is not registered does not make it online: GB/T 28181 requires it to register
//! first, and the platform answers such a keepalive with an error so that it does.
//!
//! Invariants: at any `now`, [`Registrar::presence`] is a function of the recorded facts and
//! `now` alone, so [`Registrar::tick`] may be called at any cadence (even late) and reports
//! each going-offline once, at the instant it happened (not at the instant it was noticed).
//! Time never runs backwards here: an earlier `now` than one already seen is treated as that
//! one.
//!
//! Must not: do I/O, read a clock, or know SIP (the platform maps messages to these calls).

use std::collections::HashMap;

use camwatch_core::registry::DeviceCode;

/// How often a peer sends keepalives and how many may be missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub interval_sec: u32,
    pub misses: u32,
}

impl Default for Liveness {
    /// GB/T 28181's defaults: a keepalive every 60 s, offline after 3 missed.
    fn default() -> Self {
        Self {
            interval_sec: 60,
            misses: 3,
        }
    }
}

impl Liveness {
    /// Seconds of silence after which the peer is offline.
    pub fn window_sec(self) -> i64 {
        i64::from(self.interval_sec.max(1)) * i64::from(self.misses.max(1))
    }
}

/// Why a peer is not online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfflineReason {
    /// It never registered (or not since the platform started).
    NeverRegistered,
    /// It sent REGISTER with `Expires: 0`.
    Unregistered,
    /// Its registration ran out without a re-REGISTER.
    Expired,
    /// It stopped sending keepalives.
    KeepaliveLost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Online,
    Offline(OfflineReason),
}

/// A change of a peer's presence, at the instant it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub device: DeviceCode,
    pub at: i64,
    pub presence: Presence,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    registered_at: i64,
    expires_at: i64,
    /// The last sign of life: registration or keepalive.
    last_alive: i64,
    last_keepalive: Option<i64>,
    /// What `tick` last reported (or what the last call made it), so each change is told once.
    reported: Presence,
    /// Set by `Expires: 0`; cleared by the next registration.
    unregistered_at: Option<i64>,
}

/// What the registrar knows about one peer, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerState {
    pub presence: Presence,
    pub registered_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_keepalive: Option<i64>,
    /// When it goes offline if nothing more arrives (`None` when already offline).
    pub deadline: Option<i64>,
    /// When it went offline (`None` while online, or never registered).
    pub offline_since: Option<i64>,
    /// Its last sign of life: a registration or a keepalive.
    pub last_alive: Option<i64>,
    /// The keepalive rule in force for it.
    pub liveness: Liveness,
}

/// The answer to a keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveResult {
    Accepted,
    /// Not registered (or its registration ended): it must REGISTER first.
    NotRegistered,
}

#[derive(Debug, Clone, Default)]
pub struct Registrar {
    default_liveness: Liveness,
    liveness: HashMap<DeviceCode, Liveness>,
    peers: HashMap<DeviceCode, Entry>,
    now: i64,
}

impl Registrar {
    pub fn new(default_liveness: Liveness) -> Self {
        Self {
            default_liveness,
            ..Default::default()
        }
    }

    /// Overrides the keepalive interval and misses of one peer.
    pub fn set_liveness(&mut self, device: DeviceCode, liveness: Liveness) {
        self.liveness.insert(device, liveness);
    }

    pub fn liveness(&self, device: &DeviceCode) -> Liveness {
        self.liveness
            .get(device)
            .copied()
            .unwrap_or(self.default_liveness)
    }

    fn advance(&mut self, now: i64) -> i64 {
        self.now = self.now.max(now);
        self.now
    }

    /// An authenticated REGISTER with `expires_sec` (0: unregister). Returns the transitions it
    /// causes: a silent going-offline not yet reported (at its own instant), then this one.
    pub fn register(&mut self, device: DeviceCode, now: i64, expires_sec: u32) -> Vec<Transition> {
        let now = self.advance(now);
        let mut out: Vec<Transition> = self.report(device, now).into_iter().collect();
        if expires_sec == 0 {
            if let Some(e) = self.peers.get_mut(&device) {
                e.unregistered_at.get_or_insert(now);
                out.extend(self.report(device, now));
            }
            return out;
        }
        let online = self.presence(&device, now) == Presence::Online;
        let e = self.peers.entry(device).or_insert(Entry {
            registered_at: now,
            expires_at: now,
            last_alive: now,
            last_keepalive: None,
            reported: Presence::Offline(OfflineReason::NeverRegistered),
            unregistered_at: None,
        });
        if !online {
            e.registered_at = now;
        }
        e.expires_at = now.saturating_add(i64::from(expires_sec));
        e.last_alive = now;
        e.unregistered_at = None;
        out.extend(self.report(device, now));
        out
    }

    /// A keepalive from `device`.
    pub fn keepalive(&mut self, device: DeviceCode, now: i64) -> KeepaliveResult {
        let now = self.advance(now);
        if self.presence(&device, now) != Presence::Online {
            return KeepaliveResult::NotRegistered;
        }
        if let Some(e) = self.peers.get_mut(&device) {
            e.last_alive = now;
            e.last_keepalive = Some(now);
        }
        KeepaliveResult::Accepted
    }

    /// Whether `device` is online at `now`, and if not why.
    pub fn presence(&self, device: &DeviceCode, now: i64) -> Presence {
        let Some(e) = self.peers.get(device) else {
            return Presence::Offline(OfflineReason::NeverRegistered);
        };
        self.presence_of(device, e, now).0
    }

    /// Presence and the instant it began (for offline) or the deadline (for online).
    fn presence_of(&self, device: &DeviceCode, e: &Entry, now: i64) -> (Presence, i64) {
        if let Some(at) = e.unregistered_at {
            return (Presence::Offline(OfflineReason::Unregistered), at);
        }
        let silent_at = e
            .last_alive
            .saturating_add(self.liveness(device).window_sec());
        if e.expires_at <= silent_at && now >= e.expires_at {
            (Presence::Offline(OfflineReason::Expired), e.expires_at)
        } else if now >= silent_at {
            (Presence::Offline(OfflineReason::KeepaliveLost), silent_at)
        } else if now >= e.expires_at {
            (Presence::Offline(OfflineReason::Expired), e.expires_at)
        } else {
            (Presence::Online, silent_at.min(e.expires_at))
        }
    }

    fn report(&mut self, device: DeviceCode, now: i64) -> Option<Transition> {
        let e = self.peers.get(&device)?;
        let (presence, since) = self.presence_of(&device, e, now);
        if presence == e.reported {
            return None;
        }
        let at = if presence == Presence::Online {
            now
        } else {
            since
        };
        self.peers.get_mut(&device)?.reported = presence;
        Some(Transition {
            device,
            at,
            presence,
        })
    }

    /// Every change not yet reported at `now` (peers that went silent or expired), each at the
    /// instant it happened.
    pub fn tick(&mut self, now: i64) -> Vec<Transition> {
        let now = self.advance(now);
        let devices: Vec<DeviceCode> = self.peers.keys().copied().collect();
        let mut out: Vec<Transition> = devices
            .into_iter()
            .filter_map(|d| self.report(d, now))
            .collect();
        out.sort_by_key(|t| (t.at, t.device));
        out
    }

    /// The earliest instant at which some online peer goes offline if nothing arrives.
    pub fn next_deadline(&self) -> Option<i64> {
        self.peers
            .iter()
            .filter_map(|(d, e)| match self.presence_of(d, e, self.now) {
                (Presence::Online, deadline) => Some(deadline),
                _ => None,
            })
            .min()
    }

    pub fn state(&self, device: &DeviceCode, now: i64) -> PeerState {
        match self.peers.get(device) {
            None => PeerState {
                presence: Presence::Offline(OfflineReason::NeverRegistered),
                registered_at: None,
                expires_at: None,
                last_keepalive: None,
                deadline: None,
                offline_since: None,
                last_alive: None,
                liveness: self.liveness(device),
            },
            Some(e) => {
                let (presence, at) = self.presence_of(device, e, now);
                PeerState {
                    presence,
                    registered_at: Some(e.registered_at),
                    expires_at: Some(e.expires_at),
                    last_keepalive: e.last_keepalive,
                    deadline: (presence == Presence::Online).then_some(at),
                    offline_since: (presence != Presence::Online).then_some(at),
                    last_alive: Some(e.last_alive),
                    liveness: self.liveness(device),
                }
            }
        }
    }

    /// Whether `device` ever registered (since start).
    pub fn knows(&self, device: &DeviceCode) -> bool {
        self.peers.contains_key(device)
    }

    /// Every peer ever registered (since start).
    pub fn devices(&self) -> impl Iterator<Item = &DeviceCode> {
        self.peers.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(n: u32) -> DeviceCode {
        format!("340200000013200{n:05}").parse().unwrap()
    }

    const T0: i64 = 1_800_000_000;

    #[test]
    fn register_keepalive_and_silence() {
        let mut r = Registrar::new(Liveness::default());
        let d = code(1);
        let t = r.register(d, T0, 3600)[0];
        assert_eq!((t.at, t.presence), (T0, Presence::Online));
        assert_eq!(r.keepalive(d, T0 + 60), KeepaliveResult::Accepted);
        // Last keepalive at T0+60: offline at T0+60+180, not a second before.
        assert!(r.tick(T0 + 239).is_empty());
        assert_eq!(r.presence(&d, T0 + 239), Presence::Online);
        let t = r.tick(T0 + 240);
        assert_eq!(
            t,
            vec![Transition {
                device: d,
                at: T0 + 240,
                presence: Presence::Offline(OfflineReason::KeepaliveLost)
            }]
        );
        // Told once.
        assert!(r.tick(T0 + 1000).is_empty());
        // A keepalive does not bring it back: it must register.
        assert_eq!(r.keepalive(d, T0 + 1001), KeepaliveResult::NotRegistered);
        let t = r.register(d, T0 + 1002, 3600)[0];
        assert_eq!((t.at, t.presence), (T0 + 1002, Presence::Online));
    }

    #[test]
    fn a_late_tick_backdates_to_the_instant() {
        let mut r = Registrar::new(Liveness::default());
        let d = code(2);
        r.register(d, T0, 3600);
        let t = r.tick(T0 + 5000);
        assert_eq!(t[0].at, T0 + 180);
    }

    #[test]
    fn expiry_and_unregister() {
        let mut r = Registrar::new(Liveness {
            interval_sec: 10,
            misses: 100,
        });
        let d = code(3);
        r.register(d, T0, 60);
        r.keepalive(d, T0 + 50);
        assert_eq!(
            r.tick(T0 + 61)[0].presence,
            Presence::Offline(OfflineReason::Expired)
        );
        assert_eq!(r.tick(T0 + 61).len(), 0);
        r.register(d, T0 + 100, 60);
        r.register(d, T0 + 130, 60); // re-register: no transition, later expiry
        assert_eq!(r.state(&d, T0 + 130).expires_at, Some(T0 + 190));
        assert_eq!(r.state(&d, T0 + 130).registered_at, Some(T0 + 100));
        let t = r.register(d, T0 + 140, 0)[0];
        assert_eq!(
            (t.at, t.presence),
            (T0 + 140, Presence::Offline(OfflineReason::Unregistered))
        );
        assert!(r.register(code(4), T0, 0).is_empty(), "unknown unregister");
    }

    #[test]
    fn a_silent_outage_is_reported_when_it_registers_again() {
        let mut r = Registrar::new(Liveness::default());
        let d = code(6);
        r.register(d, T0, 3600);
        let t = r.register(d, T0 + 1000, 3600);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].at, t[0].presence),
            (T0 + 180, Presence::Offline(OfflineReason::KeepaliveLost))
        );
        assert_eq!((t[1].at, t[1].presence), (T0 + 1000, Presence::Online));
    }

    #[test]
    fn per_device_liveness() {
        let mut r = Registrar::new(Liveness::default());
        let d = code(5);
        r.set_liveness(
            d,
            Liveness {
                interval_sec: 30,
                misses: 2,
            },
        );
        r.register(d, T0, 3600);
        assert_eq!(r.next_deadline(), Some(T0 + 60));
        assert_eq!(r.tick(T0 + 60)[0].at, T0 + 60);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Register(u8, u16),
        Unregister(u8),
        Keepalive(u8),
        Tick,
    }

    fn op() -> impl Strategy<Value = (u16, Op)> {
        (
            0u16..400,
            prop_oneof![
                (0u8..4, 1u16..400).prop_map(|(d, e)| Op::Register(d, e)),
                (0u8..4).prop_map(Op::Unregister),
                (0u8..4).prop_map(Op::Keepalive),
                Just(Op::Tick),
            ],
        )
    }

    proptest! {
        /// Reported transitions alternate per device (never online twice in a row, never the
        /// same offline twice), their instants never go backwards, and a final late tick
        /// leaves every device as `presence` says.
        #[test]
        fn transitions_are_consistent(ops in proptest::collection::vec(op(), 0..60)) {
            let mut r = Registrar::new(Liveness { interval_sec: 20, misses: 3 });
            let mut now = T0;
            let mut all = Vec::new();
            for (dt, op) in ops {
                now += i64::from(dt);
                match op {
                    Op::Register(d, e) => all.extend(r.register(code(u32::from(d)), now, u32::from(e))),
                    Op::Unregister(d) => all.extend(r.register(code(u32::from(d)), now, 0)),
                    Op::Keepalive(d) => { let _ = r.keepalive(code(u32::from(d)), now); }
                    Op::Tick => all.extend(r.tick(now)),
                }
                prop_assert!(r.next_deadline().is_none_or(|d| d > now));
            }
            all.extend(r.tick(now + 100_000));
            for d in 0..4u32 {
                let mine: Vec<_> = all.iter().filter(|t| t.device == code(d)).collect();
                for w in mine.windows(2) {
                    prop_assert_ne!(w[0].presence, w[1].presence);
                    prop_assert!(w[0].at <= w[1].at, "{:?}", mine);
                }
                if let Some(last) = mine.last() {
                    prop_assert_eq!(last.presence, r.presence(&code(d), now + 100_000));
                    prop_assert_ne!(last.presence, Presence::Online);
                }
            }
        }
    }
}
