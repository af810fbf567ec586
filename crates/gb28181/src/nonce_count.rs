//! Replay protection for digest credentials (RFC 2617 §3.2.2 `nc`): the nonce counts each
//! device has used with each nonce, so that a captured REGISTER sent again within the nonce's
//! lifetime is refused. Pure, on injected time (Unix seconds).
//!
//! Rules:
//! - Per (username, nonce): the nonces are stateless and shared by every device challenged in
//!   the same second ([`crate::digest::Nonces`]), so a count belongs to a device and a nonce
//!   together.
//! - With `qop=auth` the device's `nc` (8 hex digits) must be greater than the last one taken
//!   for that nonce; without `qop` (the RFC 2069 form, which carries no `nc`) a nonce is good
//!   for one REGISTER: it counts as `nc` 1.
//! - Only credentials that verified are recorded ([`NonceCounts::take`] after the password
//!   check): a forger cannot burn a device's counts with made-up `nc` values.
//! - An entry lives as long as its nonce may still be accepted ([`NONCE_TTL_SEC`] after it was
//!   first seen, which is no earlier than the nonce was issued), then is forgotten.
//!
//! Bounded: at most [`MAX_TRACKED`] entries. Only verified REGISTERs add entries, at most one
//! per device and nonce; when the table is full after expiry, a new nonce is refused (the
//! device is challenged again) rather than an old entry dropped, which would let its nonce be
//! replayed.

use std::collections::{BTreeSet, HashMap};

use crate::digest::NONCE_TTL_SEC;

/// The most (username, nonce) pairs tracked at once.
pub const MAX_TRACKED: usize = 1 << 18;

/// What a verified REGISTER's nonce count says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcCheck {
    /// Greater than any taken before for this device and nonce: taken.
    Fresh,
    /// Not greater than one already taken (a replay, or a copy of one): refused.
    Replayed,
    /// `nc` is not 8 hex digits.
    Malformed,
    /// The table is full of live entries: refused until some expire.
    Full,
}

#[derive(Debug, Default)]
pub struct NonceCounts {
    /// (username, nonce) → (highest nc taken, when first seen).
    seen: HashMap<(String, String), (u32, i64)>,
    /// (first seen, username, nonce), for expiry in order.
    order: BTreeSet<(i64, String, String)>,
}

/// The value of an `nc` parameter: exactly 8 hex digits (RFC 2617's `nc-value`).
pub fn parse_nc(nc: &str) -> Option<u32> {
    (nc.len() == 8 && nc.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(nc, 16).ok())
        .flatten()
}

