//! Archival of history past its retention (docs/nodes.md, "Data at scale"): each whole UTC
//! month before a cut is exported, then dropped from the store.
//!
//! Per month, oldest first:
//! 1. its spans (by the month they ended in) and its audit entries are written to
//!    `status_span-YYYY-MM.csv` and `audit_log-YYYY-MM.csv` in the archive directory, read from
//!    the store in pages so memory stays bounded, through a temporary name, synced, renamed;
//! 2. `YYYY-MM.sha256` lists both files' SHA-256 in `sha256sum` form (`sha256sum -c` checks
//!    them);
//! 3. the month is dropped, in one transaction that fails, and drops nothing, unless it removes
//!    exactly the rows written (a row added to that month meanwhile stops the drop);
//! 4. an audit entry `retention.archive` records the month, the counts and the sums.
//!
//! A month whose drop fails keeps its rows and its files; running again rewrites the same
//! files (same rows, same order, same bytes) and drops it then. The CSV holds the stored
//! values as they are (times in Unix seconds and ISO 8601 UTC beside them); text typed by
//! people (audit actors, targets, details) that a spreadsheet would run as a formula gets a
//! leading `'`, as in reports.
//!
//! Must not: choose the cut (the caller applies the retention period, [`cut_for`]), or read
//! the clock.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sha2::{Digest, Sha256};

use camwatch_core::error::{Error, Result};
use camwatch_core::spreadsheet::{escape, is_plain_number};
use camwatch_store::{AuditEntry, Dropped, Store, StoredMonth};

use crate::Month;

/// Rows read from the store at a time.
const PAGE: u32 = 10_000;

/// One archived month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMonth {
    pub month: Month,
    pub spans: ArchiveFile,
    pub audit: ArchiveFile,
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    pub path: PathBuf,
    pub rows: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// The store's month for `m` (UTC).
pub fn stored_month(m: Month) -> Result<StoredMonth> {
    let start = |d: Date| crate::period::day_start(d, &TimeZone::UTC);
    Ok(StoredMonth {
        year: m.year,
        month: m.month,
        from: start(m.first_day()),
        to: start(m.next().first_day()),
    })
}

/// The UTC month holding `at`.
pub fn month_of(at: i64) -> Result<Month> {
    let d = jiff::Timestamp::from_second(at)
        .map_err(|e| Error::invalid(format!("instant {at}: {e}")))?
        .to_zoned_datetime(TimeZone::UTC)
        .date();
    Ok(Month {
        year: d.year(),
        month: d.month(),
    })
}

/// The first month kept when `months` whole months before the one holding `now` are kept:
/// everything before it may be archived.
pub fn cut_for(now: i64, months: u32) -> Result<Month> {
    let m = month_of(now)?;
    let d = m
        .first_day()
        .checked_sub(i64::from(months).months())
        .map_err(|e| Error::invalid(format!("{months} months before {m}: {e}")))?;
    Ok(Month {
        year: d.year(),
        month: d.month(),
    })
}

/// Archives and drops every month before `cut` that holds spans or audit entries, into `dir`
/// (created if missing), oldest first. `now` and `actor` go in the audit entries.
pub async fn archive_before(
    store: &dyn Store,
    cut: Month,
    dir: &Path,
    now: i64,
    actor: &str,
) -> Result<Vec<ArchivedMonth>> {
    let mut out = Vec::new();
    for m in months_before(store, cut, dir).await? {
        let done = archive_month(store, m, dir).await?;
        let dropped = store
            .drop_month(
                &stored_month(m)?,
                Dropped {
                    spans: done.spans.rows,
                    audit: done.audit.rows,
                },
            )
            .await?;
        tracing::info!(
            month = %m, spans = dropped.spans, audit = dropped.audit,
            "archived and dropped a month past retention"
        );
        store
            .append_audit(&AuditEntry {
                at: now,
                actor: actor.to_string(),
                action: "retention.archive".into(),
                target: m.to_string(),
                detail: serde_json::json!({
                    "spans": done.spans.rows,
                    "audit": done.audit.rows,
                    "spans_sha256": done.spans.sha256,
                    "audit_sha256": done.audit.sha256,
                    "dir": dir.display().to_string(),
                })
                .to_string(),
            })
            .await?;
        out.push(done);
    }
    Ok(out)
}

