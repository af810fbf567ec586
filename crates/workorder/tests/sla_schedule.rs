//! Deadlines and overdue flags against a schedule computed by hand, on virtual time: the
//! engine runs on a manual clock from Thursday 2026-09-24 16:00 (Asia/Shanghai), moved by the
//! test (a paused tokio clock would also time out the database pool's waits), under
//! the example contract's calendar (中秋 holidays Fri 25 – Sun 27 September; Sunday 20
//! September and Saturday 10 October are make-up working days; hours 08:30–12:00 and
//! 13:30–17:30, a 7.5 h working day).

use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, ManualClock};
use camwatch_core::contract::Contract;
use camwatch_core::registry::generate::generate;
use camwatch_core::secret::SecretKey;
use camwatch_core::workorder::EventKind;
use camwatch_monitor::{EventBus, MonitorState};
use camwatch_store::Store;
use camwatch_workorder::{Desk, Engine, EngineConfig, ManualOrder, Sla};

const CONTRACT: &str = include_str!("../../../contracts/example-98.toml");

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

async fn setup(
    start: &str,
) -> (
    Arc<dyn Store>,
    Desk,
    Arc<ManualClock>,
    Vec<camwatch_core::registry::Device>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("s.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let devices = generate(30, 5);
    store.upsert_devices(&devices).await.unwrap();
    let contract = Contract::parse(CONTRACT, "example-98.toml").unwrap();
    let desk = Desk {
        store: store.clone(),
        sla: Arc::new(Sla::new(store.clone(), Some(contract), Vec::new()).unwrap()),
        announcer: Arc::new(camwatch_workorder::Silent),
    };
    let clock = Arc::new(ManualClock::new(
        jiff::Timestamp::from_second(at(start)).unwrap(),
    ));
    (store, desk, clock, devices, dir)
}

fn cameras(
    devices: &[camwatch_core::registry::Device],
    n: usize,
) -> Vec<camwatch_core::registry::DeviceCode> {
    devices
        .iter()
        .filter(|d| !d.kind.is_parent())
        .take(n)
        .map(|d| d.code)
        .collect()
}

/// Moves the clock to `local`.
fn until(clock: &ManualClock, local: &str) {
    assert!(
        at(local) >= clock.now().as_second(),
        "{local} is in the past"
    );
    clock.set(jiff::Timestamp::from_second(at(local)).unwrap());
}

/// Waits (real time, bounded) until the engine has recorded what `ok` looks for.
async fn settled<T>(what: &str, mut read: impl AsyncFnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
    for _ in 0..1000 {
        let v = read().await;
        if ok(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the engine did not record {what} within 10 s");
}

#[tokio::test]
async fn deadlines_cross_a_holiday_and_a_make_up_day_and_flag_when_they_pass() {
    let (store, desk, clock, devices, _dir) = setup("2026-09-24T16:00:00").await;
    let now = clock.now().as_second();
    // Ten devices at once: the major level (response 20 min, repair 0.5 working days).
    let major = desk
        .open_manual(
            ManualOrder {
                devices: cameras(&devices, 10),
                title: "光缆中断".into(),
                note: String::new(),
                contractor: Some("甲运维".into()),
                since: None,
            },
            now,
            "operator",
        )
        .await
        .unwrap();
    assert_eq!(major.level, "重大");
    assert_eq!(major.life.response_due_at, Some(at("2026-09-24T16:20:00")));
    // Thursday 16:00–17:30 is 1.5 h; Friday to Sunday are the 中秋 holidays; Monday
    // 08:30 + 2.25 h = 10:45.
    assert_eq!(major.life.repair_due_at, Some(at("2026-09-28T10:45:00")));

    // One device: the general level (response 20 min, repair 2 clock hours).
    let general = desk
        .open_manual(
            ManualOrder {
                devices: vec![cameras(&devices, 11)[10]],
                title: String::new(),
                note: "群众报修".into(),
                contractor: None,
                since: None,
            },
            now,
            "operator",
        )
        .await
        .unwrap();
    assert_eq!(general.level, "一般");
    assert_eq!(general.life.repair_due_at, Some(at("2026-09-24T18:00:00")));

    let state = Arc::new(MonitorState::for_devices(&devices, now));
    let bus = EventBus::new(16);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let cfg = EngineConfig {
        // Deadlines, not refreshes, must wake the engine.
        refresh: Duration::from_secs(6 * 3600),
        ..EngineConfig::from_config(&Default::default())
    };
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let engine =
        tokio::spawn(Engine::new(desk.clone(), state, dyn_clock, cfg).run(bus.subscribe(), rx));
    let order = |id: i64| {
        let store = store.clone();
        async move || store.work_order(id).await.unwrap().unwrap()
    };

    // The general order is answered in time; the major one is not.
    until(&clock, "2026-09-24T16:10:00");
    desk.act(
        general.id,
        &camwatch_core::workorder::Action::Accept,
        clock.now().as_second(),
        "乙运维",
        "",
    )
    .await
    .unwrap();
    until(&clock, "2026-09-24T16:20:30");
    let m = settled("the late response", order(major.id), |o| {
        o.life.response_overdue_at.is_some()
    })
    .await;
    assert_eq!(
        m.life.response_overdue_at,
        Some(at("2026-09-24T16:20:00")),
        "flagged at the deadline, not when it was noticed"
    );
    let g = store.work_order(general.id).await.unwrap().unwrap();
    assert_eq!(g.life.response_overdue_at, None);

    until(&clock, "2026-09-24T18:00:30");
    let g = settled("the general repair overdue", order(general.id), |o| {
        o.life.repair_overdue_at.is_some()
    })
    .await;
    assert_eq!(g.life.repair_overdue_at, Some(at("2026-09-24T18:00:00")));
    // Through the holidays to the Monday: the deadline is what the flag records.
    until(&clock, "2026-09-28T10:45:30");
    let m = settled("the major repair overdue", order(major.id), |o| {
        o.life.repair_overdue_at.is_some()
    })
    .await;
    assert_eq!(
        m.life.repair_overdue_at,
        Some(at("2026-09-28T10:45:00")),
        "the holidays do not count"
    );

    // Each flag is one event, dated when the deadline passed.
    let ev = store.work_order_events(major.id).await.unwrap();
    let flags: Vec<(EventKind, i64)> = ev
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ResponseOverdue | EventKind::RepairOverdue
            )
        })
        .map(|e| (e.kind, e.at))
        .collect();
    assert_eq!(
        flags,
        vec![
            (EventKind::ResponseOverdue, at("2026-09-24T16:20:00")),
            (EventKind::RepairOverdue, at("2026-09-28T10:45:00")),
        ]
    );
    stop.send(true).unwrap();
    engine.await.unwrap();
}

