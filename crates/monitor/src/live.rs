//! What the monitor knows right now, per device and for the fleet: each device's status, since
//! when, why, its last probe outcomes with each step and the server's words, its confirmed
//! picture problem, the latest evidence frame and its ONVIF facts; probe counts and latencies;
//! a time-weighted online rate since start. The live view, the `serve` log line and the API read
//! it; the authoritative figures come from spans, in reports.
//!
//! Keyed by device code. The register can change while the monitor runs: [`MonitorState::
//! reindex`] carries every device that stays over to the new register, keyed by code.
//!
//! One `std::sync::Mutex`: nothing awaits while it is held, and each update is a few field
//! writes, so an async lock would only add cost.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use camwatch_core::cause::Cause;
use camwatch_core::health::Change;
use camwatch_core::history::Status;
use camwatch_core::outcome::{
    FailureKind, OnvifFacts, ProbeKind, ProbeOutcome, ProbeStatus, StepTiming,
};
use camwatch_core::registry::{Device, DeviceCode};

use crate::events::DeviceMeta;
use crate::scheduler::ProbeClass;
use crate::summary::{LiveStats, OpenOutage, Phase};

/// Successes and failures kept per device for "why is it red": failures longer, they explain.
const KEEP_SUCCESSES: usize = 3;
const KEEP_FAILURES: usize = 10;

/// Probe totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeCounters {
    pub total: u64,
    pub up: u64,
    pub down: u64,
    pub by_failure: BTreeMap<FailureKind, u64>,
}

/// One remembered probe of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentProbe {
    /// When the probe started (Unix seconds).
    pub at: i64,
    pub class: ProbeClass,
    pub kind: ProbeKind,
    pub status: ProbeStatus,
    pub failure: Option<FailureKind>,
    /// The server's own words (RTSP status line, SOAP fault, HTTP status), if any.
    pub detail: String,
    pub elapsed_ms: f64,
    /// Each step and how long it took; the failing step is the last.
    pub steps: Vec<StepTiming>,
    /// What a picture probe's picture showed on its own (before confirmation; `frozen` needs
    /// two samples and is never here); `None` for probes that took no picture.
    pub picture: Option<camwatch_core::quality::FaultSet>,
}

/// The frame that proved a picture problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub at: i64,
    pub cause: Cause,
    pub jpeg: bytes::Bytes,
}

/// One device's live state, as [`MonitorState::device`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLive {
    pub meta: Arc<DeviceMeta>,
    pub status: Status,
    /// Since when (the change's backdated start); `None` before the first change.
    pub since: Option<i64>,
    /// Why it is offline or degraded.
    pub cause: Option<Cause>,
    /// The confirmed picture problem (may be set while offline: the last one seen).
    pub picture: Option<Cause>,
    /// Newest first.
    /// What the latest picture sample may show, judged without an approved baseline, that a
    /// healthy scene shows too (`quality::Diagnosis::suspects`): for review, never confirmed.
    pub suspects: camwatch_core::quality::FaultSet,
    pub recent: Vec<RecentProbe>,
    pub evidence: Option<Evidence>,
    /// The last ONVIF check: whether it answered, and what it said.
    pub onvif: Option<(bool, OnvifFacts)>,
    /// Probed by this monitor; false on a node for a device another node probes (its status
    /// is that node's record, the rest is on that node).
    pub probed_here: bool,
}

/// One device's status without its probe history, as [`MonitorState::briefs`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceBrief {
    pub meta: Arc<DeviceMeta>,
    /// Counted in the fleet's figures (NVRs and other parents are not points).
    pub point: bool,
    pub status: Status,
    pub since: Option<i64>,
    pub cause: Option<Cause>,
}

/// Sets a followed device's status; the change, when there is one.
fn set_followed(
    e: &mut Entry,
    status: Status,
    since: Option<i64>,
    cause: Option<Cause>,
) -> Option<FollowedChange> {
    let from = e.status;
    let changed = from != status || e.cause != cause;
    e.status = status;
    e.since = since;
    e.cause.clone_from(&cause);
    e.probed = true;
    changed.then(|| FollowedChange {
        device: e.meta.clone(),
        from,
        to: status,
        at: since,
        cause,
    })
}

