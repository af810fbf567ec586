use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn code(s: &str) -> DeviceCode {
    s.parse().unwrap()
}

#[test]
fn the_shard_hash_never_changes() {
    // Pinned: every node and every version must put a device in the same shard, or a rolling
    // upgrade would have two nodes probe one camera.
    assert_eq!(
        shard_of_root(&code("34020000001320000001"), SHARDS),
        ShardId(145)
    );
    assert_eq!(
        shard_of_root(&code("34020000001180000001"), SHARDS),
        ShardId(125)
    );
    assert_eq!(shard_of_root(&code("34020000001180000001"), 1), ShardId(0));
}

#[test]
fn channels_share_their_roots_shard() {
    let platform = Device::new(code("34020000002000000001"), "platform");
    let mut nvr = Device::new(code("34020000001180000001"), "nvr");
    nvr.parent = Some(platform.code);
    let mut ch = Device::new(code("34020000001310000001"), "channel");
    ch.parent = Some(nvr.code);
    // Its parent is not in the register: the parent's code is still its channels' root.
    let mut orphan_a = Device::new(code("34020000001310000002"), "a");
    orphan_a.parent = Some(code("34020000001180000099"));
    let mut orphan_b = Device::new(code("34020000001310000003"), "b");
    orphan_b.parent = orphan_a.parent;
    let alone = Device::new(code("34020000001320000001"), "alone");
    let got = shards_of(
        &[ch.clone(), nvr, platform.clone(), orphan_a, orphan_b, alone],
        SHARDS,
    );
    let root = shard_of_root(&platform.code, SHARDS);
    assert_eq!(&got[..3], &[root, root, root]);
    let missing = shard_of_root(&code("34020000001180000099"), SHARDS);
    assert_eq!(&got[3..5], &[missing, missing]);
    assert_eq!(got[5], ShardId(145));
}

#[test]
fn a_parent_cycle_has_one_root() {
    let mut a = Device::new(code("34020000001180000001"), "a");
    let mut b = Device::new(code("34020000001180000002"), "b");
    let mut c = Device::new(code("34020000001310000001"), "c");
    a.parent = Some(b.code);
    b.parent = Some(a.code);
    c.parent = Some(b.code);
    let got = shards_of(&[a.clone(), b, c], SHARDS);
    let root = shard_of_root(&a.code, SHARDS);
    assert_eq!(got, vec![root, root, root]);
}

#[test]
fn a_generated_fleet_spreads_over_all_shards() {
    let fleet = crate::registry::generate::generate(20_000, 7);
    let mut count = [0usize; SHARDS as usize];
    for s in shards_of(&fleet, SHARDS) {
        count[usize::from(s.0)] += 1;
    }
    let mean = fleet.len() / usize::from(SHARDS);
    assert!(count.iter().all(|&c| c > 0), "every shard used");
    let max = *count.iter().max().unwrap();
    assert!(max < mean * 3, "max {max} against a mean of {mean}");
}

#[test]
fn fair_share_is_the_ceiling() {
    for (live, want) in [
        (0, 256),
        (1, 256),
        (2, 128),
        (3, 86),
        (4, 64),
        (255, 2),
        (300, 1),
    ] {
        assert_eq!(fair_share(SHARDS, live), want, "{live} live");
    }
    assert_eq!(fair_share(0, 3), 0);
}

#[test]
fn liveness_at_the_edges() {
    let n = |hb, stopped| NodeSeen {
        id: NodeId(1),
        heartbeat_at: hb,
        stopped,
    };
    assert_eq!(liveness(&n(71, false), 100, 30), Liveness::Live);
    assert_eq!(liveness(&n(70, false), 100, 30), Liveness::Dead);
    assert_eq!(liveness(&n(100, true), 100, 30), Liveness::Stopped);
}

