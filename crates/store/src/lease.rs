//! One monitor per database: the lease a monitor holds for its whole run.
//!
//! The spans are the record of truth for money, and two monitors writing one database corrupt
//! it quietly: both open spans, and the first to stop closed every open span at its stop, the
//! other's too, so time it was still watching became `unknown`. So a monitor (`serve`, the
//! demo, the rehearsal) first takes a [`MonitorLease`]; a second one on the same database is
//! refused with an error naming the holder (host, pid, since when, last heartbeat).
//!
//! **Who holds it is decided by a lock the operating system or the server releases when the
//! process dies**, not by heartbeat age:
//! - SQLite: `flock(LOCK_EX | LOCK_NB)` on `<database file>-monitor.lock` beside the database.
//!   The kernel drops the lock with the last descriptor, so `kill -9`, an OOM kill or a panic
//!   never leaves a stale lock, and no clock or timeout is involved. (On NFS Linux emulates
//!   flock with POSIX locks; keep the database on a local disk anyway, as SQLite asks.)
//! - PostgreSQL: `pg_try_advisory_lock` held by a connection of its own, outside the pool. The
//!   server releases a session lock when the session ends, which a dead process's connection
//!   does (at once on a closed socket; after the TCP keepalive for a vanished host).
//!
//! A heartbeat age alone would need a threshold: too short and a monitor stalled by a long
//! database write is taken over while alive; too long and a restart after a crash waits it out.
//! The lock has neither problem. The `monitor_instance` row beside it is for people (the
//! refusal names it) and for recovery: at start, the holder closes the open spans of every
//! instance that never stopped (it holds the only lock, so they are dead) at their own last
//! heartbeat, and on a graceful stop it closes only its own spans.
//!
//! A lease can be lost while held (the lock file deleted by hand, the PostgreSQL connection cut):
//! every heartbeat checks it first ([`MonitorLease::check`]) and fails when it is gone, which
//! stops the span writer: nothing more is written beside a successor, which will recover this
//! instance's spans at its last heartbeat as those of a dead one.
//!
//! Several nodes (`crate::nodes`, docs/nodes.md) hold the PostgreSQL lock in shared mode: any
//! number of nodes, and no single monitor beside them. Among nodes, who is dead is decided by
//! heartbeat age against the lease time, since the lock no longer tells them apart.
//!
//! Not guarded: a camwatch from before migration 0002 takes no lock; stop old binaries before
//! upgrading.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use camwatch_core::error::{Error, ErrorKind, Result};

