//! Patrol (巡检) records in the store (table `patrol_record`; migration 0006).
//!
//! - **Append only**: a record is written once with its audit entry (`patrol.record`, by the
//!   patroller) in one transaction, and never changed or deleted (the database's triggers
//!   refuse both). A second verdict on the same device and day is another row; which one
//!   counts is the pure `camwatch_core::patrol` rule (the latest).
//! - **Typed at the boundary**: verdict and finding are stored as their text forms and parsed
//!   back; a stored value that does not parse is an internal error, never skipped.
//!
//! Must not: decide which devices are today's batch or who may patrol (the API does, with
//! `camwatch_core::patrol::Plan` and the caller's scope).

use async_trait::async_trait;
use jiff::civil::Date;

use camwatch_core::error::{Error, Result};
use camwatch_core::patrol::{Finding, Record, Verdict};
use camwatch_core::registry::DeviceCode;

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPatrolRecord {
    pub device: DeviceCode,
    pub day: Date,
    pub patroller: String,
    pub verdict: Verdict,
    /// Set exactly when `verdict` is a fault (`camwatch_core::patrol::check_finding`).
    pub finding: Option<Finding>,
    pub note: String,
    pub work_order: Option<i64>,
    pub recorded_at: i64,
}

#[async_trait]
pub trait PatrolStore: Send + Sync {
    /// Appends `r` with its audit entry in one transaction; returns it with its id. A verdict
    /// and finding that do not pair (`check_finding`) are refused as invalid.
    async fn add_patrol_record(&self, r: &NewPatrolRecord) -> Result<Record>;
    /// The records of days `from..=to`, by day, device, time and id.
    async fn patrol_records(&self, from: Date, to: Date) -> Result<Vec<Record>>;
}

/// The stored columns of a record, parsed back.
#[allow(clippy::type_complexity)]
pub(crate) fn record_of(
    row: (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<i64>,
        i64,
    ),
) -> Result<Record> {
    let (id, device, day, patroller, verdict, finding, note, work_order, recorded_at) = row;
    let bad = |what: &str, v: &str| Error::internal(format!("stored patrol {what} {v:?}"));
    Ok(Record {
        id,
        device: device.parse().map_err(|_| bad("device", &device))?,
        day: day.parse().map_err(|_| bad("day", &day))?,
        patroller,
        verdict: verdict.parse().map_err(|_| bad("verdict", &verdict))?,
        finding: finding
            .as_deref()
            .map(|f| f.parse().map_err(|_| bad("finding", f)))
            .transpose()?,
        note,
        work_order,
        recorded_at,
    })
}

pub(crate) const COLUMNS: &str =
    "id, device_code, day, patroller, verdict, finding, note, work_order_id, recorded_at";

macro_rules! patrol_sql {
    ($ty:ident, $db:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::patrol::PatrolStore for $ty {
            async fn add_patrol_record(
                &self,
                r: &$crate::patrol::NewPatrolRecord,
            ) -> camwatch_core::error::Result<camwatch_core::patrol::Record> {
                camwatch_core::patrol::check_finding(r.verdict, r.finding)
                    .map_err(camwatch_core::error::Error::invalid)?;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO patrol_record \
                     (device_code, day, patroller, verdict, finding, note, work_order_id, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(r.device.to_string())
                .bind(r.day.to_string())
                .bind(r.patroller.as_str())
                .bind(r.verdict.as_str())
                .bind(r.finding.map(|f| f.as_str()))
                .bind(r.note.as_str())
                .bind(r.work_order)
                .bind(r.recorded_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                let detail = serde_json::json!({
                    "record": id,
                    "day": r.day.to_string(),
                    "verdict": r.verdict.as_str(),
                    "finding": r.finding.map(|f| f.as_str()),
                    "note": r.note,
                    "work_order": r.work_order,
                });
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(r.recorded_at)
                .bind(r.patroller.as_str())
                .bind("patrol.record")
                .bind(r.device.to_string())
                .bind(detail.to_string())
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(camwatch_core::patrol::Record {
                    id,
                    device: r.device,
                    day: r.day,
                    patroller: r.patroller.clone(),
                    verdict: r.verdict,
                    finding: r.finding,
                    note: r.note.clone(),
                    work_order: r.work_order,
                    recorded_at: r.recorded_at,
                })
            }

            async fn patrol_records(
                &self,
                from: jiff::civil::Date,
                to: jiff::civil::Date,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::patrol::Record>> {
                #[allow(clippy::type_complexity)]
                let rows: Vec<(
                    i64,
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    String,
                    Option<i64>,
                    i64,
                )> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM patrol_record WHERE day >= $1 AND day <= $2 \
                     ORDER BY day, device_code, recorded_at, id",
                    $crate::patrol::COLUMNS
                )))
                .bind(from.to_string())
                .bind(to.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter().map($crate::patrol::record_of).collect()
            }
        }
    };
}
pub(crate) use patrol_sql;