/// After the database was away, a silence counts from the judge's return: a node silent since
/// 10 is not dead at 100 for a judge back since 80, and is at 110.
#[test]
fn silence_counts_from_the_judges_return() {
    let n = |hb, stopped| NodeSeen {
        id: NodeId(1),
        heartbeat_at: hb,
        stopped,
    };
    assert_eq!(liveness_since(&n(10, false), 100, 30, 80), Liveness::Live);
    assert_eq!(liveness_since(&n(10, false), 109, 30, 80), Liveness::Live);
    assert_eq!(liveness_since(&n(10, false), 110, 30, 80), Liveness::Dead);
    assert_eq!(liveness_since(&n(10, true), 100, 30, 80), Liveness::Stopped);
    // A judge in touch all along judges as `liveness` does.
    assert_eq!(liveness_since(&n(70, false), 100, 30, 0), Liveness::Dead);
}

fn lease(shard: u16, node: i64, expires_at: i64) -> Lease {
    Lease {
        shard: ShardId(shard),
        node: NodeId(node),
        expires_at,
    }
}

#[test]
fn a_first_node_takes_everything() {
    let p = plan(NodeId(1), &[], &[], 8, 100);
    assert!(p.renew.is_empty() && p.release.is_empty());
    let mut took = p.take.clone();
    took.sort();
    assert_eq!(took, (0..8).map(ShardId).collect::<Vec<_>>());
}

#[test]
fn above_the_share_releases_the_highest() {
    let leases: Vec<Lease> = (0..8).map(|s| lease(s, 1, 130)).collect();
    let p = plan(
        NodeId(1),
        &[NodeId(1), NodeId(2), NodeId(3)],
        &leases,
        8,
        100,
    );
    assert_eq!(p.renew, [0, 1, 2].map(ShardId));
    assert_eq!(p.release, [3, 4, 5, 6, 7].map(ShardId));
    assert!(p.take.is_empty());
}

#[test]
fn never_takes_a_held_lease_and_prefers_its_own_expired() {
    let leases = [
        lease(0, 2, 101), // node 2's, valid: never taken
        lease(1, 1, 100), // mine, expired at 100
        lease(2, 3, 50),  // node 3's, expired
        lease(3, 1, 150), // mine, valid
    ];
    let p = plan(NodeId(1), &[NodeId(2)], &leases, 4, 100);
    assert_eq!(p.renew, vec![ShardId(3)]);
    // Fair share 2: one more, its own expired lease first.
    assert_eq!(p.take, vec![ShardId(1)]);
    let p = plan(NodeId(1), &[], &leases, 4, 100);
    assert_eq!(p.take.len(), 2);
    assert_eq!(p.take[0], ShardId(1));
    assert!(!p.take.contains(&ShardId(0)));
}

#[test]
fn probing_stops_a_heartbeat_before_expiry() {
    let leases = [lease(0, 1, 130), lease(1, 1, 110), lease(2, 2, 200)];
    assert_eq!(
        probing(NodeId(1), &leases, 100, 10),
        [ShardId(0)].into_iter().collect()
    );
    assert_eq!(
        probing(NodeId(1), &leases, 99, 10),
        [ShardId(0), ShardId(1)].into_iter().collect()
    );
}

#[test]
fn a_fourth_node_gets_a_quarter() {
    let mut live = nodes(3);
    let ord: Vec<usize> = (0..4).collect();
    let mut t = Table::default();
    let now = t.settle(&live, &ord, SHARDS, 100);
    let mut held: Vec<usize> = live.iter().map(|n| t.held_by(*n, now)).collect();
    held.sort();
    assert_eq!(held, [84, 86, 86]);
    live.push(NodeId(999));
    let now = t.settle(&live, &ord, SHARDS, now);
    for n in &live {
        assert_eq!(t.held_by(*n, now), 64, "{n:?}");
    }
}

// --- the lease table simulated as the database applies plans ---

const TTL: i64 = 30;

/// The lease table: one row per shard (the primary key).
#[derive(Debug, Clone, Default)]
struct Table(BTreeMap<ShardId, Lease>);

