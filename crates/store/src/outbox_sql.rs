//! The outbox's SQL, shared by both backends like `sql.rs`: `outbox_store!` stamps
//! [`crate::outbox::OutboxStore`] out for each concrete `sqlx` pool type. Only standard SQL that
//! SQLite (3.25+, for the window function) and PostgreSQL both accept.

/// The head of each key that is due, ranked within its target so the limit is per target.
/// The correlated `min(id)` walks the `outbox_key` partial index.
pub(crate) const DUE_SQL: &str = "SELECT id, target, ordering_key, kind, payload, created_at,
        next_at, attempts, last_error, delivered_at
    FROM (
        SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.target ORDER BY o.next_at, o.id) AS rn
        FROM outbox o
        WHERE o.delivered_at IS NULL AND o.next_at <= $1
          AND o.id = (SELECT min(h.id) FROM outbox h
                      WHERE h.delivered_at IS NULL AND h.target = o.target
                        AND h.ordering_key = o.ordering_key)
    ) d
    WHERE d.rn <= $2
    ORDER BY d.next_at, d.id";

pub(crate) const COLUMNS: &str = "id, target, ordering_key, kind, payload, created_at, next_at, \
    attempts, last_error, delivered_at";

/// Rows per multi-row INSERT: 5 values a row, far inside both backends' limits.
pub(crate) const BATCH: usize = 1000;

macro_rules! outbox_store {
    ($ty:ident, $db:ty, $begin:literal) => {
        fn outbox_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> camwatch_core::error::Result<$crate::outbox::OutboxRow> {
            use sqlx::Row;
            let attempts: i64 = row.try_get("attempts").map_err(crate::db_error)?;
            Ok($crate::outbox::OutboxRow {
                id: row.try_get("id").map_err(crate::db_error)?,
                target: row.try_get("target").map_err(crate::db_error)?,
                ordering_key: row.try_get("ordering_key").map_err(crate::db_error)?,
                kind: row.try_get("kind").map_err(crate::db_error)?,
                payload: row.try_get("payload").map_err(crate::db_error)?,
                created_at: row.try_get("created_at").map_err(crate::db_error)?,
                next_at: row.try_get("next_at").map_err(crate::db_error)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                last_error: row.try_get("last_error").map_err(crate::db_error)?,
                delivered_at: row.try_get("delivered_at").map_err(crate::db_error)?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::outbox::OutboxStore for $ty {
            async fn enqueue_outbox(
                &self,
                rows: &[$crate::outbox::NewOutboxRow],
            ) -> camwatch_core::error::Result<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with($begin)
                    .await
                    .map_err(crate::db_error)?;
                for chunk in rows.chunks($crate::outbox_sql::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO outbox (target, ordering_key, kind, payload, created_at, \
                         next_at) ",
                    );
                    qb.push_values(chunk.iter(), |mut b, r| {
                        b.push_bind(r.target.clone())
                            .push_bind(r.ordering_key.clone())
                            .push_bind(r.kind.clone())
                            .push_bind(r.payload.clone())
                            .push_bind(r.created_at)
                            .push_bind(r.created_at);
                    });
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn due_outbox(
                &self,
                now: i64,
                limit_per_target: u64,
            ) -> camwatch_core::error::Result<Vec<$crate::outbox::OutboxRow>> {
                let rows = sqlx::query($crate::outbox_sql::DUE_SQL)
                    .bind(now)
                    .bind(i64::try_from(limit_per_target).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                rows.iter().map(outbox_row).collect()
            }

            async fn mark_delivered(&self, id: i64, at: i64) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $1, attempts = attempts + 1
                     WHERE id = $2 AND delivered_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok(())
            }

            async fn mark_failed(
                &self,
                id: i64,
                attempts: u32,
                next_at: i64,
                error: &str,
            ) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "UPDATE outbox SET attempts = $1, next_at = $2, last_error = $3
                     WHERE id = $4 AND delivered_at IS NULL",
                )
                .bind(i64::from(attempts))
                .bind(next_at)
                .bind($crate::outbox::cut(error, $crate::outbox::MAX_ERROR_BYTES))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok(())
            }

            async fn outbox_backlog(
                &self,
            ) -> camwatch_core::error::Result<$crate::outbox::OutboxBacklog> {
                let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT target, count(*), min(created_at), max(attempts) FROM outbox
                     WHERE delivered_at IS NULL GROUP BY target ORDER BY target",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let mut out = $crate::outbox::OutboxBacklog::default();
                for (target, pending, oldest, max_attempts) in rows {
                    let pending = u64::try_from(pending).unwrap_or(0);
                    out.pending += pending;
                    out.oldest_created_at = match (out.oldest_created_at, oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    out.by_target.push($crate::outbox::TargetBacklog {
                        target,
                        pending,
                        oldest_created_at: oldest,
                        max_attempts: u32::try_from(max_attempts.unwrap_or(0)).unwrap_or(u32::MAX),
                    });
                }
                Ok(out)
            }

            async fn latest_outbox_of_kind(
                &self,
                kind: &str,
            ) -> camwatch_core::error::Result<Option<i64>> {
                let (at,): (Option<i64>,) =
                    sqlx::query_as("SELECT max(created_at) FROM outbox WHERE kind = $1")
                        .bind(kind)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(crate::db_error)?;
                Ok(at)
            }

            async fn recent_outbox(
                &self,
                target: Option<&str>,
                limit: u64,
            ) -> camwatch_core::error::Result<Vec<$crate::outbox::OutboxRow>> {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let cols = $crate::outbox_sql::COLUMNS;
                let rows =
                    match target {
                        Some(t) => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {cols} FROM outbox WHERE target = $1 ORDER BY id DESC LIMIT $2"
                        )))
                        .bind(t)
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await,
                        None => {
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "SELECT {cols} FROM outbox ORDER BY id DESC LIMIT $1"
                            )))
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await
                        }
                    }
                    .map_err(crate::db_error)?;
                rows.iter().map(outbox_row).collect()
            }
        }
    };
}

pub(crate) use outbox_store;
