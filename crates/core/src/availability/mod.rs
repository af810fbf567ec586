//! Availability: per-device hours by status, outages, and online / intact rates over a period,
//! from status spans, exemptions and each device's eligibility. Pure: no I/O, no clock.
//!
//! Semantics (the monthly report states them):
//! - Time a device is not eligible (outside its in-contract dates) does not exist for it.
//! - Exempt time (exemptions for the device or its region) is removed from every figure but
//!   `exempt`: it is neither online nor offline and is not in any denominator.
//! - Eligible, non-exempt time not covered by an online/degraded/offline span is `unknown`
//!   (monitor gaps, no data). How unknown counts is the contract's `UnknownTreatment`.
//! - `online` in rates means online + degraded (streaming); `intact` means online only.
//! - Everything is integer seconds; a rate is a ratio of integer sums, computed once at the end.

pub mod interval;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::history::{Status, StatusSpan};
pub use interval::Interval;
use interval::{overlap, union};

/// How time with no trustworthy observation counts in rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownTreatment {
    /// Removed from the denominator (default): the contractor is judged on what was observed.
    #[default]
    Exclude,
    /// Counted as online.
    Online,
    /// Counted as offline (in the denominator, not in the numerator).
    Offline,
}

impl UnknownTreatment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exclude => "exclude",
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }
}

impl FromStr for UnknownTreatment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exclude" => Ok(Self::Exclude),
            "online" => Ok(Self::Online),
            "offline" => Ok(Self::Offline),
            o => Err(format!(
                "unknown treatment {o:?} (expected exclude, online or offline)"
            )),
        }
    }
}

/// A device's seconds by status over its eligible window, exempt time taken out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    /// Eligible seconds (in contract, within the period), exempt time included.
    pub eligible: i64,
    pub exempt: i64,
    pub online: i64,
    pub degraded: i64,
    pub offline: i64,
    pub unknown: i64,
}

impl Hours {
    pub fn add(&mut self, o: &Hours) {
        self.eligible += o.eligible;
        self.exempt += o.exempt;
        self.online += o.online;
        self.degraded += o.degraded;
        self.offline += o.offline;
        self.unknown += o.unknown;
    }
    /// Rate numerator and denominator for "online" (online + degraded).
    pub fn online_ratio(&self, t: UnknownTreatment) -> (i64, i64) {
        let base = self.eligible - self.exempt;
        match t {
            UnknownTreatment::Exclude => (self.online + self.degraded, base - self.unknown),
            UnknownTreatment::Online => (self.online + self.degraded + self.unknown, base),
            UnknownTreatment::Offline => (self.online + self.degraded, base),
        }
    }
    /// Rate numerator and denominator for "intact" (online with a normal picture).
    pub fn intact_ratio(&self, t: UnknownTreatment) -> (i64, i64) {
        let (_, den) = self.online_ratio(t);
        let num = match t {
            UnknownTreatment::Online => self.online + self.unknown,
            _ => self.online,
        };
        (num, den)
    }
}

/// Samples of a device's status at the contract's daily check times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples {
    pub online: u64,
    pub degraded: u64,
    pub offline: u64,
    pub unknown: u64,
    /// Check times that fell in exempt time (skipped).
    pub exempt: u64,
}

impl Samples {
    pub fn add(&mut self, o: &Samples) {
        self.online += o.online;
        self.degraded += o.degraded;
        self.offline += o.offline;
        self.unknown += o.unknown;
        self.exempt += o.exempt;
    }
    pub fn online_ratio(&self, t: UnknownTreatment) -> (u64, u64) {
        let seen = self.online + self.degraded + self.offline;
        match t {
            UnknownTreatment::Exclude => (self.online + self.degraded, seen),
            UnknownTreatment::Online => (
                self.online + self.degraded + self.unknown,
                seen + self.unknown,
            ),
            UnknownTreatment::Offline => (self.online + self.degraded, seen + self.unknown),
        }
    }
    pub fn intact_ratio(&self, t: UnknownTreatment) -> (u64, u64) {
        let (_, den) = self.online_ratio(t);
        let num = match t {
            UnknownTreatment::Online => self.online + self.unknown,
            _ => self.online,
        };
        (num, den)
    }
}

/// Everything computed for one device over one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAvailability {
    pub hours: Hours,
    pub samples: Samples,
    /// Offline runs with non-exempt time in the window (adjacent offline spans are one run).
    pub outages: u32,
    /// Non-exempt seconds of the longest offline run.
    pub longest_outage: i64,
}

