//! A rehearsal: the simulator, the monitor and the report over a simulated period on one
//! scaled clock, scored against the simulator's truth. It proves the figure everything rests
//! on — the online rate camwatch measures by probing is the fleet's true online rate — and lets
//! operators rehearse a contract before signing it. Used by the truth test and `bench e2e`.
//!
//! Tolerances, per camera: each true outage may be seen late by up to one liveness interval
//! (the probe that finds it), plus the confirmation window, plus one probe deadline (a black
//! hole holds the probe that would see recovery); the outage's start is backdated to the first
//! failed probe, so the error does not grow with the outage's length.

pub mod score;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camwatch_core::cause::Cause;
use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_core::history::Status;
use camwatch_core::secret::SecretKey;
use camwatch_monitor::{MonitorConfig, MonitorState};
use camwatch_report::period::Period;
use camwatch_report::{Report, ReportInput, build};
use camwatch_sim::{BindMode, FaultPlan, SimConfig};
pub use score::{TruthScore, parse_truth, score};

/// The contract the rehearsal reports under (the real tender's rules).
const CONTRACT: &str = include_str!("../../contracts/example-98.toml");

#[derive(Debug, Clone)]
pub struct RehearsalConfig {
    pub channels: u64,
    pub seed: u64,
    pub bind: BindMode,
    pub faults: FaultPlan,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Simulated length of the run.
    pub simulated_sec: i64,
    pub monitor: MonitorConfig,
    /// Where the database, register and truth files go.
    pub dir: PathBuf,
    /// Database URL; default SQLite in `dir`.
    pub db_url: Option<String>,
}

/// One camera: what the truth says, what camwatch reported, and how far apart they may be.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceComparison {
    pub code: String,
    pub truth_offline_sec: i64,
    pub measured_offline_sec: i64,
    pub truth_outages: u32,
    pub tolerance_sec: i64,
    pub truth_over_limit: bool,
    pub flagged_over_limit: bool,
}

impl DeviceComparison {
    pub fn error_sec(&self) -> i64 {
        self.measured_offline_sec - self.truth_offline_sec
    }
    pub fn within_tolerance(&self) -> bool {
        self.error_sec().abs() <= self.tolerance_sec
    }
}

#[derive(Debug)]
pub struct Rehearsal {
    pub report: Report,
    pub truth: TruthScore,
    pub devices: Vec<DeviceComparison>,
    /// Degraded seconds per picture-fault kind, from camwatch's spans.
    pub measured_picture_sec: BTreeMap<String, i64>,
    /// The per-camera offline limit, scaled from 360 h of 720 h to the window.
    pub limit_sec: i64,
    pub probes: u64,
    pub wall: Duration,
}

impl Rehearsal {
    pub fn measured_rate(&self) -> f64 {
        self.report.fleet.online_rate.unwrap_or(f64::NAN)
    }

    /// Measured minus true fleet online rate, in percentage points.
    pub fn rate_error_pp(&self) -> f64 {
        (self.measured_rate() - self.truth.online_rate()) * 100.0
    }

    pub fn outside_tolerance(&self) -> Vec<&DeviceComparison> {
        self.devices
            .iter()
            .filter(|d| !d.within_tolerance())
            .collect()
    }

