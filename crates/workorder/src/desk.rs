//! The work-order desk: every change to an order, whoever makes it (the engine, the CLI, the
//! API), goes through here. One path means one set of rules: the transition is the pure
//! `core::workorder::apply`, the change is written with its events and notifications in one
//! transaction, and every change by a person is in the audit log.

use std::sync::Arc;

use camwatch_core::error::{Error, ErrorKind, Result};
use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::{Action, EventKind, Lifecycle, Origin, apply};
use camwatch_store::workorders::{NewOrderEvent, NewWorkOrder, WorkOrder};
use camwatch_store::{AuditEntry, Store};

use crate::announce::Announcer;
use crate::sla::Sla;

/// Who acts: `system` for the engine, a user name, or `cli:<os user>`.
pub const SYSTEM: &str = "system";

/// The desk: the store, the SLA rules and where notifications go.
#[derive(Clone)]
pub struct Desk {
    pub store: Arc<dyn Store>,
    pub sla: Arc<Sla>,
    pub announcer: Arc<dyn Announcer>,
}

/// An order to open by hand (a user-reported fault).
#[derive(Debug, Clone)]
pub struct ManualOrder {
    pub devices: Vec<DeviceCode>,
    pub title: String,
    pub note: String,
    /// Overrides the register's maintainer and the assignment rules.
    pub contractor: Option<String>,
    /// When the fault was seen (defaults to now).
    pub since: Option<i64>,
}

impl Desk {
    /// Applies `action` to order `id` at `at` for `actor`, with `note` and JSON `detail`.
    /// Returns the order as it is afterwards (unchanged when there was nothing to do). Retried
    /// once when someone else changed the order meanwhile.
    pub async fn act(
        &self,
        id: i64,
        action: &Action,
        at: i64,
        actor: &str,
        note: &str,
    ) -> Result<WorkOrder> {
        self.act_if(id, action, at, actor, note, &|_| true).await
    }

