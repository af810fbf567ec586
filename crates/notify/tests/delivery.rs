//! The outbox worker against real HTTP receivers on 127.0.0.1 (port 0), with the store on a
//! SQLite file.
//!
//! Wall time is a `ManualClock` the tests advance by hand (backoff, due times, signature
//! timestamps), and each step waits for the worker to report itself caught up
//! (`Outbox::settled`) before moving the clock: no wall-clock sleeps and no timing asserts.
//! Paused tokio time is not used here because the SQLite store works on its own thread, and
//! a paused runtime waiting for it would jump its own timers (sqlx's pool deadlines among
//! them) forward; the per-delivery deadline is exercised under paused time in `hostile.rs`,
//! where no database is involved.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::watch;

use camwatch_core::clock::{Clock, ManualClock};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_notify::config::{Format, Target};
use camwatch_notify::message::{DeviceRef, Digest};
use camwatch_notify::render::{dingtalk_sign, verify_webhook};
use camwatch_notify::{DeliveryOptions, Notification, NotificationKind, Outbox, rows_for};
use camwatch_store::Store;

const SECRET: &str = "hook-secret";
const T0: i64 = 1_790_000_000;

fn origin() -> jiff::Timestamp {
    jiff::Timestamp::from_second(T0).unwrap()
}

async fn open_store(file: &std::path::Path) -> Arc<dyn Store> {
    camwatch_store::connect(
        &format!("sqlite://{}", file.display()),
        SecretKey::from_bytes([7; 32]),
    )
    .await
    .unwrap()
}

fn options() -> DeliveryOptions {
    DeliveryOptions {
        timeout: Duration::from_secs(10),
        poll_interval: Duration::from_secs(10),
        max_in_flight: 4,
        max_per_target: 2,
        max_response_bytes: 64 * 1024,
    }
}

fn webhook_target(name: &str, addr: SocketAddr) -> Target {
    Target {
        name: name.into(),
        url: format!("http://{addr}/hook"),
        secret: Some(Password::new(SECRET)),
        kinds: vec![],
        contractors: vec![],
        format: Format::Webhook,
    }
}

/// A worker running in its own task.
struct Worker {
    task: tokio::task::JoinHandle<()>,
    settled: watch::Receiver<Option<i64>>,
    stats: Arc<camwatch_notify::OutboxStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn start(store: Arc<dyn Store>, targets: Vec<Target>, clock: Arc<ManualClock>) -> Worker {
    start_with(store, targets, clock, options())
}

fn start_with(
    store: Arc<dyn Store>,
    targets: Vec<Target>,
    clock: Arc<ManualClock>,
    opts: DeliveryOptions,
) -> Worker {
    let outbox = Outbox::new(store, targets, clock, opts).unwrap();
    let settled = outbox.settled();
    let stats = outbox.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(outbox.run(async {
        let _ = rx.await;
    }));
    Worker {
        task,
        settled,
        stats,
        stop: Some(tx),
    }
}

impl Worker {
    /// Waits until the worker has looked at the outbox at clock time `now` or later and found
    /// nothing due and nothing in flight.
    async fn caught_up(&mut self, now: i64) {
        self.settled
            .wait_for(|s| s.is_some_and(|t| t >= now))
            .await
            .expect("the worker is running");
    }
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// What a webhook receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: i64,
    key: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Inbox {
    /// Every accepted request, duplicates included, in arrival order.
    raw: Vec<Got>,
    /// Requests to refuse with 503 before accepting any.
    refuse_first: usize,
    requests: usize,
    bad: Vec<String>,
}

#[derive(Clone)]
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    clock: Arc<ManualClock>,
    /// The number of distinct ids accepted.
    unique: Arc<watch::Sender<usize>>,
}

impl Receiver {
    fn new(clock: Arc<ManualClock>, refuse_first: usize) -> Self {
        Self {
            inbox: Arc::new(Mutex::new(Inbox {
                refuse_first,
                ..Inbox::default()
            })),
            clock,
            unique: Arc::new(watch::channel(0).0),
        }
    }

