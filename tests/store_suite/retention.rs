//! History's months: partitions on PostgreSQL, archival and drop on both backends.

use super::*;

use camwatch_report::Month;
use camwatch_report::archive::{archive_before, stored_month, write_before};
use camwatch_store::Dropped;
use sha2::Digest;

fn month(s: &str) -> Month {
    s.parse().unwrap()
}

fn start(m: &str) -> i64 {
    stored_month(month(m)).unwrap().from
}

fn span(n: u32, st: Status, a: i64, b: i64) -> StatusSpan {
    StatusSpan {
        device: code(n),
        status: st,
        start_at: a,
        end_at: b,
        cause: None,
    }
}

fn audit(at: i64, actor: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.into(),
        action: "device.update".into(),
        target: target.into(),
        detail: "{}".into(),
    }
}

/// Months before the cut are written to CSV with their sums, then dropped; the months kept,
/// the open spans and the archive's own audit entries stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_then_drops_whole_months() {
    archive_months(&sqlite().await).await;
    match postgres().await {
        Some(db) => archive_months(&db).await,
        None => eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half skipped"),
    }
}

async fn archive_months(db: &Db) {
    let s = db.store.clone();
    s.upsert_devices(&[device(1), device(2), device(3)])
        .await
        .unwrap();
    let (jan, feb, mar) = (start("2024-01"), start("2024-02"), start("2024-03"));
    s.insert_spans(&[
        span(1, Status::Online, jan + 3600, jan + 7200),
        span(2, Status::Offline, jan + 3600, jan + 86_400),
        span(1, Status::Offline, feb + 10, feb + 20),
        // Ends in March: kept with March, though it began in February.
        span(3, Status::Online, mar - 86_400, mar + 86_400),
        span(2, Status::Online, mar + 10, mar + 20),
    ])
    .await
    .unwrap();
    for e in [
        audit(jan + 5, "=cmd|' /C calc'!A0", "34020000001320000001"),
        audit(feb + 5, "alice", "+1"),
        audit(mar + 5, "bob", "kept"),
    ] {
        s.append_audit(&e).await.unwrap();
    }
    let lease = s.acquire_monitor("test", 1, mar + 100).await.unwrap();
    s.apply_transitions(
        &lease,
        &[Transition {
            device: code(1),
            status: Status::Online,
            at: mar + 100,
            cause: None,
        }],
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    // A dry run writes the files and keeps the rows.
    let dry = write_before(&*s, month("2024-03"), dir.path())
        .await
        .unwrap();
    assert_eq!(dry.len(), 2);
    assert_eq!(all_spans(&s, jan, mar + 200).await.len(), 6);

    let now = mar + 1000;
    let done = archive_before(&*s, month("2024-03"), dir.path(), now, "test")
        .await
        .unwrap();
    assert_eq!(
        done.iter()
            .map(|m| (m.month, m.spans.rows, m.audit.rows))
            .collect::<Vec<_>>(),
        [(month("2024-01"), 2, 1), (month("2024-02"), 1, 1)]
    );
    assert_eq!(done, dry, "the same rows make the same files");
    for m in &done {
        for f in [&m.spans, &m.audit] {
            let bytes = std::fs::read(&f.path).unwrap();
            assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), f.sha256);
        }
        let sums = std::fs::read_to_string(dir.path().join(format!("{}.sha256", m.month))).unwrap();
        assert_eq!(
            sums,
            format!(
                "{}  status_span-{m}.csv\n{}  audit_log-{m}.csv\n",
                m.spans.sha256,
                m.audit.sha256,
                m = m.month
            )
        );
    }
    let jan_spans = std::fs::read_to_string(&done[0].spans.path).unwrap();
    let lines: Vec<&str> = jan_spans.lines().collect();
    assert_eq!(
        lines[0],
        "id,device_code,status,start_at,end_at,start_utc,end_utc,cause,instance_id"
    );
    assert!(
        lines[1].contains(&format!(
            "{},online,{},{},2024-01-01T01:00:00Z,2024-01-01T02:00:00Z,,",
            code(1),
            jan + 3600,
            jan + 7200
        )),
        "{}",
        lines[1]
    );
    // Text typed by people never runs as a formula in a spreadsheet.
    let jan_audit = std::fs::read_to_string(&done[0].audit.path).unwrap();
    assert!(jan_audit.contains(",'=cmd|' /C calc'!A0,"), "{jan_audit}");
    let feb_audit = std::fs::read_to_string(&done[1].audit.path).unwrap();
    assert!(feb_audit.contains(",'+1,"), "{feb_audit}");

    // What is left: March's spans (one begun in February) and the open one.
    let left = all_spans(&s, jan, mar + 200).await;
    assert_eq!(
        left.iter()
            .map(|x| (x.device, x.start_at, x.end_at))
            .collect::<Vec<_>>(),
        [
            (code(1), mar + 100, mar + 200),
            (code(2), mar + 10, mar + 20),
            (code(3), mar - 86_400, mar + 86_400),
        ]
    );
    let audit = s.recent_audit(100).await.unwrap();
    assert!(audit.iter().any(|e| e.target == "kept"));
    assert!(!audit.iter().any(|e| e.actor == "alice"));
    let archived: Vec<&str> = audit
        .iter()
        .filter(|e| e.action == "retention.archive")
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(archived, ["2024-02", "2024-01"]);

    // Again: nothing before the cut.
    let again = archive_before(&*s, month("2024-03"), dir.path(), now, "test")
        .await
        .unwrap();
    assert!(again.is_empty());

    // A drop that would remove other rows than were archived removes nothing.
    let e = s
        .drop_month(&stored_month(month("2024-03")).unwrap(), Dropped::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, camwatch_core::error::ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string()
            .contains("month 2024-03: 2 spans and 3 audit entries"),
        "{e}"
    );
    assert_eq!(all_spans(&s, jan, mar + 200).await.len(), 3);
}

