//! Work orders: the scoped list, one order with its devices and history, the actions on it,
//! and opening one by hand.
//!
//! Every change goes through `camwatch_workorder::Desk` (`act`, `open_manual`), the path the
//! engine and the CLI take, so the transitions, the audit log and the notifications are the
//! same; the actor is the caller's audit name.
//!
//! Invariants:
//! - An order is visible when `Principal::may_on_work_order(ReadWorkOrders, region,
//!   contractor)`: a contractor sees only orders assigned to it, a district user only its
//!   districts. An invisible order answers as a missing one (404), for reads and actions.
//! - An action needs the read scope on the order and its own permission
//!   (`Action::AcceptWorkOrder`, …); a manual order needs `OpenWorkOrder` and every device
//!   in the caller's scope.
//! - A list page is bounded: at most [`MAX_LIMIT`] rows, at most [`MAX_SCAN`] orders read.
//!
//! Must not: change an order other than through the desk, or say whether an order outside the
//! caller's scope exists.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::{Action as Perm, RegionPrefix};
use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::{Action, State as OrderState};
use camwatch_store::workorders::{OrderFilter, WorkOrder};
use camwatch_workorder::ManualOrder;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Body, Params, parse};

/// The rows of a page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows of a page.
pub const MAX_LIMIT: usize = 200;
/// The most orders one page reads to fill itself with orders the caller may see.
pub const MAX_SCAN: usize = 5000;
/// The most devices of a manual order.
pub const MAX_DEVICES: usize = 100;

/// The list's filters and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// `pending`, `accepted`, `repaired`, `awaiting_review` or `closed`.
    pub state: Option<String>,
    /// `true`: only open orders; `false`: only closed ones.
    pub open: Option<String>,
    /// Civil-code prefix of the region.
    pub region: Option<String>,
    /// Exact contractor name.
    pub contractor: Option<String>,
    /// The `next` of the previous page (orders are newest first).
    pub cursor: Option<String>,
    /// Rows per page, 1–200 (default 50).
    pub limit: Option<String>,
}

/// A work order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    /// The device the order is about.
    pub subject: String,
    /// `auto` or `manual` (and other origins the engine uses).
    pub origin: String,
    pub cause: Option<String>,
    pub title: String,
    /// The contract's SLA level.
    pub level: String,
    pub region: String,
    /// `pending`, `accepted`, `repaired`, `awaiting_review` or `closed`.
    pub state: String,
    pub contractor: Option<String>,
    pub fault_since: i64,
    pub opened_at: i64,
    pub response_due_at: Option<i64>,
    pub repair_due_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub repaired_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub resolution: Option<String>,
    pub response_overdue_at: Option<i64>,
    pub repair_overdue_at: Option<i64>,
    /// +1 per change.
    pub version: i64,
}

impl OrderView {
    fn of(o: &WorkOrder) -> Self {
        let l = &o.life;
        Self {
            id: o.id,
            subject: o.subject.to_string(),
            origin: o.origin.as_str().to_string(),
            cause: o.cause.as_ref().map(|c| c.to_string()),
            title: o.title.clone(),
            level: o.level.clone(),
            region: o.region.clone(),
            state: l.state.as_str().to_string(),
            contractor: l.contractor.clone(),
            fault_since: o.fault_since,
            opened_at: o.opened_at,
            response_due_at: l.response_due_at,
            repair_due_at: l.repair_due_at,
            accepted_at: l.accepted_at,
            repaired_at: l.repaired_at,
            closed_at: l.closed_at,
            resolution: l.resolution.map(|r| r.as_str().to_string()),
            response_overdue_at: l.response_overdue_at,
            repair_overdue_at: l.repair_overdue_at,
            version: o.version,
        }
    }
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A device of an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDevice {
    pub device: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

/// One entry of an order's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventView {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub note: String,
}

/// An order with its devices and history.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    pub order: OrderView,
    pub devices: Vec<OrderDevice>,
    /// Oldest first.
    pub events: Vec<OrderEventView>,
}

