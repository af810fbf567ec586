//! Several nodes on one database (docs/nodes.md; migration 0008): nodes are monitor instances
//! with a name, and `shard_lease` says which node holds which shard until when.
//!
//! - **The table decides, not the nodes.** A shard has one row (primary key). A take writes a
//!   row only where there is none or where the lease has expired *and* its holder is stopped or
//!   recovered, in one statement; a shard another node won a moment earlier is simply not won.
//!   Renewals and releases touch only the caller's own rows.
//! - **A dead node is recovered once, before its shards move.** Recovery locks the dead node's
//!   row (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two nodes never recover the same one and
//!   neither waits), closes its open spans at its own last heartbeat (the time after is
//!   `unknown`), marks it recovered and deletes its lease rows, in one transaction.
//! - **Duties are leased as shards are** (`duty_lease`, migration 0010): one row per duty
//!   name, taken only where none is or where it expired and its holder is this node or
//!   stopped; a graceful stop and a recovery delete the node's rows with its shards'.
//! - **A node taken for dead stops.** Its heartbeat finds its row stopped and fails, so it never
//!   writes beside the shard's new holder.
//! - On PostgreSQL nodes hold the database's monitor lock in shared mode (`lease`): a single
//!   monitor is refused while nodes run, and a node while a single monitor runs. On SQLite a
//!   node takes the one monitor lock: one node.
//!
//! Must not: plan (which shards to take or release is `camwatch_core::nodes::plan`'s), or know
//! which devices are in a shard (the caller passes the devices whose spans a release closes).

use async_trait::async_trait;

use camwatch_core::cause::Cause;
use camwatch_core::error::Result;
use camwatch_core::history::Status;
use camwatch_core::nodes::duty::{DutyLease, DutyPlan};
use camwatch_core::nodes::{Lease, Plan};
use camwatch_core::registry::DeviceCode;

use crate::{InstanceId, MonitorInstance, MonitorLease};

/// How a stopped instance stopped (`monitor_instance.stop_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum StopKind {
    Graceful,
    /// It died; another instance closed its spans at its last heartbeat.
    Recovered,
}

/// A monitor instance as `camwatch nodes` and the heartbeat see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub instance: MonitorInstance,
    /// `[node] name`; `None` for a single monitor.
    pub name: Option<String>,
    pub stopped_at: Option<i64>,
    pub stop_kind: Option<StopKind>,
}

/// The nodes and the lease table, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodesView {
    /// Every instance not stopped, and those stopped at or after the `since` asked for; by id.
    pub nodes: Vec<NodeRecord>,
    /// Every row of the lease table, by shard.
    pub leases: Vec<Lease>,
}

/// A status span as another node follows it: which instance wrote it, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpan {
    pub id: i64,
    /// `None` for a span written before instances were recorded.
    pub instance: Option<InstanceId>,
    pub device: DeviceCode,
    pub status: Status,
    pub start_at: i64,
    /// `None` while open.
    pub end_at: Option<i64>,
    pub cause: Option<Cause>,
}

/// See [`NodeStore::peer_snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSnapshot {
    /// Each running instance but the asker, with the newest span id it had written (0: none).
    pub marks: Vec<(InstanceId, i64)>,
    /// The open spans the asker did not write.
    pub open: Vec<PeerSpan>,
}

