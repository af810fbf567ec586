//! The device list (filtered, sorted, paged by cursor) and one device with its live state and
//! its last probes, each step explained.
//!
//! The store has no filtered, sorted, paged device query yet, so the list is built here: the
//! register rows the store's own filter (region, maintainer, kind) returns, joined with the
//! monitor's live status, filtered by the caller's scope and the request, sorted by a total
//! order (the sort key, then the code) and cut after the cursor. Correct for any fleet; the
//! cost is one register read per page (a store query with keyset paging is the next step).
//!
//! Invariants: every row passes `Principal::may_on_device(ReadDevices, …)`; a device outside
//! the scope reads as one that does not exist; a page holds at most [`MAX_LIMIT`] rows; the
//! cursor is the last row's (sort, key, code), so a page never repeats or skips a row that
//! did not change meanwhile. Camera credentials and stream URLs are never returned.
//!
//! Must not: write, or read the live state of a device the caller may not see.

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::{Action, RegionPrefix};
use camwatch_core::history::Status;
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_monitor::{DeviceBrief, RecentProbe};
use camwatch_store::DeviceFilter;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, parse};

/// The rows of a page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows of a page.
pub const MAX_LIMIT: usize = 500;
/// The most characters of a text search.
const MAX_QUERY_CHARS: usize = 100;

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

/// How the list is sorted; ties are broken by the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Code,
    Name,
    Status,
    Since,
}

impl Sort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Name => "name",
            Self::Status => "status",
            Self::Since => "since",
        }
    }
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Code, Self::Name, Self::Status, Self::Since]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("{s:?}: expected code, name, status or since"))
    }
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
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: String,
    pub since: Option<i64>,
    pub cause: Option<String>,
    /// The confirmed picture problem, if any.
    pub picture: Option<String>,
    /// Newest first.
    pub recent: Vec<ProbeView>,
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Offline => 0,
        Status::Degraded => 1,
        Status::Unknown => 2,
        Status::Online => 3,
    }
}

/// The sort key of a row, comparable as text within one sort.
fn key(sort: Sort, r: &DeviceRow, status: Status) -> String {
    match sort {
        Sort::Code => String::new(),
        Sort::Name => r.name.clone(),
        Sort::Status => status_rank(status).to_string(),
        Sort::Since => format!("{:020}", r.since.map_or(i64::MAX, |s| s.max(0))),
    }
}

/// A cursor: the sort, the last row's key and code, hex-encoded so it is opaque and URL-safe.
fn encode_cursor(sort: Sort, key: &str, code: &str) -> String {
    hex::encode(format!("{}\n{key}\n{code}", sort.as_str()))
}

fn decode_cursor(sort: Sort, c: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this list handed out");
    let bytes = hex::decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    let (Some(s), Some(k), Some(code)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if s != sort.as_str() {
        return Err(ApiError::invalid(
            "cursor",
            "the cursor belongs to another sort order",
        ));
    }
    Ok((k.to_string(), code.to_string()))
}

fn row(d: &Device, live: Option<&DeviceBrief>) -> (DeviceRow, Status) {
    let status = live.map_or(Status::Unknown, |l| l.status);
    (
        DeviceRow {
            code: d.code.to_string(),
            name: d.name.clone(),
            kind: d.kind.as_str().to_string(),
            region: d.region().to_string(),
            maintainer: d.maintainer.clone(),
            address: d.address.clone(),
            status: status.as_str().to_string(),
            since: live.and_then(|l| l.since),
            cause: live.and_then(|l| l.cause.as_ref()).map(|c| c.to_string()),
        },
        status,
    )
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
    let region: Option<RegionPrefix> = q
        .region
        .as_deref()
        .map(|r| parse("region", r))
        .transpose()?;
    let status: Option<Status> = q
        .status
        .as_deref()
        .map(|s| parse("status", s))
        .transpose()?;
    let kind: Option<DeviceKind> = q.kind.as_deref().map(|s| parse("kind", s)).transpose()?;
    let sort: Sort = q
        .sort
        .as_deref()
        .map(|s| parse("sort", s))
        .transpose()?
        .unwrap_or(Sort::Code);
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
    let text = match q.q.as_deref().map(str::trim) {
        Some(t) if t.chars().count() > MAX_QUERY_CHARS => {
            return Err(ApiError::invalid(
                "q",
                format!("q: at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        Some(t) if !t.is_empty() => Some(t.to_lowercase()),
        _ => None,
    };
    let after = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor(sort, c))
        .transpose()?;
    // A contractor's maintainer narrows the store's query; another maintainer is nothing.
    let maintainer = match (p.scope.maintainer(), q.maintainer.as_deref()) {
        (Some(own), Some(asked)) if own.trim() != asked.trim() => {
            return Ok(Json(DevicePage {
                items: Vec::new(),
                next: None,
            }));
        }
        (Some(own), _) => Some(own.to_string()),
        (None, asked) => asked.map(str::to_string),
    };
    let devices = st
        .store
        .list_devices(&DeviceFilter {
            region_prefix: region.as_ref().map(|r| r.as_str().to_string()),
            maintainer,
            kind,
            limit: None,
        })
        .await?;
    let live: HashMap<DeviceCode, DeviceBrief> = st
        .monitor
        .briefs()
        .into_iter()
        .map(|b| (b.meta.code, b))
        .collect();
    let mut rows: Vec<(String, DeviceRow)> = devices
        .iter()
        .filter(|d| p.may_on_device(Action::ReadDevices, d.region(), d.maintainer.as_deref()))
        .filter_map(|d| {
            let (r, s) = row(d, live.get(&d.code));
            if status.is_some_and(|want| want != s) {
                return None;
            }
            if let Some(t) = &text {
                let hit = r.code.contains(t.as_str())
                    || r.name.to_lowercase().contains(t.as_str())
                    || r.address
                        .as_deref()
                        .is_some_and(|a| a.to_lowercase().contains(t.as_str()));
                if !hit {
                    return None;
                }
            }
            Some((key(sort, &r, s), r))
        })
        .filter(|(k, r)| match &after {
            None => true,
            Some((ak, ac)) => match k.as_str().cmp(ak.as_str()) {
                Ordering::Greater => true,
                Ordering::Equal => r.code.as_str() > ac.as_str(),
                Ordering::Less => false,
            },
        })
        .collect();
    rows.sort_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| a.code.cmp(&b.code)));
    let next = (rows.len() > limit).then(|| {
        let (k, r) = &rows[limit - 1];
        encode_cursor(sort, k, &r.code)
    });
    rows.truncate(limit);
    Ok(Json(DevicePage {
        items: rows.into_iter().map(|(_, r)| r).collect(),
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

fn record(d: &Device) -> DeviceRecord {
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
    Ok(Json(DeviceDetail {
        device: record(&d),
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
        recent: live
            .as_ref()
            .map(|l| l.recent.iter().map(probe_view).collect())
            .unwrap_or_default(),
    }))
}
