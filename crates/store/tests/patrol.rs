//! Patrol records in the store, on SQLite always and on PostgreSQL when `CAMWATCH_TEST_PG_URL`
//! names a server: a record is appended with its audit entry and read back typed; a second
//! verdict on the same device and day is a new row; a fault without a finding is refused; the
//! database itself refuses to change or delete a record.

use std::sync::Arc;

use camwatch_core::error::ErrorKind;
use camwatch_core::patrol::{Finding, Verdict};
use camwatch_core::quality::FaultKind;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_core::secret::SecretKey;
use camwatch_store::{AuditQuery, NewPatrolRecord, Store};
use jiff::civil::Date;

/// A store and the URL of its database (for the raw statements the store never makes).
async fn sqlite() -> (Arc<dyn Store>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (
        camwatch_store::connect(&url, SecretKey::generate())
            .await
            .unwrap(),
        url,
        dir,
    )
}

/// A fresh database on the test server, or `None` when none is configured.
async fn postgres() -> Option<(Arc<dyn Store>, String)> {
    let base = std::env::var("CAMWATCH_TEST_PG_URL").ok()?;
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("camwatch_patrol_{}_{nanos}", std::process::id());
    // The name is made of our own digits, not user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    };
    Some((
        camwatch_store::connect(&url, SecretKey::generate())
            .await
            .unwrap(),
        url,
    ))
}

macro_rules! on_all_backends {
    ($name:ident, $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let f = $body;
            let (s, url, _dir) = sqlite().await;
            f(s, url).await;
            if let Some((s, url)) = postgres().await {
                f(s, url).await;
            } else {
                eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half of this test skipped");
            }
        }
    };
}

const AT: i64 = 1_794_000_000; // 2026-11-07

fn ch(n: u32) -> DeviceCode {
    format!("340200000013200{n:05}").parse().unwrap()
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

fn record(n: u32, d: &str, verdict: Verdict, finding: Option<Finding>, at: i64) -> NewPatrolRecord {
    NewPatrolRecord {
        device: ch(n),
        day: day(d),
        patroller: "李巡检".into(),
        verdict,
        finding,
        note: "画面'=1+1".into(),
        work_order: None,
        recorded_at: at,
    }
}

/// Runs one statement the store never makes, on the database at `url`; its error text.
async fn raw(url: &str, sql: &'static str) -> Option<String> {
    use sqlx::Connection;
    let r = if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    };
    r.err().map(|e| e.to_string())
}

on_all_backends!(
    records_are_appended_audited_and_never_changed,
    |s: Arc<dyn Store>, url: String| async move {
        s.upsert_devices(&[Device::new(ch(1), "东门"), Device::new(ch(2), "西门")])
            .await
            .unwrap();
        let a = s
            .add_patrol_record(&record(1, "2026-11-09", Verdict::Normal, None, AT))
            .await
            .unwrap();
        assert!(a.id > 0);
        let blur = Some(Finding::Picture(FaultKind::Blur));
        let mut b = record(2, "2026-11-09", Verdict::Fault, blur, AT + 5);
        b.work_order = None;
        let b = s.add_patrol_record(&b).await.unwrap();
        // A second verdict on device 1 the same day: a new row, both kept.
        let c = s
            .add_patrol_record(&record(
                1,
                "2026-11-09",
                Verdict::Fault,
                Some(Finding::NoVideo),
                AT + 10,
            ))
            .await
            .unwrap();
        let d = s
            .add_patrol_record(&record(2, "2026-11-10", Verdict::Normal, None, AT + 86_400))
            .await
            .unwrap();
        assert!(a.id < b.id && b.id < c.id && c.id < d.id);

        let all = s
            .patrol_records(day("2026-11-01"), day("2026-11-30"))
            .await
            .unwrap();
        assert_eq!(all, vec![a.clone(), c.clone(), b.clone(), d.clone()]);
        assert_eq!(all[1].finding, Some(Finding::NoVideo));
        assert_eq!(all[2].finding, blur);
        assert_eq!(all[0].note, "画面'=1+1");
        // Days are inclusive at both ends.
        let one = s
            .patrol_records(day("2026-11-10"), day("2026-11-10"))
            .await
            .unwrap();
        assert_eq!(one, vec![d.clone()]);
        assert!(
            s.patrol_records(day("2026-12-01"), day("2026-12-31"))
                .await
                .unwrap()
                .is_empty()
        );

        // Each record is audited, by the patroller, on the device.
        let audit = s
            .audit_page(&AuditQuery {
                action: Some("patrol.record".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 4);
        let (_, newest) = &audit[0];
        assert_eq!(
            (newest.actor.as_str(), newest.target.as_str()),
            ("李巡检", ch(2).as_str())
        );
        let detail: serde_json::Value = serde_json::from_str(&audit[1].1.detail).unwrap();
        assert_eq!(detail["finding"], "no_video");
        assert_eq!(detail["record"], c.id);

        // A fault says what it is; a normal verdict says nothing.
        let e = s
            .add_patrol_record(&record(1, "2026-11-10", Verdict::Fault, None, AT))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let e = s
            .add_patrol_record(&record(1, "2026-11-10", Verdict::Normal, blur, AT))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);

        // The database refuses to rewrite history, whoever asks.
        let e = raw(
            &url,
            "UPDATE patrol_record SET verdict = 'normal', finding = NULL",
        )
        .await
        .expect("update refused");
        assert!(e.contains("never"), "{e}");
        let e = raw(&url, "DELETE FROM patrol_record")
            .await
            .expect("delete refused");
        assert!(e.contains("never"), "{e}");
        assert_eq!(
            s.patrol_records(day("2026-11-01"), day("2026-11-30"))
                .await
                .unwrap()
                .len(),
            4
        );
    }
);
