//! When a peer's signalling facts are written to the store (so that they survive a restart):
//! pure bookkeeping over the platform's events, the writing itself is the caller's.
//!
//! - A change of **registration** (a presence transition), a **catalog** or a **DeviceInfo**
//!   answer makes the peer due at once.
//! - A **keepalive** only marks it: it is due once `min_gap_sec` (a minute) has passed since
//!   its facts were last written, so that 10,000 devices keeping alive every 60 s cost one
//!   batch a minute, not 170 writes a second.
//! - [`FactsFlush::due`] hands out each due peer once and notes the write; [`FactsFlush::all`]
//!   hands out every marked one (at shutdown).
//!
//! Invariants: a peer is handed out at most once per call; a marked peer is handed out by a
//! call at or after `written + min_gap_sec`; memory is bounded by the peers seen (the caller
//! passes only register devices' events).

use std::collections::{BTreeSet, HashMap};

use camwatch_core::registry::DeviceCode;

use crate::platform::GbEvent;

#[derive(Debug)]
pub struct FactsFlush {
    min_gap_sec: i64,
    /// When each peer's facts were last handed out for writing.
    written: HashMap<DeviceCode, i64>,
    /// Due at once.
    urgent: BTreeSet<DeviceCode>,
    /// Due once `min_gap_sec` has passed since the last write.
    marked: BTreeSet<DeviceCode>,
}

impl FactsFlush {
    pub fn new(min_gap_sec: i64) -> Self {
        Self {
            min_gap_sec: min_gap_sec.max(0),
            written: HashMap::new(),
            urgent: BTreeSet::new(),
            marked: BTreeSet::new(),
        }
    }

    /// The peer an event concerns and whether it makes the peer due at once; `None` for
    /// events that change no stored fact.
    pub fn concerns(e: &GbEvent) -> Option<(DeviceCode, bool)> {
        match e {
            GbEvent::Presence(t) => Some((t.device, true)),
            GbEvent::Catalog(c) => Some((c.device_id.parse().ok()?, true)),
            GbEvent::DeviceInfo { device, .. } => Some((*device, true)),
            GbEvent::Keepalive { device, .. } => Some((*device, false)),
            _ => None,
        }
    }

    /// Notes one event of the platform.
    pub fn note(&mut self, e: &GbEvent) {
        match Self::concerns(e) {
            Some((d, true)) => {
                self.marked.remove(&d);
                self.urgent.insert(d);
            }
            Some((d, false)) if !self.urgent.contains(&d) => {
                self.marked.insert(d);
            }
            _ => {}
        }
    }

    /// The peers to write at `now`, each once; their write is noted at `now`.
    pub fn due(&mut self, now: i64) -> Vec<DeviceCode> {
        let mut out: Vec<DeviceCode> = std::mem::take(&mut self.urgent).into_iter().collect();
        let gap = self.min_gap_sec;
        let written = &self.written;
        let (ready, wait): (BTreeSet<DeviceCode>, BTreeSet<DeviceCode>) =
            std::mem::take(&mut self.marked)
                .into_iter()
                .partition(|d| written.get(d).is_none_or(|w| now - w >= gap));
        self.marked = wait;
        out.extend(ready);
        for d in &out {
            self.written.insert(*d, now);
        }
        out
    }

    /// Every peer with something unwritten (at shutdown), each once.
    pub fn all(&mut self, now: i64) -> Vec<DeviceCode> {
        let mut out: Vec<DeviceCode> = std::mem::take(&mut self.urgent).into_iter().collect();
        out.extend(std::mem::take(&mut self.marked));
        for d in &out {
            self.written.insert(*d, now);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registrar::{Presence, Transition};

    fn code(n: u32) -> DeviceCode {
        format!("3402000000132{n:07}").parse().unwrap()
    }

    fn keepalive(n: u32) -> GbEvent {
        GbEvent::Keepalive {
            device: code(n),
            at: 0,
        }
    }

    fn online(n: u32) -> GbEvent {
        GbEvent::Presence(Transition {
            device: code(n),
            at: 0,
            presence: Presence::Online,
        })
    }

    #[test]
    fn registration_is_due_at_once_keepalives_once_a_minute() {
        let mut f = FactsFlush::new(60);
        f.note(&online(1));
        assert_eq!(f.due(100), [code(1)]);
        assert!(f.due(100).is_empty(), "handed out once");
        // Keepalives within the minute wait; the first write at or after it takes them.
        f.note(&keepalive(1));
        assert!(f.due(130).is_empty());
        f.note(&keepalive(1));
        assert!(f.due(159).is_empty());
        assert_eq!(f.due(160), [code(1)]);
        assert!(f.due(300).is_empty(), "nothing new since");
        // A device never written is due at its first keepalive.
        f.note(&keepalive(2));
        assert_eq!(f.due(301), [code(2)]);
        // A catalog or DeviceInfo does not wait for the minute.
        f.note(&keepalive(2));
        f.note(&GbEvent::DeviceInfo {
            device: code(2),
            info: crate::manscdp::Manscdp::Keepalive {
                sn: 1,
                device_id: code(2).to_string(),
                status: crate::manscdp::ChannelStatus::On,
            },
        });
        assert_eq!(f.due(302), [code(2)]);
        assert!(f.due(400).is_empty(), "the keepalive went with it");
    }

    #[test]
    fn everything_marked_goes_at_shutdown() {
        let mut f = FactsFlush::new(60);
        f.note(&keepalive(1));
        f.note(&keepalive(2));
        assert_eq!(f.due(0).len(), 2);
        f.note(&keepalive(1));
        f.note(&online(3));
        assert_eq!(f.all(10), [code(3), code(1)]);
        assert!(f.all(11).is_empty());
    }

    proptest::proptest! {
        /// Whatever the events and times: each call hands a peer out at most once, a marked
        /// peer waits at most the gap, and nothing noted is lost by the end.
        #[test]
        fn bounded_and_nothing_lost(ops in proptest::collection::vec((0u8..3, 0u32..5, 0i64..30), 0..200)) {
            let mut f = FactsFlush::new(60);
            let mut now = 0;
            let mut last: HashMap<DeviceCode, i64> = HashMap::new();
            let mut pending: BTreeSet<DeviceCode> = BTreeSet::new();
            for (op, n, dt) in ops {
                now += dt;
                match op {
                    0 => { f.note(&keepalive(n)); pending.insert(code(n)); }
                    1 => { f.note(&online(n)); pending.insert(code(n)); }
                    _ => {
                        let out = f.due(now);
                        let set: BTreeSet<_> = out.iter().copied().collect();
                        proptest::prop_assert_eq!(set.len(), out.len());
                        for d in out {
                            pending.remove(&d);
                            last.insert(d, now);
                        }
                        for d in &pending {
                            // Still waiting only within the gap of its last write.
                            let w = last.get(d).copied();
                            proptest::prop_assert!(w.is_some_and(|w| now - w < 60), "{d} waits");
                        }
                    }
                }
            }
            let rest: BTreeSet<_> = f.all(now).into_iter().collect();
            proptest::prop_assert_eq!(rest, pending);
        }
    }
}
