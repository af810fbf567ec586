-- Retention by month (docs/nodes.md, "Data at scale"). Keep in step with
-- migrations/postgres/0014_monthly_partitions.sql.
--
-- PostgreSQL partitions status spans and the audit log by month, and drops a month past its
-- retention. SQLite has no partitions: `camwatch archive` deletes the spans that ended before
-- the cut, and the audit entries made before it, once they are exported. These indexes find
-- them without a scan of the whole history.
CREATE INDEX status_span_end ON status_span (end_at);
CREATE INDEX audit_log_at ON audit_log (at);