    /// Serves on `addr` (a port reserved earlier) or a fresh port.
    async fn serve(&self, addr: Option<SocketAddr>) -> SocketAddr {
        let l = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        addr
    }
}

/// The receiver a camwatch user would write: verify, refuse when busy, de-duplicate by id.
async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = r.clock.now().as_second();
    let mut inbox = r.inbox.lock().unwrap();
    inbox.requests += 1;
    let id = match verify_webhook(SECRET, &headers, &body, now, 300) {
        Ok(id) => id,
        Err(e) => {
            inbox.bad.push(e.to_string());
            return StatusCode::UNAUTHORIZED;
        }
    };
    if inbox.requests <= inbox.refuse_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n: Notification = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(v["delivery_id"], id, "the body names the same delivery");
    inbox.raw.push(Got {
        id,
        key: n.ordering_key(),
        body: body.to_vec(),
    });
    let mut ids: Vec<i64> = inbox.raw.iter().map(|g| g.id).collect();
    ids.sort_unstable();
    ids.dedup();
    r.unique.send_replace(ids.len());
    StatusCode::NO_CONTENT
}

/// The notifications of three orders (four each, interleaved as the engine would write
/// them over time) and a digest.
fn notifications() -> Vec<Notification> {
    let kinds = [
        NotificationKind::Opened,
        NotificationKind::ResponseOverdue,
        NotificationKind::RepairOverdue,
        NotificationKind::Reopened,
    ];
    let mut out = Vec::new();
    for (step, kind) in kinds.into_iter().enumerate() {
        for order in 1..=3 {
            let mut n = Notification::for_order(
                kind,
                order,
                format!("路口 {order} 离线"),
                "一级",
                "340202",
                T0 - 100 + step as i64,
            )
            .with_devices([DeviceRef {
                code: format!("3402000000132000000{order}"),
                name: format!("路口 {order}"),
            }]);
            n.contractor = Some("甲公司".into());
            out.push(n);
        }
    }
    out.push(Notification::digest("甲公司", Digest::default(), T0 - 90));
    out
}

