//! `/healthz` and `/readyz`, for a process supervisor or a load balancer; outside `/api/v1`
//! (they are about the process, not the API's resources) and without authentication.
//!
//! - `/healthz`: the process answers HTTP. Always 200 while it does.
//! - `/readyz`: 200 when the store answers a trivial query (the register's revision) within
//!   [`STORE_DEADLINE`] and the monitor is running (it has closed what a previous run left
//!   open and is probing); else 503 with which of the two is not.
//!
//! Invariants: the answer is a closed set of words ([`Readiness`]); no error text, address,
//! version or count reaches the client (a database error is logged here, not answered).
//!
//! Must not: need a caller, take longer than [`STORE_DEADLINE`], or write anything.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// The longest `/readyz` waits for the store.
pub const STORE_DEADLINE: Duration = Duration::from_secs(2);

/// The process answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// The store, as `/readyz` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreState {
    Ok,
    /// It answered with an error.
    Unavailable,
    /// It did not answer within the deadline.
    Timeout,
}

/// The monitor, as `/readyz` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorRun {
    Running,
    /// Starting (recovering what a previous run left open), stopped, or never started.
    NotRunning,
}

/// Whether the service can do its job.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: StoreState,
    pub monitor: MonitorRun,
}

/// Liveness of the process.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process answers", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers and the monitor runs.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the store or the monitor is not", body = Readiness),
    )
)]
pub async fn readyz(State(st): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store = match tokio::time::timeout(STORE_DEADLINE, st.store.register_revision()).await {
        Ok(Ok(_)) => StoreState::Ok,
        Ok(Err(e)) => {
            tracing::warn!("readyz: the store did not answer: {e}");
            StoreState::Unavailable
        }
        Err(_) => {
            tracing::warn!("readyz: the store did not answer within {STORE_DEADLINE:?}");
            StoreState::Timeout
        }
    };
    let monitor = if st.monitor.metrics().running() {
        MonitorRun::Running
    } else {
        MonitorRun::NotRunning
    };
    let ready = store == StoreState::Ok && monitor == MonitorRun::Running;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            store,
            monitor,
        }),
    )
}
