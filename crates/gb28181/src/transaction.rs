//! Client transactions for the requests the platform sends (RFC 3261 §17.1): over UDP a request
//! is sent again until a final response or its timeout, and a response heard again is absorbed
//! instead of being acted on twice. Pure: time is passed in (milliseconds on the injected
//! clock) and the server shell sends what [`Transactions::due`] returns.
//!
//! The timers, with the RFC's names and values (T1 = [`T1_MS`], T2 = [`T2_MS`]):
//! - non-INVITE (MESSAGE, SUBSCRIBE, BYE), timers E and F: over UDP sent again T1 after the
//!   first send, then at doubling gaps capped at T2 (+0.5, +1.5, +3.5, +7.5, +11.5 s, … every
//!   4 s), every T2 once a provisional response came; no final response by 64·T1 (32 s) is a
//!   timeout. After the final response the transaction absorbs that response's retransmissions
//!   for T4 ([`T4_MS`], timer K), then ends.
//! - INVITE, timers A and B: over UDP sent again at doubling gaps with no cap (+0.5, +1.5,
//!   +3.5, +7.5, +15.5, +31.5 s); no response at all by 64·T1 is a timeout. A provisional
//!   response stops the retransmissions; the RFC then leaves the wait to the caller, so that a
//!   forgotten transaction cannot stay for ever this one ends as a timeout
//!   [`INVITE_PROCEEDING_MS`] later. A 2xx ends the transaction (the dialog's owner absorbs
//!   2xx retransmissions by sending its ACK again); a failure absorbs its retransmissions for
//!   32 s (timer D).
//! - Over TCP nothing is sent again (the transport is reliable) and a final response ends the
//!   transaction at once; the timeout still holds.
//!
//! Transactions are keyed by the top Via's branch and the CSeq method, as responses are
//! matched (§17.1.3). Each carries a payload of the caller's (what the request was for), given
//! back with a timeout, so the caller needs no index of its own.
//!
//! Invariants: every transaction has exactly one entry in the timer index, at its next
//! deadline; at most [`MAX_TRANSACTIONS`] are tracked (a request beyond that is sent once,
//! untracked). Must not: do I/O, read a clock, or interpret a response beyond its status.

use std::collections::{BTreeSet, HashMap};

use crate::platform::{Outgoing, Peer};
use crate::sip::Method;

/// RFC 3261's round-trip estimate, the first retransmission gap.
pub const T1_MS: i64 = 500;
/// The longest gap between retransmissions of a non-INVITE request.
pub const T2_MS: i64 = 4_000;
/// How long a network keeps a message: how long a completed non-INVITE transaction absorbs
/// retransmitted responses.
pub const T4_MS: i64 = 5_000;
/// Timers B and F: a request with no (final, for non-INVITE) response by then has timed out.
pub const TIMEOUT_MS: i64 = 64 * T1_MS;
/// Timer D: how long a failed INVITE absorbs its response's retransmissions.
pub const INVITE_COMPLETED_MS: i64 = 32_000;
/// An INVITE that got a provisional response but no final one ends this long after it.
pub const INVITE_PROCEEDING_MS: i64 = 180_000;
/// The most transactions tracked at once (10,000 devices each with a query and a
/// subscription out is 20,000).
pub const MAX_TRANSACTIONS: usize = 100_000;

/// What identifies a client transaction: the branch we put in the top Via (without the magic
/// cookie or with it: as written, consistently) and the request's method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxKey {
    pub branch: String,
    pub method: Method,
}

/// What a response meant to its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A provisional response (1xx) to a pending request: the caller may act on it.
    Provisional,
    /// The first final response: the caller acts on it.
    Final,
    /// A response heard again (or a late provisional one) after the final one: drop it.
    Absorbed,
    /// No transaction of ours: ended long ago, or never ours. The caller decides (RFC 3261
    /// drops stray responses; a late 2xx to an INVITE is its dialog's business).
    Stray,
}

/// What is due at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due<T> {
    /// Send this request again (the same bytes, to the same peer).
    Retransmit(Outgoing),
    /// No (final) response came in time: the request failed, with what it was for.
    TimedOut { key: TxKey, to: Peer, payload: T },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sent, no response yet (RFC: Trying for non-INVITE, Calling for INVITE).
    Trying,
    /// A provisional response came.
    Proceeding,
    /// The final response came; absorbing its retransmissions until the deadline.
    Completed,
}