async fn all_spans(s: &Arc<dyn Store>, from: i64, until: i64) -> Vec<StatusSpan> {
    s.spans_overlapping(from, until, until).await.unwrap()
}

/// PostgreSQL: each span lives in the partition of the month it ended in, an open one in the
/// open partition; a span closed in a month that had no partition yet is moved into it when
/// that month's partition is made, and one device still has one open span.
#[tokio::test]
async fn spans_live_in_their_end_months_partition() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: test skipped");
        return;
    };
    use sqlx::Connection;
    let s = db.store.clone();
    let mut c = sqlx::PgConnection::connect(db.url.as_deref().unwrap())
        .await
        .unwrap();
    let count = |table: &'static str| {
        let url = db.url.clone().unwrap();
        async move {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM ONLY {table}"
            )))
            .fetch_one(&mut c)
            .await
            .unwrap();
            n
        }
    };
    s.upsert_devices(&[device(1), device(2)]).await.unwrap();
    let (jan, feb) = (start("2024-01"), start("2024-02"));
    s.insert_spans(&[
        span(1, Status::Online, jan + 10, jan + 20),
        span(1, Status::Online, jan + 30, feb + 5),
    ])
    .await
    .unwrap();
    assert_eq!(count("status_span_y2024m01").await, 1);
    assert_eq!(count("status_span_y2024m02").await, 1);

    // Far ahead of any partition: the closed span waits in the open partition…
    let t = start("2031-05");
    let lease = s.acquire_monitor("test", 1, t).await.unwrap();
    for (status, at) in [(Status::Online, t + 10), (Status::Offline, t + 50)] {
        s.apply_transitions(
            &lease,
            &[Transition {
                device: code(2),
                status,
                at,
                cause: None,
            }],
        )
        .await
        .unwrap();
    }
    assert_eq!(count("status_span_open").await, 2);
    // …until its month is made, and the report reads the same either way.
    let before = all_spans(&s, t, t + 100).await;
    let made = s.prepare_months(t, t).await.unwrap();
    assert_eq!(made, 2, "status_span and audit_log of 2031-05");
    assert_eq!(s.prepare_months(t, t).await.unwrap(), 0, "idempotent");
    assert_eq!(count("status_span_y2031m05").await, 1);
    assert_eq!(count("status_span_open").await, 1);
    assert_eq!(all_spans(&s, t, t + 100).await, before);

    // One open span per device, across the partitioned table.
    let dup = sqlx::query(
        "INSERT INTO status_span (device_code, status, start_at) VALUES ($1, 'online', $2)",
    )
    .bind(code(2).to_string())
    .bind(t + 60)
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(dup.to_string().contains("status_span_one_open"), "{dup}");
}

