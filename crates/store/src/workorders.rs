//! Work orders in the store (tables `work_order`, `work_order_device`, `work_order_event`,
//! `work_order_attachment`; migration 0003).
//!
//! - **One open order per device**, enforced by the database (a partial unique index on the
//!   open memberships): opening or joining an order for a device already in one is refused
//!   with `Conflict`, so two paths racing to open an order for one fault cannot both win.
//! - **Every change is one transaction**: the order's new state, its events and the outbox rows
//!   announcing it commit together or not at all. A change names the version it was computed
//!   from; if the order changed meanwhile it is refused (`Conflict`) and the caller re-reads.
//! - **Nothing is deleted.** Events are appended; a device leaving an order gets `left_at`.

use async_trait::async_trait;

use camwatch_core::cause::Cause;
use camwatch_core::error::Result;
use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::{EventKind, Lifecycle, Origin, State};

use crate::outbox::NewOutboxRow;

/// Makes the outbox rows that announce a change to an order.
pub type Announce = dyn Fn(&WorkOrder) -> Vec<NewOutboxRow> + Send + Sync;

/// A stored work order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkOrder {
    pub id: i64,
    /// The device the order is about (the parent, for a parent's order; the first device, for a
    /// region's).
    pub subject: DeviceCode,
    pub origin: Origin,
    pub cause: Option<Cause>,
    pub title: String,
    /// The contract's SLA level.
    pub level: String,
    pub region: String,
    pub fault_since: i64,
    pub opened_at: i64,
    pub life: Lifecycle,
    /// +1 per change.
    pub version: i64,
}

/// An order to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkOrder {
    pub subject: DeviceCode,
    pub origin: Origin,
    pub cause: Option<Cause>,
    pub title: String,
    pub level: String,
    pub region: String,
    pub fault_since: i64,
    pub opened_at: i64,
    /// Contractor and deadlines; the state is pending.
    pub life: Lifecycle,
    /// The devices it covers (the subject included).
    pub devices: Vec<DeviceCode>,
    pub actor: String,
    pub note: String,
}

/// One entry of an order's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub id: i64,
    pub order_id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: EventKind,
    pub note: String,
    /// JSON.
    pub detail: String,
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderEvent {
    pub at: i64,
    pub actor: String,
    pub kind: EventKind,
    pub note: String,
    pub detail: String,
}

/// A device's membership of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub device: DeviceCode,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

/// An attachment's description (its bytes are read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: i64,
    pub order_id: i64,
    pub at: i64,
    pub actor: String,
    pub name: String,
    pub media_type: String,
    pub size: i64,
}

/// Which orders to list. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub state: Option<State>,
    /// Only open (or only closed) orders.
    pub open: Option<bool>,
    pub contractor: Option<String>,
    pub region_prefix: Option<String>,
    pub origin: Option<Origin>,
    /// Opened in `[from, to)`.
    pub opened_from: Option<i64>,
    pub opened_to: Option<i64>,
    /// Closed at or after this instant.
    pub closed_from: Option<i64>,
    /// Orders whose response or repair went overdue.
    pub overdue: Option<bool>,
    /// Cursor: orders with a smaller id (the list is newest first).
    pub before_id: Option<i64>,
    pub limit: Option<u64>,
}

