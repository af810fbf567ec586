//! Login, logout, lockout, session fixation, CSRF, the caller and password changes, over a
//! real socket.

mod common;

use camwatch_core::access::TokenAccess;
use common::*;
use serde_json::json;

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session() {
    let e = env().await;
    let doc = e.openapi().await;
    let r = e.login_reply("op", GOOD, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "LoginResponse", &r.body);
    let set = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with("camwatch_session="), "{set}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api"] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    assert!(!set.contains("Secure"), "no TLS configured: {set}");
    assert_eq!(r.body["me"]["name"], "op");
    assert_eq!(r.body["me"]["role"], "operator");
    let s = common::Session {
        cookie: cookie_of(&r),
        csrf: r.body["csrf"].as_str().unwrap().into(),
    };
    let me = e.get("/me", &Auth::Session(s.clone())).await;
    assert_eq!(me.status, 200);
    conforms(&doc, "Me", &me.body);
    assert_eq!(me.body["via"], "session");

    // Logout is a write: the CSRF token is required.
    let no_csrf = e
        .raw(
            "DELETE",
            "/session",
            &Auth::CookieOnly(s.clone()),
            None,
            &[],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    assert_eq!(no_csrf.body["code"], "csrf_required");
    conforms(&doc, "ApiError", &no_csrf.body);
    let out = e
        .raw("DELETE", "/session", &Auth::Session(s.clone()), None, &[])
        .await;
    assert_eq!(out.status, 204);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = e.get("/me", &Auth::Session(s)).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["code"], "unauthenticated");
}

