//! SQLite backend: the embedded default, one file next to the config, good to ~50k channels.
//!
//! WAL mode so report queries never block the monitor's writes; `synchronous = NORMAL` because in
//! WAL mode it loses at most the last transactions on power loss, never consistency, and the
//! monitor re-observes within one probe interval anyway.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::sql_store;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::SecretKey;

pub struct SqliteStore {
    pub(crate) pool: sqlx::SqlitePool,
    key: SecretKey,
    /// The monitor lock file beside the database (see `lease`); `None` in memory.
    lock_path: Option<std::path::PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and migrates it.
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::invalid(format!("database URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(false)
            // Rows cross from SQLite's worker thread to the async side through this channel; the
            // default (50) costs a thread wake-up every few rows on month-long span scans.
            .row_buffer_size(4096);
        let file = opts.get_filename();
        let lock_path = (file != std::path::Path::new(":memory:") && !url.contains("mode=memory"))
            .then(|| super::lease::lock_path(file));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(crate::db_error)?;
        crate::migrations::migrator(crate::migrations::SQLITE)
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable("migrating the SQLite database", e))?;
        Ok(Self {
            pool,
            key,
            lock_path,
        })
    }

    /// The monitor lock (see `lease`), or `None` when another process holds it.
    async fn take_monitor_lock(&self) -> Result<Option<Box<dyn super::lease::LockGuard>>> {
        use super::lease::{FileLock, LockGuard, NoLock};
        Ok(match &self.lock_path {
            Some(p) => FileLock::try_acquire(p.clone())?.map(|l| Box::new(l) as Box<dyn LockGuard>),
            None => Some(Box::new(NoLock)),
        })
    }

    /// One node on SQLite: it takes the one monitor lock.
    async fn take_node_lock(&self) -> Result<Option<Box<dyn super::lease::LockGuard>>> {
        self.take_monitor_lock().await
    }

    /// `Store::list_devices_for_report`, through the C API (see `with_raw_handle`).
    async fn scan_report_devices(&self) -> Result<Vec<camwatch_core::registry::Device>> {
        self.with_raw_handle(raw::report_devices).await
    }

    /// Runs `f` on a pooled connection's raw handle, its lock held throughout.
    ///
    /// For the monthly report's bulk reads (millions of rows for a large fleet): sqlx costs
    /// ~2.5 µs a row here (a channel hop per row from its worker thread), SQLite's C API
    /// ~0.2 µs. `f` runs fixed SQL with bound parameters only.
    async fn with_raw_handle<T>(
        &self,
        f: impl FnOnce(std::ptr::NonNull<libsqlite3_sys::sqlite3>) -> Result<T>,
    ) -> Result<T> {
        raw_on(&self.pool, f).await
    }

    /// `WorkOrderStore::work_orders_opened`, through the C API (see `with_raw_handle`).
    async fn scan_orders_opened(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::workorders::WorkOrder>> {
        self.with_raw_handle(|db| raw::orders_opened(db, from, to))
            .await
    }

    /// Spans overlapping `[from, to)` as the parts read, any order (`spans_overlapping` sorts
    /// them into one), through the C API (see `with_raw_handle`). A large table is scanned as
    /// two id ranges on two connections and two threads (WAL readers do not block each
    /// other): the scan was most of the monthly report's read at 300,000 channels.
    ///
    /// Not a window that reaches past now (`open_until < to`: a month in progress): the two
    /// connections read two snapshots, and a span closed between them, with its successor
    /// opened, could be read as still open beside its successor. A past window cannot see
    /// that: a successor opened now starts after its end.
    async fn scan_spans(
        &self,
        from: i64,
        to: i64,
        open_until: i64,
    ) -> Result<Vec<crate::ReadSpans>> {
        let (lo, hi): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT min(id), max(id) FROM status_span")
                .fetch_one(&self.pool)
                .await
                .map_err(crate::db_error)?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Vec::new());
        };
        let scan = move |a: i64, b: i64| {
            move |db| {
                raw::scan_spans(
                    db,
                    raw::SpanScan {
                        from,
                        to,
                        open_until,
                        ids: (a, b),
                    },
                )
            }
        };
        let multi = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
        let Some(mid) = crate::id_split(lo, hi).filter(|_| multi && open_until >= to) else {
            return Ok(vec![self.with_raw_handle(scan(i64::MIN, i64::MAX)).await?]);
        };
        let pool = self.pool.clone();
        let first = tokio::spawn(async move { raw_on(&pool, scan(i64::MIN, mid)).await });
        let second = self.with_raw_handle(scan(mid + 1, i64::MAX)).await?;
        let first = first
            .await
            .map_err(|e| camwatch_core::error::Error::internal(format!("span scan: {e}")))??;
        Ok(vec![first, second])
    }
}

/// Runs `f` on a connection of `pool`, its raw handle locked throughout (see
/// `SqliteStore::with_raw_handle`).
async fn raw_on<T>(
    pool: &sqlx::SqlitePool,
    f: impl FnOnce(std::ptr::NonNull<libsqlite3_sys::sqlite3>) -> Result<T>,
) -> Result<T> {
    let mut conn = pool.acquire().await.map_err(crate::db_error)?;
    let mut handle = conn.lock_handle().await.map_err(crate::db_error)?;
    let db = handle.as_raw_handle();
    // A long scan must not stall other tasks on this thread.
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(move || f(db)),
        _ => f(db),
    }
}