impl NonceCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks and records the count of a REGISTER whose digest verified: `nc` as sent
    /// (`None` without `qop`), at `now`.
    pub fn take(&mut self, username: &str, nonce: &str, nc: Option<&str>, now: i64) -> NcCheck {
        self.expire(now);
        let count = match nc {
            None => 1,
            Some(text) => match parse_nc(text) {
                Some(n) => n,
                None => return NcCheck::Malformed,
            },
        };
        let key = (username.to_string(), nonce.to_string());
        let full = self.seen.len() >= MAX_TRACKED;
        match self.seen.get_mut(&key) {
            Some((last, _)) if count <= *last => NcCheck::Replayed,
            Some((last, _)) => {
                *last = count;
                NcCheck::Fresh
            }
            None if full => NcCheck::Full,
            None => {
                self.order.insert((now, key.0.clone(), key.1.clone()));
                self.seen.insert(key, (count, now));
                NcCheck::Fresh
            }
        }
    }

    /// Forgets entries whose nonce can no longer be accepted at `now`.
    fn expire(&mut self, now: i64) {
        while let Some((first, _, _)) = self.order.first() {
            if now - *first <= NONCE_TTL_SEC {
                break;
            }
            let (_, user, nonce) = self.order.pop_first().expect("first");
            self.seen.remove(&(user, nonce));
        }
    }

    /// Entries tracked now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_800_000_000;
    const DEV: &str = "34020000001320000001";
    const NONCE: &str = "0000000068c8d100abcdef0123456789abcdef0123456789";

    #[test]
    fn with_qop_each_count_must_grow() {
        let mut c = NonceCounts::new();
        assert_eq!(c.take(DEV, NONCE, Some("00000001"), T0), NcCheck::Fresh);
        assert_eq!(c.take(DEV, NONCE, Some("00000001"), T0), NcCheck::Replayed);
        assert_eq!(c.take(DEV, NONCE, Some("00000002"), T0 + 1), NcCheck::Fresh);
        // Skipping counts is allowed (a lost request); going back is not.
        assert_eq!(c.take(DEV, NONCE, Some("0000000a"), T0 + 2), NcCheck::Fresh);
        assert_eq!(
            c.take(DEV, NONCE, Some("00000009"), T0 + 2),
            NcCheck::Replayed
        );
        assert_eq!(
            c.take(DEV, NONCE, Some("0000000A"), T0 + 2),
            NcCheck::Replayed
        );
    }

    #[test]
    fn without_qop_a_nonce_is_good_once() {
        let mut c = NonceCounts::new();
        assert_eq!(c.take(DEV, NONCE, None, T0), NcCheck::Fresh);
        assert_eq!(c.take(DEV, NONCE, None, T0 + 10), NcCheck::Replayed);
    }

    #[test]
    fn counts_belong_to_a_device_and_a_nonce_together() {
        let mut c = NonceCounts::new();
        // Devices challenged in the same second share the nonce.
        assert_eq!(c.take(DEV, NONCE, None, T0), NcCheck::Fresh);
        assert_eq!(
            c.take("34020000001320000002", NONCE, None, T0),
            NcCheck::Fresh
        );
        let other = format!("{}0", &NONCE[..47]);
        assert_eq!(c.take(DEV, &other, None, T0), NcCheck::Fresh);
    }

    #[test]
    fn malformed_counts_are_refused_and_not_recorded() {
        let mut c = NonceCounts::new();
        for bad in ["1", "0000000g", "000000001", "", "+0000001"] {
            assert_eq!(
                c.take(DEV, NONCE, Some(bad), T0),
                NcCheck::Malformed,
                "{bad:?}"
            );
        }
        assert!(c.is_empty());
        assert_eq!(parse_nc("ffffffff"), Some(u32::MAX));
    }

    #[test]
    fn entries_live_as_long_as_their_nonce() {
        let mut c = NonceCounts::new();
        assert_eq!(c.take(DEV, NONCE, None, T0), NcCheck::Fresh);
        assert_eq!(
            c.take(DEV, NONCE, None, T0 + NONCE_TTL_SEC),
            NcCheck::Replayed,
            "still within the nonce's life"
        );
        // The next call after the nonce's life forgets it (the nonce itself is stale by then,
        // refused before its count is looked at).
        c.take("34020000001320000002", "x", None, T0 + NONCE_TTL_SEC + 1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_new_nonces_and_keeps_old_ones() {
        let mut c = NonceCounts::new();
        for i in 0..MAX_TRACKED {
            assert_eq!(c.take(&i.to_string(), NONCE, None, T0), NcCheck::Fresh);
        }
        assert_eq!(c.take(DEV, NONCE, None, T0 + 1), NcCheck::Full);
        assert_eq!(c.take("0", NONCE, None, T0 + 1), NcCheck::Replayed);
        // Once the old ones expire there is room again.
        assert_eq!(
            c.take(DEV, NONCE, None, T0 + NONCE_TTL_SEC + 1),
            NcCheck::Fresh
        );
        assert_eq!(c.len(), 1);
    }

    proptest! {
        /// Against a model that remembers every count ever taken: a (device, nonce) count is
        /// taken exactly when it is greater than every count taken for the pair within the
        /// nonce's life; the index stays consistent and bounded by the live entries.
        #[test]
        fn takes_exactly_what_the_model_takes(
            ops in proptest::collection::vec((0u8..3, 0u8..3, proptest::option::of(0u32..6), 0i64..120), 1..300)
        ) {
            let mut c = NonceCounts::new();
            // (user, nonce) → (highest count, first seen)
            let mut model: HashMap<(u8, u8), (u32, i64)> = HashMap::new();
            let mut now = T0;
            for (user, nonce, nc, dt) in ops {
                now += dt;
                model.retain(|_, (_, first)| now - *first <= NONCE_TTL_SEC);
                let text = nc.map(|n| format!("{n:08x}"));
                let got = c.take(&user.to_string(), &nonce.to_string(), text.as_deref(), now);
                let count = nc.unwrap_or(1);
                let want = match model.get_mut(&(user, nonce)) {
                    Some((last, _)) if count <= *last => NcCheck::Replayed,
                    Some((last, _)) => { *last = count; NcCheck::Fresh }
                    None => { model.insert((user, nonce), (count, now)); NcCheck::Fresh }
                };
                prop_assert_eq!(got, want);
                prop_assert_eq!(c.seen.len(), c.order.len());
                prop_assert_eq!(c.len(), model.len());
            }
        }
    }
}
