//! The fleet summary now, within the caller's scope: points by status, the online and intact
//! rates, and the same by region; today's and this month's figures and the daily trend are in
//! [`figures`].
//!
//! Computed from the monitor's live state (`MonitorState::briefs`), counting only points
//! (NVRs and other parents are not points) the caller may see. The authoritative figures of a
//! period come from spans, in reports; "today" and "this month so far" are not here yet.
//!
//! Invariants: a device outside the caller's scope counts nowhere.
//!
//! Must not: read the register or write anything.

pub mod figures;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use camwatch_core::access::Action;
use camwatch_core::history::Status;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Points by status.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Counts {
    pub points: u64,
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
    pub unknown: u64,
    /// (online + degraded) / (online + degraded + offline); `null` with nothing observed.
    pub online_rate: Option<f64>,
    /// online / (online + degraded + offline): up with an intact picture.
    pub intact_rate: Option<f64>,
}

impl Counts {
    pub(crate) fn add(&mut self, s: Status) {
        self.points += 1;
        match s {
            Status::Online => self.online += 1,
            Status::Degraded => self.degraded += 1,
            Status::Offline => self.offline += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    pub(crate) fn merge(&mut self, o: &Counts) {
        self.points += o.points;
        self.online += o.online;
        self.degraded += o.degraded;
        self.offline += o.offline;
        self.unknown += o.unknown;
    }

    pub(crate) fn finish(mut self) -> Self {
        let observed = (self.online + self.degraded + self.offline) as f64;
        if observed > 0.0 {
            self.online_rate = Some((self.online + self.degraded) as f64 / observed);
            self.intact_rate = Some(self.online as f64 / observed);
        }
        self
    }
}

/// One region's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionCounts {
    /// The 6-digit civil code.
    pub region: String,
    /// Its name: the register's own where it gave one, else GB/T 2260 (安徽省合肥市蜀山区);
    /// absent when neither knows the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The fleet now, as the caller may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FleetSummary {
    /// Unix seconds.
    pub at: i64,
    pub total: Counts,
    /// By region, in code order.
    pub regions: Vec<RegionCounts>,
}

/// The fleet summary within the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/fleet/summary", tag = "fleet",
    responses(
        (status = 200, description = "The fleet now", body = FleetSummary),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
    )
)]
pub async fn summary(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<FleetSummary>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadStatus)?;
    // Refreshes the region names when the register changed.
    st.register.rows(st.store.as_ref()).await?;
    let names = st.register.names();
    let mut total = Counts::default();
    let mut by_region: BTreeMap<String, Counts> = BTreeMap::new();
    for b in st.monitor.briefs() {
        if !b.point
            || !p.may_on_device(
                Action::ReadStatus,
                &b.meta.region,
                b.meta.maintainer.as_deref(),
            )
        {
            continue;
        }
        total.add(b.status);
        by_region
            .entry(b.meta.region.clone())
            .or_default()
            .add(b.status);
    }
    Ok(Json(FleetSummary {
        at: st.now(),
        total: total.finish(),
        regions: by_region
            .into_iter()
            .map(|(region, c)| RegionCounts {
                name: names.name(&region).map(|n| n.into_owned()),
                region,
                counts: c.finish(),
            })
            .collect(),
    }))
}
