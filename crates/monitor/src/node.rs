//! One node's heartbeat (docs/nodes.md): read the nodes and the lease table, recover the dead,
//! plan (`camwatch_core::nodes::plan`), write the plan, and say which shards to probe until the
//! next heartbeat.
//!
//! - **A shard is released a heartbeat after its probing stopped.** When the plan first wants
//!   to give a shard up, the node renews it once more and stops probing it (the scheduler is
//!   rebuilt without it, its pending changes reach the span writer, which writes every second);
//!   at the next heartbeat it releases it, closing its devices' spans there. So no change of a
//!   released device is written after the release, beside the taker's.
//! - **A dead node is recovered before its shards are planned**, so its spans end at its last
//!   heartbeat before anyone writes beside them (the store also refuses a take before that).
//! - **Probing stops a heartbeat before a lease expires** (`nodes::probing`): a node whose
//!   heartbeats fail (the database out of reach) stops probing before another may take over.
//!   A heartbeat that does not answer within a heartbeat counts as failed.
//! - **After the database was away nobody is taken for dead at once** (`nodes::liveness_since`):
//!   a silence counts from this node's first heartbeat after its own last failure, so every
//!   node gets a lease time to come back before its shards may move.
//!
//! Must not: decide the plan itself (pure, in core) or write SQL (the store does).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use camwatch_core::error::Result;
use camwatch_core::nodes::duty::{self, DutyLease};
use camwatch_core::nodes::{self, Lease, Liveness, NodeId, NodeSeen, SHARDS, ShardId};
use camwatch_core::registry::Device;
use camwatch_store::{MonitorLease, Store};

use crate::duties::Duties;

/// How a node beats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRole {
    /// `[node] name`: in logs, and in the probes' `User-Agent`.
    pub name: String,
    pub heartbeat_sec: u64,
    pub lease_ttl_sec: u64,
}

/// What a node knows of its leases between heartbeats.
#[derive(Debug)]
pub(crate) struct NodeBeat {
    role: NodeRole,
    me: NodeId,
    /// Its leases as the last successful heartbeat returned them.
    leases: Vec<Lease>,
    /// Shards the last plan wanted to give up: not probed, released at the next heartbeat.
    retiring: BTreeSet<ShardId>,
    /// Shards gained since the scheduler was last built, each with the instant (Unix seconds)
    /// after which its previous holder probed nothing: now for a shard a live node released,
    /// the last heartbeat for one a dead node held.
    gained: BTreeMap<ShardId, i64>,
    /// Since when its heartbeats have succeeded without a break; `None` after a failure. A
    /// silence of another node counts only from then (`nodes::liveness_since`): after the
    /// database itself was away, every node's row is old.
    watching_since: Option<i64>,
    /// The singleton duties it may take, and the board it publishes those it runs on.
    duties: Option<Duties>,
    /// Its duty leases as the last successful heartbeat returned them.
    duty_leases: Vec<DutyLease>,
}

impl NodeBeat {
    pub(crate) fn new(role: NodeRole, lease: &MonitorLease, duties: Option<Duties>) -> Self {
        Self {
            role,
            me: NodeId(lease.id().0),
            leases: Vec::new(),
            retiring: BTreeSet::new(),
            gained: BTreeMap::new(),
            watching_since: None,
            duties,
            duty_leases: Vec::new(),
        }
    }

    /// Publishes the duties this node may run at `now`: those whose lease outlives the next
    /// heartbeat. Called after every heartbeat, failed ones too, so a node cut off from the
    /// database stops its duties before their leases run out.
    pub(crate) fn publish_duties(&self, now: i64) {
        if let Some(d) = &self.duties {
            d.publish(duty::running(
                self.me,
                &self.duty_leases,
                now,
                self.role.heartbeat_sec as i64,
            ));
        }
    }

    pub(crate) fn heartbeat_ms(&self) -> i64 {
        self.role.heartbeat_sec as i64 * 1000
    }