    /// [`Desk::act`] when `allowed` holds for the order as it is read for the change: the check
    /// and the write see the same version (the write is refused if the order changed in
    /// between, and the retry checks again), so an order reassigned meanwhile is never changed
    /// by someone who may no longer touch it. An order `allowed` refuses reads as missing.
    pub async fn act_if(
        &self,
        id: i64,
        action: &Action,
        at: i64,
        actor: &str,
        note: &str,
        allowed: &(dyn Fn(&WorkOrder) -> bool + Sync),
    ) -> Result<WorkOrder> {
        bounded("note", note, camwatch_core::limits::NOTE_CHARS)?;
        let missing = || Error::not_found(format!("work order {id} does not exist"));
        for attempt in 0..2 {
            let order = self.store.work_order(id).await?.ok_or_else(missing)?;
            if !allowed(&order) {
                return Err(missing());
            }
            let (life, kinds) = apply(&order.life, action, at)
                .map_err(|e| Error::invalid(format!("work order {id}: {e}")))?;
            if kinds.is_empty() {
                return Ok(order);
            }
            match self.write(&order, life, &kinds, at, actor, note).await {
                Err(e) if e.kind == ErrorKind::Conflict && attempt == 0 => continue,
                r => return r,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    async fn write(
        &self,
        order: &WorkOrder,
        life: Lifecycle,
        kinds: &[EventKind],
        at: i64,
        actor: &str,
        note: &str,
    ) -> Result<WorkOrder> {
        let events: Vec<NewOrderEvent> = kinds
            .iter()
            .map(|&kind| NewOrderEvent {
                // An overdue flag happened when the deadline passed, not when it was noticed.
                at: match kind {
                    EventKind::ResponseOverdue => life.response_overdue_at.unwrap_or(at),
                    EventKind::RepairOverdue => life.repair_overdue_at.unwrap_or(at),
                    _ => at,
                },
                actor: actor.to_string(),
                kind,
                note: note.to_string(),
                detail: "{}".into(),
            })
            .collect();
        let mut after = order.clone();
        after.life = life.clone();
        let devices: Vec<DeviceCode> = self
            .store
            .work_order_devices(order.id)
            .await?
            .into_iter()
            .filter(|m| m.left_at.is_none())
            .map(|m| m.device)
            .collect();
        let outbox: Vec<_> = kinds
            .iter()
            .flat_map(|&k| self.announcer.rows(&after, k, at, &devices))
            .collect();
        let written = self
            .store
            .update_work_order(order.id, order.version, &life, &events, &outbox)
            .await?;
        if actor != SYSTEM {
            self.audit(at, actor, kinds, order.id, note).await?;
        }
        Ok(written)
    }

    async fn audit(
        &self,
        at: i64,
        actor: &str,
        kinds: &[EventKind],
        id: i64,
        note: &str,
    ) -> Result<()> {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        self.store
            .append_audit(&AuditEntry {
                at,
                actor: actor.to_string(),
                action: format!("workorder.{}", names.last().copied().unwrap_or("change")),
                target: format!("work-order:{id}"),
                detail: serde_json::json!({ "events": names, "note": note }).to_string(),
            })
            .await
    }

    /// Opens an order, announced. `Conflict` when one of its devices is already in an open
    /// order.
    pub async fn open(&self, new: NewWorkOrder) -> Result<WorkOrder> {
        let announcer = self.announcer.clone();
        let at = new.opened_at;
        let devices = new.devices.clone();
        let opened = self
            .store
            .open_work_order(&new, &move |o| {
                announcer.rows(o, EventKind::Opened, at, &devices)
            })
            .await?;
        if new.actor != SYSTEM {
            self.store
                .append_audit(&AuditEntry {
                    at: new.opened_at,
                    actor: new.actor.clone(),
                    action: "workorder.open".into(),
                    target: format!("work-order:{}", opened.id),
                    detail: serde_json::json!({
                        "devices": new.devices.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "title": new.title,
                        "note": new.note,
                    })
                    .to_string(),
                })
                .await?;
        }
        Ok(opened)
    }

    /// Opens an order by hand for `m.devices`, assigned and timed like an automatic one.
    pub async fn open_manual(&self, m: ManualOrder, at: i64, actor: &str) -> Result<WorkOrder> {
        self.open_by_hand(m, Origin::Manual, at, actor).await
    }

    /// Opens an order for a fault the daily patrol found (origin `patrol`), like
    /// [`open_manual`](Self::open_manual).
    pub async fn open_from_patrol(
        &self,
        m: ManualOrder,
        at: i64,
        actor: &str,
    ) -> Result<WorkOrder> {
        self.open_by_hand(m, Origin::Patrol, at, actor).await
    }

    async fn open_by_hand(
        &self,
        m: ManualOrder,
        origin: Origin,
        at: i64,
        actor: &str,
    ) -> Result<WorkOrder> {
        debug_assert!(origin.is_by_hand());
        let Some(&subject) = m.devices.first() else {
            return Err(Error::invalid("a work order needs at least one device"));
        };
        bounded("title", &m.title, camwatch_core::limits::TEXT_CHARS)?;
        bounded("note", &m.note, camwatch_core::limits::NOTE_CHARS)?;
        let found = self.store.list_devices_by_codes(&m.devices).await?;
        for d in &m.devices {
            if !found.contains_key(d) {
                return Err(Error::not_found(format!(
                    "device {d} is not in the register"
                )));
            }
        }
        let first = &found[&subject];
        let since = m.since.unwrap_or(at);
        let region = first.region().to_string();
        let contractor = m.contractor.clone().or_else(|| {
            self.sla
                .contractor_for(first.maintainer.as_deref(), &region)
        });
        let plan = self.sla.plan(&m.devices, &region, false, at).await?;
        let title = if m.title.trim().is_empty() {
            format!("报修：{}", first.name)
        } else {
            m.title.clone()
        };
        self.open(NewWorkOrder {
            subject,
            origin,
            cause: None,
            title,
            level: plan.level,
            region,
            fault_since: since,
            opened_at: at,
            life: Lifecycle {
                contractor,
                response_due_at: plan.response_due_at,
                repair_due_at: plan.repair_due_at,
                ..Lifecycle::default()
            },
            devices: m.devices,
            actor: actor.to_string(),
            note: m.note,
        })
        .await
    }

    /// Attaches a file (a photo from the site, an evidence frame) to order `id`.
    pub async fn attach(
        &self,
        id: i64,
        at: i64,
        actor: &str,
        name: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<i64> {
        bounded("attachment name", name, camwatch_core::limits::NAME_CHARS)?;
        if bytes.len() > MAX_ATTACHMENT {
            return Err(Error::invalid(format!(
                "attachment {name:?}: {} bytes, at most {MAX_ATTACHMENT}",
                bytes.len()
            )));
        }
        let aid = self
            .store
            .attach_to_work_order(id, at, actor, name, media_type, bytes)
            .await?;
        if actor != SYSTEM {
            self.store
                .append_audit(&AuditEntry {
                    at,
                    actor: actor.to_string(),
                    action: "workorder.attach".into(),
                    target: format!("work-order:{id}"),
                    detail:
                        serde_json::json!({ "attachment": aid, "name": name, "bytes": bytes.len() })
                            .to_string(),
                })
                .await?;
        }
        Ok(aid)
    }
}

/// Text people type is bounded (see `camwatch_core::limits`), whichever way it arrives.
fn bounded(what: &str, text: &str, max: usize) -> Result<()> {
    if text.chars().count() > max {
        return Err(Error::invalid(format!(
            "{what}: more than {max} characters"
        )));
    }
    Ok(())
}

/// The largest attachment: a phone photo, with room.
pub const MAX_ATTACHMENT: usize = 16 << 20;