#[derive(Debug)]
struct Tx<T> {
    key: TxKey,
    to: Peer,
    bytes: Vec<u8>,
    payload: Option<T>,
    state: State,
    /// When the request times out (timer B/F) or, completed, when the transaction ends.
    ends_at: i64,
    /// The next retransmission (UDP, still retransmitting) and the gap after it.
    resend_at: Option<i64>,
    gap: i64,
}

impl<T> Tx<T> {
    fn invite(&self) -> bool {
        self.key.method == Method::Invite
    }
    fn reliable(&self) -> bool {
        matches!(self.to, Peer::Tcp(..))
    }
    fn deadline(&self) -> i64 {
        self.resend_at.map_or(self.ends_at, |r| r.min(self.ends_at))
    }
}

/// The platform's open client transactions.
#[derive(Debug)]
pub struct Transactions<T> {
    txs: HashMap<u64, Tx<T>>,
    by_key: HashMap<TxKey, u64>,
    /// (deadline, id): the next instant each transaction needs attention.
    timers: BTreeSet<(i64, u64)>,
    next_id: u64,
    /// Requests sent again, for logs and benches.
    retransmissions: u64,
}

impl<T> Default for Transactions<T> {
    fn default() -> Self {
        Self {
            txs: HashMap::new(),
            by_key: HashMap::new(),
            timers: BTreeSet::new(),
            next_id: 0,
            retransmissions: 0,
        }
    }
}

impl<T> Transactions<T> {
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Requests sent again so far.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    /// The next instant [`Transactions::due`] has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// `request` (its bytes and peer) was just sent at `now`: track it. Returns false when it
    /// is not tracked (the table is full, or the key is in use: branches are unique per
    /// request, so that is the caller's bug, and the older transaction is kept).
    pub fn start(&mut self, key: TxKey, request: &Outgoing, payload: T, now: i64) -> bool {
        if self.txs.len() >= MAX_TRANSACTIONS || self.by_key.contains_key(&key) {
            return false;
        }
        let id = self.next_id;
        self.next_id += 1;
        let reliable = matches!(request.to, Peer::Tcp(..));
        let tx = Tx {
            key: key.clone(),
            to: request.to,
            bytes: if reliable {
                Vec::new()
            } else {
                request.bytes.clone()
            },
            payload: Some(payload),
            state: State::Trying,
            ends_at: now + TIMEOUT_MS,
            resend_at: (!reliable).then_some(now + T1_MS),
            gap: T1_MS,
        };
        self.timers.insert((tx.deadline(), id));
        self.by_key.insert(key, id);
        self.txs.insert(id, tx);
        true
    }

    /// Re-files transaction `id` after a change of its deadline (or removes it).
    fn refile(&mut self, id: u64, old_deadline: i64) {
        self.timers.remove(&(old_deadline, id));
        if let Some(tx) = self.txs.get(&id) {
            self.timers.insert((tx.deadline(), id));
        }
    }

    fn remove(&mut self, id: u64) -> Option<Tx<T>> {
        let tx = self.txs.remove(&id)?;
        self.timers.remove(&(tx.deadline(), id));
        self.by_key.remove(&tx.key);
        Some(tx)
    }

