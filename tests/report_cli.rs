//! History, exemptions and the monthly report end to end: the real binary on SQLite (and on
//! PostgreSQL when CAMWATCH_TEST_PG_URL is set, in a fresh database).

use std::path::Path;
use std::process::{Command, Output};

fn camwatch(data: &Path, db: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--data").arg(data);
    if let Some(u) = db {
        c.arg("--db").arg(u);
    }
    c.args(args)
        .env_remove("CAMWATCH_SECRET_KEY")
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_CONFIG")
        .output()
        .expect("run camwatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn contract() -> String {
    format!("{}/contracts/example-98.toml", env!("CARGO_MANIFEST_DIR"))
}

/// Two cameras in October 2026 (744 h): camera 1 online all month; camera 2 offline from
/// 1 Oct 00:00 to 17 Oct 00:00 (384 h > 360 h) then online; a day of planned works on camera 1
/// exempt. Fleet: online 744 − 24 + 360 = 1080 of 1464 h = 73.7705 %.
fn story(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("devices.csv"),
        "设备编码,设备名称,行政区划,运维单位,月运维费,月链路费\n\
         34010400001320000001,蜀山路口1,340104,合肥安视运维有限公司,100.00,50.00\n\
         34010400001320000002,蜀山路口2,340104,合肥安视运维有限公司,100.00,50.00\n",
    )
    .unwrap();
    let o = camwatch(
        d,
        db,
        &["device", "import", d.join("devices.csv").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));

    // Bad history with --strict: nothing imported, every problem named with its line.
    std::fs::write(
        d.join("bad.csv"),
        "device_code,status,from,to\n\
         34010400001320000001,online,2026-10-01T00:00:00+08:00,2026-11-01T00:00:00+08:00\n\
         34010400001320000009,online,2026-10-01T00:00:00+08:00,2026-11-01T00:00:00+08:00\n\
         34010400001320000001,offline,2026-10-05T00:00:00+08:00,2026-10-06T00:00:00+08:00\n",
    )
    .unwrap();
    let o = camwatch(
        d,
        db,
        &[
            "history",
            "import",
            "--strict",
            d.join("bad.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(
        err.contains("bad.csv:3: device_code: not in the register"),
        "{err}"
    );
    assert!(
        err.contains("bad.csv:4: from: offline span overlaps the online span on line 2"),
        "{err}"
    );

    // Without --strict the good rows are imported and the bad ones reported (exit status 3):
    // here a cause longer than the 500-character limit.
    std::fs::write(
        d.join("partly.csv"),
        format!(
            "device_code,status,from,to,cause\n\
             34010400001320000001,online,2026-06-01T00:00:00Z,2026-06-02T00:00:00Z,\n\
             34010400001320000001,offline,2026-06-02T00:00:00Z,2026-06-03T00:00:00Z,{}\n",
            "x".repeat(501)
        ),
    )
    .unwrap();
    let o = camwatch(
        d,
        db,
        &["history", "import", d.join("partly.csv").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("partly.csv:3: cause: too long"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("1 spans imported"),
        "{}",
        text(&o.stdout)
    );

    std::fs::write(
        d.join("history.csv"),
        "device_code,status,from,to,cause\n\
         34010400001320000001,online,2026-09-30T16:00:00Z,2026-10-31T16:00:00Z,\n\
         34010400001320000002,offline,2026-10-01T00:00:00+08:00,2026-10-17T00:00:00+08:00,connection_refused\n\
         34010400001320000002,online,2026-10-17T00:00:00+08:00,2026-11-01T00:00:00+08:00,\n",
    )
    .unwrap();
    let o = camwatch(
        d,
        db,
        &["history", "import", d.join("history.csv").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The same file again overlaps what is stored: refused, naming the device.
    let o = camwatch(
        d,
        db,
        &["history", "import", d.join("history.csv").to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("overlaps stored"),
        "{}",
        text(&o.stderr)
    );

    let o = camwatch(
        d,
        db,
        &[
            "exemption",
            "add",
            "--device",
            "34010400001320000001",
            "--reason",
            "planned_works",
            "--from",
            "2026-10-10T00:00:00+08:00",
            "--to",
            "2026-10-11T00:00:00+08:00",
            "--approved-by",
            "市局视频专班",
            "--note",
            "道路施工",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));

    let report = |extra: &[&str]| {
        let mut args = vec!["report", "monthly", "--month", "2026-10", "--contract"];
        let c = contract();
        args.push(&c);
        args.extend_from_slice(extra);
        let o = camwatch(d, db, &args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        o.stdout
    };
    let json = report(&[]);
    assert_eq!(json, report(&[]), "two runs must give the same bytes");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["month"], "2026-10");
    assert_eq!(v["timezone"], "Asia/Shanghai");
    assert_eq!(v["fleet"]["devices"], 2);
    assert_eq!(v["fleet"]["eligible_hours"], 1488.0);
    assert_eq!(v["fleet"]["exempt_hours"], 24.0);
    assert_eq!(v["fleet"]["offline_hours"], 384.0);
    assert_eq!(v["fleet"]["online_rate"], 0.737705);
    assert_eq!(v["devices"][1]["over_offline_limit"], true);
    // 98 − 73.7705 = 24.2295 points × 1‰ × 200.00 = 4.8459 → 4.85; camera 2 forfeits 150.00.
    assert_eq!(v["deductions"][0]["amount"], 4.85);
    assert_eq!(v["deductions"][1]["amount"], 150.0);
    assert_eq!(v["total_deduction"], 154.85);
    assert_eq!(v["exemptions"][0]["approved_by"], "市局视频专班");
    assert_eq!(v["input_digest"].as_str().unwrap().len(), 64);
    // No work orders were opened: the section is there, empty, every state counted as zero.
    assert_eq!(v["work_orders"]["orders"], 0);
    assert_eq!(v["work_orders"]["by_state"][0]["state"], "pending");
    assert_eq!(
        v["work_orders"]["response_sla"]["percent"],
        serde_json::Value::Null
    );

    let csv = text(&report(&["--format", "csv", "--lang", "zh"]));
    assert!(csv.contains("扣款合计(元),154.85"), "{csv}");
    let out = d.join("r.xlsx");
    report(&["--format", "xlsx", "--out", out.to_str().unwrap()]);
    assert!(std::fs::read(&out).unwrap().starts_with(b"PK"));
    let html = text(&report(&["--format", "html", "--lang", "en"]));
    assert!(html.contains("154.85") && html.contains("@page"));

    // A contract with a typo'd key is refused, naming the key.
    std::fs::write(
        d.join("typo.toml"),
        "name = \"x\"\n[fleet_online_rate]\nthreshhold_percent = \"98\"\n",
    )
    .unwrap();
    let o = camwatch(
        d,
        db,
        &[
            "report",
            "monthly",
            "--month",
            "2026-10",
            "--contract",
            d.join("typo.toml").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("threshhold_percent"),
        "{}",
        text(&o.stderr)
    );

    // A month with no data: a report that says so, no rate-based deduction.
    let o = camwatch(
        d,
        db,
        &[
            "report",
            "monthly",
            "--month",
            "2026-08",
            "--contract",
            &contract(),
        ],
    );
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["fleet"]["online_rate"], serde_json::Value::Null);
    assert!(
        text(&o.stderr).contains("no status history"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn history_exemption_report_on_sqlite() {
    story(None);
}

#[test]
fn history_exemption_report_on_postgres() {
    let Ok(base) = std::env::var("CAMWATCH_TEST_PG_URL") else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half skipped");
        return;
    };
    let name = format!("camwatch_report_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .unwrap();
        let (head, _) = base.rsplit_once('/').unwrap();
        format!("{head}/{name}")
    });
    story(Some(&url));
}