#[async_trait]
pub trait WorkOrderStore: Send + Sync {
    /// Opens an order with its devices, its `opened` event and the outbox rows `announce`
    /// makes of it (it is given the order with its new id), in one transaction. `Conflict`
    /// naming the device and its order when one of `devices` is already in an open order;
    /// nothing is written then.
    async fn open_work_order(&self, o: &NewWorkOrder, announce: &Announce) -> Result<WorkOrder>;
    async fn work_order(&self, id: i64) -> Result<Option<WorkOrder>>;
    /// The open order `device` is in, if any.
    async fn open_order_of(&self, device: &DeviceCode) -> Result<Option<i64>>;
    /// Every open order.
    async fn open_work_orders(&self) -> Result<Vec<WorkOrder>>;
    /// Every device in an open order, with the order.
    async fn open_memberships(&self) -> Result<std::collections::HashMap<DeviceCode, i64>>;
    /// Newest first.
    async fn list_work_orders(&self, f: &OrderFilter) -> Result<Vec<WorkOrder>>;
    /// Oldest first.
    async fn work_order_events(&self, id: i64) -> Result<Vec<OrderEvent>>;
    async fn work_order_devices(&self, id: i64) -> Result<Vec<Membership>>;
    /// Records a transition computed from version `from_version`: the new lifecycle, its
    /// events and outbox rows, in one transaction; `Conflict` when the order changed
    /// meanwhile. Closing releases the order's devices; reopening a closed order takes them
    /// back (`Conflict` when one is in another open order by then).
    async fn update_work_order(
        &self,
        id: i64,
        from_version: i64,
        life: &Lifecycle,
        events: &[NewOrderEvent],
        outbox: &[NewOutboxRow],
    ) -> Result<WorkOrder>;
    /// Adds devices to an open order; returns those added (a device already in an open order
    /// is skipped). Each gets a `device_joined` event.
    async fn join_work_order(
        &self,
        id: i64,
        devices: &[DeviceCode],
        at: i64,
        actor: &str,
    ) -> Result<Vec<DeviceCode>>;
    /// Takes a device out of an order (it recovered, or has a fault of its own now).
    async fn leave_work_order(
        &self,
        id: i64,
        device: &DeviceCode,
        at: i64,
        actor: &str,
        note: &str,
    ) -> Result<()>;
    /// Stores an attachment (a photo, an evidence frame) with an event; returns its id.
    async fn attach_to_work_order(
        &self,
        id: i64,
        at: i64,
        actor: &str,
        name: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<i64>;
    async fn work_order_attachments(&self, id: i64) -> Result<Vec<Attachment>>;
    /// Imports orders kept elsewhere (another platform's history, a bench's fleet), each with
    /// its devices and an `opened` event by `actor`, in one transaction; ids are assigned in
    /// order after the stored ones. A closed order's devices have left at its close; an open
    /// one's must not be in another open order (`Conflict`). Returns the first new id.
    async fn import_work_orders(
        &self,
        orders: &[(WorkOrder, Vec<DeviceCode>)],
        actor: &str,
    ) -> Result<i64>;
    async fn work_order_attachment_bytes(&self, attachment_id: i64) -> Result<Option<Vec<u8>>>;
    /// Every order opened in `[from, to)`, any order: the monthly report's and the statistics'
    /// read (tens of thousands of rows), by each backend's fastest path.
    async fn work_orders_opened(&self, from: i64, to: i64) -> Result<Vec<WorkOrder>>;
}

/// `SELECT <every work_order column> FROM work_order <rest>`, as one literal.
macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT id, subject, origin, cause, title, level, state, contractor, region, \
             fault_since, opened_at, response_due_at, repair_due_at, accepted_at, repaired_at, \
             closed_at, fault_ended_at, resolution, response_overdue_at, repair_overdue_at, \
             version FROM work_order ",
            $rest
        )
    };
}
pub(crate) use select_orders;

/// An order from the columns of [`select_orders!`], read by position through `text` and `int`
/// (`None` for NULL): the one column map every reader (sqlx rows, SQLite's C API,
/// PostgreSQL's binary COPY) shares.
pub(crate) fn order_from_columns(
    text: impl Fn(usize) -> Result<Option<String>>,
    int: impl Fn(usize) -> Result<Option<i64>>,
) -> Result<WorkOrder> {
    let req = |i: usize| -> Result<String> { Ok(text(i)?.unwrap_or_default()) };
    // id 0, subject 1, origin 2, cause 3, title 4, level 5, state 6, contractor 7, region 8,
    // fault_since 9, opened_at 10, response_due_at 11, repair_due_at 12, accepted_at 13,
    // repaired_at 14, closed_at 15, fault_ended_at 16, resolution 17, response_overdue_at 18,
    // repair_overdue_at 19, version 20.
    order_from_parts(
        OrderText {
            subject: req(1)?,
            origin: req(2)?,
            cause: text(3)?,
            state: req(6)?,
            resolution: text(17)?,
        },
        req(4)?,
        req(5)?,
        req(8)?,
        text(7)?,
        [
            int(0)?,
            int(9)?,
            int(10)?,
            int(11)?,
            int(12)?,
            int(13)?,
            int(14)?,
            int(15)?,
            int(16)?,
            int(18)?,
            int(19)?,
            int(20)?,
        ],
    )
}

/// The text columns of a `work_order` row, read by name.
pub(crate) struct OrderText {
    pub subject: String,
    pub origin: String,
    pub cause: Option<String>,
    pub state: String,
    pub resolution: Option<String>,
}

