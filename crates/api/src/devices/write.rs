//! Register writes: create and update one device from JSON, and import a register file (CSV
//! or XLSX) uploaded as the request body.
//!
//! One validation for every way a record arrives: a JSON record is a one-row table whose
//! columns are its keys (the import's column names and aliases), parsed by the same
//! `registry::import` rules and written by the same `register_import` flow as `camwatch device
//! import`, so the API accepts and refuses exactly what the CLI does, with the same words.
//!
//! Invariants:
//! - `write_devices`, and the region scope and maintainer on both sides of a write: a scoped
//!   user may neither write a device outside the scope nor move one out of it or into it from
//!   another region (the stored record is checked as well as the new one).
//! - A record without a `password` key keeps the stored password; a password is never echoed.
//! - Every write is in the audit log (action, target, counts); the device list's copy is
//!   dropped after it.
//!
//! Must not: delete a device (its status history decides money; see docs/api.md), or write
//! anything on a dry run.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::{Action, Principal};
use camwatch_core::registry::import::{ParsedRegister, RowError};
use camwatch_core::registry::table::{self, Row, Table};
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::AuditEntry;
use camwatch_store::register_import::{parse_against_store, writable, write_parsed};

use super::{DeviceRecord, record};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};
use crate::input::{Body, Params, Upload};

/// The largest register upload (the import's own file cap).
pub const UPLOAD_LIMIT: usize = camwatch_core::limits::FILE_BYTES as usize;

/// A device record as JSON: register columns by name (`code`, `name`, `civil_code`,
/// `stream_urls`, … or any alias the import accepts, e.g. `设备编码`), each a string, a number,
/// a list of strings (joined with `;`) or null. Omitted columns are empty; omit `password` to
/// keep the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
#[serde(transparent)]
pub struct RecordBody(pub Map<String, Value>);

/// One problem of one row.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowProblem {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    pub column: String,
    pub problem: String,
    /// The offending value, shortened (empty for a secret).
    pub value: String,
}

impl RowProblem {
    fn of(e: &RowError) -> Self {
        Self {
            line: e.line,
            column: e.column.clone(),
            problem: e.problem.clone(),
            value: camwatch_core::limits::shorten(&e.value, 100).into_owned(),
        }
    }
}

/// How many records an import inserted and updated.
#[derive(Debug, Serialize, ToSchema)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
}

/// What an import found and did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// `UTF-8`, `UTF-8 (BOM)`, `GB18030` or `XLSX`.
    pub encoding: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows with at least one problem (not imported).
    pub rejected_rows: u64,
    /// Every problem, by line.
    pub errors: Vec<RowProblem>,
    /// `null` when nothing was written (a dry run, a strict import with errors, no good row).
    pub written: Option<Written>,
}

/// The import's options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, for the error lines (default `upload`).
    pub name: Option<String>,
    /// `true`: check only, write nothing.
    pub dry_run: Option<String>,
    /// `true`: write nothing when any row is bad.
    pub strict: Option<String>,
}

fn flag(field: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field}: expected true or false"),
        )),
    }
}

/// The JSON record as a one-row table.
fn table_of(body: &Map<String, Value>) -> Result<Table, ApiError> {
    let mut headers = Vec::with_capacity(body.len());
    let mut cells = Vec::with_capacity(body.len());
    for (k, v) in body {
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for (i, it) in items.iter().enumerate() {
                    match it {
                        Value::String(s) => parts.push(s.clone()),
                        _ => {
                            return Err(ApiError::invalid(
                                format!("{k}[{i}]"),
                                "expected a string",
                            ));
                        }
                    }
                }
                parts.join(";")
            }
            Value::Object(_) => {
                return Err(ApiError::invalid(
                    k.clone(),
                    "expected a string, a number or a list of strings",
                ));
            }
        };
        headers.push(k.clone());
        cells.push(text);
    }
    Ok(Table {
        headers,
        rows: vec![Row {
            line: 2,
            cells,
            defect: None,
        }],
        encoding: "JSON",
    })
}

/// The parsed single record, or a 400 naming the first problem's column and listing all.
fn single(parsed: ParsedRegister) -> Result<(Device, ParsedRegister), ApiError> {
    if let Some(f) = &parsed.fatal {
        return Err(ApiError::invalid("body", f.clone()));
    }
    if let Some(first) = parsed.errors.first() {
        let all: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.column, e.problem))
            .collect();
        return Err(ApiError::invalid(first.column.clone(), all.join("; ")));
    }
    let d = parsed
        .devices
        .first()
        .cloned()
        .ok_or_else(|| ApiError::invalid("body", "no record"))?;
    Ok((d, parsed))
}