/// PostgreSQL: a database made before migration 0014 keeps every span and audit entry, ids
/// included, and the sequences go on after them.
#[tokio::test]
async fn migration_0014_keeps_history() {
    let Some(url) = pg::pg_database().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: test skipped");
        return;
    };
    use sqlx::Connection;
    // The embedded migrations below 0014, as a binary of that time applied them.
    let old = camwatch_store::postgres_schema_before(14);
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    old.run(&mut c).await.unwrap();
    let jan = start("2024-01");
    sqlx::query(
        "INSERT INTO monitor_instance (id, host, pid, started_at, heartbeat_at) VALUES (7, 'h', 1, $1, $1)",
    )
    .bind(jan)
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::raw_sql(
        "INSERT INTO status_span (id, device_code, status, start_at, end_at, cause, instance_id) VALUES
           (41, '34020000001320000001', 'online', 100, 200, NULL, NULL),
           (42, '34020000001320000001', 'offline', 200, 300, 'no_answer', NULL),
           (43, '34020000001320000001', 'online', 300, NULL, NULL, 7);
         INSERT INTO audit_log (id, at, actor, action, target) VALUES (9, 150, 'a', 'x.y', 't')",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let s = camwatch_store::connect(&url, SecretKey::generate())
        .await
        .unwrap();
    type Row = (i64, i64, Option<i64>, Option<String>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, start_at, end_at, cause, instance_id FROM status_span ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (41, 100, Some(200), None, None),
            (42, 200, Some(300), Some("no_answer".into()), None),
            (43, 300, None, None, Some(7)),
        ]
    );
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM ONLY status_span_open")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(open, 1);
    s.append_audit(&audit(jan, "b", "u")).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&9), "{ids:?}");
    // The id sequences belong to the new tables (dropped with them, found by their columns).
    for table in ["status_span", "audit_log"] {
        let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
            .bind(table)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            seq.as_deref(),
            Some(format!("public.{table}_id_seq").as_str())
        );
    }
}

/// PostgreSQL reads a large month as two physical halves on one snapshot: every span comes
/// out once, from both halves of the month's partition and from the open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_month_reads_whole_in_two_halves() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: test skipped");
        return;
    };
    let s = db.store.clone();
    let devices: Vec<Device> = (1..=300).map(device).collect();
    s.upsert_devices(&devices).await.unwrap();
    let jan = start("2024-01");
    let mut want = Vec::new();
    for n in 1..=300u32 {
        for k in 0..100i64 {
            let a = jan + k * 3600 + i64::from(n);
            want.push(span(n, Status::Online, a, a + 1800));
        }
    }
    s.insert_spans(&want).await.unwrap();
    let lease = s
        .acquire_monitor("test", 1, jan + 200 * 3600)
        .await
        .unwrap();
    s.apply_transitions(
        &lease,
        &[Transition {
            device: code(7),
            status: Status::Offline,
            at: jan + 200 * 3600,
            cause: None,
        }],
    )
    .await
    .unwrap();
    let until = jan + 300 * 3600;
    want.push(span(7, Status::Offline, jan + 200 * 3600, until));
    want.sort_by_key(|x| (x.device, x.start_at));
    let blocks: i64 = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db.url.as_deref().unwrap())
            .await
            .unwrap();
        sqlx::query_scalar("SELECT pg_relation_size('status_span_y2024m01') / 8192")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert!(
        blocks >= 100,
        "the month spans {blocks} blocks: both halves hold rows"
    );
    assert_eq!(all_spans(&s, jan, until).await, want);
}
