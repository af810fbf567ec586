//! Users and tokens over HTTP: an admin creates, resets, disables, unlocks, issues and revokes;
//! nobody else may; a district admin manages only its district's users; secrets never leave
//! except the one-time values.

mod common;

use camwatch_core::access::Role;
use common::*;
use serde_json::json;

#[tokio::test]
async fn an_admin_manages_users_and_tokens_end_to_end() {
    let e = env().await;
    let doc = e.openapi().await;
    let admin = e.login("admin1").await;
    // A contractor with a generated one-time password, which must be changed first.
    let r = e
        .send(
            "POST",
            "/users",
            &admin,
            json!({"name": "gamma", "role": "contractor", "maintainer": "GammaCo", "regions": ["3401"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    conforms(&doc, "CreatedUser", &r.body);
    let otp = r.body["one_time_password"].as_str().unwrap().to_string();
    assert!(r.body["user"]["must_change_password"].as_bool().unwrap());
    let login = e.login_reply("gamma", &otp, &[]).await;
    assert_eq!(login.status, 200, "{}", login.body);
    // A weak password, an unknown role, a contractor without a maintainer: named.
    for (body, field) in [
        (
            json!({"name": "d", "role": "operator", "password": "short"}),
            "password",
        ),
        (json!({"name": "d", "role": "boss"}), "role"),
    ] {
        let r = e.send("POST", "/users", &admin, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["field"], field);
    }
    let r = e
        .send(
            "POST",
            "/users",
            &admin,
            json!({"name": "gamma", "role": "operator"}),
        )
        .await;
    assert_eq!(r.status, 409, "a taken name: {}", r.body);
    // The list never carries a secret.
    let r = e.get("/users", &admin).await;
    conforms(&doc, "UserList", &r.body);
    assert!(!r.body.to_string().contains(&otp));
    assert!(!r.body.to_string().contains("argon2"));
    // Reset: must change again; disable: no login; enable; unlock.
    let r = e
        .send(
            "POST",
            "/users/gamma/password",
            &admin,
            json!({"password": "N3w!passw0rd"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        e.send("POST", "/users/gamma/disable", &admin, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        e.login_reply("gamma", "N3w!passw0rd", &[]).await.status,
        401
    );
    assert_eq!(
        e.send("POST", "/users/gamma/enable", &admin, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        e.login_reply("gamma", "N3w!passw0rd", &[]).await.status,
        200
    );
    assert_eq!(
        e.send("POST", "/users/gamma/unlock", &admin, json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        e.send("POST", "/users/gamma/promote", &admin, json!({}))
            .await
            .status,
        400
    );
    assert_eq!(
        e.send("POST", "/users/nobody/disable", &admin, json!({}))
            .await
            .status,
        404
    );
    // One cannot disable oneself.
    assert_eq!(
        e.send("POST", "/users/admin1/disable", &admin, json!({}))
            .await
            .status,
        400
    );
    // A token: shown once, works, is listed without its value, is revoked.
    let r = e
        .send(
            "POST",
            "/tokens",
            &admin,
            json!({"user": "beta", "name": "ticketing", "access": "full"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let id = r.body["id"].as_i64().unwrap();
    let bearer = Auth::Bearer(token.clone());
    assert_eq!(e.get("/me", &bearer).await.body["name"], "beta");
    let r = e.get("/tokens?user=beta", &admin).await;
    conforms(&doc, "TokenList", &r.body);
    assert!(!r.body.to_string().contains(&token));
    assert_eq!(r.body["items"][0]["name"], "ticketing");
    assert_eq!(
        e.raw("DELETE", &format!("/tokens/{id}"), &admin, None, &[])
            .await
            .status,
        204
    );
    assert_eq!(e.get("/me", &bearer).await.status, 401);
    // Every change is audited.
    let actions: Vec<String> = e
        .store
        .recent_audit(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.actor == "admin1")
        .map(|a| a.action)
        .collect();
    for want in [
        "user.add",
        "user.password",
        "user.disable",
        "user.enable",
        "token.issue",
        "token.revoke",
    ] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }
}

#[tokio::test]
async fn only_admins_manage_and_a_district_admin_only_its_district() {
    let e = env().await;
    for who in ["op", "alpha", "audit"] {
        let auth = e.login(who).await;
        assert_eq!(e.get("/users", &auth).await.status, 403, "{who}");
        let r = e
            .send(
                "POST",
                "/users",
                &auth,
                json!({"name": "x", "role": "operator"}),
            )
            .await;
        assert_eq!(r.status, 403, "{who}");
        assert_eq!(e.get("/tokens", &auth).await.status, 403, "{who}");
    }
    e.user("admin-shushan", Role::Admin, "340104", None).await;
    let a = e.login("admin-shushan").await;
    let names: Vec<String> = e.get("/users", &a).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.get("name").unwrap().as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"shushan".to_string()), "{names:?}");
    assert!(!names.contains(&"admin1".to_string()), "{names:?}");
    assert!(!names.contains(&"beta".to_string()), "{names:?}");
    // The city's admin reads as missing; a wider scope cannot be created.
    assert_eq!(
        e.send("POST", "/users/admin1/disable", &a, json!({}))
            .await
            .status,
        404
    );
    let r = e
        .send(
            "POST",
            "/users",
            &a,
            json!({"name": "x", "role": "operator", "regions": ["3401"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = e
        .send(
            "POST",
            "/tokens",
            &a,
            json!({"user": "admin1", "name": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}
