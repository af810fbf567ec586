//! The period a report covers, taken in the contract's time zone: a calendar month
//! (`2026-10` = 1 October 00:00 to 1 November 00:00 local), or any `[from, to)` (the demo's
//! run). Also where a device's in-contract dates become an eligible window and where the
//! contract's daily check times become instants.
//!
//! Months and days are civil: in a zone with daylight saving a day may last 23 or 25 hours and
//! a month's hours differ from 24 × days. Check times that fall in a DST gap are taken at the
//! first valid instant after the gap; ambiguous ones at their first occurrence (jiff's
//! "compatible" disambiguation, the same rule RFC 5545 uses).

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use camwatch_core::availability::Interval;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("month {s:?} is not YYYY-MM (e.g. 2026-10)");
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Month {
    pub fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).expect("validated month")
    }
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

/// The time a report covers, `[start_at, end_at)` in Unix seconds, with its zone and label.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// "2026-10" for a month; "from/to" in RFC 3339 otherwise.
    pub label: String,
    pub tz: TimeZone,
    pub tz_name: String,
    pub start_at: i64,
    pub end_at: i64,
}

/// Local midnight at the start of `d` in `tz` (the first instant of that civil day).
pub fn day_start(d: Date, tz: &TimeZone) -> i64 {
    // `to_zoned` resolves a midnight that falls in a DST gap to the first valid instant.
    d.to_datetime(Time::midnight())
        .to_zoned_datetime(tz.clone())
        .expect("dates in range")
        .timestamp()
        .as_second()
}

impl Period {
    pub fn month(m: Month, tz: TimeZone, tz_name: &str) -> Self {
        Self {
            label: m.to_string(),
            start_at: day_start(m.first_day(), &tz),
            end_at: day_start(m.next().first_day(), &tz),
            tz,
            tz_name: tz_name.to_string(),
        }
    }

    /// Any `[start_at, end_at)`, e.g. the span of a demo run.
    pub fn between(start_at: i64, end_at: i64, tz: TimeZone, tz_name: &str) -> Self {
        let mut p = Self {
            label: String::new(),
            tz,
            tz_name: tz_name.to_string(),
            start_at,
            end_at: end_at.max(start_at),
        };
        p.label = format!("{}/{}", p.local(p.start_at), p.local(p.end_at));
        p
    }

    pub fn interval(&self) -> Interval {
        Interval::new(self.start_at, self.end_at)
    }