    /// A response with `status` to the request `key` arrived at `now`.
    pub fn on_response(&mut self, key: &TxKey, status: u16, now: i64) -> Seen {
        let Some(&id) = self.by_key.get(key) else {
            return Seen::Stray;
        };
        let tx = self.txs.get_mut(&id).expect("indexed transactions exist");
        let old = tx.deadline();
        let seen = match (tx.state, status) {
            (State::Completed, _) => Seen::Absorbed,
            (_, 100..=199) => {
                if tx.state == State::Trying {
                    tx.state = State::Proceeding;
                    if tx.invite() {
                        // Timer A stops; the caller's wait takes over, bounded here.
                        tx.resend_at = None;
                        tx.ends_at = now + INVITE_PROCEEDING_MS;
                    } else if let Some(at) = &mut tx.resend_at {
                        // Timer E: every T2 from now on (RFC 3261 §17.1.2.2).
                        tx.gap = T2_MS;
                        *at = (*at).min(now + T2_MS);
                    }
                }
                Seen::Provisional
            }
            _ => {
                tx.payload = None;
                tx.resend_at = None;
                tx.bytes = Vec::new();
                let linger = match (tx.reliable(), tx.invite(), status) {
                    (true, ..) => 0,
                    // A 2xx ends an INVITE transaction at once (RFC 3261 §17.1.1.2).
                    (false, true, 200..=299) => 0,
                    (false, true, _) => INVITE_COMPLETED_MS,
                    (false, false, _) => T4_MS,
                };
                if linger == 0 {
                    self.remove_at(id, old);
                    return Seen::Final;
                }
                tx.state = State::Completed;
                tx.ends_at = now + linger;
                Seen::Final
            }
        };
        self.refile(id, old);
        seen
    }

    fn remove_at(&mut self, id: u64, deadline: i64) {
        self.timers.remove(&(deadline, id));
        if let Some(tx) = self.txs.remove(&id) {
            self.by_key.remove(&tx.key);
        }
    }