/// The webhook receiver is down (nothing listening) for two retry rounds, then answers 503
/// three times, and the worker is killed mid-way and replaced by a new one on a new
/// connection to the same database file: the receiver still gets every notification, each
/// verified, exactly once after de-duplication by `X-Camwatch-Id`, in order per order.
#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_once_in_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("camwatch.db");
    let store = open_store(&file).await;
    let clock = Arc::new(ManualClock::new(origin()));
    // A port nobody listens on yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let targets = vec![webhook_target("ops", addr)];
    let all = notifications();
    for n in &all {
        store.enqueue_outbox(&rows_for(n, &targets)).await.unwrap();
    }
    let ids: Vec<i64> = {
        let mut r = store.recent_outbox(None, 100).await.unwrap();
        r.reverse();
        r.iter().map(|r| r.id).collect()
    };
    assert_eq!(ids.len(), all.len());

    let mut w = start(store.clone(), targets.clone(), clock.clone());
    // Down: the first attempts and the first retry (30 s later) are refused.
    w.caught_up(T0).await;
    let heads = 4; // three orders and the digest
    assert_eq!(w.stats.failed(), heads);
    clock.advance(Duration::from_secs(30));
    w.caught_up(T0 + 30).await;
    assert_eq!(w.stats.failed(), 2 * heads);
    let backlog = store.outbox_backlog().await.unwrap();
    assert_eq!(
        (backlog.pending, backlog.by_target[0].max_attempts),
        (13, 2)
    );

    // Back, but busy for its first three requests.
    let receiver = Receiver::new(clock.clone(), 3);
    receiver.serve(Some(addr)).await;
    let mut unique = receiver.unique.subscribe();

    // Retries are due 60 s after the second failure; step the clock until half is in.
    let mut now = T0 + 30;
    let mut crashed = false;
    for _ in 0..200 {
        now += 60;
        clock.set(jiff::Timestamp::from_second(now).unwrap());
        if !crashed {
            let half_in = tokio::select! {
                _ = w.caught_up(now) => false,
                r = unique.wait_for(|n| *n >= 5) => r.map(|_| true).unwrap(),
            };
            if half_in {
                // Killed mid-way: whatever was in flight is lost with it.
                w.task.abort();
                let _ = w.task.await;
                crashed = true;
                let store = open_store(&file).await;
                w = start(store, targets.clone(), clock.clone());
            }
        }
        w.caught_up(now).await;
        if *unique.borrow_and_update() == all.len() {
            break;
        }
    }
    assert!(crashed, "the worker was replaced mid-way");
    w.stop().await;

    let (raw, bad) = {
        let inbox = receiver.inbox.lock().unwrap();
        (inbox.raw.clone(), inbox.bad.clone())
    };
    assert!(bad.is_empty(), "every request verified: {bad:?}");
    // Exactly once after de-duplication; a duplicate (from the crash) is byte-identical
    // but for the signature's timestamp, which is not in the body.
    let mut first: BTreeMap<i64, &Got> = BTreeMap::new();
    let mut arrival = Vec::new();
    for g in &raw {
        match first.get(&g.id) {
            Some(f) => assert_eq!(f.body, g.body, "a redelivery is the same message"),
            None => {
                first.insert(g.id, g);
                arrival.push(g);
            }
        }
    }
    assert_eq!(first.keys().copied().collect::<Vec<_>>(), ids);
    assert!(
        raw.len() - first.len() <= options().max_in_flight,
        "only deliveries in flight at the crash are repeated: {} raw, {} unique",
        raw.len(),
        first.len()
    );
    // In order per ordering key.
    let mut per_key: HashMap<&str, Vec<i64>> = HashMap::new();
    for g in &arrival {
        per_key.entry(&g.key).or_default().push(g.id);
    }
    assert_eq!(per_key.len(), 4);
    for (key, seq) in &per_key {
        assert!(seq.is_sorted(), "{key}: {seq:?}");
    }
    let kinds: Vec<String> = arrival
        .iter()
        .filter(|g| g.key == "work-order:2")
        .map(|g| {
            let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        ["opened", "response_overdue", "repair_overdue", "reopened"]
    );

    // The record: all delivered, the backlog empty.
    let store = open_store(&file).await;
    assert_eq!(store.outbox_backlog().await.unwrap().pending, 0);
    let rows = store.recent_outbox(Some("ops"), 100).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.delivered_at.is_some() && r.attempts >= 1)
    );
    assert!(rows.iter().any(|r| r.attempts >= 3), "some were retried");
}

#[derive(Default)]
struct RobotLog {
    /// (path, query, body) of each request.
    requests: Vec<(String, HashMap<String, String>, serde_json::Value)>,
    /// Answers for the DingTalk path, used in turn; then errcode 0.
    ding_answers: Vec<serde_json::Value>,
}

type Robots = Arc<Mutex<RobotLog>>;

async fn robot(
    State(log): State<Robots>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    let mut log = log.lock().unwrap();
    let body = serde_json::from_slice(&body).unwrap();
    log.requests.push((uri.path().to_string(), q, body));
    let answer = if uri.path() == "/ding" && !log.ding_answers.is_empty() {
        log.ding_answers.remove(0)
    } else {
        serde_json::json!({"errcode": 0, "errmsg": "ok"})
    };
    axum::Json(answer)
}

