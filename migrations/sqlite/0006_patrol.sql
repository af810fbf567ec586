-- Patrol (巡检) records. Keep in step with migrations/postgres/0006_patrol.sql.
--
-- One row per verdict an operator gave on a channel of a working day's patrol batch. Rows are
-- never changed or deleted (the triggers refuse it): a second verdict on the same device and
-- day is a new row, and the latest (recorded_at, then id) counts in the figures. A fault
-- verdict names what was wrong (finding) and the work order it opened or joined.
CREATE TABLE patrol_record (
    id             INTEGER PRIMARY KEY,
    device_code    TEXT NOT NULL REFERENCES device (code),
    day            TEXT NOT NULL CHECK (length(day) = 10),  -- YYYY-MM-DD, the contract's time zone
    patroller      TEXT NOT NULL,                           -- the user's audit name
    verdict        TEXT NOT NULL CHECK (verdict IN ('normal','fault')),
    finding        TEXT,              -- a picture fault kind, no_video or other; set iff a fault
    note           TEXT NOT NULL DEFAULT '',
    work_order_id  INTEGER REFERENCES work_order (id),
    recorded_at    INTEGER NOT NULL,
    CHECK ((verdict = 'fault') = (finding IS NOT NULL))
);
CREATE INDEX patrol_record_day ON patrol_record (day, device_code);

CREATE TRIGGER patrol_record_no_update BEFORE UPDATE ON patrol_record
BEGIN
    SELECT RAISE(ABORT, 'patrol records are never changed');
END;
CREATE TRIGGER patrol_record_no_delete BEFORE DELETE ON patrol_record
BEGIN
    SELECT RAISE(ABORT, 'patrol records are never deleted');
END;
