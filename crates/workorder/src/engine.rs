//! The engine: turns the monitor's events into work orders and keeps open orders moving.
//!
//! - **Opening.** Status changes feed the pure planner (`core::workorder::plan`): an outage
//!   past the grace period, a confirmed picture fault, a parent down with its channels, a
//!   region down together. Every opening goes through the store, which refuses a second open
//!   order for a device: a fault continuing across a restart finds its order still open and
//!   opens nothing (if it had ended meanwhile, the order records that it resumed).
//! - **Reconciling.** Events can be missed (a lagging subscriber, a database error while
//!   opening). Every `refresh` the engine also compares the live state with the open orders:
//!   a device faulty for longer than the grace period and in no order is planned again; an order
//!   whose devices are all healthy records that its fault ended; one whose fault is back
//!   records that it resumed. So the orders converge on the truth whatever was missed.
//! - **Clocks.** Deadlines that pass are flagged (at the instant they passed). Deadlines move
//!   when an exemption approved later covers the order's devices.
//! - **Verifying a repair.** An order reported repaired (by the CLI, the API, anyone: the engine
//!   sees it in the store) gets its devices probed at once, out of turn; when every probe
//!   after the request has answered, healthy ones send it to review and anything else back to
//!   accepted ("repair not verified"). No answer within `verify_timeout` is not verified.
//! - **Auto-close** (optional): an order nobody has reported repaired whose fault has stayed
//!   away for `auto_close_after` closes as recovered.
//!
//! - **Several nodes.** Each node's engine opens orders from the events of the devices it
//!   probes, and keeps moving the open orders whose subject it probes (an order of a device
//!   no longer in the register, by every node: its writes are versioned and idempotent). A
//!   member another node probes (a region's order spans shards) is judged by the status that
//!   node recorded, which this node follows, not re-probed out of turn.
//!
//! Errors (a database that is briefly unavailable) are logged and the work is retried at the
//! next refresh; the engine never stops the monitor.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::cause::Cause;
use camwatch_core::clock::Clock;
use camwatch_core::config::WorkOrdersConfig;
use camwatch_core::error::{ErrorKind, Result};
use camwatch_core::history::{Exemption, Status};
use camwatch_core::outcome::ProbeStatus;
use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::plan::{Fault, FaultKind, Opening, PlanConfig, Planner, Step};
use camwatch_core::workorder::{Action, Lifecycle, Origin, State, next_deadline};
use camwatch_monitor::scheduler::ProbeClass;
use camwatch_monitor::{
    DeviceMeta, Event, EventKind, MonitorState, Received, StatusChange, Subscription,
};
use camwatch_store::workorders::{NewOrderEvent, NewWorkOrder, WorkOrder};
use tokio::sync::watch;

use crate::desk::{Desk, SYSTEM};

/// How the engine works.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub plan: PlanConfig,
    /// `None`: never auto-close.
    pub auto_close_after: Option<i64>,
    /// Seconds the re-probe after a repair report may take.
    pub verify_timeout: i64,
    /// How often (clock time) open orders are re-read and reconciled with the live state.
    pub refresh: Duration,
}

impl EngineConfig {
    pub fn from_config(c: &WorkOrdersConfig) -> Self {
        Self {
            plan: PlanConfig {
                grace_secs: c.grace_sec as i64,
                region_min_devices: c.region_min_devices,
                region_window_secs: c.region_window_sec as i64,
            },
            auto_close_after: (c.auto_close_after_sec > 0).then_some(c.auto_close_after_sec as i64),
            verify_timeout: c.verify_timeout_sec.max(1) as i64,
            refresh: Duration::from_secs(10),
        }
    }
}

/// A repair being verified.
struct Verifying {
    asked_at: i64,
    devices: Vec<DeviceCode>,
    picture: bool,
}

pub struct Engine {
    desk: Desk,
    state: Arc<MonitorState>,
    clock: Arc<dyn Clock>,
    cfg: EngineConfig,
    planner: Planner,
    verifying: HashMap<i64, Verifying>,
    /// The earliest deadline of an open order not yet flagged (`i64::MAX`: none).
    next_deadline: i64,
}

