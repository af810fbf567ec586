//! The monitor's own counters, for `/metrics`: probes by class and outcome, probe latency and
//! scheduler lag histograms, the span writer's queue, and whether the monitor is running.
//! Counted where the work is done (the handler, the scheduler's dispatch, the writer); read at
//! scrape time by whoever registers them (the API). One instance per [`crate::MonitorState`],
//! no global statics, so tests and two monitors in one process never share numbers.
//!
//! Invariants: every label is a closed set (probe class, probe outcome: `up`, `degraded` or a
//! failure kind), so the number of series is bounded whatever the fleet; counters only grow;
//! the writer gauge is changes handed to the span writer and not yet stored (or skipped).
//!
//! Must not: encode text or know the scrape format's transport (the API does), or take a lock
//! a probe waits on (each update is an atomic add, or a short lock of prometheus-client's own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use camwatch_core::outcome::{FailureKind, ProbeOutcome, ProbeStatus};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::scheduler::ProbeClass;

impl EncodeLabelValue for ProbeClass {
    fn encode(&self, e: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        self.as_str().encode(e)
    }
}

/// What a probe came to: its status, or the failure kind of a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeResult {
    Status(ProbeStatus),
    Failed(FailureKind),
}

impl ProbeResult {
    pub fn of(o: &ProbeOutcome) -> Self {
        match (o.status, o.failure) {
            (ProbeStatus::Down, Some(f)) => Self::Failed(f),
            (s, _) => Self::Status(s),
        }
    }
}

impl EncodeLabelValue for ProbeResult {
    fn encode(&self, e: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        match self {
            Self::Status(s) => s.as_str().encode(e),
            Self::Failed(f) => f.as_str().encode(e),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProbeLabels {
    pub class: ProbeClass,
    pub outcome: ProbeResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClassLabel {
    pub class: ProbeClass,
}

/// Bucket bounds of a histogram family, shared by its series.
#[derive(Debug, Clone)]
pub struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// Probe latency bounds, seconds: a TCP connect on a LAN to a probe cut at its deadline.
const LATENCY_SEC: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Scheduler lag bounds, seconds: on time to a fleet far behind its interval.
const LAG_SEC: [f64; 10] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0];

/// The monitor's counters. Cheap to clone (every metric is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct MonitorMetrics {
    probes: Family<ProbeLabels, Counter>,
    latency: Family<ClassLabel, Histogram, Buckets>,
    lag: Family<ClassLabel, Histogram, Buckets>,
    writer_queue: Gauge,
    writer_dropped: Counter,
    writer_overflow: Gauge,
    running: Arc<AtomicBool>,
    /// Devices this monitor probes (on a node, its share; the rest it follows).
    probed_here: Gauge,
    /// Shards this node holds and probes (0 for a single monitor, which holds none).
    shards: Gauge,
}

impl Default for MonitorMetrics {
    fn default() -> Self {
        Self {
            probes: Family::default(),
            latency: Family::new_with_constructor(Buckets(LATENCY_SEC.into())),
            lag: Family::new_with_constructor(Buckets(LAG_SEC.into())),
            writer_queue: Gauge::default(),
            writer_dropped: Counter::default(),
            writer_overflow: Gauge::default(),
            running: Arc::default(),
            probed_here: Gauge::default(),
            shards: Gauge::default(),
        }
    }
}

impl MonitorMetrics {
    /// A finished probe: its outcome and how long it took.
    pub fn probe(&self, class: ProbeClass, o: &ProbeOutcome) {
        self.probes
            .get_or_create(&ProbeLabels {
                class,
                outcome: ProbeResult::of(o),
            })
            .inc();
        self.latency
            .get_or_create(&ClassLabel { class })
            .observe(o.elapsed_ms / 1000.0);
    }

    /// A probe started `lag_ms` after it was due (waiting for a slot of the global, host or
    /// platform cap, or a scheduler that cannot keep up).
    pub fn started(&self, class: ProbeClass, lag_ms: i64) {
        self.lag
            .get_or_create(&ClassLabel { class })
            .observe(lag_ms.max(0) as f64 / 1000.0);
    }

    /// Changes handed to the span writer.
    pub(crate) fn queued(&self) {
        self.writer_queue.inc();
    }

    /// Changes the span writer stored (or skipped as refused).
    pub(crate) fn written(&self, n: usize) {
        self.writer_queue.dec_by(n as i64);
    }

    /// Changes the span writer dropped, its buffer full (see `writer`).
    pub(crate) fn dropped(&self, n: usize) {
        self.writer_queue.dec_by(n as i64);
        self.writer_dropped.inc_by(n as u64);
    }

    /// Whether the span writer's buffer overflowed and the record is not yet resumed.
    pub(crate) fn set_overflow(&self, on: bool) {
        self.writer_overflow.set(i64::from(on));
    }

    /// Changes the span writer dropped so far.
    pub fn writer_dropped(&self) -> u64 {
        self.writer_dropped.get()
    }

    /// Whether the monitor has done its start-up recovery and is probing; false again once it
    /// stops. Set by [`crate::run`]; public so that a test can stand in for a running monitor.
    pub fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::SeqCst);
    }