#[tokio::test]
async fn a_weekend_and_a_make_up_sunday() {
    let (_store, desk, clock, devices, _dir) = setup("2026-09-18T16:00:00").await;
    let o = desk
        .open_manual(
            ManualOrder {
                devices: cameras(&devices, 10),
                title: String::new(),
                note: String::new(),
                contractor: None,
                since: None,
            },
            clock.now().as_second(),
            "operator",
        )
        .await
        .unwrap();
    // Friday 16:00–17:30 is 1.5 h; Saturday is off; Sunday 20 September is worked:
    // 08:30 + 2.25 h = 10:45.
    assert_eq!(o.life.repair_due_at, Some(at("2026-09-20T10:45:00")));
}

#[tokio::test]
async fn an_exemption_stops_the_clock() {
    let (store, desk, clock, devices, _dir) = setup("2026-09-24T16:00:00").await;
    let cams = cameras(&devices, 1);
    // Planned works on the camera Thursday 16:30 – 17:00, approved before the order opens.
    store
        .add_exemption(&camwatch_core::history::Exemption {
            id: 0,
            scope: camwatch_core::history::ExemptionScope::Device(cams[0]),
            reason: camwatch_core::history::ExemptionReason::PlannedWorks,
            start_at: at("2026-09-24T16:30:00"),
            end_at: at("2026-09-24T17:00:00"),
            note: String::new(),
            approved_by: "甲方".into(),
        })
        .await
        .unwrap();
    let o = desk
        .open_manual(
            ManualOrder {
                devices: cams,
                title: String::new(),
                note: String::new(),
                contractor: None,
                since: None,
            },
            clock.now().as_second(),
            "operator",
        )
        .await
        .unwrap();
    // Two clock hours, half an hour of them exempt: 18:30.
    assert_eq!(o.life.repair_due_at, Some(at("2026-09-24T18:30:00")));
    assert_eq!(o.life.response_due_at, Some(at("2026-09-24T16:20:00")));
}

/// What people type is bounded at the desk, whichever command or API it comes through.
#[tokio::test]
async fn notes_and_titles_are_bounded() {
    let (_store, desk, clock, devices, _dir) = setup("2026-09-24T16:00:00").await;
    let now = clock.now().as_second();
    let long = "长".repeat(camwatch_core::limits::NOTE_CHARS + 1);
    let manual = |title: String, note: String| ManualOrder {
        devices: cameras(&devices, 1),
        title,
        note,
        contractor: None,
        since: None,
    };
    let e = desk
        .open_manual(manual(String::new(), long.clone()), now, "operator")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("note: more than"), "{e}");
    let o = desk
        .open_manual(manual(String::new(), "群众报修".into()), now, "operator")
        .await
        .unwrap();
    let e = desk
        .act(
            o.id,
            &camwatch_core::workorder::Action::Note,
            now,
            "operator",
            &long,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("note: more than"), "{e}");
}

/// A change checked against the order as the desk writes it: an order reassigned after the
/// caller looked is not changed by the contractor it no longer belongs to.
#[tokio::test]
async fn act_if_checks_the_order_it_changes() {
    use camwatch_core::error::ErrorKind;
    use camwatch_core::workorder::{Action, State};
    let (store, desk, clock, devices, _dir) = setup("2026-09-24T16:00:00").await;
    let now = clock.now().as_second();
    let o = desk
        .open_manual(
            ManualOrder {
                devices: cameras(&devices, 1),
                title: "黑屏".into(),
                note: String::new(),
                contractor: Some("甲运维".into()),
                since: None,
            },
            now,
            "operator",
        )
        .await
        .unwrap();
    // 甲 looked at its order; meanwhile an operator hands it to 乙.
    let seen = store.work_order(o.id).await.unwrap().unwrap();
    assert_eq!(seen.life.contractor.as_deref(), Some("甲运维"));
    desk.act(
        o.id,
        &Action::Assign {
            contractor: "乙运维".into(),
        },
        now + 60,
        "operator",
        "",
    )
    .await
    .unwrap();
    let is = |who: &'static str| {
        move |o: &camwatch_store::workorders::WorkOrder| o.life.contractor.as_deref() == Some(who)
    };
    let e = desk
        .act_if(
            o.id,
            &Action::Accept,
            now + 120,
            "甲运维",
            "",
            &is("甲运维"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    let after = store.work_order(o.id).await.unwrap().unwrap();
    assert_eq!(after.life.state, State::Pending, "unchanged");
    let done = desk
        .act_if(
            o.id,
            &Action::Accept,
            now + 180,
            "乙运维",
            "",
            &is("乙运维"),
        )
        .await
        .unwrap();
    assert_eq!(done.life.state, State::Accepted);
}
