//! The fleet's figures over periods, from status spans: today so far and this month so far
//! (in total, by region, by contractor) and a daily trend, within the caller's scope.
//!
//! Job: give the dashboard the numbers the contract is judged by, computed by the monthly
//! report's own engine (`camwatch_report::load_periods`) under the configured contract, so a
//! dashboard figure and the month's report never disagree: the same hours, the same rates by
//! the contract's method, the same exemptions and unknown-time treatment. A scoped caller's
//! figures are its part's own (`reports::subset_of`).
//!
//! Invariants:
//! - `read_status`, and a contract configured (else `503`: the rates are the contract's).
//! - A period ends at now: time not yet lived is not counted as anything.
//! - Results are kept for [`FRESH_SEC`] per (question, scope) and computed one at a time under
//!   the reports' gate: a building month of 300,000 channels costs seconds of CPU, and a wall
//!   of dashboards asking every few seconds must not take the machine. At most
//!   [`MAX_ENTRIES`] results are kept.
//!
//! Must not: count a device outside the caller's scope, or answer from a result older than
//! [`FRESH_SEC`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_report::period::day_start;
use camwatch_report::{Period, Report, Rollup, Totals};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::input::{Params, parse};
use crate::reports::{Reports, subset_of};

/// How long a computed result is served again, in seconds of the injected clock.
pub const FRESH_SEC: i64 = 60;
/// Results kept at most (one per question and scope).
pub const MAX_ENTRIES: usize = 256;
/// The longest trend, in days.
pub const MAX_DAYS: u32 = 31;

/// Hours and rates of a group of devices over the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rates {
    /// Devices counted (points in contract during the period).
    pub devices: u64,
    pub eligible_hours: f64,
    /// Online with any picture (online + degraded).
    pub online_hours: f64,
    /// The part of `online_hours` with a faulty picture.
    pub degraded_hours: f64,
    pub offline_hours: f64,
    pub exempt_hours: f64,
    pub unknown_hours: f64,
    /// By the contract's method; `null` when nothing was observed.
    pub online_rate: Option<f64>,
    pub intact_rate: Option<f64>,
}

impl From<&Totals> for Rates {
    fn from(t: &Totals) -> Self {
        Self {
            devices: t.devices,
            eligible_hours: t.eligible_hours,
            online_hours: t.online_hours,
            degraded_hours: t.degraded_hours,
            offline_hours: t.offline_hours,
            exempt_hours: t.exempt_hours,
            unknown_hours: t.unknown_hours,
            online_rate: t.online_rate,
            intact_rate: t.intact_rate,
        }
    }
}

/// One region's (civil code) or contractor's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupRates {
    pub key: String,
    /// A region's name (the register's own, else GB/T 2260); absent for contractors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub rates: Rates,
    /// Devices offline longer than the contract's per-device limit.
    pub devices_over_offline_limit: u64,
}

impl From<&Rollup> for GroupRates {
    fn from(r: &Rollup) -> Self {
        Self {
            key: r.key.clone(),
            name: r.name.clone(),
            rates: (&r.totals).into(),
            devices_over_offline_limit: r.devices_over_offline_limit,
        }
    }
}

/// The fleet (or the caller's part of it) over a period so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FleetFigures {
    /// `today` or `month`.
    pub period: String,
    /// Unix seconds: the period's local start, and now.
    pub from: i64,
    pub to: i64,
    /// The contract's fleet online-rate threshold as a fraction (0.98), if it has one.
    pub threshold: Option<f64>,
    /// The caller's part of the fleet in words; `null` for the whole fleet.
    pub scope: Option<String>,
    pub fleet: Rates,
    /// By civil code, as the report ranks them.
    pub regions: Vec<GroupRates>,
    pub contractors: Vec<GroupRates>,
    /// When these figures were computed (Unix seconds); at most a minute old.
    pub computed_at: i64,
}

/// One day of the trend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendDay {
    /// The local date, `YYYY-MM-DD`, in the contract's time zone.
    pub date: String,
    pub from: i64,
    /// The day's end, or now for today.
    pub to: i64,
    pub devices: u64,
    pub online_rate: Option<f64>,
    pub intact_rate: Option<f64>,
    pub offline_hours: f64,
    pub unknown_hours: f64,
}

/// Daily rates, oldest first, today (so far) last.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trend {
    pub threshold: Option<f64>,
    pub scope: Option<String>,
    pub days: Vec<TrendDay>,
    pub computed_at: i64,
}

/// Which period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// `today` (default) or `month`: so far, in the contract's time zone.
    pub period: Option<String>,
}

/// How many days.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// 1–31, default 7 (today included).
    pub days: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Question {
    Today,
    Month,
    Trend(u32),
}

#[derive(Clone)]
enum Answer {
    Figures(Arc<FleetFigures>),
    Trend(Arc<Trend>),
}

/// Computed results by question and scope.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(Question, String), (i64, Answer)>>,
}

impl Cache {
    fn fresh(&self, key: &(Question, String), now: i64) -> Option<Answer> {
        let m = self.entries.lock().expect("figures cache");
        m.get(key)
            .filter(|(at, _)| now - at < FRESH_SEC && *at <= now)
            .map(|(_, a)| a.clone())
    }

    fn put(&self, key: (Question, String), now: i64, a: Answer) {
        let mut m = self.entries.lock().expect("figures cache");
        m.retain(|_, (at, _)| now - *at < FRESH_SEC);
        if m.len() >= MAX_ENTRIES
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(key, (now, a));
    }
}

fn threshold(r: &Reports) -> Option<f64> {
    r.contract
        .fleet_online_rate
        .as_ref()
        .map(|rule| rule.threshold_percent.0.to_f64() / 100.0)
}

