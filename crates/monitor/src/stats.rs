//! What the monitor knows right now, for the live view, `/metrics` and the sweep summary:
//! each device's status and open outage, probe counts and latencies, and a time-weighted online
//! rate since start (the authoritative figures come from spans, in reports).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use camwatch_probes::{ProbeOutcome, ProbeStatus};

use crate::summary::{LiveStats, OpenOutage, Phase};
use camwatch_core::health::Change;
use camwatch_core::history::Status;

/// Probe totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeCounters {
    pub total: u64,
    pub up: u64,
    pub down: u64,
    pub by_failure: BTreeMap<String, u64>,
}

struct Inner {
    names: Vec<String>,
    codes: Vec<String>,
    is_point: Vec<bool>,
    status: Vec<Status>,
    /// (since, cause) of each device's outage in progress.
    outage: Vec<Option<(i64, String)>>,
    picture: Vec<Vec<String>>,
    /// Last ONVIF check: (answered, clock drift in seconds).
    onvif: Vec<Option<(bool, Option<i64>)>>,
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
    first_sweep_done: Vec<bool>,
    first_sweep_count: u64,
}

pub struct MonitorState {
    inner: Mutex<Inner>,
}

impl MonitorState {
    /// The state of a register being watched: NVRs and other parents are not points.
    pub fn for_devices(devices: &[camwatch_core::registry::Device], started_at: i64) -> Self {
        let names: Vec<(String, String, bool)> = devices
            .iter()
            .map(|d| (d.code.to_string(), d.name.clone(), !d.kind.is_parent()))
            .collect();
        Self::new(&names, started_at)
    }

    /// `devices`: (code, name, counted as a point — parents are not).
    fn new(devices: &[(String, String, bool)], started_at: i64) -> Self {
        let n = devices.len();
        Self {
            inner: Mutex::new(Inner {
                names: devices.iter().map(|d| d.1.clone()).collect(),
                codes: devices.iter().map(|d| d.0.clone()).collect(),
                is_point: devices.iter().map(|d| d.2).collect(),
                status: vec![Status::Unknown; n],
                outage: vec![None; n],
                picture: vec![Vec::new(); n],
                onvif: vec![None; n],
                counters: ProbeCounters::default(),
                recent_ms: VecDeque::new(),
                recent_at: VecDeque::new(),
                started_at,
                last_tick: started_at,
                online_secs: 0.0,
                observed_secs: 0.0,
                outages_total: 0,
                first_sweep_done: vec![false; n],
                first_sweep_count: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Held only for counter updates and snapshots; never across an await.
        self.inner.lock().expect("monitor state")
    }

    pub fn count_probe(&self, o: &ProbeOutcome, now: i64) {
        let mut s = self.lock();
        s.counters.total += 1;
        if o.status == ProbeStatus::Down {
            s.counters.down += 1;
            if let Some(f) = o.failure {
                *s.counters
                    .by_failure
                    .entry(f.as_str().to_string())
                    .or_default() += 1;
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

    pub fn set_status(&self, i: usize, st: Status, _at: i64) {
        let mut s = self.lock();
        if !s.first_sweep_done[i] {
            s.first_sweep_done[i] = true;
            s.first_sweep_count += 1;
        }
        s.status[i] = st;
    }

    pub fn note_change(&self, i: usize, c: &Change) {
        let mut s = self.lock();
        if c.status == Status::Offline {
            s.outage[i] = Some((c.at, c.cause.clone().unwrap_or_default()));
            s.outages_total += 1;
        } else {
            s.outage[i] = None;
        }
        s.status[i] = c.status;
    }

    /// The outcome of a device's ONVIF check: whether it answered, and its clock drift.
    pub fn set_onvif(&self, i: usize, ok: bool, drift_sec: Option<i64>) {
        self.lock().onvif[i] = Some((ok, drift_sec));
    }

    pub fn set_picture_faults(&self, i: usize, faults: &[String]) {
        self.lock().picture[i] = faults.to_vec();
    }

    pub fn counters(&self) -> ProbeCounters {
        self.lock().counters.clone()
    }

    /// Devices probed at least once, of all devices.
    pub fn first_sweep(&self) -> (u64, u64) {
        let s = self.lock();
        (s.first_sweep_count, s.status.len() as u64)
    }

    /// (status, cause of outage) of device `i`.
    pub fn device(&self, i: usize) -> (Status, Option<String>) {
        let s = self.lock();
        (s.status[i], s.outage[i].as_ref().map(|o| o.1.clone()))
    }

    /// Advances the time-weighted rate to `now` and returns the view's snapshot.
    pub fn snapshot(&self, now: i64, now_text: String, time_scale: f64, phase: Phase) -> LiveStats {
        let mut s = self.lock();
        let (mut on, mut de, mut off, mut unk) = (0u64, 0u64, 0u64, 0u64);
        for (st, point) in s.status.iter().zip(&s.is_point) {
            if !point {
                continue;
            }
            match st {
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
        let mut causes: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..s.outage.len() {
            if let Some((since, cause)) = &s.outage[i] {
                let short = cause.split(':').next().unwrap_or("").to_string();
                *causes.entry(short).or_default() += 1;
                outages.push(OpenOutage {
                    code: s.codes[i].clone(),
                    name: s.names[i].clone(),
                    cause: cause.clone(),
                    age_sec: now - since,
                });
            }
        }
        outages.sort_by_key(|o| std::cmp::Reverse(o.age_sec));
        outages.truncate(20);
        let mut pf: BTreeMap<String, u64> = BTreeMap::new();
        for p in &s.picture {
            for f in p {
                *pf.entry(f.clone()).or_default() += 1;
            }
        }
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
        let mut outage_causes: Vec<(String, u64)> = causes.into_iter().collect();
        outage_causes.sort_by_key(|c| std::cmp::Reverse(c.1));
        let onvif_checked = s.onvif.iter().flatten().count() as u64;
        let onvif_failing = s.onvif.iter().flatten().filter(|o| !o.0).count() as u64;
        let clock_drift_over_5min = s
            .onvif
            .iter()
            .flatten()
            .filter(|o| o.1.is_some_and(|d| d.abs() > 300))
            .count() as u64;
        LiveStats {
            onvif_checked,
            onvif_failing,
            clock_drift_over_5min,
            phase,
            now: now_text,
            elapsed_sec: now - s.started_at,
            time_scale,
            channels: s.is_point.iter().filter(|p| **p).count() as u64,
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
