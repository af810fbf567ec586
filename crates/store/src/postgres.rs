//! PostgreSQL backend: for fleets beyond ~50k channels and for several prober nodes.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::sql::sql_store;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::SecretKey;

pub struct PostgresStore {
    pub(crate) pool: sqlx::PgPool,
    key: SecretKey,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(crate::db_error)?;
        crate::migrations::migrator(crate::migrations::POSTGRES)
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable("migrating the PostgreSQL database", e))?;
        Ok(Self { pool, key })
    }

    /// The monitor lock (see `lease`), or `None` when another session holds it.
    async fn take_monitor_lock(&self) -> Result<Option<Box<dyn super::lease::LockGuard>>> {
        let opts = self.pool.connect_options();
        Ok(super::lease::AdvisoryLock::try_acquire(&opts, false)
            .await?
            .map(|l| Box::new(l) as Box<dyn super::lease::LockGuard>))
    }

    /// The monitor lock in shared mode, as every node holds it (see `nodes`).
    async fn take_node_lock(&self) -> Result<Option<Box<dyn super::lease::LockGuard>>> {
        let opts = self.pool.connect_options();
        Ok(super::lease::AdvisoryLock::try_acquire(&opts, true)
            .await?
            .map(|l| Box::new(l) as Box<dyn super::lease::LockGuard>))
    }

    /// `Store::list_devices_for_report`.
    async fn scan_report_devices(&self) -> Result<Vec<camwatch_core::registry::Device>> {
        use super::pg_copy::{CopyReader, int8, text};
        use futures::TryStreamExt;
        // Through binary COPY, as the spans are: it runs beside the spans' read, on the same
        // two cores, and 300,000 query rows took their decoding's share of them. Sorted here:
        // the server sorted with two parallel workers, twice the time of the plain read.
        let sql = format!(
            "COPY (SELECT {} FROM device) TO STDOUT (FORMAT binary)",
            super::rows::REPORT_COLUMNS
        );
        let mut conn = self.pool.acquire().await.map_err(crate::db_error)?;
        let mut stream = conn.copy_out_raw(&sql).await.map_err(crate::db_error)?;
        let mut reader = CopyReader::default();
        let mut out = Vec::new();
        while let Some(chunk) = stream.try_next().await.map_err(crate::db_error)? {
            reader.feed(&chunk, |f| {
                let field = |i: usize| f.get(i).copied().flatten();
                let txt = |i: usize| text(field(i));
                let required = |i: usize, what: &str| {
                    txt(i)?.ok_or_else(|| Error::internal(format!("stored device: {what} is NULL")))
                };
                out.push(
                    super::rows::ReportRow {
                        code: required(0, "code")?,
                        name: required(1, "name")?,
                        kind: required(2, "kind")?,
                        parent_code: txt(3)?,
                        civil_code: txt(4)?,
                        maintainer: txt(5)?,
                        monthly_fee_fen: int8(field(6))?,
                        monthly_link_fee_fen: int8(field(7))?,
                        contract_from: txt(8)?,
                        contract_to: txt(9)?,
                    }
                    .into_device()?,
                );
                Ok(())
            })?;
        }
        reader.finish()?;
        out.sort_unstable_by_key(|d| d.code);
        Ok(out)
    }

    /// `WorkOrderStore::work_orders_opened`, through binary COPY as the spans are: decoding a
    /// month's 29 k orders as query rows took ~90 ms (see docs/performance.md).
    async fn scan_orders_opened(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::workorders::WorkOrder>> {
        use super::pg_copy::{CopyReader, int8, text};
        use futures::TryStreamExt;
        // Integers only, formatted here: COPY takes no bound parameters.
        let sql = format!(
            "COPY ({} WHERE opened_at >= {from} AND opened_at < {to}) TO STDOUT (FORMAT binary)",
            crate::workorders::select_orders!("")
        );
        let mut conn = self.pool.acquire().await.map_err(crate::db_error)?;
        let mut stream = conn.copy_out_raw(&sql).await.map_err(crate::db_error)?;
        let mut reader = CopyReader::default();
        let mut out = Vec::new();
        while let Some(chunk) = stream.try_next().await.map_err(crate::db_error)? {
            reader.feed(&chunk, |f| {
                let field = |i: usize| f.get(i).copied().flatten();
                let txt = |i: usize| -> Result<Option<String>> {
                    Ok(text(field(i))?.map(str::to_string))
                };
                out.push(crate::workorders::order_from_columns(txt, |i| {
                    int8(field(i))
                })?);
                Ok(())
            })?;
        }
        reader.finish()?;
        Ok(out)
    }

    /// Spans overlapping `[from, to)` as the parts read, any order (`spans_overlapping` sorts
    /// them into one), through binary COPY (see `pg_copy`: row decoding was most of a large
    /// report's time), read as two halves on two connections, so two server processes produce
    /// rows at once.
    ///
    /// The table is partitioned by the month a span ended in (migration 0014), so the filter
    /// on `end_at` leaves the month's partition, the later ones and the open one, however
    /// long the history. The halves are physical (`ctid` below or from the middle block of
    /// the largest of those partitions): a TID range scan each, 2.1 s for a month of 6 M spans
    /// where two id ranges took 3.5 s (docs/performance.md). Both connections read one
    /// snapshot (exported by the first, imported by the second): a span closed meanwhile moves
    /// to another partition and another `ctid`, and two snapshots could read it twice or not
    /// at all.
    async fn scan_spans(
        &self,
        from: i64,
        to: i64,
        open_until: i64,
    ) -> Result<Vec<crate::ReadSpans>> {
        let time = format!("start_at < {to} AND (end_at IS NULL OR end_at > {from})");
        let begin = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";
        let mut a = self.pool.begin().await.map_err(crate::db_error)?;
        sqlx::query(begin)
            .execute(&mut *a)
            .await
            .map_err(crate::db_error)?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *a)
            .await
            .map_err(crate::db_error)?;
        let first = crate::retention::partition_of("status_span", from);
        let blocks: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(pg_relation_size(c.oid)), 0) / current_setting('block_size')::BIGINT
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'status_span'::regclass
               AND (c.relname >= $1 OR c.relname = 'status_span_open')",
        )
        .bind(&first)
        .fetch_one(&mut *a)
        .await
        .map_err(crate::db_error)?;
        let mid = blocks / 2;
        if mid == 0 || !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            let spans = copy_spans(&mut a, &time, open_until).await?;
            a.commit().await.map_err(crate::db_error)?;
            return Ok(vec![spans]);
        }
        let mut b = self.pool.begin().await.map_err(crate::db_error)?;
        sqlx::query(begin)
            .execute(&mut *b)
            .await
            .map_err(crate::db_error)?;
        // The snapshot's name is the server's, checked above to be hex digits and dashes.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET TRANSACTION SNAPSHOT '{snapshot}'"
        )))
        .execute(&mut *b)
        .await
        .map_err(crate::db_error)?;
        let (low, high) = (
            format!("ctid < '({mid},0)' AND {time}"),
            format!("ctid >= '({mid},0)' AND {time}"),
        );
        let (spans, rest) = tokio::try_join!(
            copy_spans(&mut a, &low, open_until),
            copy_spans(&mut b, &high, open_until),
        )?;
        a.commit().await.map_err(crate::db_error)?;
        b.commit().await.map_err(crate::db_error)?;
        Ok(vec![spans, rest])
    }
}

