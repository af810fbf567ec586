//! When to ask each registered peer for its DeviceStatus (and, once per registration, its
//! DeviceInfo): the recording-health fact comes from these answers (`Record`, `Encode`,
//! `Status`). Pure, on injected time (Unix seconds).
//!
//! Rules:
//! - A peer that comes online is polled first within `min(interval, 60 s)` of its
//!   registration (DeviceInfo and DeviceStatus), then DeviceStatus every `interval`, each gap
//!   stretched or shrunk by up to 10 % (jitter), so a fleet that registered in one storm does
//!   not answer in one storm for ever after.
//! - At most `at_once` polls wait for their answer at the same time; due polls beyond that wait
//!   for a slot (oldest due first). A poll's slot is freed by the answer, by its transaction
//!   timing out (the platform says so) or, as a backstop, [`SLOT_TIMEOUT_SEC`] after it went.
//!   The platform asks for the due polls at each tick and again after each answer, so a freed
//!   slot goes to the next poll at once: the pace is `at_once` per answer's round trip, not
//!   `at_once` per tick.
//! - A peer going offline is forgotten; an unanswered poll is not an outage (liveness decides
//!   that), the next one simply follows at its time.
//!
//! Jitter is a function of the device code and the round, not of a random source, so every
//! instant is reproducible in tests. Bounded by the registered peers.

use std::collections::{BTreeSet, HashMap};

use camwatch_core::registry::DeviceCode;

/// A poll still unanswered after this long frees its slot (the transaction layer gives up at
/// 32 s; this only guards against an answer that never comes back to us by any path).
pub const SLOT_TIMEOUT_SEC: i64 = 64;
/// The first poll after a registration comes within this (or within the interval if shorter).
pub const FIRST_POLL_WITHIN_SEC: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// Seconds between DeviceStatus polls of one peer; 0: no polls.
    pub interval_sec: u32,
    /// Polls waiting for their answer at once.
    pub at_once: usize,
}

/// What freed a poll's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freed {
    Answered,
    /// The query's transaction timed out (retransmissions included).
    TimedOut,
    /// No word by any path within [`SLOT_TIMEOUT_SEC`].
    Stuck,
}

/// One poll to send: the peer, and whether DeviceInfo goes with it (the first after a
/// registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub device: DeviceCode,
    pub with_info: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    due_at: i64,
    round: u32,
    /// When the poll in flight went (`None`: none in flight).
    sent_at: Option<i64>,
}

/// What the polls did since start, for benches and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    pub sent: u64,
    /// Slots freed by an answer, by the query's transaction timing out, by the backstop.
    pub answered: u64,
    pub timed_out: u64,
    pub stuck: u64,
    /// Seconds slots were held, summed over every freed slot.
    pub held_sec: i64,
}

#[derive(Debug)]
pub struct StatusPoll {
    cfg: PollConfig,
    stats: PollStats,
    peers: HashMap<DeviceCode, Entry>,
    /// (due_at, device) of peers with no poll in flight.
    queue: BTreeSet<(i64, DeviceCode)>,
    /// (sent_at, device) of the polls in flight, oldest first (for the backstop, which so
    /// looks at the stuck ones only, however often polls are sent).
    flying: BTreeSet<(i64, DeviceCode)>,
}

