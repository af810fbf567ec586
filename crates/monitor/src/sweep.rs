//! One liveness pass over the register, as fast as the caps allow: `camwatch sweep` and the
//! sweep benchmark. Nothing is written to the store: a single failed probe is not an outage
//! (health needs its confirmation re-checks), so a sweep reports what it saw and nothing more.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camwatch_probes::{ProbeOutcome, ProbeStatus};
use tokio::sync::Semaphore;

use super::{MonitorConfig, RealProber, targets};
use crate::scheduler::{ProbeClass, Prober};
use camwatch_core::registry::Device;

/// What one sweep saw, index-aligned with the devices it was given.
#[derive(Debug)]
pub struct Sweep {
    pub outcomes: Vec<ProbeOutcome>,
    pub elapsed: Duration,
}

impl Sweep {
    pub fn count(&self, status: ProbeStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    /// Failure kinds with their counts, most frequent first.
    pub fn failures(&self) -> Vec<(&'static str, usize)> {
        let mut by: HashMap<&'static str, usize> = HashMap::new();
        for f in self.outcomes.iter().filter_map(|o| o.failure) {
            *by.entry(f.as_str()).or_default() += 1;
        }
        let mut v: Vec<_> = by.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Probe wall time at quantile `q` (0..=1), in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        let mut v: Vec<f64> = self.outcomes.iter().map(|o| o.elapsed_ms).collect();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

/// Probes every device's liveness once, honouring the global and per-host caps and the
/// deadline of `cfg`. A hanging camera costs one deadline of one slot, never the sweep.
pub async fn sweep(devices: &[Device], cfg: &MonitorConfig) -> Sweep {
    let started = Instant::now();
    let (sched, probe) = targets(devices, cfg);
    let prober = Arc::new(RealProber {
        targets: probe,
        client: camwatch_probes::snapshot::client(),
        deadline: cfg.deadline,
        signalling: cfg.signalling.clone(),
        clock: Arc::new(camwatch_core::clock::SystemClock),
        views: Default::default(),
        user_agent: "camwatch".into(),
    });
    let global = Arc::new(Semaphore::new(cfg.max_in_flight.max(1)));
    let mut hosts: HashMap<&str, Arc<Semaphore>> = HashMap::new();
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in sched.iter().enumerate() {
        if !t.classes.contains(&ProbeClass::Liveness) {
            continue;
        }
        let host = hosts
            .entry(t.host.as_str())
            .or_insert_with(|| Arc::new(Semaphore::new(cfg.max_per_host.max(1))))
            .clone();
        let (global, prober) = (global.clone(), prober.clone());
        let deadline = cfg.deadline;
        set.spawn(async move {
            // Host first: a slot of the global cap is never held while queueing for a busy NVR.
            let _h = host.acquire_owned().await.expect("semaphore never closed");
            let _g = global
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            let fut = prober.probe(i, ProbeClass::Liveness);
            // The probes keep their own deadline; this one is the backstop.
            let o = match tokio::time::timeout(deadline + Duration::from_secs(1), fut).await {
                Ok(o) => o,
                Err(_) => ProbeOutcome::down(
                    camwatch_probes::ProbeKind::Tcp,
                    camwatch_probes::FailureKind::NoAnswer,
                    format!("no result within {deadline:?}"),
                ),
            };
            (i, o)
        });
    }
    let mut outcomes: Vec<Option<ProbeOutcome>> = vec![None; devices.len()];
    while let Some(r) = set.join_next().await {
        match r {
            Ok((i, o)) => outcomes[i] = Some(o),
            Err(e) => tracing::error!("sweep task failed: {e}"),
        }
    }
    Sweep {
        outcomes: outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    ProbeOutcome::down(
                        camwatch_probes::ProbeKind::Tcp,
                        camwatch_probes::FailureKind::DnsOrRoute,
                        "no address, stream URL or RTSP port in the register",
                    )
                })
            })
            .collect(),
        elapsed: started.elapsed(),
    }
}