/// The spans matching `filter` (SQL built from integers only: COPY takes no parameters), read
/// on `conn`.
async fn copy_spans(
    conn: &mut sqlx::PgConnection,
    filter: &str,
    open_until: i64,
) -> Result<crate::ReadSpans> {
    use super::pg_copy::{CopyReader, int8, text};
    use futures::TryStreamExt;
    let sql = format!(
        "COPY (SELECT device_code, status, start_at, end_at, cause FROM status_span
             WHERE {filter}) TO STDOUT (FORMAT binary)"
    );
    let mut stream = conn.copy_out_raw(&sql).await.map_err(crate::db_error)?;
    let mut reader = CopyReader::default();
    let mut out = crate::ReadSpans::default();
    while let Some(chunk) = stream.try_next().await.map_err(crate::db_error)? {
        reader.feed(&chunk, |f| {
            let field = |i: usize| f.get(i).copied().flatten();
            let code = field(0).unwrap_or_default();
            let start_at = int8(field(2))?.unwrap_or_default();
            let end_at = int8(field(3))?.unwrap_or(open_until);
            if end_at <= start_at {
                return Ok(());
            }
            let device =
                camwatch_core::registry::DeviceCode::from_digits(code).ok_or_else(|| {
                    Error::internal(format!(
                        "stored span code {:?}",
                        String::from_utf8_lossy(code)
                    ))
                })?;
            let status = text(field(1))?
                .unwrap_or_default()
                .parse()
                .map_err(Error::internal)?;
            out.push(device, status, start_at, end_at, text(field(4))?)
        })?;
    }
    reader.finish()?;
    Ok(out)
}

sql_store!(PostgresStore, sqlx::Postgres, "postgres", "BEGIN");
// After an import with explicit ids, the id sequence moves past them.
crate::workorders::workorder_sql!(
    PostgresStore,
    sqlx::Postgres,
    "BEGIN",
    "SELECT setval(pg_get_serial_sequence('work_order', 'id'), (SELECT max(id) FROM work_order))"
);
super::outbox_sql::outbox_store!(PostgresStore, sqlx::Postgres, "BEGIN");
crate::users::users_sql!(PostgresStore, sqlx::Postgres, "BEGIN");
crate::gb28181::gb_sql!(PostgresStore, sqlx::Postgres, "BEGIN");
crate::gb_recording::recording_sql!(PostgresStore, sqlx::Postgres, "BEGIN");
crate::gb_sip_facts::sip_facts_sql!(PostgresStore, sqlx::Postgres, "BEGIN");
crate::nodes::node_sql!(
    PostgresStore,
    sqlx::Postgres,
    "BEGIN",
    " FOR UPDATE SKIP LOCKED"
);
crate::patrol::patrol_sql!(PostgresStore, sqlx::Postgres, "BEGIN");
