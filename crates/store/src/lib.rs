//! Persistence. The only module that speaks SQL.
//!
//! One `Store` trait, two implementations: SQLite (embedded default) and PostgreSQL (large
//! fleets, several prober nodes). Each has its own migration tree under `migrations/`, run at
//! start-up. Queries are built at run time (`query_as().bind()`), so no database is needed to
//! compile. Passwords are sealed with the `SecretKey` before they reach SQL and opened on read.
//!
//! Times are Unix seconds UTC in `_at` columns; money is integer fen.

use std::collections::HashSet;

use async_trait::async_trait;

use camwatch_core::error::Result;
use camwatch_core::history::{Exemption, Status, StatusSpan};
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};

/// Filters for listing devices. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Matches devices whose region (civil code, else code digits 1–6) starts with this.
    pub region_prefix: Option<String>,
    /// Exact maintainer (contractor) name.
    pub maintainer: Option<String>,
    pub kind: Option<DeviceKind>,
    pub limit: Option<u64>,
}

/// See [`Store::register_revision`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterRevision {
    pub devices: u64,
    pub last_update_at: i64,
    pub update_sum: i64,
}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// A status change observed by `health`: from `at` on, `device` is `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub device: DeviceCode,
    pub status: Status,
    pub at: i64,
    pub cause: Option<camwatch_core::cause::Cause>,
}

/// Which audit entries to read: all filters optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Entries older than this id (the previous page's last).
    pub before: Option<i64>,
    /// Exact actor (a user name, `cli:<os user>`, `system`).
    pub actor: Option<String>,
    /// An action or a dotted prefix of one (`device.` for every device action).
    pub action: Option<String>,
    /// Exact target (a device code, a file name, an id).
    pub target: Option<String>,
    pub limit: u64,
}

/// One entry of the audit log: who changed what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    /// User name, or `cli:<os user>` / `system`.
    pub actor: String,
    /// Dotted verb, e.g. `device.import`, `exemption.add`.
    pub action: String,
    /// What was acted on (a device code, a file name, an id).
    pub target: String,
    /// JSON details; never contains secrets.
    pub detail: String,
}

