//! The platform's catalog subscriptions (SUBSCRIBE with `Event: Catalog`, RFC 6665 as GB/T
//! 28181-2016 §9.11 uses it): one per registered peer, refreshed inside its dialog before it
//! expires, given up when the peer goes offline, retried later when the peer refuses it or
//! never answers. Pure: time is passed in, and the platform writes and sends the requests.
//!
//! Invariants: at most one subscription per peer; a response is matched to its subscription by
//! Call-ID (an index, so a storm of answers costs one lookup each); a subscription is refreshed
//! when [`REFRESH_SHARE`] of the lifetime the peer granted has passed, never later than
//! [`REFRESH_MARGIN_SEC`] before it ends.
//!
//! Must not: do I/O, read a clock, or decide what a NOTIFY means (the platform does).

use std::collections::HashMap;

use camwatch_core::registry::DeviceCode;

/// A peer that refused the subscription (405, 489, …) or never answered is asked again after
/// this long; it is still watched through keepalives and Catalog queries meanwhile.
pub const RETRY_SEC: i64 = 600;
/// How long a SUBSCRIBE may go unanswered (RFC 3261 timer F: 64 × T1).
pub const ANSWER_TIMEOUT_SEC: i64 = 32;
/// The share of the granted lifetime after which a subscription is refreshed (per mille).
pub const REFRESH_SHARE: i64 = 900;
pub const REFRESH_MARGIN_SEC: i64 = 60;

/// Where a peer's subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    /// SUBSCRIBE sent at `sent_at`, no final answer yet.
    Pending { sent_at: i64 },
    /// Accepted until `expires_at`; refreshed at `refresh_at`.
    Active { expires_at: i64, refresh_at: i64 },
    /// Refused or unanswered; asked again at `retry_at`.
    Refused { retry_at: i64 },
}

/// A SUBSCRIBE to send: a new dialog (`to_tag` none, `cseq` 1) or a refresh inside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub device: DeviceCode,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    /// The lifetime asked for, seconds.
    pub expires: u32,
}

#[derive(Debug)]
struct Sub {
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    cseq: u32,
    state: SubState,
}

#[derive(Debug)]
pub struct Subscriptions {
    expires_sec: u32,
    subs: HashMap<DeviceCode, Sub>,
    by_call: HashMap<String, DeviceCode>,
}

