//! The daily digest against the store on a SQLite file: due once a day at its local time,
//! not twice after a restart, caught up when the monitor was down at the slot, and counting
//! the orders closed since the previous digest. Wall time is a `ManualClock` (see
//! `delivery.rs` for why not paused tokio time).

use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::ManualClock;
use camwatch_core::secret::SecretKey;
use camwatch_core::workorder::{Lifecycle, Origin, State};
use camwatch_notify::config::{Format, Target};
use camwatch_notify::{DailyDigest, Notification, NotificationKind};
use camwatch_store::Store;
use camwatch_store::workorders::WorkOrder;

fn at(local: &str) -> i64 {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    local
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned_datetime(tz)
        .unwrap()
        .timestamp()
        .as_second()
}

fn ts(local: &str) -> jiff::Timestamp {
    jiff::Timestamp::from_second(at(local)).unwrap()
}

fn target(name: &str, kinds: Vec<NotificationKind>, contractors: Vec<String>) -> Target {
    Target {
        name: name.into(),
        url: "http://127.0.0.1:9/hook".into(),
        secret: None,
        kinds,
        contractors,
        format: Format::Webhook,
    }
}

fn order(
    n: u32,
    contractor: &str,
    f: impl FnOnce(&mut Lifecycle),
) -> (WorkOrder, Vec<camwatch_core::registry::DeviceCode>) {
    let code: camwatch_core::registry::DeviceCode = format!("3401020000132{n:07}").parse().unwrap();
    let mut life = Lifecycle {
        contractor: Some(contractor.into()),
        response_due_at: Some(at("2026-12-03T10:20")),
        repair_due_at: Some(at("2026-12-03T12:00")),
        ..Lifecycle::default()
    };
    f(&mut life);
    (
        WorkOrder {
            id: 0,
            subject: code,
            origin: Origin::Outage,
            cause: None,
            title: format!("点位 {n} 离线"),
            level: "一般".into(),
            region: "340102".into(),
            fault_since: at("2026-12-03T09:50"),
            opened_at: at("2026-12-03T10:00"),
            life,
            version: 1,
        },
        vec![code],
    )
}

async fn setup(dir: &std::path::Path) -> Arc<dyn Store> {
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.join("s.db").display()),
        SecretKey::from_bytes([7; 32]),
    )
    .await
    .unwrap();
    let orders = vec![
        order(1, "甲公司", |_| {}),
        order(2, "甲公司", |l| {
            l.repair_overdue_at = Some(at("2026-12-03T12:00"))
        }),
        order(3, "乙公司", |l| {
            l.state = State::Closed;
            l.closed_at = Some(at("2026-12-03T20:00"));
        }),
        // Closed long before: not in any digest's "closed" count.
        order(4, "乙公司", |l| {
            l.state = State::Closed;
            l.closed_at = Some(at("2026-11-01T20:00"));
        }),
    ];
    store.import_work_orders(&orders, "test").await.unwrap();
    store
}

fn digest(store: &Arc<dyn Store>, clock: &Arc<ManualClock>, targets: Vec<Target>) -> DailyDigest {
    DailyDigest::new(
        store.clone(),
        targets,
        clock.clone(),
        "08:30".parse().unwrap(),
        "Asia/Shanghai",
    )
    .unwrap()
}

/// The digests written, oldest first, as (target, contractor, open, overdue, closed).
async fn written(store: &Arc<dyn Store>) -> Vec<(String, Option<String>, u64, u64, u64, i64)> {
    let mut rows = store.recent_outbox(None, 100).await.unwrap();
    rows.reverse();
    rows.iter()
        .filter(|r| r.kind == "digest")
        .map(|r| {
            let n: Notification = serde_json::from_str(&r.payload).unwrap();
            let d = n.digest.unwrap();
            (
                r.target.clone(),
                n.contractor,
                d.open,
                d.overdue,
                d.closed,
                r.created_at,
            )
        })
        .collect()
}

#[tokio::test]
async fn once_a_day_across_restarts_with_what_closed_since() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path()).await;
    let clock = Arc::new(ManualClock::new(ts("2026-12-04T08:29")));
    let targets = vec![
        target("ops", vec![], vec![]),
        // Only its own contractor's digests, and nothing else.
        target("jia", vec![NotificationKind::Digest], vec!["甲公司".into()]),
        // Takes no digests.
        target("sms", vec![NotificationKind::Opened], vec![]),
    ];
    let d = digest(&store, &clock, targets.clone());
    // Before the slot: nothing.
    assert_eq!(d.send_if_due().await.unwrap(), 0);
    clock.set(ts("2026-12-04T08:30"));
    assert_eq!(d.send_if_due().await.unwrap(), 3);
    let t = at("2026-12-04T08:30");
    let first = vec![
        ("ops".to_string(), Some("乙公司".to_string()), 0, 0, 1, t),
        ("ops".to_string(), Some("甲公司".to_string()), 2, 1, 0, t),
        ("jia".to_string(), Some("甲公司".to_string()), 2, 1, 0, t),
    ];
    let mut got = written(&store).await;
    got.sort();
    let mut want = first.clone();
    want.sort();
    assert_eq!(got, want);
    // Again, and after a restart (a new digest on the same store): nothing more today.
    assert_eq!(d.send_if_due().await.unwrap(), 0);
    clock.set(ts("2026-12-04T17:00"));
    let restarted = digest(&store, &clock, targets.clone());
    assert_eq!(restarted.send_if_due().await.unwrap(), 0);

    // Order 1 is closed during the day; the monitor is down at the next slot and starts at
    // 11:00: today's digest goes out then, counting what closed since the previous one.
    let o1 = store.work_order(1).await.unwrap().unwrap();
    let mut life = o1.life.clone();
    life.state = State::Closed;
    life.closed_at = Some(at("2026-12-04T18:00"));
    store
        .update_work_order(1, o1.version, &life, &[], &[])
        .await
        .unwrap();
    clock.set(ts("2026-12-05T11:00"));
    let late = digest(&store, &clock, targets);
    assert_eq!(late.send_if_due().await.unwrap(), 2);
    let t2 = at("2026-12-05T11:00");
    let got = written(&store).await;
    let mut second: Vec<_> = got.into_iter().filter(|r| r.5 == t2).collect();
    second.sort();
    assert_eq!(
        second,
        vec![
            ("jia".to_string(), Some("甲公司".to_string()), 1, 1, 1, t2),
            ("ops".to_string(), Some("甲公司".to_string()), 1, 1, 1, t2),
        ]
    );
}

#[tokio::test]
async fn the_running_digest_wakes_at_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path()).await;
    let clock = Arc::new(ManualClock::new(ts("2026-12-04T07:00")));
    let d = digest(&store, &clock, vec![target("ops", vec![], vec![])]);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(d.run(async move {
        let _ = stop_rx.await;
    }));
    // Bounded real-time wait for the task to write what the clock made due.
    let count = async || written(&store).await.len();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count().await, 0, "nothing before 08:30");
    clock.set(ts("2026-12-04T08:30"));
    let mut n = 0;
    for _ in 0..1000 {
        n = count().await;
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        n, 2,
        "the digest for 甲公司 and 乙公司 within 10 s of the slot"
    );
    clock.set(ts("2026-12-05T08:30"));
    for _ in 0..1000 {
        n = count().await;
        if n == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 乙公司 has nothing open and closed nothing since: only 甲公司's.
    assert_eq!(n, 3, "the next day's");
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}
