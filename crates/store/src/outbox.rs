//! The notification outbox (table `outbox`, migration 0003): messages written in the same
//! transaction as the change they announce, delivered later, retried until delivered.

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
