//! Where notifications of orders come from: an [`Announcer`] turns a change into outbox rows,
//! which the store writes in the same transaction as the change (nothing is lost to a crash)
//! and the notifier delivers later.

use camwatch_core::workorder::EventKind;
use camwatch_store::outbox::NewOutboxRow;
use camwatch_store::workorders::WorkOrder;

pub trait Announcer: Send + Sync {
    /// The rows announcing that `kind` happened to `order` at `at`; empty for a change nobody
    /// is to be told of.
    fn rows(&self, order: &WorkOrder, kind: EventKind, at: i64) -> Vec<NewOutboxRow>;
}

/// No notification targets configured.
pub struct Silent;

impl Announcer for Silent {
    fn rows(&self, _: &WorkOrder, _: EventKind, _: i64) -> Vec<NewOutboxRow> {
        Vec::new()
    }
}
