//! Work orders end to end: the simulator's scripted faults, the real monitor and the engine on
//! one clock 300× real time, SQLite underneath. Every outage longer than the grace period gets
//! exactly one order, a shorter one none; an NVR outage is one order listing its channels; a
//! repair reported on a camera that is still dead bounces back; a real one is verified; a
//! monitor and engine restarted mid-outage open no duplicate (`tests/crash.rs` does the same
//! with `serve` killed by SIGKILL).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::registry::DeviceCode;
use camwatch_core::registry::generate::generate;
use camwatch_core::secret::SecretKey;
use camwatch_core::workorder::{Action, EventKind, Origin, State};
use camwatch_monitor::{EventBus, MonitorConfig, MonitorState};
use camwatch_sim::{BindMode, FaultPlan, SimConfig};
use camwatch_store::Store;
use camwatch_store::workorders::{OrderFilter, WorkOrder};
use camwatch_workorder::{Desk, Engine, EngineConfig, Sla};

const SCALE: f64 = 300.0;
const SEED: u64 = 33;
const CHANNELS: u64 = 40;

const CONTRACT: &str = r#"
name = "test"
timezone = "Asia/Shanghai"
[[sla]]
level = "重大"
response_minutes = "20"
repair_working_days = "0.5"
when = { parent_down = true }
[[sla]]
level = "一般"
response_minutes = "20"
repair_hours = "2"
"#;

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

struct Notify(camwatch_notify::Announcements);

impl camwatch_workorder::Announcer for Notify {
    fn rows(
        &self,
        order: &WorkOrder,
        kind: EventKind,
        at: i64,
        devices: &[DeviceCode],
    ) -> Vec<camwatch_store::outbox::NewOutboxRow> {
        self.0.rows(order, kind, at, devices)
    }
}

/// A monitor and its work-order engine, running.
struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    monitor: tokio::task::JoinHandle<camwatch_core::error::Result<()>>,
    engine: tokio::task::JoinHandle<()>,
    state: Arc<MonitorState>,
}

fn start(
    store: &Arc<dyn Store>,
    desk: &Desk,
    clock: &Arc<dyn Clock>,
    devices: &[camwatch_core::registry::Device],
    lease: camwatch_store::MonitorLease,
) -> Running {
    let state = Arc::new(MonitorState::for_devices(devices, clock.now().as_second()));
    let bus = EventBus::new(1024);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let cfg = EngineConfig {
        refresh: Duration::from_secs(60),
        ..EngineConfig::from_config(&camwatch_core::config::WorkOrdersConfig {
            grace_sec: 600,
            verify_timeout_sec: 600,
            ..Default::default()
        })
    };
    let engine = Engine::new(desk.clone(), state.clone(), clock.clone(), cfg);
    let engine = tokio::spawn(engine.run(bus.subscribe(), rx.clone()));
    let monitor = tokio::spawn(camwatch_monitor::run(
        store.clone(),
        lease,
        devices.to_vec(),
        MonitorConfig {
            liveness_interval_sec: 60,
            picture_interval_sec: 3600,
            deadline: Duration::from_millis(500),
            ..Default::default()
        },
        clock.clone(),
        state.clone(),
        bus,
        rx,
    ));
    Running {
        stop,
        monitor,
        engine,
        state,
    }
}

/// Sleeps until `minutes` of simulated time since `t0`.
async fn until(clock: &Arc<dyn Clock>, t0: i64, minutes: i64) {
    let left = t0 + minutes * 60 - clock.now().as_second();
    if left > 0 {
        tokio::time::sleep(Duration::from_secs_f64(left as f64 / SCALE)).await;
    }
}

