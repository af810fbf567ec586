//! The fleet summary: what the live view, the `serve` log line and (later) the API's fleet
//! endpoint show, computed by the monitor from its live state, as plain data. Nothing here
//! draws; the demo's view renders it.

/// Where the demo is in its start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Importing,
    /// First sweep: probes done of total.
    FirstSweep {
        done: u64,
        total: u64,
    },
    Running,
    Stopping,
}

/// One outage in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOutage {
    pub code: camwatch_core::registry::DeviceCode,
    pub name: String,
    pub cause: Option<camwatch_core::cause::Cause>,
    pub age_sec: i64,
}

/// Everything the live view shows, as of one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStats {
    pub phase: Phase,
    /// Simulated time now (RFC 3339) and since start.
    pub now: String,
    pub elapsed_sec: i64,
    pub time_scale: f64,
    pub channels: u64,
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
    pub unknown: u64,
    /// Time-weighted online rate since start, in [0,1]; None before any observation.
    pub online_rate: Option<f64>,
    /// Longest first, at most a screenful.
    pub outages: Vec<OpenOutage>,
    pub outages_total: u64,
    /// Outages in progress grouped by cause family (`Cause::family`), most first.
    pub outage_causes: Vec<(&'static str, u64)>,
    /// Devices with each confirmed picture problem (fault kinds, `no_media`, `bad_image`).
    pub picture_faults: Vec<(&'static str, u64)>,
    /// ONVIF (daily): devices checked, failing, and with clocks more than 5 minutes off.
    pub onvif_checked: u64,
    pub onvif_failing: u64,
    pub clock_drift_over_5min: u64,
    pub probes_total: u64,
    pub probes_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}