/// A followed device's status changed (another node's span): what its event says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FollowedChange {
    pub device: Arc<DeviceMeta>,
    pub from: Status,
    pub to: Status,
    /// Since when (`None`: unknown since an instant not recorded).
    pub at: Option<i64>,
    pub cause: Option<Cause>,
}

/// A device's status now, by code (see [`MonitorState::statuses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveStatus {
    pub code: DeviceCode,
    pub status: Status,
    pub since: Option<i64>,
}

#[derive(Debug, Clone)]
struct Entry {
    meta: Arc<DeviceMeta>,
    /// Counted in the fleet's figures (NVRs and other parents are not points).
    point: bool,
    status: Status,
    since: Option<i64>,
    cause: Option<Cause>,
    picture: Option<Cause>,
    suspects: camwatch_core::quality::FaultSet,
    successes: VecDeque<RecentProbe>,
    failures: VecDeque<RecentProbe>,
    evidence: Option<Evidence>,
    onvif: Option<(bool, OnvifFacts)>,
    probed: bool,
    /// Probed by this monitor; false for a device another node probes (followed).
    here: bool,
    /// The newest span id of another node applied to a followed device (0: none).
    peer_span: i64,
}

impl Entry {
    fn new(d: &Device, here: bool) -> Self {
        Self {
            meta: Arc::new(DeviceMeta::of(d)),
            point: !d.kind.is_parent(),
            status: Status::Unknown,
            since: None,
            cause: None,
            picture: None,
            suspects: camwatch_core::quality::FaultSet::EMPTY,
            successes: VecDeque::new(),
            failures: VecDeque::new(),
            evidence: None,
            onvif: None,
            probed: false,
            here,
            peer_span: 0,
        }
    }
}

struct Inner {
    /// This monitor's devices first (`..owned`, the scheduler's indices), then, on a node, the
    /// devices the other nodes probe (followed from their spans, `crate::peers`).
    devices: Vec<Entry>,
    owned: usize,
    /// Counts the changes of which devices are this monitor's (`reindex_fleet`).
    share_generation: u64,
    index: HashMap<DeviceCode, usize>,
    counters: ProbeCounters,
    /// Latencies of recent probes (ms), bounded.
    recent_ms: VecDeque<f64>,
    /// Probe completions (clock seconds) in the last minute, for the rate.
    recent_at: VecDeque<i64>,
    started_at: i64,
    last_tick: i64,
    online_secs: f64,
    observed_secs: f64,
    outages_total: u64,
    /// Out-of-turn probe requests to the running scheduler (by device index).
    urgent: Option<tokio::sync::mpsc::UnboundedSender<(usize, ProbeClass)>>,
}

pub struct MonitorState {
    inner: Mutex<Inner>,
    metrics: crate::metrics::MonitorMetrics,
    views: Arc<crate::views::Views>,
    /// The GB/T 28181 platform, once started (after the API, which reads it through here).
    signalling: std::sync::OnceLock<Arc<dyn crate::SignallingStatus>>,
}

impl MonitorState {
    /// The state of a register being watched.
    pub fn for_devices(devices: &[Device], started_at: i64) -> Self {
        let devices: Vec<Entry> = devices.iter().map(|d| Entry::new(d, true)).collect();
        let metrics = crate::metrics::MonitorMetrics::default();
        metrics.set_probed_here(devices.len());
        Self {
            inner: Mutex::new(Inner {
                index: index_of(&devices),
                owned: devices.len(),
                share_generation: 0,
                devices,
                counters: ProbeCounters::default(),
                recent_ms: VecDeque::new(),
                recent_at: VecDeque::new(),
                started_at,
                last_tick: started_at,
                online_secs: 0.0,
                observed_secs: 0.0,
                outages_total: 0,
                urgent: None,
            }),
            metrics,
            views: Default::default(),
            signalling: std::sync::OnceLock::new(),
        }
    }

