//! From the work-order engine's changes to outbox rows: which order events are announced,
//! and the [`Notification`] of a stored order. The engine's `Announcer` (crate
//! `camwatch-workorder`) can delegate to [`Announcements::rows`]; this crate does not depend
//! on the engine, so the few lines of glue live where both are in reach (the binary).
//!
//! Pure: no I/O, no clock.

use camwatch_core::workorder::EventKind;
use camwatch_store::NewOutboxRow;
use camwatch_store::workorders::WorkOrder;

use crate::config::Target;
use crate::message::{DeviceRef, Notification, NotificationKind, rows_for};

/// The notification announcing order event `event`; `None` for the events contractors are
/// not told of one by one (joins, notes, closing: the daily digest covers them).
pub fn kind_for(event: EventKind) -> Option<NotificationKind> {
    match event {
        EventKind::Opened => Some(NotificationKind::Opened),
        EventKind::ResponseOverdue => Some(NotificationKind::ResponseOverdue),
        EventKind::RepairOverdue => Some(NotificationKind::RepairOverdue),
        EventKind::NotVerified => Some(NotificationKind::RepairNotVerified),
        EventKind::Reopened => Some(NotificationKind::Reopened),
        _ => None,
    }
}

impl Notification {
    /// The notification of `kind` about stored order `order` at `at`, listing its subject
    /// device (replace with [`Notification::with_devices`] when the names are at hand).
    pub fn for_work_order(order: &WorkOrder, kind: NotificationKind, at: i64) -> Self {
        let mut n = Self::for_order(
            kind,
            order.id,
            order.title.clone(),
            order.level.clone(),
            order.region.clone(),
            at,
        )
        .with_devices([DeviceRef {
            code: order.subject.to_string(),
            name: String::new(),
        }]);
        n.contractor = order.life.contractor.clone();
        n.cause = order.cause.as_ref().map(|c| c.to_string());
        n.response_due_at = order.life.response_due_at;
        n.repair_due_at = order.life.repair_due_at;
        n
    }
}

/// The configured targets and the contract's time zone: what the engine needs to announce.
#[derive(Debug, Clone)]
pub struct Announcements {
    pub targets: Vec<Target>,
    /// IANA zone of the times in messages (the contract's), e.g. `Asia/Shanghai`.
    pub time_zone: String,
}

impl Announcements {
    /// The outbox rows announcing that `event` happened to `order` at `at` (none for an event
    /// not announced, or when no target wants it), to write in the change's transaction.
    /// `devices` are the channels the order covers (a parent's order lists them); empty: its
    /// subject alone.
    pub fn rows(
        &self,
        order: &WorkOrder,
        event: EventKind,
        at: i64,
        devices: &[camwatch_core::registry::DeviceCode],
    ) -> Vec<NewOutboxRow> {
        let Some(kind) = kind_for(event) else {
            return Vec::new();
        };
        let mut n = Notification::for_work_order(order, kind, at);
        if !devices.is_empty() {
            n = n.with_devices(devices.iter().map(|c| DeviceRef {
                code: c.to_string(),
                name: String::new(),
            }));
        }
        n.time_zone = self.time_zone.clone();
        rows_for(&n, &self.targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Format;
    use camwatch_core::workorder::{Lifecycle, Origin};

    fn order() -> WorkOrder {
        WorkOrder {
            id: 7,
            subject: "34020000001320000001".parse().unwrap(),
            origin: Origin::Outage,
            cause: None,
            title: "城东路口 离线".into(),
            level: "一级".into(),
            region: "340202".into(),
            fault_since: 900,
            opened_at: 1000,
            life: Lifecycle {
                contractor: Some("甲公司".into()),
                response_due_at: Some(2800),
                ..Lifecycle::default()
            },
            version: 1,
        }
    }

    #[test]
    fn announced_events_become_rows_for_the_targets() {
        let a = Announcements {
            targets: vec![Target {
                name: "ops".into(),
                url: "https://x/?key=k".into(),
                secret: None,
                kinds: vec![],
                contractors: vec![],
                format: Format::Wecom,
            }],
            time_zone: "Asia/Shanghai".into(),
        };
        assert!(a.rows(&order(), EventKind::Noted, 1000, &[]).is_empty());
        let rows = a.rows(&order(), EventKind::NotVerified, 1500, &[]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].kind.as_str(), rows[0].ordering_key.as_str()),
            ("repair_not_verified", "work-order:7")
        );
        let n: Notification = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(n.order_id, Some(7));
        assert_eq!(n.contractor.as_deref(), Some("甲公司"));
        assert_eq!(n.response_due_at, Some(2800));
        assert_eq!(n.devices_text(), "34020000001320000001");
        assert_eq!(n.at, 1500);
    }
}
