-- camwatch schema, PostgreSQL flavour. Keep in step with migrations/sqlite/0001_init.sql:
-- same tables, same columns, same meaning. Times are Unix seconds UTC (`*_at`), money is integer
-- fen (0.01 yuan), enumerations are text with CHECK constraints.

-- The camera register (一机一档): one row per video channel, NVR, encoder or platform.
CREATE TABLE device (
    code                TEXT PRIMARY KEY CHECK (length(code) = 20), -- GB/T 28181 20-digit code
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('camera','channel','nvr','dvr','encoder','platform','other')),
    parent_code         TEXT,            -- NVR/encoder/platform this channel is reached through
    ip                  TEXT,
    rtsp_port           BIGINT,
    http_port           BIGINT,
    stream_urls         TEXT NOT NULL DEFAULT '[]',  -- JSON array, main stream first; never holds credentials
    onvif_url           TEXT,
    snapshot_url        TEXT,
    username            TEXT,
    -- Sealed with XChaCha20-Poly1305 under the instance key, the device code bound as associated
    -- data ('v1:' + base64). Never clear text.
    password_sealed     TEXT,
    civil_code          TEXT,            -- 行政区划; NULL means: use code digits 1-6
    police_station      TEXT,            -- 所属派出所
    address             TEXT,
    longitude           DOUBLE PRECISION,
    latitude            DOUBLE PRECISION,
    place_type          TEXT,
    build_type          TEXT,
    build_date          TEXT,            -- ISO date
    vendor              TEXT,
    model               TEXT,
    resolution          TEXT,
    maintainer          TEXT,            -- 运维单位: the contractor answerable for this device
    maintainer_contact  TEXT,
    maintainer_phone    TEXT,
    monthly_fee_fen     BIGINT,         -- monthly maintenance fee
    monthly_link_fee_fen BIGINT,        -- monthly link (line) fee
    contract_from       TEXT,            -- ISO date: counted from 00:00 of this day (contract zone)
    contract_to         TEXT,            -- ISO date: counted until 24:00 of this day; NULL = open-ended
    tags                TEXT NOT NULL DEFAULT '[]',  -- JSON array
    extra               TEXT NOT NULL DEFAULT '{}',  -- JSON object: source columns without a field
    updated_at          BIGINT NOT NULL
);
CREATE INDEX device_region ON device (coalesce(civil_code, substr(code, 1, 6)));
CREATE INDEX device_maintainer ON device (maintainer);
CREATE INDEX device_parent ON device (parent_code);

-- Status history as spans, not samples (docs/architecture.md, decision 1): each row is
-- [start_at, end_at) of one status. end_at NULL marks the device's current, still open span; at
-- most one per device.
CREATE TABLE status_span (
    id          BIGSERIAL PRIMARY KEY,
    device_code TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('online','degraded','offline','unknown')),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT CHECK (end_at IS NULL OR end_at > start_at),
    cause       TEXT              -- failure kind, fault kinds, parent_down:<code>, monitor_gap
);
CREATE INDEX status_span_device ON status_span (device_code, start_at);
CREATE INDEX status_span_time ON status_span (start_at);
CREATE UNIQUE INDEX status_span_one_open ON status_span (device_code) WHERE end_at IS NULL;

-- The monitor's own liveness: the last time it was known to be watching. After a crash, the time
-- from here to the restart is recorded as `unknown` (docs/architecture.md, decision 3).
CREATE TABLE heartbeat (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    at      BIGINT NOT NULL
);

-- Approved periods that count neither as online nor as offline (docs/architecture.md, decision 4).
CREATE TABLE exemption (
    id          BIGSERIAL PRIMARY KEY,
    scope_type  TEXT NOT NULL CHECK (scope_type IN ('device','region_prefix')),
    scope_value TEXT NOT NULL,   -- a device code, or a civil-code prefix
    reason      TEXT NOT NULL CHECK (reason IN ('force_majeure','planned_works','relocation','demolition','third_party','other')),
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL CHECK (end_at > start_at),
    note        TEXT NOT NULL DEFAULT '',
    approved_by TEXT NOT NULL
);
CREATE INDEX exemption_time ON exemption (start_at, end_at);

-- Append-only record of every state-changing action: who, what, when. Never holds secrets.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
);