/// A monitor instance's id (`monitor_instance.id`); the spans it opens carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub i64);

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A monitor process as recorded in `monitor_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorInstance {
    pub id: InstanceId,
    pub host: String,
    pub pid: u32,
    pub started_at: i64,
    /// Its last sign of life.
    pub heartbeat_at: i64,
}

/// What holds the lock; dropping it releases the lock.
#[async_trait]
pub(crate) trait LockGuard: Send + Sync {
    /// Fails when the lock is no longer held.
    async fn check(&self) -> Result<()>;
}

/// The right to monitor one database, held for the life of one monitor (see the module doc).
/// Dropped, it releases the lock; `Store::release_monitor` also closes its spans and records the
/// stop.
pub struct MonitorLease {
    instance: MonitorInstance,
    guard: Box<dyn LockGuard>,
}

impl std::fmt::Debug for MonitorLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorLease")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl MonitorLease {
    pub(crate) fn new(instance: MonitorInstance, guard: Box<dyn LockGuard>) -> Self {
        Self { instance, guard }
    }
    pub fn id(&self) -> InstanceId {
        self.instance.id
    }
    pub fn instance(&self) -> &MonitorInstance {
        &self.instance
    }
    /// Fails (`Unavailable`) when the lock was lost while held.
    pub async fn check(&self) -> Result<()> {
        self.guard.check().await
    }
}

/// This machine's host name, for the instance record.
pub fn this_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The refusal a second monitor gets, naming the one that holds the database.
pub(crate) fn refused(holder: Option<&MonitorInstance>, backend: &str, now: i64) -> Error {
    let who = match holder {
        Some(h) => format!(
            "instance {}, pid {} on host {}, running since {} (last heartbeat {}, {} s ago)",
            h.id,
            h.pid,
            h.host,
            super::fmt_at(h.started_at),
            super::fmt_at(h.heartbeat_at),
            (now - h.heartbeat_at).max(0)
        ),
        None => "another monitor, starting up (its record is not written yet)".into(),
    };
    Error::conflict(format!(
        "another monitor is already running on this {backend} database: {who}. One monitor per \
         database: stop that one first, or point this one at another database (--db)"
    ))
}

/// The SQLite lock file beside `db`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-monitor.lock");
    PathBuf::from(name)
}

/// An exclusive `flock` on the lock file beside a SQLite database.
pub(crate) struct FileLock {
    file: std::fs::File,
    path: PathBuf,
}

impl FileLock {
    /// The lock, or `None` when another process holds it.
    pub(crate) fn try_acquire(path: PathBuf) -> Result<Option<Self>> {
        use std::os::fd::AsRawFd;
        let io = |e: std::io::Error| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("monitor lock file {}", path.display()),
                e,
            )
        };
        // Opened with O_CLOEXEC (std's default): a child process must not inherit the lock.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Ok(None);
            }
            return Err(io(e));
        }
        Ok(Some(Self { file, path }))
    }
}

#[async_trait]
impl LockGuard for FileLock {
    /// Still the file at the path: a lock file deleted (or replaced) by hand would let another
    /// monitor lock a new one while this one still runs.
    async fn check(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let held = self.file.metadata().ok();
        let now = std::fs::metadata(&self.path).ok();
        match (held, now) {
            (Some(a), Some(b)) if a.dev() == b.dev() && a.ino() == b.ino() => Ok(()),
            _ => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the monitor lock file {} was removed or replaced while this monitor held \
                     it: stopping, so that two monitors never write at once",
                    self.path.display()
                ),
            )),
        }
    }
}

/// No lock: an in-memory SQLite database, which no other process can open.
pub(crate) struct NoLock;

#[async_trait]
impl LockGuard for NoLock {
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// The advisory-lock key of "the monitor" (two int4 keys: a namespace, then the lock).
pub(crate) const PG_LOCK_KEY: (i32, i32) = (0x6361_6d77, 1); // "camw", 1

/// A PostgreSQL session advisory lock, held by a connection of its own.
///
/// **After PostgreSQL restarts** (or the connection is cut) the session, and the lock with it,
/// is gone. The next [`check`](LockGuard::check) connects again and takes the lock again in the
/// same mode: while the server is away it fails (`Unavailable`, try later); when another
/// session took the lock meanwhile (a single monitor beside nodes, or another single monitor)
/// it fails with `Conflict` (stop). Taking it again is safe because the lock alone never
/// decided who writes: a monitor that started while this one was cut off found this instance
/// not stopped and recovered it (closing its spans, marking it stopped), and every write of
/// this instance checks its row is not stopped in the same transaction.
pub(crate) struct AdvisoryLock {
    opts: sqlx::postgres::PgConnectOptions,
    shared: bool,
    conn: tokio::sync::Mutex<sqlx::PgConnection>,
}

impl AdvisoryLock {
    /// The lock on a new connection, or `None` when another session holds it. `shared`: the
    /// mode nodes take it in (any number of nodes, no single monitor); else exclusive.
    pub(crate) async fn try_acquire(
        opts: &sqlx::postgres::PgConnectOptions,
        shared: bool,
    ) -> Result<Option<Self>> {
        Ok(Self::lock_on_new_connection(opts, shared)
            .await?
            .map(|conn| Self {
                opts: opts.clone(),
                shared,
                conn: tokio::sync::Mutex::new(conn),
            }))
    }

    async fn lock_on_new_connection(
        opts: &sqlx::postgres::PgConnectOptions,
        shared: bool,
    ) -> Result<Option<sqlx::PgConnection>> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(opts)
            .await
            .map_err(crate::db_error)?;
        let got: bool = sqlx::query_scalar(if shared {
            "SELECT pg_try_advisory_lock_shared($1, $2)"
        } else {
            "SELECT pg_try_advisory_lock($1, $2)"
        })
        .bind(PG_LOCK_KEY.0)
        .bind(PG_LOCK_KEY.1)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::db_error)?;
        // Refused: the connection closes on drop.
        Ok(got.then_some(conn))
    }
}

/// Whether the session of `conn` holds the monitor lock (in either mode).
async fn holds(conn: &mut sqlx::PgConnection) -> std::result::Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
         AND pid = pg_backend_pid() AND classid = $1::int4::oid AND objid = $2::int4::oid
         AND objsubid = 2)",
    )
    .bind(PG_LOCK_KEY.0)
    .bind(PG_LOCK_KEY.1)
    .fetch_one(conn)
    .await
}

#[async_trait]
impl LockGuard for AdvisoryLock {
    async fn check(&self) -> Result<()> {
        let mut conn = self.conn.lock().await;
        match holds(&mut conn).await {
            Ok(true) => return Ok(()),
            Ok(false) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "the monitor's advisory lock is no longer held: stopping",
                ));
            }
            // The session is gone (the server restarted, the connection was cut): take the
            // lock again on a new one (see the type's doc).
            Err(_) => {}
        }
        match Self::lock_on_new_connection(&self.opts, self.shared).await {
            Ok(Some(new)) => {
                *conn = new;
                Ok(())
            }
            Ok(None) => Err(Error::conflict(
                "another monitor took this PostgreSQL database while the connection holding \
                 this one's lock was lost: stopping, so that two monitors never write at once",
            )),
            Err(e) => Err(Error::with_source(
                ErrorKind::Unavailable,
                "the monitor lock cannot be taken again yet (PostgreSQL out of reach)",
                e,
            )),
        }
    }
}
