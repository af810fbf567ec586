//! Several nodes, one fleet: which shard a device is in, and what one node does with the shard
//! leases at a heartbeat (docs/nodes.md). Pure: the store reads the lease table and the nodes,
//! this decides, the store writes the decision in the same transaction.
//!
//! Invariants the plan keeps (the property tests in `tests.rs` check each):
//! - it never takes a shard another node holds by an unexpired lease, and only renews or
//!   releases its own: with the table's primary key, no shard is ever held twice;
//! - once every live node has planned twice on a stable fleet, every shard is held and no node
//!   holds more than the fair share `ceil(shards / live nodes)`;
//! - a join or a leave moves only what it must: shards leave only nodes above the new fair
//!   share, exactly their excess, and a leaver's shards go to the others.
//!
//! It must not: read a clock (the caller passes `now`), or rely on two nodes seeing the same
//! snapshot (the database serialises their transactions; a shard another node took first is
//! simply not won).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::registry::{Device, DeviceCode};

pub mod duty;

/// The number of shards. Fixed for the life of a database: a shard is the unit that moves
/// between nodes, and changing the count would move nearly every device at once.
pub const SHARDS: u16 = 256;

/// One shard of the fleet, `0..SHARDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A node: the id of its `monitor_instance` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub i64);

/// FNV-1a, 64 bits: stable across versions, platforms and processes (`std`'s hasher is seeded
/// per process, so two nodes would disagree).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64's finaliser: spreads a key over 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shard of a root code (see [`shards_of`]) among `shards`.
pub fn shard_of_root(root: &DeviceCode, shards: u16) -> ShardId {
    ShardId((fnv1a(root.as_str().as_bytes()) % u64::from(shards.max(1))) as u16)
}

/// Every device's shard, index-aligned with `devices`: the shard of its root, the topmost
/// ancestor reachable through `parent` within the register (a parent not in the register ends
/// the walk). An NVR and its channels, a platform and all below it, share one shard, so one
/// node probes them all and the per-host and per-platform caps hold fleet-wide. A parent cycle
/// (a register error) has as its root the smallest code on the cycle, so all its members agree.
pub fn shards_of(devices: &[Device], shards: u16) -> Vec<ShardId> {
    let parent: HashMap<DeviceCode, Option<DeviceCode>> =
        devices.iter().map(|d| (d.code, d.parent)).collect();
    devices
        .iter()
        .map(|d| shard_of_root(&root_of(d.code, &parent), shards))
        .collect()
}

fn root_of(code: DeviceCode, parent: &HashMap<DeviceCode, Option<DeviceCode>>) -> DeviceCode {
    let mut path = vec![code];
    let mut at = code;
    while let Some(Some(p)) = parent.get(&at) {
        if let Some(i) = path.iter().position(|c| c == p) {
            return *path[i..].iter().min().expect("a cycle has members");
        }
        path.push(*p);
        at = *p;
    }
    at
}

/// The fair share: `ceil(shards / live)`; with nobody live, all of them.
pub fn fair_share(shards: u16, live: usize) -> u16 {
    if live == 0 {
        return shards;
    }
    u16::try_from(usize::from(shards).div_ceil(live)).unwrap_or(shards)
}

/// One row of the lease table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub shard: ShardId,
    pub node: NodeId,
    /// Held until this instant (Unix seconds, exclusive); from then on anyone may take it.
    pub expires_at: i64,
}

impl Lease {
    pub fn valid_at(&self, now: i64) -> bool {
        self.expires_at > now
    }
}

/// What a node is, as the heartbeat reads it from the nodes' table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSeen {
    pub id: NodeId,
    pub heartbeat_at: i64,
    pub stopped: bool,
}

/// Liveness of a node at `now` with lease time-to-live `ttl_sec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Not stopped, a heartbeat within the last `ttl_sec`: counts for the fair share.
    Live,
    /// Not stopped and silent for `ttl_sec` or longer: dead; its spans are to be closed at its
    /// last heartbeat (and its leases have expired by then, since each was renewed at the
    /// latest with its last heartbeat).
    Dead,
    /// Stopped gracefully or already recovered.
    Stopped,
}

