//! A camera's pictures: the latest evidence frame (the picture that proved its fault), its
//! approved baselines (day and night), and approving a picture as its baseline.
//!
//! Approving takes the evidence frame the monitor holds, or the camera's current picture
//! (fetched as the monitor samples it: the snapshot, else the stream's first keyframe). A
//! picture that reads as faulty judged alone is refused (`409 conflict`, naming the faults)
//! unless `force` says an operator has looked and that is the scene: a baseline hides what it
//! shows. The approval is written where `camwatch baseline approve` writes (the same files),
//! audited as `baseline.approve`, and reaches the running monitor at once (its next picture
//! sample is judged against it).
//!
//! Invariants: reading needs `read_status`, approving `write_baselines`, and the device in the
//! caller's scope (else 404, as for a device that does not exist); images are `image/jpeg`,
//! never cached by shared caches (`Cache-Control: private, no-store`: they show the scene).
//!
//! Must not: return a picture of a device outside the caller's scope, or take a picture path
//! from the client.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_core::quality::Thresholds;
use camwatch_monitor::baselines::{self, Approver};

use crate::AppState;
use crate::auth::Caller;
use crate::devices::visible_device;
use crate::error::{ApiError, Code};
use crate::input::{Body, Params};

/// Where approved baselines live and what a picture is judged by alone.
#[derive(Debug, Clone)]
pub struct Pictures {
    /// `<data>/baselines`, as `serve` and `camwatch baseline` use it.
    pub dir: PathBuf,
    /// The fleet's picture thresholds.
    pub thresholds: Arc<Thresholds>,
}

/// Which baseline.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BaselineQuery {
    /// `true`: the night picture (default: the day one).
    pub night: Option<bool>,
}

/// Where the picture to approve comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The latest evidence frame the monitor holds (the picture a fault was found in).
    #[default]
    Evidence,
    /// The camera's picture now, fetched from it.
    Camera,
}

/// An approval.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    #[serde(default)]
    pub source: Source,
    /// The camera's night picture (kept beside the day one).
    #[serde(default)]
    pub night: bool,
    /// Approve even though the picture reads as faulty judged alone: that is the scene.
    #[serde(default)]
    pub force: bool,
}

/// What was approved.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    pub code: String,
    pub night: bool,
    pub bytes: usize,
    /// The faults the picture reads as judged alone (only with `force`).
    pub reads_alone_as: Vec<String>,
}

fn jpeg(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response()
}

fn pictures(st: &AppState) -> Result<&Pictures, ApiError> {
    st.pictures
        .as_deref()
        .ok_or_else(|| ApiError::new(Code::Unavailable, "no baseline directory is configured"))
}

/// The latest evidence frame of a camera: the picture its current (or last) picture fault was
/// found in. Its time and cause are in `GET /devices/{code}` (`evidence`).
#[utoipa::path(
    get, path = "/api/v1/devices/{code}/evidence", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code")),
    responses(
        (status = 200, description = "The frame", content_type = "image/jpeg", body = Vec<u8>),
        (status = 400, description = "Not a device code", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
        (status = 404, description = "No such device in the caller's scope, or no evidence", body = ApiError),
    )
)]
pub async fn evidence(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::ReadStatus)?;
    let d = visible_device(&st, &caller, Action::ReadStatus, &code, "code").await?;
    let ev = st
        .monitor
        .device(&d.code)
        .and_then(|l| l.evidence)
        .ok_or_else(|| ApiError::not_found(format!("device {}: no evidence frame", d.code)))?;
    Ok(jpeg(ev.jpeg.to_vec()))
}

/// A camera's approved baseline picture (day, or night with `night=true`).
#[utoipa::path(
    get, path = "/api/v1/devices/{code}/baseline", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code"), BaselineQuery),
    responses(
        (status = 200, description = "The picture", content_type = "image/jpeg", body = Vec<u8>),
        (status = 400, description = "Not a device code, or a bad parameter", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
        (status = 404, description = "No such device in the caller's scope, or no baseline", body = ApiError),
        (status = 503, description = "No baseline directory is configured", body = ApiError),
    )
)]
pub async fn baseline(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Params(q): Params<BaselineQuery>,
) -> Result<Response, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::ReadStatus)?;
    let d = visible_device(&st, &caller, Action::ReadStatus, &code, "code").await?;
    let night = q.night.unwrap_or(false);
    let p = pictures(&st)?
        .dir
        .join(baselines::file_name(&d.code, night));
    match tokio::fs::read(&p).await {
        Ok(b) => Ok(jpeg(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(format!(
            "device {}: no approved {} baseline",
            d.code,
            if night { "night" } else { "day" }
        ))),
        Err(e) => Err(ApiError::internal(&format!("{}: {e}", p.display()))),
    }
}

/// Approves the camera's evidence frame, or its picture now, as its baseline.
#[utoipa::path(
    post, path = "/api/v1/devices/{code}/baseline", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code")),
    request_body = Approve,
    responses(
        (status = 200, description = "Approved; the monitor judges the next sample against it", body = Approved),
        (status = 400, description = "A bad body, or the picture is not a readable JPEG", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not approve baselines", body = ApiError),
        (status = 404, description = "No such device in the caller's scope, or no evidence frame", body = ApiError),
        (status = 409, description = "The picture reads as faulty judged alone (send force)", body = ApiError),
        (status = 503, description = "No baseline directory, or the camera gave no picture", body = ApiError),
    )
)]
pub async fn approve(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Body(a): Body<Approve>,
) -> Result<Json<Approved>, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::WriteBaselines)?;
    let d = visible_device(&st, &caller, Action::WriteBaselines, &code, "code").await?;
    let pics = pictures(&st)?;
    if d.kind.is_parent() {
        return Err(ApiError::invalid(
            "code",
            format!(
                "device {}: an NVR or platform has no picture of its own",
                d.code
            ),
        ));
    }
    let jpeg = match a.source {
        Source::Evidence => st
            .monitor
            .device(&d.code)
            .and_then(|l| l.evidence)
            .ok_or_else(|| ApiError::not_found(format!("device {}: no evidence frame", d.code)))?
            .jpeg
            .to_vec(),
        Source::Camera => {
            let parent = match d.parent {
                Some(p) => st.store.get_device(&p).await?,
                None => None,
            };
            baselines::fetch_current(&d, parent.as_ref())
                .await
                .map_err(|e| {
                    ApiError::new(
                        Code::Unavailable,
                        crate::input::bounded(&format!("device {}: {e}", d.code)),
                    )
                    .with_field("source")
                })?
        }
    };
    let faults = baselines::judge(&jpeg, &pics.thresholds)
        .map_err(|e| ApiError::invalid("source", format!("device {}: {e}", d.code)))?;
    if !faults.is_empty() && !a.force {
        let kinds: Vec<&str> = faults.iter().map(|f| f.kind.as_str()).collect();
        return Err(ApiError::new(
            Code::Conflict,
            format!(
                "device {}: the picture reads as {} judged alone; approve with force if that is the scene",
                d.code,
                kinds.join(", ")
            ),
        )
        .with_field("force"));
    }
    let approver = Approver {
        store: &st.store,
        dir: pics.dir.clone(),
        thresholds: &pics.thresholds,
        actor: caller.audit_name(),
        night: a.night,
    };
    approver
        .write(&d.code, &jpeg, &faults, None)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    baselines::reload(&st.monitor, &pics.dir, &d.code);
    Ok(Json(Approved {
        code: d.code.to_string(),
        night: a.night,
        bytes: jpeg.len(),
        reads_alone_as: faults.iter().map(|f| f.kind.as_str().to_string()).collect(),
    }))
}