pub(crate) fn order_from_parts(
    t: OrderText,
    title: String,
    level: String,
    region: String,
    contractor: Option<String>,
    n: [Option<i64>; 12],
) -> Result<WorkOrder> {
    let req = |v: Option<i64>, what: &str| {
        v.ok_or_else(|| {
            camwatch_core::error::Error::internal(format!("stored work order: {what} is NULL"))
        })
    };
    Ok(WorkOrder {
        id: req(n[0], "id")?,
        subject: code(&t.subject)?,
        origin: parse("work-order origin", &t.origin)?,
        cause: camwatch_core::cause::from_stored(t.cause.as_deref()),
        title,
        level,
        region,
        fault_since: req(n[1], "fault_since")?,
        opened_at: req(n[2], "opened_at")?,
        life: Lifecycle {
            state: parse("work-order state", &t.state)?,
            contractor,
            response_due_at: n[3],
            repair_due_at: n[4],
            accepted_at: n[5],
            repaired_at: n[6],
            closed_at: n[7],
            fault_ended_at: n[8],
            resolution: t
                .resolution
                .as_deref()
                .map(|s| parse("work-order resolution", s))
                .transpose()?,
            response_overdue_at: n[9],
            repair_overdue_at: n[10],
        },
        version: req(n[11], "version")?,
    })
}

fn parse<T: std::str::FromStr<Err = String>>(what: &str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|e| camwatch_core::error::Error::internal(format!("stored {what}: {e}")))
}

pub(crate) fn code(s: &str) -> Result<DeviceCode> {
    s.parse().map_err(|e| {
        camwatch_core::error::Error::internal(format!("stored work-order device {s:?}: {e}"))
    })
}

pub(crate) fn event_from_row(
    r: (i64, i64, i64, String, String, String, String),
) -> Result<OrderEvent> {
    Ok(OrderEvent {
        id: r.0,
        order_id: r.1,
        at: r.2,
        actor: r.3,
        kind: parse("work-order event", &r.4)?,
        note: r.5,
        detail: r.6,
    })
}

/// The open order a device is in (at most one: the partial unique index).
pub(crate) const OPEN_ORDER_OF: &str =
    "SELECT order_id FROM work_order_device WHERE device_code = $1 AND left_at IS NULL";

/// Rows per multi-row INSERT of an import (13 values an order: well inside both backends'
/// limits on bound values).
pub(crate) const IMPORT_BATCH: usize = 1000;