/// What an action says besides its verb.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActRequest {
    /// A note for the order's history (at most 500 characters).
    #[serde(default)]
    pub note: String,
    /// `review` only: `true` approves (closed), `false` rejects (reopened).
    pub approve: Option<bool>,
    /// `assign` only: the contractor to give the order to.
    pub contractor: Option<String>,
}

/// An order to open by hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// Device codes; the first is the order's subject.
    pub devices: Vec<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub note: String,
    /// Assign to this contractor instead of the device's maintainer.
    pub contractor: Option<String>,
}

/// The actions of `POST /work-orders/{id}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Accept,
    Repair,
    Review,
    Reopen,
    Assign,
    Note,
    Cancel,
}

impl std::str::FromStr for Verb {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "accept" => Self::Accept,
            "repair" => Self::Repair,
            "review" => Self::Review,
            "reopen" => Self::Reopen,
            "assign" => Self::Assign,
            "note" => Self::Note,
            "cancel" => Self::Cancel,
            _ => {
                return Err(format!(
                    "{:?}: expected accept, repair, review, reopen, assign, note or cancel",
                    s.chars().take(40).collect::<String>()
                ));
            }
        })
    }
}

impl Verb {
    /// The permission the verb needs.
    fn permission(self) -> Perm {
        match self {
            Self::Accept => Perm::AcceptWorkOrder,
            Self::Repair => Perm::RepairWorkOrder,
            Self::Review => Perm::ReviewWorkOrder,
            Self::Reopen => Perm::ReopenWorkOrder,
            Self::Assign => Perm::AssignWorkOrder,
            Self::Note => Perm::NoteWorkOrder,
            // Those who may open an order by hand (the video team) may take one back.
            Self::Cancel => Perm::OpenWorkOrder,
        }
    }
}

fn visible(caller: &Caller, o: &WorkOrder) -> bool {
    caller.principal.may_on_work_order(
        Perm::ReadWorkOrders,
        &o.region,
        o.life.contractor.as_deref(),
    )
}

/// Whether the caller sees order `o` and may do `action` on it.
pub(crate) fn may(caller: &Caller, action: Perm, o: &WorkOrder) -> bool {
    visible(caller, o)
        && caller
            .principal
            .may_on_work_order(action, &o.region, o.life.contractor.as_deref())
}

/// The order `id` (a path segment) if the caller sees it and may do `action` on it; 404
/// otherwise (an order out of reach reads as a missing one).
pub(crate) async fn order_for(
    st: &AppState,
    caller: &Caller,
    action: Perm,
    id: &str,
) -> Result<WorkOrder, ApiError> {
    let id: i64 = parse("id", id)?;
    match st.store.work_order(id).await? {
        Some(o) if may(caller, action, &o) => Ok(o),
        _ => Err(ApiError::not_found(format!("work order {id} does not exist")).with_field("id")),
    }
}

fn check_note(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field}: at most {max} characters"),
        ));
    }
    Ok(())
}