async fn orders_of(store: &Arc<dyn Store>, code: &DeviceCode) -> Vec<WorkOrder> {
    let all = store
        .list_work_orders(&OrderFilter::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    for o in all {
        let members = store.work_order_devices(o.id).await.unwrap();
        if members.iter().any(|m| m.device == *code) {
            out.push(o);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_become_orders_once_and_repairs_are_verified() {
    let reg = generate(CHANNELS, SEED);
    let cams: Vec<DeviceCode> = reg
        .iter()
        .filter(|d| d.parent.is_none() && !d.kind.is_parent())
        .map(|d| d.code)
        .collect();
    let nvr = reg
        .iter()
        .find(|d| d.kind.is_parent())
        .expect("an NVR")
        .code;
    let channels: Vec<DeviceCode> = reg
        .iter()
        .filter(|d| d.parent == Some(nvr))
        .map(|d| d.code)
        .collect();
    let f = |what: &str, code: &DeviceCode, kind: &str, start: &str, dur: &str| {
        format!(
            "[[fault]]\n{what} = \"{code}\"\nkind = \"{kind}\"\nstart = \"{start}\"\nduration = \"{dur}\"\n"
        )
    };
    let mut sched = String::new();
    // Long enough: one order, which a real repair closes.
    sched += &f("device", &cams[0], "offline", "10m", "40m");
    // Shorter than the grace period (10 min): no order.
    sched += &f("device", &cams[1], "offline", "15m", "4m");
    // Dead all along: a repair reported on it does not verify; a restart opens no duplicate.
    sched += &f("device", &cams[2], "auth_failure", "5m", "6h");
    // The NVR: one order for it and its channels.
    sched += &f("nvr", &nvr, "nvr_down", "20m", "40m");
    // Down as long as cams[0], but a channel a GB/T 28181 catalog brought in and nobody has
    // confirmed: no order (and the NVR's order leaves its unconfirmed channel out).
    sched += &f("device", &cams[3], "offline", "10m", "40m");

    let t0 = jiff::Timestamp::now();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(t0, SCALE));
    let t0 = t0.as_second();
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: CHANNELS },
            seed: SEED,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Schedule(sched, "wo.toml".into()),
            horizon_sec: 86_400,
        },
        clock.clone(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("w.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let devices = fleet.devices().to_vec();
    let unconfirmed = [cams[3], channels[0]];
    store
        .upsert_devices(
            &devices
                .iter()
                .filter(|d| !unconfirmed.contains(&d.code))
                .cloned()
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    // As a catalog adds them: unconfirmed.
    store
        .write_catalog(&camwatch_store::gb28181::CatalogWrite {
            source: nvr,
            at: t0,
            added: devices
                .iter()
                .filter(|d| unconfirmed.contains(&d.code))
                .cloned()
                .collect(),
            changed: Vec::new(),
            listed: unconfirmed.to_vec(),
            gone: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.unconfirmed_codes().await.unwrap(),
        unconfirmed.into_iter().collect()
    );
    let contract = camwatch_core::contract::Contract::parse(CONTRACT, "test contract").unwrap();
    // One webhook target: the engine's changes write its outbox rows (delivery itself is
    // tested in camwatch-notify against real receivers; no worker runs here).
    let notify = camwatch_notify::config::NotifyConfig::from_toml(
        "[[notify.targets]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s\"\n",
        "test",
    )
    .unwrap();
    let desk = Desk {
        store: store.clone(),
        sla: Arc::new(Sla::new(store.clone(), Some(contract), Vec::new()).unwrap()),
        announcer: Arc::new(Notify(camwatch_notify::Announcements {
            targets: notify.resolve("test").unwrap(),
            time_zone: "Asia/Shanghai".into(),
        })),
    };
    let lease = |at: i64| {
        let store = store.clone();
        async move {
            store
                .acquire_monitor("test", std::process::id(), at)
                .await
                .unwrap()
        }
    };

    let run = start(
        &store,
        &desk,
        &clock,
        &devices,
        lease(clock.now().as_second()).await,
    );
    // 35 min: cams[0] (down since 10 min) and cams[2] (since 5 min) are past their grace;
    // the NVR (down since 20 min) too.
    until(&clock, t0, 35).await;
    let o2 = orders_of(&store, &cams[2]).await;
    assert_eq!(o2.len(), 1, "{o2:?}");
    assert_eq!(
        (o2[0].origin, o2[0].level.as_str()),
        (Origin::Outage, "一般")
    );
    let parent = orders_of(&store, &nvr).await;
    assert_eq!(parent.len(), 1, "{parent:?}");
    assert_eq!(
        (
            parent[0].origin,
            parent[0].subject,
            parent[0].level.as_str()
        ),
        (Origin::Parent, nvr, "重大")
    );
    let members: Vec<DeviceCode> = store
        .work_order_devices(parent[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.device)
        .collect();
    assert!(
        !members.contains(&channels[0]),
        "the unconfirmed channel is left out: {members:?}"
    );
    assert!(orders_of(&store, &channels[0]).await.is_empty());
    assert!(
        orders_of(&store, &cams[3]).await.is_empty(),
        "no order for an unconfirmed channel"
    );
    for c in &channels[1..] {
        assert!(
            members.contains(c),
            "channel {c} is listed in the NVR's order: {members:?}"
        );
        assert_eq!(
            orders_of(&store, c).await.len(),
            1,
            "channel {c} has no order of its own"
        );
    }

    // The contractor reports cams[2] repaired, but it is still dead: back to accepted.
    let now = clock.now().as_second();
    desk.act(o2[0].id, &Action::Accept, now, "甲运维", "")
        .await
        .unwrap();
    desk.act(o2[0].id, &Action::Repair, now, "甲运维", "换了电源")
        .await
        .unwrap();

    // A restart mid-outage (tests/crash.rs kills `serve` with SIGKILL instead).
    until(&clock, t0, 45).await;
    run.stop.send(true).unwrap();
    run.monitor.await.unwrap().unwrap();
    run.engine.await.unwrap();
    let o = store.work_order(o2[0].id).await.unwrap().unwrap();
    assert_eq!(
        o.life.state,
        State::Accepted,
        "the repair did not verify: {o:?}"
    );
    let kinds: Vec<EventKind> = store
        .work_order_events(o.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&EventKind::NotVerified), "{kinds:?}");

    until(&clock, t0, 47).await;
    let run = start(
        &store,
        &desk,
        &clock,
        &devices,
        lease(clock.now().as_second()).await,
    );
    let _ = &run.state;
    // 75 min: cams[0] is back since 50 min, the NVR since 60 min; the restart is long past.
    until(&clock, t0, 75).await;
    assert_eq!(
        orders_of(&store, &cams[2]).await.len(),
        1,
        "a restart opens no duplicate"
    );
    assert!(
        orders_of(&store, &cams[1]).await.is_empty(),
        "a 4-minute outage opens nothing"
    );
    let o0 = orders_of(&store, &cams[0]).await;
    assert_eq!(o0.len(), 1, "{o0:?}");
    assert!(
        o0[0].life.fault_ended_at.is_some(),
        "the end of the fault is recorded: {o0:?}"
    );
    let p = store.work_order(parent[0].id).await.unwrap().unwrap();
    assert!(p.life.fault_ended_at.is_some(), "{p:?}");

    // A real repair: reported on a camera that works again, verified by the re-probe.
    let now = clock.now().as_second();
    desk.act(o0[0].id, &Action::Repair, now, "甲运维", "")
        .await
        .unwrap();
    until(&clock, t0, 90).await;
    let o = store.work_order(o0[0].id).await.unwrap().unwrap();
    assert_eq!(o.life.state, State::AwaitingReview, "{o:?}");
    desk.act(
        o.id,
        &Action::Approve,
        clock.now().as_second(),
        "审核员",
        "",
    )
    .await
    .unwrap();

    run.stop.send(true).unwrap();
    run.monitor.await.unwrap().unwrap();
    run.engine.await.unwrap();
    fleet.shutdown().await;

    // Every order is exactly one per fault: cams[0], cams[2], the NVR's.
    let all = store
        .list_work_orders(&OrderFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "{all:#?}");
    // Each order was announced when it opened, in its change's transaction; the repair that
    // did not verify and the missed response deadlines too.
    let rows = store.recent_outbox(Some("ops"), 1000).await.unwrap();
    let announced = |kind: &str, id: i64| {
        rows.iter()
            .filter(|r| r.kind == kind && r.ordering_key == format!("work-order:{id}"))
            .count()
    };
    for o in &all {
        assert_eq!(announced("opened", o.id), 1, "{o:?} {rows:?}");
    }
    assert_eq!(announced("repair_not_verified", o2[0].id), 1, "{rows:?}");
    // The NVR's order is announced with its channels.
    let opened = rows
        .iter()
        .find(|r| r.kind == "opened" && r.ordering_key == format!("work-order:{}", parent[0].id))
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&opened.payload).unwrap();
    let listed = payload["device_count"].as_u64().unwrap();
    assert!(
        listed > 1 && listed <= members.len() as u64,
        "the parent and the channels down with it at the opening: {payload}"
    );
    assert_eq!(announced("response_overdue", parent[0].id), 1, "{rows:?}");

    // The response deadline (20 min) passed for the NVR's order with nobody answering.
    let p = store.work_order(parent[0].id).await.unwrap().unwrap();
    assert_eq!(p.life.response_overdue_at, p.life.response_due_at, "{p:?}");
    assert_eq!(p.life.response_due_at, Some(p.opened_at + 20 * 60));
}
