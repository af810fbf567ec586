//! The register through the API beyond reading one page: exports of the filtered list (scope,
//! formula safety, formats), creating and updating a device, and register imports (row errors,
//! dry runs, strict, encodings, XLSX, scope, roles, CSRF, audit).

mod common;

use camwatch_core::registry::{Device, DeviceCode};
use common::*;

/// The rows of a CSV export (BOM removed), header first.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a UTF-8 BOM");
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn an_export_holds_exactly_the_callers_filtered_rows() {
    let e = env().await;
    for (who, query, want) in [
        ("admin1", "", vec![A1, A2, B1, B2]),
        ("alpha", "", vec![A1, A2, B2]),
        ("beta", "", vec![B1]),
        ("shushan", "", vec![A1, A2]),
        ("audit", "&status=offline", vec![A1]),
        ("admin1", "&region=340103&sort=name", vec![B1, B2]),
        // A contractor asking for another's devices gets an empty file, not an error.
        ("alpha", "&maintainer=BetaCo", vec![]),
    ] {
        let auth = e.login(who).await;
        let (status, headers, body) = e
            .fetch(&format!("/devices/export?format=csv{query}"), &auth)
            .await;
        assert_eq!(
            status,
            200,
            "{who}{query}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        let rows = csv_rows(&body);
        let mut got: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let mut want = want.clone();
        if !query.contains("sort=name") {
            got.sort();
            want.sort();
        }
        assert_eq!(got, want, "{who}{query}");
    }
    // The offline camera's row says why and since when.
    let admin = e.login("admin1").await;
    let (_, _, body) = e.fetch("/devices/export?status=offline", &admin).await;
    let rows = csv_rows(&body);
    assert_eq!(rows[0][6], "offline");
    assert_eq!(rows[0][7], "2026-12-01T07:00:00Z");
    assert!(!rows[0][8].is_empty(), "a cause: {:?}", rows[0]);
}

#[tokio::test]
async fn text_a_user_typed_never_runs_as_a_formula() {
    let e = env().await;
    let mut d = Device::new(
        "34010400001320000077".parse::<DeviceCode>().unwrap(),
        "=HYPERLINK(\"http://x.example/\",\"南门\")",
    );
    d.address = Some("+86 551 1234".into());
    d.maintainer = Some("@SUM(A1:A9)".into());
    e.store.upsert_devices(&[d]).await.unwrap();
    let admin = e.login("admin1").await;
    let (status, _, body) = e.fetch("/devices/export?q=hyperlink", &admin).await;
    assert_eq!(status, 200);
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0][1].starts_with("'="), "{:?}", rows[0]);
    assert!(rows[0][5].starts_with("'+"), "{:?}", rows[0]);
    assert!(rows[0][4].starts_with("'@"), "{:?}", rows[0]);
}

#[tokio::test]
async fn an_xlsx_export_is_a_workbook_and_bad_formats_are_named() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let (status, headers, body) = e.fetch("/devices/export?format=xlsx", &admin).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    assert_eq!(&body[..4], b"PK\x03\x04", "a ZIP container");
    let r = e.get("/devices/export?format=pdf", &admin).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "format");
    let r = e.get("/devices/export?limit=5", &admin).await;
    assert_eq!(r.status, 400, "paging parameters are not export parameters");
    let r = e.get("/devices/export", &Auth::None).await;
    assert_eq!(r.status, 401);
}

