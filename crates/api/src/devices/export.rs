//! The device list as a file: the rows the list would show for the same filters and sort,
//! every page at once, as CSV (UTF-8 with a BOM, formula-safe) or XLSX (string cells).
//!
//! Invariants: exactly the rows of [`super::list::Selection::hits`] (the caller's scope
//! applied); at most [`MAX_ROWS`]; times in UTC, RFC 3339, so a sheet says which instant it
//! means. Must not: export credentials or stream URLs (the list holds none).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use camwatch_core::access::Action;
use camwatch_core::spreadsheet::{csv_table, xlsx_table};

use super::DeviceQuery;
use super::list::{Hit, Selection};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, parse};

/// The most rows one export holds: more than the largest fleet camwatch is built for.
pub const MAX_ROWS: usize = 500_000;

/// The export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Self::Csv),
            "xlsx" => Ok(Self::Xlsx),
            _ => Err(format!("{s:?}: expected csv or xlsx")),
        }
    }
}

/// The export's filters and sort (those of the list) and its format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `xlsx`.
    pub format: Option<String>,
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
}

/// The columns, in the language of the people who open the file.
const HEADERS: [&str; 9] = [
    "设备编码",
    "设备名称",
    "设备类型",
    "行政区划",
    "运维单位",
    "安装地址",
    "状态",
    "状态开始 (UTC)",
    "原因",
];
/// Every column is text (codes keep their digits, nothing is a number to compute with).
const TEXT: [bool; 9] = [true; 9];

fn cells(st: &AppState, h: &Hit<'_>) -> Vec<String> {
    let d = h.listed;
    let since = h
        .since
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| t.to_string())
        .unwrap_or_default();
    let cause = super::cause_of(st, h).unwrap_or_default();
    vec![
        d.code.to_string(),
        d.name.clone(),
        d.kind.as_str().to_string(),
        d.region.clone(),
        d.maintainer.clone().unwrap_or_default(),
        d.address.clone().unwrap_or_default(),
        h.status.as_str().to_string(),
        since,
        cause,
    ]
}

/// The filtered device list as a CSV or XLSX file.
#[utoipa::path(
    get, path = "/api/v1/devices/export", tag = "devices",
    params(ExportQuery),
    responses(
        (status = 200, description = "The file", content_type = "text/csv", body = String),
        (status = 400, description = "A bad filter, sort or format, or too many rows", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read devices", body = ApiError),
    )
)]
pub async fn export(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ExportQuery>,
) -> Result<Response, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadDevices)?;
    let format: Format = q
        .format
        .as_deref()
        .map(|f| parse("format", f))
        .transpose()?
        .unwrap_or(Format::Csv);
    let list_query = DeviceQuery {
        region: q.region,
        status: q.status,
        maintainer: q.maintainer,
        kind: q.kind,
        q: q.q,
        sort: q.sort,
        cursor: None,
        limit: None,
    };
    let sel = Selection::parse(&list_query, p)?;
    let rows = st.register.rows(st.store.as_ref()).await?;
    let live = st.monitor.statuses();
    let hits = sel.hits(p, &rows, &live);
    if hits.len() > MAX_ROWS {
        return Err(ApiError::invalid(
            "region",
            format!(
                "{} devices match: at most {MAX_ROWS} per export; narrow the filter",
                hits.len()
            ),
        ));
    }
    let table: Vec<Vec<String>> = sel.all(hits).iter().map(|h| cells(&st, h)).collect();
    let stamp = jiff::Timestamp::from_second(st.now())
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_default();
    let (bytes, content_type, ext) = match format {
        Format::Csv => (
            csv_table(&HEADERS, &TEXT, table),
            "text/csv; charset=utf-8",
            "csv",
        ),
        Format::Xlsx => (
            xlsx_table("devices", &HEADERS, &table)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"devices-{stamp}.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
