-- GB/T 28181 catalog sync and unknown devices. Keep in step with
-- migrations/sqlite/0005_gb28181.sql.
--
-- gb_channel: every register device a GB/T 28181 catalog has listed, the peer whose catalog
-- listed it, and whether it is a contract point. A channel a catalog brought into the register
-- is 'unconfirmed' until an operator confirms it (`camwatch register confirm`): it is monitored
-- but reports leave it out. A device already in the register when a catalog first listed it is
-- 'confirmed' from the start (confirmed_by NULL). Rows are never deleted: a channel gone from a
-- complete catalog of its source keeps its row (and its register entry) with removed_at set,
-- cleared when a catalog lists it again.
CREATE TABLE gb_channel (
    device_code    TEXT PRIMARY KEY REFERENCES device (code),
    source_code    TEXT NOT NULL,     -- the registered device, NVR or platform whose catalog listed it
    state          TEXT NOT NULL CHECK (state IN ('unconfirmed','confirmed')),
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,  -- the latest catalog that listed it
    removed_at     BIGINT,           -- gone from a complete catalog of source_code; NULL: listed
    confirmed_at   BIGINT,           -- when an operator confirmed it; NULL: unconfirmed or never needed
    confirmed_by   TEXT,
    CHECK (state = 'confirmed' OR confirmed_at IS NULL)
);
CREATE INDEX gb_channel_source ON gb_channel (source_code);
CREATE INDEX gb_channel_unconfirmed ON gb_channel (device_code) WHERE state = 'unconfirmed';

-- Devices that tried to register without being in the register, for review. Bounded by the
-- application (the least recently seen forgotten first).
CREATE TABLE gb_unknown_device (
    code           TEXT PRIMARY KEY CHECK (length(code) = 20), -- the ID it registered with
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    last_addr      TEXT NOT NULL,     -- ip:port of the latest attempt
    attempts       BIGINT NOT NULL
);
CREATE INDEX gb_unknown_device_seen ON gb_unknown_device (last_seen_at);
