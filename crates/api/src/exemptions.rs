//! Exemptions: approved periods in which a device's or a region's time counts neither as
//! online nor as offline (force majeure, planned works, relocation, …). Listed for a period,
//! and added by the roles that may (`write_exemptions`: admin, operator), with who approved
//! them; every addition is in the audit log.
//!
//! Scope: a device exemption is the device's (visible and writable as the device is); a region
//! exemption is visible when it touches the caller's regions and its maintainer rule lets any
//! device through, and may be added only when the caller's scope covers the whole prefix (a
//! district user cannot exempt the city). The same rules as the rest of the API: what the
//! caller may not see is absent.
//!
//! Must not: add an exemption without who approved it, or for a device not in the register.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::{Action, Principal};
use camwatch_core::history::{Exemption, ExemptionReason, ExemptionScope};
use camwatch_core::registry::DeviceCode;
use camwatch_store::AuditEntry;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::input::{Body, Params, instant, parse, period};

/// The longest period one list may ask for.
pub const MAX_DAYS: i64 = 400;

/// The list's period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExemptionQuery {
    /// RFC 3339 instant (default: 31 days before `to`).
    pub from: Option<String>,
    /// RFC 3339 instant (default: now).
    pub to: Option<String>,
}

/// An exemption.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExemptionRow {
    pub id: i64,
    /// A device code, when it covers one device.
    pub device: Option<String>,
    /// A civil-code prefix, when it covers a region.
    pub region: Option<String>,
    /// `force_majeure`, `planned_works`, `relocation`, `demolition`, `third_party`, `other`.
    pub reason: String,
    /// Unix seconds, start inclusive, end exclusive.
    pub from: i64,
    pub to: i64,
    pub note: String,
    pub approved_by: String,
}

/// Exemptions overlapping the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExemptionList {
    pub items: Vec<ExemptionRow>,
}

/// A new exemption: exactly one of `device` and `region`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExemption {
    /// The 20-digit code of the one device it covers.
    pub device: Option<String>,
    /// The civil-code prefix (1–12 digits) of the region it covers.
    pub region: Option<String>,
    /// `force_majeure`, `planned_works`, `relocation`, `demolition`, `third_party`, `other`.
    pub reason: String,
    /// RFC 3339 start (inclusive).
    pub from: String,
    /// RFC 3339 end (exclusive).
    pub to: String,
    /// Who approved it (a name or an office).
    pub approved_by: String,
    #[serde(default)]
    pub note: String,
}

fn row(e: Exemption) -> ExemptionRow {
    let (device, region) = match e.scope {
        ExemptionScope::Device(c) => (Some(c.to_string()), None),
        ExemptionScope::RegionPrefix(p) => (None, Some(p)),
    };
    ExemptionRow {
        id: e.id,
        device,
        region,
        reason: e.reason.as_str().to_string(),
        from: e.start_at,
        to: e.end_at,
        note: e.note,
        approved_by: e.approved_by,
    }
}

/// Whether `p`'s regions and `prefix` overlap (one lies in the other).
fn touches(p: &Principal, prefix: &str) -> bool {
    let regions = p.scope.regions();
    regions.is_empty()
        || regions.iter().any(|r| {
            r.covers(prefix) || prefix.starts_with(r.as_str()) || r.as_str().starts_with(prefix)
        })
}

/// Whether `p`'s scope holds all of `prefix` (every device of it lies in the scope's regions).
fn holds(p: &Principal, prefix: &str) -> bool {
    let regions = p.scope.regions();
    regions.is_empty() || regions.iter().any(|r| prefix.starts_with(r.as_str()))
}

/// Exemptions overlapping a period, within the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/exemptions", tag = "exemptions",
    params(ExemptionQuery),
    responses(
        (status = 200, description = "The exemptions", body = ExemptionList),
        (status = 400, description = "A bad period", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read history", body = ApiError),
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ExemptionQuery>,
) -> Result<Json<ExemptionList>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadHistory)?;
    let (from, to) = period(
        q.from.as_deref(),
        q.to.as_deref(),
        st.now(),
        31 * 86_400,
        MAX_DAYS,
    )?;
    let all = st.store.exemptions_overlapping(from, to).await?;
    let register = st.register.rows(st.store.as_ref()).await?;
    let items = all
        .into_iter()
        .filter(|e| match &e.scope {
            ExemptionScope::Device(c) => {
                crate::devices::index::find(&register, c).is_some_and(|d| {
                    p.may_on_device(Action::ReadHistory, &d.region, d.maintainer.as_deref())
                })
            }
            ExemptionScope::RegionPrefix(prefix) => touches(p, prefix),
        })
        .map(row)
        .collect();
    Ok(Json(ExemptionList { items }))
}

/// Records an exemption.
#[utoipa::path(
    post, path = "/api/v1/exemptions", tag = "exemptions",
    request_body = NewExemption,
    responses(
        (status = 201, description = "The stored exemption", body = ExemptionRow),
        (status = 400, description = "A bad field", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not add exemptions, or the device or region is outside the caller's scope", body = ApiError),
        (status = 404, description = "No such device in the caller's scope", body = ApiError),
    )
)]
pub async fn add(
    State(st): State<AppState>,
    caller: Caller,
    Body(b): Body<NewExemption>,
) -> Result<(StatusCode, Json<ExemptionRow>), ApiError> {
    let p = &caller.principal;
    p.require(Action::WriteExemptions)?;
    let scope = match (b.device.as_deref(), b.region.as_deref()) {
        (Some(d), None) => {
            let code: DeviceCode = parse("device", d)?;
            crate::devices::visible_device(
                &st,
                &caller,
                Action::WriteExemptions,
                code.as_str(),
                "device",
            )
            .await?;
            ExemptionScope::Device(code)
        }
        (None, Some(r)) => {
            let r = r.trim().to_string();
            if p.scope.maintainer().is_some() || !holds(p, &r) {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!("region {r}: not wholly inside this user's scope"),
                )
                .with_field("region"));
            }
            ExemptionScope::RegionPrefix(r)
        }
        _ => {
            return Err(ApiError::invalid(
                "device",
                "give exactly one of device and region",
            ));
        }
    };
    let reason: ExemptionReason = parse("reason", &b.reason)?;
    let e = Exemption {
        id: 0,
        scope,
        reason,
        start_at: instant("from", &b.from)?,
        end_at: instant("to", &b.to)?,
        note: b.note,
        approved_by: b.approved_by.trim().to_string(),
    };
    e.check()
        .map_err(|(field, why)| ApiError::invalid(field, why))?;
    let id = st.store.add_exemption(&e).await?;
    let target = e.scope.to_string();
    st.store
        .append_audit(&AuditEntry {
            at: st.now(),
            actor: caller.audit_name(),
            action: "exemption.add".into(),
            target,
            detail: serde_json::json!({
                "id": id, "reason": e.reason.as_str(), "from": e.start_at, "to": e.end_at,
                "approved_by": e.approved_by, "note": e.note,
            })
            .to_string(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(row(Exemption { id, ..e }))))
}
