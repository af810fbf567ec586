//! One store test suite, run on SQLite always and on PostgreSQL when `CAMWATCH_TEST_PG_URL`
//! names a server (each test creates its own database there, so tests run in parallel).

use std::sync::Arc;

use camwatch_core::history::{Exemption, ExemptionReason, ExemptionScope, Status, StatusSpan};
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_store::{AuditEntry, DeviceFilter, Store, Transition};

struct Db {
    store: Arc<dyn Store>,
    /// The database's own URL (PostgreSQL).
    url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    sqlite_file: Option<std::path::PathBuf>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.db");
    let store = camwatch_store::connect(
        &format!("sqlite://{}", file.display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    Db {
        store,
        url: None,
        _dir: Some(dir),
        sqlite_file: Some(file),
    }
}

async fn postgres() -> Option<Db> {
    let url = pg::pg_database().await?;
    let store = camwatch_store::connect(&url, SecretKey::generate())
        .await
        .unwrap();
    Some(Db {
        store,
        url: Some(url),
        _dir: None,
        sqlite_file: None,
    })
}

/// Runs `body` on every configured backend.
macro_rules! on_all_backends {
    ($name:ident, $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let f = $body;
            // `db` outlives the test body: it owns the temporary directory.
            let db = sqlite().await;
            f(db.store.clone()).await;
            if let Some(db) = postgres().await {
                f(db.store.clone()).await;
            } else {
                eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half of this test skipped");
            }
        }
    };
}

fn code(n: u32) -> DeviceCode {
    format!("340200000013200{n:05}").parse().unwrap()
}

fn device(n: u32) -> Device {
    let mut d = Device::new(code(n), format!("Camera {n}"));
    d.ip = Some(
        format!("127.0.{}.{}", n / 250, n % 250 + 1)
            .parse()
            .unwrap(),
    );
    d.rtsp_port = Some(554);
    d.stream_urls = vec![format!("rtsp://127.0.0.1/ch{n}")];
    d.username = Some("admin".into());
    d.password = Some(Password::new(format!("S3cret-pw-{n}")));
    d.civil_code = Some(
        if n.is_multiple_of(2) {
            "340202"
        } else {
            "340203"
        }
        .into(),
    );
    d.maintainer = Some(
        if n.is_multiple_of(3) {
            "甲公司"
        } else {
            "乙公司"
        }
        .into(),
    );
    d.longitude = Some(117.2 + f64::from(n) * 1e-5);
    d.latitude = Some(31.8);
    d.monthly_fee_fen = Some(8_000);
    d.monthly_link_fee_fen = Some(2_000);
    d.contract_from = Some("2026-01-01".parse().unwrap());
    d.tags = vec!["视频监控".into()];
    d.extra.insert("补光属性".into(), "红外补光".into());
    d
}

on_all_backends!(
    upsert_counts_and_roundtrip,
    |s: Arc<dyn Store>| async move {
        let devs: Vec<Device> = (1..=1200).map(device).collect();
        let c = s.upsert_devices(&devs).await.unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (1200, 0, 0));
        let again = s.upsert_devices(&devs).await.unwrap();
        assert_eq!(
            (again.inserted, again.updated, again.unchanged),
            (0, 0, 1200)
        );
        let mut changed = devs[5].clone();
        changed.name = "Renamed".into();
        let c = s.upsert_devices(&[changed.clone()]).await.unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (0, 1, 0));
        assert_eq!(s.get_device(&changed.code).await.unwrap().unwrap(), changed);
        assert_eq!(s.get_device(&devs[7].code).await.unwrap().unwrap(), devs[7]);
        assert_eq!(s.count_devices().await.unwrap(), 1200);
        assert!(s.get_device(&code(99_999)).await.unwrap().is_none());
    }
);