/// The raw SQLite reads behind `SqliteStore::with_raw_handle`.
mod raw {
    use std::ffi::CStr;
    use std::ptr::{self, NonNull};

    use libsqlite3_sys as ffi;

    use camwatch_core::error::{Error, Result};
    use camwatch_core::registry::DeviceCode;

    // NOT INDEXED: a report window covers a large share of the table, and walking the time
    // index means a random row lookup per span (3.3 s against 0.2 s for 2 M spans here).
    // The id range is the rowid's (INTEGER PRIMARY KEY), which NOT INDEXED still uses.
    const SQL: &CStr = c"SELECT device_code, status, start_at, end_at, cause FROM status_span
        NOT INDEXED WHERE id BETWEEN ?3 AND ?4 AND start_at < ?1 AND (end_at IS NULL OR end_at > ?2)";

    /// What `scan_spans` reads: spans overlapping `[from, to)` with ids in `ids` (inclusive),
    /// open ones ending at `open_until`.
    pub struct SpanScan {
        pub from: i64,
        pub to: i64,
        pub open_until: i64,
        pub ids: (i64, i64),
    }

    /// Finalizes the statement however the scan ends.
    struct Stmt(*mut ffi::sqlite3_stmt);
    impl Drop for Stmt {
        fn drop(&mut self) {
            // SAFETY: the statement came from sqlite3_prepare_v2 and is finalized once.
            unsafe { ffi::sqlite3_finalize(self.0) };
        }
    }

    fn error(db: *mut ffi::sqlite3, what: &str) -> Error {
        // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
        Error::internal(format!("SQLite {what}: {}", msg.to_string_lossy()))
    }

    /// SAFETY of the column reads: `sqlite3_column_text` returns a pointer valid until the next
    /// step, of `sqlite3_column_bytes` bytes; each is copied before stepping again.
    unsafe fn text<'a>(stmt: *mut ffi::sqlite3_stmt, i: i32) -> Option<&'a [u8]> {
        unsafe {
            let p = ffi::sqlite3_column_text(stmt, i);
            if p.is_null() {
                return None;
            }
            let n = ffi::sqlite3_column_bytes(stmt, i) as usize;
            Some(std::slice::from_raw_parts(p, n))
        }
    }

