//! The device list (filtered, sorted, paged by cursor, exported) and one device with its live
//! state and its last probes, each step explained.
//!
//! The list reads the register from memory ([`index`]) joined with the monitor's live status
//! ([`list`] decides which rows, in what order); a page costs one pass over memory, not a read
//! of the register.
//!
//! Invariants: every row passes `Principal::may_on_device(ReadDevices, …)`; a device outside
//! the scope reads as one that does not exist; a page holds at most [`list::MAX_LIMIT`] rows;
//! the cursor is the last row's (sort, key, code), so a page never repeats or skips a row that
//! did not change meanwhile. Camera credentials and stream URLs are never returned.
//!
//! Must not: read the live state of a device the caller may not see.

pub mod export;
pub mod index;
pub mod list;
pub mod pictures;
pub mod sip;
pub mod timeline;
pub mod write;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_core::history::Status;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_monitor::RecentProbe;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, parse};

/// The device list's filters, sort and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// Civil-code prefix of the region (1–12 digits).
    pub region: Option<String>,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: Option<String>,
    /// Exact maintainer (contractor) name.
    pub maintainer: Option<String>,
    /// `camera`, `channel`, `nvr`, `dvr`, `encoder`, `platform` or `other`.
    pub kind: Option<String>,
    /// Case-insensitive text in the code, name or address.
    pub q: Option<String>,
    /// `code` (default), `name`, `status` (worst first) or `since` (oldest change first).
    pub sort: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page, 1–500 (default 50).
    pub limit: Option<String>,
}

/// One row of the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceRow {
    /// The 20-digit national code (GB/T 28181).
    pub code: String,
    pub name: String,
    pub kind: String,
    /// The 6-digit civil code of its region.
    pub region: String,
    pub maintainer: Option<String>,
    pub address: Option<String>,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: String,
    /// Since when (Unix seconds); `null` before the first change.
    pub since: Option<i64>,
    /// Why it is offline or degraded.
    pub cause: Option<String>,
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    pub items: Vec<DeviceRow>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next: Option<String>,
}

/// A device's register record (no credentials, no stream URLs).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceRecord {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent: Option<String>,
    pub region: String,
    pub civil_code: Option<String>,
    pub police_station: Option<String>,
    pub address: Option<String>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub ip: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub maintainer: Option<String>,
    pub maintainer_contact: Option<String>,
    pub maintainer_phone: Option<String>,
    pub tags: Vec<String>,
}

/// One step of a probe and how long it took.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeStep {
    pub step: String,
    pub elapsed_ms: f64,
}

/// One recent probe of the device.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeView {
    /// When it started (Unix seconds).
    pub at: i64,
    /// `liveness`, `picture` or `onvif`.
    pub class: String,
    pub kind: String,
    /// `up` or `down`.
    pub status: String,
    pub failure: Option<String>,
    /// The server's own words (RTSP status line, SOAP fault, HTTP status).
    pub detail: String,
    pub elapsed_ms: f64,
    /// Each step; the failing step is the last.
    pub steps: Vec<ProbeStep>,
}

/// A device now.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    pub device: DeviceRecord,
    /// False for a channel a GB/T 28181 catalog brought into the register that no operator has
    /// confirmed yet: monitored, but no contract point (reports leave it out) and no work
    /// orders (`camwatch register confirm`).
    pub confirmed: bool,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: String,
    pub since: Option<i64>,
    pub cause: Option<String>,
    /// The confirmed picture problem, if any.
    pub picture: Option<String>,
    /// Suspects in the latest picture sample of a camera with no approved baseline: fault
    /// kinds (sorted) its picture may show, judged alone, that a healthy scene shows too. For
    /// review, and a prompt to approve the camera's baseline; never a fault, never confirmed.
    pub suspects: Vec<String>,
    /// False on a node for a device another node probes: its status is that node's record
    /// (followed from its spans), and its recent probes, picture and evidence are on that node.
    pub probed_here: bool,
    /// Newest first.
    pub recent: Vec<ProbeView>,
    /// The latest evidence frame (`GET /devices/{code}/evidence`), if the monitor holds one.
    pub evidence: Option<EvidenceView>,
    /// Which approved baselines exist (`GET /devices/{code}/baseline`).
    pub baselines: BaselinesView,
    /// What the GB/T 28181 platform knows of its signalling (registration, keepalives,
    /// catalog); `null` without the platform or when it has not heard of the device.
    pub sip: Option<sip::SipView>,
}

/// When and why the evidence frame was kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    /// Unix seconds.
    pub at: i64,
    /// The picture fault it proved.
    pub cause: String,
}

/// The approved baseline pictures a camera has.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BaselinesView {
    pub day: bool,
    pub night: bool,
}

fn row(st: &AppState, h: &list::Hit<'_>) -> DeviceRow {
    let d = h.listed;
    DeviceRow {
        code: d.code.to_string(),
        name: d.name.clone(),
        kind: d.kind.as_str().to_string(),
        region: d.region.clone(),
        maintainer: d.maintainer.clone(),
        address: d.address.clone(),
        status: h.status.as_str().to_string(),
        since: h.since,
        cause: cause_of(st, h),
    }
}