#[tokio::test]
async fn the_cookie_is_secure_when_served_over_tls() {
    let e = env_with(true).await;
    let r = e.login_reply("op", GOOD, &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn a_wrong_password_reads_like_an_unknown_user() {
    let e = env().await;
    let wrong = e.login_reply("op", "Wr0ng-pass!", &[]).await;
    let unknown = e.login_reply("nobody-here", "Wr0ng-pass!", &[]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["code"], "login_failed");
    assert!(wrong.headers.get("set-cookie").is_none());
    conforms(&e.openapi().await, "ApiError", &wrong.body);
}

#[tokio::test]
async fn repeated_failures_lock_the_name_out_even_for_the_right_password() {
    let e = env().await;
    for _ in 0..5 {
        let r = e.login_reply("op", "Wr0ng-pass!", &[]).await;
        assert_eq!(r.status, 401);
    }
    let r = e.login_reply("op", GOOD, &[]).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["code"], "locked_out");
    assert!(r.headers.get("set-cookie").is_none());
    // An unknown name is locked the same way.
    for _ in 0..5 {
        e.login_reply("ghost", "Wr0ng-pass!", &[]).await;
    }
    assert_eq!(e.login_reply("ghost", "Wr0ng-pass!", &[]).await.status, 429);
    // Another user is not affected.
    assert_eq!(e.login_reply("audit", GOOD, &[]).await.status, 200);
}

#[tokio::test]
async fn a_session_id_from_before_login_is_never_accepted() {
    let e = env().await;
    let planted = "camwatch_session=attacker-chosen-value";
    let r = e.login_reply("op", GOOD, &[("cookie", planted)]).await;
    assert_eq!(r.status, 200);
    let issued = cookie_of(&r);
    assert_ne!(issued, planted);
    let fixed = common::Session {
        cookie: planted.into(),
        csrf: r.body["csrf"].as_str().unwrap().into(),
    };
    assert_eq!(e.get("/me", &Auth::Session(fixed)).await.status, 401);
    // A session of an earlier login stays its own: a second login is a new session.
    let again = e.login_reply("op", GOOD, &[("cookie", &issued)]).await;
    assert_ne!(cookie_of(&again), issued);
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token_and_bearer_writes_do_not() {
    let e = env().await;
    let op = e.login("op").await;
    let Auth::Session(s) = &op else {
        unreachable!()
    };
    let body = json!({"devices": [A1], "title": "报修"});
    let no = e
        .send(
            "POST",
            "/work-orders",
            &Auth::CookieOnly(s.clone()),
            body.clone(),
        )
        .await;
    assert_eq!(no.status, 403);
    assert_eq!(no.body["code"], "csrf_required");
    assert_eq!(no.body["field"], "x-csrf-token");
    let wrong = e
        .send(
            "POST",
            "/work-orders",
            &Auth::Session(common::Session {
                cookie: s.cookie.clone(),
                csrf: "not-the-token".into(),
            }),
            body.clone(),
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.body["code"], "csrf_required");
    // Nothing was opened by the refused writes.
    let list = e.get("/work-orders", &op).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
    let ok = e.send("POST", "/work-orders", &op, body).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // A bearer token needs no CSRF token.
    let token = e.token("op", TokenAccess::Full).await;
    let id = ok.body["id"].as_i64().unwrap();
    let note = e
        .send(
            "POST",
            &format!("/work-orders/{id}/note"),
            &Auth::Bearer(token.clone()),
            json!({"note": "from the ticketing system"}),
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.body);
    // A read-only token may read and not write.
    let ro = e.token("audit", TokenAccess::ReadOnly).await;
    assert_eq!(e.get("/me", &Auth::Bearer(ro.clone())).await.status, 200);
    let bad = e.get("/me", &Auth::Bearer("cwt_forged".into())).await;
    assert_eq!(bad.status, 401);
    let malformed = e
        .raw(
            "GET",
            "/me",
            &Auth::None,
            None,
            &[("authorization", "Basic eDp5")],
        )
        .await;
    assert_eq!(malformed.status, 401);
}

#[tokio::test]
async fn unauthenticated_requests_get_401_on_every_endpoint() {
    let e = env().await;
    for (m, p) in [
        ("GET", "/me"),
        ("POST", "/me/password"),
        ("DELETE", "/session"),
        ("GET", "/devices"),
        ("GET", &format!("/devices/{A1}")),
        ("GET", "/fleet/summary"),
        ("GET", "/work-orders"),
        ("POST", "/work-orders"),
        ("GET", "/work-orders/1"),
        ("POST", "/work-orders/1/accept"),
    ] {
        let r = e.send(m, p, &Auth::None, json!({})).await;
        assert_eq!(r.status, 401, "{m} {p}: {}", r.body);
        assert_eq!(r.body["code"], "unauthenticated", "{m} {p}");
    }
}

#[tokio::test]
async fn changing_ones_own_password() {
    let e = env().await;
    let doc = e.openapi().await;
    let me = e.login("alpha").await;
    let wrong = e
        .send(
            "POST",
            "/me/password",
            &me,
            json!({"current": "Wr0ng-pass!", "new": "N3w-passw0rd"}),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["field"], "current");
    conforms(&doc, "ApiError", &wrong.body);
    let weak = e
        .send(
            "POST",
            "/me/password",
            &me,
            json!({"current": GOOD, "new": "short"}),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.body["field"], "new");
    let ok = e
        .send(
            "POST",
            "/me/password",
            &me,
            json!({"current": GOOD, "new": "N3w-passw0rd"}),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.body);
    assert_eq!(e.login_reply("alpha", GOOD, &[]).await.status, 401);
    assert_eq!(
        e.login_reply("alpha", "N3w-passw0rd", &[]).await.status,
        200
    );
    // Not through a token.
    let token = e.token("op", TokenAccess::Full).await;
    let r = e
        .send(
            "POST",
            "/me/password",
            &Auth::Bearer(token),
            json!({"current": GOOD, "new": "N3w-passw0rd"}),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_password_set_by_an_admin_must_be_changed_before_anything_else() {
    let e = env().await;
    e.accounts
        .reset_password(
            &camwatch_access::Actor::Cli {
                os_user: "test".into(),
            },
            "op",
            &camwatch_core::secret::Password::new(GOOD),
            camwatch_core::access::PasswordState::MustChange,
        )
        .await
        .unwrap();
    let op = e.login("op").await;
    let me = e.get("/me", &op).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["must_change_password"], true);
    for path in ["/devices", "/fleet/summary", "/work-orders"] {
        let r = e.get(path, &op).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.body["code"], "forbidden");
    }
    let r = e
        .send(
            "POST",
            "/me/password",
            &op,
            json!({"current": GOOD, "new": "N3w-passw0rd"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // The session that changed it stays, now with the full role.
    assert_eq!(e.get("/devices", &op).await.status, 200);
}