macro_rules! workorder_sql {
    ($ty:ident, $db:ty, $begin:literal, $after_import:literal) => {
        impl $ty {
            async fn insert_order_events(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: i64,
                events: &[$crate::workorders::NewOrderEvent],
            ) -> camwatch_core::error::Result<()> {
                for e in events {
                    sqlx::query(
                        "INSERT INTO work_order_event (order_id, at, actor, kind, note, detail)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(id)
                    .bind(e.at)
                    .bind(&e.actor)
                    .bind(e.kind.as_str())
                    .bind(&e.note)
                    .bind(&e.detail)
                    .execute(&mut **tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                Ok(())
            }

            async fn insert_outbox(
                tx: &mut sqlx::Transaction<'_, $db>,
                rows: &[$crate::outbox::NewOutboxRow],
            ) -> camwatch_core::error::Result<()> {
                for r in rows {
                    sqlx::query(
                        "INSERT INTO outbox (target, ordering_key, kind, payload, created_at, next_at)
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&r.target)
                    .bind(&r.ordering_key)
                    .bind(&r.kind)
                    .bind(&r.payload)
                    .bind(r.created_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                Ok(())
            }

            /// The open order `device` is in, within `tx`.
            async fn open_order_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                device: &str,
            ) -> camwatch_core::error::Result<Option<i64>> {
                sqlx::query_scalar($crate::workorders::OPEN_ORDER_OF)
                .bind(device)
                .fetch_optional(&mut **tx)
                .await
                .map_err(crate::db_error)
            }

            /// `device` joins order `id` at `at`, within `tx`.
            async fn insert_member(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: i64,
                device: &str,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "INSERT INTO work_order_device (order_id, device_code, joined_at) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(device)
                .bind(at)
                .execute(&mut **tx)
                .await
                .map_err(crate::db_error)?;
                Ok(())
            }

            /// Columns by position, in `select_orders!`'s order: by name costs a lookup per
            /// column per row, which a month of orders notices.
            fn order_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> camwatch_core::error::Result<$crate::workorders::WorkOrder> {
                use sqlx::Row;
                let o = |c: usize| -> camwatch_core::error::Result<Option<String>> {
                    row.try_get(c).map_err(crate::db_error)
                };
                let i = |c: usize| -> camwatch_core::error::Result<Option<i64>> {
                    row.try_get(c).map_err(crate::db_error)
                };
                $crate::workorders::order_from_columns(o, i)
            }

            async fn fetch_order(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Option<$crate::workorders::WorkOrder>> {
                let row = sqlx::query($crate::workorders::select_orders!("WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                row.as_ref().map(Self::order_from_row).transpose()
            }
        }

        #[async_trait::async_trait]
        impl $crate::workorders::WorkOrderStore for $ty {
            async fn open_work_order(
                &self,
                o: &$crate::workorders::NewWorkOrder,
                announce: &$crate::workorders::Announce,
            ) -> camwatch_core::error::Result<$crate::workorders::WorkOrder> {
                use camwatch_core::error::Error;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                for d in &o.devices {
                    if let Some(other) = Self::open_order_in(&mut tx, &d.to_string()).await? {
                        return Err(Error::conflict(format!(
                            "device {d} is already in open work order {other}"
                        )));
                    }
                }
                let l = &o.life;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO work_order (subject, origin, cause, title, level, state, contractor,
                        region, fault_since, opened_at, response_due_at, repair_due_at)
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11) RETURNING id",
                )
                .bind(o.subject.to_string())
                .bind(o.origin.as_str())
                .bind(o.cause.as_ref().map(ToString::to_string))
                .bind(&o.title)
                .bind(&o.level)
                .bind(&l.contractor)
                .bind(&o.region)
                .bind(o.fault_since)
                .bind(o.opened_at)
                .bind(l.response_due_at)
                .bind(l.repair_due_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                for d in &o.devices {
                    Self::insert_member(&mut tx, id, &d.to_string(), o.opened_at).await?;
                }
                let detail = serde_json::json!({
                    "devices": o.devices.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "contractor": l.contractor,
                    "level": o.level,
                    "response_due_at": l.response_due_at,
                    "repair_due_at": l.repair_due_at,
                })
                .to_string();
                Self::insert_order_events(
                    &mut tx,
                    id,
                    &[$crate::workorders::NewOrderEvent {
                        at: o.opened_at,
                        actor: o.actor.clone(),
                        kind: camwatch_core::workorder::EventKind::Opened,
                        note: o.note.clone(),
                        detail,
                    }],
                )
                .await?;
                let opened = $crate::workorders::WorkOrder {
                    id,
                    subject: o.subject,
                    origin: o.origin,
                    cause: o.cause.clone(),
                    title: o.title.clone(),
                    level: o.level.clone(),
                    region: o.region.clone(),
                    fault_since: o.fault_since,
                    opened_at: o.opened_at,
                    life: camwatch_core::workorder::Lifecycle {
                        state: camwatch_core::workorder::State::Pending,
                        ..o.life.clone()
                    },
                    version: 0,
                };
                Self::insert_outbox(&mut tx, &announce(&opened)).await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(opened)
            }

            async fn work_order(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Option<$crate::workorders::WorkOrder>> {
                self.fetch_order(id).await
            }

            async fn open_order_of(
                &self,
                device: &camwatch_core::registry::DeviceCode,
            ) -> camwatch_core::error::Result<Option<i64>> {
                sqlx::query_scalar($crate::workorders::OPEN_ORDER_OF)
                .bind(device.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(crate::db_error)
            }

            async fn open_work_orders(
                &self,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::WorkOrder>> {
                let rows = sqlx::query($crate::workorders::select_orders!(
                    "WHERE state <> 'closed' ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.iter().map(Self::order_from_row).collect()
            }

            async fn open_memberships(
                &self,
            ) -> camwatch_core::error::Result<
                std::collections::HashMap<camwatch_core::registry::DeviceCode, i64>,
            > {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT device_code, order_id FROM work_order_device WHERE left_at IS NULL",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(c, id)| Ok(($crate::workorders::code(&c)?, id)))
                    .collect()
            }

            async fn list_work_orders(
                &self,
                f: &$crate::workorders::OrderFilter,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::WorkOrder>> {
                let mut qb =
                    sqlx::QueryBuilder::<$db>::new($crate::workorders::select_orders!("WHERE 1 = 1"));
                if let Some(s) = f.state {
                    qb.push(" AND state = ").push_bind(s.as_str());
                }
                match f.open {
                    Some(true) => {
                        qb.push(" AND state <> 'closed'");
                    }
                    Some(false) => {
                        qb.push(" AND state = 'closed'");
                    }
                    None => {}
                }
                if let Some(c) = &f.contractor {
                    qb.push(" AND contractor = ").push_bind(c.clone());
                }
                if let Some(p) = &f.region_prefix {
                    // A prefix match on the civil code, with LIKE's wildcards taken literally.
                    let escaped = p.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    qb.push(" AND region LIKE ")
                        .push_bind(format!("{escaped}%"))
                        .push(" ESCAPE '\\'");
                }
                if let Some(o) = f.origin {
                    qb.push(" AND origin = ").push_bind(o.as_str());
                }
                if let Some(t) = f.opened_from {
                    qb.push(" AND opened_at >= ").push_bind(t);
                }
                if let Some(t) = f.opened_to {
                    qb.push(" AND opened_at < ").push_bind(t);
                }
                if let Some(t) = f.closed_from {
                    qb.push(" AND closed_at >= ").push_bind(t);
                }
                match f.overdue {
                    Some(true) => {
                        qb.push(" AND (response_overdue_at IS NOT NULL OR repair_overdue_at IS NOT NULL)");
                    }
                    Some(false) => {
                        qb.push(" AND response_overdue_at IS NULL AND repair_overdue_at IS NULL");
                    }
                    None => {}
                }
                if let Some(id) = f.before_id {
                    qb.push(" AND id < ").push_bind(id);
                }
                qb.push(" ORDER BY id DESC");
                if let Some(n) = f.limit {
                    qb.push(" LIMIT ").push_bind(n as i64);
                }
                let rows = qb.build().fetch_all(&self.pool).await.map_err(crate::db_error)?;
                rows.iter().map(Self::order_from_row).collect()
            }

            async fn work_order_events(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::OrderEvent>> {
                let rows: Vec<(i64, i64, i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, order_id, at, actor, kind, note, detail FROM work_order_event
                     WHERE order_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter().map($crate::workorders::event_from_row).collect()
            }

            async fn work_order_devices(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::Membership>> {
                let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT device_code, joined_at, left_at FROM work_order_device
                     WHERE order_id = $1 ORDER BY joined_at, device_code",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(c, joined_at, left_at)| {
                        Ok($crate::workorders::Membership {
                            device: $crate::workorders::code(&c)?,
                            joined_at,
                            left_at,
                        })
                    })
                    .collect()
            }

            async fn update_work_order(
                &self,
                id: i64,
                from_version: i64,
                life: &camwatch_core::workorder::Lifecycle,
                events: &[$crate::workorders::NewOrderEvent],
                outbox: &[$crate::outbox::NewOutboxRow],
            ) -> camwatch_core::error::Result<$crate::workorders::WorkOrder> {
                use camwatch_core::error::Error;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let before: Option<(String, Option<i64>)> =
                    sqlx::query_as("SELECT state, closed_at FROM work_order WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(crate::db_error)?;
                let Some((before_state, before_closed)) = before else {
                    return Err(Error::not_found(format!("work order {id} does not exist")));
                };
                let r = sqlx::query(
                    "UPDATE work_order SET state = $1, contractor = $2, response_due_at = $3,
                        repair_due_at = $4, accepted_at = $5, repaired_at = $6, closed_at = $7,
                        fault_ended_at = $8, resolution = $9, response_overdue_at = $10,
                        repair_overdue_at = $11, version = version + 1
                     WHERE id = $12 AND version = $13",
                )
                .bind(life.state.as_str())
                .bind(&life.contractor)
                .bind(life.response_due_at)
                .bind(life.repair_due_at)
                .bind(life.accepted_at)
                .bind(life.repaired_at)
                .bind(life.closed_at)
                .bind(life.fault_ended_at)
                .bind(life.resolution.map(|r| r.as_str()))
                .bind(life.response_overdue_at)
                .bind(life.repair_overdue_at)
                .bind(id)
                .bind(from_version)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                if r.rows_affected() == 0 {
                    return Err(Error::conflict(format!(
                        "work order {id} was changed by someone else meanwhile; read it again"
                    )));
                }
                let was_open = before_state != "closed";
                let now_open = life.state.is_open();
                if was_open && !now_open {
                    sqlx::query(
                        "UPDATE work_order_device SET left_at = $1 WHERE order_id = $2 AND left_at IS NULL",
                    )
                    .bind(life.closed_at.unwrap_or_default())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                } else if !was_open && now_open {
                    // Reopened: the devices that left when it closed come back.
                    let back: Vec<String> = sqlx::query_scalar(
                        "SELECT device_code FROM work_order_device WHERE order_id = $1 AND left_at = $2",
                    )
                    .bind(id)
                    .bind(before_closed.unwrap_or_default())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                    let at = events.first().map_or(0, |e| e.at);
                    for d in back {
                        if let Some(other) = Self::open_order_in(&mut tx, &d).await? {
                            return Err(Error::conflict(format!(
                                "device {d} is in open work order {other}; close that one first"
                            )));
                        }
                        Self::insert_member(&mut tx, id, &d, at).await?;
                    }
                }
                Self::insert_order_events(&mut tx, id, events).await?;
                Self::insert_outbox(&mut tx, outbox).await?;
                tx.commit().await.map_err(crate::db_error)?;
                self.fetch_order(id)
                    .await?
                    .ok_or_else(|| Error::internal(format!("work order {id} vanished")))
            }

            async fn join_work_order(
                &self,
                id: i64,
                devices: &[camwatch_core::registry::DeviceCode],
                at: i64,
                actor: &str,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::registry::DeviceCode>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let mut added = Vec::new();
                for d in devices {
                    if Self::open_order_in(&mut tx, &d.to_string()).await?.is_some() {
                        continue;
                    }
                    Self::insert_member(&mut tx, id, &d.to_string(), at).await?;
                    Self::insert_order_events(
                        &mut tx,
                        id,
                        &[$crate::workorders::NewOrderEvent {
                            at,
                            actor: actor.to_string(),
                            kind: camwatch_core::workorder::EventKind::DeviceJoined,
                            note: String::new(),
                            detail: serde_json::json!({ "device": d.to_string() }).to_string(),
                        }],
                    )
                    .await?;
                    added.push(*d);
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(added)
            }

            async fn leave_work_order(
                &self,
                id: i64,
                device: &camwatch_core::registry::DeviceCode,
                at: i64,
                actor: &str,
                note: &str,
            ) -> camwatch_core::error::Result<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let r = sqlx::query(
                    "UPDATE work_order_device SET left_at = $1
                     WHERE order_id = $2 AND device_code = $3 AND left_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .bind(device.to_string())
                .execute(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                if r.rows_affected() > 0 {
                    Self::insert_order_events(
                        &mut tx,
                        id,
                        &[$crate::workorders::NewOrderEvent {
                            at,
                            actor: actor.to_string(),
                            kind: camwatch_core::workorder::EventKind::DeviceLeft,
                            note: note.to_string(),
                            detail: serde_json::json!({ "device": device.to_string() }).to_string(),
                        }],
                    )
                    .await?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn attach_to_work_order(
                &self,
                id: i64,
                at: i64,
                actor: &str,
                name: &str,
                media_type: &str,
                bytes: &[u8],
            ) -> camwatch_core::error::Result<i64> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let aid: i64 = sqlx::query_scalar(
                    "INSERT INTO work_order_attachment (order_id, at, actor, name, media_type, bytes)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(id)
                .bind(at)
                .bind(actor)
                .bind(name)
                .bind(media_type)
                .bind(bytes)
                .fetch_one(&mut *tx)
                .await
                .map_err(crate::db_error)?;
                Self::insert_order_events(
                    &mut tx,
                    id,
                    &[$crate::workorders::NewOrderEvent {
                        at,
                        actor: actor.to_string(),
                        kind: camwatch_core::workorder::EventKind::Noted,
                        note: format!("attached {name}"),
                        detail: serde_json::json!({ "attachment": aid, "name": name, "media_type": media_type, "bytes": bytes.len() }).to_string(),
                    }],
                )
                .await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(aid)
            }

            async fn work_order_attachments(
                &self,
                id: i64,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::Attachment>> {
                let rows: Vec<(i64, i64, i64, String, String, String, i64)> = sqlx::query_as(
                    "SELECT id, order_id, at, actor, name, media_type, CAST(length(bytes) AS BIGINT) FROM work_order_attachment
                     WHERE order_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|r| $crate::workorders::Attachment {
                        id: r.0,
                        order_id: r.1,
                        at: r.2,
                        actor: r.3,
                        name: r.4,
                        media_type: r.5,
                        size: r.6,
                    })
                    .collect())
            }

            async fn import_work_orders(
                &self,
                orders: &[($crate::workorders::WorkOrder, Vec<camwatch_core::registry::DeviceCode>)],
                actor: &str,
            ) -> camwatch_core::error::Result<i64> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let max: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM work_order")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                let first = max.unwrap_or(0) + 1;
                for (k, chunk) in orders.chunks($crate::workorders::IMPORT_BATCH).enumerate() {
                    let base = first + (k * $crate::workorders::IMPORT_BATCH) as i64;
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO work_order (id, subject, origin, cause, title, level, state, \
                         contractor, region, fault_since, opened_at, response_due_at, repair_due_at, \
                         accepted_at, repaired_at, closed_at, fault_ended_at, resolution, \
                         response_overdue_at, repair_overdue_at) ",
                    );
                    qb.push_values(chunk.iter().enumerate(), |mut b, (j, (o, _))| {
                        let l = &o.life;
                        b.push_bind(base + j as i64)
                            .push_bind(o.subject.to_string())
                            .push_bind(o.origin.as_str())
                            .push_bind(o.cause.as_ref().map(ToString::to_string))
                            .push_bind(o.title.clone())
                            .push_bind(o.level.clone())
                            .push_bind(l.state.as_str())
                            .push_bind(l.contractor.clone())
                            .push_bind(o.region.clone())
                            .push_bind(o.fault_since)
                            .push_bind(o.opened_at)
                            .push_bind(l.response_due_at)
                            .push_bind(l.repair_due_at)
                            .push_bind(l.accepted_at)
                            .push_bind(l.repaired_at)
                            .push_bind(l.closed_at)
                            .push_bind(l.fault_ended_at)
                            .push_bind(l.resolution.map(|r| r.as_str()))
                            .push_bind(l.response_overdue_at)
                            .push_bind(l.repair_overdue_at);
                    });
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                    let members: Vec<(i64, &camwatch_core::registry::DeviceCode, i64, Option<i64>)> = chunk
                        .iter()
                        .enumerate()
                        .flat_map(|(j, (o, ds))| {
                            ds.iter().map(move |d| (base + j as i64, d, o.opened_at, o.life.closed_at))
                        })
                        .collect();
                    for part in members.chunks($crate::workorders::IMPORT_BATCH) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO work_order_device (order_id, device_code, joined_at, left_at) ",
                        );
                        qb.push_values(part, |mut b, (id, d, at, left)| {
                            b.push_bind(*id).push_bind(d.to_string()).push_bind(*at).push_bind(*left);
                        });
                        qb.build().execute(&mut *tx).await.map_err(|e| {
                            let e = crate::db_error(e);
                            if e.kind == camwatch_core::error::ErrorKind::Conflict {
                                camwatch_core::error::Error::conflict(
                                    "an imported open order names a device already in an open order",
                                )
                            } else {
                                e
                            }
                        })?;
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO work_order_event (order_id, at, actor, kind, note, detail) ",
                    );
                    qb.push_values(chunk.iter().enumerate(), |mut b, (j, (o, _))| {
                        b.push_bind(base + j as i64)
                            .push_bind(o.opened_at)
                            .push_bind(actor.to_string())
                            .push_bind("opened")
                            .push_bind("imported")
                            .push_bind("{}");
                    });
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                sqlx::query($after_import)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(first)
            }

            async fn work_orders_opened(
                &self,
                from: i64,
                to: i64,
            ) -> camwatch_core::error::Result<Vec<$crate::workorders::WorkOrder>> {
                self.scan_orders_opened(from, to).await
            }

            async fn work_order_attachment_bytes(
                &self,
                attachment_id: i64,
            ) -> camwatch_core::error::Result<Option<Vec<u8>>> {
                sqlx::query_scalar("SELECT bytes FROM work_order_attachment WHERE id = $1")
                    .bind(attachment_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::db_error)
            }
        }
    };
}
pub(crate) use workorder_sql;
