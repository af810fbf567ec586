//! Inputs → [`Report`]. Pure and deterministic.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::digest::input_digest;
use super::{
    CauseRow, DayRates, DeductionRow, DeviceRow, ExemptionRow, Period, Report, Rollup,
    SampleCounts, Totals, hours, rate,
};
use camwatch_core::availability::{
    DeviceAvailability, Hours, Interval, Part, Samples, UnknownTreatment, device_breakdown,
};
use camwatch_core::contract::{Contract, DeviceFacts, Method, assess};
use camwatch_core::error::{Error, Result};
use camwatch_core::history::{Exemption, ExemptionScope, StatusSpan};
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::workorders::WorkOrder;

/// Everything a report is computed from.
pub struct ReportInput<'a> {
    pub period: &'a Period,
    pub contract: &'a Contract,
    /// The contract file's text, for the digest.
    pub contract_text: &'a str,
    /// The register; parents (NVRs, encoders, platforms) are not counted as points.
    pub devices: &'a [Device],
    /// Status spans of any devices, any order; they may extend past the period.
    pub spans: &'a [StatusSpan],
    pub exemptions: &'a [Exemption],
    /// The work orders opened within the period, any order.
    pub work_orders: &'a [WorkOrder],
    /// The instant the report is made: work-order figures are the orders as they stand then (a
    /// deadline passed by `now` with nothing done is missed). Spans are already cut by the
    /// caller.
    pub now: i64,
}

/// Seconds and samples summed over a group of devices.
#[derive(Default)]
struct Acc {
    devices: u64,
    hours: Hours,
    samples: Samples,
    over_limit: u64,
    deduction_fen: i64,
}

impl Acc {
    fn add(&mut self, a: &DeviceAvailability, over: bool, fen: i64) {
        self.devices += 1;
        self.hours.add(&a.hours);
        self.samples.add(&a.samples);
        self.over_limit += u64::from(over);
        self.deduction_fen += fen;
    }
    fn totals(&self, method: Method, t: UnknownTreatment) -> Totals {
        totals(self.devices, &self.hours, &self.samples, method, t)
    }
    fn rollup(
        &self,
        key: String,
        name: Option<String>,
        method: Method,
        t: UnknownTreatment,
    ) -> Rollup {
        Rollup {
            key,
            name,
            totals: self.totals(method, t),
            devices_over_offline_limit: self.over_limit,
            device_deductions: yuan(self.deduction_fen),
        }
    }
}

fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

fn samples(s: &Samples) -> SampleCounts {
    SampleCounts {
        online: s.online,
        degraded: s.degraded,
        offline: s.offline,
        unknown: s.unknown,
        exempt: s.exempt,
    }
}

/// (online, intact) ratios by the contract's method.
fn ratios(h: &Hours, s: &Samples, method: Method, t: UnknownTreatment) -> [(i128, i128); 2] {
    match method {
        Method::TimeWeighted => {
            let (a, b) = h.online_ratio(t);
            let (c, d) = h.intact_ratio(t);
            [(a as i128, b as i128), (c as i128, d as i128)]
        }
        Method::Sampled => {
            let (a, b) = s.online_ratio(t);
            let (c, d) = s.intact_ratio(t);
            [(a as i128, b as i128), (c as i128, d as i128)]
        }
    }
}

fn totals(n: u64, h: &Hours, s: &Samples, method: Method, t: UnknownTreatment) -> Totals {
    let [online, intact] = ratios(h, s, method, t);
    Totals {
        devices: n,
        eligible_hours: hours(h.eligible),
        online_hours: hours(h.online + h.degraded),
        degraded_hours: hours(h.degraded),
        offline_hours: hours(h.offline),
        exempt_hours: hours(h.exempt),
        unknown_hours: hours(h.unknown),
        online_rate: rate(online.0, online.1),
        intact_rate: rate(intact.0, intact.1),
        samples: samples(s),
    }
}

/// Lists at most a few codes, then how many more: notes stay readable for 300k devices.
fn some_codes<T: std::fmt::Display>(codes: impl Iterator<Item = T>, n: usize) -> String {
    let v: Vec<String> = codes.take(n + 1).map(|c| c.to_string()).collect();
    if v.len() > n {
        format!("{}, …", v[..n].join(", "))
    } else {
        v.join(", ")
    }
}

