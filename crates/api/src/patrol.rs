//! Patrol (巡检) over HTTP: today's batch of the caller's part of the fleet, a verdict per
//! channel (a fault opens a work order), and the month's patrol report.
//!
//! The batch is `camwatch_core::patrol::Plan` over the confirmed video channels the caller may
//! patrol (`Principal::may_on_device(Patrol, …)`), on the working calendar the work-order desk
//! uses (the contract's). Two operators of one scope share one batch; an admin's is the
//! fleet's.
//!
//! Invariants:
//! - `patrol` for the batch and for verdicts (operators and admins); `read_reports` for the
//!   report, cut to the caller's part as the monthly report is.
//! - A verdict is accepted only for a device of the caller's batch today; a device outside
//!   the caller's scope reads as missing (404), like everywhere else.
//! - A fault opens a work order of origin `patrol` through the desk (audited there), or joins the order
//!   already open for the device; the record names it. The record and its audit entry are one
//!   transaction in the store; records are never changed.
//!
//! Must not: write a record or open an order other than through the store and the desk.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_core::error::ErrorKind;
use camwatch_core::history::Status;
use camwatch_core::patrol::{self, Finding, Plan, Record, Verdict};
use camwatch_core::registry::DeviceCode;
use camwatch_report::Month;
use camwatch_store::NewPatrolRecord;
use camwatch_workorder::ManualOrder;

use crate::AppState;
use crate::auth::Caller;
use crate::devices::index::Listed;
use crate::error::{ApiError, Code};
use crate::input::{Body, Params, parse};

/// A verdict recorded on a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    pub id: i64,
    pub device: String,
    /// `YYYY-MM-DD`, the calendar's time zone.
    pub day: String,
    pub patroller: String,
    /// `normal` or `fault`.
    pub verdict: String,
    /// A picture fault kind, `no_video` or `other`; set for a fault.
    pub finding: Option<String>,
    pub note: String,
    /// The work order the fault opened or joined.
    pub work_order: Option<i64>,
    /// Unix seconds.
    pub recorded_at: i64,
}

impl RecordView {
    fn of(r: &Record) -> Self {
        Self {
            id: r.id,
            device: r.device.to_string(),
            day: r.day.to_string(),
            patroller: r.patroller.clone(),
            verdict: r.verdict.as_str().to_string(),
            finding: r.finding.map(|f| f.as_str().to_string()),
            note: r.note.clone(),
            work_order: r.work_order,
            recorded_at: r.recorded_at,
        }
    }
}

/// The latest evidence frame (`GET /devices/{code}/evidence`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PatrolEvidence {
    /// Unix seconds.
    pub at: i64,
    /// The picture fault it proved.
    pub cause: String,
}

/// One channel of today's batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatrolItem {
    pub code: String,
    pub name: String,
    pub region: String,
    pub address: Option<String>,
    pub maintainer: Option<String>,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: String,
    pub since: Option<i64>,
    /// Why it is offline or degraded.
    pub cause: Option<String>,
    /// The automatic diagnosis: the confirmed picture problem, if any.
    pub picture: Option<String>,
    pub evidence: Option<PatrolEvidence>,
    /// Today's counted verdict (the latest), if any.
    pub record: Option<RecordView>,
}

/// Today's batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatrolToday {
    /// `YYYY-MM-DD` in the calendar's time zone.
    pub day: String,
    /// `false`: a day off, no batch.
    pub working_day: bool,
    /// `[patrol] daily_quota` and `cycle_days`.
    pub daily_quota: u32,
    pub cycle_days: u32,
    /// The channels the caller's plan rotates through.
    pub fleet: u64,
    /// The quota in effect today: `min(daily_quota, fleet)`.
    pub required: u64,
    /// Channels of the batch with a verdict today.
    pub recorded: u64,
    /// Of which faults.
    pub faults: u64,
    /// Sorted by code.
    pub items: Vec<PatrolItem>,
}

/// A verdict on one channel of today's batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// The 20-digit device code.
    pub device: String,
    /// `normal` or `fault`.
    pub verdict: String,
    /// For a fault: a picture fault kind (`blur`, `occlusion`, …), `no_video` or `other`.
    pub finding: Option<String>,
    /// What was seen (at most 500 characters).
    #[serde(default)]
    pub note: String,
}

