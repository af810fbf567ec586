//! The monthly report over HTTP, in every format the CLI writes (JSON, CSV, XLSX, printable
//! HTML; Chinese or English labels), under the contract `serve` was configured with: the same
//! `camwatch_report::load` and `render` as `camwatch report monthly`, so the file and its
//! input digest are the same as the CLI's for the same data and instant.
//!
//! Invariants:
//! - `read_reports`. An unrestricted caller gets the fleet's report; a scoped caller (a
//!   contractor, a district) gets the report of its part ([`subset_of`]): only its devices
//!   and work orders, totals that are the part's own, per-device and per-order deductions, and
//!   not the contract's fleet-wide lines (the fleet's rate against its threshold, the score),
//!   which are the whole fleet's money; the report names its scope in every format.
//! - With `[patrol] enabled`, the report carries the month's patrol section (same part).
//! - One report is built at a time ([`Reports::gate`]): a month of 300,000 channels takes
//!   seconds of CPU, and a client asking again and again must not take the machine.
//!
//! Must not: build a report for a month that has not started.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use camwatch_core::access::Action;
use camwatch_core::access::Principal;
use camwatch_core::contract::Contract;
use camwatch_core::registry::Device;
use camwatch_report::render::{Format, Lang, render};
use camwatch_report::{Month, Period, Subset};
use camwatch_store::workorders::WorkOrder;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::input::{Params, parse};

/// The contract reports are made under, and the gate that lets one build run at a time.
pub struct Reports {
    pub contract: Contract,
    /// The contract file's text (part of the report's input digest).
    pub text: String,
    /// One report build at a time (reports and fleet figures alike).
    pub(crate) gate: tokio::sync::Semaphore,
    /// Fleet figures and trends recently computed.
    pub(crate) figures: crate::fleet::figures::Cache,
}

impl Reports {
    pub fn new(contract: Contract, text: String) -> Arc<Self> {
        Arc::new(Self {
            contract,
            text,
            gate: tokio::sync::Semaphore::new(1),
            figures: Default::default(),
        })
    }
}

/// Which month, in which format and language.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `YYYY-MM`, a month in the contract's time zone that has started.
    pub month: String,
    /// `json` (default), `csv`, `xlsx` or `html`.
    pub format: Option<String>,
    /// `zh` (default) or `en`.
    pub lang: Option<String>,
}

/// The part of the fleet a caller's report covers: `None` for an unrestricted caller (the
/// fleet), else the devices and work orders its scope sees.
pub fn subset_of(p: &Principal) -> Option<Subset> {
    if p.scope.is_unrestricted() {
        return None;
    }
    let (dp, op) = (p.clone(), p.clone());
    Some(Subset {
        label: p.scope.to_string(),
        device: Arc::new(move |d: &Device| {
            dp.may_on_device(Action::ReadReports, d.region(), d.maintainer.as_deref())
        }),
        order: Arc::new(move |o: &WorkOrder| {
            op.may_on_work_order(Action::ReadReports, &o.region, o.life.contractor.as_deref())
        }),
    })
}

/// The monthly report of the fleet, or of the caller's part of it.
#[utoipa::path(
    get, path = "/api/v1/reports/monthly", tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report as a file", content_type = "application/json", body = String),
        (status = 400, description = "A bad month, format or language, or a month not started", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read reports", body = ApiError),
        (status = 503, description = "No contract configured ([contract] file)", body = ApiError),
    )
)]
pub async fn monthly(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ReportQuery>,
) -> Result<Response, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadReports)?;
    let subset = subset_of(p);
    let month: Month = parse("month", &q.month)?;
    let format: Format = match q.format.as_deref() {
        None => Format::Json,
        Some(f) => parse("format", f)?,
    };
    let lang: Lang = match q.lang.as_deref() {
        None => Lang::Zh,
        Some(l) => parse("lang", l)?,
    };
    let Some(reports) = st.reports.clone() else {
        return Err(ApiError::new(
            Code::Unavailable,
            "no contract is configured: set [contract] file",
        ));
    };
    let tz = reports
        .contract
        .time_zone()
        .map_err(|e| ApiError::internal(&e))?;
    let period = Period::month(month, tz, &reports.contract.timezone);
    let now = st.now();
    if period.start_at >= now {
        return Err(ApiError::invalid(
            "month",
            format!("{month} has not started yet"),
        ));
    }
    let _turn = reports
        .gate
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // The calendar the patrol pages plan with (`/patrol/today`, `/patrol/report`), so the
    // report's batches are the ones the operators were given.
    let patrol = st.patrol.enabled.then(|| camwatch_report::PatrolAsk {
        month,
        calendar: st.desk.sla.calendar().clone(),
        rules: st.patrol.rules(),
    });
    let r = camwatch_report::load_with_patrol(
        &st.store,
        &period,
        &reports.contract,
        &reports.text,
        now,
        subset.as_ref(),
        patrol,
    )
    .await?;
    let bytes = tokio::task::spawn_blocking(move || render(&r, format, lang))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    let content_type = match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Format::Html => "text/html; charset=utf-8",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"camwatch-{month}.{}\"",
                    format.extension()
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}