impl Table {
    fn rows(&self) -> Vec<Lease> {
        self.0.values().copied().collect()
    }

    fn owners(&self, now: i64) -> BTreeMap<ShardId, NodeId> {
        self.0
            .values()
            .filter(|l| l.valid_at(now))
            .map(|l| (l.shard, l.node))
            .collect()
    }

    fn held_by(&self, n: NodeId, now: i64) -> usize {
        self.0
            .values()
            .filter(|l| l.node == n && l.valid_at(now))
            .count()
    }

    /// Plans `me`'s heartbeat on the current rows, checks the plan, and applies it as the
    /// store does (a take wins only a shard still free). Returns whether anything moved.
    fn heartbeat(&mut self, me: NodeId, live: &[NodeId], shards: u16, now: i64) -> bool {
        let p = plan(me, live, &self.rows(), shards, now);
        let mine: BTreeSet<ShardId> = self
            .0
            .values()
            .filter(|l| l.node == me && l.valid_at(now))
            .map(|l| l.shard)
            .collect();
        let kept: BTreeSet<ShardId> = p.renew.iter().chain(&p.release).copied().collect();
        assert_eq!(
            kept, mine,
            "renew and release are exactly its own valid leases"
        );
        assert_eq!(kept.len(), p.renew.len() + p.release.len(), "disjoint");
        for s in &p.take {
            assert!(
                self.0.get(s).is_none_or(|l| !l.valid_at(now)),
                "{me:?} takes {s}, held by {:?}",
                self.0[s]
            );
            assert!(s.0 < shards);
        }
        assert!(
            p.renew.len() + p.take.len() <= usize::from(fair_share(shards, live.len().max(1))),
            "never above the fair share"
        );
        for s in &p.renew {
            self.0.get_mut(s).unwrap().expires_at = now + TTL;
        }
        for s in &p.release {
            self.0.remove(s);
        }
        for s in &p.take {
            self.0.insert(*s, lease(s.0, me.0, now + TTL));
        }
        !p.release.is_empty() || !p.take.is_empty()
    }

    /// Every live node beats once, in `order`. Returns whether anything moved.
    fn round(&mut self, live: &[NodeId], order: &[usize], shards: u16, now: i64) -> bool {
        let mut moved = false;
        for &i in order {
            moved |= self.heartbeat(live[i % live.len()], live, shards, now);
        }
        moved
    }

    /// Rounds every 10 s from `now` until one moves nothing; returns the time after it.
    fn settle(&mut self, live: &[NodeId], order: &[usize], shards: u16, mut now: i64) -> i64 {
        for _ in 0..4 {
            let moved = self.round(live, order, shards, now);
            now += 10;
            if !moved {
                return now;
            }
        }
        panic!("not settled after 4 rounds: {self:?}");
    }

    fn assert_balanced(&self, live: &[NodeId], shards: u16, now: i64) {
        let owners = self.owners(now);
        assert_eq!(owners.len(), usize::from(shards), "every shard held");
        let target = usize::from(fair_share(shards, live.len()));
        for n in live {
            assert!(self.held_by(*n, now) <= target);
        }
        assert!(owners.values().all(|n| live.contains(n)));
    }
}

fn nodes(n: usize) -> Vec<NodeId> {
    (0..n as i64).map(|i| NodeId(i * 7 + 3)).collect()
}