pub fn build(input: &ReportInput<'_>) -> Result<Report> {
    let p = input.period;
    let c = input.contract;
    let checks = p.check_instants(
        &c.check_times_hm()
            .map_err(|e| Error::invalid(format!("contract check_times: {e}")))?,
    );

    let mut devices: Vec<&Device> = input.devices.iter().collect();
    devices.sort_unstable_by_key(|d| d.code);
    let spans: Cow<[StatusSpan]> = if input
        .spans
        .is_sorted_by_key(|s| (s.device, s.start_at, s.end_at))
    {
        Cow::Borrowed(input.spans)
    } else {
        let mut v = input.spans.to_vec();
        v.sort_by_key(|s| (s.device, s.start_at, s.end_at));
        Cow::Owned(v)
    };
    // The digest hashes every input again: on the other core while the report is assembled.
    std::thread::scope(|sc| {
        let digest = sc.spawn(|| {
            input_digest(
                p,
                input.contract_text,
                &devices,
                &spans,
                input.exemptions,
                input.work_orders,
                super::orders::decisive_now(input.contract, input.work_orders, input.now),
            )
        });
        let mut report = assemble(input, &checks, &devices, &spans)?;
        report.input_digest = digest
            .join()
            .map_err(|_| Error::internal("the input digest thread panicked"))?;
        Ok(report)
    })
}