    /// Cameras flagged over the limit but not over it in truth, or the reverse — leaving out
    /// those whose true offline time is within their tolerance of the limit.
    pub fn flag_mismatches(&self) -> Vec<&DeviceComparison> {
        self.devices
            .iter()
            .filter(|d| d.truth_over_limit != d.flagged_over_limit)
            .filter(|d| (d.truth_offline_sec - self.limit_sec).abs() > d.tolerance_sec)
            .collect()
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "window {} simulated hours, {} channels, {} probes in {:.1} s\n\
             fleet online rate: measured {:.4}%, truth {:.4}%, error {:+.4} pp\n\
             cameras outside their tolerance: {} of {}; largest error {} s\n\
             over the {:.2} h limit: truth {}, flagged {}, mismatches {}\n",
            self.report.period_hours,
            self.truth.channels,
            self.probes,
            self.wall.as_secs_f64(),
            self.measured_rate() * 100.0,
            self.truth.online_rate() * 100.0,
            self.rate_error_pp(),
            self.outside_tolerance().len(),
            self.devices.len(),
            self.devices
                .iter()
                .map(|d| d.error_sec().abs())
                .max()
                .unwrap_or(0),
            self.limit_sec as f64 / 3600.0,
            self.devices.iter().filter(|d| d.truth_over_limit).count(),
            self.devices.iter().filter(|d| d.flagged_over_limit).count(),
            self.flag_mismatches().len(),
        );
        let mut worst: Vec<&DeviceComparison> = self.outside_tolerance();
        worst.sort_by_key(|d| std::cmp::Reverse(d.error_sec().abs()));
        for d in worst.iter().take(5) {
            s += &format!(
                "  outside: {} truth {} s, measured {} s, {} outages, tolerance {} s\n",
                d.code,
                d.truth_offline_sec,
                d.measured_offline_sec,
                d.truth_outages,
                d.tolerance_sec
            );
        }
        s += "picture-fault device-hours (truth → measured):\n";
        let kinds: std::collections::BTreeSet<&String> = self
            .truth
            .picture_sec
            .keys()
            .chain(self.measured_picture_sec.keys())
            .collect();
        for k in kinds {
            s += &format!(
                "  {k:<14} {:>9.2} → {:>9.2}\n",
                *self.truth.picture_sec.get(k).unwrap_or(&0) as f64 / 3600.0,
                *self.measured_picture_sec.get(k).unwrap_or(&0) as f64 / 3600.0
            );
        }
        s
    }
}