/// A DingTalk robot answering HTTP 200 with errcode 310000 has not accepted the message:
/// it is retried (after 30 s) and delivered on errcode 0, with a valid signed URL each time.
/// A WeCom robot on the same worker gets its message meanwhile.
#[tokio::test]
async fn a_robot_errcode_is_a_failure_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir.path().join("camwatch.db")).await;
    let clock = Arc::new(ManualClock::new(origin()));
    let log: Robots = Arc::default();
    log.lock().unwrap().ding_answers =
        vec![serde_json::json!({"errcode": 310000, "errmsg": "keywords not in content"})];
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/ding", axum::routing::post(robot))
        .route("/wecom", axum::routing::post(robot))
        .with_state(log.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let ding_secret = "SEC0123456789";
    let targets = vec![
        Target {
            name: "ding".into(),
            url: format!("http://{addr}/ding?access_token=tok"),
            secret: Some(Password::new(ding_secret)),
            kinds: vec![],
            contractors: vec![],
            format: Format::Dingtalk {
                at_mobiles: vec![],
                at_all: false,
            },
        },
        Target {
            name: "wecom".into(),
            url: format!("http://{addr}/wecom?key=k"),
            secret: None,
            kinds: vec![],
            contractors: vec![],
            format: Format::Wecom,
        },
    ];
    let n = &notifications()[0];
    store.enqueue_outbox(&rows_for(n, &targets)).await.unwrap();
    let mut w = start(store.clone(), targets, clock.clone());
    w.caught_up(T0).await;
    assert_eq!((w.stats.delivered(), w.stats.failed()), (1, 1));
    let ding = store
        .recent_outbox(Some("ding"), 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(ding.delivered_at, None);
    assert_eq!(ding.next_at, T0 + 30);
    assert_eq!(
        ding.last_error.as_deref(),
        Some("HTTP 200, errcode 310000: keywords not in content")
    );
    clock.advance(Duration::from_secs(30));
    w.caught_up(T0 + 30).await;
    assert_eq!((w.stats.delivered(), w.stats.failed()), (2, 1));
    w.stop().await;

    let log = log.lock().unwrap();
    let dings: Vec<_> = log.requests.iter().filter(|r| r.0 == "/ding").collect();
    assert_eq!(dings.len(), 2);
    for (at, (_, q, body)) in [T0, T0 + 30].into_iter().zip(dings) {
        // The robot's check: timestamp within an hour, sign over it with the secret.
        let ts: i64 = q["timestamp"].parse().unwrap();
        assert_eq!(ts, at * 1000);
        assert_eq!(q["sign"], dingtalk_sign(ding_secret, ts));
        assert_eq!(q["access_token"], "tok");
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"]["title"], "【新工单】路口 1 离线");
    }
    let wecom: Vec<_> = log.requests.iter().filter(|r| r.0 == "/wecom").collect();
    assert_eq!(wecom.len(), 1);
    assert_eq!(wecom[0].2["msgtype"], "markdown");
    assert!(
        wecom[0].2["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("路口 1（34020000001320000001）")
    );
}

/// A target that accepts connections and never answers holds only its own slots: another
/// target's messages are all delivered while its first requests hang.
#[tokio::test]
async fn a_hanging_target_does_not_stall_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir.path().join("camwatch.db")).await;
    let clock = Arc::new(ManualClock::new(origin()));
    // Accepts and holds every connection, never reading or answering.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    let receiver = Receiver::new(clock.clone(), 0);
    let addr = receiver.serve(None).await;
    let targets = vec![
        webhook_target("hang", hang_addr),
        webhook_target("ops", addr),
    ];
    let all = notifications();
    for n in &all {
        store.enqueue_outbox(&rows_for(n, &targets)).await.unwrap();
    }
    // A deadline far beyond the test, so the hanging requests are still hanging at its end
    // however slow the machine.
    let opts = DeliveryOptions {
        timeout: Duration::from_secs(3600),
        ..options()
    };
    let w = start_with(store.clone(), targets, clock.clone(), opts);
    // No clock step is needed: "ops" is never behind "hang".
    receiver
        .unique
        .subscribe()
        .wait_for(|n| *n == all.len())
        .await
        .unwrap();
    // Meanwhile "hang" has two requests open (max_per_target) and no attempt finished.
    assert!(w.stats.in_flight() >= 2);
    let backlog = store.outbox_backlog().await.unwrap();
    let hang = backlog
        .by_target
        .iter()
        .find(|t| t.target == "hang")
        .unwrap();
    assert_eq!((hang.pending, hang.max_attempts), (all.len() as u64, 0));
    w.task.abort();
}