/// The report from sorted devices and spans (all but the digest).
fn assemble(
    input: &ReportInput<'_>,
    checks: &[i64],
    devices: &[&Device],
    spans: &[StatusSpan],
) -> Result<Report> {
    let p = input.period;
    let c = input.contract;
    let t = c.unknown;
    // Each device's spans are one contiguous run of the sorted slice.
    let mut runs: HashMap<DeviceCode, (usize, usize)> = HashMap::new();
    let mut i = 0;
    while i < spans.len() {
        let code = spans[i].device;
        let mut j = i;
        while j < spans.len() && spans[j].device == code {
            j += 1;
        }
        runs.insert(code, (i, j));
        i = j;
    }

    // Exemptions in the period, and which apply to which device.
    let period_iv = p.interval();
    let exemptions: Vec<&Exemption> = {
        let mut v: Vec<&Exemption> = input
            .exemptions
            .iter()
            .filter(|e| {
                !Interval::new(e.start_at, e.end_at)
                    .intersect(period_iv)
                    .is_empty()
            })
            .collect();
        v.sort_by_key(|e| (e.id, e.start_at));
        v
    };
    let mut by_device: HashMap<DeviceCode, Vec<usize>> = HashMap::new();
    let mut by_region: Vec<(&str, usize)> = Vec::new();
    for (k, e) in exemptions.iter().enumerate() {
        match &e.scope {
            ExemptionScope::Device(code) => by_device.entry(*code).or_default().push(k),
            ExemptionScope::RegionPrefix(prefix) => by_region.push((prefix.as_str(), k)),
        }
    }
    let days = p.days();
    let day_ivs: Vec<Interval> = days.iter().map(|(_, iv)| *iv).collect();
    let shared = Shared {
        period: p,
        unknown: t,
        by_device: &by_device,
        by_region: &by_region,
        exemptions: &exemptions,
        runs: &runs,
        spans,
        checks,
        day_ivs: &day_ivs,
    };
    // Each device's counting is independent of the others': a large fleet is counted as two
    // halves on two threads (beside the digest's), and the halves' sums are exact integers.
    let Gathered {
        parents,
        ineligible,
        no_data,
        ex_devices,
        ex_secs,
        daily,
        causes,
        rows,
        facts,
        avail,
    } = if devices.len() >= 20_000 {
        let (a, b) = devices.split_at(devices.len() / 2);
        std::thread::scope(|sc| {
            let first = sc.spawn(|| gather(&shared, a));
            let second = gather(&shared, b);
            let mut first = first
                .join()
                .map_err(|_| Error::internal("a report counting thread panicked"))??;
            first.merge(second?);
            Ok::<_, Error>(first)
        })?
    } else {
        gather(&shared, devices)?
    };

    let mut fleet = Acc::default();
    for a in &avail {
        fleet.add(a, false, 0);
    }
    let fleet_ratio = ratios(&fleet.hours, &fleet.samples, c.method, t)[0];
    let mut assessment = assess(
        c,
        (fleet_ratio.1 > 0).then_some(fleet_ratio),
        &facts,
        p.len(),
    );
    // SLA deductions of the work orders opened in the period, after the availability rules.
    let (sla_lines, unpriced) = super::orders::deductions(c, input.work_orders, input.now);
    assessment.total_fen += sla_lines.iter().map(|l| l.amount_fen).sum::<i64>();
    assessment.deductions.extend(sla_lines);
    let mut device_fen: HashMap<DeviceCode, i64> = HashMap::new();
    for l in &assessment.deductions {
        if let Some(code) = l.device {
            *device_fen.entry(code).or_default() += l.amount_fen;
        }
    }
    let limit_sec = c.device_offline_limit.as_ref().map(|r| {
        r.limit_hours
            .0
            .times(camwatch_core::contract::ratio::Ratio::int(3600))
    });

    let names = camwatch_core::regions::RegionNames::from_register(rows.iter().map(|r| r.0));
    let mut fleet = Acc::default();
    let mut regions: BTreeMap<String, Acc> = BTreeMap::new();
    let mut contractors: BTreeMap<String, Acc> = BTreeMap::new();
    let mut device_rows = Vec::with_capacity(rows.len());
    // Most devices are eligible for the whole period: their window's text is made once.
    let mut window_text: Option<(Interval, String, String)> = None;
    for ((d, window, offline_counted), a) in rows.iter().zip(&avail) {
        let (from, to) = match &window_text {
            Some((w, from, to)) if w == window => (from.clone(), to.clone()),
            _ => {
                let (from, to) = (p.local(window.start), p.local(window.end));
                window_text = Some((*window, from.clone(), to.clone()));
                (from, to)
            }
        };
        let over = limit_sec.is_some_and(|l| {
            camwatch_core::contract::ratio::Ratio::int(*offline_counted as i128) > l
        });
        let fen = device_fen.get(&d.code).copied().unwrap_or(0);
        let contractor = d.maintainer.clone().unwrap_or_default();
        fleet.add(a, over, fen);
        regions
            .entry(d.region().to_string())
            .or_default()
            .add(a, over, fen);
        contractors
            .entry(contractor.clone())
            .or_default()
            .add(a, over, fen);
        let [online, intact] = ratios(&a.hours, &a.samples, c.method, t);
        device_rows.push(DeviceRow {
            code: d.code.to_string(),
            name: d.name.clone(),
            region: d.region().to_string(),
            contractor,
            eligible_from: from,
            eligible_to: to,
            eligible_hours: hours(a.hours.eligible),
            online_hours: hours(a.hours.online + a.hours.degraded),
            degraded_hours: hours(a.hours.degraded),
            offline_hours: hours(a.hours.offline),
            exempt_hours: hours(a.hours.exempt),
            unknown_hours: hours(a.hours.unknown),
            online_rate: rate(online.0, online.1),
            intact_rate: rate(intact.0, intact.1),
            outages: a.outages,
            longest_outage_hours: hours(a.longest_outage),
            over_offline_limit: over,
            samples: samples(&a.samples),
            deduction: yuan(fen),
        });
    }

    let mut notes = Vec::new();
    if parents > 0 {
        notes.push(format!(
            "{parents} NVRs, encoders or platforms in the register are not counted as points (their channels are)"
        ));
    }
    if !ineligible.is_empty() {
        notes.push(format!(
            "{} devices are outside their in-contract dates for the whole period and are not counted: {}",
            ineligible.len(),
            some_codes(ineligible.iter(), 10)
        ));
    }
    let known: std::collections::HashSet<DeviceCode> =
        input.devices.iter().map(|d| d.code).collect();
    let mut strangers: Vec<DeviceCode> = runs
        .keys()
        .filter(|c| !known.contains(c))
        .copied()
        .collect();
    if !strangers.is_empty() {
        strangers.sort_unstable();
        notes.push(format!(
            "status history exists for {} device codes that are not in the register and is not counted: {}",
            strangers.len(),
            some_codes(strangers.iter(), 10)
        ));
    }
    if !no_data.is_empty() {
        notes.push(format!(
            "{} devices have no status history in the period: all their eligible time is unknown: {}",
            no_data.len(),
            some_codes(no_data.iter(), 10)
        ));
    }
    if device_rows.is_empty() {
        notes.push(
            "no eligible devices: the register is empty or no device is in contract in this period"
                .into(),
        );
    }
    if !unpriced.is_empty() {
        notes.push(format!(
            "{} late work orders have a level the contract does not list, so no SLA deduction is made for them: {}",
            unpriced.len(),
            some_codes(unpriced.iter(), 10)
        ));
    }
    if fleet_ratio.1 == 0 && !device_rows.is_empty() {
        notes.push(
            "nothing was observed in the period: rates are null and no rate-based deduction is made"
                .into(),
        );
    }

    let exemption_rows = exemptions
        .iter()
        .enumerate()
        .map(|(k, e)| ExemptionRow {
            id: e.id,
            scope: match &e.scope {
                ExemptionScope::Device(c) => format!("device:{c}"),
                ExemptionScope::RegionPrefix(x) => format!("region:{x}"),
            },
            reason: e.reason.as_str().into(),
            from: p.local(e.start_at),
            to: p.local(e.end_at),
            approved_by: e.approved_by.clone(),
            note: e.note.clone(),
            devices: ex_devices[k],
            device_hours: hours(ex_secs[k]),
        })
        .collect();

    Ok(Report {
        month: p.label.clone(),
        scope: None,
        timezone: p.tz_name.clone(),
        method: c.method.as_str().into(),
        contract: c.name.clone(),
        period_from: p.local(p.start_at),
        period_to: p.local(p.end_at),
        period_hours: hours(p.len()),
        unknown_treatment: t.as_str().into(),
        semantics: semantics(c, p),
        fleet: fleet.totals(c.method, t),
        online_threshold_percent: c
            .fleet_online_rate
            .as_ref()
            .map(|r| super::round(r.threshold_percent.0.to_f64(), 4)),
        regions: regions
            .into_iter()
            .map(|(k, a)| {
                let name = names.name(&k).map(|n| n.into_owned());
                a.rollup(k, name, c.method, t)
            })
            .collect(),
        contractors: contractors
            .into_iter()
            .map(|(k, a)| a.rollup(k, None, c.method, t))
            .collect(),
        daily: days
            .iter()
            .zip(&daily)
            .map(|((date, _), part)| {
                let [online, intact] = ratios(&part.hours, &part.samples, c.method, t);
                DayRates {
                    date: date.to_string(),
                    online_rate: rate(online.0, online.1),
                    intact_rate: rate(intact.0, intact.1),
                }
            })
            .collect(),
        outage_causes: {
            let mut v: Vec<CauseRow> = causes
                .into_iter()
                .map(|(family, (secs, devices))| CauseRow {
                    cause: family.unwrap_or("unrecorded").to_string(),
                    offline_hours: hours(secs),
                    devices,
                })
                .collect();
            v.sort_by(|a, b| {
                b.offline_hours
                    .total_cmp(&a.offline_hours)
                    .then_with(|| a.cause.cmp(&b.cause))
            });
            v
        },
        devices: device_rows,
        deductions: assessment
            .deductions
            .iter()
            .map(|l| DeductionRow {
                rule: l.rule.into(),
                device: l.device.map(|c| c.to_string()),
                order: l.order,
                amount: yuan(l.amount_fen),
                basis: l.basis.clone(),
            })
            .collect(),
        total_deduction: yuan(assessment.total_fen),
        maintenance_fee_base: super::round(assessment.maintenance_base.to_f64() / 100.0, 2),
        link_fee_base: super::round(assessment.link_base.to_f64() / 100.0, 2),
        score: assessment.score.map(|s| super::round(s.to_f64(), 4)),
        exemptions: exemption_rows,
        work_orders: super::orders::section(p, input.work_orders, input.now),
        notes,
        patrol: None,
        input_digest: String::new(),
    })
}