/// A number in `0..n` from the code and the round (FNV-1a), for jitter.
fn spread(device: &DeviceCode, round: u32, n: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in device.as_str().bytes().chain(round.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as i64
}

impl StatusPoll {
    pub fn new(cfg: PollConfig) -> Self {
        Self {
            cfg,
            peers: HashMap::new(),
            queue: BTreeSet::new(),
            flying: BTreeSet::new(),
            stats: PollStats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.interval_sec > 0
    }

    /// `device` came online at `now`: its first poll (with DeviceInfo) is scheduled.
    pub fn start(&mut self, device: DeviceCode, now: i64) {
        if !self.enabled() {
            return;
        }
        self.end(&device);
        let within = FIRST_POLL_WITHIN_SEC.min(i64::from(self.cfg.interval_sec));
        let due_at = now + spread(&device, 0, within);
        self.peers.insert(
            device,
            Entry {
                due_at,
                round: 0,
                sent_at: None,
            },
        );
        self.queue.insert((due_at, device));
    }

    /// `device` went offline: forgotten (its slot freed).
    pub fn end(&mut self, device: &DeviceCode) {
        if let Some(e) = self.peers.remove(device) {
            match e.sent_at {
                Some(sent) => self.flying.remove(&(sent, *device)),
                None => self.queue.remove(&(e.due_at, *device)),
            };
        }
    }

    /// The poll of `device` was answered, or its transaction timed out (`why`), at `now`: its
    /// slot is freed and the next poll scheduled `interval ± 10 %` after the one sent.
    pub fn done(&mut self, device: &DeviceCode, why: Freed, now: i64) {
        let Some(e) = self.peers.get_mut(device) else {
            return;
        };
        let Some(sent) = e.sent_at.take() else {
            return;
        };
        self.flying.remove(&(sent, *device));
        match why {
            Freed::Answered => self.stats.answered += 1,
            Freed::TimedOut => self.stats.timed_out += 1,
            Freed::Stuck => self.stats.stuck += 1,
        }
        self.stats.held_sec += (now - sent).max(0);
        tracing::debug!(%device, ?why, held_sec = now - sent, in_flight = self.flying.len(),
            "DeviceStatus poll slot freed");
        e.round = e.round.wrapping_add(1);
        let interval = i64::from(self.cfg.interval_sec);
        let tenth = (interval / 10).max(0);
        let due = sent + interval - tenth + spread(device, e.round, 2 * tenth + 1);
        e.due_at = due.max(sent + 1);
        self.queue.insert((e.due_at, *device));
    }

    /// The polls to send at `now`, within the bound of polls in flight.
    pub fn due(&mut self, now: i64) -> Vec<Poll> {
        // The backstop: polls whose answer never came back free their slot.
        while let Some(&(sent, d)) = self.flying.first() {
            if now - sent < SLOT_TIMEOUT_SEC {
                break;
            }
            self.done(&d, Freed::Stuck, now);
        }
        let mut out = Vec::new();
        while self.flying.len() < self.cfg.at_once.max(1) {
            let Some(&(at, device)) = self.queue.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.queue.pop_first();
            let e = self.peers.get_mut(&device).expect("queued peers are known");
            e.sent_at = Some(now);
            self.flying.insert((now, device));
            self.stats.sent += 1;
            out.push(Poll {
                device,
                with_info: e.round == 0,
            });
        }
        out
    }

    /// Polls waiting for their answer.
    pub fn in_flight(&self) -> usize {
        self.flying.len()
    }

    pub fn stats(&self) -> PollStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_800_000_000;

    fn code(n: u32) -> DeviceCode {
        format!("340200000013200{n:05}").parse().unwrap()
    }

    fn poll(interval: u32, at_once: usize) -> StatusPoll {
        StatusPoll::new(PollConfig {
            interval_sec: interval,
            at_once,
        })
    }

    #[test]
    fn first_poll_within_a_minute_with_info_then_status_every_interval() {
        let mut p = poll(600, 8);
        p.start(code(1), T0);
        let mut first = None;
        for t in T0..T0 + 60 {
            let due = p.due(t);
            if !due.is_empty() {
                assert_eq!(
                    due,
                    vec![Poll {
                        device: code(1),
                        with_info: true
                    }]
                );
                first = Some(t);
                break;
            }
        }
        let first = first.expect("polled within 60 s");
        // Nothing more while it is in flight.
        assert!(p.due(first + 30).is_empty());
        p.done(&code(1), Freed::Answered, first + 1);
        assert!(p.due(first + 539).is_empty());
        let mut next = None;
        for t in first + 540..=first + 660 {
            let due = p.due(t);
            if !due.is_empty() {
                assert!(!due[0].with_info, "DeviceInfo only once per registration");
                next = Some(t);
                break;
            }
        }
        let next = next.expect("polled again within interval ± 10 %");
        assert!((first + 540..=first + 660).contains(&next));
    }

    #[test]
    fn off_when_the_interval_is_zero() {
        let mut p = poll(0, 8);
        p.start(code(1), T0);
        assert!(p.due(T0 + 10_000).is_empty());
    }

    #[test]
    fn at_most_at_once_in_flight_and_stuck_slots_freed() {
        let mut p = poll(10, 3);
        for n in 0..10 {
            p.start(code(n), T0);
        }
        let sent = p.due(T0 + 10);
        assert_eq!(sent.len(), 3);
        assert_eq!(p.in_flight(), 3);
        assert!(p.due(T0 + 20).is_empty(), "no slot free");
        p.done(&sent[0].device, Freed::Answered, T0 + 20);
        assert_eq!(p.due(T0 + 20).len(), 1);
        // Never answered: freed at the backstop, the others go.
        assert_eq!(p.due(T0 + 10 + SLOT_TIMEOUT_SEC).len(), 2);
    }

    #[test]
    fn a_peer_going_offline_frees_its_slot_and_is_not_polled() {
        let mut p = poll(10, 1);
        p.start(code(1), T0);
        p.start(code(2), T0);
        let sent = p.due(T0 + 10);
        assert_eq!(sent.len(), 1);
        p.end(&sent[0].device);
        let other = p.due(T0 + 10);
        assert_eq!(other.len(), 1);
        assert_ne!(other[0].device, sent[0].device);
        p.end(&other[0].device);
        assert!(p.due(T0 + 1000).is_empty());
        assert_eq!(p.in_flight(), 0);
    }

    proptest! {
        /// Under any order of starts, answers, ends and time, the bound holds and the count of
        /// polls in flight matches the peers waiting for an answer.
        #[test]
        fn bound_and_counts_hold(ops in proptest::collection::vec((0u8..4, 0u32..6, 0i64..200), 0..200)) {
            let mut p = poll(30, 2);
            let mut now = T0;
            for (op, n, dt) in ops {
                now += dt;
                match op {
                    0 => p.start(code(n), now),
                    1 => p.done(&code(n), Freed::Answered, now),
                    2 => p.end(&code(n)),
                    _ => { p.due(now); }
                }
                prop_assert!(p.in_flight() <= 2);
                let waiting = p.peers.values().filter(|e| e.sent_at.is_some()).count();
                prop_assert_eq!(waiting, p.in_flight());
                let queued = p.peers.values().filter(|e| e.sent_at.is_none()).count();
                prop_assert_eq!(queued, p.queue.len());
                for (d, e) in &p.peers {
                    if let Some(sent) = e.sent_at {
                        prop_assert!(p.flying.contains(&(sent, *d)));
                    }
                }
            }
        }
    }
}
