//! `/healthz` and `/readyz` over a real socket.

mod common;

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
    for p in ["/healthz", "/readyz", "/api/v1/events"] {
        assert!(doc["paths"][p].is_object(), "{p} is not in the document");
    }
}