/// Writes the files of every month before `cut` as [`archive_before`] does, and drops
/// nothing (a dry run, or a copy for an auditor).
pub async fn write_before(store: &dyn Store, cut: Month, dir: &Path) -> Result<Vec<ArchivedMonth>> {
    let mut out = Vec::new();
    for m in months_before(store, cut, dir).await? {
        out.push(archive_month(store, m, dir).await?);
    }
    Ok(out)
}

/// The months from the oldest stored span end or audit entry up to `cut`, with `dir` made.
async fn months_before(store: &dyn Store, cut: Month, dir: &Path) -> Result<Vec<Month>> {
    let (spans, audit) = store.oldest_before(stored_month(cut)?.from).await?;
    let Some(oldest) = spans.into_iter().chain(audit).min() else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::invalid(format!("archive directory {}: {e}", dir.display())))?;
    let mut m = month_of(oldest)?;
    let mut months = Vec::new();
    while m < cut {
        months.push(m);
        m = m.next();
    }
    Ok(months)
}

/// Writes month `m`'s two files and their sums; drops nothing.
pub async fn archive_month(store: &dyn Store, m: Month, dir: &Path) -> Result<ArchivedMonth> {
    let sm = stored_month(m)?;
    let spans = {
        let mut f = CsvFile::create(dir, &format!("status_span-{m}.csv"))?;
        f.row(&[
            "id",
            "device_code",
            "status",
            "start_at",
            "end_at",
            "start_utc",
            "end_utc",
            "cause",
            "instance_id",
        ])?;
        let mut after = None;
        loop {
            let page = store.month_spans(&sm, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.end_at, last.id));
            for r in &page {
                f.row(&[
                    &r.id.to_string(),
                    &r.device_code,
                    &r.status,
                    &r.start_at.to_string(),
                    &r.end_at.to_string(),
                    &utc(r.start_at),
                    &utc(r.end_at),
                    r.cause.as_deref().unwrap_or(""),
                    &r.instance_id.map(|i| i.to_string()).unwrap_or_default(),
                ])?;
            }
        }
        f.finish()?
    };
    let audit = {
        let mut f = CsvFile::create(dir, &format!("audit_log-{m}.csv"))?;
        f.row(&["id", "at", "at_utc", "actor", "action", "target", "detail"])?;
        let mut after = None;
        loop {
            let page = store.month_audit(&sm, after, PAGE).await?;
            let Some((id, last)) = page.last() else { break };
            after = Some((last.at, *id));
            for (id, r) in &page {
                f.row(&[
                    &id.to_string(),
                    &r.at.to_string(),
                    &utc(r.at),
                    &r.actor,
                    &r.action,
                    &r.target,
                    &r.detail,
                ])?;
            }
        }
        f.finish()?
    };
    let sums = format!(
        "{}  {}\n{}  {}\n",
        spans.sha256,
        file_name(&spans.path),
        audit.sha256,
        file_name(&audit.path)
    );
    write_synced(&dir.join(format!("{m}.sha256")), sums.as_bytes())?;
    sync_dir(dir)?;
    Ok(ArchivedMonth {
        month: m,
        spans,
        audit,
    })
}

/// Months of partitions made ahead of now, and kept behind it (a span closed late, a report
/// of last month): a month behind, three ahead.
const AHEAD_SECS: i64 = 92 * 86_400;
const BEHIND_SECS: i64 = 31 * 86_400;

/// Makes the month partitions around `now` (PostgreSQL; nothing on SQLite): what every node
/// does at start, and the `retention` duty once a day.
pub async fn prepare_around(store: &dyn Store, now: i64) -> Result<u32> {
    store
        .prepare_months(now - BEHIND_SECS, now + AHEAD_SECS)
        .await
}