on_all_backends!(list_filters, |s: Arc<dyn Store>| async move {
    let mut devs: Vec<Device> = (1..=30).map(device).collect();
    devs[0].kind = DeviceKind::Nvr;
    s.upsert_devices(&devs).await.unwrap();
    let all = s.list_devices(&DeviceFilter::default()).await.unwrap();
    assert_eq!(all.len(), 30);
    assert!(all.windows(2).all(|w| w[0].code < w[1].code));
    let east = s
        .list_devices(&DeviceFilter {
            region_prefix: Some("340202".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(east.len(), 15);
    let jia = s
        .list_devices(&DeviceFilter {
            maintainer: Some("甲公司".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jia.len(), 10);
    let nvr = s
        .list_devices(&DeviceFilter {
            kind: Some(DeviceKind::Nvr),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(nvr.len(), 1);
    let limited = s
        .list_devices(&DeviceFilter {
            limit: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 4);
    let existing = s.existing_codes(&[code(1), code(500)]).await.unwrap();
    assert!(existing.contains(&code(1)) && !existing.contains(&code(500)));
});

on_all_backends!(transitions_make_spans, |s: Arc<dyn Store>| async move {
    let lease = s.acquire_monitor("test", 1, 0).await.unwrap();
    let t = |n, status, at| Transition {
        device: code(n),
        status,
        at,
        cause: None,
    };
    s.apply_transitions(
        &lease,
        &[
            t(1, Status::Online, 100),
            t(1, Status::Online, 150), // same status: no-op
            t(1, Status::Offline, 200),
            t(2, Status::Online, 100),
        ],
    )
    .await
    .unwrap();
    s.apply_transitions(&lease, &[t(1, Status::Online, 260)])
        .await
        .unwrap();
    let spans = s.spans_overlapping(0, 1000, 300).await.unwrap();
    let got: Vec<(DeviceCode, Status, i64, i64)> = spans
        .iter()
        .map(|s| (s.device, s.status, s.start_at, s.end_at))
        .collect();
    assert_eq!(
        got,
        vec![
            (code(1), Status::Online, 100, 200),
            (code(1), Status::Offline, 200, 260),
            (code(1), Status::Online, 260, 300),
            (code(2), Status::Online, 100, 300),
        ]
    );
    // A transition before the open span's start is a bug in the caller: refused.
    assert!(
        s.apply_transitions(&lease, &[t(1, Status::Offline, 250)])
            .await
            .is_err()
    );
    // One device's timeline: its own spans only, by start, the open one up to `open_until`,
    // those ending at or before `from` left out.
    let one: Vec<(Status, i64, i64)> = s
        .device_spans(&code(1), 150, 1000, 300)
        .await
        .unwrap()
        .iter()
        .map(|s| (s.status, s.start_at, s.end_at))
        .collect();
    assert_eq!(
        one,
        vec![
            (Status::Online, 100, 200),
            (Status::Offline, 200, 260),
            (Status::Online, 260, 300),
        ]
    );
    assert_eq!(
        s.device_spans(&code(1), 200, 260, 300).await.unwrap().len(),
        1
    );
    assert!(
        s.device_spans(&code(3), 0, 1000, 300)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.release_monitor(lease, 400).await.unwrap(), 2);
    let spans = s.spans_overlapping(350, 1000, 9999).await.unwrap();
    assert!(spans.iter().all(|s| s.end_at == 400));
});

on_all_backends!(
    insert_spans_rejects_overlap,
    |s: Arc<dyn Store>| async move {
        let span = |st, a, b| StatusSpan {
            device: code(1),
            status: st,
            start_at: a,
            end_at: b,
            cause: None,
        };
        s.insert_spans(&[
            span(Status::Online, 0, 100),
            span(Status::Offline, 100, 200),
        ])
        .await
        .unwrap();
        let e = s
            .insert_spans(&[
                span(Status::Online, 300, 400),
                span(Status::Online, 150, 250),
            ])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        // Nothing of the rejected batch was stored.
        assert_eq!(s.spans_overlapping(0, 1000, 1000).await.unwrap().len(), 2);
        let e = s
            .insert_spans(&[span(Status::Online, 500, 500)])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("at or before"), "{e}");
        let e = s
            .insert_spans(&[span(Status::Online, 50, 60), span(Status::Online, 55, 70)])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
    }
);

on_all_backends!(heartbeat_exemptions_audit, |s: Arc<dyn Store>| async move {
    assert_eq!(s.last_heartbeat().await.unwrap(), None);
    let lease = s.acquire_monitor("test", 1, 5).await.unwrap();
    s.record_heartbeat(&lease, 10).await.unwrap();
    s.record_heartbeat(&lease, 20).await.unwrap();
    assert_eq!(s.last_heartbeat().await.unwrap(), Some(20));

    let e = Exemption {
        id: 0,
        scope: ExemptionScope::RegionPrefix("3402".into()),
        reason: ExemptionReason::ForceMajeure,
        start_at: 100,
        end_at: 200,
        note: "typhoon".into(),
        approved_by: "王科长".into(),
    };
    let id = s.add_exemption(&e).await.unwrap();
    let got = s.exemptions_overlapping(150, 160).await.unwrap();
    assert_eq!(got, vec![Exemption { id, ..e.clone() }]);
    assert!(s.exemptions_overlapping(200, 300).await.unwrap().is_empty());
    let bad = Exemption {
        start_at: 300,
        end_at: 300,
        ..e
    };
    assert!(s.add_exemption(&bad).await.is_err());

    for (i, action) in ["device.import", "exemption.add"].iter().enumerate() {
        s.append_audit(&AuditEntry {
            at: i as i64,
            actor: "cli:root".into(),
            action: action.to_string(),
            target: "x".into(),
            detail: "{}".into(),
        })
        .await
        .unwrap();
    }
    let audit = s.recent_audit(10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "exemption.add");
});

fn online(n: u32, at: i64) -> Transition {
    Transition {
        device: code(n),
        status: Status::Online,
        at,
        cause: None,
    }
}

/// `(device, start, end)` of every span, an open one ending at `i64::MAX`.
async fn span_ends(s: &dyn Store) -> Vec<(DeviceCode, i64, i64)> {
    let mut v: Vec<_> = s
        .spans_overlapping(0, i64::MAX, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|x| (x.device, x.start_at, x.end_at))
        .collect();
    v.sort();
    v
}

// One monitor per database: a second is refused with the holder named; a holder that died
// (its lease dropped without a stop: the lock freed as by kill -9) blocks no one, and the next
// monitor closes the dead one's open spans at its last heartbeat.
on_all_backends!(one_monitor_per_database, |s: Arc<dyn Store>| async move {
    let first = s.acquire_monitor("host-a", 4242, 1000).await.unwrap();
    s.apply_transitions(&first, &[online(1, 1000), online(2, 1100)])
        .await
        .unwrap();
    s.record_heartbeat(&first, 1500).await.unwrap();

    let e = s.acquire_monitor("host-b", 7, 1510).await.unwrap_err();
    assert_eq!(e.kind, camwatch_core::error::ErrorKind::Conflict, "{e}");
    let msg = e.to_string();
    for want in [
        "another monitor is already running",
        "pid 4242 on host host-a",
        "since 1970-01-01T00:16:40Z",
        "last heartbeat 1970-01-01T00:25:00Z, 10 s ago",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
    // Refused, it touched nothing: the first's spans are open, its heartbeat stands.
    let open = i64::MAX;
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![(code(1), 1000, open), (code(2), 1100, open)]
    );
    assert_eq!(s.last_heartbeat().await.unwrap(), Some(1500));

    drop(first); // dies without a stop
    // The lock is freed when the server sees the dead holder's session end (PostgreSQL: a
    // moment after its connection is dropped), as after a kill -9: bounded retries.
    let mut next = None;
    for _ in 0..100 {
        match s.acquire_monitor("host-b", 7, 2000).await {
            Ok(lease) => {
                next = Some(lease);
                break;
            }
            Err(e) if e.kind == camwatch_core::error::ErrorKind::Conflict => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let next = next.expect("the dead holder's lock is freed");
    let recovered = s.recover_dead_monitors(&next).await.unwrap();
    assert_eq!(recovered.len(), 1);
    let (dead, closed) = &recovered[0];
    assert_eq!(
        (dead.host.as_str(), dead.pid, dead.heartbeat_at),
        ("host-a", 4242, 1500)
    );
    assert_eq!(*closed, 2);
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![(code(1), 1000, 1500), (code(2), 1100, 1500)]
    );
    // Recovered once: the next start finds nothing more to close.
    assert!(s.recover_dead_monitors(&next).await.unwrap().is_empty());
    s.release_monitor(next, 2100).await.unwrap();
    // Released: the database is free again.
    let again = s.acquire_monitor("host-c", 9, 2200).await.unwrap();
    assert!(s.recover_dead_monitors(&again).await.unwrap().is_empty());
});

// A stop closes the stopping monitor's spans and no one else's: spans a dead monitor left open
// stay open for recovery, which closes them at that monitor's own last heartbeat, not at the
// time of the stop.
on_all_backends!(
    a_stop_closes_only_its_own_spans,
    |s: Arc<dyn Store>| async move {
        let dead = s.acquire_monitor("host-a", 1, 1000).await.unwrap();
        s.apply_transitions(&dead, &[online(1, 1000)])
            .await
            .unwrap();
        s.record_heartbeat(&dead, 1200).await.unwrap();
        drop(dead);

        let second = s.acquire_monitor("host-b", 2, 2000).await.unwrap();
        // Not recovered yet (as if a second monitor shared the database).
        s.apply_transitions(&second, &[online(2, 2000), online(3, 2100)])
            .await
            .unwrap();
        assert_eq!(s.release_monitor(second, 3000).await.unwrap(), 2);
        let open = i64::MAX;
        assert_eq!(
            span_ends(s.as_ref()).await,
            vec![
                (code(1), 1000, open),
                (code(2), 2000, 3000),
                (code(3), 2100, 3000)
            ]
        );

        let third = s.acquire_monitor("host-c", 3, 4000).await.unwrap();
        let recovered = s.recover_dead_monitors(&third).await.unwrap();
        // The gracefully stopped one is not recovered; the dead one is, at its heartbeat.
        assert_eq!(recovered.len(), 1, "{recovered:?}");
        assert_eq!(recovered[0].0.host, "host-a");
        assert_eq!(
            span_ends(s.as_ref()).await,
            vec![
                (code(1), 1000, 1200),
                (code(2), 2000, 3000),
                (code(3), 2100, 3000)
            ]
        );
    }
);

/// The SQLite lock is the kernel's: a second process is refused, and the lock is free again
/// once the holder's descriptor is gone, however it went.
#[tokio::test]
async fn the_sqlite_lock_file_sits_beside_the_database() {
    let db = sqlite().await;
    let file = db.sqlite_file.clone().unwrap();
    let lease = db.store.acquire_monitor("h", 1, 0).await.unwrap();
    let lock = file.with_file_name("t.db-monitor.lock");
    assert!(lock.exists(), "{}", lock.display());
    // Another store on the same file (another process, in effect: flock is per open file).
    let other = camwatch_store::connect(
        &format!("sqlite://{}", file.display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    assert!(other.acquire_monitor("h", 2, 1).await.is_err());
    // A lock file removed under a running monitor: its next heartbeat fails, so it stops
    // rather than write beside a successor that locked a new file.
    std::fs::remove_file(&lock).unwrap();
    let e = db.store.record_heartbeat(&lease, 5).await.unwrap_err();
    assert!(e.to_string().contains("removed or replaced"), "{e}");
    drop(lease);
    other.acquire_monitor("h", 2, 10).await.unwrap();
}

#[tokio::test]
async fn passwords_are_not_stored_in_clear() {
    let db = sqlite().await;
    db.store.upsert_devices(&[device(42)]).await.unwrap();
    // Force the WAL into the main file so every byte written is in one of the two files.
    drop(db.store);
    let file = db.sqlite_file.unwrap();
    for path in [file.clone(), file.with_extension("db-wal")] {
        if let Ok(bytes) = std::fs::read(&path) {
            let needle = b"S3cret-pw-42";
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "clear-text password found in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn bad_url_is_named() {
    let e = camwatch_store::connect("mysql://x", SecretKey::generate())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("mysql://x"), "{e}");
}

on_all_backends!(
    report_read_of_the_register_matches_the_full_read,
    |store: std::sync::Arc<dyn camwatch_store::Store>| async move {
        let devices = camwatch_core::registry::generate::generate(300, 9);
        store.upsert_devices(&devices).await.unwrap();
        let full = store
            .list_devices(&camwatch_store::DeviceFilter::default())
            .await
            .unwrap();
        let lean = store.list_devices_for_report().await.unwrap();
        assert_eq!(full.len(), lean.len());
        for (f, l) in full.iter().zip(&lean) {
            let key = |d: &Device| {
                (
                    d.code,
                    d.name.clone(),
                    d.kind,
                    d.parent,
                    d.region().to_string(),
                    d.maintainer.clone(),
                    d.monthly_fee_fen,
                    d.monthly_link_fee_fen,
                    d.contract_from,
                    d.contract_to,
                )
            };
            assert_eq!(key(f), key(l));
            assert!(l.password.is_none(), "no password is decrypted for reports");
        }
    }
);

/// Both backends read a large span table as two id ranges at once: rows on both sides of the
/// split, an open span and spans outside the window must come out exactly as from one read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_spans_in_two_id_ranges() {
    two_id_ranges(&sqlite().await).await;
    match postgres().await {
        Some(db) => two_id_ranges(&db).await,
        None => eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half skipped"),
    }
}

async fn two_id_ranges(db: &Db) {
    let s = db.store.clone();
    s.upsert_devices(&[device(1), device(2), device(3)])
        .await
        .unwrap();
    let span = |n: u32, st: Status, a: i64, b: i64, cause: Option<&str>| StatusSpan {
        device: code(n),
        status: st,
        start_at: a,
        end_at: b,
        cause: cause.map(|c| c.parse().unwrap()),
    };
    s.insert_spans(&[
        span(2, Status::Online, 0, 100, None),
        span(1, Status::Offline, 100, 200, Some("no_answer")),
        span(3, Status::Online, 5000, 6000, None),
    ])
    .await
    .unwrap();
    // Ids far apart without a million rows: the split falls between these and the next ones.
    use sqlx::Connection;
    match &db.sqlite_file {
        Some(file) => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO status_span (id, device_code, status, start_at, end_at)
                 VALUES (2000000, $1, 'online', 0, 100)",
            )
            .bind(code(1).to_string())
            .execute(&mut c)
            .await
            .unwrap();
            s.insert_spans(&[span(2, Status::Degraded, 100, 300, Some("blur"))])
                .await
                .unwrap();
        }
        None => {
            let mut c = sqlx::PgConnection::connect(db.url.as_deref().unwrap())
                .await
                .unwrap();
            sqlx::query("SELECT setval('status_span_id_seq', 2000000)")
                .execute(&mut c)
                .await
                .unwrap();
            s.insert_spans(&[
                span(1, Status::Online, 0, 100, None),
                span(2, Status::Degraded, 100, 300, Some("blur")),
            ])
            .await
            .unwrap();
        }
    }
    let lease = s.acquire_monitor("test", 1, 0).await.unwrap();
    s.apply_transitions(
        &lease,
        &[Transition {
            device: code(3),
            status: Status::Online,
            at: 7000,
            cause: None,
        }],
    )
    .await
    .unwrap();
    let want = vec![
        (code(1), Status::Online, 0, 100, None),
        (code(1), Status::Offline, 100, 200, Some("no_answer".into())),
        (code(2), Status::Online, 0, 100, None),
        (code(2), Status::Degraded, 100, 300, Some("blur".into())),
        (code(3), Status::Online, 5000, 6000, None),
        (code(3), Status::Online, 7000, 7200, None),
    ];
    if let Some(url) = &db.url {
        // Two id ranges of the rows asked for.
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("ANALYZE status_span")
            .execute(&mut c)
            .await
            .unwrap();
    }
    // A past window (read in halves) and one reaching past now (read in one snapshot).
    let past: Vec<_> = want
        .iter()
        .cloned()
        .map(|(c, st, a, b, cause)| (c, st, a, if b == 7200 { 7500 } else { b }, cause))
        .collect();
    assert_eq!(overlapping(&s, 7500).await, past);
    assert_eq!(overlapping(&s, 7200).await, want);
    if let Some(url) = &db.url {
        // Years of history before the window (here in the default partition: no month
        // partitions that far back), analysed: the id ranges are the rows asked for, not the
        // table's.
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(
            "INSERT INTO status_span (device_code, status, start_at, end_at)
             SELECT $1, 'online', -2 * k - 2, -2 * k - 1 FROM generate_series(0, 20000) AS k",
        )
        .bind(code(2).to_string())
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::query("ANALYZE status_span")
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(overlapping(&s, 7500).await, past, "with history");
        assert_eq!(
            overlapping(&s, 7200).await,
            want,
            "with history, now in the window"
        );
    }
}

/// The spans overlapping [50, 7500) with open ones cut at 7200, as compared above.
async fn overlapping(
    s: &Arc<dyn Store>,
    open_until: i64,
) -> Vec<(DeviceCode, Status, i64, i64, Option<String>)> {
    s.spans_overlapping(50, 7500, open_until)
        .await
        .unwrap()
        .into_iter()
        .map(|x| {
            (
                x.device,
                x.status,
                x.start_at,
                x.end_at,
                x.cause.map(|c| c.to_string()),
            )
        })
        .collect()
}

/// Database errors are classified by cause (`store::db_error`): a real constraint violation from
/// each database is a `Conflict` (the span writer skips it), a missing row `NotFound`, a closed
/// pool `Unavailable`; the sqlx error is always kept as the source.
#[tokio::test]
async fn database_errors_are_classified_by_cause() {
    use camwatch_core::error::ErrorKind;
    use sqlx::Connection;
    const OPEN: &str = "INSERT INTO status_span (device_code, status, start_at, end_at)
                        VALUES ('34020000001320000001', 'online', 100, NULL)";
    const CASES: [(&str, ErrorKind, &str); 4] = [
        // status_span_one_open: a second open span of one device.
        (OPEN, ErrorKind::Conflict, "unique"),
        (
            "INSERT INTO status_span (device_code, status, start_at) VALUES ('34020000001320000002', 'bogus', 1)",
            ErrorKind::Conflict,
            "check",
        ),
        (
            "INSERT INTO status_span (device_code, status, start_at) VALUES (NULL, 'online', 1)",
            ErrorKind::Conflict,
            "not null",
        ),
        (
            "SELECT start_at FROM status_span WHERE device_code = 'none'",
            ErrorKind::NotFound,
            "no row",
        ),
    ];
    // A macro: sqlx's executor bounds make a function generic over both connections unwieldy.
    macro_rules! check {
        ($conn:expr, $backend:literal) => {
            sqlx::query(OPEN).execute(&mut $conn).await.unwrap();
            for (sql, want, what) in CASES {
                let e = sqlx::query(sql).fetch_one(&mut $conn).await.err().unwrap();
                let e = camwatch_store::db_error(e);
                assert_eq!(e.kind, want, "{} {what}: {e}", $backend);
                let source = std::error::Error::source(&e).expect("the sqlx error is kept");
                assert!(source.downcast_ref::<sqlx::Error>().is_some());
            }
        };
    }
    let db = sqlite().await;
    let file = db.sqlite_file.clone().unwrap();
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    check!(c, "sqlite");
    let e = camwatch_store::db_error(sqlx::Error::PoolTimedOut);
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(
        camwatch_store::db_error(sqlx::Error::PoolClosed).kind,
        ErrorKind::Unavailable
    );
    if let Some(db) = postgres().await {
        let mut c = sqlx::PgConnection::connect(db.url.as_deref().unwrap())
            .await
            .unwrap();
        check!(c, "postgres");
    } else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half of this test skipped");
    }
}

// --- work orders ---

fn new_order(devices: &[u32], at: i64) -> camwatch_store::workorders::NewWorkOrder {
    use camwatch_core::workorder::{Lifecycle, Origin};
    camwatch_store::workorders::NewWorkOrder {
        subject: code(devices[0]),
        origin: if devices.len() > 1 {
            Origin::Parent
        } else {
            Origin::Outage
        },
        cause: Some(camwatch_core::cause::Cause::NoMedia),
        title: "离线 Camera".into(),
        level: "一般".into(),
        region: "340200".into(),
        fault_since: at - 600,
        opened_at: at,
        life: Lifecycle {
            contractor: Some("甲运维".into()),
            response_due_at: Some(at + 1200),
            repair_due_at: Some(at + 7200),
            ..Lifecycle::default()
        },
        devices: devices.iter().map(|&n| code(n)).collect(),
        actor: "system".into(),
        note: String::new(),
    }
}

fn outbox_row(key: &str, at: i64) -> camwatch_store::outbox::NewOutboxRow {
    camwatch_store::outbox::NewOutboxRow {
        target: "hook".into(),
        ordering_key: key.into(),
        kind: "opened".into(),
        payload: "{}".into(),
        created_at: at,
    }
}

async fn order_count(s: &dyn Store) -> usize {
    let orders = s
        .list_work_orders(&camwatch_store::workorders::OrderFilter::default())
        .await
        .unwrap();
    orders.len()
}

on_all_backends!(a_device_is_in_one_open_work_order_at_a_time, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_core::error::ErrorKind;
    use camwatch_core::workorder::{Action, EventKind, State, apply};
    use camwatch_store::workorders::NewOrderEvent;
    let o = s
        .open_work_order(&new_order(&[1, 2, 3], 1000), &|o| {
            vec![outbox_row(&format!("work-order:{}", o.id), o.opened_at)]
        })
        .await
        .unwrap();
    assert_eq!(
        (o.life.state, o.version, o.subject),
        (State::Pending, 0, code(1))
    );
    assert_eq!(o.cause, Some(camwatch_core::cause::Cause::NoMedia));
    // Device 2 is taken: a second order for it is refused whole.
    let e = s
        .open_work_order(&new_order(&[2, 4], 1100), &|_| Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("34020000001320000002"), "{e}");
    assert_eq!(s.open_order_of(&code(4)).await.unwrap(), None);
    assert_eq!(
        order_count(s.as_ref()).await,
        1,
        "the refused order wrote nothing"
    );
    // Joining skips devices already in an order.
    let added = s
        .join_work_order(o.id, &[code(3), code(4)], 1200, "system")
        .await
        .unwrap();
    assert_eq!(added, vec![code(4)]);
    s.leave_work_order(o.id, &code(2), 1300, "system", "recovered")
        .await
        .unwrap();
    assert_eq!(s.open_order_of(&code(2)).await.unwrap(), None);
    assert_eq!(s.open_order_of(&code(4)).await.unwrap(), Some(o.id));

    // Transitions record events; a stale version is refused.
    let ev = |kinds: Vec<EventKind>, at: i64| -> Vec<NewOrderEvent> {
        kinds
            .into_iter()
            .map(|kind| NewOrderEvent {
                at,
                actor: "甲运维".into(),
                kind,
                note: "到场".into(),
                detail: "{}".into(),
            })
            .collect()
    };
    let (life, kinds) = apply(&o.life, &Action::Accept, 1400).unwrap();
    let o2 = s
        .update_work_order(o.id, o.version, &life, &ev(kinds.clone(), 1400), &[])
        .await
        .unwrap();
    assert_eq!(
        (o2.life.state, o2.life.accepted_at, o2.version),
        (State::Accepted, Some(1400), 1)
    );
    let e = s
        .update_work_order(o.id, o.version, &life, &ev(kinds, 1400), &[])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    // Closing frees every device; reopening takes them back.
    let (life, kinds) = apply(&o2.life, &Action::Cancel, 1500).unwrap();
    let closed = s
        .update_work_order(o.id, o2.version, &life, &ev(kinds, 1500), &[])
        .await
        .unwrap();
    for n in [1, 3, 4] {
        assert_eq!(s.open_order_of(&code(n)).await.unwrap(), None, "{n}");
    }
    let (life, kinds) = apply(&closed.life, &Action::Reopen, 1600).unwrap();
    let reopened = s
        .update_work_order(o.id, closed.version, &life, &ev(kinds, 1600), &[])
        .await
        .unwrap();
    assert_eq!(reopened.life.state, State::Accepted);
    for n in [1, 3, 4] {
        assert_eq!(s.open_order_of(&code(n)).await.unwrap(), Some(o.id), "{n}");
    }
    assert_eq!(
        s.open_order_of(&code(2)).await.unwrap(),
        None,
        "it had left before"
    );
    let kinds: Vec<EventKind> = s
        .work_order_events(o.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Opened,
            EventKind::DeviceJoined,
            EventKind::DeviceLeft,
            EventKind::Accepted,
            EventKind::Cancelled,
            EventKind::Reopened
        ]
    );
    let members = s.work_order_devices(o.id).await.unwrap();
    assert_eq!(members.len(), 7, "{members:?}");
    // Attachments keep their bytes.
    let jpeg = vec![0xFF, 0xD8, 0xFF, 0xD9];
    let aid = s
        .attach_to_work_order(o.id, 1700, "甲运维", "现场.jpg", "image/jpeg", &jpeg)
        .await
        .unwrap();
    let list = s.work_order_attachments(o.id).await.unwrap();
    assert_eq!(
        (list.len(), list[0].size, list[0].name.as_str()),
        (1, 4, "现场.jpg")
    );
    assert_eq!(
        s.work_order_attachment_bytes(aid).await.unwrap(),
        Some(jpeg)
    );
});

on_all_backends!(work_orders_list_by_filter_newest_first, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_store::workorders::OrderFilter;
    for n in 0..5u32 {
        let mut o = new_order(&[10 + n], 1000 + n as i64);
        if n % 2 == 1 {
            o.life.contractor = Some("乙运维".into());
            o.region = "340300".into();
        }
        s.open_work_order(&o, &|_| Vec::new()).await.unwrap();
    }
    let ids = |v: Vec<camwatch_store::workorders::WorkOrder>| -> Vec<i64> {
        v.into_iter().map(|o| o.opened_at - 1000).collect()
    };
    let all = s.list_work_orders(&OrderFilter::default()).await.unwrap();
    assert_eq!(ids(all.clone()), vec![4, 3, 2, 1, 0]);
    let f = OrderFilter {
        contractor: Some("乙运维".into()),
        ..OrderFilter::default()
    };
    assert_eq!(ids(s.list_work_orders(&f).await.unwrap()), vec![3, 1]);
    let f = OrderFilter {
        region_prefix: Some("3402".into()),
        limit: Some(2),
        ..OrderFilter::default()
    };
    assert_eq!(ids(s.list_work_orders(&f).await.unwrap()), vec![4, 2]);
    // The cursor continues where a page ended; LIKE's wildcards are literal.
    let f = OrderFilter {
        before_id: Some(all[2].id),
        ..OrderFilter::default()
    };
    assert_eq!(ids(s.list_work_orders(&f).await.unwrap()), vec![1, 0]);
    let f = OrderFilter {
        region_prefix: Some("34%".into()),
        ..OrderFilter::default()
    };
    assert!(s.list_work_orders(&f).await.unwrap().is_empty());
    let f = OrderFilter {
        open: Some(false),
        ..OrderFilter::default()
    };
    assert!(s.list_work_orders(&f).await.unwrap().is_empty());
    assert_eq!(s.open_work_orders().await.unwrap().len(), 5);
    // The report's read (each backend's fast path) returns what the general list does.
    let mut opened = s.work_orders_opened(1001, 1004).await.unwrap();
    opened.sort_by_key(|o| o.id);
    let mut listed = s
        .list_work_orders(&OrderFilter {
            opened_from: Some(1001),
            opened_to: Some(1004),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    listed.sort_by_key(|o| o.id);
    assert_eq!(ids(opened.clone()), vec![1, 2, 3]);
    assert_eq!(opened, listed);
    // Closed at or after an instant (the digest's "closed since").
    let o = &all[0];
    let mut life = o.life.clone();
    life.state = camwatch_core::workorder::State::Closed;
    life.closed_at = Some(5000);
    s.update_work_order(o.id, o.version, &life, &[], &[])
        .await
        .unwrap();
    let closed_since = |t| OrderFilter {
        open: Some(false),
        closed_from: Some(t),
        ..OrderFilter::default()
    };
    assert_eq!(
        ids(s.list_work_orders(&closed_since(5000)).await.unwrap()),
        vec![4]
    );
    assert!(
        s.list_work_orders(&closed_since(5001))
            .await
            .unwrap()
            .is_empty()
    );
});

on_all_backends!(
    imported_work_orders_keep_their_history_and_ids_go_on,
    |s: Arc<dyn Store>| async move {
        use camwatch_core::workorder::{Resolution, State};
        let first = s
            .open_work_order(&new_order(&[1], 900), &|_| Vec::new())
            .await
            .unwrap();
        let as_stored = |n: &[u32], at: i64, closed: bool| {
            let o = new_order(n, at);
            let mut life = o.life.clone();
            if closed {
                life.state = State::Closed;
                life.accepted_at = Some(at + 60);
                life.closed_at = Some(at + 3600);
                life.resolution = Some(Resolution::Repaired);
            }
            (
                camwatch_store::workorders::WorkOrder {
                    id: 0,
                    subject: o.subject,
                    origin: o.origin,
                    cause: o.cause,
                    title: o.title,
                    level: o.level,
                    region: o.region,
                    fault_since: o.fault_since,
                    opened_at: o.opened_at,
                    life,
                    version: 0,
                },
                o.devices,
            )
        };
        let orders = vec![
            as_stored(&[2], 100, true),
            as_stored(&[2, 3], 200, true),
            as_stored(&[4], 300, false),
        ];
        let id = s.import_work_orders(&orders, "import").await.unwrap();
        assert_eq!(id, first.id + 1);
        let back = s.work_order(id + 1).await.unwrap().unwrap();
        assert_eq!(back.life.closed_at, Some(3800));
        assert_eq!(s.work_order_devices(id + 1).await.unwrap().len(), 2);
        assert_eq!(
            s.open_order_of(&code(2)).await.unwrap(),
            None,
            "closed: left"
        );
        assert_eq!(s.open_order_of(&code(4)).await.unwrap(), Some(id + 2));
        // An open order for a device already in one is refused, nothing written.
        let e = s
            .import_work_orders(&[as_stored(&[4], 400, false)], "import")
            .await
            .unwrap_err();
        assert_eq!(e.kind, camwatch_core::error::ErrorKind::Conflict, "{e}");
        // New orders take ids after the imported ones.
        let next = s
            .open_work_order(&new_order(&[5], 500), &|_| Vec::new())
            .await
            .unwrap();
        assert_eq!(next.id, id + 3);
        let ev = s.work_order_events(id).await.unwrap();
        assert_eq!((ev.len(), ev[0].actor.as_str()), (1, "import"));
    }
);

// --- users, sessions, tokens, login attempts (migration 0004) ---

fn new_user(
    name: &str,
    role: camwatch_core::access::Role,
    scope: camwatch_core::access::Scope,
) -> camwatch_store::NewUser {
    camwatch_store::NewUser {
        name: name.into(),
        role,
        scope,
        password_hash: format!("$argon2id$v=19$fake-hash-of-{name}"),
        password: camwatch_core::access::PasswordState::MustChange,
    }
}

fn scope(regions: &str, maintainer: Option<&str>) -> camwatch_core::access::Scope {
    camwatch_core::access::Scope::new(
        camwatch_core::access::scope::parse_regions(regions).unwrap(),
        maintainer.map(str::to_string),
    )
}

/// The audit entries (actor, action, target), oldest first.
async fn audit_trail(s: &dyn Store) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = s
        .recent_audit(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.target))
        .collect();
    v.reverse();
    v
}

fn trail(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

on_all_backends!(users_round_trip_and_every_change_is_audited, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_core::access::{PasswordState, Role};
    use camwatch_core::error::ErrorKind;
    let jia = scope("3401", Some("甲公司"));
    let u = s
        .create_user(
            &new_user("jia", Role::Contractor, jia.clone()),
            "cli:root",
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        (u.role, &u.scope, u.password, u.created_at),
        (Role::Contractor, &jia, PasswordState::MustChange, 100)
    );
    let admin = s
        .create_user(
            &new_user("root", Role::Admin, scope("", None)),
            "system",
            101,
        )
        .await
        .unwrap();
    // A name is unique; the database refuses a contractor without a maintainer, and a
    // maintainer on anyone else, even when the caller forgot to check.
    let e = s
        .create_user(
            &new_user("jia", Role::Auditor, scope("", None)),
            "cli:root",
            102,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    for bad in [
        new_user("c", Role::Contractor, scope("", None)),
        new_user("o", Role::Operator, scope("", Some("乙公司"))),
    ] {
        let e = s.create_user(&bad, "cli:root", 102).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    }
    // Names with quotes and SQL in them are data.
    let odd = "o'brien\"; DROP TABLE app_user; --";
    s.create_user(
        &new_user(odd, Role::Auditor, scope("", None)),
        "cli:root",
        103,
    )
    .await
    .unwrap();
    let (back, hash) = s.user_by_name("jia").await.unwrap().unwrap();
    assert_eq!(back, u);
    assert_eq!(hash, "$argon2id$v=19$fake-hash-of-jia");
    assert_eq!(s.user_by_id(u.id).await.unwrap().unwrap(), u);
    assert!(
        s.user_by_name("JIA").await.unwrap().is_none(),
        "names are exact"
    );
    assert_eq!(s.count_users().await.unwrap(), 3);
    assert_eq!(
        s.list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["jia", odd, "root"]
    );

    s.set_password_hash(
        u.id,
        "$argon2id$new",
        PasswordState::Current,
        None,
        "jia",
        200,
    )
    .await
    .unwrap();
    let (after, hash) = s.user_by_name("jia").await.unwrap().unwrap();
    assert_eq!(
        (after.password, after.updated_at, hash.as_str()),
        (PasswordState::Current, 200, "$argon2id$new")
    );
    s.set_disabled(u.id, true, "root", 300).await.unwrap();
    assert_eq!(
        s.user_by_id(u.id).await.unwrap().unwrap().disabled_at,
        Some(300)
    );
    s.set_disabled(u.id, false, "root", 301).await.unwrap();
    assert_eq!(s.user_by_id(u.id).await.unwrap().unwrap().disabled_at, None);
    let e = s.set_disabled(9999, true, "root", 302).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let e = s
        .set_password_hash(9999, "x", PasswordState::Current, None, "root", 302)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(admin.scope, scope("", None));
    assert_eq!(
        audit_trail(s.as_ref()).await,
        trail(&[
            ("cli:root", "user.add", "jia"),
            ("system", "user.add", "root"),
            ("cli:root", "user.add", odd),
            ("jia", "user.password", "jia"),
            ("root", "user.disable", "jia"),
            ("root", "user.enable", "jia"),
        ]),
        "refused changes leave nothing"
    );
});

on_all_backends!(
    sessions_end_with_logout_password_change_and_disable,
    |s: Arc<dyn Store>| async move {
        use camwatch_core::access::{AttemptOutcome, PasswordState, Role};
        use camwatch_store::{LoginRecord, NewSession};
        let u = s
            .create_user(
                &new_user("wang", Role::Operator, scope("340104", None)),
                "cli:root",
                100,
            )
            .await
            .unwrap();
        let login = |at: i64, n: u32| LoginRecord {
            user_name: "wang".into(),
            at,
            outcome: AttemptOutcome::Success,
            ip: Some(format!("10.0.0.{n}")),
        };
        let session = |n: u32| NewSession {
            token_hash: format!("{n:064x}"),
            csrf_hash: format!("csrf{n}"),
            expires_at: 50_000,
            user_agent: Some("Mozilla/5.0".into()),
            ip: Some(format!("10.0.0.{n}")),
        };
        let mut ids = Vec::new();
        for n in 1..=3 {
            let id = s
                .record_login(&login(1000 + i64::from(n), n), Some((u.id, &session(n))))
                .await
                .unwrap()
                .expect("a session id");
            ids.push(id);
        }
        let r = s
            .session_by_hash(&format!("{:064x}", 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                r.id,
                &r.user,
                r.csrf_hash.as_str(),
                r.created_at,
                r.last_seen_at,
                r.expires_at,
                r.ended_at
            ),
            (ids[1], &u, "csrf2", 1002, 1002, 50_000, None)
        );
        assert!(s.session_by_hash("nope").await.unwrap().is_none());
        s.touch_session(ids[1], 1500).await.unwrap();
        s.touch_session(ids[1], 1400).await.unwrap(); // never backwards
        assert_eq!(
            s.session_by_hash(&format!("{:064x}", 2))
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            1500
        );

        assert!(s.end_session(ids[0], "wang", 2000).await.unwrap());
        assert!(
            !s.end_session(ids[0], "wang", 2001).await.unwrap(),
            "already ended"
        );
        // A password change keeps the session it was made from and ends the others.
        s.set_password_hash(
            u.id,
            "h2",
            PasswordState::Current,
            Some(ids[2]),
            "wang",
            3000,
        )
        .await
        .unwrap();
        let ended = |n: u32| {
            let s = s.clone();
            async move {
                s.session_by_hash(&format!("{n:064x}"))
                    .await
                    .unwrap()
                    .unwrap()
                    .ended_at
            }
        };
        assert_eq!(ended(1).await, Some(2000), "the logout's time stays");
        assert_eq!(ended(2).await, Some(3000));
        assert_eq!(ended(3).await, None);
        s.set_disabled(u.id, true, "root", 4000).await.unwrap();
        assert_eq!(ended(3).await, Some(4000));
        let log = audit_trail(s.as_ref()).await;
        assert_eq!(
            log.iter().filter(|e| e.1 == "user.login").count(),
            3,
            "every login is audited"
        );
        assert!(log.contains(&("wang".into(), "user.logout".into(), "wang".into())));
        // The session id itself is not in the audit log, only the row's number.
        let details: Vec<String> = s
            .recent_audit(100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect();
        assert!(details.iter().all(|d| !d.contains(&format!("{:064x}", 2))));
    }
);

on_all_backends!(login_attempts_are_kept_in_order_per_name, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_core::access::AttemptOutcome as O;
    use camwatch_store::LoginRecord;
    let rec = |name: &str, at: i64, outcome| LoginRecord {
        user_name: name.into(),
        at,
        outcome,
        ip: None,
    };
    // Two attempts in one second keep the order they were made in.
    for (name, at, o) in [
        ("wang", 100, O::WrongPassword),
        ("ghost", 100, O::UnknownUser),
        ("wang", 200, O::WrongPassword),
        ("wang", 200, O::Success),
        ("wang", 300, O::Locked),
    ] {
        assert_eq!(s.record_login(&rec(name, at, o), None).await.unwrap(), None);
    }
    s.unlock("wang", "cli:root", 400).await.unwrap();
    assert_eq!(
        s.login_attempts("wang", 150).await.unwrap(),
        vec![
            (200, O::WrongPassword),
            (200, O::Success),
            (300, O::Locked),
            (400, O::Unlocked)
        ]
    );
    assert_eq!(
        s.login_attempts("ghost", 0).await.unwrap(),
        vec![(100, O::UnknownUser)]
    );
    assert_eq!(
        s.login_attempts("wang%", 0).await.unwrap(),
        vec![],
        "no pattern matching"
    );
    let log = audit_trail(s.as_ref()).await;
    assert_eq!(log.iter().filter(|e| e.1 == "user.login_failed").count(), 4);
    assert_eq!(
        log.last().unwrap(),
        &("cli:root".into(), "user.unlock".into(), "wang".into())
    );
});

on_all_backends!(tokens_are_stored_hashed_and_revoked_once, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_core::access::{Role, TokenAccess};
    use camwatch_core::error::ErrorKind;
    use camwatch_store::NewToken;
    let a = s
        .create_user(
            &new_user("wang", Role::Operator, scope("3401", None)),
            "cli:root",
            100,
        )
        .await
        .unwrap();
    let b = s
        .create_user(
            &new_user("li", Role::Auditor, scope("", None)),
            "cli:root",
            100,
        )
        .await
        .unwrap();
    let tok = |user_id, n: u32, access| NewToken {
        user_id,
        token_hash: format!("t{n}"),
        name: format!("integration {n}"),
        access,
        regions: camwatch_core::access::scope::parse_regions("340104 340103").unwrap(),
        expires_at: Some(9_000),
    };
    let t1 = s
        .create_token(&tok(a.id, 1, TokenAccess::ReadOnly), "wang", 200)
        .await
        .unwrap();
    let t2 = s
        .create_token(&tok(b.id, 2, TokenAccess::Full), "cli:root", 210)
        .await
        .unwrap();
    let e = s
        .create_token(&tok(a.id, 1, TokenAccess::Full), "wang", 220)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "one hash, one token");
    let e = s
        .create_token(&tok(9999, 3, TokenAccess::Full), "wang", 220)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let (r, user) = s.token_by_hash("t1").await.unwrap().unwrap();
    assert_eq!(user, a);
    assert_eq!(
        (
            r.id,
            r.user_name.as_str(),
            r.name.as_str(),
            r.access,
            r.created_at,
            r.expires_at,
            r.revoked_at,
            r.last_used_at
        ),
        (
            t1,
            "wang",
            "integration 1",
            TokenAccess::ReadOnly,
            200,
            Some(9_000),
            None,
            None
        )
    );
    assert_eq!(
        r.regions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        ["340104", "340103"]
    );
    s.touch_token(t1, 300).await.unwrap();
    s.touch_token(t1, 250).await.unwrap();
    assert_eq!(
        s.token_by_id(t1).await.unwrap().unwrap().last_used_at,
        Some(300)
    );
    assert!(s.revoke_token(t1, "wang", 400).await.unwrap());
    assert!(!s.revoke_token(t1, "wang", 401).await.unwrap());
    assert_eq!(
        s.token_by_id(t1).await.unwrap().unwrap().revoked_at,
        Some(400)
    );
    assert_eq!(
        s.revoke_token(9999, "wang", 401).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        s.list_tokens(None)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [t2, t1]
    );
    assert_eq!(
        s.list_tokens(Some(b.id))
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [t2]
    );
    assert!(s.token_by_hash("t9").await.unwrap().is_none());
    let log = audit_trail(s.as_ref()).await;
    assert_eq!(
        log[2..].to_vec(),
        trail(&[
            ("wang", "token.issue", "wang"),
            ("cli:root", "token.issue", "li"),
            ("wang", "token.revoke", "wang"),
        ])
    );
});

on_all_backends!(
    audit_pages_filter_by_actor_action_prefix_and_target,
    |s: Arc<dyn Store>| async move {
        use camwatch_store::{AuditEntry, AuditQuery};
        for (i, (actor, action, target)) in [
            ("wang", "device.update", "34010400001320000001"),
            ("li", "device.import", "东区.csv"),
            ("wang", "user.add", "zhao"),
            ("wang", "device_x.odd", "t"),
            ("wang", "device.update", "34010400001320000002"),
        ]
        .into_iter()
        .enumerate()
        {
            s.append_audit(&AuditEntry {
                at: 1000 + i as i64,
                actor: actor.into(),
                action: action.into(),
                target: target.into(),
                detail: "{}".into(),
            })
            .await
            .unwrap();
        }
        let page = |q: AuditQuery| {
            let s = s.clone();
            async move {
                s.audit_page(&q)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(_, e)| e.target)
                    .collect::<Vec<_>>()
            }
        };
        let q = |action: Option<&str>, actor: Option<&str>| AuditQuery {
            action: action.map(str::to_string),
            actor: actor.map(str::to_string),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            page(q(Some("device."), None)).await,
            vec!["34010400001320000002", "东区.csv", "34010400001320000001"]
        );
        assert_eq!(
            page(q(Some("device_"), None)).await,
            vec!["t"],
            "`_` is not a wildcard"
        );
        assert_eq!(page(q(None, Some("li"))).await, vec!["东区.csv"]);
        let first = s
            .audit_page(&AuditQuery {
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(first.len(), 2);
        let rest = page(AuditQuery {
            before: Some(first[1].0),
            limit: 10,
            ..Default::default()
        })
        .await;
        assert_eq!(rest, vec!["zhao", "东区.csv", "34010400001320000001"]);
        let one = page(AuditQuery {
            target: Some("zhao".into()),
            limit: 10,
            ..Default::default()
        })
        .await;
        assert_eq!(one, vec!["zhao"]);
    }
);

mod pg;

#[path = "store_suite/nodes.rs"]
mod nodes;
#[path = "store_suite/retention.rs"]
mod retention;
