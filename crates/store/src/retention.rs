//! Months of history: made ahead, read out for archival, dropped past retention (migration
//! 0014; docs/nodes.md, "Data at scale").
//!
//! - **PostgreSQL** partitions `status_span` by the month its span ended in and `audit_log` by
//!   the month of its entry (UTC months). [`RetentionStore::prepare_months`] makes the month
//!   partitions of a range (the migration's `camwatch_month_partitions`, serialised across
//!   nodes); dropping a month is a `DROP TABLE` of its two partitions, plus any rows of it that
//!   waited in a default partition.
//! - **SQLite** has no partitions: preparing is nothing, dropping a month deletes its rows
//!   through the `end_at` and `at` indexes.
//!
//! A month is read out in pages in (time, id) order, so an archive of any size is written in
//! bounded memory, and the same rows read twice give the same file.
//!
//! Must not: decide what to drop (the caller checks the retention period and writes the
//! archive first), or parse what it reads: the archive holds the stored text as it is.

use async_trait::async_trait;

use camwatch_core::error::{Error, Result};

use crate::AuditEntry;

/// One UTC calendar month, as the store partitions and drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredMonth {
    pub year: i16,
    /// 1–12.
    pub month: i8,
    /// Its first instant, Unix seconds.
    pub from: i64,
    /// The next month's first instant.
    pub to: i64,
}

impl StoredMonth {
    /// `YYYY-MM`.
    pub fn label(&self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Its partition of `table` on PostgreSQL (what `camwatch_month_partitions` names it).
    fn partition(&self, table: &str) -> String {
        partition_name(table, self.year, self.month)
    }
}

/// A stored span row, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRow {
    pub id: i64,
    pub device_code: String,
    pub status: String,
    pub start_at: i64,
    pub end_at: i64,
    pub cause: Option<String>,
    pub instance_id: Option<i64>,
}

/// What dropping a month removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub spans: u64,
    pub audit: u64,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Makes the month partitions covering `[from, to]` (PostgreSQL; nothing on SQLite).
    /// Idempotent; returns how many it made.
    async fn prepare_months(&self, from: i64, to: i64) -> Result<u32>;
    /// The earliest end of a closed span and the earliest audit entry, before `before`.
    async fn oldest_before(&self, before: i64) -> Result<(Option<i64>, Option<i64>)>;
    /// Up to `limit` spans that ended within `month`, after `after` (an `(end_at, id)` of the
    /// previous page), in (end_at, id) order.
    async fn month_spans(
        &self,
        month: &StoredMonth,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<SpanRow>>;
    /// Up to `limit` audit entries made within `month` with their ids, after `after` (an
    /// `(at, id)`), in (at, id) order.
    async fn month_audit(
        &self,
        month: &StoredMonth,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEntry)>>;
    /// Removes the spans that ended within `month` and its audit entries, in one transaction
    /// that commits only if they are exactly `expect` (what the caller archived): otherwise a
    /// conflict, and nothing is removed.
    async fn drop_month(&self, month: &StoredMonth, expect: Dropped) -> Result<Dropped>;
}

