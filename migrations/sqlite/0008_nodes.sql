-- Several nodes on one database (docs/nodes.md). Keep in step with
-- migrations/postgres/0008_nodes.sql.
--
-- A node is a monitor instance with a name; the fleet is split into 256 shards by the hash of
-- each device's root code (camwatch_core::nodes), and a node probes only the shards it holds a
-- lease on. One row per shard: the primary key is what makes "no shard held twice" a fact of
-- the table. A lease is renewed with each of its node's heartbeats; once `expires_at` has passed
-- any node may take it, but only after the previous holder is stopped or recovered, so that the
-- holder's open spans are closed at its own last heartbeat before anyone writes beside them.
-- (SQLite has one node, which holds every shard without rows here; the table keeps the two
-- schemas alike.)
ALTER TABLE monitor_instance ADD COLUMN node_name TEXT;   -- NULL: a single monitor, not a node

CREATE TABLE shard_lease (
    shard        INTEGER PRIMARY KEY CHECK (shard >= 0 AND shard < 256),
    instance_id  INTEGER NOT NULL REFERENCES monitor_instance (id),
    expires_at   INTEGER NOT NULL                          -- held until then (exclusive)
);
CREATE INDEX shard_lease_by_instance ON shard_lease (instance_id);
