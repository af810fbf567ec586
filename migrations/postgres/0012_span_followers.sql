-- Nodes follow each other's status changes (docs/nodes.md, "One fleet on every node"). Keep in
-- step with migrations/sqlite/0012_span_followers.sql.
--
-- A node shows the whole fleet: the devices other nodes probe get their status from the spans
-- those nodes write. Each node's span writer commits its batches one after another, so the
-- spans one instance wrote, in id order, are committed in id order: a follower reads each
-- other node's new spans after the last id it has seen of that node, through this index,
-- without missing a span committed late by another node.
CREATE INDEX status_span_by_instance ON status_span (instance_id, id);

-- The monthly report reads the spans overlapping its month: start before the month's end
-- and end after its start (or still open). With years of history, the spans that started
-- before the month's end are nearly all of them; those that end after its start are one
-- month's worth. This index lets the report's read cost a month's spans however long the
-- history is.
CREATE INDEX status_span_end ON status_span (end_at);