/// Refuses when `p` may not write `new`, or the stored record `old` of the same code.
fn check_scope(p: &Principal, new: &Device, old: Option<&Device>) -> Result<(), ApiError> {
    let may =
        |d: &Device| p.may_on_device(Action::WriteDevices, d.region(), d.maintainer.as_deref());
    if !may(new) || old.is_some_and(|o| !may(o)) {
        return Err(ApiError::new(
            Code::Forbidden,
            format!(
                "device {}: outside the region or maintainer this user may change",
                new.code
            ),
        )
        .with_field("code"));
    }
    Ok(())
}

async fn audit(
    st: &AppState,
    caller: &Caller,
    action: &str,
    target: &str,
    detail: Value,
) -> Result<(), ApiError> {
    st.store
        .append_audit(&AuditEntry {
            at: st.now(),
            actor: caller.audit_name(),
            action: action.into(),
            target: target.into(),
            detail: detail.to_string(),
        })
        .await?;
    Ok(())
}

/// Writes one parsed record after the scope checks; returns the stored record.
async fn write_one(
    st: &AppState,
    caller: &Caller,
    mut parsed: ParsedRegister,
    new: Device,
    old: Option<Device>,
    action: &str,
) -> Result<DeviceRecord, ApiError> {
    check_scope(&caller.principal, &new, old.as_ref())?;
    write_parsed(st.store.as_ref(), &mut parsed).await?;
    st.register.invalidate().await;
    let changed: Vec<&str> = match &old {
        None => Vec::new(),
        Some(o) => changed_fields(o, &new),
    };
    audit(
        st,
        caller,
        action,
        new.code.as_str(),
        serde_json::json!({ "name": new.name, "changed": changed }),
    )
    .await?;
    let stored = st
        .store
        .get_device(&new.code)
        .await?
        .ok_or_else(|| ApiError::internal(&"a device just written is not in the store"))?;
    Ok(record(&stored))
}

/// The register fields that differ (by name, never by value: a password is a field too).
fn changed_fields(old: &Device, new: &Device) -> Vec<&'static str> {
    let mut out = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if old.$f != new.$f {
                out.push(stringify!($f));
            }
        )*};
    }
    cmp!(
        name,
        kind,
        parent,
        ip,
        rtsp_port,
        http_port,
        stream_urls,
        onvif_url,
        snapshot_url,
        username,
        civil_code,
        police_station,
        address,
        longitude,
        latitude,
        place_type,
        build_type,
        build_date,
        vendor,
        model,
        resolution,
        maintainer,
        maintainer_contact,
        maintainer_phone,
        monthly_fee_fen,
        monthly_link_fee_fen,
        contract_from,
        contract_to,
        tags,
        extra
    );
    if old.password.as_ref().map(|p| p.expose()) != new.password.as_ref().map(|p| p.expose()) {
        out.push("password");
    }
    out
}