pub fn liveness(n: &NodeSeen, now: i64, ttl_sec: i64) -> Liveness {
    if n.stopped {
        Liveness::Stopped
    } else if n.heartbeat_at > now - ttl_sec {
        Liveness::Live
    } else {
        Liveness::Dead
    }
}

/// Liveness of `n` as judged by a node that has been in touch with the database without a
/// break since `watching_since`: a silence counts only from then on.
///
/// When the database itself was away (restarted, out of reach), every node's row stopped
/// moving at once, so on the judge's first heartbeat after it every other node looks silent.
/// None of them is taken for dead until it stayed silent for `ttl_sec` *after the judge was
/// back*, which leaves each the time to come back too (it beats within a heartbeat, and
/// `ttl_sec` is at least three). A node that really died meanwhile is recovered `ttl_sec`
/// later than it would have been; its shards wait that long, and its gap stays `unknown`.
pub fn liveness_since(n: &NodeSeen, now: i64, ttl_sec: i64, watching_since: i64) -> Liveness {
    let seen = NodeSeen {
        heartbeat_at: n.heartbeat_at.max(watching_since),
        ..*n
    };
    liveness(&seen, now, ttl_sec)
}

/// What one node does with the lease table at one heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Its unexpired leases it keeps: extend them.
    pub renew: Vec<ShardId>,
    /// Its unexpired leases above its fair share: give them up now.
    pub release: Vec<ShardId>,
    /// Free shards (no lease, or an expired one) to take, in order of preference. The store
    /// takes each only if it is still free when written.
    pub take: Vec<ShardId>,
}

/// The plan of node `me` at `now`, given the `live` nodes (`me` counts even if absent) and the
/// lease table `leases` (at most one row per shard, shards `0..shards`).
///
/// Above the fair share it releases its highest-numbered shards; below it, it takes free
/// shards, first those it held itself until they expired, then by the highest rendezvous hash
/// of (shard, node), so that nodes joining together reach for different shards. It never takes
/// a shard that a node holds by an unexpired lease: a newcomer's share comes from what the
/// others release when they count it.
pub fn plan(me: NodeId, live: &[NodeId], leases: &[Lease], shards: u16, now: i64) -> Plan {
    let live: BTreeSet<NodeId> = live.iter().copied().chain([me]).collect();
    let target = usize::from(fair_share(shards, live.len()));
    let by_shard: BTreeMap<ShardId, &Lease> = leases.iter().map(|l| (l.shard, l)).collect();
    let mut mine: Vec<ShardId> = by_shard
        .values()
        .filter(|l| l.node == me && l.valid_at(now))
        .map(|l| l.shard)
        .collect();
    let mut out = Plan::default();
    if mine.len() > target {
        out.release = mine.split_off(target);
        out.renew = mine;
        return out;
    }
    let want = target - mine.len();
    out.renew = mine;
    let mut free: Vec<(bool, u64, ShardId)> = (0..shards)
        .map(ShardId)
        .filter_map(|s| match by_shard.get(&s) {
            Some(l) if l.valid_at(now) => None,
            Some(l) => Some((l.node == me, preference(s, me), s)),
            None => Some((false, preference(s, me), s)),
        })
        .collect();
    // Own expired leases first, then the highest preference; the shard breaks ties.
    free.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    out.take = free.into_iter().take(want).map(|(_, _, s)| s).collect();
    out
}

/// Rendezvous (highest random weight) score of `node` for `shard`.
fn preference(shard: ShardId, node: NodeId) -> u64 {
    mix(mix(node.0 as u64) ^ u64::from(shard.0))
}

/// The shards a node may probe at `now`: those it holds by a lease that will not expire within
/// `margin_sec` (a heartbeat), so that a node whose renewals stopped (the database cut off)
/// stops probing before anyone else may take the shard.
pub fn probing(me: NodeId, leases: &[Lease], now: i64, margin_sec: i64) -> BTreeSet<ShardId> {
    leases
        .iter()
        .filter(|l| l.node == me && l.expires_at - margin_sec > now)
        .map(|l| l.shard)
        .collect()
}

#[cfg(test)]
mod tests;
