//! The audit log, for admins and auditors: who changed what and when, newest first, filtered
//! by actor, action (or a dotted prefix such as `device.`) and target, paged by entry id.
//!
//! Scope: a whole-fleet user sees every entry. A scoped user sees only entries about a device
//! inside the scope (the target is a device code the caller may read); entries about users,
//! tokens, files or other regions are not theirs to read. Filtering happens after the store's
//! page, so a scoped page may be short: reading goes on (bounded by [`MAX_SCAN`] entries) until
//! the page is full or the log ends, and `next` says where to go on.
//!
//! Must not: show an entry outside the caller's scope, or anything a detail never holds
//! (secrets are never written into the log).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_core::registry::DeviceCode;
use camwatch_store::AuditQuery;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, parse};

/// Entries per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u64 = 100;
/// The most entries per page.
pub const MAX_LIMIT: u64 = 500;
/// The most entries one request reads for a scoped caller.
pub const MAX_SCAN: u64 = 20_000;

/// The audit log's filters and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Exact actor: a user name (with ` (token N)` when through a token), `cli:<os user>`, `system`.
    pub actor: Option<String>,
    /// An action, or a prefix ending in `.` (`device.`, `workorder.`, `user.`).
    pub action: Option<String>,
    /// Exact target: a device code, a work-order id, a user name, a file name.
    pub target: Option<String>,
    /// The previous page's `next`.
    pub before: Option<String>,
    /// 1–500 (default 100).
    pub limit: Option<String>,
}

/// One entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRow {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The entry's details (JSON as stored; never a secret).
    pub detail: serde_json::Value,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    /// Pass as `before` for the next page; `null` at the log's start.
    pub next: Option<String>,
}

fn bounded_text(field: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(t) if t.chars().count() > 200 => Err(ApiError::invalid(
            field,
            format!("{field}: at most 200 characters"),
        )),
        Some(t) if t.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "A bad filter, cursor or limit", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read the audit log", body = ApiError),
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadAuditLog)?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("limit: expected 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    let before: Option<i64> = q
        .before
        .as_deref()
        .map(|b| parse("before", b))
        .transpose()?;
    let mut query = AuditQuery {
        before,
        actor: bounded_text("actor", q.actor)?,
        action: bounded_text("action", q.action)?,
        target: bounded_text("target", q.target)?,
        limit: limit + 1,
    };
    let whole = p.scope.is_unrestricted();
    let register = if whole {
        None
    } else {
        Some(st.register.rows(st.store.as_ref()).await?)
    };
    // A scoped caller reads entries about devices it may read.
    let visible = |target: &str| -> bool {
        let Some(rows) = &register else { return true };
        let Ok(code) = target.parse::<DeviceCode>() else {
            return false;
        };
        crate::devices::index::find(rows, &code).is_some_and(|d| {
            p.may_on_device(Action::ReadAuditLog, &d.region, d.maintainer.as_deref())
        })
    };
    let mut items: Vec<AuditRow> = Vec::new();
    let mut scanned = 0u64;
    // Where the next page starts, when there is one.
    let mut next: Option<i64> = None;
    loop {
        let page = st.store.audit_page(&query).await?;
        let ended = (page.len() as u64) < query.limit;
        scanned += page.len() as u64;
        for (id, e) in page {
            query.before = Some(id);
            if !visible(&e.target) {
                continue;
            }
            if items.len() as u64 == limit {
                next = items.last().map(|r| r.id);
                break;
            }
            items.push(AuditRow {
                id,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: serde_json::from_str(&e.detail)
                    .unwrap_or(serde_json::Value::String(e.detail)),
            });
        }
        if next.is_some() || ended {
            break;
        }
        if scanned >= MAX_SCAN {
            // Not ended: the caller goes on after the last entry read.
            next = query.before;
            break;
        }
    }
    Ok(Json(AuditPage {
        items,
        next: next.map(|id| id.to_string()),
    }))
}