impl Engine {
    pub fn new(
        desk: Desk,
        state: Arc<MonitorState>,
        clock: Arc<dyn Clock>,
        cfg: EngineConfig,
    ) -> Self {
        Self {
            planner: Planner::new(cfg.plan.clone()),
            desk,
            state,
            clock,
            cfg,
            verifying: HashMap::new(),
            next_deadline: i64::MAX,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    /// Runs until `shutdown` or the end of the event stream.
    pub async fn run(mut self, mut events: Subscription, mut shutdown: watch::Receiver<bool>) {
        let mut next_refresh = self.now();
        loop {
            let now = self.now();
            if now >= next_refresh {
                if let Err(e) = self.refresh(now).await {
                    tracing::warn!("work orders: refresh failed, retrying: {e}");
                }
                next_refresh = now + self.cfg.refresh.as_secs().max(1) as i64;
            }
            // A deadline passing wakes the engine at once: the flag and its notification go
            // out when it happens, not at the next refresh.
            let wake = self
                .planner
                .next_due()
                .map_or(next_refresh, |d| d.min(next_refresh))
                .min(self.next_deadline);
            // Measured from the clock as it is now: the refresh above may have taken a while.
            let sleep = Duration::from_secs((wake - self.now()).max(0) as u64);
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                r = events.recv() => match r {
                    Received::Event(e) => {
                        if let Err(err) = self.on_event(&e).await {
                            tracing::warn!(device = %e.device.code, "work orders: event not handled, the next refresh reconciles it: {err}");
                        }
                    }
                    Received::Missed { count, .. } => {
                        tracing::warn!(count, "work orders: fell behind the monitor's events; reconciling");
                        next_refresh = self.now();
                    }
                    Received::Closed => break,
                },
                _ = self.clock.sleep(sleep) => {
                    let now = self.now();
                    if now >= self.next_deadline {
                        next_refresh = now;
                        continue;
                    }
                    let steps = self.planner.tick(now);
                    if let Err(e) = self.execute(steps, now).await {
                        tracing::warn!("work orders: opening failed, retrying: {e}");
                    }
                }
            }
        }
    }

    /// One event from the monitor.
    async fn on_event(&mut self, e: &Event) -> Result<()> {
        let sc = match &e.kind {
            EventKind::Status(sc) => sc,
            EventKind::PeerStatus(sc) => return self.on_peer(e, sc).await,
            _ => return Ok(()),
        };
        let m = &e.device;
        let now = self.now();
        let mut steps = Vec::new();
        // The fault that ended, if any.
        if matches!(sc.from, Status::Offline | Status::Degraded)
            && sc.to != sc.from
            && sc.to != Status::Unknown
        {
            steps.extend(self.planner.up(m.code, e.at));
        }
        match sc.to {
            Status::Offline | Status::Degraded => {
                // A fault carried across a restart keeps its start.
                let since = sc.continues.as_ref().map_or(e.at, |c| c.since);
                let kind = fault_kind(m, sc.to, sc.cause.as_ref());
                steps.extend(self.planner.down(
                    Fault {
                        device: m.code,
                        region: m.region.clone(),
                        cause: sc.cause.clone(),
                        since,
                    },
                    kind,
                    now,
                ));
            }
            Status::Online | Status::Unknown => {}
        }
        self.execute(steps, now).await
    }

    /// A status change another node recorded: counted into its region's run (a region spans
    /// shards), never opened here on its own: its node's engine does that.
    async fn on_peer(&mut self, e: &Event, sc: &StatusChange) -> Result<()> {
        let m = &e.device;
        if sc.to != Status::Offline {
            self.planner.up_elsewhere(&m.code);
            return Ok(());
        }
        if fault_kind(m, sc.to, sc.cause.as_ref()) != FaultKind::Outage {
            return Ok(());
        }
        let now = self.now();
        let steps = self.planner.down_elsewhere(
            Fault {
                device: m.code,
                region: m.region.clone(),
                cause: sc.cause.clone(),
                since: e.at,
            },
            now,
        );
        self.execute(steps, now).await
    }

    async fn execute(&mut self, steps: Vec<Step>, now: i64) -> Result<()> {
        for s in steps {
            match s {
                Step::Open(o) => self.open(o, now).await?,
                Step::JoinParent { device, parent } => {
                    if self.desk.store.unconfirmed_codes().await?.contains(&device) {
                        continue;
                    }
                    if let Some(id) = self.desk.store.open_order_of(&parent).await? {
                        self.desk
                            .store
                            .join_work_order(id, &[device], now, SYSTEM)
                            .await?;
                    }
                }
                Step::Ended { device, at } => self.ended(device, at, now).await?,
            }
        }
        Ok(())
    }

    async fn open(&mut self, o: Opening, now: i64) -> Result<()> {
        let (origin, faults) = match &o {
            Opening::Outage(f) => (Origin::Outage, std::slice::from_ref(f)),
            Opening::Picture(f) => (Origin::Picture, std::slice::from_ref(f)),
            Opening::Parent(f) => (Origin::Parent, std::slice::from_ref(f)),
            Opening::Region { faults, .. } => (Origin::Region, faults.as_slice()),
        };
        // Channels a GB/T 28181 catalog brought in are no contract points until an operator
        // confirms them: nobody is sent to repair them, alone or in a group.
        let unconfirmed = self.desk.store.unconfirmed_codes().await?;
        let faults: Vec<&Fault> = faults
            .iter()
            .filter(|f| !unconfirmed.contains(&f.device))
            .collect();
        let Some(first) = faults.first() else {
            return Ok(());
        };
        let (subject, cause, region) = (first.device, first.cause.clone(), first.region.clone());
        let since = faults.iter().map(|f| f.since).min().unwrap_or(now);
        let mut devices: Vec<DeviceCode> = faults.iter().map(|f| f.device).collect();
        // Already in an open order: the fault is that order's (a restart, a repeat).
        if let Some(id) = self.desk.store.open_order_of(&subject).await? {
            if let Some(order) = self.desk.store.work_order(id).await?
                && order.life.fault_ended_at.is_some()
            {
                self.desk
                    .act(id, &Action::FaultResumed, now, SYSTEM, "")
                    .await?;
            }
            return Ok(());
        }
        // A channel whose parent is down too is the parent's fault, whatever its own probe
        // said first (a channel and its NVR fail together; either may be confirmed first): it
        // joins the parent's order, or waits for it to open (the parent's order takes in its
        // offline channels; the refresh re-plans it until then).
        let meta = self.state.status(&subject).map(|(m, _)| m);
        if origin == Origin::Outage
            && let Some(parent) = meta.as_ref().and_then(|m| m.parent)
            && self
                .state
                .status(&parent)
                .is_some_and(|(_, st)| st == Status::Offline)
        {
            if let Some(id) = self.desk.store.open_order_of(&parent).await? {
                self.desk
                    .store
                    .join_work_order(id, &[subject], now, SYSTEM)
                    .await?;
            }
            return Ok(());
        }
        // A straggler of a region that is down together joins the region's order.
        if matches!(origin, Origin::Outage) && self.cfg.plan.region_min_devices > 0 {
            let open = self.desk.store.open_work_orders().await?;
            if let Some(r) = open.iter().find(|w| {
                w.origin == Origin::Region
                    && w.region == region
                    && (w.fault_since - since).abs() <= self.cfg.plan.region_window_secs
            }) {
                self.desk
                    .store
                    .join_work_order(r.id, &[subject], now, SYSTEM)
                    .await?;
                return Ok(());
            }
        }
        if origin == Origin::Parent {
            devices.extend(
                self.state
                    .children_offline(&subject)
                    .into_iter()
                    .map(|(c, _)| c)
                    .filter(|c| !unconfirmed.contains(c)),
            );
        }
        // The subject was checked above; other channels may be in orders of their own.
        if devices.len() > 1 {
            let taken = self.desk.store.open_memberships().await?;
            devices.retain(|d| *d == subject || !taken.contains_key(d));
        }
        let name = meta
            .as_ref()
            .map_or_else(|| subject.to_string(), |m| m.name.clone());
        let maintainer = meta.as_ref().and_then(|m| m.maintainer.clone());
        let plan = self
            .desk
            .sla
            .plan(&devices, &region, origin == Origin::Parent, now)
            .await?;
        let title = title(origin, &name, &region, devices.len(), cause.as_ref());
        let new = NewWorkOrder {
            subject,
            origin,
            cause,
            title,
            level: plan.level,
            region: region.clone(),
            fault_since: since,
            opened_at: now,
            life: Lifecycle {
                contractor: self.desk.sla.contractor_for(maintainer.as_deref(), &region),
                response_due_at: plan.response_due_at,
                repair_due_at: plan.repair_due_at,
                ..Lifecycle::default()
            },
            devices,
            actor: SYSTEM.into(),
            note: String::new(),
        };
        match self.desk.open(new).await {
            Ok(w) => {
                tracing::info!(order = w.id, device = %subject, origin = %origin, "work order opened");
                // A picture fault's proof goes with the order: the frame that confirmed it.
                if origin == Origin::Picture
                    && let Some(ev) = self.state.device(&subject).and_then(|l| l.evidence)
                {
                    let name = format!("{subject}-{}.jpg", ev.at);
                    self.desk
                        .attach(w.id, now, SYSTEM, &name, "image/jpeg", &ev.jpeg)
                        .await?;
                }
                self.next_deadline = self
                    .next_deadline
                    .min(next_deadline(&w.life).unwrap_or(i64::MAX));
                Ok(())
            }
            // Someone (a person, another path) opened one for it meanwhile: that one stands.
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `device`'s fault ended at `at`.
    async fn ended(&mut self, device: DeviceCode, at: i64, now: i64) -> Result<()> {
        let Some(id) = self.desk.store.open_order_of(&device).await? else {
            return Ok(());
        };
        let Some(order) = self.desk.store.work_order(id).await? else {
            return Ok(());
        };
        if order.origin.is_by_hand() {
            return Ok(());
        }
        let members = self.desk.store.work_order_devices(id).await?;
        let current: Vec<DeviceCode> = members
            .iter()
            .filter(|m| m.left_at.is_none())
            .map(|m| m.device)
            .collect();
        if order.origin == Origin::Parent && device == order.subject {
            // The parent is back. A channel still down when it is re-probed is down on its own
            // account: it leaves the parent's order and waits out its own grace period from
            // now (most come back with their next probe and never get an order).
            for c in current.iter().filter(|c| **c != device) {
                if let Some(l) = self.state.device(c)
                    && l.status == Status::Offline
                {
                    self.desk
                        .store
                        .leave_work_order(
                            id,
                            c,
                            now,
                            SYSTEM,
                            "still offline when the parent recovered",
                        )
                        .await?;
                    let steps = self.planner.down(
                        Fault {
                            device: *c,
                            region: l.meta.region.clone(),
                            cause: own_cause(l.cause),
                            since: at,
                        },
                        FaultKind::Outage,
                        now,
                    );
                    Box::pin(self.execute(steps, now)).await?;
                }
            }
            self.desk
                .act(id, &Action::FaultEnded, at, SYSTEM, "")
                .await?;
            return Ok(());
        }
        // Ended for the order when none of its devices is faulty any more.
        let still = current.iter().filter(|c| **c != device).any(|c| {
            self.state
                .status(c)
                .is_some_and(|(_, st)| matches!(st, Status::Offline | Status::Degraded))
        });
        if !still {
            self.desk
                .act(id, &Action::FaultEnded, at, SYSTEM, "")
                .await?;
        }
        Ok(())
    }

    /// Re-reads the open orders: deadlines, verification, auto-close, reconciliation.
    async fn refresh(&mut self, now: i64) -> Result<()> {
        let open = self.desk.store.open_work_orders().await?;
        let members = self.desk.store.open_memberships().await?;
        self.next_deadline = i64::MAX;
        let mut by_order: HashMap<i64, Vec<DeviceCode>> = HashMap::new();
        for (d, id) in &members {
            by_order.entry(*id).or_default().push(*d);
        }
        let faulty = self.state.faulty();
        let faulty_codes: HashSet<DeviceCode> = faulty.iter().map(|f| f.0.code).collect();
        let open_ids: HashSet<i64> = open.iter().map(|o| o.id).collect();
        self.verifying.retain(|id, _| open_ids.contains(id));
        // Read once for every order, not once an order.
        let exemptions = match open.iter().map(|o| o.opened_at).min() {
            Some(from) => self.desk.sla.exemptions_from(from).await?,
            None => Vec::new(),
        };
        let open: Vec<WorkOrder> = open
            .into_iter()
            .filter(|o| self.maintains(&o.subject))
            .collect();
        for o in &open {
            let devices = by_order.get(&o.id).cloned().unwrap_or_default();
            self.move_deadlines(o, &devices, &exemptions, now).await?;
            let checked = if next_deadline(&o.life).is_some_and(|d| d <= now) {
                self.desk
                    .act(o.id, &Action::CheckDeadlines, now, SYSTEM, "")
                    .await?
            } else {
                o.clone()
            };
            if let Some(d) = next_deadline(&checked.life) {
                self.next_deadline = self.next_deadline.min(d);
            }
            self.verify(o, &devices, now).await?;
            // A person reported a manual or patrol order's fault: the monitor does not decide
            // when it ends. Otherwise the fault ended when every device is seen healthy.
            if o.origin.is_by_hand() {
                continue;
            }
            // By status, not `faulty` (this node's devices only): a member another node
            // probes counts as that node recorded it.
            let any_faulty = devices.iter().any(|d| {
                self.state
                    .status(d)
                    .is_some_and(|(_, st)| matches!(st, Status::Offline | Status::Degraded))
            });
            let all_seen_well = !devices.is_empty()
                && devices.iter().all(|d| {
                    self.state
                        .status(d)
                        .is_some_and(|(_, st)| matches!(st, Status::Online | Status::Degraded))
                });
            match o.life.fault_ended_at {
                None if !any_faulty && all_seen_well => {
                    self.desk
                        .act(o.id, &Action::FaultEnded, now, SYSTEM, "")
                        .await?;
                }
                Some(_) if any_faulty => {
                    self.desk
                        .act(o.id, &Action::FaultResumed, now, SYSTEM, "")
                        .await?;
                }
                Some(t)
                    if matches!(o.life.state, State::Pending | State::Accepted)
                        && self.cfg.auto_close_after.is_some_and(|a| now >= t + a) =>
                {
                    self.desk
                        .act(
                            o.id,
                            &Action::AutoClose,
                            now,
                            SYSTEM,
                            "the fault stayed away",
                        )
                        .await?;
                }
                _ => {}
            }
        }
        // Faults with no order and not waiting out their grace (missed events, failed opens,
        // channels still down after their parent recovered). Unconfirmed channels get none.
        let unconfirmed = self.desk.store.unconfirmed_codes().await?;
        for (m, status, since, cause) in faulty {
            if members.contains_key(&m.code)
                || self.planner.is_waiting(&m.code)
                || unconfirmed.contains(&m.code)
            {
                continue;
            }
            let fault = |since: i64, cause: Option<Cause>| Fault {
                device: m.code,
                region: m.region.clone(),
                cause,
                since,
            };
            let steps = match fault_kind(&m, status, cause.as_ref()) {
                FaultKind::UnderParent(p) => {
                    if let Some(id) = members.get(&p) {
                        self.desk
                            .store
                            .join_work_order(*id, &[m.code], now, SYSTEM)
                            .await?;
                        continue;
                    }
                    if faulty_codes.contains(&p) {
                        // The parent's order opens when its grace ends and takes it in.
                        continue;
                    }
                    // The parent is up and it is not: its own fault, from now.
                    self.planner
                        .down(fault(now, own_cause(cause)), FaultKind::Outage, now)
                }
                kind => self.planner.down(fault(since, cause), kind, now),
            };
            self.execute(steps, now).await?;
        }
        Ok(())
    }

    /// An exemption approved after the order opened moves its deadlines (until they are
    /// flagged: a deadline that has passed stays passed).
    async fn move_deadlines(
        &self,
        o: &WorkOrder,
        devices: &[DeviceCode],
        exemptions: &[Exemption],
        now: i64,
    ) -> Result<()> {
        if o.life.response_overdue_at.is_some() && o.life.repair_overdue_at.is_some() {
            return Ok(());
        }
        let Some((response, repair)) =
            self.desk
                .sla
                .deadlines(&o.level, devices, &o.region, o.opened_at, exemptions)
        else {
            return Ok(());
        };
        let mut life = o.life.clone();
        if life.response_overdue_at.is_none() {
            life.response_due_at = Some(response);
        }
        if life.repair_overdue_at.is_none() {
            life.repair_due_at = Some(repair);
        }
        if life == o.life {
            return Ok(());
        }
        let event = NewOrderEvent {
            at: now,
            actor: SYSTEM.into(),
            kind: camwatch_core::workorder::EventKind::Noted,
            note: "deadlines moved by an approved exemption".into(),
            detail: serde_json::json!({
                "response_due_at": life.response_due_at,
                "repair_due_at": life.repair_due_at,
            })
            .to_string(),
        };
        match self
            .desk
            .store
            .update_work_order(o.id, o.version, &life, &[event], &[])
            .await
        {
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Whether this node keeps the order of `subject` moving: it probes the subject, or the
    /// subject is no longer in the register.
    fn maintains(&self, subject: &DeviceCode) -> bool {
        self.state.probed_here(subject).unwrap_or(true)
    }

    /// Starts or finishes the verification of a reported repair.
    async fn verify(&mut self, o: &WorkOrder, devices: &[DeviceCode], now: i64) -> Result<()> {
        if o.life.state != State::Repaired {
            return Ok(());
        }
        let picture = o.origin == Origin::Picture;
        let Some(v) = self.verifying.get(&o.id) else {
            for d in devices {
                self.state.probe_now(d, ProbeClass::Liveness);
                if picture {
                    self.state.probe_now(d, ProbeClass::Picture);
                }
            }
            self.verifying.insert(
                o.id,
                Verifying {
                    asked_at: now,
                    devices: devices.to_vec(),
                    picture,
                },
            );
            return Ok(());
        };
        let mut healthy = true;
        let mut answered = true;
        let mut words = Vec::new();
        for d in &v.devices {
            let Some(live) = self.state.device(d) else {
                continue;
            };
            if !live.probed_here {
                // Another node probes it and this one cannot: its status as that node
                // recorded it (followed within seconds) is the answer.
                match live.status {
                    Status::Unknown => answered = false,
                    Status::Online => {}
                    Status::Degraded if !v.picture => {}
                    st => {
                        healthy = false;
                        words.push(format!("{d}: {st} (probed by another node)"));
                    }
                }
                continue;
            }
            let after = |class: ProbeClass| {
                live.recent
                    .iter()
                    .find(|r| r.class == class && r.at >= v.asked_at)
            };
            let mut classes = vec![ProbeClass::Liveness];
            if v.picture {
                classes.push(ProbeClass::Picture);
            }
            for c in classes {
                match after(c) {
                    None => answered = false,
                    Some(r) => {
                        let ok =
                            r.status == ProbeStatus::Up && r.picture.is_none_or(|f| f.is_empty());
                        if !ok {
                            healthy = false;
                            words.push(format!("{d}: {} {}", c.as_str(), r.detail));
                        }
                    }
                }
            }
        }
        let timed_out = now >= v.asked_at + self.cfg.verify_timeout;
        if !answered && !timed_out {
            return Ok(());
        }
        let healthy = healthy && answered;
        let note = if healthy {
            "re-probe: healthy".to_string()
        } else if !answered {
            format!("re-probe: no answer within {} s", self.cfg.verify_timeout)
        } else {
            format!("re-probe: still faulty ({})", words.join("; "))
        };
        self.verifying.remove(&o.id);
        self.desk
            .act(o.id, &Action::Verify { healthy }, now, SYSTEM, &note)
            .await?;
        Ok(())
    }
}

fn fault_kind(m: &DeviceMeta, status: Status, cause: Option<&Cause>) -> FaultKind {
    match (status, cause) {
        (Status::Degraded, _) => FaultKind::Picture,
        (_, Some(Cause::ParentDown(p))) => FaultKind::UnderParent(*p),
        _ if m.kind.is_parent() => FaultKind::ParentOutage,
        _ => FaultKind::Outage,
    }
}

/// A channel's cause once its parent is no longer to blame.
fn own_cause(c: Option<Cause>) -> Option<Cause> {
    c.filter(|c| !matches!(c, Cause::ParentDown(_)))
}

fn title(
    origin: Origin,
    name: &str,
    region: &str,
    devices: usize,
    cause: Option<&Cause>,
) -> String {
    let why = cause.map(|c| format!("（{c}）")).unwrap_or_default();
    match origin {
        Origin::Outage => format!("离线：{name}{why}"),
        Origin::Picture => format!("画面故障：{name}{why}"),
        Origin::Parent => format!(
            "上级设备离线：{name}{why}，影响 {} 路",
            devices.saturating_sub(1)
        ),
        Origin::Region => format!("区域离线：{region} 共 {devices} 路{why}"),
        Origin::Manual => format!("报修：{name}"),
        Origin::Patrol => format!("巡检发现故障：{name}"),
    }
}
