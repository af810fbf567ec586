//! The working calendar of a contract, and the arithmetic of SLA limits on it: how many seconds
//! of "clock" or "working" time lie between two instants, and when a limit runs out.
//!
//! Pure: no clock, no I/O. Instants are Unix seconds (UTC); the calendar's days, weekends and
//! hours are civil, in the contract's time zone, and `jiff` does every civil↔instant step.
//!
//! Invariants:
//! - Working time is the set of instants whose local civil time falls in an hour window of a
//!   working day. So a window (or part of one) skipped by a DST gap counts nothing, and an hour
//!   lived twice at a fall-back counts twice: the contractor really was on duty for it.
//! - A date is a working day iff it is a make-up working day (`workdays`), or it is neither a
//!   weekend day nor a holiday.
//! - Pauses (exemptions, waiting for the client) are UTC intervals that may overlap and come in
//!   any order; their union is taken out of whatever time would otherwise count.
//! - `deadline` is the inverse of `counted`: `counted(s, deadline(s, l, p), l.unit, p) == l.secs`
//!   whenever the deadline is finite (checked by property tests).
//!
//! Cost: both walks go one constant-offset piece of the time zone at a time and, inside it, one
//! civil day at a time; never second by second. A deadline looks at most [`HORIZON_DAYS`] ahead.
//!
//! Must not: read the wall clock, or know about work orders (that is the caller's state machine).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

/// How far ahead [`WorkCalendar::deadline`] looks: a limit not reached within this many days
/// of the start (all working time paused, a calendar without working days, an absurd limit)
/// gives the deadline `i64::MAX`, "never". About ten years.
pub const HORIZON_DAYS: i64 = 3660;

const DAY: i64 = 86_400;

/// Which time a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum TimeUnit {
    /// Every second, day and night, holidays included.
    Clock,
    /// Only seconds inside the hour windows of working days.
    Working,
}
crate::text_enum!(TimeUnit, "time unit");

/// A response or repair limit in seconds of `unit` time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaLimit {
    pub unit: TimeUnit,
    pub secs: i64,
}

/// The `[calendar]` section as written in the contract file. Checked and turned into a
/// [`WorkCalendar`] by [`WorkCalendar::from_spec`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Days of the week off, `mon`…`sun`; `sat` and `sun` when left out.
    pub weekend: Option<Vec<String>>,
    /// Days off: `YYYY-MM-DD` or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Make-up working days (调休) on weekend days: `YYYY-MM-DD`.
    #[serde(default)]
    pub workdays: Vec<String>,
    /// Working hours of a working day, `HH:MM-HH:MM`, in order; the whole day when left out.
    pub hours: Option<Vec<String>>,
}

/// Days of the week as written in `weekend`; the order is jiff's Monday-zero offset.
#[derive(Debug, Clone, Copy, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Which days are worked and at what hours, in one time zone.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkCalendar {
    tz: TimeZone,
    /// Indexed by `Weekday::to_monday_zero_offset`.
    weekend: [bool; 7],
    /// Inclusive date ranges, sorted and merged (disjoint, not adjacent).
    holidays: Vec<(Date, Date)>,
    workdays: BTreeSet<Date>,
    /// Seconds from local midnight, `[start, end)`, sorted and disjoint; never empty: the whole
    /// day is `[(0, 86400)]`.
    windows: Vec<(i64, i64)>,
}

impl WorkCalendar {
    /// Every day is a working day, all day: working time is clock time.
    pub fn always(tz: TimeZone) -> Self {
        Self {
            tz,
            weekend: [false; 7],
            holidays: Vec::new(),
            workdays: BTreeSet::new(),
            windows: vec![(0, DAY)],
        }
    }