/// Adds a device.
#[utoipa::path(
    post, path = "/api/v1/devices", tag = "devices",
    request_body = RecordBody,
    responses(
        (status = 201, description = "The stored record", body = DeviceRecord),
        (status = 400, description = "A bad record: `field` names the first bad column, the message lists every problem", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not write devices, or the device is outside the caller's scope", body = ApiError),
        (status = 409, description = "A device with this code exists", body = ApiError),
    )
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<RecordBody>,
) -> Result<(StatusCode, Json<DeviceRecord>), ApiError> {
    caller.principal.require(Action::WriteDevices)?;
    let table = table_of(&body.0)?;
    let parsed = parse_against_store(st.store.as_ref(), &table, "request").await?;
    let (new, parsed) = single(parsed)?;
    if st.store.get_device(&new.code).await?.is_some() {
        // Another's device and a missing one would differ here: only a user who may see it
        // learns that it exists.
        check_scope(&caller.principal, &new, None)?;
        return Err(ApiError::new(
            Code::Conflict,
            format!("device {} exists: update it with PUT", new.code),
        )
        .with_field("code"));
    }
    let rec = write_one(&st, &caller, parsed, new, None, "device.create").await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

/// Replaces a device's record (omitted columns become empty; an omitted password is kept).
#[utoipa::path(
    put, path = "/api/v1/devices/{code}", tag = "devices",
    params(("code" = String, Path, description = "The 20-digit device code")),
    request_body = RecordBody,
    responses(
        (status = 200, description = "The stored record", body = DeviceRecord),
        (status = 400, description = "A bad record, or a body whose code differs from the path's", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not write devices, or the new record is outside the caller's scope", body = ApiError),
        (status = 404, description = "No such device in the caller's scope", body = ApiError),
    )
)]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    Body(body): Body<RecordBody>,
) -> Result<Json<DeviceRecord>, ApiError> {
    let Path(code) = path?;
    caller.principal.require(Action::WriteDevices)?;
    let old = super::visible_device(&st, &caller, Action::WriteDevices, &code, "code").await?;
    let mut map = body.0;
    let body_code = map
        .iter()
        .find(|(k, _)| {
            camwatch_core::registry::aliases::resolve(k)
                == Some(camwatch_core::registry::aliases::Field::Code)
        })
        .map(|(_, v)| v.clone());
    match body_code {
        None => {
            map.insert("code".into(), Value::String(old.code.to_string()));
        }
        Some(Value::String(c)) if c.trim().parse::<DeviceCode>().ok() == Some(old.code) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "code",
                "the body's code differs from the path's: a code cannot be changed",
            ));
        }
    }
    let table = table_of(&map)?;
    let parsed = parse_against_store(st.store.as_ref(), &table, "request").await?;
    let (new, parsed) = single(parsed)?;
    Ok(Json(
        write_one(&st, &caller, parsed, new, Some(old), "device.update").await?,
    ))
}

/// Imports a register file sent as the body (CSV in UTF-8 or GBK/GB18030, or XLSX): every
/// good row is upserted by code, every bad row reported by line and column.
#[utoipa::path(
    post, path = "/api/v1/devices/import", tag = "devices",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The register file (CSV or XLSX bytes)"),
    responses(
        (status = 200, description = "What was found and written", body = ImportReport),
        (status = 400, description = "Unreadable, or a required column is missing", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not write devices, or a row is outside the caller's scope (nothing written)", body = ApiError),
        (status = 413, description = "Over the upload limit", body = ApiError),
    )
)]
pub async fn import(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ImportQuery>,
    Upload(bytes): Upload,
) -> Result<Json<ImportReport>, ApiError> {
    let p = &caller.principal;
    p.require(Action::WriteDevices)?;
    let dry_run = flag("dry_run", q.dry_run.as_deref())?;
    let strict = flag("strict", q.strict.as_deref())?;
    let name = match q.name.as_deref().map(str::trim) {
        None | Some("") => "upload".to_string(),
        Some(n) if n.chars().count() > 200 => {
            return Err(ApiError::invalid("name", "name: at most 200 characters"));
        }
        Some(n) => n.chars().filter(|c| !c.is_control()).collect(),
    };
    let table =
        table::read_bytes(&bytes, &name).map_err(|e| ApiError::invalid("body", e.message()))?;
    let mut parsed = parse_against_store(st.store.as_ref(), &table, &name).await?;
    if let Some(f) = &parsed.fatal {
        return Err(ApiError::invalid("body", f.clone()));
    }
    // Scope: every new record, and every stored record it would replace.
    if !p.scope.is_unrestricted() {
        let codes: Vec<DeviceCode> = parsed.devices.iter().map(|d| d.code).collect();
        let stored = st.store.list_devices_by_codes(&codes).await?;
        for d in &parsed.devices {
            check_scope(p, d, stored.get(&d.code))?;
        }
    }
    let written = if dry_run || !writable(&parsed, strict) {
        None
    } else {
        let counts = write_parsed(st.store.as_ref(), &mut parsed).await?;
        st.register.invalidate().await;
        audit(
            &st,
            &caller,
            "device.import",
            &name,
            serde_json::json!({
                "rows": parsed.rows,
                "inserted": counts.inserted,
                "updated": counts.updated,
                "rejected_rows": parsed.rejected_rows,
            }),
        )
        .await?;
        Some(Written {
            inserted: counts.inserted,
            updated: counts.updated,
        })
    };
    Ok(Json(ImportReport {
        encoding: table.encoding.to_string(),
        rows: parsed.rows,
        rejected_rows: parsed.rejected_rows,
        errors: parsed.errors.iter().map(RowProblem::of).collect(),
        written,
    }))
}