/// What the per-device pass reads, shared by its threads.
struct Shared<'a> {
    period: &'a Period,
    unknown: UnknownTreatment,
    by_device: &'a HashMap<DeviceCode, Vec<usize>>,
    by_region: &'a [(&'a str, usize)],
    exemptions: &'a [&'a Exemption],
    /// Each device's run of `spans`.
    runs: &'a HashMap<DeviceCode, (usize, usize)>,
    spans: &'a [StatusSpan],
    checks: &'a [i64],
    day_ivs: &'a [Interval],
}

/// What the per-device pass gathers over some devices, in their order.
#[derive(Debug, PartialEq)]
struct Gathered<'a> {
    parents: u64,
    ineligible: Vec<DeviceCode>,
    no_data: Vec<DeviceCode>,
    /// Per exemption: devices it covered time of, and those seconds.
    ex_devices: Vec<u64>,
    ex_secs: Vec<i64>,
    daily: Vec<Part>,
    /// Offline seconds and devices by cause family (`None`: recorded with no cause).
    causes: HashMap<Option<&'static str>, (i64, u64)>,
    /// (device, its eligible window, its offline seconds as counted).
    rows: Vec<(&'a Device, Interval, i64)>,
    facts: Vec<DeviceFacts>,
    avail: Vec<DeviceAvailability>,
}

