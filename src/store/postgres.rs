//! PostgreSQL backend: for fleets beyond ~50k channels and for several prober nodes.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::sql::sql_store;
use crate::error::{Error, Result};
use crate::secret::SecretKey;

pub struct PostgresStore {
    pool: sqlx::PgPool,
    key: SecretKey,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable("migrating the PostgreSQL database", e))?;
        Ok(Self { pool, key })
    }

    /// `Store::list_devices_for_report`.
    async fn scan_report_devices(&self) -> Result<Vec<crate::registry::Device>> {
        use futures::TryStreamExt;
        use sqlx::Row;
        let sql = format!(
            "SELECT {} FROM device ORDER BY code",
            super::rows::REPORT_COLUMNS
        );
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&self.pool);
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let text = |i: usize| -> Result<Option<&str>> { Ok(r.try_get::<Option<&str>, _>(i)?) };
            out.push(
                super::rows::ReportRow {
                    code: r.try_get(0)?,
                    name: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    parent_code: text(3)?,
                    civil_code: text(4)?,
                    maintainer: text(5)?,
                    monthly_fee_fen: r.try_get(6)?,
                    monthly_link_fee_fen: r.try_get(7)?,
                    contract_from: text(8)?,
                    contract_to: text(9)?,
                }
                .into_device()?,
            );
        }
        Ok(out)
    }

    /// Spans overlapping `[from, to)`, any order (`spans_overlapping` sorts).
    async fn scan_spans(
        &self,
        from: i64,
        to: i64,
        open_until: i64,
    ) -> Result<Vec<crate::history::StatusSpan>> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query_as::<_, (String, String, i64, Option<i64>, Option<String>)>(
            "SELECT device_code, status, start_at, end_at, cause FROM status_span
             WHERE start_at < $1 AND (end_at IS NULL OR end_at > $2)",
        )
        .bind(to)
        .bind(from)
        .fetch(&self.pool);
        let mut out = Vec::new();
        while let Some((code, status, start_at, end_at, cause)) = rows.try_next().await? {
            let end_at = end_at.unwrap_or(open_until);
            if end_at <= start_at {
                continue;
            }
            out.push(crate::history::StatusSpan {
                device: code
                    .parse()
                    .map_err(|_| Error::internal(format!("stored span code {code:?}")))?,
                status: status.parse().map_err(Error::internal)?,
                start_at,
                end_at,
                cause,
            });
        }
        Ok(out)
    }
}

sql_store!(PostgresStore, sqlx::Postgres, "postgres");