    /// The signalling source whose facts [`MonitorState::sip_facts`] tells (set once; a later
    /// call is ignored).
    pub fn set_signalling(&self, s: Arc<dyn crate::SignallingStatus>) {
        let _ = self.signalling.set(s);
    }

    /// What signalling knows of `device` at `now` (GB/T 28181: registration, keepalives,
    /// catalog); `None` without a signalling source or when it has not heard of the device.
    pub fn sip_facts(
        &self,
        device: &DeviceCode,
        now: i64,
    ) -> Option<camwatch_core::signalling::SipFacts> {
        self.signalling.get()?.facts(device, now)
    }

    /// Each camera's approved view (baselines, dismissed false alarms), read at every picture
    /// sample; replace one with `baselines::reload`.
    pub fn views(&self) -> &Arc<crate::views::Views> {
        &self.views
    }

    /// The monitor's counters (probes, latencies, lag, the span writer's queue, running).
    pub fn metrics(&self) -> &crate::metrics::MonitorMetrics {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("monitor state")
    }

    /// Takes a new register: devices that stay keep their state (with the new metadata), new
    /// ones start unknown, removed ones are forgotten. Indices follow `devices`.
    pub fn reindex(&self, devices: &[Device]) {
        self.reindex_fleet(devices, &[]);
    }

    /// [`Self::reindex`] on a node: `mine` are probed here (indices follow them), `others` are
    /// the rest of the register, probed by other nodes and followed from their spans. A device
    /// that changes sides starts unknown: neither its old prober's word nor its new one's holds
    /// until the new one has probed it.
    pub fn reindex_fleet(&self, mine: &[Device], others: &[Device]) {
        let mut s = self.lock();
        let mut old: HashMap<DeviceCode, Entry> = std::mem::take(&mut s.devices)
            .into_iter()
            .map(|e| (e.meta.code, e))
            .collect();
        let mut take = |d: &Device, here: bool| match old.remove(&d.code) {
            Some(mut e) => {
                if e.here != here {
                    e = Entry {
                        successes: std::mem::take(&mut e.successes),
                        failures: std::mem::take(&mut e.failures),
                        ..Entry::new(d, here)
                    };
                }
                e.meta = Arc::new(DeviceMeta::of(d));
                e.point = !d.kind.is_parent();
                e
            }
            None => Entry::new(d, here),
        };
        let mut devices: Vec<Entry> = mine.iter().map(|d| take(d, true)).collect();
        devices.extend(others.iter().map(|d| take(d, false)));
        s.owned = mine.len();
        s.share_generation += 1;
        self.metrics.set_probed_here(mine.len());
        s.devices = devices;
        s.index = index_of(&s.devices);
    }

    /// Changes whenever the set of devices this monitor probes changes.
    pub(crate) fn share_generation(&self) -> u64 {
        self.lock().share_generation
    }

    /// The newest span of another node for a device it probes: its status (unknown from the
    /// end of a closed span, which no successor followed yet) replaces the device's. Ignored
    /// for a device this monitor probes and for a span older than one already applied.
    /// Returns the device and its status before, when the status changed.
    pub(crate) fn apply_peer(&self, span: &camwatch_store::PeerSpan) -> Option<FollowedChange> {
        let mut s = self.lock();
        let i = *s.index.get(&span.device)?;
        let e = &mut s.devices[i];
        if e.here || span.id < e.peer_span {
            return None;
        }
        e.peer_span = span.id;
        let (status, since, cause) = match span.end_at {
            None => (span.status, span.start_at, span.cause.clone()),
            Some(end) => (Status::Unknown, end, None),
        };
        set_followed(e, status, Some(since), cause)
    }

