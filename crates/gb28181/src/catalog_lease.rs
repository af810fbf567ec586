//! The catalog sync of a lower platform or NVR under its `catalog:<code>` lease (several nodes
//! on one database, docs/nodes.md): a node asks for the duty while the peer is registered to
//! it and gives it up when the peer unregisters, expires or stops keeping alive; the platform
//! syncs the peer's catalog only while the node holds the lease
//! ([`crate::platform::Platform::hold_catalog`]). Pure: the caller tells the node's duty board
//! and the platform.
//!
//! Invariants: only leased peers (the register's NVRs and lower platforms) are asked for; a
//! duty is wanted exactly while its peer's last transition was to online; the held set
//! follows the board's running duties exactly, each change reported once.

use std::collections::{BTreeSet, HashSet};

use camwatch_core::nodes::duty::Duty;
use camwatch_core::registry::DeviceCode;

use crate::platform::GbEvent;
use crate::registrar::Presence;

/// The catalog duty a platform event asks for (`true`) or gives up (`false`): a leased peer
/// came online or went offline.
pub fn wanted(e: &GbEvent, leased: &HashSet<DeviceCode>) -> Option<(Duty, bool)> {
    let GbEvent::Presence(t) = e else {
        return None;
    };
    leased
        .contains(&t.device)
        .then(|| (Duty::Catalog(t.device), t.presence == Presence::Online))
}

/// The peers whose catalog lease is now held (`true`) or no longer held, from the peers held
/// `before` and the duties the node `running` now; updates `before`.
pub fn held_changes(
    before: &mut BTreeSet<DeviceCode>,
    running: &BTreeSet<Duty>,
) -> Vec<(DeviceCode, bool)> {
    let now: BTreeSet<DeviceCode> = running
        .iter()
        .filter_map(|d| match d {
            Duty::Catalog(c) => Some(*c),
            _ => None,
        })
        .collect();
    let mut out: Vec<(DeviceCode, bool)> = before.difference(&now).map(|c| (*c, false)).collect();
    out.extend(now.difference(before).map(|c| (*c, true)));
    *before = now;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registrar::{OfflineReason, Transition};

    fn code(n: u32) -> DeviceCode {
        format!("3402000000200{n:07}").parse().unwrap()
    }

    fn presence(n: u32, p: Presence) -> GbEvent {
        GbEvent::Presence(Transition {
            device: code(n),
            at: 0,
            presence: p,
        })
    }

    #[test]
    fn a_leased_peer_is_wanted_while_online() {
        let leased: HashSet<_> = [code(1)].into();
        assert_eq!(
            wanted(&presence(1, Presence::Online), &leased),
            Some((Duty::Catalog(code(1)), true))
        );
        for why in [
            OfflineReason::Unregistered,
            OfflineReason::Expired,
            OfflineReason::KeepaliveLost,
        ] {
            assert_eq!(
                wanted(&presence(1, Presence::Offline(why)), &leased),
                Some((Duty::Catalog(code(1)), false))
            );
        }
        assert_eq!(
            wanted(&presence(2, Presence::Online), &leased),
            None,
            "not leased"
        );
        let keepalive = GbEvent::Keepalive {
            device: code(1),
            at: 0,
        };
        assert_eq!(wanted(&keepalive, &leased), None);
    }

    #[test]
    fn the_held_set_follows_the_running_duties() {
        let mut held = BTreeSet::new();
        let run = |v: &[Duty]| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(
            held_changes(&mut held, &run(&[Duty::Outbox, Duty::Catalog(code(1))])),
            [(code(1), true)]
        );
        assert!(held_changes(&mut held, &run(&[Duty::Catalog(code(1))])).is_empty());
        assert_eq!(
            held_changes(&mut held, &run(&[Duty::Catalog(code(2))])),
            [(code(1), false), (code(2), true)]
        );
        assert_eq!(held_changes(&mut held, &run(&[])), [(code(2), false)]);
        assert!(held.is_empty());
    }

    proptest::proptest! {
        /// Whatever the sequence of boards, the changes replayed give the held set exactly.
        #[test]
        fn changes_replay_to_the_running_set(boards in proptest::collection::vec(proptest::collection::btree_set(0u32..6, 0..6), 0..30)) {
            let mut held = BTreeSet::new();
            let mut replay: BTreeSet<DeviceCode> = BTreeSet::new();
            for b in boards {
                let running: BTreeSet<Duty> = b.iter().map(|n| Duty::Catalog(code(*n))).collect();
                for (c, h) in held_changes(&mut held, &running) {
                    let changed = if h { replay.insert(c) } else { replay.remove(&c) };
                    proptest::prop_assert!(changed, "each change reported once");
                }
                let want: BTreeSet<DeviceCode> = b.iter().map(|n| code(*n)).collect();
                proptest::prop_assert_eq!(&replay, &want);
            }
        }
    }
}