/// What a verdict did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordReply {
    pub record: RecordView,
    /// `true` when the fault opened a new order; `false` when it joined the one already open
    /// (or for a normal verdict).
    pub work_order_opened: bool,
}

/// Which month's report.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PatrolReportQuery {
    /// `YYYY-MM`, a month that has started.
    pub month: String,
}

fn enabled(st: &AppState) -> Result<(), ApiError> {
    if st.patrol.enabled {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::Unavailable,
            "patrol is switched off: [patrol] enabled = false",
        ))
    }
}

/// Today's date in the calendar's zone.
fn today(st: &AppState) -> Date {
    st.clock
        .now()
        .to_zoned_datetime(st.desk.sla.calendar().time_zone().clone())
        .date()
}

/// The caller's plan: the confirmed video channels it may patrol, with their register rows.
async fn plan_of(
    st: &AppState,
    caller: &Caller,
) -> Result<(Plan, std::sync::Arc<Vec<Listed>>), ApiError> {
    let (rows, unconfirmed) = tokio::try_join!(st.register.rows(st.store.as_ref()), async {
        st.store.unconfirmed_codes().await.map_err(ApiError::from)
    })?;
    let p = &caller.principal;
    let codes = rows
        .iter()
        .filter(|r| {
            patrol::is_patrolled(r.kind)
                && !unconfirmed.contains(&r.code)
                && p.may_on_device(Action::Patrol, &r.region, r.maintainer.as_deref())
        })
        .map(|r| r.code);
    let plan = Plan::new(codes, st.patrol.rules());
    Ok((plan, rows))
}

/// Today's counted records (the latest per device), by device.
async fn records_of(st: &AppState, day: Date) -> Result<HashMap<DeviceCode, Record>, ApiError> {
    let mut out: HashMap<DeviceCode, Record> = HashMap::new();
    for r in st.store.patrol_records(day, day).await? {
        match out.get(&r.device) {
            Some(cur) if !r.supersedes(cur) => {}
            _ => {
                out.insert(r.device, r);
            }
        }
    }
    Ok(out)
}