    /// After a full read of the other nodes' open spans (`open`, one per device at most): a
    /// followed device without one is unknown (its prober stopped, or died and was
    /// recovered). Returns the devices whose status changed, as [`Self::apply_peer`].
    pub(crate) fn resync_peers(&self, open: &[camwatch_store::PeerSpan]) -> Vec<FollowedChange> {
        let mut out: Vec<_> = open.iter().filter_map(|sp| self.apply_peer(sp)).collect();
        let has: std::collections::HashSet<DeviceCode> = open.iter().map(|sp| sp.device).collect();
        let mut s = self.lock();
        let owned = s.owned;
        for e in s.devices[owned..].iter_mut() {
            if !has.contains(&e.meta.code) && e.status != Status::Unknown {
                let since = e.since;
                out.extend(set_followed(e, Status::Unknown, since, None));
            }
        }
        out
    }

    /// The metadata of device `i` (events carry it).
    pub fn meta(&self, i: usize) -> Arc<DeviceMeta> {
        self.lock().devices[i].meta.clone()
    }

    /// Counts a probe in the fleet's totals and latencies.
    pub fn count_probe(&self, o: &ProbeOutcome, now: i64) {
        let mut s = self.lock();
        s.counters.total += 1;
        if o.status == ProbeStatus::Down {
            s.counters.down += 1;
            if let Some(f) = o.failure {
                *s.counters.by_failure.entry(f).or_default() += 1;
            }
        } else {
            s.counters.up += 1;
        }
        s.recent_ms.push_back(o.elapsed_ms);
        if s.recent_ms.len() > 2000 {
            s.recent_ms.pop_front();
        }
        s.recent_at.push_back(now);
        while s.recent_at.front().is_some_and(|&t| t < now - 60) {
            s.recent_at.pop_front();
        }
    }

    /// Remembers one probe of device `i` (started at `at`).
    pub fn record_probe(&self, i: usize, class: ProbeClass, at: i64, o: &ProbeOutcome) {
        let r = RecentProbe {
            at,
            class,
            kind: o.kind,
            status: o.status,
            failure: o.failure,
            detail: o.detail.clone(),
            elapsed_ms: o.elapsed_ms,
            steps: o.steps.clone(),
            picture: o.picture.as_ref().map(|p| p.faults),
        };
        let mut s = self.lock();
        let e = &mut s.devices[i];
        if let Some(p) = &o.picture {
            e.suspects = p.suspects;
        }
        let (q, cap) = if o.status == ProbeStatus::Down {
            (&mut e.failures, KEEP_FAILURES)
        } else {
            (&mut e.successes, KEEP_SUCCESSES)
        };
        q.push_back(r);
        while q.len() > cap {
            q.pop_front();
        }
    }

    /// The health machine's status of device `i` after an observation.
    pub fn set_status(&self, i: usize, st: Status) {
        let e = &mut self.lock().devices[i];
        e.probed = true;
        e.status = st;
    }

    /// A recorded status change of device `i`.
    pub fn note_change(&self, i: usize, c: &Change) {
        let mut s = self.lock();
        if c.status == Status::Offline {
            s.outages_total += 1;
        }
        let e = &mut s.devices[i];
        e.status = c.status;
        e.since = Some(c.at);
        e.cause = c.cause.clone();
    }

    /// Device `i`'s confirmed picture problem changed.
    pub fn set_picture(&self, i: usize, picture: Option<Cause>) {
        let e = &mut self.lock().devices[i];
        if e.status == Status::Degraded && picture.is_some() {
            e.cause = picture.clone();
        }
        e.picture = picture;
    }

    pub fn set_evidence(&self, i: usize, evidence: Evidence) {
        self.lock().devices[i].evidence = Some(evidence);
    }

    /// The outcome of a device's ONVIF check.
    pub fn set_onvif(&self, i: usize, answered: bool, facts: OnvifFacts) {
        self.lock().devices[i].onvif = Some((answered, facts));
    }

    pub fn counters(&self) -> ProbeCounters {
        self.lock().counters.clone()
    }

    /// Devices probed at least once, of all devices.
    pub fn first_sweep(&self) -> (u64, u64) {
        let s = self.lock();
        let mine = &s.devices[..s.owned];
        let done = mine.iter().filter(|e| e.probed).count() as u64;
        (done, mine.len() as u64)
    }

