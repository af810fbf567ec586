use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::plan::{EPOCH, code_hash};
use super::*;
use crate::calendar::{CalendarSpec, WorkCalendar};
use crate::quality::FaultKind;

fn code(n: u32) -> DeviceCode {
    format!("34020000001320{n:06}").parse().unwrap()
}

fn codes(n: u32) -> Vec<DeviceCode> {
    (0..n).map(code).collect()
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn shanghai() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap()
}

/// Saturdays and Sundays off, nothing else.
fn weekdays() -> WorkCalendar {
    WorkCalendar::from_spec(&CalendarSpec::default(), shanghai()).unwrap()
}

fn china_2026() -> WorkCalendar {
    WorkCalendar::from_spec(
        &toml::from_str(crate::calendar::tests::CHINA_2026).unwrap(),
        shanghai(),
    )
    .unwrap()
}

fn rules(quota: u32, cycle_days: u32) -> PlanRules {
    PlanRules { quota, cycle_days }
}

// ---- text forms ----

#[test]
fn verdicts_and_findings_round_trip() {
    use strum::VariantArray;
    for v in Verdict::VARIANTS {
        assert_eq!(v.as_str().parse::<Verdict>().unwrap(), *v);
    }
    let all = Finding::all();
    assert_eq!(all.len(), FaultKind::VARIANTS.len() + 2);
    for f in &all {
        assert_eq!(f.as_str().parse::<Finding>().unwrap(), *f);
    }
    assert_eq!(
        "blur".parse::<Finding>().unwrap(),
        Finding::Picture(FaultKind::Blur)
    );
    assert_eq!(" no_video ".parse::<Finding>().unwrap(), Finding::NoVideo);
    let e = "smudge".parse::<Finding>().unwrap_err();
    assert!(
        e.starts_with("unknown patrol finding \"smudge\" (expected one of: no_video, signal_loss,"),
        "{e}"
    );
    assert!(e.ends_with(", other)"), "{e}");
    assert!("maybe".parse::<Verdict>().is_err());
}

#[test]
fn a_fault_says_what_and_normal_says_nothing() {
    assert!(check_finding(Verdict::Normal, None).is_ok());
    assert!(check_finding(Verdict::Fault, Some(Finding::Other)).is_ok());
    assert!(check_finding(Verdict::Fault, None).is_err());
    assert!(check_finding(Verdict::Normal, Some(Finding::NoVideo)).is_err());
}

#[test]
fn later_records_supersede_earlier_ones() {
    let r = |id, at| Record {
        id,
        device: code(1),
        day: d("2026-11-10"),
        patroller: "op".into(),
        verdict: Verdict::Normal,
        finding: None,
        note: String::new(),
        work_order: None,
        recorded_at: at,
    };
    assert!(r(1, 20).supersedes(&r(2, 10)));
    assert!(r(2, 10).supersedes(&r(1, 10)));
    assert!(!r(1, 10).supersedes(&r(2, 10)));
    assert!(!r(1, 10).supersedes(&r(1, 10)));
}

// ---- the working-day count ----

#[test]
fn working_days_are_counted_from_the_epoch() {
    let c = weekdays();
    assert_eq!(EPOCH.weekday(), jiff::civil::Weekday::Monday);
    assert_eq!(working_day_index(&c, EPOCH), Some(0));
    assert_eq!(working_day_index(&c, d("2000-01-07")), Some(4)); // Friday
    assert_eq!(working_day_index(&c, d("2000-01-08")), None); // Saturday
    assert_eq!(working_day_index(&c, d("2000-01-10")), Some(5)); // next Monday
    assert_eq!(working_day_index(&c, d("1999-12-31")), Some(-1)); // Friday before
    assert_eq!(working_day_index(&c, d("1999-12-27")), Some(-5));
    // Consecutive working days have consecutive numbers, across weekends and holidays.
    let c = china_2026();
    let mut prev: Option<i64> = None;
    let mut day = d("2026-01-01");
    while day <= d("2026-12-31") {
        if let Some(k) = working_day_index(&c, day) {
            if let Some(p) = prev {
                assert_eq!(k, p + 1, "{day}");
            }
            prev = Some(k);
        }
        day = day.tomorrow().unwrap();
    }
    assert_eq!(working_day_index(&c, d("2026-10-01")), None); // National Day
    assert!(working_day_index(&c, d("2026-10-10")).is_some()); // make-up Saturday
}

// ---- batches ----

#[test]
fn hash_is_pinned() {
    // The plan of every past day depends on these: a change here reshuffles history.
    assert_eq!(code_hash(&code(0)), code_hash(&code(0)));
    assert_ne!(code_hash(&code(0)), code_hash(&code(1)));
    let pinned: Vec<u64> = (0..3).map(|n| code_hash(&code(n))).collect();
    assert_eq!(pinned, PINNED_HASHES);
}