#[async_trait]
pub trait Store:
    workorders::WorkOrderStore
    + users::UserStore
    + OutboxStore
    + gb28181::CatalogStore
    + gb_recording::RecordingStore
    + gb_sip_facts::SipFactsStore
    + nodes::NodeStore
    + patrol::PatrolStore
    + retention::RetentionStore
    + Send
    + Sync
{
    /// Which backend, for messages: "sqlite" or "postgres".
    fn backend(&self) -> &'static str;

    // --- register ---
    /// Insert or update by code, in one transaction. Passwords are sealed on the way in.
    async fn upsert_devices(&self, devices: &[Device]) -> Result<UpsertCounts>;
    async fn get_device(&self, code: &DeviceCode) -> Result<Option<Device>>;
    /// Sorted by code.
    async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>>;
    async fn count_devices(&self) -> Result<u64>;
    /// A cheap token that changes whenever the register does (a device added or updated): the
    /// running monitor polls it to pick up imports without a restart. Two imports that change
    /// the same devices within one second are seen as one; the second is picked up with the next
    /// change.
    async fn register_revision(&self) -> Result<RegisterRevision>;
    /// Every device with only the fields reports use — code, name, kind, parent, civil code,
    /// maintainer, fees, contract dates — the rest left empty and no password decrypted.
    /// Sorted by code. The monthly report reads the whole register through this.
    async fn list_devices_for_report(&self) -> Result<Vec<Device>>;
    /// The stored records among `codes`.
    async fn list_devices_by_codes(
        &self,
        codes: &[DeviceCode],
    ) -> Result<std::collections::HashMap<DeviceCode, Device>>;
    /// Which of `codes` are already in the register.
    async fn existing_codes(&self, codes: &[DeviceCode]) -> Result<HashSet<DeviceCode>>;

    // --- the monitor's lease (one monitor per database; see `lease`) ---
    /// Takes the database for one monitor (`host`, `pid`, starting `at`) and records it, or
    /// refuses (`Conflict`) naming the monitor that holds it. A monitor that died holds nothing.
    async fn acquire_monitor(&self, host: &str, pid: u32, at: i64) -> Result<MonitorLease>;
    /// Closes the open spans of every monitor that never stopped (dead: `lease` holds the only
    /// lock) at its own last heartbeat, marking it recovered. Returns each with the number of
    /// spans closed.
    async fn recover_dead_monitors(
        &self,
        lease: &MonitorLease,
    ) -> Result<Vec<(MonitorInstance, u64)>>;
    /// A graceful stop: closes the spans `lease` opened at `at` (and no one else's), records the
    /// stop and releases the lock. Returns the number of spans closed.
    async fn release_monitor(&self, lease: MonitorLease, at: i64) -> Result<u64>;

    // --- status history ---
    /// Apply observed transitions in order: each closes the device's open span at `at` (if its
    /// status differs) and opens a new one, owned by `lease`'s monitor. A transition to the
    /// status already open is a no-op, and so is one that opened a span of `lease`'s that is
    /// still there (a batch written twice). Refused (`Unavailable`) once `lease`'s instance is
    /// recorded as stopped (a node taken for dead).
    async fn apply_transitions(
        &self,
        lease: &MonitorLease,
        transitions: &[Transition],
    ) -> Result<()>;
    /// Ends `lease`'s open spans of `devices` (every one of them when `None`) at `at`: its
    /// monitor stopped watching them (a shard given up or about to expire unrenewed, a write
    /// buffer that overflowed while the database was away), so the time after is `unknown`. A
    /// span opened at or after `at` never held and is dropped. Returns the number ended.
    /// Refused (`Unavailable`) once the instance is recorded as stopped, as
    /// [`Self::apply_transitions`] is.
    async fn end_watch(
        &self,
        lease: &MonitorLease,
        devices: Option<&[DeviceCode]>,
        at: i64,
    ) -> Result<u64>;
    /// Insert closed spans (history import). Rejects, inserting nothing, any span that overlaps
    /// a stored span of the same device, with an error naming device and times.
    async fn insert_spans(&self, spans: &[StatusSpan]) -> Result<u64>;
    /// Spans overlapping `[from, to)`, unclipped, sorted by device then start; an open span is
    /// returned with `end_at = open_until`.
    async fn spans_overlapping(
        &self,
        from: i64,
        to: i64,
        open_until: i64,
    ) -> Result<Vec<StatusSpan>>;

    /// One device's spans overlapping `[from, to)`, unclipped, by start; an open span is
    /// returned with `end_at = open_until`. What a device's timeline shows (the time index
    /// `(device_code, start_at)` serves it).
    async fn device_spans(
        &self,
        device: &DeviceCode,
        from: i64,
        to: i64,
        open_until: i64,
    ) -> Result<Vec<StatusSpan>>;

    // --- monitor liveness (for gap detection after a crash) ---
    /// `lease`'s monitor is alive at `at`; fails when its lock was lost.
    async fn record_heartbeat(&self, lease: &MonitorLease, at: i64) -> Result<()>;
    /// The newest heartbeat of any monitor.
    async fn last_heartbeat(&self) -> Result<Option<i64>>;

    // --- exemptions ---
    /// Stores and returns the new id.
    async fn add_exemption(&self, exemption: &Exemption) -> Result<i64>;
    async fn exemptions_overlapping(&self, from: i64, to: i64) -> Result<Vec<Exemption>>;

    // --- audit ---
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first.
    async fn recent_audit(&self, limit: u64) -> Result<Vec<AuditEntry>>;
    /// A page of the audit log, newest first, with each entry's id (the next page's `before`).
    async fn audit_page(&self, q: &AuditQuery) -> Result<Vec<(i64, AuditEntry)>>;
}

pub mod gb28181;
pub mod gb_recording;
pub mod gb_sip_facts;
pub mod lease;
mod migrations;
pub use migrations::postgres_before as postgres_schema_before;
pub mod nodes;
pub mod outbox;
mod outbox_sql;
pub mod patrol;
mod pg_copy;
mod postgres;
pub mod register_import;
pub mod retention;
mod rows;
mod span_order;
mod sql;
mod sqlite;
pub(crate) use span_order::{ReadSpans, sort_spans};
pub mod users;
pub mod workorders;

