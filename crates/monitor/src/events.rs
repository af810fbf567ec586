//! The monitor's event stream: every status change, every change of a degraded device's picture
//! problem, (lighter) every failed probe and every suspicion that cleared before it was
//! confirmed, and every change of a GB/T 28181 peer's recording health (published by the
//! platform's side of `serve`, not by probing), as typed [`Event`]s carrying the device's register metadata and the [`Cause`].
//! Work orders, the API's server-sent events and anything else downstream subscribe here.
//!
//! ## Delivery
//! - **Bounded, never blocking.** Events go to a `tokio::sync::broadcast` ring of
//!   `capacity` events. Publishing never waits: a subscriber that falls more than `capacity`
//!   events behind loses the oldest and is told so by [`Received::Missed`] with how many and
//!   which sequence numbers, then carries on from the oldest event still held. Probing and the
//!   span writer never wait for a subscriber.
//! - **The span writer is not a subscriber.** The record contractors are paid by must never
//!   miss a change, so it is fed the same changes in the same order through its own unbounded
//!   queue (`lib.rs`), not through this ring.
//! - **Sequence numbers** increase by one per event from 1 for the life of the process. A
//!   consumer that missed events re-reads the live state of the devices it cares about
//!   ([`crate::MonitorState::device`]): it is the truth now, events are how it changed.
//! - **Resuming.** The bus also holds the latest `capacity` events for a reader that
//!   reconnects ([`EventBus::subscribe_after`]: the events after the last one it saw, then the
//!   live stream, with no gap and no repeat); when they are no longer all held, it is told so
//!   and re-reads the live state instead.
//!
//! ## A restart is not a new fault
//! When camwatch starts, it remembers each device whose latest record (within a week) is an
//! offline or degraded span that was closed: such a span was ended by a monitor stopping or
//! dying, never by a recovery, which would have opened the next span. The first status change
//! of such a device after the start, if it is to the same status, carries
//! [`StatusChange::continues`]: the start and cause of the span it continues across the gap.
//! A consumer treats a change with `continues` set as the fault it already knows (the work
//! order stays open) and one without as a new fault. The unwatched gap itself stays `unknown`
//! in the record; only the consumer's notion of "the same fault" is carried over.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use camwatch_core::cause::Cause;
use camwatch_core::history::Status;
use camwatch_core::outcome::FailureKind;
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_core::signalling::OnOff;
use tokio::sync::broadcast;

use crate::scheduler::ProbeClass;

/// What the register says about a device, as events and the live state carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMeta {
    pub code: DeviceCode,
    pub name: String,
    pub kind: DeviceKind,
    /// The 6-digit civil code (行政区划) of the device's region.
    pub region: String,
    /// The maintenance contractor (运维单位), when the register names one.
    pub maintainer: Option<String>,
    /// The NVR, encoder or platform the channel belongs to.
    pub parent: Option<DeviceCode>,
}

impl DeviceMeta {
    pub fn of(d: &Device) -> Self {
        Self {
            code: d.code,
            name: d.name.clone(),
            kind: d.kind,
            region: d.region().to_string(),
            maintainer: d.maintainer.clone(),
            parent: d.parent,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// 1, 2, 3, … for the life of the process.
    pub seq: u64,
    /// When it happened (Unix seconds): a status change's backdated start, a probe's start.
    pub at: i64,
    pub device: Arc<DeviceMeta>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The device's status changed: a span boundary in the record.
    Status(StatusChange),
    /// A degraded device's picture problem changed without a status change (blur became blur
    /// and noise, or cleared while the device is degraded for another reason).
    Picture { cause: Option<Cause> },
    /// A probe failed without (yet) changing the status: a suspicion being confirmed, or a
    /// device already known to be down still failing. Lighter: no record changes.
    ProbeFailed {
        class: ProbeClass,
        failure: FailureKind,
        /// The server's own words, where there were any.
        detail: String,
    },
    /// A suspicion cleared before it was confirmed: failures, then a success, no outage.
    Blip,
    /// A status change of a device another node probes, read from the spans that node wrote
    /// (docs/nodes.md): relayed so that every node's API and console show the whole fleet.
    /// Not this node's observation: the work-order engine, which acts on what its own node
    /// probes, ignores it. `continues` is never set.
    PeerStatus(StatusChange),
    /// A GB/T 28181 peer's recording health changed: its DeviceStatus answer's `Record`,
    /// `Encode` or `Status` differ from what was stored (or nothing was). No record changes:
    /// recording is no liveness status. `at` is the answer's time.
    Recording(RecordingChange),
}

/// A peer's recording health as it now stands (what `camwatch gb28181 recording` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingChange {
    pub record: OnOff,
    pub encode: OnOff,
    /// The device's own `Status` (`OK` on, `ERROR` off).
    pub status: OnOff,
    /// Since when `record` has had its value, across restarts.
    pub since: i64,
}

/// A status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Status,
    pub to: Status,
    pub cause: Option<Cause>,
    /// Set when this change continues, across a monitor restart, the fault the device had when
    /// camwatch last stopped watching (see the module doc).
    pub continues: Option<Continued>,
}

