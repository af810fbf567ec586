//! Where notifications of orders come from: an [`Announcer`] turns a change into outbox rows,
//! which the store writes in the same transaction as the change (nothing is lost to a crash)
//! and the notifier delivers later.

use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::EventKind;
use camwatch_store::outbox::NewOutboxRow;
use camwatch_store::workorders::WorkOrder;

pub trait Announcer: Send + Sync {
    /// The rows announcing that `kind` happened to `order` at `at`; empty for a change nobody
    /// is to be told of. `devices` are the channels the order covers.
    fn rows(
        &self,
        order: &WorkOrder,
        kind: EventKind,
        at: i64,
        devices: &[DeviceCode],
    ) -> Vec<NewOutboxRow>;
}

/// No notification targets configured.
pub struct Silent;

impl Announcer for Silent {
    fn rows(&self, _: &WorkOrder, _: EventKind, _: i64, _: &[DeviceCode]) -> Vec<NewOutboxRow> {
        Vec::new()
    }
}
