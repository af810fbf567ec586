//! Which faults become work orders, and grouped how. Pure: driven by the monitor's status
//! changes and the clock, it says what to open; the caller checks its decisions against the
//! orders already open (a device is in at most one open order) and carries them out.
//!
//! - An outage opens an order once it has lasted the grace period (a short outage is counted in
//!   the record but sends nobody out). A confirmed picture fault opens one at once: confirming
//!   it already took several samples.
//! - A parent (NVR, encoder, lower platform) down opens one order for the parent; its channels,
//!   down because of it, join that order instead of getting their own.
//! - Devices of one region whose outages start within `region_window_secs` of one another and
//!   reach `region_min_devices` open one order for the region (a site's power or link is down).
//!   Outages start over a probe interval, so they come due over it too: with region grouping
//!   on, an outage waits until its run of the region has `region_min_devices` past their grace
//!   period (one region order), or until no later outage can join the run (its grace and the
//!   window after the run's last start: orders of their own).
//! - A fault that ends within the grace period opens nothing.
//!
//! **Several nodes** (docs/nodes.md) probe shards of one fleet, and a region spans shards. A
//! node hears of the outages the others record (`down_elsewhere`) and counts them into its
//! regions' runs, so a region is grouped whole, not by each node's share. Of the nodes that
//! see a run reach the threshold, the one that probes its first outage (by start, then code)
//! opens the region order with every outage of the run in it; the others open nothing for it.
//! An outage recorded elsewhere never opens an order here on its own: its node opens that.

use std::collections::BTreeMap;

use crate::cause::Cause;
use crate::registry::DeviceCode;

/// When and how faults become orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// How long an outage lasts before an order is opened (seconds).
    pub grace_secs: i64,
    /// Outages in one region, starting within `region_window_secs` of one another, that make one
    /// region order; 0: never group by region.
    pub region_min_devices: usize,
    pub region_window_secs: i64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            grace_secs: 600,
            region_min_devices: 0,
            region_window_secs: 120,
        }
    }
}

/// One device's fault, as an order records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub device: DeviceCode,
    /// The 6-digit civil code.
    pub region: String,
    pub cause: Option<Cause>,
    /// When the fault started (backdated to the first failed probe).
    pub since: i64,
}

/// What kind of fault a status change reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A channel offline on its own account.
    Outage,
    /// A parent (NVR, encoder, platform) offline.
    ParentOutage,
    /// A channel down because its parent is: it belongs in the parent's order.
    UnderParent(DeviceCode),
    /// A confirmed picture fault.
    Picture,
}

/// What to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// One device's outage or picture fault.
    Outage(Fault),
    Picture(Fault),
    /// A parent down: its order, which its channels join.
    Parent(Fault),
    /// Devices of one region down together.
    Region {
        region: String,
        faults: Vec<Fault>,
    },
}

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Open(Opening),
    /// `device` is down because `parent` is: into the parent's open order, if there is one (else
    /// the parent's order takes it in when it opens).
    JoinParent {
        device: DeviceCode,
        parent: DeviceCode,
    },
    /// `device`'s fault ended at `at`: its order, if any, records it.
    Ended {
        device: DeviceCode,
        at: i64,
    },
}

/// A fault waiting out its grace period.
#[derive(Debug, Clone)]
struct Waiting {
    fault: Fault,
    /// A parent's outage (never grouped by region).
    parent: bool,
    /// Recorded by this node (`down`), not heard of from another (`down_elsewhere`).
    here: bool,
}

/// Faults waiting out their grace period.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    cfg: PlanConfig,
    waiting: BTreeMap<DeviceCode, Waiting>,
}

impl Planner {
    pub fn new(cfg: PlanConfig) -> Self {
        Self {
            cfg,
            waiting: BTreeMap::new(),
        }
    }

    /// A device went down (or its picture went bad) at `fault.since`; `now` is the clock.
    pub fn down(&mut self, fault: Fault, kind: FaultKind, now: i64) -> Vec<Step> {
        match kind {
            FaultKind::Picture => {
                self.waiting.remove(&fault.device);
                vec![Step::Open(Opening::Picture(fault))]
            }
            FaultKind::UnderParent(parent) => {
                self.waiting.remove(&fault.device);
                vec![Step::JoinParent {
                    device: fault.device,
                    parent,
                }]
            }
            FaultKind::Outage | FaultKind::ParentOutage => {
                let parent = kind == FaultKind::ParentOutage;
                self.waiting.insert(
                    fault.device,
                    Waiting {
                        fault,
                        parent,
                        here: true,
                    },
                );
                self.tick(now)
            }
        }
    }

    /// Another node recorded `fault`, a channel's outage on its own account: counted into its
    /// region's run, never opened here on its own. Nothing without region grouping.
    pub fn down_elsewhere(&mut self, fault: Fault, now: i64) -> Vec<Step> {
        if self.cfg.region_min_devices == 0 {
            return Vec::new();
        }
        self.waiting.insert(
            fault.device,
            Waiting {
                fault,
                parent: false,
                here: false,
            },
        );
        self.tick(now)
    }

    /// Another node recorded `device` up: it no longer counts (its node ends its order).
    pub fn up_elsewhere(&mut self, device: &DeviceCode) {
        if self.waiting.get(device).is_some_and(|w| !w.here) {
            self.waiting.remove(device);
        }
    }