    /// One heartbeat at `now` over the register `devices` (with their `shards`).
    pub(crate) async fn beat(
        &mut self,
        store: &dyn Store,
        lease: &MonitorLease,
        devices: &[Device],
        shards: &[ShardId],
        now: i64,
    ) -> Result<()> {
        let ttl = self.role.lease_ttl_sec as i64;
        // Stopped nodes are of no interest to the plan; a day back is plenty.
        let view = store.nodes_view(now - 86_400).await?;
        let mut live = Vec::new();
        // The dead recovered now, with their last heartbeats.
        let mut dead_at: HashMap<NodeId, i64> = HashMap::new();
        for n in &view.nodes {
            let seen = NodeSeen {
                id: NodeId(n.instance.id.0),
                heartbeat_at: n.instance.heartbeat_at,
                stopped: n.stopped_at.is_some(),
            };
            let since = self.watching_since.unwrap_or(now);
            match nodes::liveness_since(&seen, now, ttl, since) {
                Liveness::Live => live.push(seen.id),
                Liveness::Dead if seen.id != self.me => {
                    if let Some((dead, closed)) = store
                        .recover_dead_node(lease, n.instance.id, now, ttl)
                        .await?
                    {
                        dead_at.insert(seen.id, dead.heartbeat_at);
                        tracing::warn!(
                            node = n.name.as_deref().unwrap_or(""),
                            instance = %dead.id,
                            host = %dead.host,
                            pid = dead.pid,
                            last_heartbeat = dead.heartbeat_at,
                            closed,
                            "a node stopped beating: its spans end at its last heartbeat, \
                             its shards are free"
                        );
                    }
                }
                _ => {}
            }
        }
        let mut plan = nodes::plan(self.me, &live, &view.leases, SHARDS, now);
        let (release, later): (Vec<ShardId>, Vec<ShardId>) = plan
            .release
            .iter()
            .partition(|s| self.retiring.contains(*s));
        plan.renew.extend(&later);
        plan.release = release;
        let released: Vec<_> = devices
            .iter()
            .zip(shards)
            .filter(|(_, s)| plan.release.contains(s))
            .map(|(d, _)| d.code)
            .collect();
        let before: BTreeSet<ShardId> = self.leases.iter().map(|l| l.shard).collect();
        self.leases = store.node_beat(lease, now, ttl, &plan, &released).await?;
        for l in &self.leases {
            if !before.contains(&l.shard) {
                let quiet_since = view
                    .leases
                    .iter()
                    .find(|v| v.shard == l.shard)
                    .and_then(|v| dead_at.get(&v.node))
                    .copied()
                    .unwrap_or(now);
                self.gained.insert(l.shard, quiet_since);
            }
        }
        if !plan.release.is_empty() || !plan.take.is_empty() {
            tracing::info!(
                released = plan.release.len(),
                asked = plan.take.len(),
                holding = self.leases.len(),
                live_nodes = live.len().max(1),
                "shards rebalanced"
            );
        }
        self.retiring = later.into_iter().collect();
        if let Some(d) = &self.duties {
            let view = store.duty_view().await?;
            let plan = duty::duty_plan(self.me, &d.wanted(), &view, now);
            self.duty_leases = store.duty_beat(lease, now, ttl, &plan).await?;
        }
        self.watching_since.get_or_insert(now);
        Ok(())
    }

    /// A heartbeat failed (or did not answer in time): until one succeeds again, this node
    /// may have missed the others' heartbeats too.
    pub(crate) fn lost_touch(&mut self) {
        self.watching_since = None;
    }

    /// The shards gained since the last call, each with the instant since which its previous
    /// holder probed nothing.
    pub(crate) fn take_gained(&mut self) -> BTreeMap<ShardId, i64> {
        std::mem::take(&mut self.gained)
    }

    /// The shards to probe at `now`.
    pub(crate) fn probing(&self, now: i64) -> BTreeSet<ShardId> {
        let margin = self.role.heartbeat_sec as i64;
        let mut s = nodes::probing(self.me, &self.leases, now, margin);
        s.retain(|x| !self.retiring.contains(x));
        s
    }
}

/// The devices of `all` in the shards `probing`, and the others.
pub(crate) fn split(
    all: &[Device],
    shards: &[ShardId],
    probing: &BTreeSet<ShardId>,
) -> (Vec<Device>, Vec<Device>) {
    let (mine, others): (Vec<_>, Vec<_>) = all
        .iter()
        .zip(shards)
        .partition(|(_, s)| probing.contains(s));
    let devices = |v: Vec<(&Device, &ShardId)>| v.into_iter().map(|(d, _)| d.clone()).collect();
    (devices(mine), devices(others))
}
