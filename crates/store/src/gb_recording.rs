//! GB/T 28181 recording health in the store (tables `gb_recording`, `gb_recording_change`;
//! migration 0013): each peer's last DeviceStatus facts (`Record`, `Encode`, `Status`) and every
//! change of them, so "recording off since when" survives a restart and has a history.
//!
//! - **Changes only**: the platform publishes a change when any of the three differs from its
//!   last answer (or at its first answer since start); a write that matches the stored row
//!   (a restart's first answer) adds no history and keeps the stored `since`.
//! - **One transaction per batch**, so the current row and its history never disagree.
//!
//! Must not: decide what an answer means (`camwatch_gb28181` parses it), or treat a device that
//! does not answer as anything (no write at all).

use async_trait::async_trait;

use camwatch_core::error::Result;
use camwatch_core::registry::DeviceCode;
use camwatch_core::signalling::OnOff;

/// One change of a peer's recording health, as the platform heard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingWrite {
    pub code: DeviceCode,
    pub at: i64,
    pub record: OnOff,
    pub encode: OnOff,
    pub status: OnOff,
}

/// A peer's stored recording health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingRow {
    pub code: DeviceCode,
    pub record: OnOff,
    pub encode: OnOff,
    pub status: OnOff,
    /// Since when `record` has had its value.
    pub since: i64,
    pub changed_at: i64,
}

/// One recorded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingChangeRow {
    pub at: i64,
    pub record: OnOff,
    pub encode: OnOff,
    pub status: OnOff,
}

#[async_trait]
pub trait RecordingStore: Send + Sync {
    /// Writes changes in order, in one transaction (see the module doc); returns the real
    /// changes against the stored rows, as now stored (their `since` kept across restarts),
    /// in order: what the monitor's event bus announces.
    async fn record_recording(&self, changes: &[RecordingWrite]) -> Result<Vec<RecordingRow>>;
    /// Peers' recording health, by code; `off_only`: those whose `record` is not `on`.
    async fn recording_states(&self, off_only: bool, limit: u64) -> Result<Vec<RecordingRow>>;
    /// One peer's changes, oldest first.
    async fn recording_history(&self, code: &DeviceCode) -> Result<Vec<RecordingChangeRow>>;
}

pub(crate) fn on_off(s: &str) -> Result<OnOff> {
    s.parse().map_err(|e: String| {
        camwatch_core::error::Error::internal(format!("stored recording value: {e}"))
    })
}

macro_rules! recording_sql {
    ($ty:ident, $db:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::gb_recording::RecordingStore for $ty {
            async fn record_recording(
                &self,
                changes: &[$crate::gb_recording::RecordingWrite],
            ) -> camwatch_core::error::Result<Vec<$crate::gb_recording::RecordingRow>> {
                if changes.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let mut real = Vec::new();
                for c in changes {
                    let stored: Option<(String, String, String, i64)> = sqlx::query_as(
                        "SELECT record, encode, status, since FROM gb_recording WHERE code = $1",
                    )
                    .bind(c.code.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                    let now = (c.record.as_str(), c.encode.as_str(), c.status.as_str());
                    let since = match &stored {
                        Some((r, e, s, _)) if (r.as_str(), e.as_str(), s.as_str()) == now => {
                            continue;
                        }
                        Some((r, _, _, since)) if r == c.record.as_str() => *since,
                        _ => c.at,
                    };
                    real.push($crate::gb_recording::RecordingRow {
                        code: c.code,
                        record: c.record,
                        encode: c.encode,
                        status: c.status,
                        since,
                        changed_at: c.at,
                    });
                    sqlx::query(
                        "INSERT INTO gb_recording (code, record, encode, status, since, changed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO UPDATE SET \
                         record = excluded.record, encode = excluded.encode, \
                         status = excluded.status, since = excluded.since, \
                         changed_at = excluded.changed_at",
                    )
                    .bind(c.code.to_string())
                    .bind(now.0)
                    .bind(now.1)
                    .bind(now.2)
                    .bind(since)
                    .bind(c.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                    sqlx::query(
                        "INSERT INTO gb_recording_change (code, at, record, encode, status) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(c.code.to_string())
                    .bind(c.at)
                    .bind(now.0)
                    .bind(now.1)
                    .bind(now.2)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(real)
            }

            async fn recording_states(
                &self,
                off_only: bool,
                limit: u64,
            ) -> camwatch_core::error::Result<Vec<$crate::gb_recording::RecordingRow>> {
                let rows: Vec<(String, String, String, String, i64, i64)> = sqlx::query_as(
                    "SELECT code, record, encode, status, since, changed_at FROM gb_recording \
                     WHERE (NOT $1 OR record <> 'on') ORDER BY code LIMIT $2",
                )
                .bind(off_only)
                .bind(limit.min(i64::MAX as u64) as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(code, r, e, s, since, changed_at)| {
                        Ok($crate::gb_recording::RecordingRow {
                            code: $crate::gb28181::parse_code(&code, "gb_recording code")?,
                            record: $crate::gb_recording::on_off(&r)?,
                            encode: $crate::gb_recording::on_off(&e)?,
                            status: $crate::gb_recording::on_off(&s)?,
                            since,
                            changed_at,
                        })
                    })
                    .collect()
            }

            async fn recording_history(
                &self,
                code: &camwatch_core::registry::DeviceCode,
            ) -> camwatch_core::error::Result<Vec<$crate::gb_recording::RecordingChangeRow>> {
                let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
                    "SELECT at, record, encode, status FROM gb_recording_change \
                     WHERE code = $1 ORDER BY at, id",
                )
                .bind(code.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(at, r, e, s)| {
                        Ok($crate::gb_recording::RecordingChangeRow {
                            at,
                            record: $crate::gb_recording::on_off(&r)?,
                            encode: $crate::gb_recording::on_off(&e)?,
                            status: $crate::gb_recording::on_off(&s)?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use recording_sql;