// Computed independently (FNV-1a 64 then splitmix64, in Python) from the codes.
const PINNED_HASHES: [u64; 3] = [
    3_417_881_668_780_588_836,
    3_492_041_172_930_834_757,
    4_819_754_883_372_772_728,
];

#[test]
fn no_fleet_no_batch_and_a_small_fleet_every_day() {
    let p = Plan::new(Vec::new(), rules(200, 20));
    assert!(p.batch(7).is_empty());
    let p = Plan::new(codes(30), rules(200, 20));
    for k in -3..30 {
        assert_eq!(p.batch(k), codes(30), "day {k}");
    }
    assert_eq!(p.required(), 30);
    // Duplicates count once.
    let mut twice = codes(5);
    twice.extend(codes(5));
    assert_eq!(Plan::new(twice, rules(200, 20)).fleet_len(), 5);
}

#[test]
fn the_tender_example_rotates_in_twenty_days() {
    // 4,000 channels, at least 200 a day, each within 20 working days.
    let p = Plan::new(codes(4000), rules(200, 20));
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for k in 100..120 {
        let b = p.batch(k);
        assert!(b.len() >= 200, "day {k}: {}", b.len());
        assert!(b.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        // Its own group is all there.
        for c in codes(4000) {
            if p.group_of(&c) == (k % 20) as u32 {
                assert!(b.binary_search(&c).is_ok(), "{c} missing on day {k}");
            }
        }
        total += b.len();
        seen.extend(b);
    }
    assert_eq!(seen.len(), 4000);
    // Top-ups are few: the hash spreads the fleet evenly.
    assert!(total < 4000 + 20 * 40, "{total}");
    // The same day is the same batch (reproducible), another day another batch.
    assert_eq!(
        p.batch(105),
        Plan::new(codes(4000), rules(200, 20)).batch(105)
    );
    assert_ne!(p.batch(105), p.batch(106));
    // A larger fleet: still 20 days, bigger batches.
    let p = Plan::new(codes(100_000), rules(200, 20));
    let b = p.batch(3);
    assert!((4500..5500).contains(&b.len()), "{}", b.len());
}

#[test]
fn a_small_fleet_is_topped_up_to_the_quota() {
    // 1,000 channels at 200 a day in 20-day rounds: about 50 of the day's own group, the rest
    // topped up, different ones each day.
    let p = Plan::new(codes(1000), rules(200, 20));
    let mut seen = BTreeSet::new();
    for k in 0..5 {
        let b = p.batch(k);
        assert_eq!(b.len(), 200, "day {k}");
        seen.extend(b);
    }
    assert!(seen.len() > 600, "top-ups spread: {}", seen.len());
}

#[test]
fn adding_a_channel_moves_no_other() {
    let before = Plan::new(codes(4000), rules(200, 20));
    let mut more = codes(4000);
    more.push(code(999_999));
    let after = Plan::new(more, rules(200, 20));
    for c in codes(4000) {
        assert_eq!(before.group_of(&c), after.group_of(&c));
    }
    for k in 0..20 {
        let own = |plan: &Plan, b: Vec<DeviceCode>| -> Vec<DeviceCode> {
            b.into_iter()
                .filter(|c| plan.group_of(c) == k as u32 && *c != code(999_999))
                .collect()
        };
        assert_eq!(
            own(&before, before.batch(k)),
            own(&after, after.batch(k)),
            "day {k}"
        );
    }
}

#[test]
fn batches_follow_the_calendar() {
    let c = china_2026();
    let p = Plan::new(codes(500), rules(50, 10));
    assert_eq!(p.batch_on(&c, d("2026-10-01")), None);
    assert_eq!(p.batch_on(&c, d("2026-10-03")), None);
    let k = working_day_index(&c, d("2026-10-10")).unwrap();
    assert_eq!(p.batch_on(&c, d("2026-10-10")), Some(p.batch(k)));
    // The day before the holiday and the first day after it are consecutive plan days.
    let before = working_day_index(&c, d("2026-09-30")).unwrap();
    let after = working_day_index(&c, d("2026-10-08")).unwrap();
    assert_eq!(after, before + 1);
}

// ---- coverage ----

fn rec(id: i64, n: u32, day: &str, who: &str, fault: Option<Finding>, at: i64) -> Record {
    Record {
        id,
        device: code(n),
        day: d(day),
        patroller: who.into(),
        verdict: if fault.is_some() {
            Verdict::Fault
        } else {
            Verdict::Normal
        },
        finding: fault,
        note: format!("note {id}"),
        work_order: fault.map(|_| 100 + id),
        recorded_at: at,
    }
}

#[test]
fn coverage_counts_the_latest_record_per_device_and_day() {
    let c = weekdays();
    // 10 channels, 4 a day, each within 2 working days.
    let p = Plan::new(codes(10), rules(4, 2));
    let (mon, tue, wed) = ("2026-11-09", "2026-11-10", "2026-11-11");
    let b_mon = p.batch_on(&c, d(mon)).unwrap();
    let b_tue = p.batch_on(&c, d(tue)).unwrap();
    let idx = |c: &DeviceCode| c.serial().parse::<u32>().unwrap();
    let mut records = Vec::new();
    let mut id = 0;
    // Monday: the whole batch, by "li", the first one a fault then corrected to normal.
    for c in &b_mon {
        id += 1;
        records.push(rec(id, idx(c), mon, "li", None, 1000 + id));
    }
    id += 1;
    records.push(rec(
        id,
        idx(&b_mon[0]),
        mon,
        "li",
        Some(Finding::Other),
        900,
    )); // earlier: superseded
    // Tuesday: two of the batch by "wang", one a blur fault recorded twice (the latest counts).
    records.push(rec(50, idx(&b_tue[0]), tue, "wang", None, 2000));
    records.push(rec(
        51,
        idx(&b_tue[1]),
        tue,
        "wang",
        Some(Finding::NoVideo),
        2001,
    ));
    records.push(rec(
        52,
        idx(&b_tue[1]),
        tue,
        "wang",
        Some(Finding::Picture(FaultKind::Blur)),
        2002,
    ));
    // A channel outside the fleet (removed since), on Wednesday by "li".
    records.push(rec(60, 777, wed, "li", Some(Finding::Other), 3000));
    // Outside the period: ignored.
    records.push(rec(70, 1, "2026-11-20", "li", None, 4000));

    let cov = coverage(&p, &c, d(mon), d("2026-11-13"), d(wed), &records);
    assert_eq!(cov.fleet, 10);
    assert_eq!(cov.required_per_day, 4);
    assert_eq!(cov.working_days, 3, "Mon-Wed: Wednesday is today");
    assert_eq!(
        cov.planned_visits,
        (b_mon.len() + b_tue.len() + p.batch_on(&c, d(wed)).unwrap().len()) as u64
    );
    assert_eq!(cov.planned_channels, 10);
    assert_eq!(cov.patrolled_visits, b_mon.len() as u64 + 2 + 1);
    let mut seen: BTreeSet<DeviceCode> = b_mon.iter().copied().collect();
    seen.extend([b_tue[0], b_tue[1]]);
    assert_eq!(cov.patrolled_channels, seen.len() as u64);
    assert_eq!(cov.planned_done, b_mon.len() as u64 + 2);
    assert_eq!(cov.coverage, Some(seen.len() as f64 / 10.0));
    assert_eq!(cov.faults, 2, "the Tuesday blur and the Wednesday other");
    // Monday met, Tuesday missed (2 < 4), Wednesday today: 1 < 4, still in progress.
    assert_eq!(cov.quota_missed_days, vec![d(tue)]);
    assert_eq!(cov.days[0].met_quota, Some(true));
    assert_eq!(cov.days[1].met_quota, Some(false));
    assert_eq!(cov.days[2].met_quota, None);
    assert_eq!(cov.days[1].faults, 1);
    assert_eq!(cov.days[2].patrolled, 1);
    assert_eq!(cov.findings.len(), 2);
    assert_eq!(cov.findings[0].finding, Finding::Picture(FaultKind::Blur));
    assert_eq!(cov.findings[0].work_order, Some(152));
    assert_eq!(cov.findings[0].day, d(tue));
    assert_eq!(cov.findings[1].device, code(777));
    assert_eq!(
        cov.patrollers,
        vec![
            PatrollerFigures {
                patroller: "li".into(),
                records: b_mon.len() as u64 + 1,
                channels: b_mon.len() as u64 + 1,
                faults: 1,
                days: 2,
            },
            PatrollerFigures {
                patroller: "wang".into(),
                records: 2,
                channels: 2,
                faults: 1,
                days: 1,
            },
        ]
    );
    // Today once met is judged met.
    let mut more = records.clone();
    for (i, c) in p.batch_on(&c, d(wed)).unwrap().iter().enumerate() {
        more.push(rec(200 + i as i64, idx(c), wed, "li", None, 5000));
    }
    let cov = coverage(&p, &c, d(mon), d("2026-11-13"), d(wed), &more);
    assert_eq!(cov.days[2].met_quota, Some(true));
    seen.extend(p.batch_on(&c, d(wed)).unwrap());
    assert_eq!(cov.patrolled_channels, seen.len() as u64);
    assert_eq!(cov.coverage, Some(seen.len() as f64 / 10.0));
    assert!(cov.quota_missed_days == vec![d(tue)]);
}

#[test]
fn coverage_of_no_fleet_and_no_records() {
    let c = weekdays();
    let p = Plan::new(Vec::new(), rules(200, 20));
    let cov = coverage(
        &p,
        &c,
        d("2026-11-01"),
        d("2026-11-30"),
        d("2026-12-01"),
        &[],
    );
    assert_eq!(cov.fleet, 0);
    assert_eq!(cov.coverage, None);
    assert_eq!(cov.plan_completion, None);
    assert_eq!(cov.working_days, 21);
    assert!(
        cov.quota_missed_days.is_empty(),
        "a quota of 0 channels is always met"
    );
    let p = Plan::new(codes(5), rules(200, 20));
    let cov = coverage(
        &p,
        &c,
        d("2026-11-01"),
        d("2026-11-30"),
        d("2026-12-01"),
        &[],
    );
    assert_eq!(cov.coverage, Some(0.0));
    assert_eq!(cov.quota_missed_days.len(), 21);
    assert_eq!(cov.planned_visits, 21 * 5);
}

// ---- properties ----

fn fleet_strategy() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..1_000_000, 0..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every channel is in some batch of any `cycle_days` consecutive working days; every
    /// batch holds at least min(quota, n); no working day is empty while there is a fleet.
    #[test]
    fn every_channel_within_any_cycle_window(
        fleet in fleet_strategy(),
        quota in 1u32..60,
        cycle in 1u32..25,
        start in -5000i64..5000,
    ) {
        let fleet: Vec<DeviceCode> = fleet.into_iter().map(code).collect();
        let p = Plan::new(fleet.clone(), rules(quota, cycle));
        let n = p.fleet_len();
        let mut seen = BTreeSet::new();
        for k in start..start + i64::from(cycle) {
            let b = p.batch(k);
            prop_assert!(b.len() >= (quota as usize).min(n));
            prop_assert!(n == 0 || !b.is_empty());
            prop_assert!(b.len() <= n);
            prop_assert!(b.iter().all(|c| p.contains(c)));
            seen.extend(b);
        }
        prop_assert_eq!(seen.len(), n);
    }

    /// While the fleet changes from day to day, a channel present throughout any window of
    /// `cycle_days` consecutive working days is in one of that window's batches.
    #[test]
    fn coverage_survives_a_changing_fleet(
        base in fleet_strategy(),
        changes in proptest::collection::vec((any::<bool>(), 0u32..1_000_000), 40),
        quota in 1u32..40,
        cycle in 1u32..20,
    ) {
        let mut fleet: BTreeSet<DeviceCode> = base.into_iter().map(code).collect();
        let mut batches: Vec<(BTreeSet<DeviceCode>, BTreeSet<DeviceCode>)> = Vec::new();
        for (k, (add, n)) in changes.iter().enumerate() {
            if *add {
                fleet.insert(code(*n));
            } else if let Some(c) = fleet.iter().nth(*n as usize % fleet.len().max(1)).copied() {
                fleet.remove(&c);
            }
            let p = Plan::new(fleet.iter().copied(), rules(quota, cycle));
            batches.push((fleet.clone(), p.batch(k as i64).into_iter().collect()));
        }
        let w = cycle as usize;
        for start in 0..batches.len().saturating_sub(w - 1) {
            let window = &batches[start..start + w];
            let throughout: BTreeSet<DeviceCode> = window
                .iter()
                .map(|(f, _)| f.clone())
                .reduce(|a, b| a.intersection(&b).copied().collect())
                .unwrap_or_default();
            for c in throughout {
                prop_assert!(window.iter().any(|(_, b)| b.contains(&c)), "{c} missed");
            }
        }
    }

    /// On a real calendar: any `cycle_days` consecutive working days cover the fleet, and
    /// non-working days have no batch.
    #[test]
    fn calendar_windows_cover_the_fleet(
        fleet in fleet_strategy(),
        quota in 1u32..60,
        cycle in 1u32..25,
        offset in 0i64..300,
    ) {
        let c = china_2026();
        let p = Plan::new(fleet.into_iter().map(code), rules(quota, cycle));
        let mut day = d("2026-01-01").checked_add(jiff::Span::new().days(offset)).unwrap();
        let mut seen = BTreeSet::new();
        let mut worked = 0;
        while worked < cycle {
            match p.batch_on(&c, day) {
                Some(b) => {
                    worked += 1;
                    prop_assert!(p.fleet_len() == 0 || !b.is_empty());
                    seen.extend(b);
                }
                None => prop_assert!(!c.is_working_day(day)),
            }
            day = day.tomorrow().unwrap();
        }
        prop_assert_eq!(seen.len(), p.fleet_len());
    }
}