/// Each node once, in some order.
fn order(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    /// A judge back for less than the lease time never finds anyone dead; one that was in touch
    /// before the node's last heartbeat judges exactly as `liveness` does.
    #[test]
    fn a_returning_judge_waits_a_lease_time(
        hb in 0i64..1000, now in 0i64..2000, ttl in 1i64..100, back in 0i64..2000, stopped: bool,
    ) {
        let n = NodeSeen { id: NodeId(1), heartbeat_at: hb, stopped };
        let l = liveness_since(&n, now, ttl, back);
        if back > now - ttl {
            prop_assert_ne!(l, Liveness::Dead);
        }
        if back <= hb {
            prop_assert_eq!(l, liveness(&n, now, ttl));
        }
    }

    /// From any table (leases of live nodes, of vanished nodes, expired or not), two rounds of
    /// heartbeats hold every shard exactly once, within the fair share, and a third moves
    /// nothing.
    #[test]
    fn any_table_settles_in_two_rounds(
        shards in 1u16..48,
        n in 1usize..7,
        rows in proptest::collection::vec((0usize..10, 90i64..131, any::<bool>()), 48),
        seed in any::<u64>(),
    ) {
        let live = nodes(n);
        let mut t = Table::default();
        for (s, (who, exp, present)) in rows.into_iter().enumerate().take(usize::from(shards)) {
            if !present {
                continue;
            }
            // Nodes outside the live set last beat before 70; their leases expired by 100.
            let (node, exp) = match live.get(who) {
                Some(n) => (*n, exp),
                None => (NodeId(1000 + who as i64), exp.min(100)),
            };
            t.0.insert(ShardId(s as u16), Lease { shard: ShardId(s as u16), node, expires_at: exp });
        }
        let mut ord: Vec<usize> = (0..n).collect();
        // A fixed permutation per case, different per seed.
        ord.sort_by_key(|&i| mix(seed ^ i as u64));
        t.round(&live, &ord, shards, 100);
        t.round(&live, &ord, shards, 110);
        t.assert_balanced(&live, shards, 110);
        prop_assert!(!t.round(&live, &ord, shards, 120), "a settled table stays");
    }

    /// A node joining a settled fleet: shards leave only nodes above the new fair share, each
    /// exactly its excess; the newcomer gets at least what the others cannot hold.
    #[test]
    fn a_join_moves_only_the_excess(
        shards in 1u16..300,
        n in 1usize..12,
        ord in order(13),
    ) {
        let mut live = nodes(n);
        let mut t = Table::default();
        let now = t.settle(&live, &ord, shards, 100);
        t.assert_balanced(&live, shards, now);
        let before = t.owners(now);
        let newcomer = NodeId(999);
        live.push(newcomer);
        let now = t.settle(&live, &ord, shards, now);
        t.assert_balanced(&live, shards, now);
        let target = fair_share(shards, live.len()) as usize;
        let after = t.owners(now);
        for old in &live[..n] {
            let had = before.values().filter(|o| *o == old).count();
            let lost = before.iter().filter(|(s, o)| *o == old && after[*s] != *old).count();
            prop_assert_eq!(lost, had.saturating_sub(target), "node {:?} had {}", old, had);
        }
        let got = t.held_by(newcomer, now);
        prop_assert!(got >= usize::from(shards).saturating_sub(n * target));
    }

    /// A node leaving, gracefully (its rows deleted) or dead (its leases left to expire): only
    /// its shards move, and the rest share them.
    #[test]
    fn a_leave_moves_only_the_leavers_shards(
        shards in 1u16..300,
        n in 2usize..12,
        leaver in 0usize..12,
        graceful in any::<bool>(),
        ord in order(12),
    ) {
        let mut live = nodes(n);
        let mut t = Table::default();
        let now = t.settle(&live, &ord, shards, 100);
        let before = t.owners(now);
        let gone = live.remove(leaver % n);
        let mut now = now;
        if graceful {
            t.0.retain(|_, l| l.node != gone);
        } else {
            // The others renew without it; its leases run out 30 s after its last renewal.
            t.round(&live, &ord, shards, now + 10);
            now += TTL;
        }
        let now = t.settle(&live, &ord, shards, now);
        t.assert_balanced(&live, shards, now);
        let after = t.owners(now);
        for (s, o) in &before {
            if *o != gone {
                prop_assert_eq!(after[s], *o, "shard {} moved off a node that stayed", s);
            }
        }
    }
}
