//! `/healthz`, `/readyz` and `/metrics` over a real socket: who may read them, and the
//! metrics' values for the test's known fleet (two districts, four cameras: A1 offline for a
//! refused… timed-out stream, B1 online, A2 and B2 unknown).

mod common;

use std::collections::HashMap;

use camwatch_core::access::TokenAccess;
use camwatch_core::outcome::{FailureKind, ProbeKind, ProbeOutcome};
use camwatch_monitor::scheduler::ProbeClass;
use camwatch_store::NewOutboxRow;
use common::*;
use serde_json::Value;

struct Plain {
    status: u16,
    content_type: String,
    text: String,
}

async fn get_root(e: &Env, path: &str, auth: &Auth) -> Plain {
    let mut rb = e.http.get(format!("{}{path}", e.root));
    match auth {
        Auth::None => {}
        Auth::Session(s) | Auth::CookieOnly(s) => rb = rb.header("cookie", &s.cookie),
        Auth::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
    }
    let r = rb.send().await.unwrap();
    Plain {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        text: r.text().await.unwrap(),
    }
}

fn json(p: &Plain) -> Value {
    serde_json::from_str(&p.text).unwrap_or_else(|e| panic!("{e}: {}", p.text))
}

#[tokio::test]
async fn healthz_answers_and_readyz_says_what_is_not_ready() {
    let e = env().await;
    let h = get_root(&e, "/healthz", &Auth::None).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.content_type, "application/json");
    assert_eq!(json(&h)["status"], "ok");
    // The test's monitor state has no monitor running it.
    let r = get_root(&e, "/readyz", &Auth::None).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        json(&r),
        serde_json::json!({"ready": false, "store": "ok", "monitor": "not_running"})
    );
    e.monitor.metrics().set_running(true);
    let r = get_root(&e, "/readyz", &Auth::None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        json(&r),
        serde_json::json!({"ready": true, "store": "ok", "monitor": "running"})
    );
    let doc = e.openapi().await;
    conforms(&doc, "Readiness", &json(&r));
    for p in ["/healthz", "/readyz", "/metrics"] {
        let r = e.http.post(format!("{}{p}", e.root)).send().await.unwrap();
        assert_eq!(r.status(), 405, "{p}");
        let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{p}");
    }
    for p in ["/healthz", "/readyz", "/metrics", "/api/v1/events"] {
        assert!(doc["paths"][p].is_object(), "{p} is not in the document");
    }
}

/// Samples of a Prometheus text exposition, checked line by line: every sample belongs to a
/// family declared by `# TYPE`, has well-formed labels and a number.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for kv in labels[1..labels.len() - 1].split("\",") {
                let (k, v) = kv.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(!v.contains('\n'), "{line}");
            }
        }
        let family = types.keys().find(|t| {
            name == t.as_str()
                || ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{t}{s}"))
        });
        assert!(family.is_some(), "no # TYPE for {line}");
        samples.insert(series.to_string(), value);
    }
    samples
}

#[tokio::test]
async fn metrics_need_an_unscoped_reader_unless_open() {
    let e = env().await;
    let none = get_root(&e, "/metrics", &Auth::None).await;
    assert_eq!(none.status, 401);
    assert_eq!(json(&none)["code"], "unauthenticated");
    for who in ["shushan", "alpha"] {
        let token = e.token(who, TokenAccess::ReadOnly).await;
        let r = get_root(&e, "/metrics", &Auth::Bearer(token)).await;
        assert_eq!(r.status, 403, "{who}");
        assert_eq!(json(&r)["code"], "forbidden");
    }
    for who in ["op", "audit", "admin1"] {
        let token = e.token(who, TokenAccess::ReadOnly).await;
        let r = get_root(&e, "/metrics", &Auth::Bearer(token)).await;
        assert_eq!(r.status, 200, "{who}: {}", r.text);
    }
}

#[tokio::test]
async fn open_metrics_need_no_caller() {
    let e = env_ops(false, |o| o.metrics_open = true).await;
    let r = get_root(&e, "/metrics", &Auth::None).await;
    assert_eq!(r.status, 200);
    assert!(parse(&r.text).contains_key("camwatch_monitor_running"));
}