fn csv_body(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from("code,name,civil_code,maintainer,password\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

async fn import(e: &Env, auth: &Auth, query: &str, body: Vec<u8>) -> Reply {
    e.raw(
        "POST",
        &format!("/devices/import{query}"),
        auth,
        Some(("text/csv", body)),
        &[],
    )
    .await
}

#[tokio::test]
async fn a_device_is_created_updated_and_audited_with_the_imports_rules() {
    let e = env().await;
    let doc = e.openapi().await;
    let admin = e.login("admin1").await;
    let code = "34010400001320000050";
    // Listed first, so the list holds its copy of the register: a write must drop it.
    assert_eq!(
        e.get("/devices", &admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let r = e
        .send(
            "POST",
            "/devices",
            &admin,
            serde_json::json!({
                "code": code, "设备名称": "望江路口", "civil_code": "340104",
                "maintainer": "AlphaCo", "password": "s3cret!", "longitude": 117.25,
                "stream_urls": ["rtsp://10.0.0.5/main", "rtsp://10.0.0.5/sub"],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    conforms(&doc, "DeviceRecord", &r.body);
    assert_eq!(r.body["name"], "望江路口");
    assert!(
        !r.body.to_string().contains("s3cret"),
        "a password is never echoed"
    );
    assert_eq!(
        e.get("/devices", &admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // The same code again is a conflict.
    let again = e
        .send(
            "POST",
            "/devices",
            &admin,
            serde_json::json!({"code": code, "name": "x"}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    // Bad values are refused with the import's words, naming the column.
    let bad = e
        .send(
            "POST",
            "/devices",
            &admin,
            serde_json::json!({"code": "34010400001320000051", "name": "y", "latitude": 123.0}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["field"], "latitude");
    let bad = e
        .send(
            "POST",
            "/devices",
            &admin,
            serde_json::json!({"code": "12", "name": "y"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["field"], "code");
    // An update without a password keeps the stored one; the body's code must be the path's.
    let r = e
        .send(
            "PUT",
            &format!("/devices/{code}"),
            &admin,
            serde_json::json!({"name": "望江路口 (新)", "civil_code": "340104", "maintainer": "AlphaCo"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "望江路口 (新)");
    let stored = e
        .store
        .get_device(&code.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password.unwrap().expose(), "s3cret!");
    assert!(
        stored.stream_urls.is_empty(),
        "omitted columns become empty"
    );
    let r = e
        .send(
            "PUT",
            &format!("/devices/{code}"),
            &admin,
            serde_json::json!({"code": A2, "name": "z"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "code");
    let r = e
        .send(
            "PUT",
            &format!("/devices/{NOBODY}"),
            &admin,
            serde_json::json!({"name": "z"}),
        )
        .await;
    assert_eq!(r.status, 404);
    // Both changes are in the audit log, by the user, naming the changed fields.
    let audit = e.store.recent_audit(10).await.unwrap();
    let upd = audit.iter().find(|a| a.action == "device.update").unwrap();
    assert_eq!(upd.actor, "admin1");
    assert_eq!(upd.target, code);
    assert!(
        upd.detail.contains("\"name\"") && upd.detail.contains("stream_urls"),
        "{}",
        upd.detail
    );
    assert!(!upd.detail.contains("s3cret"));
    assert!(
        audit
            .iter()
            .any(|a| a.action == "device.create" && a.target == code)
    );
}

#[tokio::test]
async fn writes_stay_inside_the_callers_role_and_scope() {
    let e = env().await;
    let shushan = e.login("shushan").await;
    // Into another district: refused.
    let r = e
        .send(
            "POST",
            "/devices",
            &shushan,
            serde_json::json!({"code": "34010300001320000060", "name": "x", "civil_code": "340103"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Another district's device reads as missing; moving one's own out of the district is
    // refused.
    let r = e
        .send(
            "PUT",
            &format!("/devices/{B1}"),
            &shushan,
            serde_json::json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = e
        .send(
            "PUT",
            &format!("/devices/{A1}"),
            &shushan,
            serde_json::json!({"name": "x", "civil_code": "340103"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Inside: allowed.
    let r = e
        .send(
            "PUT",
            &format!("/devices/{A1}"),
            &shushan,
            serde_json::json!({"name": "长江路口东 (改)", "civil_code": "340104"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An import with one row outside the scope writes nothing.
    let body = csv_body(&[
        "34010400001320000061,a,340104,AlphaCo,",
        "34010300001320000062,b,340103,AlphaCo,",
    ]);
    let r = import(&e, &shushan, "", body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        e.store
            .get_device(&"34010400001320000061".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // Roles that may not write the register.
    for who in ["alpha", "audit"] {
        let auth = e.login(who).await;
        let r = e
            .send(
                "POST",
                "/devices",
                &auth,
                serde_json::json!({"code": "34010400001320000063", "name": "x"}),
            )
            .await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
        let r = import(
            &e,
            &auth,
            "",
            csv_body(&["34010400001320000063,x,340104,AlphaCo,"]),
        )
        .await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
    }
    // A cookie without the CSRF header writes nothing.
    let Auth::Session(s) = e.login("admin1").await else {
        unreachable!()
    };
    let r = import(
        &e,
        &Auth::CookieOnly(s),
        "",
        csv_body(&["34010400001320000064,x,340104,AlphaCo,"]),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.body["code"], "csrf_required");
}

#[tokio::test]
async fn an_import_reports_every_bad_row_and_writes_the_good_ones() {
    let e = env().await;
    let doc = e.openapi().await;
    let admin = e.login("admin1").await;
    let body = csv_body(&[
        "34010400001320000070,甲,340104,AlphaCo,pw1",
        "3401040000132000007X,乙,340104,AlphaCo,",
        "34010400001320000072,丙,340104,AlphaCo,",
    ]);
    // A dry run and a strict import with a bad row write nothing.
    for q in ["?dry_run=true", "?strict=true"] {
        let r = import(&e, &admin, q, body.clone()).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        conforms(&doc, "ImportReport", &r.body);
        assert!(r.body["written"].is_null(), "{q}");
        assert_eq!(r.body["rejected_rows"], 1);
    }
    assert!(
        e.store
            .get_device(&"34010400001320000070".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let r = import(&e, &admin, "?name=%E4%B8%9C%E5%8C%BA.csv", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["rows"], 3);
    assert_eq!(r.body["written"]["inserted"], 2);
    assert_eq!(r.body["errors"][0]["line"], 3);
    assert_eq!(r.body["errors"][0]["column"], "code");
    let audit = e.store.recent_audit(5).await.unwrap();
    let a = audit.iter().find(|a| a.action == "device.import").unwrap();
    assert_eq!(a.target, "东区.csv");
    assert!(a.detail.contains("\"inserted\":2"), "{}", a.detail);
    // GBK bytes, as many platforms export them.
    let (gbk, _, _) =
        encoding_rs::GBK.encode("code,name,civil_code\n34010400001320000073,东门,340104\n");
    let r = import(&e, &admin, "", gbk.into_owned()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["encoding"], "GB18030");
    let d = e
        .store
        .get_device(&"34010400001320000073".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.name, "东门");
    // An XLSX workbook.
    let mut x = Device::new(
        "34010400001320000074".parse::<DeviceCode>().unwrap(),
        "西门",
    );
    x.civil_code = Some("340104".into());
    let xlsx = camwatch_core::registry::export::to_xlsx(&[x], false).unwrap();
    let r = e
        .raw(
            "POST",
            "/devices/import",
            &admin,
            Some(("application/octet-stream", xlsx)),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["encoding"], "XLSX");
    assert_eq!(r.body["written"]["inserted"], 1);
    // No code column: a file-level error, nothing written.
    let r = import(&e, &admin, "", b"name\nx\n".to_vec()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "body");
    // Garbage that claims to be a workbook.
    let r = import(&e, &admin, "", b"PK\x03\x04garbage".to_vec()).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn a_timeline_accounts_for_every_second_of_the_period() {
    use camwatch_core::history::{Exemption, ExemptionReason, ExemptionScope, Status};
    let e = env().await;
    let doc = e.openapi().await;
    // NOW is 2026-12-01T08:00:00Z. A1: online 00:00–05:00, offline 05:00–07:00 (refused),
    // online from 07:00 on (open); an exemption for its district 05:30–06:00.
    let base = 1_796_083_200; // 2026-12-01T00:00:00Z
    let span = |st, a: i64, b: i64, cause: Option<&str>| camwatch_core::history::StatusSpan {
        device: A1.parse().unwrap(),
        status: st,
        start_at: base + a * 3600,
        end_at: base + b * 3600,
        cause: cause.map(|c| c.parse().unwrap()),
    };
    e.store
        .insert_spans(&[
            span(Status::Online, 0, 5, None),
            span(Status::Offline, 5, 7, Some("connection_refused")),
            span(Status::Online, 7, 8, None),
        ])
        .await
        .unwrap();
    e.store
        .add_exemption(&Exemption {
            id: 0,
            scope: ExemptionScope::RegionPrefix("3401".into()),
            reason: ExemptionReason::PlannedWorks,
            start_at: base + 5 * 3600 + 1800,
            end_at: base + 6 * 3600,
            note: "光缆迁改".into(),
            approved_by: "李科长".into(),
        })
        .await
        .unwrap();
    let admin = e.login("admin1").await;
    let q = "from=2026-11-30T22:00:00Z&to=2026-12-01T08:00:00Z";
    let r = e.get(&format!("/devices/{A1}/timeline?{q}"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "Timeline", &r.body);
    let s = &r.body["seconds"];
    assert_eq!(s["online"], 6 * 3600);
    assert_eq!(s["offline"], 2 * 3600);
    assert_eq!(s["unknown"], 2 * 3600, "22:00–24:00 before any span");
    let st = r.body["stretches"].as_array().unwrap();
    assert_eq!(st.len(), 3);
    assert_eq!(st[1]["status"], "offline");
    assert_eq!(st[1]["cause"], "connection_refused");
    assert_eq!(r.body["exemptions"][0]["note"], "光缆迁改");
    // Scope, role and bad periods.
    let beta = e.login("beta").await;
    assert_eq!(
        e.get(&format!("/devices/{A1}/timeline"), &beta)
            .await
            .status,
        404
    );
    let audit = e.login("audit").await;
    assert_eq!(
        e.get(&format!("/devices/{A1}/timeline"), &audit)
            .await
            .status,
        200
    );
    for bad in [
        "from=yesterday",
        "from=2026-12-01T08:00:00Z&to=2026-12-01T07:00:00Z",
        "from=2026-01-01T00:00:00Z",
    ] {
        let r = e
            .get(&format!("/devices/{A1}/timeline?{bad}"), &admin)
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.body["field"], "from", "{bad}");
    }
}

#[tokio::test]
async fn the_audit_log_is_paged_filtered_and_scoped() {
    let e = env().await;
    let doc = e.openapi().await;
    let admin = e.login("admin1").await;
    // Three updates: two in Shushan (340104), one in Luyang (340103).
    for (code, name, civil, m) in [
        (A1, "一", "340104", "AlphaCo"),
        (B1, "二", "340103", "BetaCo"),
        (A2, "三", "340104", "AlphaCo"),
    ] {
        let r = e
            .send(
                "PUT",
                &format!("/devices/{code}"),
                &admin,
                serde_json::json!({"name": name, "civil_code": civil, "maintainer": m}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = e.get("/audit?action=device.&limit=2", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "AuditPage", &r.body);
    let targets = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["target"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(targets(&r), vec![A2, B1], "newest first");
    assert_eq!(r.body["items"][0]["actor"], "admin1");
    assert_eq!(r.body["items"][0]["detail"]["changed"][0], "name");
    let next = r.body["next"].as_str().unwrap().to_string();
    let r2 = e
        .get(
            &format!("/audit?action=device.&limit=2&before={next}"),
            &admin,
        )
        .await;
    assert_eq!(targets(&r2), vec![A1]);
    assert!(r2.body["next"].is_null());
    // A wildcard is text, not a pattern.
    let r = e.get("/audit?action=dev%25", &admin).await;
    assert!(targets(&r).is_empty());
    // The auditor reads it all; a district auditor only its district's devices; the
    // contractor and the operator not at all.
    e.user(
        "audit-shushan",
        camwatch_core::access::Role::Auditor,
        "340104",
        None,
    )
    .await;
    let a = e.login("audit").await;
    assert!(targets(&e.get("/audit", &a).await).len() >= 3);
    let a = e.login("audit-shushan").await;
    let r = e.get("/audit?limit=1", &a).await;
    assert_eq!(targets(&r), vec![A2]);
    let r = e
        .get(
            &format!("/audit?before={}", r.body["next"].as_str().unwrap()),
            &a,
        )
        .await;
    assert_eq!(targets(&r), vec![A1], "no user entries, nothing of 340103");
    for who in ["alpha", "op"] {
        let auth = e.login(who).await;
        assert_eq!(e.get("/audit", &auth).await.status, 403, "{who}");
    }
    let r = e.get("/audit?limit=0", &admin).await;
    assert_eq!(r.body["field"], "limit");
}

#[tokio::test]
async fn exemptions_are_added_with_an_approver_and_seen_within_the_scope() {
    let e = env().await;
    let doc = e.openapi().await;
    let op = e.login("op").await;
    let add = |auth: Auth, body: serde_json::Value| {
        let e = &e;
        async move { e.send("POST", "/exemptions", &auth, body).await }
    };
    let body = |scope: (&str, &str)| {
        let mut b = serde_json::json!({
            "reason": "planned_works", "from": "2026-11-30T01:00:00+08:00",
            "to": "2026-11-30T05:00:00+08:00", "approved_by": "李科长", "note": "线路改造",
        });
        b[scope.0] = serde_json::Value::String(scope.1.into());
        b
    };
    let r = add(op.clone(), body(("device", A1))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    conforms(&doc, "ExemptionRow", &r.body);
    assert_eq!(r.body["from"], 1_795_971_600, "2026-11-29T17:00:00Z");
    let r = add(op.clone(), body(("region", "340103"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Both in the audit log, by the operator.
    let audit = e.store.recent_audit(5).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "exemption.add"
        && a.actor == "op"
        && a.target == format!("device:{A1}")));
    // Bad input names its field.
    for (b, field) in [
        (
            serde_json::json!({"device": A1, "region": "3401", "reason": "other", "from": "2026-11-30T01:00:00Z", "to": "2026-11-30T02:00:00Z", "approved_by": "x"}),
            "device",
        ),
        (
            serde_json::json!({"device": A1, "reason": "holiday", "from": "2026-11-30T01:00:00Z", "to": "2026-11-30T02:00:00Z", "approved_by": "x"}),
            "reason",
        ),
        (
            serde_json::json!({"device": A1, "reason": "other", "from": "2026-11-30T03:00:00Z", "to": "2026-11-30T02:00:00Z", "approved_by": "x"}),
            "to",
        ),
        (
            serde_json::json!({"device": A1, "reason": "other", "from": "2026-11-30T01:00:00Z", "to": "2026-11-30T02:00:00Z", "approved_by": " "}),
            "approved_by",
        ),
        (
            serde_json::json!({"region": "34x", "reason": "other", "from": "2026-11-30T01:00:00Z", "to": "2026-11-30T02:00:00Z", "approved_by": "x"}),
            "region",
        ),
    ] {
        let r = add(op.clone(), b).await;
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert_eq!(r.body["field"], field);
    }
    // A district user: not another district's device, not the whole city.
    let shushan = e.login("shushan").await;
    assert_eq!(add(shushan.clone(), body(("device", B1))).await.status, 404);
    assert_eq!(
        add(shushan.clone(), body(("region", "3401"))).await.status,
        403
    );
    assert_eq!(
        add(shushan.clone(), body(("region", "34010401")))
            .await
            .status,
        201
    );
    // Contractors and auditors read, never add.
    for who in ["alpha", "audit"] {
        let auth = e.login(who).await;
        assert_eq!(add(auth, body(("device", A1))).await.status, 403, "{who}");
    }
    // Who sees what (the period covers all three).
    let q = "/exemptions?from=2026-11-29T00:00:00Z&to=2026-12-01T00:00:00Z";
    let seen = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["device"]
                    .as_str()
                    .or(i["region"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let r = e.get(q, &op).await;
    conforms(&doc, "ExemptionList", &r.body);
    let mut all = seen(&r);
    all.sort();
    assert_eq!(all, vec!["340103", A1, "34010401"]);
    let mut s = seen(&e.get(q, &shushan).await);
    s.sort();
    assert_eq!(s, vec![A1, "34010401"]);
    let beta = e.login("beta").await;
    let mut b = seen(&e.get(q, &beta).await);
    b.sort();
    assert_eq!(
        b,
        vec!["340103", "34010401"],
        "region exemptions, not AlphaCo's device"
    );
}

#[tokio::test]
async fn the_monthly_report_is_served_in_every_format_and_scoped_to_the_reader() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let (status, headers, body) = e.fetch("/reports/monthly?month=2026-11", &admin).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["month"], "2026-11");
    assert_eq!(v["devices"].as_array().unwrap().len(), 4);
    for (format, magic) in [
        ("csv", &b"\xEF\xBB\xBF"[..]),
        ("xlsx", b"PK\x03\x04"),
        ("html", b"<!"),
    ] {
        let (status, _, body) = e
            .fetch(
                &format!("/reports/monthly?month=2026-11&format={format}&lang=en"),
                &admin,
            )
            .await;
        assert_eq!(status, 200, "{format}");
        assert!(
            body.starts_with(magic),
            "{format}: {:?}",
            &body[..body.len().min(16)]
        );
    }
    assert!(
        v.get("scope").is_none(),
        "the fleet's report names no scope"
    );
    // The auditor reads the fleet's; a district operator and a contractor read their part's,
    // which says so, with no fleet-wide line.
    let audit = e.login("audit").await;
    assert_eq!(
        e.fetch("/reports/monthly?month=2026-11", &audit).await.0,
        200
    );
    for (who, scope, want) in [
        ("shushan", "340104", vec![A1, A2]),
        ("alpha", "maintainer AlphaCo", vec![B2, A1, A2]),
        ("beta", "maintainer BetaCo", vec![B1]),
    ] {
        let auth = e.login(who).await;
        let r = e.get("/reports/monthly?month=2026-11", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        let mut got: Vec<&str> = r.body["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, want, "{who}");
        assert_eq!(r.body["fleet"]["devices"], want.len(), "{who}");
        assert!(
            r.body["scope"].as_str().unwrap().contains(scope),
            "{who}: {}",
            r.body["scope"]
        );
        assert!(
            r.body["deductions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| !d["device"].is_null() || !d["order"].is_null()),
            "{who}: {}",
            r.body["deductions"]
        );
        let (status, _, csv) = e
            .fetch("/reports/monthly?month=2026-11&format=csv", &auth)
            .await;
        assert_eq!(status, 200);
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.contains("统计范围"), "{who}: the file names its scope");
        for other in [A1, A2, B1, B2].iter().filter(|c| !want.contains(c)) {
            assert!(!csv.contains(other), "{who}: {other} is not theirs");
        }
    }
    for (q, field) in [
        ("month=2026-13", "month"),
        ("month=2027-01", "month"),
        ("month=2026-11&format=pdf", "format"),
    ] {
        let r = e.get(&format!("/reports/monthly?{q}"), &admin).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert_eq!(r.body["field"], field, "{q}");
    }
}