    fn prepare(db: *mut ffi::sqlite3, sql: &CStr) -> Result<Stmt> {
        let mut raw = ptr::null_mut();
        // SAFETY: `db` is a live connection whose lock the caller holds; SQL is NUL-terminated.
        let rc =
            unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut raw, ptr::null_mut()) };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, "prepare"));
        }
        Ok(Stmt(raw))
    }

    /// Steps `stmt` to its end, calling `row` at each row (its columns valid until it returns).
    fn each_row(
        db: *mut ffi::sqlite3,
        stmt: &Stmt,
        mut row: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        loop {
            // SAFETY: stepping our own prepared statement.
            match unsafe { ffi::sqlite3_step(stmt.0) } {
                ffi::SQLITE_ROW => row()?,
                ffi::SQLITE_DONE => return Ok(()),
                _ => return Err(error(db, "step")),
            }
        }
    }

    fn utf8<'a>(b: Option<&'a [u8]>, col: &str) -> Result<Option<&'a str>> {
        b.map(|b| {
            std::str::from_utf8(b)
                .map_err(|_| Error::internal(format!("stored column {col} is not UTF-8")))
        })
        .transpose()
    }

    pub fn report_devices(
        db: NonNull<ffi::sqlite3>,
    ) -> Result<Vec<camwatch_core::registry::Device>> {
        let db = db.as_ptr();
        let sql = std::ffi::CString::new(format!(
            "SELECT {} FROM device ORDER BY code",
            crate::rows::REPORT_COLUMNS
        ))
        .expect("no NUL in fixed SQL");
        let stmt = prepare(db, &sql)?;
        let mut out = Vec::new();
        each_row(db, &stmt, || {
            // SAFETY: column indexes of REPORT_COLUMNS, read before the next step.
            let row = unsafe {
                let int = |i| {
                    (ffi::sqlite3_column_type(stmt.0, i) != ffi::SQLITE_NULL)
                        .then(|| ffi::sqlite3_column_int64(stmt.0, i))
                };
                crate::rows::ReportRow {
                    code: utf8(text(stmt.0, 0), "code")?.unwrap_or_default(),
                    name: utf8(text(stmt.0, 1), "name")?.unwrap_or_default(),
                    kind: utf8(text(stmt.0, 2), "kind")?.unwrap_or_default(),
                    parent_code: utf8(text(stmt.0, 3), "parent_code")?,
                    civil_code: utf8(text(stmt.0, 4), "civil_code")?,
                    maintainer: utf8(text(stmt.0, 5), "maintainer")?,
                    monthly_fee_fen: int(6),
                    monthly_link_fee_fen: int(7),
                    contract_from: utf8(text(stmt.0, 8), "contract_from")?,
                    contract_to: utf8(text(stmt.0, 9), "contract_to")?,
                }
            };
            out.push(row.into_device()?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Orders opened in `[from, to)`, by the `work_order_opened` index; columns as
    /// `select_orders!`.
    pub fn orders_opened(
        db: NonNull<ffi::sqlite3>,
        from: i64,
        to: i64,
    ) -> Result<Vec<crate::workorders::WorkOrder>> {
        let db = db.as_ptr();
        let sql = std::ffi::CString::new(crate::workorders::select_orders!(
            "WHERE opened_at >= ?1 AND opened_at < ?2"
        ))
        .expect("no NUL in fixed SQL");
        let stmt = prepare(db, &sql)?;
        // SAFETY: a prepared statement and parameter indexes 1 and 2 of its SQL.
        unsafe {
            ffi::sqlite3_bind_int64(stmt.0, 1, from);
            ffi::sqlite3_bind_int64(stmt.0, 2, to);
        }
        let mut out = Vec::new();
        each_row(db, &stmt, || {
            // SAFETY: column indexes of `select_orders!`, read (and copied) before the next
            // step.
            let order = unsafe {
                let int = |i| {
                    (ffi::sqlite3_column_type(stmt.0, i) != ffi::SQLITE_NULL)
                        .then(|| ffi::sqlite3_column_int64(stmt.0, i))
                };
                let txt = |i: usize| -> Result<Option<String>> {
                    Ok(utf8(text(stmt.0, i as i32), "work_order")?.map(str::to_string))
                };
                crate::workorders::order_from_columns(txt, |i| Ok(int(i as i32)))?
            };
            out.push(order);
            Ok(())
        })?;
        Ok(out)
    }

    pub fn scan_spans(db: NonNull<ffi::sqlite3>, scan: SpanScan) -> Result<crate::ReadSpans> {
        let SpanScan {
            from,
            to,
            open_until,
            ids,
        } = scan;
        let db = db.as_ptr();
        let stmt = prepare(db, SQL)?;
        // SAFETY: a prepared statement and parameter indexes 1 to 4 of its SQL.
        unsafe {
            ffi::sqlite3_bind_int64(stmt.0, 1, to);
            ffi::sqlite3_bind_int64(stmt.0, 2, from);
            ffi::sqlite3_bind_int64(stmt.0, 3, ids.0);
            ffi::sqlite3_bind_int64(stmt.0, 4, ids.1);
        }
        let mut out = crate::ReadSpans::default();
        // Rows of one device often follow each other: reuse the parsed code.
        let mut last: Option<([u8; 20], DeviceCode)> = None;
        loop {
            // SAFETY: stepping our own prepared statement.
            match unsafe { ffi::sqlite3_step(stmt.0) } {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => break,
                _ => return Err(error(db, "step")),
            }
            // SAFETY: column indexes of the SELECT above, read before the next step.
            let (code, status, start_at, end_at, cause) = unsafe {
                (
                    text(stmt.0, 0).unwrap_or_default(),
                    text(stmt.0, 1).unwrap_or_default(),
                    ffi::sqlite3_column_int64(stmt.0, 2),
                    (ffi::sqlite3_column_type(stmt.0, 3) != ffi::SQLITE_NULL)
                        .then(|| ffi::sqlite3_column_int64(stmt.0, 3)),
                    text(stmt.0, 4),
                )
            };
            let end_at = end_at.unwrap_or(open_until);
            if end_at <= start_at {
                continue;
            }
            let device = match &last {
                Some((raw, c)) if raw.as_slice() == code => *c,
                _ => {
                    let s = std::str::from_utf8(code).unwrap_or("");
                    let c: DeviceCode = s.parse().map_err(|_| {
                        Error::internal(format!(
                            "stored span code {:?}",
                            String::from_utf8_lossy(code)
                        ))
                    })?;
                    if let Ok(raw) = <[u8; 20]>::try_from(code) {
                        last = Some((raw, c));
                    }
                    c
                }
            };
            let status = std::str::from_utf8(status)
                .unwrap_or("")
                .parse()
                .map_err(Error::internal)?;
            out.push(
                device,
                status,
                start_at,
                end_at,
                cause.map(|b| String::from_utf8_lossy(b)).as_deref(),
            )?;
        }
        Ok(out)
    }
}

// Write transactions take the write lock at BEGIN: a deferred one that reads first and then
// writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, which the busy timeout
// does not wait out) when another connection wrote in between, e.g. an import while the
// monitor writes spans.
sql_store!(SqliteStore, sqlx::Sqlite, "sqlite", "BEGIN IMMEDIATE");
// After an import with explicit ids: nothing (SQLite's rowid follows the largest id).
crate::workorders::workorder_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "SELECT 1");
super::outbox_sql::outbox_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
crate::users::users_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
crate::gb28181::gb_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
crate::gb_recording::recording_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
crate::gb_sip_facts::sip_facts_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
crate::nodes::node_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "");
crate::patrol::patrol_sql!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
