//! Files on work orders over HTTP: upload (types checked by their bytes, size bounded, CSRF,
//! roles, scope), list and download (served as a download with `nosniff`).

mod common;

use common::*;
use serde_json::json;

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0 a site photo";

async fn upload(e: &Env, auth: &Auth, id: i64, name: &str, ct: &str, body: &[u8]) -> Reply {
    e.raw(
        "POST",
        &format!("/work-orders/{id}/attachments?name={name}"),
        auth,
        Some((ct, body.to_vec())),
        &[],
    )
    .await
}

#[tokio::test]
async fn a_contractor_attaches_a_photo_to_its_order_and_others_cannot_see_it() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let r = e
        .send("POST", "/work-orders", &admin, json!({"devices": [A1]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();

    let alpha = e.login("alpha").await;
    let r = upload(&e, &alpha, id, "before.jpg", "image/jpeg", JPEG).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["media_type"], "image/jpeg");
    assert_eq!(r.body["size"], JPEG.len());
    let aid = r.body["id"].as_i64().unwrap();

    let list = e
        .get(&format!("/work-orders/{id}/attachments"), &alpha)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body[0]["name"], "before.jpg");
    assert_eq!(list.body[0]["actor"], "alpha");
    let (status, headers, body) = e
        .fetch(&format!("/work-orders/{id}/attachments/{aid}"), &alpha)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, JPEG);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );

    // BetaCo sees neither the order nor its files; the auditor reads but cannot add.
    let beta = e.login("beta").await;
    assert_eq!(
        e.get(&format!("/work-orders/{id}/attachments"), &beta)
            .await
            .status,
        404
    );
    assert_eq!(
        e.fetch(&format!("/work-orders/{id}/attachments/{aid}"), &beta)
            .await
            .0,
        404
    );
    assert_eq!(
        upload(&e, &beta, id, "x.jpg", "image/jpeg", JPEG)
            .await
            .status,
        404
    );
    let audit = e.login("audit").await;
    assert_eq!(
        e.get(&format!("/work-orders/{id}/attachments"), &audit)
            .await
            .status,
        200
    );
    assert_eq!(
        upload(&e, &audit, id, "x.jpg", "image/jpeg", JPEG)
            .await
            .status,
        403
    );
    // A cookie without its CSRF token adds nothing.
    let Auth::Session(s) = &alpha else {
        unreachable!()
    };
    let r = upload(
        &e,
        &Auth::CookieOnly(s.clone()),
        id,
        "x.jpg",
        "image/jpeg",
        JPEG,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // An attachment of another order is not found through this one.
    let other = e
        .send("POST", "/work-orders", &admin, json!({"devices": [A2]}))
        .await;
    let other = other.body["id"].as_i64().unwrap();
    assert_eq!(
        e.fetch(&format!("/work-orders/{other}/attachments/{aid}"), &alpha)
            .await
            .0,
        404
    );
    // The upload is audited.
    let log = e.get("/audit?action=workorder.attach", &admin).await;
    assert_eq!(
        log.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        log.body
    );
    let list = e
        .get(&format!("/work-orders/{id}/attachments"), &alpha)
        .await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        1,
        "nothing else was stored"
    );
}

#[tokio::test]
async fn only_real_images_and_pdfs_within_the_limit_are_taken() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let r = e
        .send("POST", "/work-orders", &admin, json!({"devices": [B1]}))
        .await;
    let id = r.body["id"].as_i64().unwrap();
    for (name, ct, body, field) in [
        (
            "page.html",
            "text/html",
            &b"<script>alert(1)</script>"[..],
            "content-type",
        ),
        ("fake.jpg", "image/jpeg", b"<svg onload=alert(1)>", "body"),
        ("fake.png", "image/png", JPEG, "body"),
        ("", "image/jpeg", JPEG, "name"),
        ("..%2Fetc%2Fpasswd", "image/jpeg", JPEG, "name"),
    ] {
        let r = upload(&e, &admin, id, name, ct, body).await;
        assert_eq!(r.status, 400, "{name} {ct}: {}", r.body);
        assert_eq!(r.body["field"], field, "{name} {ct}");
    }
    let r = upload(
        &e,
        &admin,
        id,
        "report.pdf",
        "application/pdf",
        b"%PDF-1.7 ...",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut big = JPEG.to_vec();
    big.resize(camwatch_api::attachments::UPLOAD_LIMIT + 1, 0);
    let r = upload(&e, &admin, id, "big.jpg", "image/jpeg", &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = e.get("/work-orders/x/attachments", &admin).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("id")));
}
