-- Singleton duties under a named lease (docs/nodes.md). Keep in step with
-- migrations/postgres/0010_duty_lease.sql.
--
-- A duty is a job that must run on exactly one node at a time: the notification outbox
-- ('outbox'), scheduled reports ('reports'), the catalog sync of one lower platform
-- ('catalog:<code>'); camwatch_core::nodes::duty names them. One row per duty, taken, renewed
-- and expired like a shard_lease row: the primary key makes "no duty run twice" a fact of the
-- table, and an expired row is taken only from its own holder or from a stopped (recovered)
-- one. A graceful stop and a recovery delete the node's rows.
CREATE TABLE duty_lease (
    name         TEXT PRIMARY KEY,
    instance_id  INTEGER NOT NULL REFERENCES monitor_instance (id),
    expires_at   INTEGER NOT NULL                             -- held until then (exclusive)
);
CREATE INDEX duty_lease_by_instance ON duty_lease (instance_id);
