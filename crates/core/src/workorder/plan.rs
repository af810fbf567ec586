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
//! - A fault that ends within the grace period opens nothing.

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

/// Faults waiting out their grace period.
#[derive(Debug, Clone, Default)]
pub struct Planner {
    cfg: PlanConfig,
    waiting: BTreeMap<DeviceCode, (Fault, bool)>,
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
                self.waiting.insert(fault.device, (fault, parent));
                self.tick(now)
            }
        }
    }

    /// A device is up (online, or degraded only) from `at`.
    pub fn up(&mut self, device: DeviceCode, at: i64) -> Vec<Step> {
        if self.waiting.remove(&device).is_some() {
            // Ended within the grace period: nobody is sent out.
            return Vec::new();
        }
        vec![Step::Ended { device, at }]
    }

    /// Whether `device`'s fault is waiting out its grace period.
    pub fn is_waiting(&self, device: &DeviceCode) -> bool {
        self.waiting.contains_key(device)
    }

    /// The device left the register (or is no longer watched): forget its waiting fault.
    pub fn forget(&mut self, device: &DeviceCode) {
        self.waiting.remove(device);
    }

    /// When the next waiting fault's grace period ends.
    pub fn next_due(&self) -> Option<i64> {
        self.waiting
            .values()
            .map(|(f, _)| f.since + self.cfg.grace_secs)
            .min()
    }

    /// Faults whose grace period has ended by `now` become openings, grouped by region where
    /// they started together.
    pub fn tick(&mut self, now: i64) -> Vec<Step> {
        let grace = self.cfg.grace_secs;
        let due: Vec<DeviceCode> = self
            .waiting
            .iter()
            .filter(|(_, (f, _))| f.since + grace <= now)
            .map(|(c, _)| *c)
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        let mut parents = Vec::new();
        let mut by_region: BTreeMap<String, Vec<Fault>> = BTreeMap::new();
        for c in due {
            let (f, parent) = self.waiting.remove(&c).expect("listed above");
            if parent {
                parents.push(f);
            } else {
                by_region.entry(f.region.clone()).or_default().push(f);
            }
        }
        let mut out: Vec<Step> = parents
            .into_iter()
            .map(|f| Step::Open(Opening::Parent(f)))
            .collect();
        for (region, mut faults) in by_region {
            faults.sort_by_key(|f| (f.since, f.device));
            for cluster in clusters(faults, self.cfg.region_window_secs) {
                if self.cfg.region_min_devices > 0 && cluster.len() >= self.cfg.region_min_devices {
                    out.push(Step::Open(Opening::Region {
                        region: region.clone(),
                        faults: cluster,
                    }));
                } else {
                    out.extend(cluster.into_iter().map(|f| Step::Open(Opening::Outage(f))));
                }
            }
        }
        out
    }
}

/// Splits faults sorted by start into runs whose consecutive starts are within `window`.
fn clusters(faults: Vec<Fault>, window: i64) -> Vec<Vec<Fault>> {
    let mut out: Vec<Vec<Fault>> = Vec::new();
    for f in faults {
        match out.last_mut() {
            Some(run) if f.since - run.last().expect("runs are never empty").since <= window => {
                run.push(f)
            }
            _ => out.push(vec![f]),
        }
    }
    out
}