impl Gathered<'_> {
    /// Appends `o`, gathered over the devices after these.
    fn merge(&mut self, o: Self) {
        self.parents += o.parents;
        self.ineligible.extend(o.ineligible);
        self.no_data.extend(o.no_data);
        for (a, b) in self.ex_devices.iter_mut().zip(o.ex_devices) {
            *a += b;
        }
        for (a, b) in self.ex_secs.iter_mut().zip(o.ex_secs) {
            *a += b;
        }
        for (a, b) in self.daily.iter_mut().zip(&o.daily) {
            a.hours.add(&b.hours);
            a.samples.add(&b.samples);
        }
        for (family, (secs, n)) in o.causes {
            let e = self.causes.entry(family).or_default();
            e.0 += secs;
            e.1 += n;
        }
        self.rows.extend(o.rows);
        self.facts.extend(o.facts);
        self.avail.extend(o.avail);
    }
}

/// Counts each of `devices`: its eligible window, the exemptions that apply to it, its hours,
/// samples, days and outage causes.
fn gather<'a>(sh: &Shared<'_>, devices: &[&'a Device]) -> Result<Gathered<'a>> {
    let p = sh.period;
    let exemptions = sh.exemptions;
    let mut g = Gathered {
        parents: 0,
        ineligible: Vec::new(),
        no_data: Vec::new(),
        ex_devices: vec![0; exemptions.len()],
        ex_secs: vec![0; exemptions.len()],
        daily: vec![Part::default(); sh.day_ivs.len()],
        causes: HashMap::new(),
        rows: Vec::with_capacity(devices.len()),
        facts: Vec::with_capacity(devices.len()),
        avail: Vec::with_capacity(devices.len()),
    };
    for &d in devices {
        if d.kind.is_parent() {
            g.parents += 1;
            continue;
        }
        let window = p.eligible(d.contract_from, d.contract_to);
        if window.is_empty() {
            g.ineligible.push(d.code);
            continue;
        }
        let mut applies: Vec<usize> = sh.by_device.get(&d.code).cloned().unwrap_or_default();
        let region = d.region();
        applies.extend(
            sh.by_region
                .iter()
                .filter(|(prefix, _)| {
                    region.starts_with(prefix) || d.code.as_str().starts_with(prefix)
                })
                .map(|&(_, k)| k),
        );
        let mut ex = Vec::with_capacity(applies.len());
        for k in applies {
            let iv = Interval::new(exemptions[k].start_at, exemptions[k].end_at);
            let covered = iv.intersect(window).len();
            if covered > 0 {
                g.ex_devices[k] += 1;
                g.ex_secs[k] += covered;
            }
            ex.push(iv);
        }
        let own = sh
            .runs
            .get(&d.code)
            .map_or(&[][..], |&(a, b)| &sh.spans[a..b]);
        if own.is_empty() {
            g.no_data.push(d.code);
        }
        let b = device_breakdown(window, own, &ex, sh.checks, sh.day_ivs).map_err(|e| {
            Error::invalid(format!(
                "{}: the status history is inconsistent, no report can be made from it ({e})",
                d.code
            ))
        })?;
        for (sum, part) in g.daily.iter_mut().zip(&b.parts) {
            sum.hours.add(&part.hours);
            sum.samples.add(&part.samples);
        }
        for (family, secs) in &b.offline_by_cause {
            let e = g.causes.entry(*family).or_default();
            e.0 += secs;
            e.1 += 1;
        }
        let a = b.whole;
        let offline_counted = a.hours.offline
            + if sh.unknown == UnknownTreatment::Offline {
                a.hours.unknown
            } else {
                0
            };
        g.facts.push(DeviceFacts {
            code: d.code,
            eligible_sec: window.len(),
            offline_sec: offline_counted,
            degraded_sec: a.hours.degraded,
            monthly_fee_fen: d.monthly_fee_fen.unwrap_or(0),
            monthly_link_fee_fen: d.monthly_link_fee_fen.unwrap_or(0),
        });
        g.rows.push((d, window, offline_counted));
        g.avail.push(a);
    }
    Ok(g)
}

fn semantics(c: &Contract, p: &Period) -> Vec<String> {
    let mut v = vec![
        format!(
            "Times are stored in UTC; the period and days are taken in {} ({} to {}).",
            p.tz_name,
            p.local(p.start_at),
            p.local(p.end_at)
        ),
        "A device is eligible from 00:00 of its in-contract-from date to 24:00 of its in-contract-to date (open-ended when empty), within the period. NVRs, encoders and platforms are not points.".into(),
        "Online hours include degraded hours (online with a faulty picture); the intact rate counts only online hours with a normal picture.".into(),
        "Exempt time is removed from the numerator and the denominator; overlapping exemptions count once.".into(),
        match c.unknown {
            UnknownTreatment::Exclude => "Unknown time (no observation, monitor down) is excluded from the denominator and reported.".into(),
            UnknownTreatment::Online => "Unknown time (no observation, monitor down) counts as online, and is reported.".into(),
            UnknownTreatment::Offline => "Unknown time (no observation, monitor down) counts as offline, also for offline-hour limits, and is reported.".into(),
        },
    ];
    v.push(match c.method {
        Method::TimeWeighted => "Online rate (time_weighted) = online hours / (eligible − exempt − excluded unknown hours), summed over devices.".into(),
        Method::Sampled => format!(
            "Online rate (sampled) = share of devices online at the daily check times {} over all samples of the period; a sample is skipped for an exempt or excluded-unknown device.",
            c.check_times.join(", ")
        ),
    });
    v.push("Work orders are those opened within the period, with their figures as the orders stand when the report is made, not as they stood at the period's end: an order opened in the period and closed after it counts as closed.".into());
    v.push("Response time runs from opening to the contractor's response; repair time from opening to the repair report that stood (awaiting review, or closed as repaired). Both are clock minutes, as a mean and a nearest-rank 90th percentile, rounded to 0.01 minute.".into());
    v.push("A work-order deadline is met when the response (repair) came at or before it, and missed when it came later or the deadline had passed with none when the report was made; deadlines not yet passed, orders closed before a deadline with nothing owed, and orders without deadlines count neither way. SLA % = met / (met + missed). An order is overdue when either deadline was missed.".into());
    if c.sla.iter().any(|l| l.penalty.is_some()) {
        v.push("SLA deductions (sla_late_response, sla_late_repair) are made per missed deadline of a work order opened in the period, at its level's price; a repair's price is the highest step its lateness reached (clock time from the repair deadline to the repair that stood, or to the report while none has), else the flat price.".into());
    } else {
        v.push("The contract prices no SLA level: the work-order figures are reported only, with no deduction.".into());
    }
    v.push("Money is in yuan; each deduction line is computed exactly and rounded once to 0.01, half away from zero; the total is the sum of the lines. Fee bases prorate each device's monthly fee by its eligible share of the period.".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::cause::Cause;
    use camwatch_core::history::{ExemptionReason, Status};
    use camwatch_core::outcome::FailureKind;

    /// Counting two halves and merging them gives what counting the whole gives, wherever the
    /// split falls: devices of every kind (parents, out of contract, no history, exempt by
    /// device and by region, offline with causes).
    #[test]
    fn halves_merge_to_the_whole() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let p = Period::month("2026-02".parse().unwrap(), tz, "Asia/Shanghai");
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut devices = Vec::new();
        let mut spans = Vec::new();
        for i in 0..60u32 {
            let ty = if i % 13 == 0 { "118" } else { "132" };
            let region = ["340104", "340111"][i as usize % 2];
            let code: DeviceCode = format!("{region}0000{ty}{i:07}").parse().unwrap();
            let mut d = Device::new(code, format!("D{i}"));
            d.civil_code = Some(region.into());
            if i % 7 == 3 {
                d.contract_to = Some("2026-01-31".parse().unwrap());
            }
            if i % 5 == 2 {
                d.contract_from = Some("2026-02-10".parse().unwrap());
            }
            devices.push(d);
            if i % 11 == 4 {
                continue; // no history
            }
            let mut t = p.start_at - next(86_400) as i64;
            while t < p.end_at {
                let len = 3_600 + next(5 * 86_400) as i64;
                let status = [
                    Status::Online,
                    Status::Offline,
                    Status::Degraded,
                    Status::Unknown,
                ][next(4) as usize];
                spans.push(StatusSpan {
                    device: code,
                    status,
                    start_at: t,
                    end_at: t + len,
                    cause: match (status, next(3)) {
                        (Status::Offline, 0) => None,
                        (Status::Offline, 1) => {
                            Some(Cause::Failure(FailureKind::ConnectionRefused))
                        }
                        (Status::Offline, _) => Some(Cause::NoMedia),
                        _ => None,
                    },
                });
                t += len + next(2) as i64 * 600;
            }
        }
        devices.sort_by_key(|d| d.code);
        spans.sort_by_key(|s| (s.device, s.start_at));
        let exemptions = [
            Exemption {
                id: 1,
                scope: ExemptionScope::Device(devices[8].code),
                reason: ExemptionReason::PlannedWorks,
                start_at: p.start_at + 86_400,
                end_at: p.start_at + 5 * 86_400,
                note: String::new(),
                approved_by: "x".into(),
            },
            Exemption {
                id: 2,
                scope: ExemptionScope::RegionPrefix("340111".into()),
                reason: ExemptionReason::PlannedWorks,
                start_at: p.start_at + 10 * 86_400,
                end_at: p.start_at + 11 * 86_400,
                note: String::new(),
                approved_by: "x".into(),
            },
        ];
        let ex: Vec<&Exemption> = exemptions.iter().collect();
        let mut by_device: HashMap<DeviceCode, Vec<usize>> = HashMap::new();
        by_device.insert(devices[8].code, vec![0]);
        let by_region = [("340111", 1usize)];
        let mut runs = HashMap::new();
        let mut i = 0;
        while i < spans.len() {
            let j = i + spans[i..]
                .iter()
                .take_while(|s| s.device == spans[i].device)
                .count();
            runs.insert(spans[i].device, (i, j));
            i = j;
        }
        let checks = p.check_instants(&[(10, 0), (20, 0)]);
        let day_ivs: Vec<Interval> = p.days().iter().map(|(_, iv)| *iv).collect();
        for unknown in [UnknownTreatment::Exclude, UnknownTreatment::Offline] {
            let sh = Shared {
                period: &p,
                unknown,
                by_device: &by_device,
                by_region: &by_region,
                exemptions: &ex,
                runs: &runs,
                spans: &spans,
                checks: &checks,
                day_ivs: &day_ivs,
            };
            let refs: Vec<&Device> = devices.iter().collect();
            let whole = gather(&sh, &refs).unwrap();
            assert!(whole.causes.len() >= 2 && whole.parents > 0 && !whole.no_data.is_empty());
            for split in 0..=refs.len() {
                let mut a = gather(&sh, &refs[..split]).unwrap();
                a.merge(gather(&sh, &refs[split..]).unwrap());
                assert_eq!(a, whole, "split at {split}");
            }
        }
    }
}
