//! Monthly (or any period's) availability report: the figures contractors are paid by.
//!
//! `build` is pure: register records, status spans, exemptions, a contract and a period in; a
//! [`Report`] out, with per-device rows, rollups by region and contractor, every deduction with
//! the numbers behind it, and an `input_digest` (SHA-256 of a canonical form of the inputs) so an
//! auditor can tell whether two reports were made from the same data. Same inputs give
//! byte-identical JSON: rows are sorted, numbers are rounded once to fixed places.
//! The work orders opened in the period get their own section: counts by state, level, fault
//! kind, contractor and region, response and repair times, SLA compliance and the overdue list
//! (figures from `camwatch_core::workorder::stats`, as the orders stand at the report's `now`).
//! `load` fetches the inputs from a store; `render` writes JSON, CSV, XLSX and printable HTML.
//! The month's patrol report (`patrol`: coverage, findings, who patrolled) is made beside it
//! from the patrol records and attached as its own section, rendered in every format.
//!
//! A report never guesses: overlapping spans make `build` fail with the device and times; time
//! with no data is `unknown` and shown; spans of devices missing from the register, devices with
//! no data at all, and devices outside their contract dates are listed in `notes`.

pub mod archive;
mod build;
mod digest;
mod load;
mod orders;
pub mod patrol;
pub mod period;
pub mod render;
pub mod subset;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use build::{ReportInput, build};
pub use load::{PatrolAsk, load, load_periods, load_subset, load_with_patrol};
pub use period::{Month, Period};
pub use subset::Subset;

/// Seconds → hours, rounded to 4 places (0.36 s): enough to show each minute, and stable.
pub(crate) fn hours(sec: i64) -> f64 {
    round(sec as f64 / 3600.0, 4)
}

pub(crate) fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A rate rounded to 6 places (0.0001 %); `None` when nothing was counted.
pub(crate) fn rate(num: i128, den: i128) -> Option<f64> {
    (den > 0).then(|| round(num as f64 / den as f64, 6))
}

/// Status samples at the contract's check times.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SampleCounts {
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
    pub unknown: u64,
    pub exempt: u64,
}

/// Hours and rates of a group of devices (the fleet, a region, a contractor).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub devices: u64,
    pub eligible_hours: f64,
    /// Online with any picture (`online` + `degraded` spans).
    pub online_hours: f64,
    /// The part of `online_hours` with a faulty picture.
    pub degraded_hours: f64,
    pub offline_hours: f64,
    pub exempt_hours: f64,
    pub unknown_hours: f64,
    /// By the contract's method; `null` when nothing was observed.
    pub online_rate: Option<f64>,
    pub intact_rate: Option<f64>,
    pub samples: SampleCounts,
}

/// A rollup row: `key` is a region (civil code) or a contractor name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollup {
    pub key: String,
    /// A region's name (`camwatch_core::regions`: the register's own, else GB/T 2260);
    /// absent for contractors and for codes neither knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
    pub devices_over_offline_limit: u64,
    /// Sum of this group's per-device deductions (fleet-wide lines are not split).
    pub device_deductions: f64,
}

/// One local day of the period: the fleet's rates that day, by the contract's method (the
/// daily chart against the threshold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayRates {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    pub online_rate: Option<f64>,
    pub intact_rate: Option<f64>,
}

/// The fleet's offline time (non-exempt, eligible) with one cause family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseRow {
    /// `camwatch_core::cause::Cause::family`: a failure kind (`connection_refused`,
    /// `auth_failed`, …), `parent_down`, `no_media`, `bad_image`, `not_watched`, `other`, or
    /// `unrecorded` for offline spans stored without a cause.
    pub cause: String,
    pub offline_hours: f64,
    /// Devices with any offline time of this cause.
    pub devices: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRow {
    pub code: String,
    pub name: String,
    pub region: String,
    pub contractor: String,
    /// Eligible window within the period (local time), for "why these hours".
    pub eligible_from: String,
    pub eligible_to: String,
    pub eligible_hours: f64,
    pub online_hours: f64,
    pub degraded_hours: f64,
    pub offline_hours: f64,
    pub exempt_hours: f64,
    pub unknown_hours: f64,
    pub online_rate: Option<f64>,
    pub intact_rate: Option<f64>,
    pub outages: u32,
    pub longest_outage_hours: f64,
    pub over_offline_limit: bool,
    pub samples: SampleCounts,
    pub deduction: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeductionRow {
    pub rule: String,
    /// `null` for fleet-wide rules.
    pub device: Option<String>,
    /// The work order an SLA line is about.
    pub order: Option<i64>,
    /// Yuan, rounded to 0.01 half away from zero.
    pub amount: f64,
    pub basis: String,
}

/// An exemption that touched the period, and how much eligible device time it covered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExemptionRow {
    pub id: i64,
    /// `device:<code>` or `region:<prefix>`.
    pub scope: String,
    pub reason: String,
    pub from: String,
    pub to: String,
    pub approved_by: String,
    pub note: String,
    pub devices: u64,
    /// Eligible device-hours inside this exemption (overlapping exemptions each count theirs).
    pub device_hours: f64,
}

