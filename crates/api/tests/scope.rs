//! Role and region boundaries on every endpoint, the device list's filters and pages, the
//! fleet summary, work orders and their actions, hostile input, and the OpenAPI document.

mod common;

use common::*;
use serde_json::{Value, json};

fn codes(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_device_list_is_scoped_by_region_and_maintainer() {
    let e = env().await;
    let doc = e.openapi().await;
    let cases = [
        ("admin1", vec![A2, A1, B1, B2]),
        ("op", vec![A2, A1, B1, B2]),
        ("shushan", vec![A2, A1]),
        ("alpha", vec![A2, A1, B2]),
        ("beta", vec![B1]),
        ("audit", vec![A2, A1, B1, B2]),
    ];
    for (who, want) in cases {
        let auth = e.login(who).await;
        let r = e.get("/devices?sort=code", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        conforms(&doc, "DevicePage", &r.body);
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(codes(&r), want, "{who}");
        // Asking for another's region or maintainer gives nothing more.
        let other = e.get("/devices?region=340103", &auth).await;
        for c in codes(&other) {
            assert!(want.contains(&c), "{who} saw {c}");
        }
        let other = e.get("/devices?maintainer=BetaCo", &auth).await;
        for c in codes(&other) {
            assert!(want.contains(&c), "{who} saw {c}");
        }
    }
}

#[tokio::test]
async fn a_device_outside_the_scope_reads_as_missing() {
    let e = env().await;
    let doc = e.openapi().await;
    let admin = e.login("admin1").await;
    let r = e.get(&format!("/devices/{A1}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "DeviceDetail", &r.body);
    assert_eq!(r.body["status"], "offline");
    assert_eq!(r.body["recent"][0]["failure"], "connect_timeout");
    assert_eq!(r.body["recent"][0]["steps"][0]["step"], "connect");
    assert!(r.body["device"].get("password").is_none());
    let missing = e.get(&format!("/devices/{NOBODY}"), &admin).await;
    assert_eq!(missing.status, 404);
    conforms(&doc, "ApiError", &missing.body);
    for (who, hidden) in [("shushan", B1), ("alpha", B1), ("beta", A1)] {
        let auth = e.login(who).await;
        let r = e.get(&format!("/devices/{hidden}"), &auth).await;
        assert_eq!(r.status, 404, "{who} {hidden}: {}", r.body);
        assert_eq!(r.body["code"], "not_found");
        assert_eq!(r.body["field"], "code");
    }
    let shushan = e.login("shushan").await;
    assert_eq!(e.get(&format!("/devices/{A1}"), &shushan).await.status, 200);
    let bad = e.get("/devices/12345", &admin).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["field"], "code");
    conforms(&doc, "ApiError", &bad.body);
}

#[tokio::test]
async fn filters_sort_and_cursor_pages() {
    let e = env().await;
    let op = e.login("op").await;
    let off = e.get("/devices?status=offline", &op).await;
    assert_eq!(codes(&off), vec![A1]);
    let text = e.get("/devices?q=%E9%95%BF%E6%B1%9F", &op).await; // 长江
    assert_eq!(codes(&text), vec![A1]);
    let by_code = e.get(&format!("/devices?q={}", &B2[14..]), &op).await;
    assert_eq!(codes(&by_code), vec![B2]);
    let region = e
        .get("/devices?region=340103&maintainer=AlphaCo", &op)
        .await;
    assert_eq!(codes(&region), vec![B2]);
    let worst = e.get("/devices?sort=status", &op).await;
    assert_eq!(codes(&worst)[0], A1);
    assert_eq!(*codes(&worst).last().unwrap(), B1);
    // One row a page walks the whole list once, in order.
    for sort in ["code", "name", "status", "since"] {
        let all = codes(&e.get(&format!("/devices?sort={sort}"), &op).await);
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/devices?sort={sort}&limit=1"),
                Some(c) => format!("/devices?sort={sort}&limit=1&cursor={c}"),
            };
            let r = e.get(&path, &op).await;
            assert_eq!(r.status, 200, "{}", r.body);
            walked.extend(codes(&r));
            match r.body["next"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(walked.len() <= 4, "the pages do not end");
        }
        assert_eq!(walked, all, "sort {sort}");
        assert_eq!(walked.len(), 4);
    }
    for (query, field) in [
        ("status=broken", "status"),
        ("kind=toaster", "kind"),
        ("sort=colour", "sort"),
        ("region=34a1", "region"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("cursor=zz", "cursor"),
        ("colour=red", "colour"),
    ] {
        let r = e.get(&format!("/devices?{query}"), &op).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.body["code"], "invalid_argument", "{query}");
        assert_eq!(r.body["field"], field, "{query}");
    }
    // A cursor of one sort is refused by another.
    let page = e.get("/devices?sort=name&limit=1", &op).await;
    let c = page.body["next"].as_str().unwrap();
    let r = e.get(&format!("/devices?sort=code&cursor={c}"), &op).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "cursor");
}

#[tokio::test]
async fn the_fleet_summary_counts_only_what_the_caller_sees() {
    let e = env().await;
    let doc = e.openapi().await;
    for (who, points, offline, online) in [
        ("admin1", 4, 1, 1),
        ("shushan", 2, 1, 0),
        ("alpha", 3, 1, 0),
        ("beta", 1, 0, 1),
    ] {
        let auth = e.login(who).await;
        let r = e.get("/fleet/summary", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        conforms(&doc, "FleetSummary", &r.body);
        assert_eq!(r.body["total"]["points"], points, "{who}");
        assert_eq!(r.body["total"]["offline"], offline, "{who}");
        assert_eq!(r.body["total"]["online"], online, "{who}");
        let regions: Vec<&str> = r.body["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["region"].as_str().unwrap())
            .collect();
        if who == "shushan" {
            assert_eq!(regions, vec!["340104"]);
        }
        if who == "beta" {
            assert_eq!(regions, vec!["340103"]);
        }
    }
}

/// Opens an order on each of A1 (AlphaCo, 340104) and B1 (BetaCo, 340103) as the admin.
async fn two_orders(e: &Env) -> (i64, i64) {
    let admin = e.login("admin1").await;
    let doc = e.openapi().await;
    let mut ids = Vec::new();
    for d in [A1, B1] {
        let r = e
            .send(
                "POST",
                "/work-orders",
                &admin,
                json!({"devices": [d], "note": "seen"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        conforms(&doc, "OrderView", &r.body);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    (ids[0], ids[1])
}

fn ids(r: &Reply) -> Vec<i64> {
    let mut v: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn work_orders_are_scoped_for_reads_and_actions() {
    let e = env().await;
    let doc = e.openapi().await;
    let (a, b) = two_orders(&e).await;
    for (who, visible) in [
        ("admin1", vec![a, b]),
        ("audit", vec![a, b]),
        ("shushan", vec![a]),
        ("alpha", vec![a]),
        ("beta", vec![b]),
    ] {
        let auth = e.login(who).await;
        let r = e.get("/work-orders", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        conforms(&doc, "OrderPage", &r.body);
        assert_eq!(ids(&r), visible, "{who}");
        let asked = e.get("/work-orders?contractor=BetaCo", &auth).await;
        for id in ids(&asked) {
            assert!(visible.contains(&id), "{who} listed {id}");
        }
        for id in [a, b] {
            let one = e.get(&format!("/work-orders/{id}"), &auth).await;
            if visible.contains(&id) {
                assert_eq!(one.status, 200, "{who} {id}: {}", one.body);
                conforms(&doc, "OrderDetail", &one.body);
            } else {
                assert_eq!(one.status, 404, "{who} {id}");
                conforms(&doc, "ApiError", &one.body);
                // Acting on an invisible order reads as missing too, whatever the verb.
                for verb in ["accept", "repair", "note", "reopen"] {
                    let r = e
                        .send(
                            "POST",
                            &format!("/work-orders/{id}/{verb}"),
                            &auth,
                            json!({}),
                        )
                        .await;
                    assert_eq!(r.status, 404, "{who} {verb} {id}: {}", r.body);
                }
            }
        }
    }
    // A missing order and an invisible one answer alike.
    let alpha = e.login("alpha").await;
    let hidden = e.get(&format!("/work-orders/{b}"), &alpha).await;
    let missing = e.get("/work-orders/999999", &alpha).await;
    assert_eq!(hidden.status, missing.status);
    assert_eq!(hidden.body["code"], missing.body["code"]);
}

#[tokio::test]
async fn each_action_needs_its_permission() {
    let e = env().await;
    let doc = e.openapi().await;
    let (a, _b) = two_orders(&e).await;
    let admin = e.login("admin1").await;
    let before = e.get(&format!("/work-orders/{a}"), &admin).await;
    let audit = e.login("audit").await;
    // An auditor changes nothing.
    for (verb, body) in [
        ("accept", json!({})),
        ("repair", json!({})),
        ("review", json!({"approve": true})),
        ("reopen", json!({})),
        ("assign", json!({"contractor": "BetaCo"})),
        ("note", json!({"note": "x"})),
    ] {
        let r = e
            .send("POST", &format!("/work-orders/{a}/{verb}"), &audit, body)
            .await;
        assert_eq!(r.status, 403, "audit {verb}: {}", r.body);
        assert_eq!(r.body["code"], "forbidden");
    }
    let r = e
        .send("POST", "/work-orders", &audit, json!({"devices": [A2]}))
        .await;
    assert_eq!(r.status, 403);
    // A contractor may not open, assign, review or reopen.
    let alpha = e.login("alpha").await;
    let r = e
        .send("POST", "/work-orders", &alpha, json!({"devices": [A2]}))
        .await;
    assert_eq!(r.status, 403);
    for (verb, body) in [
        ("assign", json!({"contractor": "AlphaCo"})),
        ("review", json!({"approve": true})),
        ("reopen", json!({})),
    ] {
        let r = e
            .send("POST", &format!("/work-orders/{a}/{verb}"), &alpha, body)
            .await;
        assert_eq!(r.status, 403, "alpha {verb}: {}", r.body);
    }
    // Nothing changed the order so far.
    let o = e.get(&format!("/work-orders/{a}"), &admin).await;
    assert_eq!(o.body["order"]["state"], "pending");
    assert_eq!(o.body, before.body);
    // Its own contractor accepts, notes and reports the repair.
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/accept"),
            &alpha,
            json!({"note": "on my way"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "OrderView", &r.body);
    assert_eq!(r.body["state"], "accepted");
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/note"),
            &alpha,
            json!({"note": "cable cut"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/repair"),
            &alpha,
            json!({}),
        )
        .await;
    assert_eq!(r.body["state"], "repaired", "{}", r.body);
    let o = e.get(&format!("/work-orders/{a}"), &admin).await;
    let actors: Vec<&str> = o.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["actor"].as_str().unwrap())
        .collect();
    assert!(actors.contains(&"alpha"), "{actors:?}");
    // An operator reassigns: then alpha no longer sees it.
    let op = e.login("op").await;
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/assign"),
            &op,
            json!({"contractor": "BetaCo"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["contractor"], "BetaCo");
    assert_eq!(
        e.get(&format!("/work-orders/{a}"), &alpha).await.status,
        404
    );
    // A district user cannot open an order on another district's device.
    let shushan = e.login("shushan").await;
    let r = e
        .send(
            "POST",
            "/work-orders",
            &shushan,
            json!({"devices": [A2, B2]}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body["field"], "devices[1]");
    let r = e
        .send("POST", "/work-orders", &shushan, json!({"devices": [A2]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn hostile_input_gets_json_errors_naming_the_field() {
    let e = env().await;
    let doc = e.openapi().await;
    let op = e.login("op").await;
    let Auth::Session(s) = &op else {
        unreachable!()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16, Value)> = vec![
        (
            "/work-orders",
            "application/json",
            b"{\"devices\": [".to_vec(),
            400,
            json!("body"),
        ),
        (
            "/work-orders",
            "application/json",
            b"{}".to_vec(),
            400,
            json!("devices"),
        ),
        (
            "/work-orders",
            "application/json",
            br#"{"devices": "x"}"#.to_vec(),
            400,
            json!("devices"),
        ),
        (
            "/work-orders",
            "application/json",
            br#"{"devices": [], "evil": 1}"#.to_vec(),
            400,
            json!("evil"),
        ),
        (
            "/work-orders",
            "application/json",
            br#"{"devices": ["1234"]}"#.to_vec(),
            400,
            json!("devices[0]"),
        ),
        (
            "/work-orders",
            "application/json",
            br#"{"devices": ["<script>"]}"#.to_vec(),
            400,
            json!("devices[0]"),
        ),
        (
            "/work-orders",
            "text/plain",
            b"devices".to_vec(),
            400,
            json!("content-type"),
        ),
        (
            "/work-orders/abc/accept",
            "application/json",
            b"{}".to_vec(),
            400,
            json!("id"),
        ),
        (
            "/work-orders/1/explode",
            "application/json",
            b"{}".to_vec(),
            400,
            json!("action"),
        ),
        (
            "/session",
            "application/json",
            br#"{"name": "op"}"#.to_vec(),
            400,
            json!("password"),
        ),
    ];
    for (path, ct, body, status, field) in cases {
        let r = e
            .raw(
                "POST",
                path,
                &Auth::Session(s.clone()),
                Some((ct, body.clone())),
                &[],
            )
            .await;
        assert_eq!(
            r.status,
            status,
            "{path} {}: {}",
            String::from_utf8_lossy(&body),
            r.body
        );
        assert_eq!(r.body["field"], field, "{path}: {}", r.body);
        conforms(&doc, "ApiError", &r.body);
    }
    // A huge body is cut off by the limit, not read.
    let huge = format!(
        r#"{{"devices": ["{A1}"], "note": "{}"}}"#,
        "x".repeat(200_000)
    );
    let r = e
        .raw(
            "POST",
            "/work-orders",
            &op,
            Some(("application/json", huge.into_bytes())),
            &[],
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["code"], "payload_too_large");
    // Over-long text within the limit is refused with its field.
    let long = json!({"devices": [A1], "note": "x".repeat(600)});
    let r = e.send("POST", "/work-orders", &op, long).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "note");
    let r = e
        .send("POST", "/work-orders/1/review", &op, json!({"note": "x"}))
        .await;
    assert_eq!(r.status, 404, "no order 1 yet: {}", r.body);
    // A path segment that is not text, and a method a path does not have.
    let r = e.get("/devices/%FF%FE", &op).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "path");
    let r = e.send("PUT", "/devices", &op, json!({})).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["code"], "method_not_allowed");
    // An unknown endpoint is a JSON 404 too.
    let r = e.get("/nothing/here", &op).await;
    assert_eq!(r.status, 404);
    conforms(&doc, "ApiError", &r.body);
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint_and_the_explorer_is_served() {
    let e = env().await;
    let doc = e.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for (p, methods) in [
        ("/api/v1/session", vec!["post", "delete"]),
        ("/api/v1/me", vec!["get"]),
        ("/api/v1/me/password", vec!["post"]),
        ("/api/v1/devices", vec!["get"]),
        ("/api/v1/devices/{code}", vec!["get"]),
        ("/api/v1/fleet/summary", vec!["get"]),
        ("/api/v1/work-orders", vec!["get", "post"]),
        ("/api/v1/work-orders/{id}", vec!["get"]),
        ("/api/v1/work-orders/{id}/{action}", vec!["post"]),
    ] {
        for m in methods {
            assert!(paths[p].get(m).is_some(), "{m} {p} is not documented");
        }
    }
    let ui = e
        .http
        .get(format!("{}/docs/", e.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger"), "not the explorer");
}

#[tokio::test]
async fn work_order_pages_skip_what_the_caller_may_not_see() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let mut opened = Vec::new();
    for d in [A1, B1, A2, B2] {
        let r = e
            .send("POST", "/work-orders", &admin, json!({"devices": [d]}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        opened.push(r.body["id"].as_i64().unwrap());
    }
    // AlphaCo maintains A1, A2 and B2: newest first, one a page, each once.
    let mut want = vec![opened[0], opened[2], opened[3]];
    want.reverse();
    let alpha = e.login("alpha").await;
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/work-orders?limit=1".to_string(),
            Some(c) => format!("/work-orders?limit=1&cursor={c}"),
        };
        let r = e.get(&path, &alpha).await;
        assert_eq!(r.status, 200, "{}", r.body);
        walked.extend(
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap()),
        );
        match r.body["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(walked.len() <= 3, "the pages do not end");
    }
    assert_eq!(walked, want);
    // The district user's filter for another district adds nothing.
    let shushan = e.login("shushan").await;
    let r = e.get("/work-orders?region=340103", &shushan).await;
    assert_eq!(ids(&r), Vec::<i64>::new());
    let r = e
        .get("/work-orders?state=pending&open=true", &shushan)
        .await;
    assert_eq!(ids(&r), vec![opened[0], opened[2]]);
    for (query, field) in [
        ("state=lost", "state"),
        ("open=maybe", "open"),
        ("cursor=abc", "cursor"),
        ("limit=201", "limit"),
    ] {
        let r = e.get(&format!("/work-orders?{query}"), &shushan).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(r.body["field"], field, "{query}");
    }
}

#[tokio::test]
async fn the_video_team_cancels_an_order_with_a_reason_and_a_contractor_cannot() {
    let e = env().await;
    let (a, b) = two_orders(&e).await;
    let alpha = e.login("alpha").await;
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/cancel"),
            &alpha,
            json!({"note": "not ours"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let op = e.login("op").await;
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/cancel"),
            &op,
            json!({"note": " "}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "note");
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{a}/cancel"),
            &op,
            json!({"note": "误报: 施工遮挡, 已报备"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "closed", "{}", r.body);
    assert_eq!(r.body["resolution"], "cancelled", "{}", r.body);
    // A district operator cannot take back another district's order: it reads as missing.
    let shushan = e.login("shushan").await;
    let r = e
        .send(
            "POST",
            &format!("/work-orders/{b}/cancel"),
            &shushan,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

/// Every (method, path) of the served OpenAPI document, with its path parameters filled in.
fn every_endpoint(doc: &Value, code: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_some() {
                let p = path
                    .trim_start_matches("/api/v1")
                    .replace("{code}", code)
                    .replace("{id}", "1")
                    .replace("{action}", "accept")
                    .replace("{name}", "op");
                v.push((method.to_uppercase(), p));
            }
        }
    }
    v
}

/// Walks the generated document, so an endpoint added later is covered without editing this
/// test: nobody signed in is refused everywhere but login and the operations probes; an
/// auditor changes nothing anywhere; a contractor reads nothing of another's device.
#[tokio::test]
async fn every_documented_endpoint_holds_the_boundaries() {
    let e = env().await;
    let doc = e.openapi().await;
    let all = every_endpoint(&doc, B1);
    assert!(all.len() >= 30, "{} endpoints", all.len());
    let root_paths = ["/healthz", "/readyz", "/metrics"];
    for (m, p) in &all {
        let at_root = root_paths.iter().any(|r| p.ends_with(r));
        if (m == "POST" && p == "/session") || (at_root && p != "/metrics") {
            continue;
        }
        let r = if at_root {
            let url = format!("{}{p}", e.root);
            e.http.get(url).send().await.unwrap().status().as_u16()
        } else if m == "GET" && p.ends_with("/events") {
            // A stream: only its status matters.
            let url = format!("{}{p}", e.base);
            e.http.get(url).send().await.unwrap().status().as_u16()
        } else {
            e.raw(
                m,
                p,
                &Auth::None,
                Some(("application/json", b"{}".to_vec())),
                &[],
            )
            .await
            .status
        };
        assert_eq!(r, 401, "{m} {p} without signing in");
    }

    let audit = e.login("audit").await;
    for (m, p) in all.iter().filter(|(m, _)| m != "GET") {
        if p == "/session" || p == "/me/password" {
            continue; // signing in and out and one's own password are an auditor's too
        }
        let r = e
            .raw(
                m,
                p,
                &audit,
                Some(("application/json", b"{}".to_vec())),
                &[],
            )
            .await;
        assert!(
            !(200..300).contains(&r.status),
            "{m} {p}: an auditor changed something ({} {})",
            r.status,
            r.body
        );
    }

    // AlphaCo asks for BetaCo's camera B1 by URL: every per-device read is a 404.
    let alpha = e.login("alpha").await;
    let per_device: Vec<_> = all
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains(B1))
        .collect();
    assert!(per_device.len() >= 4, "{per_device:?}");
    for (m, p) in per_device {
        let (status, _, body) = e.fetch(p, &alpha).await;
        assert_eq!(status, 404, "{m} {p}: {}", String::from_utf8_lossy(&body));
    }
}