    pub fn len(&self) -> i64 {
        self.end_at - self.start_at
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// RFC 3339 with the zone's offset at that instant, e.g. `2026-10-01T00:00:00+08:00`.
    pub fn local(&self, at: i64) -> String {
        let ts = Timestamp::from_second(at).expect("timestamp in range");
        let z = ts.to_zoned_datetime(self.tz.clone());
        format!(
            "{}{}",
            z.datetime().strftime("%Y-%m-%dT%H:%M:%S"),
            z.strftime("%:z")
        )
    }

    /// A device's eligible window: 00:00 of `from` until 24:00 of `to` (both local, open-ended
    /// when absent), intersected with the period.
    pub fn eligible(&self, from: Option<Date>, to: Option<Date>) -> Interval {
        let start = from.map_or(i64::MIN, |d| day_start(d, &self.tz));
        let end = to.map_or(i64::MAX, |d| {
            day_start(d.checked_add(1.day()).expect("date in range"), &self.tz)
        });
        Interval::new(start, end).intersect(self.interval())
    }

    /// The period's local civil days, each clipped to the period, in order: `(date, interval)`.
    /// They tile the period exactly (a DST day is 23 or 25 hours long).
    pub fn days(&self) -> Vec<(Date, Interval)> {
        let mut out = Vec::new();
        if self.is_empty() {
            return out;
        }
        let mut day = Timestamp::from_second(self.start_at)
            .expect("in range")
            .to_zoned_datetime(self.tz.clone())
            .date();
        // Bounded: one turn per civil day of the period.
        while day_start(day, &self.tz) < self.end_at {
            let next = day.checked_add(1.day()).expect("date in range");
            let iv = Interval::new(day_start(day, &self.tz), day_start(next, &self.tz))
                .intersect(self.interval());
            if !iv.is_empty() {
                out.push((day, iv));
            }
            day = next;
        }
        out
    }

    /// Every instant in the period at which a daily check time `(hour, minute)` falls, sorted.
    pub fn check_instants(&self, times: &[(i8, i8)]) -> Vec<i64> {
        let mut out = Vec::new();
        let first = Timestamp::from_second(self.start_at)
            .expect("in range")
            .to_zoned_datetime(self.tz.clone())
            .date();
        let mut day = first;
        loop {
            if day_start(day, &self.tz) >= self.end_at {
                break;
            }
            for &(h, m) in times {
                let at = DateTime::from_parts(day, Time::new(h, m, 0, 0).expect("validated"))
                    .to_zoned_datetime(self.tz.clone())
                    .expect("in range")
                    .timestamp()
                    .as_second();
                if self.start_at <= at && at < self.end_at {
                    out.push(at);
                }
            }
            day = day.checked_add(1.day()).expect("date in range");
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    #[test]
    fn october_in_shanghai() {
        let p = Period::month("2026-10".parse().unwrap(), shanghai(), "Asia/Shanghai");
        assert_eq!(p.len(), 31 * 86_400);
        assert_eq!(p.local(p.start_at), "2026-10-01T00:00:00+08:00");
        // 2026-09-30T16:00:00Z
        assert_eq!(p.start_at, 1_790_784_000);
        assert_eq!(p.check_instants(&[(9, 0), (15, 0), (21, 0)]).len(), 93);
    }

    #[test]
    fn bad_months() {
        for s in ["2026-13", "2026-1", "26-10", "2026/10", "", "2026-00"] {
            assert!(s.parse::<Month>().is_err(), "{s}");
        }
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
    }

    #[test]
    fn dst_months_are_civil() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // March 2026 loses an hour (29 March), October gains one (25 October).
        let mar = Period::month("2026-03".parse().unwrap(), tz.clone(), "Europe/Berlin");
        assert_eq!(mar.len(), 31 * 86_400 - 3600);
        let oct = Period::month("2026-10".parse().unwrap(), tz.clone(), "Europe/Berlin");
        assert_eq!(oct.len(), 31 * 86_400 + 3600);
        // 02:30 does not exist on 29 March: one check per day all the same.
        assert_eq!(mar.check_instants(&[(2, 30)]).len(), 31);
        assert_eq!(oct.check_instants(&[(2, 30)]).len(), 31);
    }

    #[test]
    fn days_tile_the_period() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let mar = Period::month("2026-03".parse().unwrap(), tz.clone(), "Europe/Berlin");
        let days = mar.days();
        assert_eq!(days.len(), 31);
        assert_eq!(days[0].0.to_string(), "2026-03-01");
        assert_eq!(days[28].1.len(), 23 * 3600, "29 March loses an hour");
        assert_eq!(days.iter().map(|(_, iv)| iv.len()).sum::<i64>(), mar.len());
        for w in days.windows(2) {
            assert_eq!(w[0].1.end, w[1].1.start);
        }
        // Any [from, to): the first and last days are clipped.
        let p = Period::between(
            mar.start_at + 3600,
            mar.start_at + 2 * 86_400 + 60,
            tz,
            "Europe/Berlin",
        );
        let d = p.days();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].1.len(), 23 * 3600);
        assert_eq!(d[2].1.len(), 60);
    }

    #[test]
    fn eligibility_is_whole_local_days() {
        let p = Period::month("2026-10".parse().unwrap(), shanghai(), "Asia/Shanghai");
        let d = |s: &str| Some(s.parse::<Date>().unwrap());
        let w = p.eligible(d("2026-10-11"), d("2026-10-20"));
        assert_eq!(w.len(), 10 * 86_400);
        assert_eq!(p.local(w.start), "2026-10-11T00:00:00+08:00");
        assert_eq!(p.local(w.end), "2026-10-21T00:00:00+08:00");
        assert_eq!(p.eligible(None, None), p.interval());
        assert!(p.eligible(d("2026-11-01"), None).is_empty());
        assert!(p.eligible(None, d("2026-09-30")).is_empty());
        assert_eq!(p.eligible(None, d("2026-10-01")).len(), 86_400);
    }
}