/// Work orders the caller may see, newest first.
#[utoipa::path(
    get, path = "/api/v1/work-orders", tag = "work-orders",
    params(OrderQuery),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "A bad filter, cursor or limit", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read work orders", body = ApiError),
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let p = &caller.principal;
    p.require(Perm::ReadWorkOrders)?;
    let state: Option<OrderState> = q.state.as_deref().map(|s| parse("state", s)).transpose()?;
    let open: Option<bool> = q.open.as_deref().map(|s| parse("open", s)).transpose()?;
    let region: Option<RegionPrefix> = q
        .region
        .as_deref()
        .map(|r| parse("region", r))
        .transpose()?;
    let mut before: Option<i64> = q
        .cursor
        .as_deref()
        .map(|c| parse("cursor", c))
        .transpose()?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("limit: expected 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    let contractor = match (p.scope.maintainer(), q.contractor.as_deref()) {
        (Some(own), Some(asked)) if own.trim() != asked.trim() => {
            return Ok(Json(OrderPage {
                items: Vec::new(),
                next: None,
            }));
        }
        (Some(own), _) => Some(own.to_string()),
        (None, asked) => asked.map(str::to_string),
    };
    // Read batches newest first until the page is full, the orders run out, or the scan
    // bound is reached (then the page ends early with a cursor to go on from).
    let batch = (limit + 1).max(100);
    let mut items: Vec<OrderView> = Vec::new();
    let mut scanned = 0usize;
    let mut next = None;
    loop {
        let rows = st
            .store
            .list_work_orders(&OrderFilter {
                state,
                open,
                contractor: contractor.clone(),
                region_prefix: region.as_ref().map(|r| r.as_str().to_string()),
                before_id: before,
                limit: Some(batch as u64),
                ..OrderFilter::default()
            })
            .await?;
        let exhausted = rows.len() < batch;
        for o in &rows {
            scanned += 1;
            before = Some(o.id);
            if visible(&caller, o) {
                if items.len() == limit {
                    // One more visible order exists: the page ends at the last one kept.
                    next = items.last().map(|v| v.id.to_string());
                    return Ok(Json(OrderPage { items, next }));
                }
                items.push(OrderView::of(o));
            }
        }
        if exhausted {
            break;
        }
        if scanned >= MAX_SCAN {
            next = before.map(|b| b.to_string());
            break;
        }
    }
    Ok(Json(OrderPage { items, next }))
}

/// One order with its devices and history.
#[utoipa::path(
    get, path = "/api/v1/work-orders/{id}", tag = "work-orders",
    params(("id" = i64, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 400, description = "Not an id", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read work orders", body = ApiError),
        (status = 404, description = "No such order in the caller's scope", body = ApiError),
    )
)]
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<OrderDetail>, ApiError> {
    let Path(id) = path?;
    caller.principal.require(Perm::ReadWorkOrders)?;
    let o = order_for(&st, &caller, Perm::ReadWorkOrders, &id).await?;
    detail(&st, &o).await.map(Json)
}

