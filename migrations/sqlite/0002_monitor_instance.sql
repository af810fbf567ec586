-- One monitor per database, and each monitor's spans its own. Keep in step with
-- migrations/postgres/0002_monitor_instance.sql.
--
-- Two `serve`s on one database both wrote spans, and the one that stopped first closed every open
-- span at its stop, the other's too: time it was still watching became `unknown`. Now a monitor
-- holds a lock for its whole run (SQLite: flock on `<database>-monitor.lock` beside the file;
-- PostgreSQL: a session advisory lock; see crates/store/src/lease.rs), records itself here, tags the
-- spans it opens, and on stop closes only those. The row is what a refused second monitor names
-- (host, pid, since), and what recovery reads: an instance that never stopped died, and its open
-- spans end at its last heartbeat: the time since is `unknown`. Several nodes, later, each own a row.
CREATE TABLE monitor_instance (
    id            INTEGER PRIMARY KEY,
    host          TEXT NOT NULL,           -- the machine's host name
    pid           INTEGER NOT NULL,        -- its process id there
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,        -- last sign of life, written with each span batch
    stopped_at    INTEGER,                 -- NULL: running, or died and not yet recovered
    stop_kind     TEXT CHECK (stop_kind IN ('graceful','recovered')),  -- recovered: died; stopped_at = its last heartbeat
    CHECK ((stopped_at IS NULL) = (stop_kind IS NULL))
);

-- The monitor that opened the span; NULL for imported history and spans closed before this
-- migration. (Not enforced on SQLite: the connection runs with foreign keys off.)
ALTER TABLE status_span ADD COLUMN instance_id INTEGER REFERENCES monitor_instance (id);
CREATE INDEX status_span_open_by_instance ON status_span (instance_id) WHERE end_at IS NULL;

-- Spans a monitor from before this migration left open: they belong to a stand-in instance whose
-- last heartbeat is the old single heartbeat, so the next start closes them there as before.
INSERT INTO monitor_instance (host, pid, started_at, heartbeat_at)
    SELECT '(before migration 0002)', 0, at, at FROM heartbeat;
UPDATE status_span SET instance_id = (SELECT max(id) FROM monitor_instance) WHERE end_at IS NULL;

-- The single heartbeat is now per instance (monitor_instance.heartbeat_at).
DROP TABLE heartbeat;
