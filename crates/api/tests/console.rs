//! The web console through the real router: its page and policy at `/`, API paths still JSON,
//! `GET /api/v1/console`, and the map's points by role and region scope.

mod common;

use common::*;

use camwatch_core::registry::{Device, DeviceCode};

/// Gives every test device a position (before the first list read builds the register copy).
async fn place_devices(e: &Env) {
    let mut all: Vec<Device> = Vec::new();
    for (i, code) in [A1, A2, B1, B2].iter().enumerate() {
        let code: DeviceCode = code.parse().unwrap();
        let mut d = e.store.get_device(&code).await.unwrap().unwrap();
        if i != 1 {
            d.longitude = Some(117.2 + i as f64 / 100.0);
            d.latitude = Some(31.8);
        }
        all.push(d);
    }
    e.store.upsert_devices(&all).await.unwrap();
}

fn codes(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = r.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn map_points_follow_the_scope_and_the_filters() {
    let e = env().await;
    place_devices(&e).await;
    let doc = e.openapi().await;
    // A2 has no position: counted, not drawn.
    let cases = [
        ("admin1", vec![A1, B1, B2], 1),
        ("shushan", vec![A1], 1),
        ("alpha", vec![A1, B2], 1),
        ("beta", vec![B1], 0),
        ("audit", vec![A1, B1, B2], 1),
    ];
    for (who, want, without) in cases {
        let auth = e.login(who).await;
        let r = e.get("/map/points", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        conforms(&doc, "MapPoints", &r.body);
        let mut want = want;
        want.sort();
        assert_eq!(codes(&r), want, "{who}");
        assert_eq!(r.body["without_position"], without, "{who}");
        let n = want.len();
        for col in ["lon", "lat", "status"] {
            assert_eq!(r.body[col].as_array().unwrap().len(), n, "{who} {col}");
        }
        // Another district or status asked for gives nothing more.
        let other = e.get("/map/points?region=340103", &auth).await;
        for c in codes(&other) {
            assert!(want.contains(&c.as_str()), "{who} saw {c}");
        }
    }
    let admin = e.login("admin1").await;
    // A1 is offline (2), B1 online (0).
    let r = e.get("/map/points?status=offline", &admin).await;
    assert_eq!(codes(&r), [A1]);
    assert_eq!(r.body["status"], serde_json::json!([2]));
    let r = e.get("/map/points?status=broken", &admin).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("status")));
    let r = e.get("/map/points?limit=5", &admin).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = e.get("/map/points", &Auth::None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_console_is_served_at_the_root_and_api_paths_stay_json() {
    let e = env().await;
    let page = e.http.get(format!("{}/", e.root)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("js/app.js"), "{html}");
    let missing = e
        .http
        .get(format!("{}/api/v1/nothing-here", e.root))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    // The settings: the example contract's threshold, no tiles.
    let auth = e.login("audit").await;
    let doc = e.openapi().await;
    let r = e.get("/console", &auth).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "ConsoleSettings", &r.body);
    assert_eq!(r.body["contract"]["online_threshold_percent"], "98");
    assert_eq!(r.body["map"]["tiles"], "");
    assert_eq!(r.body["map"]["register_crs"], "wgs84");
    assert_eq!(e.get("/console", &Auth::None).await.status, 401);
}