/// Today's batch of the caller's part of the fleet, with each channel's state and verdict.
#[utoipa::path(
    get, path = "/api/v1/patrol/today", tag = "patrol",
    responses(
        (status = 200, description = "Today's batch", body = PatrolToday),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role does not patrol", body = ApiError),
        (status = 503, description = "Patrol is switched off", body = ApiError),
    )
)]
pub async fn today_batch(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<PatrolToday>, ApiError> {
    caller.principal.require(Action::Patrol)?;
    enabled(&st)?;
    let day = today(&st);
    let (plan, rows) = plan_of(&st, &caller).await?;
    let batch = plan.batch_on(st.desk.sla.calendar(), day);
    let mut records = records_of(&st, day).await?;
    let rules = plan.rules();
    let mut items = Vec::new();
    let (mut recorded, mut faults) = (0u64, 0u64);
    for code in batch.iter().flatten() {
        let Some(row) = crate::devices::index::find(&rows, code) else {
            continue;
        };
        let live = st.monitor.device(code);
        let record = records.remove(code);
        if let Some(r) = &record {
            recorded += 1;
            faults += u64::from(r.verdict == Verdict::Fault);
        }
        items.push(PatrolItem {
            code: code.to_string(),
            name: row.name.clone(),
            region: row.region.clone(),
            address: row.address.clone(),
            maintainer: row.maintainer.clone(),
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
            evidence: live
                .as_ref()
                .and_then(|l| l.evidence.as_ref())
                .map(|e| PatrolEvidence {
                    at: e.at,
                    cause: e.cause.to_string(),
                }),
            record: record.as_ref().map(RecordView::of),
        });
    }
    Ok(Json(PatrolToday {
        day: day.to_string(),
        working_day: batch.is_some(),
        daily_quota: rules.quota,
        cycle_days: rules.cycle_days,
        fleet: plan.fleet_len() as u64,
        required: plan.required() as u64,
        recorded,
        faults,
        items,
    }))
}

/// Record a verdict on a channel of today's batch; a fault opens (or joins) a work order.
#[utoipa::path(
    post, path = "/api/v1/patrol/records", tag = "patrol",
    request_body = RecordRequest,
    responses(
        (status = 201, description = "Recorded", body = RecordReply),
        (status = 400, description = "A bad device code, verdict, finding or note", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role does not patrol (or no CSRF token)", body = ApiError),
        (status = 404, description = "No such device in the caller's scope", body = ApiError),
        (status = 409, description = "The device is not in today's batch (or today is a day off)", body = ApiError),
        (status = 503, description = "Patrol is switched off", body = ApiError),
    )
)]
pub async fn record(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<RecordRequest>,
) -> Result<(StatusCode, Json<RecordReply>), ApiError> {
    caller.principal.require(Action::Patrol)?;
    enabled(&st)?;
    let verdict: Verdict = parse("verdict", &body.verdict)?;
    let finding: Option<Finding> = body
        .finding
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse("finding", f))
        .transpose()?;
    patrol::check_finding(verdict, finding).map_err(|e| ApiError::invalid("finding", e))?;
    let max = camwatch_core::limits::NOTE_CHARS;
    if body.note.chars().count() > max {
        return Err(ApiError::invalid(
            "note",
            format!("note: at most {max} characters"),
        ));
    }
    let d = crate::devices::visible_device(&st, &caller, Action::Patrol, &body.device, "device")
        .await?;
    let day = today(&st);
    let (plan, _) = plan_of(&st, &caller).await?;
    let in_batch = plan
        .batch_on(st.desk.sla.calendar(), day)
        .is_some_and(|b| b.binary_search(&d.code).is_ok());
    if !in_batch {
        return Err(ApiError::new(
            Code::Conflict,
            format!("device {} is not in today's patrol batch ({day})", d.code),
        )
        .with_field("device"));
    }
    let now = st.now();
    let actor = caller.audit_name();
    let (work_order, opened) = match finding {
        None => (None, false),
        Some(f) => {
            let order = st
                .desk
                .open_from_patrol(
                    ManualOrder {
                        devices: vec![d.code],
                        title: format!("巡检发现故障：{}（{}）", d.name, finding_zh(f)),
                        note: body.note.clone(),
                        contractor: None,
                        since: None,
                    },
                    now,
                    &actor,
                )
                .await;
            match order {
                Ok(o) => (Some(o.id), true),
                // Already in an open order (the monitor's, or an earlier verdict's): join it.
                Err(e) if e.kind == ErrorKind::Conflict => {
                    (st.store.open_order_of(&d.code).await?, false)
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let r = st
        .store
        .add_patrol_record(&NewPatrolRecord {
            device: d.code,
            day,
            patroller: actor,
            verdict,
            finding,
            note: body.note,
            work_order,
            recorded_at: now,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RecordReply {
            record: RecordView::of(&r),
            work_order_opened: opened,
        }),
    ))
}

/// The Chinese name of a finding, for the work order's title.
fn finding_zh(f: Finding) -> &'static str {
    use camwatch_core::quality::FaultKind as K;
    match f {
        Finding::NoVideo => "无视频",
        Finding::Other => "其他",
        Finding::Picture(k) => match k {
            K::SignalLoss => "信号丢失",
            K::TooDark => "画面过暗",
            K::TooBright => "画面过亮",
            K::Blur => "画面模糊",
            K::Noise => "噪声干扰",
            K::ColorCast => "画面偏色",
            K::Occlusion => "画面遮挡",
            K::Stripes => "条纹干扰",
            K::Frozen => "画面冻结",
            K::SceneChange => "场景变更",
        },
    }
}

/// The month's patrol report of the fleet, or of the caller's part of it, as JSON (the other
/// formats come with the monthly report, `GET /reports/monthly`).
#[utoipa::path(
    get, path = "/api/v1/patrol/report", tag = "patrol",
    params(PatrolReportQuery),
    responses(
        (status = 200, description = "The month's patrol figures", body = Object),
        (status = 400, description = "A bad month, or a month not started", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read reports", body = ApiError),
    )
)]
pub async fn report(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<PatrolReportQuery>,
) -> Result<Json<camwatch_report::patrol::PatrolSection>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadReports)?;
    let month: Month = parse("month", &q.month)?;
    let (first, _) = camwatch_report::patrol::month_days(month);
    if first > today(&st) {
        return Err(ApiError::invalid(
            "month",
            format!("{month} has not started yet"),
        ));
    }
    let subset = crate::reports::subset_of(p);
    let section = camwatch_report::patrol::load_patrol(
        &st.store,
        month,
        st.desk.sla.calendar(),
        st.patrol.rules(),
        st.now(),
        subset.as_ref(),
    )
    .await?;
    Ok(Json(section))
}
