-- GB/T 28181 peers' last known signalling facts (docs/gb28181.md, "SIP facts across a
-- restart"). Keep in step with migrations/sqlite/0015_gb_sip_facts.sql.
--
-- The platform's view of a peer (registration, keepalives, last catalog, last DeviceInfo)
-- lives in the node's memory; this table keeps the last of it so that after a restart the
-- API and `camwatch probe` show what was last known, marked as from before the restart (a
-- registration from before a restart proves nothing now). Written on a change of
-- registration, catalog or DeviceInfo, a peer's last keepalive at most once a minute, in
-- batches; only for devices in the register. Recording health is in gb_recording.
CREATE TABLE gb_sip_facts (
    code                    TEXT PRIMARY KEY CHECK (length(code) = 20),
    transport               TEXT CHECK (transport IN ('udp', 'tcp')),
    addr                    TEXT,
    registered_at           BIGINT,
    expires_at              BIGINT,
    last_keepalive          BIGINT,
    keepalive_interval_sec  BIGINT NOT NULL,
    keepalive_misses        BIGINT NOT NULL,
    catalog_at              BIGINT,   -- the last catalog (all five set, or none)
    catalog_channels        BIGINT,
    catalog_announced       BIGINT,
    catalog_pages           BIGINT,
    catalog_complete        BOOLEAN,
    info_at                 BIGINT,   -- the last DeviceInfo answer
    info_manufacturer       TEXT,
    info_model              TEXT,
    info_firmware           TEXT,
    info_channels           BIGINT,
    written_at              BIGINT NOT NULL
);
