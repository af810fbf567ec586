//! The daily patrol over HTTP: today's batch is the plan's (checked against the pure plan), per
//! caller's scope; operators and admins record verdicts, contractors and auditors cannot; a
//! fault opens a work order (a second fault joins it); a later verdict is the one that counts;
//! everything is audited; the month's patrol report (JSON, and inside the monthly report's
//! files) shows coverage, findings and who patrolled, cut to the reader's part.

mod common;

use std::time::Duration;

use camwatch_core::calendar::WorkCalendar;
use camwatch_core::config::PatrolConfig;
use camwatch_core::patrol::{Plan, PlanRules, working_day_index};
use camwatch_core::registry::DeviceCode;
use common::*;
use serde_json::{Value, json};

/// Four channels, at least two a day, each within two working days.
fn rules() -> PatrolConfig {
    PatrolConfig {
        enabled: true,
        daily_quota: 2,
        cycle_days: 2,
    }
}

/// The batch the plan gives the whole fleet on the server's day (no contract: every day is a
/// working day, in Asia/Shanghai).
fn expected_batch(e: &Env, codes: &[&str]) -> Vec<String> {
    use camwatch_core::clock::Clock;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let cal = WorkCalendar::always(tz.clone());
    let day = e.clock.now().to_zoned_datetime(tz).date();
    let plan = Plan::new(
        codes.iter().map(|c| c.parse::<DeviceCode>().unwrap()),
        PlanRules {
            quota: 2,
            cycle_days: 2,
        },
    );
    plan.batch(working_day_index(&cal, day).unwrap())
        .iter()
        .map(|c| c.to_string())
        .collect()
}