/// The span a change continues across an unwatched gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continued {
    /// When that span started.
    pub since: i64,
    pub cause: Option<Cause>,
}

/// What a subscriber receives. An event is shared, not copied, among the subscribers (a
/// thousand event streams read each one).
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Event(Arc<Event>),
    /// The subscriber fell behind: `count` events, from sequence number `first` on, were
    /// dropped for it. The next `recv` returns the oldest event still held.
    Missed {
        count: u64,
        first: u64,
    },
    /// The monitor has stopped; no more events.
    Closed,
}

/// The publishing side, held by the monitor.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// The latest events (at most the ring's capacity) and the last sequence number given.
    /// A sync lock: held for a push and a send, or for a copy of what a resuming reader
    /// needs; nothing awaits under it. Numbering, holding and sending under one lock keeps a
    /// resuming reader's replay and its live stream exactly adjacent.
    held: Arc<Mutex<Held>>,
}

#[derive(Debug)]
struct Held {
    events: VecDeque<Arc<Event>>,
    capacity: usize,
    /// The last sequence number given (0 before the first event).
    seq: u64,
}

impl EventBus {
    /// A bus holding the latest `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            held: Arc::new(Mutex::new(Held {
                events: VecDeque::with_capacity(capacity),
                capacity,
                seq: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().expect("event bus")
    }

    /// A new subscriber sees the events published from now on.
    pub fn subscribe(&self) -> Subscription {
        let h = self.lock();
        Subscription {
            rx: self.tx.subscribe(),
            next: h.seq + 1,
        }
    }

    /// A reader that saw every event up to `last` resumes: the events after it that the bus
    /// still holds, and a subscription to those that follow (no gap, no repeat). `None` for
    /// the events when some after `last` are no longer held, or `last` is not a number this
    /// bus gave (a reader of an earlier run): the reader must re-read the live state.
    pub fn subscribe_after(&self, last: u64) -> (Option<Vec<Arc<Event>>>, Subscription) {
        let h = self.lock();
        let sub = Subscription {
            rx: self.tx.subscribe(),
            next: h.seq + 1,
        };
        let oldest = h.events.front().map_or(h.seq + 1, |e| e.seq);
        let replay = (last <= h.seq && last + 1 >= oldest)
            .then(|| h.events.iter().filter(|e| e.seq > last).cloned().collect());
        (replay, sub)
    }

    /// The last sequence number given (0 before the first event).
    pub fn last_seq(&self) -> u64 {
        self.lock().seq
    }

    /// Publishes one event, numbering it; never waits. With no subscriber it is only held.
    /// The monitor's handler is the publisher; public so that a consumer's tests can drive it
    /// deterministically.
    pub fn publish(&self, at: i64, device: Arc<DeviceMeta>, kind: EventKind) {
        // Events of one device are published from one handler call at a time, so their order
        // is their numbers' order.
        let mut h = self.lock();
        h.seq += 1;
        let e = Arc::new(Event {
            seq: h.seq,
            at,
            device,
            kind,
        });
        if h.events.len() == h.capacity {
            h.events.pop_front();
        }
        h.events.push_back(e.clone());
        let _ = self.tx.send(e);
    }
}

/// One subscriber's view of the stream.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    /// The sequence number expected next (to say which were missed).
    next: u64,
}

impl Subscription {
    /// The sequence number just before the next event this subscription will receive: the
    /// reader has dealt with everything up to it.
    pub fn position(&self) -> u64 {
        self.next - 1
    }

    /// The next event, or what was missed, or that the stream is closed.
    pub async fn recv(&mut self) -> Received {
        let r = self.rx.recv().await;
        self.received(r)
    }