/// `RetentionStore` for `$store`: the reads both backends run with the same SQL, and the
/// backend's own `$items` (preparing and dropping).
macro_rules! retention_impl {
    ($store:ty, { $($items:tt)* }) => {
        #[async_trait]
        impl RetentionStore for $store {
            $($items)*
        async fn oldest_before(&self, before: i64) -> Result<(Option<i64>, Option<i64>)> {
            let spans: Option<i64> =
                sqlx::query_scalar("SELECT min(end_at) FROM status_span WHERE end_at < $1")
                    .bind(before)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
            let audit: Option<i64> =
                sqlx::query_scalar("SELECT min(at) FROM audit_log WHERE at < $1")
                    .bind(before)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
            Ok((spans, audit))
        }

        async fn month_spans(
            &self,
            month: &StoredMonth,
            after: Option<(i64, i64)>,
            limit: u32,
        ) -> Result<Vec<SpanRow>> {
            let (t, id) = after.unwrap_or((month.from, i64::MIN));
            let rows: Vec<(i64, String, String, i64, i64, Option<String>, Option<i64>)> =
                sqlx::query_as(
                    "SELECT id, device_code, status, start_at, end_at, cause, instance_id
                     FROM status_span WHERE end_at >= $1 AND end_at < $2
                     AND (end_at > $3 OR (end_at = $3 AND id > $4))
                     ORDER BY end_at, id LIMIT $5",
                )
                .bind(month.from)
                .bind(month.to)
                .bind(t)
                .bind(id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
            Ok(rows
                .into_iter()
                .map(
                    |(id, device_code, status, start_at, end_at, cause, instance_id)| SpanRow {
                        id,
                        device_code,
                        status,
                        start_at,
                        end_at,
                        cause,
                        instance_id,
                    },
                )
                .collect())
        }

        async fn month_audit(
            &self,
            month: &StoredMonth,
            after: Option<(i64, i64)>,
            limit: u32,
        ) -> Result<Vec<(i64, AuditEntry)>> {
            let (t, id) = after.unwrap_or((month.from, i64::MIN));
            let rows: Vec<(i64, i64, String, String, String, String)> = sqlx::query_as(
                "SELECT id, at, actor, action, target, detail FROM audit_log
                 WHERE at >= $1 AND at < $2 AND (at > $3 OR (at = $3 AND id > $4))
                 ORDER BY at, id LIMIT $5",
            )
            .bind(month.from)
            .bind(month.to)
            .bind(t)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(crate::db_error)?;
            Ok(rows
                .into_iter()
                .map(|(id, at, actor, action, target, detail)| {
                    let entry = AuditEntry {
                        at,
                        actor,
                        action,
                        target,
                        detail,
                    };
                    (id, entry)
                })
                .collect())
        }
        }
    };
}

retention_impl!(crate::SqliteStore, {
    async fn prepare_months(&self, _from: i64, _to: i64) -> Result<u32> {
        Ok(0)
    }

    async fn drop_month(&self, month: &StoredMonth, expect: Dropped) -> Result<Dropped> {
        let mut tx = self.pool.begin().await.map_err(crate::db_error)?;
        let spans = sqlx::query("DELETE FROM status_span WHERE end_at >= $1 AND end_at < $2")
            .bind(month.from)
            .bind(month.to)
            .execute(&mut *tx)
            .await
            .map_err(crate::db_error)?
            .rows_affected();
        let audit = sqlx::query("DELETE FROM audit_log WHERE at >= $1 AND at < $2")
            .bind(month.from)
            .bind(month.to)
            .execute(&mut *tx)
            .await
            .map_err(crate::db_error)?
            .rows_affected();
        let dropped = Dropped { spans, audit };
        unexpected(month, expect, dropped)?;
        tx.commit().await.map_err(crate::db_error)?;
        Ok(dropped)
    }
});

/// The name of `table`'s partition of the UTC month holding `at` (PostgreSQL).
pub(crate) fn partition_of(table: &str, at: i64) -> String {
    let d = jiff::Timestamp::from_second(at)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    partition_name(table, d.year(), d.month())
}

/// `<table>_yYYYYmMM`, as `camwatch_month_partitions` names a month's partition.
fn partition_name(table: &str, year: i16, month: i8) -> String {
    format!("{table}_y{year:04}m{month:02}")
}

/// One instant of each UTC month among `ats`, in order: the months to prepare for spans
/// ending at `ats` (a span years off makes its own month, not every month between).
pub(crate) fn one_per_month(ats: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut months = std::collections::BTreeMap::new();
    for at in ats {
        let Ok(t) = jiff::Timestamp::from_second(at) else {
            continue;
        };
        let d = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        months.entry((d.year(), d.month())).or_insert(at);
    }
    months.into_values().collect()
}

/// A conflict when a drop would remove other rows than were archived (its transaction then
/// rolls back).
fn unexpected(month: &StoredMonth, expect: Dropped, dropped: Dropped) -> Result<()> {
    if dropped == expect {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "month {}: {} spans and {} audit entries to drop, but {} and {} were archived: \
         nothing dropped; archive it again",
        month.label(),
        dropped.spans,
        dropped.audit,
        expect.spans,
        expect.audit
    )))
}

/// The partitioned tables: (table, partition key, default partition).
const PARTITIONED: [(&str, &str, &str); 2] = [
    ("status_span", "end_at", "status_span_open"),
    ("audit_log", "at", "audit_log_default"),
];

retention_impl!(crate::PostgresStore, {
    async fn prepare_months(&self, from: i64, to: i64) -> Result<u32> {
        let mut made = 0;
        for (table, key, fallback) in PARTITIONED {
            let n: i32 = sqlx::query_scalar("SELECT camwatch_month_partitions($1, $2, $3, $4, $5)")
                .bind(table)
                .bind(key)
                .bind(fallback)
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await
                .map_err(crate::db_error)?;
            made += u32::try_from(n).unwrap_or(0);
        }
        Ok(made)
    }

    async fn drop_month(&self, month: &StoredMonth, expect: Dropped) -> Result<Dropped> {
        let mut tx = self.pool.begin().await.map_err(crate::db_error)?;
        let mut counts = [0u64; 2];
        for ((table, key, fallback), count) in PARTITIONED.into_iter().zip(&mut counts) {
            let part = month.partition(table);
            let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::TEXT")
                .bind(&part)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::db_error)?;
            if exists.is_some() {
                // Names made here from digits and two constants: nothing typed reaches them.
                let n: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {part}")))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(crate::db_error)?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {part}")))
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                *count += u64::try_from(n).unwrap_or(0);
            }
            // Rows of the month that waited in the default partition (closed before the
            // month's partition was made).
            *count += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {fallback} WHERE {key} >= $1 AND {key} < $2"
            )))
            .bind(month.from)
            .bind(month.to)
            .execute(&mut *tx)
            .await
            .map_err(crate::db_error)?
            .rows_affected();
        }
        let dropped = Dropped {
            spans: counts[0],
            audit: counts[1],
        };
        unexpected(month, expect, dropped)?;
        tx.commit().await.map_err(crate::db_error)?;
        Ok(dropped)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instant_per_utc_month() {
        // 2024-01-31T23:59:59Z, 2024-02-01T00:00:00Z, later in February, and years later.
        let ats = [
            1_706_745_599,
            1_706_745_600,
            1_707_000_000,
            1_706_745_599,
            2_000_000_000,
        ];
        assert_eq!(
            one_per_month(ats.into_iter()),
            vec![1_706_745_599, 1_706_745_600, 2_000_000_000]
        );
        assert!(one_per_month(std::iter::empty()).is_empty());
    }

    #[test]
    fn a_partition_is_named_by_its_utc_month() {
        assert_eq!(
            partition_of("status_span", 1_706_745_599),
            "status_span_y2024m01"
        );
        assert_eq!(
            partition_of("status_span", 1_706_745_600),
            "status_span_y2024m02"
        );
        let m = StoredMonth {
            year: 2024,
            month: 2,
            from: 1_706_745_600,
            to: 1_709_251_200,
        };
        assert_eq!(m.partition("audit_log"), partition_of("audit_log", m.from));
    }
}
