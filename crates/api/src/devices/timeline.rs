//! One device's status timeline for a period: its spans clipped to the period, the time no
//! span covers (`unknown`: nobody was watching), the seconds in each status, and the
//! exemptions that apply to it — "why is this camera red, and since when", minute by minute.
//!
//! Invariants: `read_history` and the device in the caller's scope (else 404, as for a device
//! that does not exist); the period is at most [`MAX_DAYS`] days; the seconds of every status
//! and `unknown` add up to the period's length (spans do not overlap: the store refuses it).
//!
//! Must not: count an open span past now (the store closes it at now).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_core::history::Status;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, period};

/// The longest period one request may ask for: a quarter (an audit looks back months).
pub const MAX_DAYS: i64 = 93;
/// The period when none is given: the last day.
const DEFAULT_SECONDS: i64 = 86_400;

/// The period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// RFC 3339 instant (default: 24 hours before `to`).
    pub from: Option<String>,
    /// RFC 3339 instant (default: now).
    pub to: Option<String>,
}

/// One stretch of one status within the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stretch {
    /// `online`, `degraded`, `offline`.
    pub status: String,
    /// Unix seconds, clipped to the period.
    pub from: i64,
    pub to: i64,
    pub seconds: i64,
    /// Why (offline: the failure or the parent; degraded: the picture faults).
    pub cause: Option<String>,
    /// Goes on past the period's end (or is open now).
    pub ongoing: bool,
}

/// An exemption that covers the device in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExemptionView {
    pub id: i64,
    /// `force_majeure`, `planned_works`, `relocation`, `demolition`, `third_party`, `other`.
    pub reason: String,
    pub from: i64,
    pub to: i64,
    pub note: String,
    pub approved_by: String,
}

/// Seconds in each status within the period.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Seconds {
    pub online: i64,
    pub degraded: i64,
    pub offline: i64,
    /// Covered by no span: not watched.
    pub unknown: i64,
}

/// A device's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    pub code: String,
    /// Unix seconds.
    pub from: i64,
    pub to: i64,
    pub stretches: Vec<Stretch>,
    pub seconds: Seconds,
    pub exemptions: Vec<ExemptionView>,
}

/// A device's status timeline for a period.
#[utoipa::path(
    get, path = "/api/v1/devices/{code}/timeline", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code"), TimelineQuery),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
        (status = 400, description = "A bad code or period", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read history", body = ApiError),
        (status = 404, description = "No such device in the caller's scope", body = ApiError),
    )
)]
pub async fn timeline(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Params(q): Params<TimelineQuery>,
) -> Result<Json<Timeline>, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::ReadHistory)?;
    let now = st.now();
    let (from, to) = period(
        q.from.as_deref(),
        q.to.as_deref(),
        now,
        DEFAULT_SECONDS,
        MAX_DAYS,
    )?;
    let d = super::visible_device(&st, &caller, Action::ReadHistory, &code, "code").await?;
    let (spans, exemptions) = tokio::try_join!(
        st.store.device_spans(&d.code, from, to, now),
        st.store.exemptions_overlapping(from, to),
    )?;
    let mut seconds = Seconds::default();
    let mut stretches = Vec::with_capacity(spans.len());
    for s in &spans {
        let (a, b) = (s.start_at.max(from), s.end_at.min(to));
        if b <= a {
            continue;
        }
        let n = b - a;
        match s.status {
            Status::Online => seconds.online += n,
            Status::Degraded => seconds.degraded += n,
            Status::Offline => seconds.offline += n,
            Status::Unknown => seconds.unknown += n,
        }
        stretches.push(Stretch {
            status: s.status.as_str().to_string(),
            from: a,
            to: b,
            seconds: n,
            cause: s.cause.as_ref().map(|c| c.to_string()),
            ongoing: s.end_at > to || s.end_at >= now,
        });
    }
    let covered = seconds.online + seconds.degraded + seconds.offline + seconds.unknown;
    seconds.unknown += (to - from) - covered;
    let region = d.region();
    let exemptions = exemptions
        .into_iter()
        .filter(|e| e.scope.covers(&d.code, region))
        .map(|e| ExemptionView {
            id: e.id,
            reason: e.reason.as_str().to_string(),
            from: e.start_at,
            to: e.end_at,
            note: e.note,
            approved_by: e.approved_by,
        })
        .collect();
    Ok(Json(Timeline {
        code: d.code.to_string(),
        from,
        to,
        stretches,
        seconds,
        exemptions,
    }))
}
