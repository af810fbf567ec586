//! The console's map: every device with coordinates that the caller may see, as compact
//! parallel columns (codes, longitudes, latitudes, status numbers). The map's settings (the
//! register's coordinate system, the tile server and its system) are `GET /api/v1/console`
//! ([`crate::console::settings`]).
//!
//! One answer carries the whole scope (the map clusters on the client), so it is made as the
//! device list is: the in-memory register ([`crate::devices::index`]) joined in one pass with
//! the monitor's live statuses, filtered by the list's own [`Selection`] — the same scope rule
//! and the same `region` / `status` filters, so the map never shows a device the list would
//! not.
//!
//! Invariants: a device outside the caller's scope is in no column; the columns have one
//! length; coordinates are passed through as the register has them (the page converts them
//! for the tiles), rounded to 6 decimals (about 0.1 m).
//!
//! Must not: read the store beyond the register index, or return anything of a device but
//! its code, position and status.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use camwatch_core::access::{Action, Principal};
use camwatch_core::history::Status;
use camwatch_monitor::LiveStatus;

use crate::AppState;
use crate::auth::Caller;
use crate::devices::DeviceQuery;
use crate::devices::index::Listed;
use crate::devices::list::Selection;
use crate::error::ApiError;
use crate::input::Params;

/// The map's filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// Civil-code prefix of the region (1–12 digits).
    pub region: Option<String>,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub status: Option<String>,
}

/// Every visible device with coordinates, as parallel columns: point `i` is `codes[i]` at
/// (`lon[i]`, `lat[i]`) with `status[i]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MapPoints {
    pub codes: Vec<String>,
    /// Longitudes in the register's system.
    pub lon: Vec<f64>,
    pub lat: Vec<f64>,
    /// 0 online, 1 degraded, 2 offline, 3 unknown.
    pub status: Vec<u8>,
    /// Visible devices left out because the register has no (or no valid) coordinates.
    pub without_position: u64,
}

/// The number a status travels as in [`MapPoints::status`].
pub fn status_number(s: Status) -> u8 {
    match s {
        Status::Online => 0,
        Status::Degraded => 1,
        Status::Offline => 2,
        Status::Unknown => 3,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The points of `rows` (sorted by code) that `sel` keeps for `p`, joined with `live` (also
/// sorted by code). Pure: the handler's whole logic.
pub fn points(p: &Principal, sel: &Selection, rows: &[Listed], live: &[LiveStatus]) -> MapPoints {
    let hits = sel.hits(p, rows, live);
    let mut out = MapPoints {
        codes: Vec::with_capacity(hits.len()),
        lon: Vec::with_capacity(hits.len()),
        lat: Vec::with_capacity(hits.len()),
        status: Vec::with_capacity(hits.len()),
        without_position: 0,
    };
    for h in hits {
        match (h.listed.longitude, h.listed.latitude) {
            (Some(lon), Some(lat))
                if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) =>
            {
                out.codes.push(h.listed.code.to_string());
                out.lon.push(round6(lon));
                out.lat.push(round6(lat));
                out.status.push(status_number(h.status));
            }
            _ => out.without_position += 1,
        }
    }
    out
}

/// Every device of the caller's scope with coordinates, for the map.
#[utoipa::path(
    get, path = "/api/v1/map/points", tag = "devices",
    params(MapQuery),
    responses(
        (status = 200, description = "The points and the map settings", body = MapPoints),
        (status = 400, description = "A bad filter", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read devices", body = ApiError),
    )
)]
pub async fn points_handler(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<MapQuery>,
) -> Result<Json<MapPoints>, ApiError> {
    let p = &caller.principal;
    p.require(Action::ReadDevices)?;
    let sel = Selection::parse(
        &DeviceQuery {
            region: q.region,
            status: q.status,
            ..Default::default()
        },
        p,
    )?;
    let rows: Arc<Vec<Listed>> = st.register.rows(st.store.as_ref()).await?;
    let live = st.monitor.statuses();
    Ok(Json(points(p, &sel, &rows, &live)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::access::{PasswordState, Role, Scope};
    use camwatch_core::registry::DeviceKind;

    fn listed(code: &str, maintainer: &str, pos: Option<(f64, f64)>) -> Listed {
        Listed {
            code: code.parse().unwrap(),
            name: code.into(),
            kind: DeviceKind::Camera,
            region: code[..6].into(),
            maintainer: Some(maintainer.into()),
            address: None,
            longitude: pos.map(|p| p.0),
            latitude: pos.map(|p| p.1),
            name_lc: code.into(),
            address_lc: String::new(),
        }
    }

    fn who(role: Role, scope: Scope) -> Principal {
        Principal {
            user_id: 1,
            name: "x".into(),
            role,
            scope,
            token: None,
            password: PasswordState::Current,
        }
    }

    #[test]
    fn points_keep_the_scope_and_skip_missing_or_bad_positions() {
        let rows = vec![
            listed("34010300001320000003", "BetaCo", Some((117.3, 31.87))),
            listed(
                "34010400001320000001",
                "AlphaCo",
                Some((117.2812345678, 31.8)),
            ),
            listed("34010400001320000002", "AlphaCo", None),
            listed("34010400001320000005", "AlphaCo", Some((200.0, 31.8))),
        ];
        let live = vec![LiveStatus {
            code: rows[1].code,
            status: Status::Offline,
            since: Some(5),
        }];
        let admin = who(Role::Admin, Scope::all());
        let q = DeviceQuery::default();
        let all = points(&admin, &Selection::parse(&q, &admin).unwrap(), &rows, &live);
        assert_eq!(all.codes, ["34010300001320000003", "34010400001320000001"]);
        assert_eq!(all.lon, [117.3, 117.281235]);
        assert_eq!(all.status, [3, 2]);
        assert_eq!(all.without_position, 2);

        let alpha = who(Role::Contractor, Scope::new([], Some("AlphaCo".into())));
        let mine = points(&alpha, &Selection::parse(&q, &alpha).unwrap(), &rows, &live);
        assert_eq!(mine.codes, ["34010400001320000001"]);
        let online = DeviceQuery {
            status: Some("online".into()),
            ..Default::default()
        };
        let none = points(
            &admin,
            &Selection::parse(&online, &admin).unwrap(),
            &rows,
            &live,
        );
        assert!(none.codes.is_empty());
    }
}
