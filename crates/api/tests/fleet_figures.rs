//! Today's and this month's fleet figures and the daily trend: computed by the monthly
//! report's engine (the same figures as the report of that period), scoped, kept for a minute.

mod common;

use std::time::Duration;

use camwatch_core::history::{Status, StatusSpan};
use camwatch_core::registry::DeviceCode;
use camwatch_report::Period;
use common::*;
use serde_json::Value;

/// 2026-12-01 00:00 in Shanghai (the example contract's zone): [`NOW`] is 16:00 there.
const TODAY: i64 = 1_796_054_400;
/// [`NOW`] in Unix seconds.
const NOW_S: i64 = 1_796_112_000;
const H: i64 = 3600;

fn span(code: &str, status: Status, from: i64, to: i64) -> StatusSpan {
    StatusSpan {
        device: code.parse::<DeviceCode>().unwrap(),
        status,
        start_at: from,
        end_at: to,
        cause: None,
    }
}

/// A1: online, then offline for the last hour; A2 and B1 online all day; B2 never observed.
/// Yesterday A1 was offline for two hours.
async fn history(e: &Env) {
    use Status::*;
    e.store
        .insert_spans(&[
            span(A1, Online, TODAY - 24 * H, TODAY - 10 * H),
            span(A1, Offline, TODAY - 10 * H, TODAY - 8 * H),
            span(A1, Online, TODAY - 8 * H, NOW_S - H),
            span(A1, Offline, NOW_S - H, NOW_S),
            span(A2, Online, TODAY - 24 * H, NOW_S),
            span(B1, Online, TODAY - 24 * H, NOW_S),
        ])
        .await
        .unwrap();
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
async fn todays_figures_are_the_reports_of_today_so_far() {
    let e = env().await;
    assert_eq!(NOW.parse::<jiff::Timestamp>().unwrap().as_second(), NOW_S);
    assert_eq!(TODAY + 16 * H, NOW_S);
    history(&e).await;
    let op = e.login("op").await;
    let r = e.get("/fleet/figures", &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = e.openapi().await;
    conforms(&doc, "FleetFigures", &r.body);
    assert_eq!(r.body["period"], "today");
    assert_eq!(
        (r.body["from"].as_i64(), r.body["to"].as_i64()),
        (Some(TODAY), Some(NOW_S))
    );
    assert_eq!(f(&r.body["threshold"]), 0.98);
    assert_eq!(r.body["scope"], Value::Null);
    let fleet = &r.body["fleet"];
    // By hand: 16 h each; A1 15 online + 1 offline, A2 and B1 16 online, B2 16 unknown
    // (excluded by the contract): 47 / 48.
    assert_eq!(fleet["devices"], 4);
    assert_eq!(f(&fleet["online_hours"]), 47.0);
    assert_eq!(f(&fleet["offline_hours"]), 1.0);
    assert_eq!(f(&fleet["unknown_hours"]), 16.0);
    assert!(
        (f(&fleet["online_rate"]) - 47.0 / 48.0).abs() < 1e-6,
        "{fleet}"
    );

    // The same figures as the report of that period, made by the report's own loader.
    let contract = camwatch_core::contract::Contract::parse(CONTRACT, "example-98.toml").unwrap();
    let tz = contract.time_zone().unwrap();
    let p = Period::between(TODAY, NOW_S, tz, &contract.timezone);
    let report = camwatch_report::load(&e.store, &p, &contract, CONTRACT, NOW_S)
        .await
        .unwrap();
    assert_eq!(f(&fleet["online_rate"]), report.fleet.online_rate.unwrap());
    assert_eq!(f(&fleet["intact_rate"]), report.fleet.intact_rate.unwrap());
    let regions: Vec<(&str, u64)> = r.body["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["devices"].as_u64().unwrap()))
        .collect();
    // Regions carry their GB/T 2260 names; contractors have none.
    let named: Vec<(&str, &str)> = r.body["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            ("340103", "安徽省合肥市庐阳区"),
            ("340104", "安徽省合肥市蜀山区")
        ]
    );
    assert!(
        r.body["contractors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("name").is_none()),
        "{}",
        r.body
    );
    let s = e.get("/fleet/summary", &op).await;
    assert_eq!(
        s.body["regions"][0]["name"], "安徽省合肥市庐阳区",
        "{}",
        s.body
    );
    let want: Vec<(&str, u64)> = report
        .regions
        .iter()
        .map(|g| (g.key.as_str(), g.totals.devices))
        .collect();
    assert_eq!(regions, want);
    let alpha = r.body["contractors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "AlphaCo")
        .unwrap();
    assert_eq!(f(&alpha["offline_hours"]), 1.0);

    // This month so far is today so far: the month began today.
    let m = e.get("/fleet/figures?period=month", &op).await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert_eq!(m.body["from"].as_i64(), Some(TODAY));
    assert_eq!(m.body["fleet"], r.body["fleet"]);
}

#[tokio::test]
async fn figures_and_trend_are_the_callers_part_only() {
    let e = env().await;
    history(&e).await;
    for (who, devices, offline) in [("shushan", 2, 1.0), ("beta", 1, 0.0), ("alpha", 3, 1.0)] {
        let auth = e.login(who).await;
        let r = e.get("/fleet/figures", &auth).await;
        assert_eq!(r.status, 200, "{who}: {}", r.body);
        assert_eq!(r.body["fleet"]["devices"], devices, "{who}");
        assert_eq!(f(&r.body["fleet"]["offline_hours"]), offline, "{who}");
        assert!(r.body["scope"].is_string(), "{who}");
        let keys: Vec<&str> = r.body["contractors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["key"].as_str().unwrap())
            .collect();
        if who == "beta" {
            assert_eq!(keys, ["BetaCo"]);
        } else {
            assert_eq!(keys, ["AlphaCo"]);
        }
        let t = e.get("/fleet/trend?days=2", &auth).await;
        assert_eq!(t.status, 200, "{who}: {}", t.body);
        assert_eq!(t.body["days"][1]["devices"], devices, "{who}");
    }
}

#[tokio::test]
async fn the_trend_has_one_day_each_today_last() {
    let e = env().await;
    history(&e).await;
    let op = e.login("op").await;
    let r = e.get("/fleet/trend?days=3", &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    conforms(&e.openapi().await, "Trend", &r.body);
    let days = r.body["days"].as_array().unwrap();
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert_eq!(dates, ["2026-11-29", "2026-11-30", "2026-12-01"]);
    assert_eq!(days[0]["online_rate"], Value::Null, "nothing observed");
    assert_eq!(f(&days[1]["offline_hours"]), 2.0);
    assert_eq!(
        (days[1]["from"].as_i64(), days[1]["to"].as_i64()),
        (Some(TODAY - 24 * H), Some(TODAY))
    );
    // Yesterday: A1 22 of 24 h online, A2 and B1 all day, B2 unobserved.
    assert!(
        (f(&days[1]["online_rate"]) - 70.0 / 72.0).abs() < 1e-6,
        "{}",
        days[1]
    );
    assert_eq!(f(&days[2]["offline_hours"]), 1.0);
    assert_eq!(days[2]["to"].as_i64(), Some(NOW_S), "today ends now");

    for q in ["days=0", "days=32", "days=x", "period=today"] {
        let r = e.get(&format!("/fleet/trend?{q}"), &op).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let r = e.get("/fleet/figures?period=year", &op).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("period")));
}

#[tokio::test]
async fn figures_are_kept_for_a_minute_and_then_computed_again() {
    let e = env().await;
    history(&e).await;
    let op = e.login("op").await;
    let first = e.get("/fleet/figures", &op).await;
    assert_eq!(f(&first.body["fleet"]["unknown_hours"]), 16.0);
    // B2 reports for the last 10 minutes: not seen until the minute is over.
    e.store
        .insert_spans(&[span(B2, Status::Online, NOW_S - 600, NOW_S)])
        .await
        .unwrap();
    e.clock.advance(Duration::from_secs(59));
    let kept = e.get("/fleet/figures", &op).await;
    assert_eq!(kept.body, first.body);
    e.clock.advance(Duration::from_secs(1));
    let fresh = e.get("/fleet/figures", &op).await;
    assert_eq!(fresh.body["computed_at"].as_i64(), Some(NOW_S + 60));
    assert!(f(&fresh.body["fleet"]["online_hours"]) > f(&first.body["fleet"]["online_hours"]));
    // A contractor's figures are computed for it, not taken from the operator's.
    let alpha = e.login("alpha").await;
    let a = e.get("/fleet/figures", &alpha).await;
    assert_eq!(a.body["fleet"]["devices"], 3);
    // Who may not: nobody signed in.
    let r = e.get("/fleet/figures", &Auth::None).await;
    assert_eq!(r.status, 401);
}
