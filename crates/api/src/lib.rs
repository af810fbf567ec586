//! camwatch-api: the HTTP API under `/api/v1` (axum): sessions and API tokens, the device
//! list (paged, exported) and one device with its live state, the scoped fleet summary, work orders and their
//! actions, the daily patrol ([`patrol`]), and the OpenAPI document generated from this code with an offline explorer.
//!
//! Job: turn HTTP requests into calls on the layers below — `Accounts` (who is calling),
//! `Store` (the register, work orders), `MonitorState` (live status) and `Desk` (every
//! work-order change) — and their answers into JSON.
//!
//! Invariants:
//! - Every endpoint but login and the documents needs a [`auth::Caller`]; every endpoint
//!   checks the caller's role (`Principal::require`) and filters or checks every row by its
//!   region scope and maintainer (`may_on_device`, `may_on_work_order`). A row outside the
//!   scope answers exactly as a row that does not exist (404), so scope leaks nothing.
//! - Every failure is an [`error::ApiError`]; its status comes from one function.
//! - Request bodies are bounded ([`BODY_LIMIT`]); lists are bounded pages ([`devices::list::MAX_LIMIT`]).
//!
//! Must not: write SQL or change a work order other than through `Desk`, print, or return a
//! stored secret (camera passwords never leave the store through here).
//!
//! Operations (outside `/api/v1` but `/api/v1/events`): the scoped event stream
//! ([`events`]), `/healthz` and `/readyz` ([`health`]), `/metrics` ([`metrics`]); what they
//! share is [`ops::Ops`].
//!
//! TLS from configured certificate files: [`serve_tls`] ([`tls`]).

pub mod attachments;
pub mod audit;
pub mod auth;
pub mod console;
pub mod devices;
pub mod error;
pub mod events;
pub mod exemptions;
pub mod fleet;
pub mod health;
pub mod input;
pub mod map;
pub mod metrics;
pub mod ops;
pub mod patrol;
pub mod reports;
pub mod session;
pub mod tls;
pub mod users;
pub mod workorders;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use utoipa::OpenApi;

use camwatch_access::Accounts;
use camwatch_core::clock::SharedClock;
use camwatch_monitor::MonitorState;
use camwatch_store::Store;
use camwatch_workorder::Desk;

/// The largest request body accepted (JSON bodies here are a few hundred bytes).
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler reads. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub monitor: Arc<MonitorState>,
    pub desk: Desk,
    pub clock: SharedClock,
    /// Whether the API is reached over TLS (by itself or a proxy): the cookie gets `Secure`.
    pub secure_cookie: bool,
    /// The register in memory, for the device list.
    pub register: Arc<devices::index::RegisterIndex>,
    /// The contract monthly reports are made under (`None`: none configured).
    pub reports: Option<Arc<reports::Reports>>,
    /// The event stream, metrics and shutdown signal of the operations endpoints.
    pub ops: ops::Ops,
    /// The web console's settings (`[console]`: the map's tiles and coordinate systems).
    pub console: Arc<camwatch_core::config::ConsoleConfig>,
    /// Approved baselines and the thresholds pictures are judged by (`None`: none configured).
    pub pictures: Option<Arc<devices::pictures::Pictures>>,
    /// The daily patrol's rules (`[patrol]`).
    pub patrol: Arc<camwatch_core::config::PatrolConfig>,
}

impl AppState {
    /// Now, in Unix seconds, by the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now().as_second()
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "camwatch API", description = "Health of a video-surveillance camera fleet."),
    paths(
        session::login,
        session::logout,
        session::me,
        session::change_password,
        devices::list,
        devices::export::export,
        devices::write::create,
        devices::write::update,
        devices::write::import,
        devices::timeline::timeline,
        devices::pictures::evidence,
        devices::pictures::baseline,
        devices::pictures::approve,
        audit::list,
        exemptions::list,
        exemptions::add,
        users::list,
        users::create,
        users::act,
        users::reset_password,
        users::tokens,
        users::issue,
        users::revoke,
        reports::monthly,
        patrol::today_batch,
        patrol::record,
        patrol::report,
        devices::one,
        fleet::summary,
        fleet::figures::figures,
        fleet::figures::trend,
        workorders::list,
        workorders::one,
        workorders::open,
        workorders::act,
        attachments::list,
        attachments::upload,
        attachments::download,
        events::stream,
        map::points_handler,
        console::settings,
        health::healthz,
        health::readyz,
        metrics::scrape,
    ),
    components(schemas(events::StatusEvent, events::RecordingEvent, events::Resync, events::StreamEnd, fleet::FleetSummary)),
    modifiers(&Security),
    tags(
        (name = "session", description = "Login, logout, the caller"),
        (name = "devices", description = "The register with live state"),
        (name = "fleet", description = "Fleet figures"),
        (name = "work-orders", description = "Fault work orders"),
        (name = "audit", description = "The audit log"),
        (name = "exemptions", description = "Periods that count neither as online nor as offline"),
        (name = "users", description = "Users and API tokens (admins)"),
        (name = "reports", description = "Monthly reports"),
        (name = "patrol", description = "The daily patrol (巡检): today's batch, verdicts, the month's patrol report"),
        (name = "events", description = "Server-sent events: status changes, fleet summary"),
        (name = "operations", description = "Health, readiness and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
        use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::COOKIE,
                "The session cookie from POST /api/v1/session; writes also need X-CSRF-Token.",
            ))),
        );
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        doc.security = Some(vec![
            SecurityRequirement::new("session", Vec::<String>::new()),
            SecurityRequirement::new("token", Vec::<String>::new()),
        ]);
    }
}

