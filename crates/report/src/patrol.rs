//! The month's patrol report (巡检月报), the settlement evidence that the daily patrol was done:
//! coverage of the fleet, the plan's completion, the days the quota was missed, every fault
//! found (device, day, finding, work order) and who patrolled.
//!
//! [`section`] is pure (devices, records, calendar, rules and dates in; a [`PatrolSection`]
//! out); [`load_patrol`] reads its inputs from the store, cut to a reader's part of the fleet
//! ([`Subset`]) as the availability report is. The figures are `camwatch_core::patrol`'s; here
//! they are named, rounded once (rates to 6 places) and given local times. The records the
//! figures came from have their own SHA-256 (`records_digest`), so two reports can be told
//! apart by their patrol data as by their spans.
//!
//! The fleet is the confirmed video channels (cameras and NVR channels) of the part, as
//! `GET /patrol/today` plans them; records of channels outside the part are left out.
//!
//! Must not: decide which record counts (the core's rule: the latest per device and day).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::civil::Date;
use serde::Serialize;
use sha2::{Digest, Sha256};

use camwatch_core::calendar::WorkCalendar;
use camwatch_core::error::Result;
use camwatch_core::patrol::{self, Plan, PlanRules, Record};
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::Store;

use super::{Month, Subset};

/// One working day of the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatrolDay {
    pub day: String,
    pub planned: u64,
    pub patrolled: u64,
    pub faults: u64,
    /// `null`: today, still in progress.
    pub met_quota: Option<bool>,
}

/// One patroller's month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatrollerRow {
    pub patroller: String,
    /// Device-days counted (a corrected verdict counts once).
    pub records: u64,
    pub channels: u64,
    pub faults: u64,
    pub days: u64,
}

/// A fault the patrol found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatrolFinding {
    pub device: String,
    /// From the register; empty for a channel no longer in it.
    pub name: String,
    pub region: String,
    pub day: String,
    /// A picture fault kind, `no_video` or `other`.
    pub finding: String,
    pub work_order: Option<i64>,
    pub patroller: String,
    pub note: String,
    /// Local time.
    pub recorded: String,
}

/// The month's patrol figures. Field order is the JSON order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatrolSection {
    pub daily_quota: u32,
    pub cycle_days: u32,
    /// Channels the plan rotates through.
    pub fleet: u64,
    /// The daily quota in effect: `min(daily_quota, fleet)`.
    pub required_per_day: u64,
    /// Working days of the month through today.
    pub working_days: u64,
    pub planned_channels: u64,
    pub planned_visits: u64,
    pub patrolled_channels: u64,
    pub patrolled_visits: u64,
    pub planned_done: u64,
    /// Share of the fleet patrolled at least once; `null` without a fleet.
    pub coverage: Option<f64>,
    /// Share of planned device-days patrolled; `null` when nothing was planned.
    pub plan_completion: Option<f64>,
    pub faults: u64,
    pub quota_missed_days: Vec<String>,
    pub days: Vec<PatrolDay>,
    pub patrollers: Vec<PatrollerRow>,
    pub findings: Vec<PatrolFinding>,
    /// Stored records read (every verdict, superseded ones included).
    pub records: u64,
    /// SHA-256 of the records read, in a canonical form.
    pub records_digest: String,
}

/// The first and last day of `m`.
pub fn month_days(m: Month) -> (Date, Date) {
    let first = m.first_day();
    let last = m
        .next()
        .first_day()
        .yesterday()
        .expect("a month has a day before the next one");
    (first, last)
}