    /// What [`recv`](Self::recv) would return at once, or `None` when it would wait: a
    /// reader that batches drains what has arrived without being woken for each event.
    pub fn try_recv(&mut self) -> Option<Received> {
        use broadcast::error::{RecvError, TryRecvError};
        let r = match self.rx.try_recv() {
            Ok(e) => Ok(e),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
        Some(self.received(r))
    }

    fn received(&mut self, r: Result<Arc<Event>, broadcast::error::RecvError>) -> Received {
        match r {
            Ok(e) => {
                self.next = e.seq + 1;
                Received::Event(e)
            }
            Err(broadcast::error::RecvError::Lagged(count)) => {
                let first = self.next;
                self.next += count;
                Received::Missed { count, first }
            }
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Arc<DeviceMeta> {
        let d = &camwatch_core::registry::generate::generate(1, 1)[0];
        Arc::new(DeviceMeta::of(d))
    }

    #[tokio::test]
    async fn every_subscriber_gets_every_event_in_order() {
        let bus = EventBus::new(16);
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        for at in 0..5 {
            bus.publish(at, meta(), EventKind::Blip);
        }
        drop(bus);
        for s in [&mut a, &mut b] {
            for seq in 1..=5 {
                match s.recv().await {
                    Received::Event(e) => assert_eq!((e.seq, e.at), (seq, seq as i64 - 1)),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(s.recv().await, Received::Closed);
        }
    }

    /// A subscriber that does not read never holds up publishing; when it reads again it is
    /// told exactly which events it missed, then gets the ones still held.
    #[tokio::test]
    async fn a_lagging_subscriber_is_told_what_it_missed() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        for at in 0..10 {
            bus.publish(at, meta(), EventKind::Blip);
        }
        assert_eq!(slow.recv().await, Received::Missed { count: 6, first: 1 });
        for seq in 7..=10 {
            match slow.recv().await {
                Received::Event(e) => assert_eq!(e.seq, seq),
                other => panic!("{other:?}"),
            }
        }
    }

    /// A reader resuming after `last` gets what it missed while the bus still holds it, then
    /// the live stream without a gap or a repeat; once the ring has moved past, or for a
    /// number this bus never gave, it is told to re-read.
    #[tokio::test]
    async fn a_reader_resumes_after_its_last_event_while_held() {
        let bus = EventBus::new(4);
        for at in 0..6 {
            bus.publish(at, meta(), EventKind::Blip);
        }
        // Held: 3, 4, 5, 6.
        let (replay, mut sub) = bus.subscribe_after(3);
        let seqs: Vec<u64> = replay.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 5, 6]);
        bus.publish(6, meta(), EventKind::Blip);
        match sub.recv().await {
            Received::Event(e) => assert_eq!(e.seq, 7),
            other => panic!("{other:?}"),
        }
        assert_eq!(bus.subscribe_after(7).0.unwrap(), Vec::new());
        // Held now: 4, 5, 6, 7.
        assert_eq!(bus.subscribe_after(3).0.unwrap().len(), 4);
        assert!(bus.subscribe_after(2).0.is_none(), "3 is gone");
        assert!(bus.subscribe_after(8).0.is_none(), "never given");
        let empty = EventBus::new(4);
        assert_eq!(empty.subscribe_after(0).0.unwrap(), Vec::new());
        assert!(empty.subscribe_after(3).0.is_none());
        assert_eq!(bus.last_seq(), 7);
    }

    /// `try_recv` gives what `recv` would, without waiting: events, then what was missed,
    /// then `None` when nothing has arrived, and `Closed` once the bus is gone.
    #[test]
    fn try_recv_drains_what_has_arrived() {
        let bus = EventBus::new(2);
        let mut s = bus.subscribe();
        assert_eq!(s.try_recv(), None);
        bus.publish(0, meta(), EventKind::Blip);
        assert!(matches!(s.try_recv(), Some(Received::Event(e)) if e.seq == 1));
        assert_eq!(s.try_recv(), None);
        for at in 1..5 {
            bus.publish(at, meta(), EventKind::Blip);
        }
        assert_eq!(s.try_recv(), Some(Received::Missed { count: 2, first: 2 }));
        assert_eq!(s.position(), 3);
        assert!(matches!(s.try_recv(), Some(Received::Event(e)) if e.seq == 4));
        assert!(matches!(s.try_recv(), Some(Received::Event(e)) if e.seq == 5));
        assert_eq!(s.try_recv(), None);
        drop(bus);
        assert_eq!(s.try_recv(), Some(Received::Closed));
    }

    #[tokio::test]
    async fn a_late_subscriber_starts_at_the_next_event() {
        let bus = EventBus::new(4);
        bus.publish(0, meta(), EventKind::Blip);
        let mut s = bus.subscribe();
        bus.publish(1, meta(), EventKind::Blip);
        match s.recv().await {
            Received::Event(e) => assert_eq!(e.seq, 2),
            other => panic!("{other:?}"),
        }
    }
}
