-- Nodes follow each other's status changes (docs/nodes.md, "One fleet on every node"). Keep in
-- step with migrations/postgres/0012_span_followers.sql.
--
-- A node shows the whole fleet: the devices other nodes probe get their status from the spans
-- those nodes write. Each node's span writer commits its batches one after another, so the
-- spans one instance wrote, in id order, are committed in id order: a follower reads each
-- other node's new spans after the last id it has seen of that node, through this index,
-- without missing a span committed late by another node.
CREATE INDEX status_span_by_instance ON status_span (instance_id, id);

-- PostgreSQL also gets an index on end_at for the monthly report's read over years of
-- history; SQLite's report scans the table (NOT INDEXED, faster for one database of up to a
-- few months' spans), so it would only cost writes here.
