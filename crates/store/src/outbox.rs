//! The notification outbox (table `outbox`, migration 0003): messages written in the same
//! transaction as the change they announce, delivered later, retried until delivered.
//!
//! Invariants the queries keep (the delivery worker in `camwatch-notify` relies on them):
//! - **Order per key.** [`OutboxStore::due_outbox`] returns only the *head* of each
//!   `(target, ordering_key)`: its undelivered row with the lowest id. A later row of the same
//!   key is never due while an earlier one is undelivered, whatever their `next_at`, so a
//!   retried message cannot be overtaken by the next one.
//! - **Nothing is deleted.** A delivered row keeps its `delivered_at` as the record; a failed
//!   one keeps its attempts and last error for `camwatch outbox` and the backlog gauge.
//! - **Fairness between targets.** `due_outbox`'s limit applies per target, so a dead target
//!   with a long backlog cannot fill a poll and starve the others.
//!
//! This module does no HTTP and knows no target formats; it only stores and orders rows.

use async_trait::async_trait;

use camwatch_core::error::Result;

/// A message to enqueue, for one configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxRow {
    /// The configured target's name.
    pub target: String,
    /// Rows with the same `(target, ordering_key)` are delivered in the order they were written.
    pub ordering_key: String,
    /// What the message announces (`opened`, `overdue`, …), for filtering and the record.
    pub kind: String,
    /// Target-independent JSON; rendered for the target when sent.
    pub payload: String,
    pub created_at: i64,
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Increasing in write order; receivers de-duplicate on it (`X-Camwatch-Id`).
    pub id: i64,
    pub target: String,
    pub ordering_key: String,
    pub kind: String,
    pub payload: String,
    pub created_at: i64,
    /// Not to be sent before this.
    pub next_at: i64,
    /// Sends tried so far (the successful one included once delivered).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// The undelivered rows of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetBacklog {
    pub target: String,
    pub pending: u64,
    pub oldest_created_at: Option<i64>,
    /// The most attempts any of its pending rows has had: >0 means it is failing now.
    pub max_attempts: u32,
}

/// Undelivered rows, for the health page and metrics ("is anything stuck?").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: u64,
    pub oldest_created_at: Option<i64>,
    /// Sorted by target name.
    pub by_target: Vec<TargetBacklog>,
}

/// The longest `last_error` stored, in bytes (cut on a character boundary).
pub const MAX_ERROR_BYTES: usize = 1000;

/// Reading and updating the outbox. Implemented by both backends with one SQL body
/// (`outbox_sql`), and a supertrait of [`crate::Store`], so an `Arc<dyn Store>` has it.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Adds rows in one transaction, due at once (`next_at = created_at`). The work-order
    /// engine writes its rows in its own transaction instead (with `next_at = created_at` and
    /// the other columns at their defaults, as here); this is for everything else (a digest,
    /// a test message, tests).
    async fn enqueue_outbox(&self, rows: &[NewOutboxRow]) -> Result<()>;
    /// The head row (lowest undelivered id) of each `(target, ordering_key)` whose `next_at` is
    /// at or before `now`, at most `limit_per_target` per target, oldest `next_at` first.
    async fn due_outbox(&self, now: i64, limit_per_target: u64) -> Result<Vec<OutboxRow>>;
    /// Records a successful delivery (counting the attempt). Marking a delivered row again
    /// changes nothing.
    async fn mark_delivered(&self, id: i64, at: i64) -> Result<()>;
    /// Records a failed attempt: the attempts so far, when to try again, and why it failed
    /// (cut to [`MAX_ERROR_BYTES`]).
    async fn mark_failed(&self, id: i64, attempts: u32, next_at: i64, error: &str) -> Result<()>;
    async fn outbox_backlog(&self) -> Result<OutboxBacklog>;
    /// When the newest row of `kind` (any target) was written; `None` when there is none. The
    /// daily digest reads it to know whether today's went out before a restart (one scan a
    /// day: no index is kept for it).
    async fn latest_outbox_of_kind(&self, kind: &str) -> Result<Option<i64>>;
    /// Newest first, delivered or not, optionally of one target (for the CLI).
    async fn recent_outbox(&self, target: Option<&str>, limit: u64) -> Result<Vec<OutboxRow>>;
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(super::cut("abc", 5), "abc");
        assert_eq!(super::cut("故障abc", 4), "故");
        assert_eq!(super::cut("故障abc", 6), "故障");
    }
}
