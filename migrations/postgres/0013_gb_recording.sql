-- GB/T 28181 recording health (docs/gb28181.md, "Recording status"). Keep in step with
-- migrations/sqlite/0013_gb_recording.sql.
--
-- The platform asks every registered peer for its DeviceStatus every
-- [gb28181] device_status_sec; the answer's Record (is it recording?), Encode and Status are
-- the peer's recording health. Only changes are written (the platform publishes one when any
-- of the three differs from its last answer, or at its first answer since start).

-- Each peer's recording health now.
CREATE TABLE gb_recording (
    code        TEXT PRIMARY KEY CHECK (length(code) = 20),
    record      TEXT NOT NULL CHECK (record IN ('on', 'off', 'unknown')),
    encode      TEXT NOT NULL CHECK (encode IN ('on', 'off', 'unknown')),
    status      TEXT NOT NULL CHECK (status IN ('on', 'off', 'unknown')),
    since       BIGINT NOT NULL,  -- since when record has had its value (kept across restarts)
    changed_at  BIGINT NOT NULL   -- the last change of record, encode or status
);
CREATE INDEX gb_recording_by_record ON gb_recording (record, since);

-- Every change, for the history ("recording off since when, and how often").
CREATE TABLE gb_recording_change (
    id      BIGSERIAL PRIMARY KEY,
    code    TEXT NOT NULL CHECK (length(code) = 20),
    at      BIGINT NOT NULL,
    record  TEXT NOT NULL CHECK (record IN ('on', 'off', 'unknown')),
    encode  TEXT NOT NULL CHECK (encode IN ('on', 'off', 'unknown')),
    status  TEXT NOT NULL CHECK (status IN ('on', 'off', 'unknown'))
);
CREATE INDEX gb_recording_change_by_code ON gb_recording_change (code, at);