impl Subscriptions {
    /// Subscriptions asking for `expires_sec` each (0: none are made).
    pub fn new(expires_sec: u32) -> Self {
        Self {
            expires_sec,
            subs: HashMap::new(),
            by_call: HashMap::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.expires_sec > 0
    }

    pub fn state(&self, device: &DeviceCode) -> Option<SubState> {
        self.subs.get(device).map(|s| s.state)
    }

    /// A new subscription of `device` (replacing any it had), with a fresh Call-ID and tag.
    pub fn start(
        &mut self,
        device: DeviceCode,
        call_id: String,
        from_tag: String,
        now: i64,
    ) -> Option<SubscribeRequest> {
        if !self.enabled() {
            return None;
        }
        self.end(&device);
        self.by_call.insert(call_id.clone(), device);
        self.subs.insert(
            device,
            Sub {
                call_id: call_id.clone(),
                from_tag: from_tag.clone(),
                to_tag: None,
                cseq: 1,
                state: SubState::Pending { sent_at: now },
            },
        );
        Some(SubscribeRequest {
            device,
            call_id,
            from_tag,
            to_tag: None,
            cseq: 1,
            expires: self.expires_sec,
        })
    }

    /// The peer went offline or unregistered: its subscription ends with it.
    pub fn end(&mut self, device: &DeviceCode) {
        if let Some(s) = self.subs.remove(device) {
            self.by_call.remove(&s.call_id);
        }
    }

    /// A final response to the SUBSCRIBE of dialog `call_id`: `expires` is what the peer
    /// granted (its Expires header; what we asked when it sent none). Returns the device whose
    /// subscription it was, if any.
    pub fn answered(
        &mut self,
        call_id: &str,
        status: u16,
        to_tag: Option<&str>,
        expires: Option<u32>,
        now: i64,
    ) -> Option<DeviceCode> {
        if status < 200 {
            return None;
        }
        let device = *self.by_call.get(call_id)?;
        let s = self.subs.get_mut(&device)?;
        let granted = i64::from(expires.unwrap_or(self.expires_sec));
        s.state = if (200..300).contains(&status) && granted > 0 {
            if s.to_tag.is_none() {
                s.to_tag = to_tag.map(str::to_string);
            }
            let refresh = (granted * REFRESH_SHARE / 1000)
                .min(granted - REFRESH_MARGIN_SEC)
                .clamp(0, granted - 1);
            SubState::Active {
                expires_at: now + granted,
                refresh_at: now + refresh,
            }
        } else {
            SubState::Refused {
                retry_at: now + RETRY_SEC,
            }
        };
        Some(device)
    }

    /// What is due at `now`: refreshes of active subscriptions (inside their dialog), and
    /// devices whose subscription should start anew (refused or unanswered ones after
    /// [`RETRY_SEC`]; the caller calls [`Self::start`] for those it still wants).
    pub fn due(&mut self, now: i64) -> (Vec<SubscribeRequest>, Vec<DeviceCode>) {
        let mut refresh = Vec::new();
        let mut restart = Vec::new();
        for (device, s) in &mut self.subs {
            match s.state {
                SubState::Active { refresh_at, .. } if now >= refresh_at => {
                    s.cseq += 1;
                    s.state = SubState::Pending { sent_at: now };
                    refresh.push(SubscribeRequest {
                        device: *device,
                        call_id: s.call_id.clone(),
                        from_tag: s.from_tag.clone(),
                        to_tag: s.to_tag.clone(),
                        cseq: s.cseq,
                        expires: self.expires_sec,
                    });
                }
                SubState::Pending { sent_at } if now >= sent_at + ANSWER_TIMEOUT_SEC => {
                    s.state = SubState::Refused {
                        retry_at: now + RETRY_SEC,
                    };
                }
                SubState::Refused { retry_at } if now >= retry_at => restart.push(*device),
                _ => {}
            }
        }
        refresh.sort_by_key(|r| r.device);
        restart.sort();
        (refresh, restart)
    }

    pub fn len(&self) -> usize {
        self.subs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_800_000_000;

    fn dev(n: u32) -> DeviceCode {
        format!("3402000000132{n:07}").parse().unwrap()
    }

    #[test]
    fn accepted_refreshed_in_its_dialog_before_expiry() {
        let mut s = Subscriptions::new(3600);
        let r = s.start(dev(1), "c1".into(), "f1".into(), T0).unwrap();
        assert_eq!((r.cseq, r.to_tag.as_deref(), r.expires), (1, None, 3600));
        assert_eq!(
            s.answered("c1", 200, Some("dev-tag"), Some(600), T0 + 1),
            Some(dev(1))
        );
        assert_eq!(
            s.state(&dev(1)),
            Some(SubState::Active {
                expires_at: T0 + 601,
                refresh_at: T0 + 1 + 540
            })
        );
        assert_eq!(s.due(T0 + 540), (vec![], vec![]));
        let (refresh, restart) = s.due(T0 + 541);
        assert!(restart.is_empty());
        assert_eq!(
            refresh,
            vec![SubscribeRequest {
                device: dev(1),
                call_id: "c1".into(),
                from_tag: "f1".into(),
                to_tag: Some("dev-tag".into()),
                cseq: 2,
                expires: 3600
            }]
        );
        // Not sent twice while the refresh is out.
        assert_eq!(s.due(T0 + 542), (vec![], vec![]));
    }

    #[test]
    fn short_lifetimes_refresh_a_margin_before_the_end() {
        let mut s = Subscriptions::new(3600);
        s.start(dev(1), "c1".into(), "f1".into(), T0);
        s.answered("c1", 202, None, Some(100), T0);
        assert!(matches!(
            s.state(&dev(1)),
            Some(SubState::Active { refresh_at, .. }) if refresh_at == T0 + 40
        ));
    }

    #[test]
    fn refused_or_unanswered_retried_later() {
        let mut s = Subscriptions::new(3600);
        s.start(dev(1), "c1".into(), "f1".into(), T0);
        s.start(dev(2), "c2".into(), "f2".into(), T0);
        s.answered("c1", 489, None, None, T0);
        assert_eq!(
            s.state(&dev(1)),
            Some(SubState::Refused {
                retry_at: T0 + RETRY_SEC
            })
        );
        // dev(2) never answers: after timer F it is refused too.
        s.due(T0 + ANSWER_TIMEOUT_SEC);
        assert!(matches!(s.state(&dev(2)), Some(SubState::Refused { .. })));
        let (_, restart) = s.due(T0 + RETRY_SEC);
        assert_eq!(restart, vec![dev(1)]);
        // A provisional answer or a stranger's Call-ID changes nothing.
        assert_eq!(s.answered("c2", 100, None, None, T0), None);
        assert_eq!(s.answered("nope", 200, None, None, T0), None);
    }

    #[test]
    fn ended_with_the_peer_and_disabled_at_zero() {
        let mut s = Subscriptions::new(3600);
        s.start(dev(1), "c1".into(), "f1".into(), T0);
        s.end(&dev(1));
        assert_eq!(s.answered("c1", 200, None, None, T0), None);
        assert!(s.is_empty());
        assert_eq!(
            Subscriptions::new(0).start(dev(1), "c".into(), "f".into(), T0),
            None
        );
    }

    proptest! {
        /// Whatever the order of starts, answers, ends and time, at most one subscription per
        /// device, the index matches, and an active one is refreshed before it expires.
        #[test]
        fn consistent(ops in proptest::collection::vec((0u8..4, 0u32..4, 0i64..2000, 0u16..700), 0..80)) {
            let mut s = Subscriptions::new(600);
            let mut now = T0;
            let mut calls = 0;
            for (op, d, dt, status) in ops {
                now += dt;
                match op {
                    0 => { calls += 1; s.start(dev(d), format!("c{calls}"), "f".into(), now); }
                    1 => { s.answered(&format!("c{}", d + 1), status, Some("t"), Some(dt as u32), now); }
                    2 => s.end(&dev(d)),
                    _ => {
                        let (refresh, _) = s.due(now);
                        for r in refresh { prop_assert!(r.cseq >= 2); }
                    }
                }
                prop_assert_eq!(s.subs.len(), s.by_call.len());
                for (d, sub) in &s.subs {
                    prop_assert_eq!(s.by_call.get(&sub.call_id), Some(d));
                    if let SubState::Active { expires_at, refresh_at } = sub.state {
                        prop_assert!(refresh_at < expires_at);
                    }
                }
            }
        }
    }
}