/// Runs a rehearsal to the end of its simulated period.
pub async fn rehearse(cfg: RehearsalConfig) -> Result<Rehearsal> {
    let wall = Instant::now();
    std::fs::create_dir_all(&cfg.dir)
        .map_err(|e| Error::invalid(format!("{}: {e}", cfg.dir.display())))?;
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(jiff::Timestamp::now(), cfg.time_scale));
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix {
                channels: cfg.channels,
            },
            seed: cfg.seed,
            bind: cfg.bind.clone(),
            faults: cfg.faults.clone(),
            horizon_sec: cfg.simulated_sec,
        },
        clock.clone(),
    )
    .await?;
    let truth_path = cfg.dir.join("truth.jsonl");
    std::fs::write(&truth_path, fleet.truth_jsonl())
        .map_err(|e| Error::invalid(format!("{}: {e}", truth_path.display())))?;
    let key =
        SecretKey::load(&cfg.dir.join("secret.key")).map_err(|e| Error::invalid(e.to_string()))?;
    let url = cfg
        .db_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cfg.dir.join("camwatch.db").display()));
    let store = camwatch_store::connect(&url, key).await?;
    let lease = store
        .acquire_monitor(
            &camwatch_store::this_host(),
            std::process::id(),
            clock.now().as_second(),
        )
        .await?;
    store.upsert_devices(fleet.devices()).await?;
    let devices = fleet.devices().to_vec();
    // Commissioning, as a real fleet's: every camera's picture that reads as normal now is
    // approved as its baseline (NVR channels' from their streams' keyframes), before
    // monitoring starts. Without baselines `scene_change` cannot be found at all.
    let mut monitor_cfg = cfg.monitor.clone();
    if monitor_cfg.baseline_dir.is_none() {
        let dir = cfg.dir.join("baselines");
        let thresholds = monitor_cfg.quality.clone();
        let approved = camwatch_monitor::baselines::Approver {
            store: &store,
            dir: dir.clone(),
            thresholds: &thresholds,
            actor: "rehearsal".into(),
            night: false,
        }
        .approve_all(&devices, true)
        .await;
        tracing::info!(
            approved = approved.approved.len(),
            review = approved.review.len(),
            no_picture = approved.no_picture.len(),
            "rehearsal commissioning: baselines approved"
        );
        monitor_cfg.baseline_dir = Some(dir);
    }
    let started = clock.now().as_second();
    let state = Arc::new(MonitorState::for_devices(&devices, started));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(camwatch_monitor::run(
        store.clone(),
        lease,
        devices.clone(),
        monitor_cfg,
        clock.clone(),
        state.clone(),
        camwatch_monitor::EventBus::new(1024),
        stop_rx,
    ));
    let end = fleet.started_at() + cfg.simulated_sec;
    loop {
        let left = end - clock.now().as_second();
        if left <= 0 || monitor.is_finished() {
            break;
        }
        let real = (left as f64 / cfg.time_scale).clamp(0.01, 1.0);
        tokio::time::sleep(Duration::from_secs_f64(real)).await;
    }
    let _ = stop_tx.send(true);
    monitor
        .await
        .map_err(|e| Error::internal(format!("monitor: {e}")))??;
    let stopped = clock.now().as_second();
    fleet.shutdown().await;

    // The first sweep is staggered over one interval: the window starts after it.
    let from =
        started + cfg.monitor.liveness_interval_sec as i64 + cfg.monitor.health.confirm_window_sec;
    let to = end.min(stopped);
    if to <= from {
        return Err(Error::invalid(
            "the simulated period is shorter than one liveness interval",
        ));
    }
    let limit_sec = (to - from) / 2;
    let contract_text = CONTRACT.replace(
        "limit_hours = \"360\"",
        &format!("limit_hours = \"{:.4}\"", limit_sec as f64 / 3600.0),
    );
    let contract = Contract::parse(&contract_text, "rehearsal contract")?;
    let tz = contract.time_zone().map_err(Error::invalid)?;
    let period = Period::between(from, to, tz, &contract.timezone);
    let spans = store.spans_overlapping(from, to, to).await?;
    let exemptions = store.exemptions_overlapping(from, to).await?;
    let report = build(&ReportInput {
        period: &period,
        contract: &contract,
        contract_text: &contract_text,
        devices: &devices,
        spans: &spans,
        exemptions: &exemptions,
        // The rehearsal compares availability with the truth; work orders are not scored.
        work_orders: &[],
        now: to,
    })?;

    let truth_text = std::fs::read_to_string(&truth_path)
        .map_err(|e| Error::invalid(format!("{}: {e}", truth_path.display())))?;
    let truth_intervals = parse_truth(&truth_text, &truth_path.display().to_string())?;
    let channels: Vec<String> = devices
        .iter()
        .filter(|d| !d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();
    let truth = score(&truth_intervals, &channels, from, to);

    let per_outage = cfg.monitor.liveness_interval_sec as i64
        + cfg.monitor.health.confirm_window_sec
        + (cfg.monitor.deadline.as_secs_f64() * cfg.time_scale).ceil() as i64;
    let devices_cmp = report
        .devices
        .iter()
        .map(|row| {
            let t = truth.offline_sec.get(&row.code).copied().unwrap_or(0);
            let n = truth.outages.get(&row.code).copied().unwrap_or(0);
            DeviceComparison {
                code: row.code.clone(),
                truth_offline_sec: t,
                measured_offline_sec: (row.offline_hours * 3600.0).round() as i64,
                truth_outages: n,
                tolerance_sec: n as i64 * per_outage,
                truth_over_limit: t > limit_sec,
                flagged_over_limit: row.over_offline_limit,
            }
        })
        .collect();
    let mut measured_picture_sec: BTreeMap<String, i64> = BTreeMap::new();
    for s in spans.iter().filter(|s| s.status == Status::Degraded) {
        let d = s.end_at.min(to) - s.start_at.max(from);
        if d <= 0 {
            continue;
        }
        let kinds: Vec<String> = match &s.cause {
            Some(Cause::Picture(set)) => set.names().iter().map(|k| k.to_string()).collect(),
            Some(c) => vec![c.to_string()],
            None => vec!["unspecified".into()],
        };
        for kind in kinds {
            *measured_picture_sec.entry(kind).or_default() += d;
        }
    }
    Ok(Rehearsal {
        report,
        truth,
        devices: devices_cmp,
        measured_picture_sec,
        limit_sec,
        probes: state.counters().total,
        wall: wall.elapsed(),
    })
}