    /// Where out-of-turn probe requests go: the scheduler now running (`None`: none).
    pub(crate) fn set_urgent(
        &self,
        tx: Option<tokio::sync::mpsc::UnboundedSender<(usize, ProbeClass)>>,
    ) {
        self.lock().urgent = tx;
    }

    /// Asks the running monitor to probe `code` now, out of turn (a repair to verify, an
    /// operator's "probe now"); the outcome lands in [`Self::device`]'s recent probes and, as
    /// any probe's, may change the status. False when the code is not watched or no monitor is
    /// running.
    pub fn probe_now(&self, code: &DeviceCode, class: ProbeClass) -> bool {
        let s = self.lock();
        match (s.index.get(code), &s.urgent) {
            (Some(&i), Some(tx)) if i < s.owned => tx.send((i, class)).is_ok(),
            _ => false,
        }
    }

    /// The channels of `parent` that are offline now, with since when: what a parent's work
    /// order covers.
    pub fn children_offline(&self, parent: &DeviceCode) -> Vec<(DeviceCode, i64)> {
        let s = self.lock();
        s.devices[..s.owned]
            .iter()
            .filter(|e| e.meta.parent.as_ref() == Some(parent) && e.status == Status::Offline)
            .map(|e| (e.meta.code, e.since.unwrap_or(s.started_at)))
            .collect()
    }

    /// Every device this monitor probes that is offline or degraded now: (register facts,
    /// status, since, cause). What the work-order engine reconciles its orders with (on a
    /// node, each node's engine acts on the devices it probes).
    pub fn faulty(&self) -> Vec<(Arc<DeviceMeta>, Status, i64, Option<Cause>)> {
        let s = self.lock();
        s.devices[..s.owned]
            .iter()
            .filter(|e| matches!(e.status, Status::Offline | Status::Degraded))
            .map(|e| {
                (
                    e.meta.clone(),
                    e.status,
                    e.since.unwrap_or(s.started_at),
                    e.cause.clone(),
                )
            })
            .collect()
    }

    /// (status, cause) of device `i`.
    pub fn status_of(&self, i: usize) -> (Status, Option<Cause>) {
        let s = self.lock();
        (s.devices[i].status, s.devices[i].cause.clone())
    }

    /// A device's register facts and status now, by code, without copying its probe history
    /// (what [`Self::device`] returns); `None` for a code not in the register.
    pub fn status(&self, code: &DeviceCode) -> Option<(Arc<DeviceMeta>, Status)> {
        let s = self.lock();
        let e = &s.devices[*s.index.get(code)?];
        Some((e.meta.clone(), e.status))
    }

    /// Every device's register facts and status now (since when, why), without probe
    /// history: what a scoped list or summary filters. One lock, one pass.
    pub fn briefs(&self) -> Vec<DeviceBrief> {
        let s = self.lock();
        s.devices
            .iter()
            .map(|e| DeviceBrief {
                meta: e.meta.clone(),
                point: e.point,
                status: e.status,
                since: e.since,
                cause: e.cause.clone(),
            })
            .collect()
    }

    /// Every device's code, status and since when, sorted by code: what a list filters and
    /// sorts, without register facts or causes (one device's are [`Self::brief`]). One lock,
    /// one copy of plain values.
    pub fn statuses(&self) -> Vec<LiveStatus> {
        let mut v: Vec<LiveStatus> = {
            let s = self.lock();
            s.devices
                .iter()
                .map(|e| LiveStatus {
                    code: e.meta.code,
                    status: e.status,
                    since: e.since,
                })
                .collect()
        };
        if !v.is_sorted_by_key(|l| l.code) {
            v.sort_unstable_by_key(|l| l.code);
        }
        v
    }

    /// One device's register facts and status now (since when, why), by code, without its
    /// probe history; `None` for a code not in the register.
    pub fn brief(&self, code: &DeviceCode) -> Option<DeviceBrief> {
        let s = self.lock();
        let e = &s.devices[*s.index.get(code)?];
        Some(DeviceBrief {
            meta: e.meta.clone(),
            point: e.point,
            status: e.status,
            since: e.since,
            cause: e.cause.clone(),
        })
    }