    /// A device is up (online, or degraded only) from `at`.
    pub fn up(&mut self, device: DeviceCode, at: i64) -> Vec<Step> {
        match self.waiting.remove(&device) {
            // Past the grace period, held for its region's run (or not yet ticked): it is
            // opened, and ended at once.
            Some(w) if w.here && w.fault.since + self.cfg.grace_secs <= at => {
                let open = if w.parent {
                    Opening::Parent(w.fault)
                } else {
                    Opening::Outage(w.fault)
                };
                vec![Step::Open(open), Step::Ended { device, at }]
            }
            // Ended within the grace period: nobody is sent out.
            Some(_) => Vec::new(),
            None => vec![Step::Ended { device, at }],
        }
    }

    /// Whether `device`'s fault (recorded here) is waiting out its grace period.
    pub fn is_waiting(&self, device: &DeviceCode) -> bool {
        self.waiting.get(device).is_some_and(|w| w.here)
    }

    /// The device left the register (or is no longer watched): forget its waiting fault.
    pub fn forget(&mut self, device: &DeviceCode) {
        self.waiting.remove(device);
    }

    /// When `tick` next has something to decide.
    pub fn next_due(&self) -> Option<i64> {
        let grace = self.cfg.grace_secs;
        let mut due = self
            .waiting
            .values()
            .filter(|w| w.parent || self.cfg.region_min_devices == 0)
            .map(|w| w.fault.since + grace)
            .min();
        for run in self.runs() {
            let at = self.decided_at(&run);
            due = Some(due.map_or(at, |d| d.min(at)));
        }
        due
    }

    /// With region grouping on, the runs of the waiting outages (not parents'): per region,
    /// sorted by start and code, consecutive starts within the window.
    fn runs(&self) -> Vec<Vec<&Waiting>> {
        if self.cfg.region_min_devices == 0 {
            return Vec::new();
        }
        let mut by_region: BTreeMap<&str, Vec<&Waiting>> = BTreeMap::new();
        for w in self.waiting.values().filter(|w| !w.parent) {
            by_region.entry(&w.fault.region).or_default().push(w);
        }
        let mut out = Vec::new();
        for (_, mut ws) in by_region {
            ws.sort_by_key(|w| (w.fault.since, w.fault.device));
            out.extend(clusters(ws, |w| w.fault.since, self.cfg.region_window_secs));
        }
        out
    }

    /// When a run (sorted by start) is decided: as soon as `region_min_devices` of it have
    /// waited out the grace period, else when no later outage can join it.
    fn decided_at(&self, run: &[&Waiting]) -> i64 {
        let grace = self.cfg.grace_secs;
        match run.get(self.cfg.region_min_devices - 1) {
            Some(w) => w.fault.since + grace,
            None => {
                run.last().expect("runs are never empty").fault.since
                    + self.cfg.region_window_secs
                    + grace
            }
        }
    }

    /// Faults whose grace period has ended by `now` become openings: parents' at once, others
    /// alone or grouped by region (see the module's notes).
    pub fn tick(&mut self, now: i64) -> Vec<Step> {
        let grace = self.cfg.grace_secs;
        let due = |w: &Waiting| w.fault.since + grace <= now;
        let mut out = Vec::new();
        // Parents, and every outage when regions are not grouped: in order of start.
        let mut alone: Vec<&Waiting> = self
            .waiting
            .values()
            .filter(|w| due(w) && (w.parent || self.cfg.region_min_devices == 0))
            .collect();
        alone.sort_by_key(|w| (!w.parent, w.fault.since, w.fault.device));
        let mut done: Vec<DeviceCode> = Vec::new();
        for w in alone {
            done.push(w.fault.device);
            out.push(Step::Open(if w.parent {
                Opening::Parent(w.fault.clone())
            } else {
                Opening::Outage(w.fault.clone())
            }));
        }
        for run in self.runs() {
            if self.decided_at(&run) > now {
                continue;
            }
            let ready: Vec<&Waiting> = run.into_iter().filter(|w| due(w)).collect();
            done.extend(ready.iter().map(|w| w.fault.device));
            if ready.len() >= self.cfg.region_min_devices {
                // The node that probes the run's first outage opens the region's order.
                if ready[0].here {
                    out.push(Step::Open(Opening::Region {
                        region: ready[0].fault.region.clone(),
                        faults: ready.iter().map(|w| w.fault.clone()).collect(),
                    }));
                }
            } else {
                out.extend(
                    ready
                        .iter()
                        .filter(|w| w.here)
                        .map(|w| Step::Open(Opening::Outage(w.fault.clone()))),
                );
            }
        }
        for d in &done {
            self.waiting.remove(d);
        }
        out
    }
}

/// Splits items sorted by start into runs whose consecutive starts are within `window`.
fn clusters<T>(items: Vec<T>, since: impl Fn(&T) -> i64, window: i64) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    for f in items {
        match out.last_mut() {
            Some(run) if since(&f) - since(run.last().expect("runs are never empty")) <= window => {
                run.push(f)
            }
            _ => out.push(vec![f]),
        }
    }
    out
}
