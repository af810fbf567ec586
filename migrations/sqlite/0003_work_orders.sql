-- Fault work orders (工单) and the notification outbox. Keep in step with
-- migrations/postgres/0003_work_orders.sql.
--
-- An order is opened for a fault episode of one device, or for a shared cause (a parent down, a
-- region down together) listing the channels it covers. Its history is an append-only event log:
-- nothing is ever deleted or rewritten, the order row is the current state derived from it.
CREATE TABLE work_order (
    id                   INTEGER PRIMARY KEY,
    subject              TEXT NOT NULL,       -- the device code the order is about (the parent for a parent order)
    origin               TEXT NOT NULL,       -- outage | picture | parent | region | manual
    cause                TEXT,                -- the Cause's stable text form
    title                TEXT NOT NULL,
    level                TEXT NOT NULL,       -- the contract's SLA level name
    state                TEXT NOT NULL,       -- pending | accepted | repaired | awaiting_review | closed
    contractor           TEXT,                -- assignee (运维单位); NULL: unassigned
    region               TEXT NOT NULL,       -- 6-digit civil code
    fault_since          INTEGER NOT NULL,    -- the fault's (backdated) start
    opened_at            INTEGER NOT NULL,
    response_due_at      INTEGER,
    repair_due_at        INTEGER,
    accepted_at          INTEGER,
    repaired_at          INTEGER,
    closed_at            INTEGER,
    fault_ended_at       INTEGER,             -- when the monitor last saw the fault end
    resolution           TEXT,                -- repaired | recovered | cancelled (when closed)
    response_overdue_at  INTEGER,             -- the moment the response deadline passed unanswered
    repair_overdue_at    INTEGER,
    version              INTEGER NOT NULL DEFAULT 0  -- +1 per change: two writers never both win
);
CREATE INDEX work_order_state ON work_order (state, opened_at);
CREATE INDEX work_order_contractor ON work_order (contractor, opened_at);
CREATE INDEX work_order_opened ON work_order (opened_at);
-- The open orders are few among many closed ones: the console's lists of them (a contractor's,
-- the newest, the overdue) read this small index instead of every order of a contractor.
CREATE INDEX work_order_open ON work_order (contractor, id) WHERE state <> 'closed';

-- The channels an order covers. A device is in at most one open order: that is what keeps a
-- fault from getting a duplicate while its order is open (left_at is set when it leaves the
-- order or the order closes).
CREATE TABLE work_order_device (
    order_id     INTEGER NOT NULL REFERENCES work_order (id),
    device_code  TEXT NOT NULL,
    joined_at    INTEGER NOT NULL,
    left_at      INTEGER
);
CREATE UNIQUE INDEX work_order_device_open ON work_order_device (device_code) WHERE left_at IS NULL;
CREATE INDEX work_order_device_order ON work_order_device (order_id);

-- Everything that happened to an order, with who and when. Append-only.
CREATE TABLE work_order_event (
    id        INTEGER PRIMARY KEY,
    order_id  INTEGER NOT NULL REFERENCES work_order (id),
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,                  -- user name, cli:<os user>, or system
    kind      TEXT NOT NULL,
    note      TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '{}'      -- JSON
);
CREATE INDEX work_order_event_order ON work_order_event (order_id, id);

-- Photos and evidence frames attached to an order.
CREATE TABLE work_order_attachment (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES work_order (id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    bytes       BLOB NOT NULL
);
CREATE INDEX work_order_attachment_order ON work_order_attachment (order_id);

-- Notifications waiting to be delivered, written in the same transaction as the change they
-- announce, so a crash never loses one. Delivered in id order per (target, ordering_key);
-- retried with backoff until delivered; a delivered row is kept (delivered_at) as the record.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    target        TEXT NOT NULL,              -- the configured target's name
    ordering_key  TEXT NOT NULL,              -- e.g. work-order:42, digest:<contractor>
    kind          TEXT NOT NULL,              -- opened | overdue | not_verified | reopened | digest | …
    payload       TEXT NOT NULL,              -- JSON, target-independent; rendered per target at send
    created_at    INTEGER NOT NULL,
    next_at       INTEGER NOT NULL,           -- not before this
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    delivered_at  INTEGER
);
CREATE INDEX outbox_pending ON outbox (next_at) WHERE delivered_at IS NULL;
CREATE INDEX outbox_key ON outbox (target, ordering_key, id) WHERE delivered_at IS NULL;
