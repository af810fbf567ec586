//! Work orders on several nodes: two engines on one store, each with the live state a node
//! has (the devices it probes, and the others' statuses followed from their spans), on a
//! manual clock. An order is kept moving by the node that probes its subject; a member another
//! node probes is verified by the status that node recorded, not by a probe this node cannot
//! make, so a repair of an order spanning two nodes is verified, once.

use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, ManualClock};
use camwatch_core::health::Change;
use camwatch_core::history::Status;
use camwatch_core::outcome::{ProbeKind, ProbeOutcome};
use camwatch_core::registry::generate::generate;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_core::secret::SecretKey;
use camwatch_core::workorder::{Action, EventKind, State};
use camwatch_monitor::scheduler::ProbeClass;
use camwatch_monitor::{EventBus, MonitorState};
use camwatch_store::Store;
use camwatch_workorder::{Desk, Engine, EngineConfig, ManualOrder, Sla};

const T0: i64 = 1_790_000_000;

/// A node's live state: `mine` probed here (indices 0..), the rest followed.
fn node_state(devices: &[Device], mine: &[DeviceCode]) -> Arc<MonitorState> {
    let state = Arc::new(MonitorState::for_devices(devices, T0 - 3600));
    let (own, others): (Vec<Device>, Vec<Device>) = devices
        .iter()
        .cloned()
        .partition(|d| mine.contains(&d.code));
    let own: Vec<Device> = mine
        .iter()
        .map(|c| own.iter().find(|d| d.code == *c).unwrap().clone())
        .collect();
    state.reindex_fleet(&own, &others);
    state
}

fn index_of(devices: &[Device], mine: &[DeviceCode], code: &DeviceCode) -> usize {
    if let Some(i) = mine.iter().position(|c| c == code) {
        return i;
    }
    mine.len()
        + devices
            .iter()
            .filter(|d| !mine.contains(&d.code))
            .position(|d| d.code == *code)
            .unwrap()
}

struct World {
    store: Arc<dyn Store>,
    desk: Desk,
    clock: Arc<ManualClock>,
    devices: Vec<Device>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("s.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let devices = generate(30, 5);
    store.upsert_devices(&devices).await.unwrap();
    let desk = Desk {
        store: store.clone(),
        sla: Arc::new(Sla::new(store.clone(), None, Vec::new()).unwrap()),
        announcer: Arc::new(camwatch_workorder::Silent),
    };
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::from_second(T0).unwrap()));
    World {
        store,
        desk,
        clock,
        devices,
        _dir: dir,
    }
}