    /// Checks `spec` and builds the calendar. Errors name the field (`calendar.hours`) and the
    /// value at fault.
    pub fn from_spec(spec: &CalendarSpec, tz: TimeZone) -> Result<Self, String> {
        let mut weekend = [false; 7];
        match &spec.weekend {
            None => {
                weekend[Day::Sat as usize] = true;
                weekend[Day::Sun as usize] = true;
            }
            Some(days) => {
                for d in days {
                    let d: Day = crate::text::parse(&d.to_ascii_lowercase(), "day")
                        .map_err(|e| format!("calendar.weekend: {e}"))?;
                    weekend[d as usize] = true;
                }
            }
        }

        let mut holidays = Vec::with_capacity(spec.holidays.len());
        for h in &spec.holidays {
            let field = |e: String| format!("calendar.holidays: {e}");
            let (a, b) = match h.split_once("..") {
                Some((a, b)) => (parse_date(a).map_err(field)?, parse_date(b).map_err(field)?),
                None => {
                    let d = parse_date(h).map_err(field)?;
                    (d, d)
                }
            };
            if b < a {
                return Err(field(format!("{h:?} ends before it starts")));
            }
            holidays.push((a, b));
        }
        holidays.sort();
        let mut merged: Vec<(Date, Date)> = Vec::with_capacity(holidays.len());
        for (a, b) in holidays {
            match merged.last_mut() {
                // Overlapping or back to back: one range.
                Some(last) if last.1 >= a || last.1.tomorrow().is_ok_and(|n| n == a) => {
                    last.1 = last.1.max(b)
                }
                _ => merged.push((a, b)),
            }
        }

        let windows = match &spec.hours {
            None => vec![(0, DAY)],
            Some(hours) if hours.is_empty() => {
                return Err(
                    "calendar.hours: no working hours given; leave `hours` out for the whole day"
                        .into(),
                );
            }
            Some(hours) => {
                let mut out: Vec<(i64, i64)> = Vec::with_capacity(hours.len());
                for (i, h) in hours.iter().enumerate() {
                    let w = parse_window(h).map_err(|e| format!("calendar.hours: {e}"))?;
                    if let Some(prev) = out.last() {
                        if w.0 < prev.1 && w.1 > prev.0 {
                            return Err(format!(
                                "calendar.hours: {:?} and {h:?} overlap",
                                hours[i - 1]
                            ));
                        }
                        if w.0 < prev.1 {
                            return Err(format!(
                                "calendar.hours: {h:?} comes before {:?}; list the hours in order",
                                hours[i - 1]
                            ));
                        }
                    }
                    out.push(w);
                }
                out
            }
        };

        let mut cal = Self {
            tz,
            weekend,
            holidays: merged,
            workdays: BTreeSet::new(),
            windows,
        };
        for w in &spec.workdays {
            let d = parse_date(w).map_err(|e| format!("calendar.workdays: {e}"))?;
            if cal.is_holiday(d) {
                return Err(format!(
                    "calendar.workdays: {d} is also listed in calendar.holidays"
                ));
            }
            if !cal.is_weekend(d) {
                return Err(format!(
                    "calendar.workdays: {d} is a {:?}, a working day already; \
                     make-up working days fall on the weekend",
                    d.weekday()
                ));
            }
            cal.workdays.insert(d);
        }
        Ok(cal)
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    fn is_weekend(&self, d: Date) -> bool {
        self.weekend[d.weekday().to_monday_zero_offset() as usize]
    }

    fn is_holiday(&self, d: Date) -> bool {
        let i = self.holidays.partition_point(|(a, _)| *a <= d);
        i > 0 && self.holidays[i - 1].1 >= d
    }

    /// Listed in `workdays`, or neither a weekend day nor a holiday.
    pub fn is_working_day(&self, d: Date) -> bool {
        self.workdays.contains(&d) || !(self.is_weekend(d) || self.is_holiday(d))
    }

    /// Nominal length of a working day: the sum of the hour windows, 86,400 when there are
    /// none. A working-days limit is this many working seconds per day (DST ignored).
    pub fn working_day_secs(&self) -> i64 {
        self.windows.iter().map(|(a, b)| b - a).sum()
    }

    /// Seconds of `unit` time in `[from, to)`, minus the pauses (UTC `[start, end)` intervals,
    /// may overlap and be unsorted). 0 when `to <= from`. Working time exists only within
    /// jiff's range of instants (years -9999..=9999). Cost: one step per civil day between
    /// `from` and `to` for `Working`.
    pub fn counted(&self, from: i64, to: i64, unit: TimeUnit, pauses: &[(i64, i64)]) -> i64 {
        if to <= from {
            return 0;
        }
        let pauses = merge(pauses);
        let mut k = 0;
        let mut total: i128 = 0;
        let mut add = |s: i64, e: i64| {
            total += (e as i128 - s as i128) - paused_within(s, e, &pauses, &mut k);
            ControlFlow::Continue(())
        };
        match unit {
            TimeUnit::Clock => {
                let _ = add(from, to);
            }
            TimeUnit::Working => self.working_spans(from, to, add),
        }
        total.clamp(0, i64::MAX as i128) as i64
    }

    /// The first instant `t ≥ start` at which `counted(start, t, limit.unit, pauses)` reaches
    /// `limit.secs`: `start` itself for a limit of 0 seconds (or less), otherwise the end of
    /// the last counted second, so a deadline never lands inside a pause or off hours.
    ///
    /// `i64::MAX` ("never") when the limit is not reached within [`HORIZON_DAYS`] days of
    /// `start`: every working second paused, a calendar with no working day, a limit longer
    /// than the horizon.
    pub fn deadline(&self, start: i64, limit: SlaLimit, pauses: &[(i64, i64)]) -> i64 {
        if limit.secs <= 0 {
            return start;
        }
        let pauses = merge(pauses);
        let end = start.saturating_add(HORIZON_DAYS * DAY);
        let mut remaining = limit.secs;
        let mut k = 0;
        let mut found = i64::MAX;
        let take = |s: i64, e: i64| {
            // Walk the unpaused parts of [s, e) in order.
            let mut cur = s;
            let mut j = k;
            loop {
                while j < pauses.len() && pauses[j].1 <= cur {
                    j += 1;
                }
                let pause = pauses.get(j).filter(|p| p.0 < e);
                let free_end = pause.map_or(e, |p| p.0.max(cur));
                if free_end - cur >= remaining {
                    found = cur + remaining;
                    return ControlFlow::Break(());
                }
                remaining -= free_end - cur;
                match pause {
                    Some(p) if p.1 < e => cur = p.1,
                    _ => break,
                }
            }
            k = j;
            ControlFlow::Continue(())
        };
        match limit.unit {
            TimeUnit::Clock => {
                let mut take = take;
                let _ = take(start, end);
            }
            TimeUnit::Working => self.working_spans(start, end, take),
        }
        found
    }

    /// Calls `f` with the working intervals (UTC `[s, e)`, non-empty, ascending, disjoint)
    /// clipped to `[from, to)`, until `f` breaks.
    ///
    /// The timeline is cut where the zone's offset changes; within a piece local time is UTC
    /// plus one offset, so a window's local bounds map to instants by subtracting it, and what
    /// falls outside the piece (a DST gap, the other side of a fold) is left to its own piece.
    fn working_spans(&self, from: i64, to: i64, mut f: impl FnMut(i64, i64) -> ControlFlow<()>) {
        let mut p0 = from.max(Timestamp::MIN.as_second());
        let to = to.min(Timestamp::MAX.as_second());
        while p0 < to {
            let Ok(ts) = Timestamp::from_second(p0) else {
                return;
            };
            let off = i64::from(self.tz.to_offset(ts).seconds());
            let p1 = self
                .tz
                .following(ts)
                .next()
                .map_or(to, |t| t.timestamp().as_second().clamp(p0 + 1, to));
            let first = (p0 + off).div_euclid(DAY);
            let last = (p1 - 1 + off).div_euclid(DAY);
            let Some(mut date) = date_of_epoch_day(first) else {
                return;
            };
            for day in first..=last {
                if self.is_working_day(date) {
                    for &(ws, we) in &self.windows {
                        let s = (day * DAY + ws - off).max(p0);
                        let e = (day * DAY + we - off).min(p1);
                        if s < e && f(s, e).is_break() {
                            return;
                        }
                    }
                }
                match date.tomorrow() {
                    Ok(d) => date = d,
                    Err(_) => return,
                }
            }
            p0 = p1;
        }
    }
}

/// The civil date `n` days after 1970-01-01.
fn date_of_epoch_day(n: i64) -> Option<Date> {
    jiff::civil::date(1970, 1, 1)
        .checked_add(jiff::Span::new().try_days(n).ok()?)
        .ok()
}

/// `YYYY-MM-DD` exactly (jiff alone would also take a date-time and drop the time).
fn parse_date(s: &str) -> Result<Date, String> {
    let t = s.trim();
    let b = t.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return Err(format!("{s:?} is not a date (YYYY-MM-DD)"));
    }
    t.parse::<Date>()
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// `HH:MM-HH:MM` as seconds from midnight; the end may be `24:00`.
fn parse_window(s: &str) -> Result<(i64, i64), String> {
    let bad = || format!("{s:?} is not a time window (HH:MM-HH:MM)");
    let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
    let hm = |t: &str| -> Result<i64, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let ok = |p: &str| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit());
        if !ok(h) || !ok(m) {
            return Err(bad());
        }
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 || (h == 24 && m > 0) {
            return Err(format!("{s:?}: {t:?} is not a time of day"));
        }
        Ok(h * 3600 + m * 60)
    };
    let (a, b) = (hm(a)?, hm(b)?);
    if a == DAY {
        return Err(format!("{s:?} starts at the end of the day"));
    }
    if b <= a {
        return Err(format!("{s:?} ends before it starts"));
    }
    Ok((a, b))
}

/// The union of `pauses` as sorted, disjoint, non-adjacent `[start, end)` intervals.
fn merge(pauses: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = pauses.iter().copied().filter(|(s, e)| s < e).collect();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Seconds of `[s, e)` inside the merged `pauses`. Spans are asked for in ascending order, so
/// `k` (the first pause that may still meet a span) only moves forward.
fn paused_within(s: i64, e: i64, pauses: &[(i64, i64)], k: &mut usize) -> i128 {
    while *k < pauses.len() && pauses[*k].1 <= s {
        *k += 1;
    }
    pauses[*k..]
        .iter()
        .take_while(|p| p.0 < e)
        .map(|p| p.1.min(e) as i128 - p.0.max(s) as i128)
        .sum()
}

#[cfg(test)]
pub(crate) mod tests;