fn items(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

async fn verdict(e: &Env, auth: &Auth, body: Value) -> Reply {
    e.send("POST", "/patrol/records", auth, body).await
}

#[tokio::test]
async fn todays_batch_is_the_plans_for_the_callers_scope() {
    let e = env_patrol(rules()).await;
    let doc = e.openapi().await;
    let op = e.login("op").await;
    let r = e.get("/patrol/today", &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&doc, "PatrolToday", &r.body);
    assert_eq!(r.body["working_day"], true);
    assert_eq!(r.body["day"], "2026-12-01");
    assert_eq!(
        (r.body["fleet"].as_u64(), r.body["required"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(items(&r), expected_batch(&e, &[A1, A2, B1, B2]));
    assert_eq!(r.body["recorded"], 0);
    // A district operator's plan is its district's: two channels, both every day.
    let shushan = e.login("shushan").await;
    let r = e.get("/patrol/today", &shushan).await;
    assert_eq!(r.status, 200);
    assert_eq!(items(&r), vec![A1.to_string(), A2.to_string()]);
    assert_eq!(r.body["fleet"], 2);
    // The offline camera carries its state, as the device page has it.
    let a1 = &r.body["items"][0];
    assert_eq!(a1["status"], "offline");
    assert!(
        a1["cause"].as_str().unwrap().contains("connect_timeout"),
        "{a1}"
    );
    assert_eq!(a1["name"], "长江路口东");
    assert_eq!(r.body["items"][1]["status"], "unknown");

    // Contractors and auditors do not patrol.
    for who in ["alpha", "beta", "audit"] {
        let auth = e.login(who).await;
        let r = e.get("/patrol/today", &auth).await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
        let r = verdict(&e, &auth, json!({"device": A1, "verdict": "normal"})).await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
    }
    // Nobody signed in: 401.
    assert_eq!(e.get("/patrol/today", &Auth::None).await.status, 401);
}

#[tokio::test]
async fn verdicts_are_recorded_faults_open_orders_and_the_latest_counts() {
    let e = env_patrol(rules()).await;
    let doc = e.openapi().await;
    let op = e.login("op").await;
    let batch = items(&e.get("/patrol/today", &op).await);
    let (x, y) = (batch[0].clone(), batch[1].clone());

    // Y is normal.
    let r = verdict(&e, &op, json!({"device": y, "verdict": "normal"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    conforms(&doc, "RecordReply", &r.body);
    assert_eq!(r.body["record"]["verdict"], "normal");
    assert_eq!(r.body["record"]["patroller"], "op");
    assert_eq!(r.body["record"]["day"], "2026-12-01");
    assert!(r.body["record"]["work_order"].is_null());

    // X is blurred: a work order opens for it.
    let r = verdict(
        &e,
        &op,
        json!({"device": x, "verdict": "fault", "finding": "blur", "note": "镜头起雾"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["work_order_opened"], true);
    let order = r.body["record"]["work_order"].as_i64().unwrap();
    let o = e.get(&format!("/work-orders/{order}"), &op).await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(o.body["order"]["subject"], x.as_str());
    assert_eq!(o.body["order"]["state"], "pending");
    assert_eq!(o.body["order"]["origin"], "patrol");
    assert!(
        o.body["order"]["title"]
            .as_str()
            .unwrap()
            .contains("巡检发现故障"),
        "{}",
        o.body
    );

    // A second look at X finds no video at all: the order already open is joined, not doubled.
    // (The note is typed to look like a spreadsheet formula.)
    e.clock.advance(Duration::from_secs(60));
    let note = "=cmd|' /C calc'!A0 无画面";
    let r = verdict(
        &e,
        &op,
        json!({"device": x, "verdict": "fault", "finding": "no_video", "note": note}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["work_order_opened"], false);
    assert_eq!(r.body["record"]["work_order"], order);

    // Today's batch shows the counted (latest) verdicts.
    let t = e.get("/patrol/today", &op).await;
    assert_eq!(
        (t.body["recorded"].as_u64(), t.body["faults"].as_u64()),
        (Some(2), Some(1))
    );
    let item = |c: &str| {
        t.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["code"] == c)
            .unwrap()
            .clone()
    };
    assert_eq!(item(&x)["record"]["finding"], "no_video");
    assert_eq!(item(&y)["record"]["verdict"], "normal");

    // Every verdict is audited, by the patroller, on the device.
    let admin = e.login("admin1").await;
    let a = e.get("/audit?action=patrol.record", &admin).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let entries = a.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{}", a.body);
    assert!(entries.iter().all(|e| e["actor"] == "op"));
    let w = e.get("/audit?action=workorder.open", &admin).await;
    assert_eq!(w.body["items"].as_array().unwrap().len(), 1, "{}", w.body);

    // The month's patrol report.
    let r = e.get("/patrol/report?month=2026-12", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = &r.body;
    assert_eq!(p["fleet"], 4);
    assert_eq!(p["working_days"], 1);
    assert_eq!(p["patrolled_visits"], 2);
    assert_eq!(p["patrolled_channels"], 2);
    assert_eq!(p["coverage"], 0.5);
    assert_eq!(p["faults"], 1);
    assert_eq!(p["records"], 3);
    assert_eq!(p["findings"][0]["device"], x.as_str());
    assert_eq!(p["findings"][0]["finding"], "no_video");
    assert_eq!(p["findings"][0]["work_order"], order);
    assert_eq!(p["findings"][0]["note"], note);
    assert_eq!(p["patrollers"][0]["patroller"], "op");
    assert_eq!(p["patrollers"][0]["records"], 2);
    assert_eq!(p["days"][0]["met_quota"], true);
    assert_eq!(p["records_digest"].as_str().unwrap().len(), 64);

    // A district reader's report is its district's.
    let shushan = e.login("shushan").await;
    let r = e.get("/patrol/report?month=2026-12", &shushan).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fleet"], 2);
    let mine = [A1, A2];
    let expect = [&x, &y]
        .iter()
        .filter(|c| mine.contains(&c.as_str()))
        .count();
    assert_eq!(r.body["patrolled_visits"], expect);
    // Auditors read it; months not started are refused.
    let audit = e.login("audit").await;
    assert_eq!(
        e.get("/patrol/report?month=2026-12", &audit).await.status,
        200
    );
    let r = e.get("/patrol/report?month=2027-01", &admin).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("month")));
    let r = e.get("/patrol/report?month=12-2026", &admin).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("month")));

    // The monthly report carries the patrol in its files; the typed note cannot run as a
    // spreadsheet formula.
    let (status, _, body) = e
        .fetch("/reports/monthly?month=2026-12&format=csv", &admin)
        .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(body).unwrap();
    assert!(csv.contains("巡检汇总"), "no patrol section");
    assert!(csv.contains("巡检发现故障"), "no findings");
    assert!(csv.contains(",'=cmd|"), "the note, neutralised: {csv}");
    assert!(!csv.contains(",=cmd"), "a formula got through: {csv}");
    let (status, _, body) = e
        .fetch("/reports/monthly?month=2026-12&format=json", &admin)
        .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["patrol"]["faults"], 1);
    // The monthly report makes its patrol section from its own read of the register: it is
    // the patrol report, for the whole fleet and for a district.
    let alone = e.get("/patrol/report?month=2026-12", &admin).await;
    assert_eq!(v["patrol"], alone.body);
    let (status, _, body) = e
        .fetch("/reports/monthly?month=2026-12&format=json", &shushan)
        .await;
    assert_eq!(status, 200);
    let district: Value = serde_json::from_slice(&body).unwrap();
    let alone = e.get("/patrol/report?month=2026-12", &shushan).await;
    assert_eq!(district["patrol"], alone.body);
    assert_eq!(district["patrol"]["fleet"], 2);
    let (status, _, body) = e
        .fetch("/reports/monthly?month=2026-12&format=html&lang=en", &admin)
        .await;
    assert_eq!(status, 200);
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("Faults found by patrol"));
    assert!(
        html.contains("=cmd|&#39; /C calc&#39;!A0"),
        "escaped in HTML"
    );
    let (status, _, body) = e
        .fetch("/reports/monthly?month=2026-12&format=xlsx", &admin)
        .await;
    assert_eq!(status, 200);
    assert!(body.starts_with(b"PK"));
}

#[tokio::test]
async fn verdicts_are_checked_before_anything_is_written() {
    let e = env_patrol(rules()).await;
    let op = e.login("op").await;
    let batch = items(&e.get("/patrol/today", &op).await);
    let x = batch[0].clone();
    for (body, field) in [
        (json!({"device": x, "verdict": "maybe"}), "verdict"),
        (json!({"device": x, "verdict": "fault"}), "finding"),
        (
            json!({"device": x, "verdict": "fault", "finding": "smudge"}),
            "finding",
        ),
        (
            json!({"device": x, "verdict": "normal", "finding": "blur"}),
            "finding",
        ),
        (
            json!({"device": x, "verdict": "normal", "note": "长".repeat(501)}),
            "note",
        ),
        (json!({"device": "123", "verdict": "normal"}), "device"),
        (
            json!({"device": x, "verdict": "normal", "extra": 1}),
            "extra",
        ),
    ] {
        let r = verdict(&e, &op, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }
    // Out of the caller's scope reads as missing; not in the register likewise.
    let shushan = e.login("shushan").await;
    let r = verdict(&e, &shushan, json!({"device": B1, "verdict": "normal"})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (404, Some("device")));
    let r = verdict(&e, &op, json!({"device": NOBODY, "verdict": "normal"})).await;
    assert_eq!(r.status, 404);
    // A cookie without the CSRF token writes nothing.
    let Auth::Session(s) = &op else {
        unreachable!()
    };
    let r = verdict(
        &e,
        &Auth::CookieOnly(s.clone()),
        json!({"device": x, "verdict": "normal"}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["code"], "csrf_required");

    // A channel not in today's batch is refused: some day within a round leaves one out.
    let mut refused = false;
    for _ in 0..2 {
        let batch = items(&e.get("/patrol/today", &op).await);
        if let Some(out) = [A1, A2, B1, B2]
            .iter()
            .find(|c| !batch.contains(&c.to_string()))
        {
            let r = verdict(&e, &op, json!({"device": out, "verdict": "normal"})).await;
            assert_eq!(r.status, 409, "{}", r.body);
            assert_eq!(r.body["field"], "device");
            refused = true;
            break;
        }
        e.clock.advance(Duration::from_secs(86_400));
    }
    assert!(
        refused,
        "two consecutive days of a 2-day round both held every channel"
    );
    let admin = e.login("admin1").await;
    let r = e.get("/patrol/report?month=2026-12", &admin).await;
    assert_eq!(r.body["records"], 0, "nothing refused was written");
}

#[tokio::test]
async fn patrol_switched_off_answers_unavailable() {
    let e = env_patrol(PatrolConfig {
        enabled: false,
        ..rules()
    })
    .await;
    let op = e.login("op").await;
    let r = e.get("/patrol/today", &op).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let r = verdict(&e, &op, json!({"device": A1, "verdict": "normal"})).await;
    assert_eq!(r.status, 503, "{}", r.body);
}