/// Spans of one device overlap: the history is inconsistent and no number can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "device {device}: {first_status} span [{first_start}, {first_end}) overlaps {second_status} span starting {second_start}"
)]
pub struct OverlapError {
    pub device: String,
    pub first_status: Status,
    pub first_start: i64,
    pub first_end: i64,
    pub second_status: Status,
    pub second_start: i64,
}

/// Computes one device's availability over `window` (its eligible part of the period).
/// `spans` are the device's spans in any order; `exempt` its exemption intervals, any order.
/// `check_times` are the period's sample instants (sorted).
pub fn device_availability(
    window: Interval,
    spans: &[StatusSpan],
    exempt: &[Interval],
    check_times: &[i64],
) -> Result<DeviceAvailability, OverlapError> {
    Ok(device_breakdown(window, spans, exempt, check_times, &[])?.whole)
}

/// One day's (or any part's) hours and samples of a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Part {
    pub hours: Hours,
    pub samples: Samples,
}

/// A device's availability over its window, and the same figures split for charts and "by
/// cause" tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub whole: DeviceAvailability,
    /// One entry per part asked for (e.g. each local day of the period), each counted over the
    /// part's intersection with the window: time outside every part is in `whole` only, so the
    /// parts sum to `whole` exactly when they tile the window.
    pub parts: Vec<Part>,
    /// Non-exempt offline seconds by the offline span's [`Cause::family`](crate::cause::Cause::family)
    /// (`None`: a span recorded with no cause), in order of first appearance.
    pub offline_by_cause: Vec<(Option<&'static str>, i64)>,
}

/// [`device_availability`], and the same counting within each of `parts` (sorted, disjoint),
/// and the offline time by cause.
pub fn device_breakdown(
    window: Interval,
    spans: &[StatusSpan],
    exempt: &[Interval],
    check_times: &[i64],
    parts: &[Interval],
) -> Result<Breakdown, OverlapError> {
    let mut out = Breakdown::default();
    if window.is_empty() {
        out.parts = vec![Part::default(); parts.len()];
        return Ok(out);
    }
    let mut sorted: Vec<&StatusSpan> = spans.iter().filter(|s| s.end_at > s.start_at).collect();
    sorted.sort_unstable_by_key(|s| (s.start_at, s.end_at));
    for w in sorted.windows(2) {
        if w[1].start_at < w[0].end_at {
            return Err(OverlapError {
                device: w[0].device.to_string(),
                first_status: w[0].status,
                first_start: w[0].start_at,
                first_end: w[0].end_at,
                second_status: w[1].status,
                second_start: w[1].start_at,
            });
        }
    }
    let ex = union(exempt.iter().map(|e| e.intersect(window)).collect());

    // The current offline run: (its end, its non-exempt seconds).
    let mut run: Option<(i64, i64)> = None;
    let (mut outages, mut longest) = (0u32, 0i64);
    for s in &sorted {
        let counted = counted(s, window, &ex);
        if s.status == Status::Offline {
            let family = s.cause.as_ref().map(crate::cause::Cause::family);
            match out.offline_by_cause.iter_mut().find(|(f, _)| *f == family) {
                Some((_, secs)) => *secs += counted,
                None if counted > 0 => out.offline_by_cause.push((family, counted)),
                None => {}
            }
            match &mut run {
                Some((end, secs)) if *end == s.start_at => {
                    *end = s.end_at;
                    *secs += counted;
                }
                _ => {
                    close_run(run.take(), &mut outages, &mut longest);
                    run = Some((s.end_at, counted));
                }
            }
        } else {
            close_run(run.take(), &mut outages, &mut longest);
        }
    }
    close_run(run.take(), &mut outages, &mut longest);
    // The parts are sorted and disjoint: one walk over them moves two cursors forward, the
    // first span not ending before the part and the first check time in it (a report counts
    // 31 days of 300,000 devices, and searching afresh for each was most of that).
    let (mut k, mut c, mut last_start) = (0, 0, i64::MIN);
    out.parts = parts
        .iter()
        .map(|&p| {
            let w = window.intersect(p);
            if w.is_empty() {
                return Part::default();
            }
            if w.start < last_start {
                // Not in order after all: search from the beginning again.
                (k, c) = (0, 0);
            }
            last_start = w.start;
            while k < sorted.len() && sorted[k].end_at <= w.start {
                k += 1;
            }
            while c < check_times.len() && check_times[c] < w.start {
                c += 1;
            }
            let mut e = c;
            while e < check_times.len() && check_times[e] < w.end {
                e += 1;
            }
            Part {
                hours: hours_from(w, &sorted[k..], &ex),
                samples: samples_from(w, &sorted[k..], &ex, &check_times[c..e]),
            }
        })
        .collect();
    // Parts that tile the window (the days of a period do) sum to the whole exactly: every
    // figure is a count of seconds or samples inside it. Only otherwise is it counted again.
    let tiled: i64 = parts.iter().map(|&p| window.intersect(p).len()).sum();
    let (hours, samples) = if !parts.is_empty() && tiled == window.len() {
        out.parts.iter().fold(
            (Hours::default(), Samples::default()),
            |(mut h, mut s), p| {
                h.add(&p.hours);
                s.add(&p.samples);
                (h, s)
            },
        )
    } else {
        (
            hours_in(window, &sorted, &ex),
            samples_in(window, &sorted, &ex, check_times),
        )
    };
    out.whole = DeviceAvailability {
        hours,
        samples,
        outages,
        longest_outage: longest,
    };
    Ok(out)
}