/// The patrol section of the days `from..=to` judged on `today`, for `fleet` (the devices the
/// plan rotates through) and `records` (already cut to the reader's part). `names` gives
/// finding rows their device's name and region.
#[allow(clippy::too_many_arguments)]
pub fn section(
    fleet: &[DeviceCode],
    names: &HashMap<DeviceCode, (String, String)>,
    records: &[Record],
    cal: &WorkCalendar,
    rules: PlanRules,
    from: Date,
    to: Date,
    today: Date,
) -> PatrolSection {
    let plan = Plan::new(fleet.iter().copied(), rules);
    let c = patrol::coverage(&plan, cal, from, to, today, records);
    let tz = cal.time_zone().clone();
    let local = |at: i64| {
        jiff::Timestamp::from_second(at)
            .map(|t| {
                t.to_zoned_datetime(tz.clone())
                    .strftime("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
    };
    PatrolSection {
        daily_quota: rules.quota,
        cycle_days: rules.cycle_days,
        fleet: c.fleet,
        required_per_day: c.required_per_day,
        working_days: c.working_days,
        planned_channels: c.planned_channels,
        planned_visits: c.planned_visits,
        patrolled_channels: c.patrolled_channels,
        patrolled_visits: c.patrolled_visits,
        planned_done: c.planned_done,
        coverage: c.coverage.map(|x| super::round(x, 6)),
        plan_completion: c.plan_completion.map(|x| super::round(x, 6)),
        faults: c.faults,
        quota_missed_days: c.quota_missed_days.iter().map(|d| d.to_string()).collect(),
        days: c
            .days
            .iter()
            .map(|d| PatrolDay {
                day: d.day.to_string(),
                planned: d.planned,
                patrolled: d.patrolled,
                faults: d.faults,
                met_quota: d.met_quota,
            })
            .collect(),
        patrollers: c
            .patrollers
            .iter()
            .map(|p| PatrollerRow {
                patroller: p.patroller.clone(),
                records: p.records,
                channels: p.channels,
                faults: p.faults,
                days: p.days,
            })
            .collect(),
        findings: c
            .findings
            .iter()
            .map(|f| {
                let (name, region) = names
                    .get(&f.device)
                    .cloned()
                    .unwrap_or_else(|| (String::new(), f.device.civil_code().to_string()));
                PatrolFinding {
                    device: f.device.to_string(),
                    name,
                    region,
                    day: f.day.to_string(),
                    finding: f.finding.as_str().to_string(),
                    work_order: f.work_order,
                    patroller: f.patroller.clone(),
                    note: f.note.clone(),
                    recorded: local(f.recorded_at),
                }
            })
            .collect(),
        records: records.len() as u64,
        records_digest: digest(records),
    }
}

/// SHA-256 over the records by id, each as one JSON array line.
fn digest(records: &[Record]) -> String {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.id);
    let mut h = Sha256::new();
    for r in sorted {
        let line = serde_json::json!([
            r.id,
            r.device.as_str(),
            r.day.to_string(),
            r.patroller,
            r.verdict.as_str(),
            r.finding.map(|f| f.as_str()),
            r.note,
            r.work_order,
            r.recorded_at,
        ]);
        h.update(line.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Reads the month's records and the register, and makes the section for the fleet, or for
/// the part `subset` selects, as it stands at `now`.
pub async fn load_patrol(
    store: &Arc<dyn Store>,
    month: Month,
    cal: &WorkCalendar,
    rules: PlanRules,
    now: i64,
    subset: Option<&Subset>,
) -> Result<PatrolSection> {
    let (from, to) = month_days(month);
    let (devices, records, unconfirmed) = tokio::try_join!(
        store.list_devices_for_report(),
        store.patrol_records(from, to),
        store.unconfirmed_codes(),
    )?;
    from_register(
        &devices,
        &unconfirmed,
        records,
        subset,
        month,
        cal,
        rules,
        now,
    )
}

/// The section from the register as read (`devices`, with the channels catalogs added and
/// nobody confirmed, `unconfirmed`) and the month's `records`, for the part `subset` selects.
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_register(
    devices: &[Device],
    unconfirmed: &HashSet<DeviceCode>,
    records: Vec<Record>,
    subset: Option<&Subset>,
    month: Month,
    cal: &WorkCalendar,
    rules: PlanRules,
    now: i64,
) -> Result<PatrolSection> {
    let visible: Vec<&Device> = devices
        .iter()
        .filter(|d| subset.is_none_or(|s| (s.device)(d)))
        .collect();
    let patrolled: Vec<&Device> = visible
        .iter()
        .copied()
        .filter(|d| !unconfirmed.contains(&d.code))
        .collect();
    assemble(
        &visible,
        &patrolled,
        records,
        subset.is_none(),
        month,
        cal,
        rules,
        now,
    )
}

/// The section from `visible`, the devices of the part (whose records count and are named);
/// `patrolled`, those of them the plan may cover (confirmed ones; the plan keeps the kinds it
/// patrols); `unknown_counts`, whether records of devices not in the register count (for the
/// whole fleet only).
#[allow(clippy::too_many_arguments)]
fn assemble(
    visible: &[&Device],
    patrolled: &[&Device],
    records: Vec<Record>,
    unknown_counts: bool,
    month: Month,
    cal: &WorkCalendar,
    rules: PlanRules,
    now: i64,
) -> Result<PatrolSection> {
    let (from, to) = month_days(month);
    let by_code: HashMap<DeviceCode, &Device> = visible.iter().map(|d| (d.code, *d)).collect();
    let fleet: Vec<DeviceCode> = patrolled
        .iter()
        .filter(|d| patrol::is_patrolled(d.kind))
        .map(|d| d.code)
        .collect();
    // A record counts for the part when its device is in the part; for the whole fleet always.
    let records: Vec<Record> = records
        .into_iter()
        .filter(|r| by_code.contains_key(&r.device) || unknown_counts)
        .collect();
    let names: HashMap<DeviceCode, (String, String)> = visible
        .iter()
        .map(|d| (d.code, (d.name.clone(), d.region().to_string())))
        .collect();
    let today = jiff::Timestamp::from_second(now)
        .map_err(|e| camwatch_core::error::Error::internal(format!("now {now}: {e}")))?
        .to_zoned_datetime(cal.time_zone().clone())
        .date();
    Ok(section(
        &fleet, &names, &records, cal, rules, from, to, today,
    ))
}