/// Response or repair times of a group of work orders, in clock minutes rounded to 0.01.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrderTimes {
    /// How many orders the times are of (answered, or with a repair that stood).
    pub count: u64,
    pub mean_minutes: Option<f64>,
    /// The nearest-rank 90th percentile.
    pub p90_minutes: Option<f64>,
}

/// Deadlines met and missed; `percent` = met / (met + missed), rounded to 0.0001 %, `null` when
/// nothing was decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrderSla {
    pub met: u64,
    pub missed: u64,
    pub percent: Option<f64>,
}

/// The work-order figures of a group of orders (all of them, a level, a contractor…).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrderFigures {
    pub orders: u64,
    /// Not closed when the report was made.
    pub open: u64,
    pub response: OrderTimes,
    pub repair: OrderTimes,
    pub response_sla: OrderSla,
    pub repair_sla: OrderSla,
}

/// A group of work orders: `key` is a level, a fault kind (origin), a contractor (empty when
/// unassigned) or a region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderGroup {
    pub key: String,
    #[serde(flatten)]
    pub figures: OrderFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateCount {
    pub state: String,
    pub orders: u64,
}

/// A work order that missed its response or repair deadline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverdueRow {
    pub id: i64,
    pub title: String,
    pub level: String,
    pub origin: String,
    pub contractor: String,
    pub region: String,
    pub state: String,
    /// Local times; empty when there is none.
    pub opened: String,
    pub response_due: String,
    pub responded: String,
    pub repair_due: String,
    /// The repair report that stood (awaiting review, or closed as repaired).
    pub repaired: String,
    /// `response`, `repair` or `both`.
    pub missed: String,
}

/// The work orders opened in the period, as they stand when the report is made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkOrderSection {
    #[serde(flatten)]
    pub all: OrderFigures,
    /// Every state in lifecycle order, zeros included.
    pub by_state: Vec<StateCount>,
    pub by_level: Vec<OrderGroup>,
    /// By fault kind.
    pub by_origin: Vec<OrderGroup>,
    pub by_contractor: Vec<OrderGroup>,
    pub by_region: Vec<OrderGroup>,
    /// By id.
    pub overdue: Vec<OverdueRow>,
}

/// The report. Field order is the JSON order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub month: String,
    /// The part of the fleet a scoped report covers (`subset::Subset`); absent for the fleet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub timezone: String,
    pub method: String,
    pub contract: String,
    pub period_from: String,
    pub period_to: String,
    pub period_hours: f64,
    pub unknown_treatment: String,
    /// The rules of counting, stated in words, as the report applies them.
    pub semantics: Vec<String>,
    pub fleet: Totals,
    /// The contract's fleet online-rate threshold in percent (e.g. 98), when it has one.
    pub online_threshold_percent: Option<f64>,
    pub regions: Vec<Rollup>,
    pub contractors: Vec<Rollup>,
    /// The fleet's rates on each local day of the period.
    pub daily: Vec<DayRates>,
    /// The fleet's offline time by cause, the largest first.
    pub outage_causes: Vec<CauseRow>,
    pub devices: Vec<DeviceRow>,
    pub deductions: Vec<DeductionRow>,
    pub total_deduction: f64,
    /// Fee bases the fleet rules applied to, yuan (each device's fee prorated by eligible share).
    pub maintenance_fee_base: f64,
    pub link_fee_base: f64,
    pub score: Option<f64>,
    pub exemptions: Vec<ExemptionRow>,
    pub work_orders: WorkOrderSection,
    /// What is missing or odd in the inputs; empty when nothing is.
    pub notes: Vec<String>,
    /// The month's patrol (巡检) report, attached by the caller ([`patrol::load_patrol`]);
    /// absent when none was asked for. Its records have their own digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patrol: Option<patrol::PatrolSection>,
    pub input_digest: String,
}

impl Report {
    /// The canonical JSON (pretty, stable key order, trailing newline).
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out).expect("report serialises");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// [`Self::to_json`] written to `out` as it is serialised (a 300,000-channel report is
    /// 231 MB: not held in memory).
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        out.write_all(b"\n").map_err(serde_json::Error::io)
    }
}