/// The cause of a listed row's status, in its text form. Read for the rows shown only, a
/// moment after the status: kept only when the status is still the one listed, so a row never
/// pairs one status with another's cause.
pub(crate) fn cause_of(st: &AppState, h: &list::Hit<'_>) -> Option<String> {
    st.monitor
        .brief(&h.listed.code)
        .filter(|b| b.status == h.status)
        .and_then(|b| b.cause)
        .map(|c| c.to_string())
}

/// Devices, filtered, sorted and paged.
#[utoipa::path(
    get, path = "/api/v1/devices", tag = "devices",
    params(DeviceQuery),
    responses(
        (status = 200, description = "A page of devices", body = DevicePage),
        (status = 400, description = "A bad filter, sort, cursor or limit", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read devices", body = ApiError),
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<DeviceQuery>,
) -> Result<Json<DevicePage>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadDevices)?;
    let sel = list::Selection::parse(&q, p)?;
    let rows = st.register.rows(st.store.as_ref()).await?;
    let live = st.monitor.statuses();
    let (page, next) = sel.page(sel.hits(p, &rows, &live));
    Ok(Json(DevicePage {
        items: page.iter().map(|h| row(&st, h)).collect(),
        next,
    }))
}

fn probe_view(r: &RecentProbe) -> ProbeView {
    ProbeView {
        at: r.at,
        class: r.class.as_str().to_string(),
        kind: r.kind.as_str().to_string(),
        status: r.status.as_str().to_string(),
        failure: r.failure.map(|f| f.as_str().to_string()),
        detail: r.detail.clone(),
        elapsed_ms: r.elapsed_ms,
        steps: r
            .steps
            .iter()
            .map(|s| ProbeStep {
                step: s.step.clone(),
                elapsed_ms: s.elapsed_ms,
            })
            .collect(),
    }
}

pub(crate) fn record(d: &Device) -> DeviceRecord {
    DeviceRecord {
        code: d.code.to_string(),
        name: d.name.clone(),
        kind: d.kind.as_str().to_string(),
        parent: d.parent.map(|p| p.to_string()),
        region: d.region().to_string(),
        civil_code: d.civil_code.clone(),
        police_station: d.police_station.clone(),
        address: d.address.clone(),
        longitude: d.longitude,
        latitude: d.latitude,
        ip: d.ip.map(|i| i.to_string()),
        vendor: d.vendor.clone(),
        model: d.model.clone(),
        maintainer: d.maintainer.clone(),
        maintainer_contact: d.maintainer_contact.clone(),
        maintainer_phone: d.maintainer_phone.clone(),
        tags: d.tags.clone(),
    }
}

/// A device the caller may read, by its code in a path: 404 when it is not in the register or
/// not in the caller's scope (the same answer).
pub(crate) async fn visible_device(
    st: &AppState,
    caller: &Caller,
    action: Action,
    code: &str,
    field: &str,
) -> Result<Device, ApiError> {
    let code: DeviceCode = parse(field, code)?;
    let d = st.store.get_device(&code).await?;
    match d {
        Some(d)
            if caller
                .principal
                .may_on_device(action, d.region(), d.maintainer.as_deref()) =>
        {
            Ok(d)
        }
        _ => Err(ApiError::not_found(format!("device {code} does not exist")).with_field(field)),
    }
}

/// One device: its record, live state and recent probes.
#[utoipa::path(
    get, path = "/api/v1/devices/{code}", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code")),
    responses(
        (status = 200, description = "The device now", body = DeviceDetail),
        (status = 400, description = "Not a device code", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read devices", body = ApiError),
        (status = 404, description = "No such device in the caller's scope", body = ApiError),
    )
)]
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DeviceDetail>, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::ReadDevices)?;
    let d = visible_device(&st, &caller, Action::ReadDevices, &code, "code").await?;
    let live = st.monitor.device(&d.code);
    let confirmed = !st.store.unconfirmed_codes().await?.contains(&d.code);
    let sip = st
        .monitor
        .sip_facts(&d.code, st.now())
        .map(sip::SipView::from);
    Ok(Json(DeviceDetail {
        device: record(&d),
        confirmed,
        status: live
            .as_ref()
            .map_or(Status::Unknown, |l| l.status)
            .as_str()
            .to_string(),
        since: live.as_ref().and_then(|l| l.since),
        cause: live
            .as_ref()
            .and_then(|l| l.cause.as_ref())
            .map(|c| c.to_string()),
        picture: live
            .as_ref()
            .and_then(|l| l.picture.as_ref())
            .map(|c| c.to_string()),
        suspects: live
            .as_ref()
            .map(|l| l.suspects.names().into_iter().map(String::from).collect())
            .unwrap_or_default(),
        probed_here: live.as_ref().is_none_or(|l| l.probed_here),
        recent: live
            .as_ref()
            .map(|l| l.recent.iter().map(probe_view).collect())
            .unwrap_or_default(),
        evidence: live
            .as_ref()
            .and_then(|l| l.evidence.as_ref())
            .map(|e| EvidenceView {
                at: e.at,
                cause: e.cause.to_string(),
            }),
        baselines: st
            .pictures
            .as_ref()
            .map_or_else(BaselinesView::default, |p| {
                let has = |night| {
                    p.dir
                        .join(camwatch_monitor::baselines::file_name(&d.code, night))
                        .exists()
                };
                BaselinesView {
                    day: has(false),
                    night: has(true),
                }
            }),
        sip,
    }))
}
