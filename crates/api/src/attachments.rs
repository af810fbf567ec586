//! Files on a work order: the contractor's site photos before and after the repair, a report
//! as PDF. Listed, uploaded and downloaded through the desk and the store, like every other
//! change to an order.
//!
//! Invariants:
//! - Reading needs `read_work_orders`, uploading `note_work_order`, and the order visible to
//!   the caller (else 404, as for an order that does not exist), checked on the order as it is
//!   when the file is stored.
//! - Only JPEG, PNG and PDF are taken, and only when the bytes are what the type says (their
//!   magic numbers): a file is served back with its stored type, `nosniff` and as a download,
//!   so an upload can never run in a browser as a page.
//! - An upload is at most [`UPLOAD_LIMIT`] bytes (a phone photo), refused with `413` beyond.
//!
//! Must not: change an order's state (an attachment is an event, not a transition).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::Action;
use camwatch_store::workorders::Attachment;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Params, Upload, parse};
use crate::workorders::order_for;

/// The largest file taken.
pub const UPLOAD_LIMIT: usize = 8 << 20;

/// An attachment's description.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub name: String,
    /// `image/jpeg`, `image/png` or `application/pdf`.
    pub media_type: String,
    pub size: i64,
}

impl From<&Attachment> for AttachmentView {
    fn from(a: &Attachment) -> Self {
        Self {
            id: a.id,
            at: a.at,
            actor: a.actor.clone(),
            name: a.name.clone(),
            media_type: a.media_type.clone(),
            size: a.size,
        }
    }
}

/// The upload's file name.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name as the user knows it (≤ 100 characters; no path).
    pub name: String,
}

/// The media types taken, and the bytes each must start with.
const TYPES: [(&str, &[u8]); 3] = [
    ("image/jpeg", b"\xFF\xD8\xFF"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("application/pdf", b"%PDF-"),
];

/// The files on a work order, oldest first.
#[utoipa::path(
    get, path = "/api/v1/work-orders/{id}/attachments", tag = "work-orders",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The files", body = Vec<AttachmentView>),
        (status = 400, description = "Not an id", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read work orders", body = ApiError),
        (status = 404, description = "No such order in the caller's scope", body = ApiError),
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<AttachmentView>>, ApiError> {
    let Path(id) = path?;
    caller.principal.require(Action::ReadWorkOrders)?;
    let o = order_for(&st, &caller, Action::ReadWorkOrders, &id).await?;
    let all = st.store.work_order_attachments(o.id).await?;
    Ok(Json(all.iter().map(Into::into).collect()))
}

/// Attaches a file (the request body) to a work order.
#[utoipa::path(
    post, path = "/api/v1/work-orders/{id}/attachments", tag = "work-orders",
    params(("id" = String, Path, description = "The order's id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A JPEG, PNG or PDF; Content-Type names which"),
    responses(
        (status = 201, description = "Attached", body = AttachmentView),
        (status = 400, description = "A bad name, type, or bytes that are not of the type", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not add to orders (or no CSRF token)", body = ApiError),
        (status = 404, description = "No such order in the caller's scope", body = ApiError),
        (status = 413, description = "Larger than 8 MiB", body = ApiError),
    )
)]
pub async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Params(q): Params<UploadQuery>,
    headers: HeaderMap,
    Upload(bytes): Upload,
) -> Result<(StatusCode, Json<AttachmentView>), ApiError> {
    let Path(id) = path?;
    caller.principal.require(Action::NoteWorkOrder)?;
    let o = order_for(&st, &caller, Action::NoteWorkOrder, &id).await?;
    let name = q.name.trim();
    if name.is_empty()
        || name.chars().count() > 100
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "name",
            "name: 1–100 characters, no path and no control characters",
        ));
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let Some((media_type, magic)) = TYPES.iter().find(|(t, _)| *t == declared) else {
        return Err(ApiError::invalid(
            "content-type",
            "content-type: image/jpeg, image/png or application/pdf",
        ));
    };
    if !bytes.starts_with(magic) {
        return Err(ApiError::invalid(
            "body",
            format!("body: not a {media_type} file"),
        ));
    }
    let now = st.now();
    let aid = st
        .desk
        .attach(o.id, now, &caller.audit_name(), name, media_type, &bytes)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AttachmentView {
            id: aid,
            at: now,
            actor: caller.audit_name(),
            name: name.to_string(),
            media_type: media_type.to_string(),
            size: bytes.len() as i64,
        }),
    ))
}

/// One file of a work order, as a download.
#[utoipa::path(
    get, path = "/api/v1/work-orders/{id}/attachments/{attachment}", tag = "work-orders",
    params(
        ("id" = String, Path, description = "The order's id"),
        ("attachment" = String, Path, description = "The attachment's id"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not an id", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read work orders", body = ApiError),
        (status = 404, description = "No such order in the caller's scope, or no such file on it", body = ApiError),
    )
)]
pub async fn download(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, aid)) = path?;
    caller.principal.require(Action::ReadWorkOrders)?;
    let o = order_for(&st, &caller, Action::ReadWorkOrders, &id).await?;
    let aid: i64 = parse("attachment", &aid)?;
    let missing = || {
        ApiError::not_found(format!("work order {}: no attachment {aid}", o.id))
            .with_field("attachment")
    };
    let all = st.store.work_order_attachments(o.id).await?;
    let a = all.iter().find(|a| a.id == aid).ok_or_else(missing)?;
    let bytes = st
        .store
        .work_order_attachment_bytes(a.id)
        .await?
        .ok_or_else(missing)?;
    // Only the types taken are served as themselves; anything else stored is a download of bytes.
    let media_type = TYPES
        .iter()
        .map(|(t, _)| *t)
        .find(|t| *t == a.media_type)
        .unwrap_or("application/octet-stream");
    Ok((
        [
            (header::CONTENT_TYPE, media_type.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"attachment-{}\"", a.id),
            ),
        ],
        bytes,
    )
        .into_response())
}
