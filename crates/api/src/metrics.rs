//! `GET /metrics`: Prometheus text format (version 0.0.4), written with `prometheus-client`.
//!
//! What is served, and where each figure comes from (all prefixed `camwatch_`):
//! - `devices{status,cause}`: devices of the register by live status and cause family,
//!   counted from the monitor's live state at scrape time (NVRs and other parents included);
//! - `monitor_running`: 1 while the monitor runs (what `/readyz` checks);
//! - `probes_total{class,outcome}`, `probe_duration_seconds{class}`,
//!   `scheduler_lag_seconds{class}`, `span_writer_queue`: counted by the monitor where it does
//!   the work (`camwatch_monitor::metrics`);
//! - `outbox_pending{target}`, `outbox_oldest_pending_age_seconds`: the notification outbox,
//!   read from the store at scrape time (left out, with a warning in the log, when the store
//!   does not answer);
//! - `sse_clients`, `http_requests_total{route,method,status}`: counted here.
//!
//! Access: an authenticated caller whose role may read status and whose scope is the whole
//! fleet (these figures are the whole fleet's; a scoped user or token gets 403), or anyone
//! when `[api] metrics_open = true` (a scraper on a private network).
//!
//! Invariants: every label value is from a closed set or the route table (`route` is the
//! matched route pattern, `unmatched` otherwise; `method` is a standard method or `other`), so
//! no request can add a series; nothing is counted twice (families built at scrape time are
//! built from scratch each time).
//!
//! Must not: name a device, a user or an address in a label, or keep a global registry.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use camwatch_core::access::Action;
use camwatch_core::cause::Cause;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, Code};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeviceLabels {
    status: &'static str,
    /// The cause's family (`connection_refused`, `parent_down`, `picture`…); empty for none.
    cause: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

/// The API's own counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Event streams open now.
    pub(crate) sse_clients: Gauge,
    http: Family<HttpLabels, Counter>,
}

impl ApiMetrics {
    /// Event streams open now.
    pub fn sse_clients(&self) -> i64 {
        self.sse_clients.get()
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "sse_clients",
            "Event streams (GET /api/v1/events) open now",
            self.sse_clients.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            self.http.clone(),
        );
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts every request by route pattern, method and status.
pub async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = method_label(req.method());
    let res = next.run(req).await;
    st.ops
        .metrics
        .http
        .get_or_create(&HttpLabels {
            route,
            method,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// The metrics, in Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4",
         description = "Prometheus text format", body = String),
        (status = 401, description = "Not signed in (unless `[api] metrics_open`)", body = ApiError),
        (status = 403, description = "The caller is scoped, or may not read status", body = ApiError),
    )
)]
pub async fn scrape(State(st): State<AppState>, req: Request) -> Result<Response, ApiError> {
    if !st.ops.metrics_open {
        use axum::extract::FromRequestParts;
        let (mut parts, _) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, &st).await?;
        let p = &caller.principal;
        p.require(Action::ReadStatus)?;
        if !p.scope.is_whole_fleet() || p.scope.maintainer().is_some() {
            return Err(ApiError::new(
                Code::Forbidden,
                "the metrics are the whole fleet's: only a user or token without a region or \
                 maintainer scope may read them",
            ));
        }
    }
    let mut r = Registry::with_prefix("camwatch");
    let devices = Family::<DeviceLabels, Gauge>::default();
    for b in st.monitor.briefs() {
        devices
            .get_or_create(&DeviceLabels {
                status: b.status.as_str(),
                cause: b.cause.as_ref().map_or("", Cause::family),
            })
            .inc();
    }
    r.register(
        "devices",
        "Devices of the register by live status and cause family",
        devices,
    );
    let m = st.monitor.metrics();
    let running = Gauge::<i64>::default();
    running.set(i64::from(m.running()));
    r.register(
        "monitor_running",
        "1 while the monitor runs (recovered and probing)",
        running,
    );
    m.register(&mut r);
    match st.store.outbox_backlog().await {
        Ok(b) => {
            let pending = Family::<TargetLabel, Gauge>::default();
            for t in &b.by_target {
                pending
                    .get_or_create(&TargetLabel {
                        target: t.target.clone(),
                    })
                    .set(t.pending as i64);
            }
            r.register(
                "outbox_pending",
                "Notifications not delivered yet, by target",
                pending,
            );
            let age = Gauge::<i64>::default();
            age.set(b.oldest_created_at.map_or(0, |t| (st.now() - t).max(0)));
            r.register_with_unit(
                "outbox_oldest_pending_age",
                "Age of the oldest undelivered notification (0: none)",
                Unit::Seconds,
                age,
            );
        }
        Err(e) => tracing::warn!("metrics: the outbox backlog is left out: {e}"),
    }
    st.ops.metrics.register(&mut r);
    let mut text = String::new();
    prometheus_text::encode(&mut text, &r).map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        text,
    )
        .into_response())
}
