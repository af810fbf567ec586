//! Singleton duties (docs/nodes.md): jobs that must run on exactly one node at a time (the
//! notification outbox, scheduled reports, the catalog sync of each lower platform), each under
//! a named lease in the store's `duty_lease` table, taken, renewed and expired like a shard's.
//! Pure: the store reads the table, this decides, the store writes the decision.
//!
//! Invariants (tested below):
//! - a node takes a duty only where there is no lease or an expired one; the store adds that
//!   the expired holder be this node or stopped (recovered), so no duty is ever held twice;
//! - it renews and releases only its own leases, and releases those it no longer wants;
//! - it runs a duty only while its lease outlives the next heartbeat ([`running`]), so a node
//!   cut off from the database stops before anyone may take the duty over.
//!
//! Must not: read a clock, or spread duties for balance (a duty is light; what matters is that
//! exactly one node runs it, and that one that can take it does).

use std::collections::BTreeSet;

use super::NodeId;
use crate::registry::DeviceCode;

/// A job that runs on one node at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Duty {
    /// Delivering the notification outbox.
    Outbox,
    /// Scheduled reports and the daily digest.
    Reports,
    /// History's months: partitions made ahead, months past retention archived and dropped.
    Retention,
    /// The catalog sync of one lower platform (GB/T 28181), by its code.
    Catalog(DeviceCode),
}

impl Duty {
    /// Its name in the store: `outbox`, `reports`, `catalog:<code>`.
    pub fn name(&self) -> String {
        match self {
            Duty::Outbox => "outbox".into(),
            Duty::Reports => "reports".into(),
            Duty::Retention => "retention".into(),
            Duty::Catalog(c) => format!("catalog:{c}"),
        }
    }
}

impl std::str::FromStr for Duty {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "outbox" => Ok(Duty::Outbox),
            "reports" => Ok(Duty::Reports),
            "retention" => Ok(Duty::Retention),
            _ => s
                .strip_prefix("catalog:")
                .and_then(|c| c.parse().ok())
                .map(Duty::Catalog)
                .ok_or_else(|| format!("unknown duty {s:?}")),
        }
    }
}

impl std::fmt::Display for Duty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// One row of the duty table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyLease {
    pub duty: Duty,
    pub node: NodeId,
    /// Held until this instant (Unix seconds, exclusive).
    pub expires_at: i64,
}

/// What a node does with the duty table at one heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutyPlan {
    /// Its unexpired leases of duties it still wants: extend them.
    pub renew: Vec<Duty>,
    /// Its unexpired leases of duties it no longer wants: give them up now.
    pub release: Vec<Duty>,
    /// Duties it wants with no lease or an expired one; the store takes each only if it is
    /// still free when written (and an expired holder is this node, stopped or recovered).
    pub take: Vec<Duty>,
}

/// The plan of node `me`, which can run the duties `wanted`, on the table `leases` at `now`.
pub fn duty_plan(me: NodeId, wanted: &BTreeSet<Duty>, leases: &[DutyLease], now: i64) -> DutyPlan {
    let mut out = DutyPlan::default();
    for l in leases.iter().filter(|l| l.node == me && l.expires_at > now) {
        if wanted.contains(&l.duty) {
            out.renew.push(l.duty.clone());
        } else {
            out.release.push(l.duty.clone());
        }
    }
    for d in wanted {
        let free = leases
            .iter()
            .find(|l| &l.duty == d)
            .is_none_or(|l| l.expires_at <= now);
        if free {
            out.take.push(d.clone());
        }
    }
    out
}

/// The duties node `me` may run at `now`: those it holds by a lease that does not expire
/// within `margin_sec` (a heartbeat).
pub fn running(me: NodeId, leases: &[DutyLease], now: i64, margin_sec: i64) -> BTreeSet<Duty> {
    leases
        .iter()
        .filter(|l| l.node == me && l.expires_at - margin_sec > now)
        .map(|l| l.duty.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn platform(i: u32) -> Duty {
        Duty::Catalog(format!("3401000000200{i:07}").parse().unwrap())
    }

    #[test]
    fn names_round_trip() {
        for d in [Duty::Outbox, Duty::Reports, Duty::Retention, platform(7)] {
            assert_eq!(d.name().parse::<Duty>(), Ok(d));
        }
        assert!("catalog:12".parse::<Duty>().is_err());
        assert!("digest".parse::<Duty>().is_err());
    }

    #[test]
    fn takes_the_free_renews_its_own_releases_the_unwanted() {
        let (a, b) = (NodeId(1), NodeId(2));
        let leases = [
            DutyLease {
                duty: Duty::Outbox,
                node: a,
                expires_at: 130,
            },
            DutyLease {
                duty: Duty::Reports,
                node: b,
                expires_at: 130,
            },
            DutyLease {
                duty: platform(1),
                node: b,
                expires_at: 100, // expired
            },
            DutyLease {
                duty: platform(2),
                node: a,
                expires_at: 130,
            },
        ];
        let wanted: BTreeSet<Duty> = [Duty::Outbox, Duty::Reports, platform(1), platform(3)]
            .into_iter()
            .collect();
        let p = duty_plan(a, &wanted, &leases, 100);
        assert_eq!(p.renew, [Duty::Outbox]);
        assert_eq!(p.release, [platform(2)]);
        assert_eq!(p.take, [platform(1), platform(3)]);
        // Runs what outlives the next heartbeat.
        assert_eq!(
            running(a, &leases, 100, 10),
            [Duty::Outbox, platform(2)].into_iter().collect()
        );
        assert!(running(a, &leases, 120, 10).is_empty());
    }

    proptest! {
        /// Whatever the table, a plan never touches another node's unexpired lease, and two
        /// nodes never both run a duty at the same instant (each runs only what it holds).
        #[test]
        fn never_another_nodes_live_lease(
            rows in proptest::collection::vec((0u32..4, 1i64..4, 0i64..200), 0..8),
            want in proptest::collection::btree_set(0u32..4, 0..4),
            now in 0i64..200,
        ) {
            let me = NodeId(1);
            let duty = |i: u32| if i == 0 { Duty::Outbox } else { platform(i) };
            // At most one row per duty, as the table's primary key has it.
            let mut seen = BTreeSet::new();
            let leases: Vec<DutyLease> = rows
                .into_iter()
                .filter(|(d, _, _)| seen.insert(*d))
                .map(|(d, n, e)| DutyLease { duty: duty(d), node: NodeId(n), expires_at: e })
                .collect();
            let wanted: BTreeSet<Duty> = want.into_iter().map(duty).collect();
            let p = duty_plan(me, &wanted, &leases, now);
            for l in leases.iter().filter(|l| l.node != me && l.expires_at > now) {
                prop_assert!(!p.take.contains(&l.duty));
                prop_assert!(!p.renew.contains(&l.duty));
                prop_assert!(!p.release.contains(&l.duty));
            }
            for d in p.take.iter().chain(&p.renew) {
                prop_assert!(wanted.contains(d));
            }
            let mine = running(me, &leases, now, 5);
            let theirs = running(NodeId(2), &leases, now, 5);
            prop_assert!(mine.is_disjoint(&theirs));
        }
    }
}