/// The API's routes over `state`.
pub fn router(state: AppState) -> Router {
    let counted = axum::middleware::from_fn_with_state(state.clone(), metrics::count);
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                error::Code::MethodNotAllowed,
                "this method is not allowed here",
            )
        })
        .with_state(state.clone());
    let console = console::Console::new(&state.console);
    let api = Router::new()
        .route("/events", get(events::stream))
        .route("/session", post(session::login).delete(session::logout))
        .route("/me", get(session::me))
        .route("/me/password", post(session::change_password))
        .route("/devices", get(devices::list).post(devices::write::create))
        .route("/devices/export", get(devices::export::export))
        .route(
            "/devices/import",
            post(devices::write::import).layer(DefaultBodyLimit::max(devices::write::UPLOAD_LIMIT)),
        )
        .route(
            "/devices/{code}",
            get(devices::one).put(devices::write::update),
        )
        .route("/devices/{code}/timeline", get(devices::timeline::timeline))
        .route("/devices/{code}/evidence", get(devices::pictures::evidence))
        .route(
            "/devices/{code}/baseline",
            get(devices::pictures::baseline).post(devices::pictures::approve),
        )
        .route("/fleet/summary", get(fleet::summary))
        .route("/map/points", get(map::points_handler))
        .route("/console", get(console::settings))
        .route("/fleet/figures", get(fleet::figures::figures))
        .route("/fleet/trend", get(fleet::figures::trend))
        .route("/audit", get(audit::list))
        .route("/reports/monthly", get(reports::monthly))
        .route("/patrol/today", get(patrol::today_batch))
        .route("/patrol/records", post(patrol::record))
        .route("/patrol/report", get(patrol::report))
        .route("/exemptions", get(exemptions::list).post(exemptions::add))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{name}/password", post(users::reset_password))
        .route("/users/{name}/{action}", post(users::act))
        .route("/tokens", get(users::tokens).post(users::issue))
        .route("/tokens/{id}", axum::routing::delete(users::revoke))
        .route("/work-orders", get(workorders::list).post(workorders::open))
        .route("/work-orders/{id}", get(workorders::one))
        .route(
            "/work-orders/{id}/attachments",
            get(attachments::list)
                .post(attachments::upload)
                .layer(DefaultBodyLimit::max(attachments::UPLOAD_LIMIT)),
        )
        .route(
            "/work-orders/{id}/attachments/{attachment}",
            get(attachments::download),
        )
        .route("/work-orders/{id}/{action}", post(workorders::act))
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                error::Code::MethodNotAllowed,
                "this method is not allowed here",
            )
        })
        .with_state(state);
    let docs: Router = utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs")
        .url("/api/v1/openapi.json", ApiDoc::openapi())
        .into();
    Router::new()
        .nest("/api/v1", api)
        .merge(docs)
        .merge(ops)
        // Everything else is the web console's (an unknown `/api/…` path stays a JSON 404).
        .fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap| async move {
                console.respond(&method, &uri, &headers)
            },
        )
        .layer(counted)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Serves the API on `listener` until `shutdown` completes; requests in flight finish and
/// open event streams end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(listener, state, shutdown).await
}

/// [`serve`] over TLS: connections are handed to the API once their handshake is done
/// ([`tls::TlsListener`]). Give the state `secure_cookie: true`.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on(tls::TlsListener::new(listener, acceptor)?, state, shutdown).await
}

/// One server loop for plain and TLS listeners.
async fn serve_on<L>(
    listener: L,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    tls::Peer: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let ops = state.ops.clone();
    let app = router(state).into_make_service_with_connect_info::<tls::Peer>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            ops.stop();
        })
        .await
}