    /// Whether this monitor probes `code` (`None`: not in the register). On a node, false for
    /// the devices other nodes probe; on a single monitor, true for every device.
    pub fn probed_here(&self, code: &DeviceCode) -> Option<bool> {
        let s = self.lock();
        s.index.get(code).map(|&i| i < s.owned)
    }

    /// The live state of one device, by code; `None` for a code not in the register.
    pub fn device(&self, code: &DeviceCode) -> Option<DeviceLive> {
        let s = self.lock();
        let e = &s.devices[*s.index.get(code)?];
        let mut recent: Vec<RecentProbe> = e.successes.iter().chain(&e.failures).cloned().collect();
        recent.sort_by_key(|r| std::cmp::Reverse(r.at));
        Some(DeviceLive {
            meta: e.meta.clone(),
            status: e.status,
            since: e.since,
            cause: e.cause.clone(),
            picture: e.picture.clone(),
            suspects: e.suspects,
            recent,
            evidence: e.evidence.clone(),
            onvif: e.onvif.clone(),
            probed_here: e.here,
        })
    }

    /// Advances the time-weighted rate to `now` and returns the fleet summary.
    pub fn snapshot(&self, now: i64, now_text: String, time_scale: f64, phase: Phase) -> LiveStats {
        let mut s = self.lock();
        let (mut on, mut de, mut off, mut unk) = (0u64, 0u64, 0u64, 0u64);
        for e in s.devices.iter().filter(|e| e.point) {
            match e.status {
                Status::Online => on += 1,
                Status::Degraded => de += 1,
                Status::Offline => off += 1,
                Status::Unknown => unk += 1,
            }
        }
        let dt = (now - s.last_tick).max(0) as f64;
        s.online_secs += dt * (on + de) as f64;
        s.observed_secs += dt * (on + de + off) as f64;
        s.last_tick = now;
        let mut outages: Vec<OpenOutage> = Vec::new();
        let mut causes: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut pf: BTreeMap<&'static str, u64> = BTreeMap::new();
        for e in &s.devices {
            if e.status == Status::Offline {
                *causes
                    .entry(e.cause.as_ref().map_or("unknown", Cause::family))
                    .or_default() += 1;
                outages.push(OpenOutage {
                    code: e.meta.code,
                    name: e.meta.name.clone(),
                    cause: e.cause.clone(),
                    age_sec: now - e.since.unwrap_or(now),
                });
            }
            match &e.picture {
                Some(Cause::Picture(set)) => {
                    for k in set.iter() {
                        *pf.entry(k.as_str()).or_default() += 1;
                    }
                }
                Some(c) => *pf.entry(c.family()).or_default() += 1,
                None => {}
            }
        }
        outages.sort_by_key(|o| std::cmp::Reverse(o.age_sec));
        outages.truncate(20);
        let mut lat: Vec<f64> = s.recent_ms.iter().copied().collect();
        lat.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if lat.is_empty() {
                0.0
            } else {
                lat[((lat.len() - 1) as f64 * p).round() as usize]
            }
        };
        let window = (now - s.recent_at.front().copied().unwrap_or(now)).max(1) as f64;
        let mut outage_causes: Vec<(&'static str, u64)> = causes.into_iter().collect();
        outage_causes.sort_by_key(|c| std::cmp::Reverse(c.1));
        let onvif = || s.devices.iter().filter_map(|e| e.onvif.as_ref());
        let onvif_checked = onvif().count() as u64;
        let onvif_failing = onvif().filter(|o| !o.0).count() as u64;
        let clock_drift_over_5min = onvif()
            .filter(|o| o.1.clock_drift_sec.is_some_and(|d| d.abs() > 300))
            .count() as u64;
        LiveStats {
            onvif_checked,
            onvif_failing,
            clock_drift_over_5min,
            phase,
            now: now_text,
            elapsed_sec: now - s.started_at,
            time_scale,
            channels: s.devices.iter().filter(|e| e.point).count() as u64,
            online: on,
            degraded: de,
            offline: off,
            unknown: unk,
            online_rate: (s.observed_secs > 0.0).then(|| s.online_secs / s.observed_secs),
            outages,
            outages_total: s.outages_total,
            outage_causes,
            picture_faults: pf.into_iter().collect(),
            probes_total: s.counters.total,
            // Completions per simulated second over the last simulated minute, per real second.
            probes_per_sec: s.recent_at.len() as f64 / window * time_scale,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

fn index_of(devices: &[Entry]) -> HashMap<DeviceCode, usize> {
    devices
        .iter()
        .enumerate()
        .map(|(i, e)| (e.meta.code, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_store::{InstanceId, PeerSpan};

    fn dev(n: u32) -> Device {
        Device::new(
            format!("340200000013200{n:05}").parse().unwrap(),
            format!("Camera {n}"),
        )
    }

    fn span(id: i64, d: &Device, status: Status, start: i64, end: Option<i64>) -> PeerSpan {
        PeerSpan {
            id,
            instance: Some(InstanceId(7)),
            device: d.code,
            status,
            start_at: start,
            end_at: end,
            cause: (status == Status::Offline).then_some(Cause::NoMedia),
        }
    }

    #[test]
    fn a_node_follows_the_devices_the_others_probe() {
        let (a, b, c) = (dev(1), dev(2), dev(3));
        let st = MonitorState::for_devices(&[], 0);
        st.reindex_fleet(std::slice::from_ref(&a), &[b.clone(), c.clone()]);
        let g = st.share_generation();
        // Its own device is not followed, whatever another node wrote of it.
        assert!(
            st.apply_peer(&span(5, &a, Status::Offline, 100, None))
                .is_none()
        );
        let ch = st
            .apply_peer(&span(6, &b, Status::Offline, 100, None))
            .expect("a change");
        assert_eq!(
            (ch.from, ch.to, ch.at, ch.cause),
            (
                Status::Unknown,
                Status::Offline,
                Some(100),
                Some(Cause::NoMedia)
            )
        );
        // An older span than one applied changes nothing; the same status again neither.
        assert!(
            st.apply_peer(&span(4, &b, Status::Online, 90, None))
                .is_none()
        );
        assert!(
            st.apply_peer(&span(8, &b, Status::Offline, 100, None))
                .is_none()
        );
        // A closed span with no successor: unknown from its end.
        let ch = st
            .apply_peer(&span(9, &b, Status::Offline, 100, Some(150)))
            .unwrap();
        assert_eq!((ch.to, ch.at), (Status::Unknown, Some(150)));
        let live = st.device(&b.code).unwrap();
        assert!(!live.probed_here);
        assert!(st.device(&a.code).unwrap().probed_here);
        // The whole fleet is listed; only its own devices are its work.
        assert_eq!(st.statuses().len(), 3);
        st.apply_peer(&span(10, &c, Status::Offline, 120, None));
        assert!(st.faulty().is_empty(), "another node's faults are its own");
        assert_eq!(st.first_sweep(), (0, 1));
        assert!(!st.probe_now(&c.code, ProbeClass::Liveness));
        // A resync without c's open span: c is unknown (its prober stopped).
        let changes = st.resync_peers(&[span(11, &b, Status::Online, 200, None)]);
        let mut got: Vec<(DeviceCode, Status)> =
            changes.iter().map(|c| (c.device.code, c.to)).collect();
        got.sort();
        assert_eq!(
            got,
            vec![(b.code, Status::Online), (c.code, Status::Unknown)]
        );
        // c becomes this node's: it starts unknown, whatever it was followed as.
        st.apply_peer(&span(12, &c, Status::Online, 210, None));
        st.reindex_fleet(&[a.clone(), c.clone()], std::slice::from_ref(&b));
        assert_ne!(st.share_generation(), g);
        let c_live = st.device(&c.code).unwrap();
        assert_eq!((c_live.status, c_live.since), (Status::Unknown, None));
        assert!(c_live.probed_here);
        // b stays followed with its state.
        assert_eq!(st.device(&b.code).unwrap().status, Status::Online);
    }
}
