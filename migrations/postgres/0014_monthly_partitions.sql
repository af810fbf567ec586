-- Status spans and the audit log partitioned by month (docs/nodes.md, "Data at scale"). Keep
-- in step with migrations/sqlite/0014_monthly_partitions.sql (SQLite has no partitions; it gets
-- the index its retention deletes by).
--
-- Years of spans made the monthly report's read cost the whole history's index, and retention
-- a DELETE of millions of rows. Spans are now partitioned by the month their end falls in
-- (UTC), so a month's report reads that month's partition and the few later ones holding spans
-- that began before its end, and dropping a month past its retention is a DROP TABLE.
--
-- By end, not start: a span belongs to history once it ends, and retention must keep a span
-- that began years ago but ended within the audit period. An open span (end_at NULL) lives in
-- `status_span_open`, the default partition, where the one-open-span-per-device rule is a
-- unique index (a unique index over all partitions would have to include end_at). Closing a
-- span moves its row to its month's partition.
--
-- Month partitions are made ahead by `camwatch_month_partitions` below, which every node calls
-- at start and once a day (docs/nodes.md); a span closed in a month that has none yet waits in
-- the default partition and is moved out when that month's partition is made.

-- Makes the month partitions of `parent` (range-partitioned on `key`, Unix seconds) covering
-- [from_at, to_at], moving any rows of those months out of its default partition `fallback`
-- first. Idempotent; callers on several nodes are serialised by an advisory lock. Returns how
-- many partitions it made. Partition names: <parent>_yYYYYmMM.
CREATE FUNCTION camwatch_month_partitions(parent TEXT, key TEXT, fallback TEXT, from_at BIGINT, to_at BIGINT)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    m    TIMESTAMP := date_trunc('month', to_timestamp(from_at) AT TIME ZONE 'UTC');
    last TIMESTAMP := date_trunc('month', to_timestamp(to_at) AT TIME ZONE 'UTC');
    lo   BIGINT;
    hi   BIGINT;
    part TEXT;
    made INTEGER := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('camwatch_month_partitions:' || parent));
    WHILE m <= last LOOP
        part := format('%s_y%sm%s', parent, to_char(m, 'YYYY'), to_char(m, 'MM'));
        IF to_regclass(part) IS NULL THEN
            lo := extract(epoch FROM m AT TIME ZONE 'UTC')::BIGINT;
            hi := extract(epoch FROM (m + INTERVAL '1 month') AT TIME ZONE 'UTC')::BIGINT;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
            EXECUTE format(
                'WITH moved AS (DELETE FROM %I WHERE %I >= %s AND %I < %s RETURNING *) INSERT INTO %I SELECT * FROM moved',
                fallback, key, lo, key, hi, part);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', parent, part, lo, hi);
            made := made + 1;
        END IF;
        m := m + INTERVAL '1 month';
    END LOOP;
    RETURN made;
END
$$;

-- status_span, partitioned. The old table's rows are copied, then its indexes are made on the
-- new one (faster than maintaining them row by row).
ALTER TABLE status_span RENAME TO status_span_before_0014;
ALTER SEQUENCE status_span_id_seq OWNED BY NONE;
DROP INDEX status_span_device, status_span_time, status_span_one_open, status_span_open_by_instance,
    status_span_by_instance, status_span_end;

CREATE TABLE status_span (
    id          BIGINT NOT NULL DEFAULT nextval('status_span_id_seq'),
    device_code TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('online','degraded','offline','unknown')),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT CHECK (end_at IS NULL OR end_at > start_at),
    cause       TEXT,
    instance_id BIGINT REFERENCES monitor_instance (id)
) PARTITION BY RANGE (end_at);
CREATE TABLE status_span_open PARTITION OF status_span DEFAULT;

SELECT camwatch_month_partitions('status_span', 'end_at', 'status_span_open',
    coalesce((SELECT min(end_at) FROM status_span_before_0014), extract(epoch FROM now())::BIGINT),
    extract(epoch FROM now() + INTERVAL '3 months')::BIGINT);
INSERT INTO status_span (id, device_code, status, start_at, end_at, cause, instance_id)
    SELECT id, device_code, status, start_at, end_at, cause, instance_id FROM status_span_before_0014;
DROP TABLE status_span_before_0014;
ALTER SEQUENCE status_span_id_seq OWNED BY status_span.id;

-- The id is unique (one sequence) but not a constraint: a unique index over partitions must
-- hold the partition key. Closing a span by id names end_at IS NULL too, which finds it in the
-- open partition alone.
CREATE INDEX status_span_id ON status_span (id);
CREATE INDEX status_span_device ON status_span (device_code, start_at);
CREATE INDEX status_span_time ON status_span (start_at);
-- Within a month's partition, the report's read of a month that starts or ends mid-partition
-- (a contract zone east of UTC) takes the slice by end_at.
CREATE INDEX status_span_end ON status_span (end_at);
CREATE INDEX status_span_by_instance ON status_span (instance_id, id);
CREATE UNIQUE INDEX status_span_one_open ON status_span_open (device_code) WHERE end_at IS NULL;
CREATE INDEX status_span_open_by_instance ON status_span_open (instance_id) WHERE end_at IS NULL;

-- audit_log, partitioned by the month of `at`. Its primary key now holds `at` (a partitioned
-- table's unique keys must); ids stay unique through their sequence.
ALTER TABLE audit_log RENAME TO audit_log_before_0014;
ALTER TABLE audit_log_before_0014 DROP CONSTRAINT audit_log_pkey;
ALTER SEQUENCE audit_log_id_seq OWNED BY NONE;
CREATE TABLE audit_log (
    id      BIGINT NOT NULL DEFAULT nextval('audit_log_id_seq'),
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
SELECT camwatch_month_partitions('audit_log', 'at', 'audit_log_default',
    coalesce((SELECT min(at) FROM audit_log_before_0014), extract(epoch FROM now())::BIGINT),
    extract(epoch FROM now() + INTERVAL '3 months')::BIGINT);
INSERT INTO audit_log (id, at, actor, action, target, detail)
    SELECT id, at, actor, action, target, detail FROM audit_log_before_0014;
DROP TABLE audit_log_before_0014;
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