/// A `PeerSpan` as read: id, instance, device, status, start, end, cause.
pub(crate) type PeerRow = (
    i64,
    Option<i64>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

pub(crate) fn peer_from_row(r: PeerRow) -> Result<PeerSpan> {
    let (id, instance, device, status, start_at, end_at, cause) = r;
    Ok(PeerSpan {
        id,
        instance: instance.map(InstanceId),
        device: device.parse().map_err(|_| {
            camwatch_core::error::Error::internal(format!("stored span code {device:?}"))
        })?,
        status: status
            .parse()
            .map_err(camwatch_core::error::Error::internal)?,
        start_at,
        end_at,
        cause: camwatch_core::cause::from_stored(cause.as_deref()),
    })
}

#[async_trait]
pub trait NodeStore: Send + Sync {
    /// A node joins: takes the database for a node (refused, `Conflict`, while a single monitor
    /// holds it) and records the instance with its `name`.
    async fn join_node(&self, name: &str, host: &str, pid: u32, at: i64) -> Result<MonitorLease>;

    /// The nodes (running, or stopped at or after `since`) and every lease.
    async fn nodes_view(&self, since: i64) -> Result<NodesView>;

    /// One heartbeat of `lease`'s node at `at`, in one transaction: records the heartbeat
    /// (failing with `Conflict` when the node was taken for dead: it must stop), renews `plan.renew` until
    /// `at + ttl_sec`, closes at `at` its open spans of `released_devices` and gives up
    /// `plan.release`, and takes what it can of `plan.take`. Returns the leases it holds after.
    async fn node_beat(
        &self,
        lease: &MonitorLease,
        at: i64,
        ttl_sec: i64,
        plan: &Plan,
        released_devices: &[DeviceCode],
    ) -> Result<Vec<Lease>>;

    /// Every row of the duty table (`camwatch_core::nodes::duty`), by name. A row whose name
    /// this version does not know (written by a newer one) is left out.
    async fn duty_view(&self) -> Result<Vec<DutyLease>>;

    /// One round of `lease`'s node with its duties at `at`, in one transaction: refused
    /// (`Unavailable`) once the node is recorded as stopped; renews `plan.renew` until
    /// `at + ttl_sec`, gives up `plan.release`, and takes what it can of `plan.take` (a duty
    /// with no row, or an expired one whose holder is this node or stopped). Returns the
    /// leases it holds after.
    async fn duty_beat(
        &self,
        lease: &MonitorLease,
        at: i64,
        ttl_sec: i64,
        plan: &DutyPlan,
    ) -> Result<Vec<DutyLease>>;

    /// What a node needs to show the devices other nodes probe: every running instance's
    /// newest span id but `me`'s (read first), then the open spans `me` did not write. A
    /// follower then reads each instance's spans after that id ([`Self::peer_spans_after`]).
    async fn peer_snapshot(&self, me: InstanceId) -> Result<PeerSnapshot>;

    /// The spans `instance` wrote after span id `after`, oldest first, at most `limit`. One
    /// instance commits its spans in id order (its span writer is one task), so a follower that
    /// has seen `after` misses none of them.
    async fn peer_spans_after(
        &self,
        instance: InstanceId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<PeerSpan>>;

    /// Recovers `dead` if it is still neither stopped nor heard from within `ttl_sec` of `at`
    /// and no other node is recovering it: closes its open spans at its last heartbeat, marks
    /// it recovered, deletes its leases. Returns it with the number of spans closed, or `None`.
    async fn recover_dead_node(
        &self,
        lease: &MonitorLease,
        dead: InstanceId,
        at: i64,
        ttl_sec: i64,
    ) -> Result<Option<(MonitorInstance, u64)>>;
}

/// The row a node view reads.
pub(crate) type NodeRow = (
    i64,
    String,
    i64,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

pub(crate) fn node_from_row(r: NodeRow) -> Result<NodeRecord> {
    let (id, host, pid, name, started_at, heartbeat_at, stopped_at, kind) = r;
    Ok(NodeRecord {
        instance: MonitorInstance {
            id: InstanceId(id),
            host,
            pid: pid as u32,
            started_at,
            heartbeat_at,
        },
        name,
        stopped_at,
        stop_kind: kind
            .map(|k| {
                k.parse().map_err(|_| {
                    camwatch_core::error::Error::internal(format!("stored stop kind {k:?}"))
                })
            })
            .transpose()?,
    })
}

/// `$lock` is what follows the recovery's SELECT of the dead node: ` FOR UPDATE SKIP LOCKED`
/// on PostgreSQL, nothing on SQLite (whose `BEGIN IMMEDIATE` already serialises writers).
macro_rules! node_sql {
    ($ty:ident, $db:ty, $begin:literal, $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::nodes::NodeStore for $ty {
            async fn join_node(
                &self,
                name: &str,
                host: &str,
                pid: u32,
                at: i64,
            ) -> camwatch_core::error::Result<$crate::MonitorLease> {
                let Some(guard) = self.take_node_lock().await? else {
                    let holder: Option<(i64, String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT id, host, pid, started_at, heartbeat_at FROM monitor_instance
                         WHERE stopped_at IS NULL ORDER BY id DESC LIMIT 1",
                    )
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                    let holder = holder.map(|(id, host, pid, started_at, heartbeat_at)| {
                        $crate::MonitorInstance {
                            id: $crate::InstanceId(id),
                            host,
                            pid: pid as u32,
                            started_at,
                            heartbeat_at,
                        }
                    });
                    return Err($crate::lease::refused(holder.as_ref(), $crate::Store::backend(self), at));
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO monitor_instance (host, pid, started_at, heartbeat_at, node_name)
                     VALUES ($1, $2, $3, $3, $4) RETURNING id",
                )
                .bind(host)
                .bind(i64::from(pid))
                .bind(at)
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let instance = $crate::MonitorInstance {
                    id: $crate::InstanceId(id),
                    host: host.to_string(),
                    pid,
                    started_at: at,
                    heartbeat_at: at,
                };
                Ok($crate::MonitorLease::new(instance, guard))
            }

            async fn nodes_view(
                &self,
                since: i64,
            ) -> camwatch_core::error::Result<$crate::nodes::NodesView> {
                let rows: Vec<$crate::nodes::NodeRow> = sqlx::query_as(
                    "SELECT id, host, pid, node_name, started_at, heartbeat_at, stopped_at, stop_kind
                     FROM monitor_instance WHERE stopped_at IS NULL OR stopped_at >= $1 ORDER BY id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let leases: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT shard, instance_id, expires_at FROM shard_lease ORDER BY shard",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok($crate::nodes::NodesView {
                    nodes: rows
                        .into_iter()
                        .map($crate::nodes::node_from_row)
                        .collect::<camwatch_core::error::Result<_>>()?,
                    leases: leases.into_iter().map(lease_from_row).collect(),
                })
            }

            async fn node_beat(
                &self,
                lease: &$crate::MonitorLease,
                at: i64,
                ttl_sec: i64,
                plan: &camwatch_core::nodes::Plan,
                released_devices: &[camwatch_core::registry::DeviceCode],
            ) -> camwatch_core::error::Result<Vec<camwatch_core::nodes::Lease>> {
                // A heartbeat claims the shards are still ours: never write one without the lock.
                lease.check().await?;
                let me = lease.id().0;
                let until = at + ttl_sec;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let alive = sqlx::query(
                    "UPDATE monitor_instance SET heartbeat_at = $1 WHERE id = $2 AND stopped_at IS NULL",
                )
                .bind(at)
                .bind(me)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                if alive.rows_affected() == 0 {
                    return Err(camwatch_core::error::Error::new(
                        camwatch_core::error::ErrorKind::Conflict,
                        format!(
                            "node {me} is recorded as stopped (taken for dead after a silence \
                             longer than the lease time): stopping, so that it never writes \
                             beside the shards' new holders"
                        ),
                    ));
                }
                let shard_list = |shards: &[camwatch_core::nodes::ShardId]| {
                    shards.iter().map(|s| i64::from(s.0)).collect::<Vec<i64>>()
                };
                for chunk in shard_list(&plan.renew).chunks(256) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE shard_lease SET expires_at = ");
                    qb.push_bind(until);
                    qb.push(" WHERE instance_id = ");
                    qb.push_bind(me);
                    qb.push(" AND shard IN (");
                    let mut sep = qb.separated(", ");
                    for s in chunk {
                        sep.push_bind(*s);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                if !plan.release.is_empty() {
                    for chunk in released_devices.chunks($crate::sql::DEVICE_BATCH) {
                        // As a stop does: a span opened at or after the release never held and
                        // is dropped; the others end at the release.
                        let mut drop_qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM status_span WHERE start_at >= ");
                        drop_qb.push_bind(at);
                        let mut close_qb = sqlx::QueryBuilder::<$db>::new("UPDATE status_span SET end_at = ");
                        close_qb.push_bind(at);
                        close_qb.push(" WHERE start_at < ");
                        close_qb.push_bind(at);
                        for qb in [&mut drop_qb, &mut close_qb] {
                            qb.push(" AND end_at IS NULL AND instance_id = ");
                            qb.push_bind(me);
                            qb.push(" AND device_code IN (");
                            let mut sep = qb.separated(", ");
                            for c in chunk {
                                sep.push_bind(c.to_string());
                            }
                            qb.push(")");
                            qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                        }
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("DELETE FROM shard_lease WHERE instance_id = ");
                    qb.push_bind(me);
                    qb.push(" AND shard IN (");
                    let mut sep = qb.separated(", ");
                    for s in shard_list(&plan.release) {
                        sep.push_bind(s);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                if !plan.take.is_empty() {
                    // A free row, or an expired one whose holder is stopped or recovered (or is
                    // this node): its spans are closed, nobody writes beside us.
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO shard_lease (shard, instance_id, expires_at) ",
                    );
                    qb.push_values(shard_list(&plan.take), |mut b, s| {
                        b.push_bind(s).push_bind(me).push_bind(until);
                    });
                    qb.push(
                        " ON CONFLICT (shard) DO UPDATE SET instance_id = excluded.instance_id, \
                         expires_at = excluded.expires_at WHERE shard_lease.expires_at <= ",
                    );
                    qb.push_bind(at);
                    qb.push(
                        " AND (shard_lease.instance_id = excluded.instance_id OR NOT EXISTS \
                         (SELECT 1 FROM monitor_instance m WHERE m.id = shard_lease.instance_id \
                         AND m.stopped_at IS NULL))",
                    );
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                let held: Vec<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT shard, instance_id, expires_at FROM shard_lease WHERE instance_id = $1
                     ORDER BY shard",
                )
                .bind(me)
                .fetch_all(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(held.into_iter().map(lease_from_row).collect())
            }

            async fn duty_view(
                &self,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::nodes::duty::DutyLease>> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT name, instance_id, expires_at FROM duty_lease ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok(rows.into_iter().filter_map(duty_from_row).collect())
            }

            async fn duty_beat(
                &self,
                lease: &$crate::MonitorLease,
                at: i64,
                ttl_sec: i64,
                plan: &camwatch_core::nodes::duty::DutyPlan,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::nodes::duty::DutyLease>> {
                lease.check().await?;
                let me = lease.id().0;
                let until = at + ttl_sec;
                let names = |d: &[camwatch_core::nodes::duty::Duty]| {
                    d.iter().map(|d| d.name()).collect::<Vec<String>>()
                };
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let alive: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM monitor_instance WHERE id = $1 AND stopped_at IS NULL",
                )
                .bind(me)
                .fetch_optional(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                if alive.is_none() {
                    return Err(camwatch_core::error::Error::new(
                        camwatch_core::error::ErrorKind::Unavailable,
                        format!("instance {me} is recorded as stopped (taken for dead): no duty"),
                    ));
                }
                for name in names(&plan.renew) {
                    sqlx::query(
                        "UPDATE duty_lease SET expires_at = $1 WHERE name = $2 AND instance_id = $3",
                    )
                    .bind(until)
                    .bind(name)
                    .bind(me)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                for name in names(&plan.release) {
                    sqlx::query("DELETE FROM duty_lease WHERE name = $1 AND instance_id = $2")
                        .bind(name)
                        .bind(me)
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::db_error)?;
                }
                for name in names(&plan.take) {
                    // As a shard: a free row, or an expired one whose holder is this node or is
                    // stopped (recovered), so a dead holder's duty waits for its recovery.
                    sqlx::query(
                        "INSERT INTO duty_lease (name, instance_id, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (name) DO UPDATE SET instance_id = excluded.instance_id,
                         expires_at = excluded.expires_at
                         WHERE duty_lease.expires_at <= $4
                         AND (duty_lease.instance_id = excluded.instance_id OR NOT EXISTS
                         (SELECT 1 FROM monitor_instance m WHERE m.id = duty_lease.instance_id
                         AND m.stopped_at IS NULL))",
                    )
                    .bind(name)
                    .bind(me)
                    .bind(until)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                let held: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT name, instance_id, expires_at FROM duty_lease WHERE instance_id = $1
                     ORDER BY name",
                )
                .bind(me)
                .fetch_all(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(held.into_iter().filter_map(duty_from_row).collect())
            }

            async fn peer_snapshot(
                &self,
                me: $crate::InstanceId,
            ) -> camwatch_core::error::Result<$crate::nodes::PeerSnapshot> {
                // The marks first: every span an instance wrote up to its mark is committed
                // (one instance commits in id order), so the open spans read after hold them.
                let marks: Vec<(i64, Option<i64>)> = sqlx::query_as(
                    "SELECT m.id, (SELECT max(s.id) FROM status_span s WHERE s.instance_id = m.id)
                     FROM monitor_instance m WHERE m.stopped_at IS NULL AND m.id <> $1 ORDER BY m.id",
                )
                .bind(me.0)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let open: Vec<$crate::nodes::PeerRow> = sqlx::query_as(
                    "SELECT id, instance_id, device_code, status, start_at, end_at, cause
                     FROM status_span
                     WHERE end_at IS NULL AND (instance_id IS NULL OR instance_id <> $1)",
                )
                .bind(me.0)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok($crate::nodes::PeerSnapshot {
                    marks: marks
                        .into_iter()
                        .map(|(id, mark)| ($crate::InstanceId(id), mark.unwrap_or(0)))
                        .collect(),
                    open: open
                        .into_iter()
                        .map($crate::nodes::peer_from_row)
                        .collect::<camwatch_core::error::Result<_>>()?,
                })
            }

            async fn peer_spans_after(
                &self,
                instance: $crate::InstanceId,
                after: i64,
                limit: u32,
            ) -> camwatch_core::error::Result<Vec<$crate::nodes::PeerSpan>> {
                let rows: Vec<$crate::nodes::PeerRow> = sqlx::query_as(
                    "SELECT id, instance_id, device_code, status, start_at, end_at, cause
                     FROM status_span WHERE instance_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(instance.0)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter().map($crate::nodes::peer_from_row).collect()
            }

            async fn recover_dead_node(
                &self,
                lease: &$crate::MonitorLease,
                dead: $crate::InstanceId,
                at: i64,
                ttl_sec: i64,
            ) -> camwatch_core::error::Result<Option<($crate::MonitorInstance, u64)>> {
                lease.check().await?;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let row: Option<(i64, String, i64, i64, i64)> = sqlx::query_as(concat!(
                    "SELECT id, host, pid, started_at, heartbeat_at FROM monitor_instance
                     WHERE id = $1 AND id <> $2 AND stopped_at IS NULL AND heartbeat_at <= $3",
                    $lock
                ))
                .bind(dead.0)
                .bind(lease.id().0)
                .bind(at - ttl_sec)
                .fetch_optional(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                let Some((id, host, pid, started_at, heartbeat_at)) = row else {
                    return Ok(None);
                };
                let closed = close_spans_of(&mut tx, id, heartbeat_at).await?;
                sqlx::query(
                    "UPDATE monitor_instance SET stopped_at = heartbeat_at, stop_kind = 'recovered'
                     WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                sqlx::query("DELETE FROM shard_lease WHERE instance_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                sqlx::query("DELETE FROM duty_lease WHERE instance_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(Some((
                    $crate::MonitorInstance {
                        id: $crate::InstanceId(id),
                        host,
                        pid: pid as u32,
                        started_at,
                        heartbeat_at,
                    },
                    closed,
                )))
            }
        }

        fn duty_from_row(
            (name, node, expires_at): (String, i64, i64),
        ) -> Option<camwatch_core::nodes::duty::DutyLease> {
            Some(camwatch_core::nodes::duty::DutyLease {
                duty: name.parse().ok()?,
                node: camwatch_core::nodes::NodeId(node),
                expires_at,
            })
        }

        fn lease_from_row((shard, node, expires_at): (i64, i64, i64)) -> camwatch_core::nodes::Lease {
            camwatch_core::nodes::Lease {
                shard: camwatch_core::nodes::ShardId(shard as u16),
                node: camwatch_core::nodes::NodeId(node),
                expires_at,
            }
        }
    };
}

pub(crate) use node_sql;