    /// Everything due at or before `now`, in deadline order: retransmissions (each at its own
    /// instant; a late call catches up on the ones missed without bunching the later ones) and
    /// timeouts; completed transactions whose time is up end silently.
    pub fn due(&mut self, now: i64) -> Vec<Due<T>> {
        let mut out = Vec::new();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            let tx = self.txs.get_mut(&id).expect("indexed transactions exist");
            match tx.resend_at {
                Some(r) if r <= tx.ends_at && r == at => {
                    out.push(Due::Retransmit(Outgoing {
                        to: tx.to,
                        bytes: tx.bytes.clone(),
                        tx: None,
                    }));
                    self.retransmissions += 1;
                    // From the instant it was due, not from `now`: the schedule stays exact.
                    tx.gap = if tx.invite() {
                        tx.gap * 2
                    } else if tx.state == State::Proceeding {
                        T2_MS
                    } else {
                        (tx.gap * 2).min(T2_MS)
                    };
                    let next = r + tx.gap;
                    tx.resend_at = (next < tx.ends_at).then_some(next);
                    self.refile(id, at);
                }
                _ => {
                    let tx = self.remove_at_take(id, at);
                    if let Some(payload) = tx.payload
                        && tx.state != State::Completed
                    {
                        out.push(Due::TimedOut {
                            key: tx.key,
                            to: tx.to,
                            payload,
                        });
                    }
                }
            }
        }
        out
    }

    fn remove_at_take(&mut self, id: u64, deadline: i64) -> Tx<T> {
        self.timers.remove(&(deadline, id));
        let tx = self.txs.remove(&id).expect("indexed transactions exist");
        self.by_key.remove(&tx.key);
        tx
    }

    /// Forgets the transaction of `key` (its owner gave up on it, e.g. the peer went away).
    pub fn cancel(&mut self, key: &TxKey) -> Option<T> {
        let id = self.by_key.get(key).copied()?;
        self.remove(id).and_then(|tx| tx.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::SocketAddr;

    fn udp() -> Peer {
        Peer::Udp("127.0.0.1:5062".parse::<SocketAddr>().unwrap())
    }
    fn tcp() -> Peer {
        Peer::Tcp(7, "127.0.0.1:5062".parse::<SocketAddr>().unwrap())
    }
    fn key(branch: &str, method: Method) -> TxKey {
        TxKey {
            branch: branch.into(),
            method,
        }
    }
    fn req(to: Peer) -> Outgoing {
        Outgoing {
            to,
            bytes: b"MESSAGE sip:x SIP/2.0\r\n\r\n".to_vec(),
            tx: None,
        }
    }

    /// Steps `t` through every deadline up to `until` and records when each thing was due.
    fn run(t: &mut Transactions<u32>, until: i64) -> (Vec<i64>, Vec<(i64, u32)>) {
        let (mut resent, mut timed_out) = (Vec::new(), Vec::new());
        while let Some(at) = t.next_deadline().filter(|at| *at <= until) {
            for d in t.due(at) {
                match d {
                    Due::Retransmit(_) => resent.push(at),
                    Due::TimedOut { payload, .. } => timed_out.push((at, payload)),
                }
            }
        }
        (resent, timed_out)
    }

    #[test]
    fn non_invite_over_udp_is_sent_again_on_timer_e_and_times_out_on_f() {
        let mut t = Transactions::default();
        assert!(t.start(key("b1", Method::Message), &req(udp()), 1, 1_000));
        let (resent, timed_out) = run(&mut t, 100_000);
        let offsets: Vec<i64> = resent.iter().map(|at| at - 1_000).collect();
        assert_eq!(
            offsets,
            [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ]
        );
        assert_eq!(timed_out, [(1_000 + TIMEOUT_MS, 1)]);
        assert!(t.is_empty());
        assert_eq!(t.retransmissions(), 10);
    }

    #[test]
    fn invite_over_udp_doubles_without_cap_on_timer_a_and_times_out_on_b() {
        let mut t = Transactions::default();
        t.start(key("i1", Method::Invite), &req(udp()), 9, 0);
        let (resent, timed_out) = run(&mut t, 100_000);
        assert_eq!(resent, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert_eq!(timed_out, [(32_000, 9)]);
    }

    #[test]
    fn nothing_is_sent_again_over_tcp_but_the_timeout_holds() {
        let mut t = Transactions::default();
        t.start(key("b1", Method::Subscribe), &req(tcp()), 3, 0);
        let (resent, timed_out) = run(&mut t, 100_000);
        assert!(resent.is_empty());
        assert_eq!(timed_out, [(32_000, 3)]);
    }

    #[test]
    fn a_final_response_stops_retransmission_and_later_copies_are_absorbed() {
        let mut t = Transactions::default();
        let k = key("b1", Method::Message);
        t.start(k.clone(), &req(udp()), 1, 0);
        let (resent, _) = run(&mut t, 2_000);
        assert_eq!(resent, [500, 1_500]);
        assert_eq!(t.on_response(&k, 200, 2_100), Seen::Final);
        assert_eq!(t.on_response(&k, 200, 2_200), Seen::Absorbed);
        assert_eq!(t.on_response(&k, 100, 2_300), Seen::Absorbed);
        // Timer K: absorbed until T4 after the final response, then gone without a timeout.
        let (resent, timed_out) = run(&mut t, 100_000);
        assert!(resent.is_empty() && timed_out.is_empty());
        assert!(t.is_empty());
        assert_eq!(t.on_response(&k, 200, 8_000), Seen::Stray);
        // The method is part of the key.
        assert_eq!(
            t.on_response(&key("b1", Method::Subscribe), 200, 0),
            Seen::Stray
        );
    }

    #[test]
    fn a_provisional_response_slows_non_invite_to_t2_and_stops_invite() {
        let mut t = Transactions::default();
        let m = key("m", Method::Message);
        let i = key("i", Method::Invite);
        t.start(m.clone(), &req(udp()), 1, 0);
        t.start(i.clone(), &req(udp()), 2, 0);
        let (early, _) = run(&mut t, 600);
        assert_eq!(early, [500, 500]);
        assert_eq!(t.on_response(&m, 100, 600), Seen::Provisional);
        assert_eq!(t.on_response(&i, 180, 600), Seen::Provisional);
        let (resent, timed_out) = run(&mut t, 40_000);
        // MESSAGE: the pending +1.5 s one, then every T2 until F at 32 s.
        assert_eq!(
            resent,
            [1_500, 5_500, 9_500, 13_500, 17_500, 21_500, 25_500, 29_500]
        );
        assert_eq!(timed_out, [(32_000, 1)]);
        let (resent, timed_out) = run(&mut t, 1_000_000);
        assert!(resent.is_empty());
        assert_eq!(timed_out, [(600 + INVITE_PROCEEDING_MS, 2)]);
    }

    #[test]
    fn an_invite_ends_at_2xx_and_absorbs_a_failure_for_timer_d() {
        let mut t = Transactions::default();
        let ok = key("ok", Method::Invite);
        let busy = key("busy", Method::Invite);
        t.start(ok.clone(), &req(udp()), 1, 0);
        t.start(busy.clone(), &req(udp()), 2, 0);
        assert_eq!(t.on_response(&ok, 200, 100), Seen::Final);
        assert_eq!(t.on_response(&ok, 200, 200), Seen::Stray);
        assert_eq!(t.on_response(&busy, 486, 100), Seen::Final);
        assert_eq!(t.on_response(&busy, 486, 30_000), Seen::Absorbed);
        let (resent, timed_out) = run(&mut t, 1_000_000);
        assert!(resent.is_empty() && timed_out.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn a_late_call_catches_up_without_shifting_the_schedule() {
        let mut t = Transactions::default();
        t.start(key("b", Method::Message), &req(udp()), 1, 0);
        // Nobody looked until 4 s: the +0.5, +1.5 and +3.5 s sends are all due now.
        let due = t.due(4_000);
        assert_eq!(due.len(), 3);
        assert_eq!(t.next_deadline(), Some(7_500));
    }

    #[test]
    fn cancel_and_bounds() {
        let mut t = Transactions::default();
        let k = key("b", Method::Message);
        assert!(t.start(k.clone(), &req(udp()), 5, 0));
        assert!(!t.start(k.clone(), &req(udp()), 6, 0), "a key in use");
        assert_eq!(t.cancel(&k), Some(5));
        assert!(t.is_empty() && t.next_deadline().is_none());
    }

    proptest! {
        /// Whatever responses arrive when, the timer index matches the transactions, nothing
        /// is sent again after a final response or after the timeout, every transaction ends
        /// by the longest bound, and each times out at most once, never after a final answer.
        #[test]
        fn consistent_under_any_events(
            starts in proptest::collection::vec((0i64..5_000, any::<bool>(), any::<bool>()), 1..20),
            responses in proptest::collection::vec((0usize..20, 0i64..60_000, prop::sample::select(vec![100u16, 180, 200, 404, 486])), 0..40),
        ) {
            let mut t = Transactions::default();
            let mut keys = Vec::new();
            for (i, (at, invite, reliable)) in starts.iter().enumerate() {
                let method = if *invite { Method::Invite } else { Method::Message };
                let k = key(&format!("b{i}"), method);
                t.start(k.clone(), &req(if *reliable { tcp() } else { udp() }), i as u32, *at);
                keys.push((k, *at));
            }
            let mut events: Vec<(i64, Option<(usize, u16)>)> =
                responses.iter().map(|(i, at, s)| (*at, Some((i % keys.len(), *s)))).collect();
            events.sort_by_key(|e| e.0);
            let mut finals = std::collections::HashSet::new();
            let mut timed_out = std::collections::HashSet::new();
            let check = |t: &mut Transactions<u32>, now: i64, finals: &std::collections::HashSet<u32>, timed_out: &mut std::collections::HashSet<u32>| {
                while let Some(at) = t.next_deadline().filter(|at| *at <= now) {
                    for d in t.due(at) {
                        if let Due::TimedOut { payload, .. } = d {
                            prop_assert!(!finals.contains(&payload));
                            prop_assert!(timed_out.insert(payload));
                        }
                    }
                }
                prop_assert_eq!(t.timers.len(), t.txs.len());
                prop_assert_eq!(t.by_key.len(), t.txs.len());
                for (&id, tx) in &t.txs {
                    prop_assert!(t.timers.contains(&(tx.deadline(), id)));
                    if tx.state == State::Completed || tx.reliable() {
                        prop_assert!(tx.resend_at.is_none());
                    }
                }
                Ok(())
            };
            for (at, r) in events {
                check(&mut t, at, &finals, &mut timed_out)?;
                if let Some((i, status)) = r {
                    let seen = t.on_response(&keys[i].0, status, at);
                    if seen == Seen::Final {
                        prop_assert!(!timed_out.contains(&(i as u32)));
                        prop_assert!(finals.insert(i as u32));
                    }
                }
            }
            check(&mut t, 5_000 + 60_000 + INVITE_PROCEEDING_MS, &finals, &mut timed_out)?;
            prop_assert!(t.is_empty());
            prop_assert_eq!(finals.len() + timed_out.len(), keys.len());
        }
    }
}