/// Two cameras, the first probed by node a, the second by node b, both online as each
/// records them and as the other follows them; each answers its re-probe. `b_follows_y` is
/// the status node a follows for the second.
async fn repair_across_two_nodes(y_as_a_follows_it: Status) -> (World, i64) {
    let w = world().await;
    let cams: Vec<DeviceCode> = w
        .devices
        .iter()
        .filter(|d| !d.kind.is_parent())
        .map(|d| d.code)
        .take(2)
        .collect();
    let (x, y) = (cams[0], cams[1]);
    let order = w
        .desk
        .open_manual(
            ManualOrder {
                devices: vec![x, y],
                title: "光缆中断".into(),
                note: String::new(),
                contractor: Some("甲运维".into()),
                since: None,
            },
            T0,
            "operator",
        )
        .await
        .unwrap();
    assert_eq!(order.subject, x);
    w.desk
        .act(order.id, &Action::Repair, T0 + 5, "甲运维", "fibre spliced")
        .await
        .unwrap();

    let (mine_a, mine_b) = (vec![x], vec![y]);
    let a = node_state(&w.devices, &mine_a);
    let b = node_state(&w.devices, &mine_b);
    let online = |at| Change {
        status: Status::Online,
        at,
        cause: None,
    };
    // Each node's own record, and what it follows of the other's.
    a.note_change(index_of(&w.devices, &mine_a, &x), &online(T0 - 60));
    a.note_change(
        index_of(&w.devices, &mine_a, &y),
        &Change {
            status: y_as_a_follows_it,
            at: T0 - 60,
            cause: None,
        },
    );
    b.note_change(index_of(&w.devices, &mine_b, &y), &online(T0 - 60));
    b.note_change(index_of(&w.devices, &mine_b, &x), &online(T0 - 60));
    // Each node's re-probe of its own camera answers (dated after any asking).
    let up = ProbeOutcome::up(ProbeKind::Rtsp);
    a.record_probe(0, ProbeClass::Liveness, T0 + 1000, &up);
    b.record_probe(0, ProbeClass::Liveness, T0 + 1000, &up);

    let cfg = EngineConfig {
        verify_timeout: 600,
        refresh: Duration::from_secs(10),
        ..EngineConfig::from_config(&Default::default())
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let dyn_clock: Arc<dyn Clock> = w.clock.clone();
    let mut engines = Vec::new();
    // Kept to the end: an engine stops when its event stream closes.
    let buses = [EventBus::new(16), EventBus::new(16)];
    for (state, bus) in [a, b].into_iter().zip(&buses) {
        engines.push(tokio::spawn(
            Engine::new(w.desk.clone(), state, dyn_clock.clone(), cfg.clone())
                .run(bus.subscribe(), rx.clone()),
        ));
    }
    // Two refreshes: one asks, the next reads the answers; well inside the 600 s timeout.
    let mut verified = false;
    for step in 1..=6 {
        w.clock
            .set(jiff::Timestamp::from_second(T0 + 10 + 10 * step).unwrap());
        for _ in 0..300 {
            let events = w.store.work_order_events(order.id).await.unwrap();
            if events
                .iter()
                .any(|e| matches!(e.kind, EventKind::Verified | EventKind::NotVerified))
            {
                verified = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if verified {
            break;
        }
    }
    assert!(
        verified,
        "the repair was not judged before the verification timeout"
    );
    stop.send(true).unwrap();
    for e in engines {
        e.await.unwrap();
    }
    (w, order.id)
}

fn verdicts(events: &[camwatch_store::workorders::OrderEvent]) -> Vec<(EventKind, String)> {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Verified | EventKind::NotVerified))
        .map(|e| (e.kind, e.note.clone()))
        .collect()
}

#[tokio::test]
async fn a_repair_spanning_two_nodes_is_verified_once_by_the_subjects_node() {
    let (w, id) = repair_across_two_nodes(Status::Online).await;
    let events = w.store.work_order_events(id).await.unwrap();
    assert_eq!(
        verdicts(&events),
        vec![(EventKind::Verified, "re-probe: healthy".to_string())],
        "{events:#?}"
    );
    let order = w.store.work_order(id).await.unwrap().unwrap();
    assert_eq!(order.life.state, State::AwaitingReview);
}

#[tokio::test]
async fn a_member_another_node_records_offline_fails_the_verification() {
    let (w, id) = repair_across_two_nodes(Status::Offline).await;
    let events = w.store.work_order_events(id).await.unwrap();
    let v = verdicts(&events);
    assert_eq!(v.len(), 1, "{events:#?}");
    assert_eq!(v[0].0, EventKind::NotVerified);
    assert!(
        v[0].1.contains("offline (probed by another node)"),
        "{}",
        v[0].1
    );
    let order = w.store.work_order(id).await.unwrap().unwrap();
    assert_eq!(order.life.state, State::Accepted);
}

/// A site's outage across two nodes' shards: four cameras of one region go down a few seconds
/// apart, two probed by each node. Each node's share (two) is under the region threshold
/// (three); the region (four) is not. Each engine hears its own node's changes and the other's
/// (followed); one region order opens with all four, from the node that probes the first, and
/// no camera gets an order of its own. Without counting the other node's outages, each node
/// opened two orders of its own.
#[tokio::test]
async fn a_region_down_across_two_nodes_is_one_region_order() {
    let w = world().await;
    let mut by_region: std::collections::BTreeMap<String, Vec<DeviceCode>> = Default::default();
    for d in w.devices.iter().filter(|d| !d.kind.is_parent()) {
        by_region
            .entry(d.region().to_string())
            .or_default()
            .push(d.code);
    }
    let cams: Vec<DeviceCode> = by_region
        .values()
        .find(|v| v.len() >= 4)
        .expect("a region of four cameras")[..4]
        .to_vec();
    let mine_a = vec![cams[0], cams[2]];
    let mine_b = vec![cams[1], cams[3]];
    let a = node_state(&w.devices, &mine_a);
    let b = node_state(&w.devices, &mine_b);
    let cfg = EngineConfig {
        plan: camwatch_core::workorder::plan::PlanConfig {
            grace_secs: 60,
            region_min_devices: 3,
            region_window_secs: 120,
        },
        refresh: Duration::from_secs(3600),
        ..EngineConfig::from_config(&Default::default())
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let dyn_clock: Arc<dyn Clock> = w.clock.clone();
    let buses = [EventBus::new(64), EventBus::new(64)];
    let mut engines = Vec::new();
    for (state, bus) in [a.clone(), b.clone()].into_iter().zip(&buses) {
        engines.push(tokio::spawn(
            Engine::new(w.desk.clone(), state, dyn_clock.clone(), cfg.clone())
                .run(bus.subscribe(), rx.clone()),
        ));
    }
    // The engines start with a refresh of nothing; then the outages, 10 s apart.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let down = camwatch_monitor::StatusChange {
        from: Status::Online,
        to: Status::Offline,
        cause: None,
        continues: None,
    };
    for (n, c) in cams.iter().enumerate() {
        let since = T0 + 10 * n as i64;
        let (own, own_mine, other, other_mine, own_bus, other_bus) = if n % 2 == 0 {
            (&a, &mine_a, &b, &mine_b, &buses[0], &buses[1])
        } else {
            (&b, &mine_b, &a, &mine_a, &buses[1], &buses[0])
        };
        let change = Change {
            status: Status::Offline,
            at: since,
            cause: None,
        };
        own.note_change(index_of(&w.devices, own_mine, c), &change);
        other.note_change(index_of(&w.devices, other_mine, c), &change);
        let meta = own.status(c).unwrap().0;
        own_bus.publish(
            since,
            meta.clone(),
            camwatch_monitor::EventKind::Status(down.clone()),
        );
        other_bus.publish(
            since,
            meta,
            camwatch_monitor::EventKind::PeerStatus(down.clone()),
        );
    }
    // Past every grace period and the region's window after the last outage.
    let mut opened = Vec::new();
    for step in 0..=20 {
        w.clock
            .set(jiff::Timestamp::from_second(T0 + 40 + 10 * step).unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        opened = w.store.open_work_orders().await.unwrap();
    }
    stop.send(true).unwrap();
    for e in engines {
        e.await.unwrap();
    }
    assert_eq!(opened.len(), 1, "{opened:#?}");
    let order = &opened[0];
    assert_eq!(order.origin, camwatch_core::workorder::Origin::Region);
    assert_eq!(order.subject, cams[0]);
    let mut members: Vec<DeviceCode> = w
        .store
        .work_order_devices(order.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.device)
        .collect();
    members.sort();
    let mut want = cams.clone();
    want.sort();
    assert_eq!(members, want);
}