#[tokio::test]
async fn a_scrape_has_the_fleet_the_probes_and_the_queues() {
    let e = env().await;
    let token = e.token("op", TokenAccess::ReadOnly).await;
    let auth = Auth::Bearer(token);
    let m = e.monitor.metrics();
    m.set_running(true);
    let mut up = ProbeOutcome::up(ProbeKind::Rtsp);
    up.elapsed_ms = 40.0;
    let mut down = ProbeOutcome::down(ProbeKind::Rtsp, FailureKind::ConnectionRefused, "");
    down.elapsed_ms = 3.0;
    m.probe(ProbeClass::Liveness, &up);
    m.probe(ProbeClass::Liveness, &up);
    m.probe(ProbeClass::Liveness, &down);
    m.probe(ProbeClass::Picture, &up);
    m.started(ProbeClass::Liveness, 30);
    m.started(ProbeClass::Liveness, 2_000);
    let row = |target: &str, at: i64| NewOutboxRow {
        target: target.into(),
        ordering_key: "k".into(),
        kind: "opened".into(),
        payload: "{}".into(),
        created_at: at,
    };
    // NOW, the test clock's time.
    let now: i64 = 1_796_112_000;
    e.store
        .enqueue_outbox(&[
            row("dingtalk", now - 120),
            row("dingtalk", now),
            row("sms", now),
        ])
        .await
        .unwrap();
    // One stream open, and one request that matched a route.
    let op = e.login("op").await;
    let r = e
        .http
        .get(format!("{}/events", e.base))
        .header(
            "cookie",
            match &op {
                Auth::Session(s) => s.cookie.clone(),
                _ => unreachable!(),
            },
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(e.get(&format!("/devices/{NOBODY}"), &op).await.status, 404);

    let scrape = get_root(&e, "/metrics", &auth).await;
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let s = parse(&scrape.text);
    let want = [
        (
            r#"camwatch_devices{status="offline",cause="connect_timeout"}"#,
            1.0,
        ),
        (r#"camwatch_devices{status="online",cause=""}"#, 1.0),
        (r#"camwatch_devices{status="unknown",cause=""}"#, 2.0),
        ("camwatch_monitor_running", 1.0),
        (
            r#"camwatch_probes_total{class="liveness",outcome="up"}"#,
            2.0,
        ),
        (
            r#"camwatch_probes_total{class="liveness",outcome="connection_refused"}"#,
            1.0,
        ),
        (
            r#"camwatch_probes_total{class="picture",outcome="up"}"#,
            1.0,
        ),
        (
            r#"camwatch_probe_duration_seconds_count{class="liveness"}"#,
            3.0,
        ),
        (
            r#"camwatch_probe_duration_seconds_sum{class="liveness"}"#,
            0.083,
        ),
        (
            r#"camwatch_probe_duration_seconds_bucket{class="liveness",le="0.005"}"#,
            1.0,
        ),
        (
            r#"camwatch_probe_duration_seconds_bucket{class="liveness",le="0.05"}"#,
            3.0,
        ),
        (
            r#"camwatch_scheduler_lag_seconds_count{class="liveness"}"#,
            2.0,
        ),
        (
            r#"camwatch_scheduler_lag_seconds_bucket{class="liveness",le="0.05"}"#,
            1.0,
        ),
        ("camwatch_span_writer_queue", 0.0),
        (r#"camwatch_outbox_pending{target="dingtalk"}"#, 2.0),
        (r#"camwatch_outbox_pending{target="sms"}"#, 1.0),
        ("camwatch_outbox_oldest_pending_age_seconds", 120.0),
        ("camwatch_sse_clients", 1.0),
        (
            r#"camwatch_http_requests_total{route="/api/v1/devices/{code}",method="GET",status="404"}"#,
            1.0,
        ),
    ];
    for (series, value) in want {
        let got = s
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", scrape.text));
        assert!((got - value).abs() < 1e-9, "{series} = {got}, not {value}");
    }
    // Nothing names a device or a user.
    for secret in [A1, A2, B1, B2, "op", "AlphaCo"] {
        assert!(
            !scrape.text.contains(&format!("\"{secret}\"")),
            "{secret} in a label"
        );
    }
    drop(r);
}