pub use gb28181::CatalogStore;
pub use lease::{InstanceId, MonitorInstance, MonitorLease, this_host};
pub use nodes::{NodeRecord, NodeStore, NodesView, PeerSnapshot, PeerSpan, StopKind};
pub use outbox::{NewOutboxRow, OutboxBacklog, OutboxRow, OutboxStore, TargetBacklog};
pub use patrol::{NewPatrolRecord, PatrolStore};
pub use postgres::PostgresStore;
pub use retention::{Dropped, RetentionStore, SpanRow, StoredMonth};
pub use sqlite::SqliteStore;
pub use users::{
    LoginRecord, NewSession, NewToken, NewUser, SessionRecord, TokenRecord, User, UserStore,
};

use std::sync::Arc;

use camwatch_core::error::{Error, ErrorKind};
use camwatch_core::history::ExemptionScope;
use camwatch_core::secret::SecretKey;

/// Opens the store named by `url`: `sqlite://PATH` or `postgres://…`, migrating it.
pub async fn connect(url: &str, key: SecretKey) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, key).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, key).await?))
    } else {
        Err(Error::invalid(format!(
            "database URL {url:?}: expected sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}

/// RFC 3339 for messages.
pub fn fmt_at(at: i64) -> String {
    jiff::Timestamp::from_second(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// Spans in one batch must be well-formed and must not overlap one another.
pub(crate) fn check_spans_disjoint(spans: &[StatusSpan]) -> Result<()> {
    let mut sorted: Vec<&StatusSpan> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.device, s.start_at));
    for s in &sorted {
        if s.end_at <= s.start_at {
            return Err(Error::invalid(format!(
                "device {}: span {} ends ({}) at or before it starts ({})",
                s.device,
                s.status,
                fmt_at(s.end_at),
                fmt_at(s.start_at)
            )));
        }
    }
    for w in sorted.windows(2) {
        if w[0].device == w[1].device && w[1].start_at < w[0].end_at {
            return Err(Error::conflict(format!(
                "device {}: span {} [{}, {}) overlaps span {} [{}, {})",
                w[0].device,
                w[0].status,
                fmt_at(w[0].start_at),
                fmt_at(w[0].end_at),
                w[1].status,
                fmt_at(w[1].start_at),
                fmt_at(w[1].end_at)
            )));
        }
    }
    Ok(())
}

pub(crate) fn scope_columns(scope: &ExemptionScope) -> (&'static str, String) {
    match scope {
        ExemptionScope::Device(c) => ("device", c.to_string()),
        ExemptionScope::RegionPrefix(p) => ("region_prefix", p.clone()),
    }
}

pub(crate) fn scope_from_columns(t: &str, v: &str) -> Result<ExemptionScope> {
    match t {
        "device" => Ok(ExemptionScope::Device(v.parse().map_err(|e| {
            Error::internal(format!("stored exemption device {v:?}: {e}"))
        })?)),
        "region_prefix" => Ok(ExemptionScope::RegionPrefix(v.to_string())),
        other => Err(Error::internal(format!("stored exemption scope {other:?}"))),
    }
}

/// Where a span read over a table whose ids run from `lo` to `hi` is split for two
/// connections at once: `Some(mid)` when the range holds at least 500,000 ids, read as
/// `id <= mid` and `id > mid` (the second half open-ended, so a span written meanwhile is not
/// left out); `None` for one read. Both backends read a large month this way.
pub(crate) fn id_split(lo: i64, hi: i64) -> Option<i64> {
    (hi - lo >= 500_000).then(|| lo + (hi - lo) / 2)
}

/// A database error as camwatch's error, classified by its cause so callers can tell a row that
/// conflicts with stored state (skip it, report it) from a database that is not there (stop,
/// retry): a constraint violation is `Conflict`, a missing row `NotFound`, everything else
/// (connection, pool timeout, I/O, a protocol error) `Unavailable`. The sqlx error is kept as
/// the source, for the log's cause chain.
pub fn db_error(e: sqlx::Error) -> Error {
    use sqlx::error::ErrorKind as Db;
    let kind = match &e {
        sqlx::Error::RowNotFound => ErrorKind::NotFound,
        sqlx::Error::Database(d) => match d.kind() {
            Db::UniqueViolation
            | Db::ForeignKeyViolation
            | Db::NotNullViolation
            | Db::CheckViolation => ErrorKind::Conflict,
            _ => ErrorKind::Unavailable,
        },
        _ => ErrorKind::Unavailable,
    };
    Error::with_source(kind, "database", e)
}
