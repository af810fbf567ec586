//! A period's patrol figures (the monthly patrol report's numbers): which channels the plan
//! asked for, which were looked at, what was found, by whom, and the days the quota was missed.
//!
//! Counting rules:
//! - Per device and day only the latest record counts ([`Record::supersedes`]): a second
//!   verdict replaces the first in the figures (both stay stored).
//! - The days are the working days of `[from, to]` up to `today`; `today` is in the figures
//!   but is judged against the quota only once met (until its end it is still in progress).
//! - Coverage is the share of the fleet with at least one counted record in the period;
//!   plan completion is the share of planned device-days that got one.
//! - Records for channels not in the fleet (removed since, or no longer confirmed) count as
//!   visits, faults and findings, not towards coverage.
//!
//! Must not: round (the report rounds once, when it renders).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;

use super::plan::{Plan, working_day_index};
use super::{Finding, Record, Verdict};
use crate::calendar::WorkCalendar;
use crate::registry::DeviceCode;

/// One working day's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct DayFigures {
    pub day: Date,
    pub planned: u64,
    /// Devices with a counted record that day (planned or not).
    pub patrolled: u64,
    pub faults: u64,
    /// `None`: today, not yet met (still in progress).
    pub met_quota: Option<bool>,
}

/// One patroller's counted records.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrollerFigures {
    pub patroller: String,
    /// Counted device-days.
    pub records: u64,
    /// Distinct channels.
    pub channels: u64,
    pub faults: u64,
    /// Days with at least one counted record.
    pub days: u64,
}

/// A fault a patrol found (its latest record on that device and day).
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub device: DeviceCode,
    pub day: Date,
    pub finding: Finding,
    pub work_order: Option<i64>,
    pub patroller: String,
    pub note: String,
    pub recorded_at: i64,
}

/// The figures of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// Channels the plan rotates through.
    pub fleet: u64,
    /// The least a day's batch holds (`min(quota, fleet)`): the daily quota in effect.
    pub required_per_day: u64,
    /// Working days counted (through `today`).
    pub working_days: u64,
    /// Distinct channels in the period's batches.
    pub planned_channels: u64,
    /// The batches' sizes added up.
    pub planned_visits: u64,
    /// Distinct fleet channels with a counted record.
    pub patrolled_channels: u64,
    /// Counted device-days (any channel).
    pub patrolled_visits: u64,
    /// Planned device-days with a counted record.
    pub planned_done: u64,
    /// `patrolled_channels / fleet`; `None` without a fleet.
    pub coverage: Option<f64>,
    /// `planned_done / planned_visits`; `None` when nothing was planned.
    pub plan_completion: Option<f64>,
    /// Counted device-days whose verdict is a fault.
    pub faults: u64,
    /// Judged days whose patrolled count fell below `required_per_day`.
    pub quota_missed_days: Vec<Date>,
    pub days: Vec<DayFigures>,
    /// By name.
    pub patrollers: Vec<PatrollerFigures>,
    /// By day, then device.
    pub findings: Vec<FindingRow>,
}

/// One patroller's counts while they are added up.
#[derive(Default)]
struct Tally {
    records: u64,
    channels: BTreeSet<DeviceCode>,
    faults: u64,
    days: BTreeSet<Date>,
}

/// The figures of the working days of `[from, to]` through `today`, for `plan` on `cal`, from
/// `records` (any order; records outside the dates are ignored).
pub fn coverage(
    plan: &Plan,
    cal: &WorkCalendar,
    from: Date,
    to: Date,
    today: Date,
    records: &[Record],
) -> Coverage {
    let last = to.min(today);
    // Latest record per (day, device).
    let mut latest: BTreeMap<Date, BTreeMap<DeviceCode, &Record>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.day >= from && r.day <= last) {
        latest
            .entry(r.day)
            .or_default()
            .entry(r.device)
            .and_modify(|cur| {
                if r.supersedes(cur) {
                    *cur = r;
                }
            })
            .or_insert(r);
    }

    let required = plan.required() as u64;
    let mut days = Vec::new();
    let mut planned_channels: BTreeSet<DeviceCode> = BTreeSet::new();
    let (mut planned_visits, mut planned_done) = (0u64, 0u64);
    let mut missed = Vec::new();
    // The first working day's number once, then +1 per working day.
    let mut k: Option<i64> = None;
    let mut d = from;
    while d <= last {
        if cal.is_working_day(d) {
            let n = match k {
                Some(n) => n + 1,
                None => working_day_index(cal, d).expect("a working day has a number"),
            };
            k = Some(n);
            let batch = plan.batch(n);
            let empty = BTreeMap::new();
            let on_day = latest.get(&d).unwrap_or(&empty);
            let done = batch.iter().filter(|c| on_day.contains_key(*c)).count() as u64;
            let patrolled = on_day.len() as u64;
            let met = patrolled >= required;
            let met_quota = if d < today || met { Some(met) } else { None };
            if met_quota == Some(false) {
                missed.push(d);
            }
            planned_visits += batch.len() as u64;
            planned_done += done;
            planned_channels.extend(batch.iter().copied());
            days.push(DayFigures {
                day: d,
                planned: batch.len() as u64,
                patrolled,
                faults: on_day
                    .values()
                    .filter(|r| r.verdict == Verdict::Fault)
                    .count() as u64,
                met_quota,
            });
        }
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }

    let mut patrolled_channels: BTreeSet<DeviceCode> = BTreeSet::new();
    let mut by_patroller: HashMap<&str, Tally> = HashMap::new();
    let mut findings = Vec::new();
    let mut faults = 0u64;
    let mut visits = 0u64;
    for (day, device, r) in latest
        .iter()
        .flat_map(|(day, m)| m.iter().map(move |(c, r)| (day, c, r)))
    {
        visits += 1;
        if plan.contains(device) {
            patrolled_channels.insert(*device);
        }
        let e = by_patroller.entry(r.patroller.as_str()).or_default();
        e.records += 1;
        e.channels.insert(*device);
        e.days.insert(*day);
        if r.verdict == Verdict::Fault {
            faults += 1;
            e.faults += 1;
            findings.push(FindingRow {
                device: *device,
                day: *day,
                finding: r.finding.unwrap_or(Finding::Other),
                work_order: r.work_order,
                patroller: r.patroller.clone(),
                note: r.note.clone(),
                recorded_at: r.recorded_at,
            });
        }
    }
    let mut patrollers: Vec<PatrollerFigures> = by_patroller
        .into_iter()
        .map(|(name, t)| PatrollerFigures {
            patroller: name.to_string(),
            records: t.records,
            channels: t.channels.len() as u64,
            faults: t.faults,
            days: t.days.len() as u64,
        })
        .collect();
    patrollers.sort_by(|a, b| a.patroller.cmp(&b.patroller));

    let fleet = plan.fleet_len() as u64;
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    Coverage {
        fleet,
        required_per_day: required,
        working_days: days.len() as u64,
        planned_channels: planned_channels.len() as u64,
        planned_visits,
        patrolled_channels: patrolled_channels.len() as u64,
        patrolled_visits: visits,
        planned_done,
        coverage: ratio(patrolled_channels.len() as u64, fleet),
        plan_completion: ratio(planned_done, planned_visits),
        faults,
        quota_missed_days: missed,
        days,
        patrollers,
        findings,
    }
}