    pub fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// How many probes of `class` ended in `outcome` so far.
    pub fn probes_of(&self, class: ProbeClass, outcome: ProbeResult) -> u64 {
        self.probes
            .get(&ProbeLabels { class, outcome })
            .map_or(0, |c| c.get())
    }

    /// Changes waiting for the span writer.
    pub fn writer_queue(&self) -> i64 {
        self.writer_queue.get()
    }

    /// How many devices this monitor probes now.
    pub(crate) fn set_probed_here(&self, n: usize) {
        self.probed_here.set(n as i64);
    }

    /// How many shards this node probes now.
    pub(crate) fn set_shards(&self, n: usize) {
        self.shards.set(n as i64);
    }

    /// Registers every metric in `r` (under the caller's prefix).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "devices_probed_here",
            "Devices this process probes (on a node, its share of the fleet; the others' \
             status it follows from their spans)",
            self.probed_here.clone(),
        );
        r.register(
            "node_shards",
            "Shards of the fleet this node holds and probes (0 for a single monitor)",
            self.shards.clone(),
        );
        r.register(
            "probes",
            "Probes finished, by class and outcome (up, degraded or the failure kind)",
            self.probes.clone(),
        );
        r.register_with_unit(
            "probe_duration",
            "How long probes took, by class (a probe cut at its deadline counts its deadline)",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register_with_unit(
            "scheduler_lag",
            "How late probes started after they were due, by class",
            Unit::Seconds,
            self.lag.clone(),
        );
        r.register(
            "span_writer_queue",
            "Status changes waiting to be written to the store",
            self.writer_queue.clone(),
        );
        r.register(
            "span_writer_dropped",
            "Status changes dropped because the span writer's buffer was full while the \
             database was away (the record shows that time as unknown)",
            self.writer_dropped.clone(),
        );
        r.register(
            "span_writer_overflow",
            "1 while the span writer's buffer has overflowed and the record is not yet resumed",
            self.writer_overflow.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::outcome::ProbeKind;

    #[test]
    fn probes_count_by_class_and_outcome() {
        let m = MonitorMetrics::default();
        let mut up = ProbeOutcome::up(ProbeKind::Rtsp);
        up.elapsed_ms = 20.0;
        let down = ProbeOutcome::down(ProbeKind::Rtsp, FailureKind::ConnectionRefused, "");
        m.probe(ProbeClass::Liveness, &up);
        m.probe(ProbeClass::Liveness, &up);
        m.probe(ProbeClass::Liveness, &down);
        let up_ = ProbeResult::Status(ProbeStatus::Up);
        assert_eq!(m.probes_of(ProbeClass::Liveness, up_), 2);
        assert_eq!(
            m.probes_of(
                ProbeClass::Liveness,
                ProbeResult::Failed(FailureKind::ConnectionRefused)
            ),
            1
        );
        assert_eq!(m.probes_of(ProbeClass::Picture, up_), 0);
        let mut r = Registry::default();
        m.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
        assert!(
            text.contains("probes_total{class=\"liveness\",outcome=\"connection_refused\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("probe_duration_seconds_count{class=\"liveness\"} 3"),
            "{text}"
        );
    }
}