/// The `retention` duty (docs/nodes.md): once a day, the month partitions around now are made,
/// and, when `dir` is set, the months before the retention period are archived into it and
/// dropped. Runs until `stop` resolves. A failed pass (database down, disk full) is logged
/// and tried again an hour later; what it had archived stays archived.
pub async fn keep(
    store: std::sync::Arc<dyn Store>,
    clock: std::sync::Arc<dyn camwatch_core::clock::Clock>,
    months: u32,
    dir: Option<PathBuf>,
    stop: impl std::future::Future<Output = ()>,
) {
    use std::time::Duration;
    tokio::pin!(stop);
    loop {
        let now = clock.now().as_second();
        let pass = async {
            let made = prepare_around(&*store, now).await?;
            if made > 0 {
                tracing::info!(partitions = made, "history: month partitions made ahead");
            }
            if let Some(dir) = &dir {
                archive_before(&*store, cut_for(now, months)?, dir, now, "system").await?;
            }
            Ok::<_, Error>(())
        };
        let wait = match pass.await {
            Ok(()) => Duration::from_secs(86_400),
            Err(e) => {
                tracing::warn!(error = %e, "retention: will try again in an hour");
                Duration::from_secs(3_600)
            }
        };
        tokio::select! {
            _ = &mut stop => return,
            _ = clock.sleep(wait) => {}
        }
    }
}

fn utc(at: i64) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn io_error(p: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable(format!("archive file {}", p.display()), e)
}

/// A CSV file written under a temporary name, hashed as it is written, renamed when done.
struct CsvFile {
    path: PathBuf,
    tmp: PathBuf,
    w: csv::Writer<Hashing<std::io::BufWriter<std::fs::File>>>,
    rows: u64,
}

impl CsvFile {
    fn create(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        let file = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
        let w = csv::Writer::from_writer(Hashing {
            inner: std::io::BufWriter::new(file),
            sha: Sha256::new(),
        });
        Ok(Self {
            path,
            tmp,
            w,
            rows: 0,
        })
    }

    /// A row; the header is one too (not counted once the file is done).
    fn row(&mut self, cells: &[&str]) -> Result<()> {
        self.w
            .write_record(cells.iter().map(|c| {
                if is_plain_number(c) {
                    (*c).to_string()
                } else {
                    escape(c).into_owned()
                }
            }))
            .map_err(|e| io_error(&self.tmp, e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<ArchiveFile> {
        let CsvFile {
            path, tmp, w, rows, ..
        } = self;
        let hashing = w.into_inner().map_err(|e| io_error(&tmp, e.into_error()))?;
        let sha = hex::encode(hashing.sha.finalize());
        let file = hashing
            .inner
            .into_inner()
            .map_err(|e| io_error(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_error(&path, e))?;
        Ok(ArchiveFile {
            path,
            rows: rows.saturating_sub(1),
            sha256: sha,
        })
    }
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| io_error(path, e))?;
    f.write_all(bytes).map_err(|e| io_error(path, e))?;
    f.sync_all().map_err(|e| io_error(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(s: &str) -> Month {
        s.parse().unwrap()
    }

    #[test]
    fn a_stored_month_is_its_utc_bounds() {
        let m = stored_month(month("2024-02")).unwrap();
        assert_eq!((m.from, m.to), (1_706_745_600, 1_709_251_200));
        assert_eq!(m.label(), "2024-02");
        let d = stored_month(month("2023-12")).unwrap();
        assert_eq!(d.to, stored_month(month("2024-01")).unwrap().from);
    }

    #[test]
    fn the_month_of_an_instant_is_utc() {
        // 2024-02-29T23:59:59Z and the next second.
        assert_eq!(month_of(1_709_251_199).unwrap(), month("2024-02"));
        assert_eq!(month_of(1_709_251_200).unwrap(), month("2024-03"));
    }

    #[test]
    fn the_cut_keeps_whole_months_before_the_current_one() {
        // In March 2027, keeping 36 months keeps March 2024 on: February 2024 may go.
        let now = stored_month(month("2027-03")).unwrap().from + 86_400 * 10;
        assert_eq!(cut_for(now, 36).unwrap(), month("2024-03"));
        assert_eq!(cut_for(now, 1).unwrap(), month("2027-02"));
        // January minus one month crosses the year.
        let jan = stored_month(month("2027-01")).unwrap().from;
        assert_eq!(cut_for(jan, 1).unwrap(), month("2026-12"));
    }
}