/// A span's non-exempt seconds inside `window` (`ex`: the window's exempt time, a union).
fn counted(s: &StatusSpan, window: Interval, ex: &[Interval]) -> i64 {
    let clipped = Interval::new(s.start_at, s.end_at).intersect(window);
    if clipped.is_empty() {
        0
    } else {
        clipped.len() - overlap(clipped, ex)
    }
}

/// Hours by status inside `window` (non-empty): `sorted` are the device's spans sorted and
/// disjoint, `ex` the exempt time (a union, clipped to the device's whole window).
fn hours_in(window: Interval, sorted: &[&StatusSpan], ex: &[Interval]) -> Hours {
    // Disjoint spans sorted by start are sorted by end too: skip those ending before the window.
    let first = sorted.partition_point(|s| s.end_at <= window.start);
    hours_from(window, &sorted[first..], ex)
}

/// [`hours_in`] of spans none of which ends before `window`.
fn hours_from(window: Interval, sorted: &[&StatusSpan], ex: &[Interval]) -> Hours {
    let mut h = Hours {
        eligible: window.len(),
        exempt: ex.iter().map(|e| e.intersect(window).len()).sum(),
        ..Hours::default()
    };
    for s in sorted.iter().take_while(|s| s.start_at < window.end) {
        let c = counted(s, window, ex);
        match s.status {
            Status::Online => h.online += c,
            Status::Degraded => h.degraded += c,
            Status::Offline => h.offline += c,
            Status::Unknown => {}
        }
    }
    h.unknown = h.eligible - h.exempt - h.online - h.degraded - h.offline;
    h
}

/// Samples at the `check_times` (sorted) inside `window`.
fn samples_in(
    window: Interval,
    sorted: &[&StatusSpan],
    ex: &[Interval],
    check_times: &[i64],
) -> Samples {
    // From the first span that can hold one of the window's instants.
    let first = sorted.partition_point(|s| s.end_at <= window.start);
    samples_from(window, &sorted[first..], ex, check_times)
}

/// [`samples_in`] of spans none of which ends before `window`.
fn samples_from(
    window: Interval,
    sorted: &[&StatusSpan],
    ex: &[Interval],
    check_times: &[i64],
) -> Samples {
    let mut out = Samples::default();
    // Walk check times and spans together (both sorted).
    let mut i = 0;
    for &t in check_times {
        if !window.contains(t) {
            continue;
        }
        if ex.iter().any(|e| e.contains(t)) {
            out.exempt += 1;
            continue;
        }
        while i < sorted.len() && sorted[i].end_at <= t {
            i += 1;
        }
        let status = sorted
            .get(i)
            .filter(|s| s.start_at <= t)
            .map_or(Status::Unknown, |s| s.status);
        match status {
            Status::Online => out.online += 1,
            Status::Degraded => out.degraded += 1,
            Status::Offline => out.offline += 1,
            Status::Unknown => out.unknown += 1,
        }
    }
    out
}

/// Counts a finished offline run that had non-exempt time.
fn close_run(run: Option<(i64, i64)>, outages: &mut u32, longest: &mut i64) {
    if let Some((_, secs)) = run
        && secs > 0
    {
        *outages += 1;
        *longest = (*longest).max(secs);
    }
}

/// A ratio as a rate in [0, 1], `None` when nothing was counted.
pub fn rate(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests;