async fn detail(st: &AppState, o: &WorkOrder) -> Result<OrderDetail, ApiError> {
    let devices = st.store.work_order_devices(o.id).await?;
    let events = st.store.work_order_events(o.id).await?;
    Ok(OrderDetail {
        order: OrderView::of(o),
        devices: devices
            .into_iter()
            .map(|m| OrderDevice {
                device: m.device.to_string(),
                joined_at: m.joined_at,
                left_at: m.left_at,
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| OrderEventView {
                at: e.at,
                actor: e.actor,
                kind: e.kind.as_str().to_string(),
                note: e.note,
            })
            .collect(),
    })
}

/// An action on an order: `accept`, `repair`, `review`, `reopen`, `assign`, `note` or `cancel`
/// (with a note saying why; for those who may open orders).
#[utoipa::path(
    post, path = "/api/v1/work-orders/{id}/{action}", tag = "work-orders",
    params(
        ("id" = i64, Path, description = "The order's id"),
        ("action" = String, Path, description = "accept, repair, review, reopen, assign, note or cancel"),
    ),
    request_body = ActRequest,
    responses(
        (status = 200, description = "The order afterwards", body = OrderView),
        (status = 400, description = "A bad action, note or field, or not allowed in the order's state", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not do this (or no CSRF token)", body = ApiError),
        (status = 404, description = "No such order in the caller's scope", body = ApiError),
        (status = 409, description = "Changed meanwhile", body = ApiError),
    )
)]
pub async fn act(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    Body(body): Body<ActRequest>,
) -> Result<Json<OrderView>, ApiError> {
    let Path((id, verb)) = path?;
    let verb: Verb = parse("action", &verb)?;
    caller.principal.require(Perm::ReadWorkOrders)?;
    let o = order_for(&st, &caller, Perm::ReadWorkOrders, &id).await?;
    caller.principal.require(verb.permission())?;
    if !may(&caller, verb.permission(), &o) {
        return Err(
            ApiError::not_found(format!("work order {} does not exist", o.id)).with_field("id"),
        );
    }
    check_note("note", &body.note, camwatch_core::limits::NOTE_CHARS)?;
    let action = match verb {
        Verb::Accept => Action::Accept,
        Verb::Repair => Action::Repair,
        Verb::Reopen => Action::Reopen,
        Verb::Note => Action::Note,
        Verb::Cancel if body.note.trim().is_empty() => {
            return Err(ApiError::invalid("note", "cancel needs a note saying why"));
        }
        Verb::Cancel => Action::Cancel,
        Verb::Review => match body.approve {
            Some(true) => Action::Approve,
            Some(false) => Action::Reopen,
            None => {
                return Err(ApiError::invalid(
                    "approve",
                    "review needs approve: true (close) or false (reopen)",
                ));
            }
        },
        Verb::Assign => match body.contractor.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => {
                check_note("contractor", c, camwatch_core::limits::TEXT_CHARS)?;
                Action::Assign {
                    contractor: c.to_string(),
                }
            }
            _ => return Err(ApiError::invalid("contractor", "assign needs a contractor")),
        },
    };
    if verb != Verb::Review && body.approve.is_some() {
        return Err(ApiError::invalid("approve", "approve is for review only"));
    }
    if verb != Verb::Assign && body.contractor.is_some() {
        return Err(ApiError::invalid(
            "contractor",
            "contractor is for assign only",
        ));
    }
    // Checked again on the order as the desk changes it: it may have been reassigned since.
    let allowed = |o: &WorkOrder| may(&caller, verb.permission(), o);
    let done = st
        .desk
        .act_if(
            o.id,
            &action,
            st.now(),
            &caller.audit_name(),
            &body.note,
            &allowed,
        )
        .await
        .map_err(|e| match e.kind {
            camwatch_core::error::ErrorKind::NotFound => ApiError::from(e).with_field("id"),
            _ => ApiError::from(e).with_field("action"),
        })?;
    Ok(Json(OrderView::of(&done)))
}

/// Open an order by hand (a user-reported fault).
#[utoipa::path(
    post, path = "/api/v1/work-orders", tag = "work-orders",
    request_body = OpenRequest,
    responses(
        (status = 201, description = "Opened", body = OrderView),
        (status = 400, description = "A bad device code, title or note", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not open orders (or no CSRF token)", body = ApiError),
        (status = 404, description = "A device not in the caller's scope", body = ApiError),
        (status = 409, description = "A device is already in an open order", body = ApiError),
    )
)]
pub async fn open(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<OpenRequest>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    caller.principal.require(Perm::OpenWorkOrder)?;
    if body.devices.is_empty() || body.devices.len() > MAX_DEVICES {
        return Err(ApiError::invalid(
            "devices",
            format!("devices: 1 to {MAX_DEVICES} device codes"),
        ));
    }
    check_note("title", &body.title, camwatch_core::limits::TEXT_CHARS)?;
    check_note("note", &body.note, camwatch_core::limits::NOTE_CHARS)?;
    let mut codes: Vec<DeviceCode> = Vec::with_capacity(body.devices.len());
    for (i, c) in body.devices.iter().enumerate() {
        let field = format!("devices[{i}]");
        let d =
            crate::devices::visible_device(&st, &caller, Perm::OpenWorkOrder, c, &field).await?;
        codes.push(d.code);
    }
    let o = st
        .desk
        .open_manual(
            ManualOrder {
                devices: codes,
                title: body.title,
                note: body.note,
                contractor: body.contractor.filter(|c| !c.trim().is_empty()),
                since: None,
            },
            st.now(),
            &caller.audit_name(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(OrderView::of(&o))))
}