fn contract(st: &AppState) -> Result<Arc<Reports>, ApiError> {
    st.reports.clone().ok_or_else(|| {
        ApiError::new(
            Code::Unavailable,
            "no contract is configured: set [contract] file (the rates are the contract's)",
        )
    })
}

/// Computes (or takes from the cache) the answer to `q` for the caller.
async fn answer(st: &AppState, caller: &Caller, q: Question) -> Result<Answer, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadStatus)?;
    let reports = contract(st)?;
    let subset = subset_of(p);
    let key = (
        q,
        subset.as_ref().map(|s| s.label.clone()).unwrap_or_default(),
    );
    if let Some(a) = reports.figures.fresh(&key, st.now()) {
        return Ok(a);
    }
    let _turn = reports
        .gate
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // Another request may have computed it while this one waited.
    let now = st.now();
    if let Some(a) = reports.figures.fresh(&key, now) {
        return Ok(a);
    }
    let tz = reports
        .contract
        .time_zone()
        .map_err(|e| ApiError::internal(&e))?;
    let tz_name = &reports.contract.timezone;
    let today = jiff::Timestamp::from_second(now)
        .map_err(|e| ApiError::internal(&e))?
        .to_zoned_datetime(tz.clone())
        .date();
    let periods: Vec<(String, Period)> = match q {
        Question::Today => vec![(
            today.to_string(),
            Period::between(day_start(today, &tz), now, tz.clone(), tz_name),
        )],
        Question::Month => vec![(
            today.first_of_month().to_string(),
            Period::between(
                day_start(today.first_of_month(), &tz),
                now,
                tz.clone(),
                tz_name,
            ),
        )],
        Question::Trend(days) => (0..days as i64)
            .rev()
            .map(|back| {
                let d = today
                    .checked_sub(back.days())
                    .map_err(|e| ApiError::internal(&e))?;
                let end = d
                    .checked_add(1.day())
                    .map(|n| day_start(n, &tz))
                    .map_err(|e| ApiError::internal(&e))?;
                Ok((
                    d.to_string(),
                    Period::between(day_start(d, &tz), end.min(now), tz.clone(), tz_name),
                ))
            })
            .collect::<Result<_, ApiError>>()?,
    };
    let only: Vec<Period> = periods.iter().map(|(_, p)| p.clone()).collect();
    let built: Vec<Report> = camwatch_report::load_periods(
        &st.store,
        &only,
        &reports.contract,
        &reports.text,
        now,
        subset.as_ref(),
    )
    .await?;
    let scope = subset.map(|s| s.label);
    let a = match q {
        Question::Today | Question::Month => {
            let (r, p) = (&built[0], &periods[0].1);
            Answer::Figures(Arc::new(FleetFigures {
                period: if q == Question::Today {
                    "today"
                } else {
                    "month"
                }
                .into(),
                from: p.start_at,
                to: p.end_at,
                threshold: threshold(&reports),
                scope,
                fleet: (&r.fleet).into(),
                regions: r.regions.iter().map(Into::into).collect(),
                contractors: r.contractors.iter().map(Into::into).collect(),
                computed_at: now,
            }))
        }
        Question::Trend(_) => Answer::Trend(Arc::new(Trend {
            threshold: threshold(&reports),
            scope,
            days: periods
                .iter()
                .zip(&built)
                .map(|((date, p), r)| TrendDay {
                    date: date.clone(),
                    from: p.start_at,
                    to: p.end_at,
                    devices: r.fleet.devices,
                    online_rate: r.fleet.online_rate,
                    intact_rate: r.fleet.intact_rate,
                    offline_hours: r.fleet.offline_hours,
                    unknown_hours: r.fleet.unknown_hours,
                })
                .collect(),
            computed_at: now,
        })),
    };
    reports.figures.put(key, now, a.clone());
    Ok(a)
}

/// The fleet's figures today so far or this month so far, by region and by contractor.
#[utoipa::path(
    get, path = "/api/v1/fleet/figures", tag = "fleet",
    params(FiguresQuery),
    responses(
        (status = 200, description = "The figures, at most a minute old", body = FleetFigures),
        (status = 400, description = "A bad period", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
        (status = 503, description = "No contract configured ([contract] file)", body = ApiError),
    )
)]
pub async fn figures(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<FiguresQuery>,
) -> Result<Json<FleetFigures>, ApiError> {
    let question = match q.period.as_deref() {
        None | Some("today") => Question::Today,
        Some("month") => Question::Month,
        Some(other) => {
            return Err(ApiError::invalid(
                "period",
                format!(
                    "period: {:?} is not today or month",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    match answer(&st, &caller, question).await? {
        Answer::Figures(f) => Ok(Json((*f).clone())),
        Answer::Trend(_) => Err(ApiError::internal(&"figures cache holds a trend")),
    }
}

/// Daily online and intact rates for the last days, today (so far) included.
#[utoipa::path(
    get, path = "/api/v1/fleet/trend", tag = "fleet",
    params(TrendQuery),
    responses(
        (status = 200, description = "The days, oldest first", body = Trend),
        (status = 400, description = "A bad number of days", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
        (status = 503, description = "No contract configured ([contract] file)", body = ApiError),
    )
)]
pub async fn trend(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<TrendQuery>,
) -> Result<Json<Trend>, ApiError> {
    let days: u32 = match q.days.as_deref() {
        None => 7,
        Some(d) => parse("days", d)?,
    };
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(
            "days",
            format!("days: {days} is not within 1–{MAX_DAYS}"),
        ));
    }
    match answer(&st, &caller, Question::Trend(days)).await? {
        Answer::Trend(t) => Ok(Json((*t).clone())),
        Answer::Figures(_) => Err(ApiError::internal(&"figures cache holds figures")),
    }
}
