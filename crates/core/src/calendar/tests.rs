use super::*;
use proptest::prelude::*;

const H: i64 = 3600;
const M: i64 = 60;

fn shanghai() -> TimeZone {
    TimeZone::get("Asia/Shanghai").unwrap()
}

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}

/// Local civil time `YYYY-MM-DD HH:MM` in `tz` as Unix seconds.
fn at_in(tz: &TimeZone, s: &str) -> i64 {
    s.parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp()
        .as_second()
}

/// Shanghai local time as Unix seconds.
fn at(s: &str) -> i64 {
    at_in(&shanghai(), s)
}

fn spec(toml_text: &str) -> CalendarSpec {
    toml::from_str(toml_text).unwrap()
}

/// The 2026 public holidays and make-up working days of mainland China (State Council notice
/// of 4 November 2025), with office hours; contracts/example-98.toml carries the same.
pub(crate) const CHINA_2026: &str = r#"
weekend = ["sat", "sun"]
holidays = [
  "2026-01-01..2026-01-03", "2026-02-15..2026-02-23", "2026-04-04..2026-04-06",
  "2026-05-01..2026-05-05", "2026-06-19..2026-06-21", "2026-09-25..2026-09-27",
  "2026-10-01..2026-10-07",
]
workdays = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
hours = ["08:30-12:00", "13:30-17:30"]
"#;

fn china_2026() -> WorkCalendar {
    WorkCalendar::from_spec(&spec(CHINA_2026), shanghai()).unwrap()
}

fn working(secs: i64) -> SlaLimit {
    SlaLimit {
        unit: TimeUnit::Working,
        secs,
    }
}

fn clock(secs: i64) -> SlaLimit {
    SlaLimit {
        unit: TimeUnit::Clock,
        secs,
    }
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

/// Half a working day of 08:30-12:00 + 13:30-17:30 (7.5 h): 3 h 45 min.
const HALF_DAY: i64 = 3 * H + 45 * M;

#[test]
fn working_days_of_2026() {
    let c = china_2026();
    assert_eq!(c.working_day_secs(), 7 * H + 30 * M);
    // Ordinary days.
    assert!(c.is_working_day(d("2026-11-10"))); // Tuesday
    assert!(!c.is_working_day(d("2026-11-07"))); // Saturday
    assert!(!c.is_working_day(d("2026-11-08"))); // Sunday
    // Holidays, on weekdays and on weekends alike.
    for h in [
        "2026-01-01",
        "2026-01-03",
        "2026-02-16",
        "2026-10-01",
        "2026-10-07",
    ] {
        assert!(!c.is_working_day(d(h)), "{h}");
    }
    // Make-up working days (调休) on Saturdays and Sundays.
    for w in [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ] {
        assert!(c.is_working_day(d(w)), "{w}");
    }
    assert!(c.is_working_day(d("2026-10-08")));
}

#[test]
fn always_counts_clock_time() {
    let c = WorkCalendar::always(shanghai());
    assert_eq!(c.working_day_secs(), 86_400);
    assert!(c.is_working_day(d("2026-10-01")));
    let s = at("2026-10-03 23:50");
    assert_eq!(
        c.counted(s, s + 7 * 86_400, TimeUnit::Working, &[]),
        7 * 86_400
    );
    assert_eq!(c.deadline(s, working(20 * M), &[]), at("2026-10-04 00:10"));
}

/// Friday 16:00 + half a working day: 1 h 30 on Friday, 2 h 15 on Monday → Monday 10:45.
#[test]
fn deadline_crosses_a_weekend() {
    let c = china_2026();
    let s = at("2026-11-06 16:00");
    assert_eq!(
        c.deadline(s, working(HALF_DAY), &[]),
        at("2026-11-09 10:45")
    );
    assert_eq!(
        c.counted(s, at("2026-11-09 10:45"), TimeUnit::Working, &[]),
        HALF_DAY
    );
    // The weekend itself counts nothing.
    assert_eq!(
        c.counted(
            at("2026-11-06 17:30"),
            at("2026-11-09 08:30"),
            TimeUnit::Working,
            &[]
        ),
        0
    );
    // Clock time does not care: 2 h from Friday 23:00 is Saturday 01:00.
    assert_eq!(
        c.deadline(at("2026-11-06 23:00"), clock(2 * H), &[]),
        at("2026-11-07 01:00")
    );
}

/// 30 September 16:00: 1 h 30 that day, then the National Day holiday (1–7 October), then
/// 2 h 15 on Thursday 8 October → 10:45.
#[test]
fn deadline_crosses_a_holiday_range() {
    let c = china_2026();
    let s = at("2026-09-30 16:00");
    assert_eq!(
        c.deadline(s, working(HALF_DAY), &[]),
        at("2026-10-08 10:45")
    );
    // A whole week of holiday counts nothing.
    assert_eq!(
        c.counted(
            at("2026-10-01 00:00"),
            at("2026-10-08 00:00"),
            TimeUnit::Working,
            &[]
        ),
        0
    );
    // 8 Oct (Thu), 9 Oct (Fri) and the make-up Saturday 10 Oct: three full days.
    assert_eq!(
        c.counted(
            at("2026-10-08 00:00"),
            at("2026-10-11 00:00"),
            TimeUnit::Working,
            &[]
        ),
        3 * (7 * H + 30 * M)
    );
}

/// Saturday 19 September is off, Sunday 20 September is a make-up working day: 3 h 30 in
/// the morning, 15 min after lunch → Sunday 13:45.
#[test]
fn make_up_working_day_on_a_sunday() {
    let c = china_2026();
    let s = at("2026-09-19 10:00");
    assert_eq!(
        c.deadline(s, working(HALF_DAY), &[]),
        at("2026-09-20 13:45")
    );
}

/// Tuesday 11:00 + 2 working hours: 1 h before lunch, 1 h after (13:30) → 14:30.
#[test]
fn lunch_break_does_not_count() {
    let c = china_2026();
    assert_eq!(
        c.deadline(at("2026-11-10 11:00"), working(2 * H), &[]),
        at("2026-11-10 14:30")
    );
    assert_eq!(
        c.counted(
            at("2026-11-10 12:00"),
            at("2026-11-10 13:30"),
            TimeUnit::Working,
            &[]
        ),
        0
    );
    // Exactly the morning: the deadline is the end of the last counted second, 12:00, not
    // the start of the afternoon.
    assert_eq!(
        c.deadline(at("2026-11-10 08:30"), working(3 * H + 30 * M), &[]),
        at("2026-11-10 12:00")
    );
}

#[test]
fn start_outside_working_hours() {
    let c = china_2026();
    // Before 08:30: the clock starts at 08:30.
    assert_eq!(
        c.deadline(at("2026-11-10 07:00"), working(2 * H), &[]),
        at("2026-11-10 10:30")
    );
    // After 17:30: the next morning.
    assert_eq!(
        c.deadline(at("2026-11-10 18:00"), working(2 * H), &[]),
        at("2026-11-11 10:30")
    );
    // On a holiday (Saturday 3 October): the first working day after, Thursday 8 October.
    assert_eq!(
        c.deadline(at("2026-10-03 09:00"), working(2 * H), &[]),
        at("2026-10-08 10:30")
    );
    // Friday evening, 8 working hours: all of Monday (7 h 30) and 30 min on Tuesday.
    assert_eq!(
        c.deadline(at("2026-11-06 20:00"), working(8 * H), &[]),
        at("2026-11-10 09:00")
    );
}

#[test]
fn pauses_stop_the_clock() {
    let c = china_2026();
    let s = at("2026-11-10 09:00");
    // Paused 09:30–10:00: 30 min before, 1 h 30 after → 11:30.
    let p = [(at("2026-11-10 09:30"), at("2026-11-10 10:00"))];
    assert_eq!(c.deadline(s, working(2 * H), &p), at("2026-11-10 11:30"));
    assert_eq!(
        c.counted(s, at("2026-11-10 11:30"), TimeUnit::Working, &p),
        2 * H
    );
    // A pause over lunch only takes out its working part: start 11:00, paused 11:30–14:00:
    // 30 min, then from 14:00 → 15:30.
    let p = [(at("2026-11-10 11:30"), at("2026-11-10 14:00"))];
    assert_eq!(
        c.deadline(at("2026-11-10 11:00"), working(2 * H), &p),
        at("2026-11-10 15:30")
    );
    // Overlapping, unsorted pauses count once: 09:30–10:15 ∪ 10:00–10:30 = 1 h.
    let p = [
        (at("2026-11-10 10:00"), at("2026-11-10 10:30")),
        (at("2026-11-10 09:30"), at("2026-11-10 10:15")),
    ];
    assert_eq!(
        c.counted(s, at("2026-11-10 12:00"), TimeUnit::Working, &p),
        2 * H
    );
    // 30 min before the pauses, 1 h 30 after: the morning ends exactly at the deadline.
    assert_eq!(c.deadline(s, working(2 * H), &p), at("2026-11-10 12:00"));
    // Clock time with the same pauses: 3 h wall − 1 h.
    assert_eq!(
        c.counted(s, at("2026-11-10 12:00"), TimeUnit::Clock, &p),
        2 * H
    );
    assert_eq!(c.deadline(s, clock(20 * M), &p), at("2026-11-10 09:20"));
    assert_eq!(c.deadline(s, clock(40 * M), &p), at("2026-11-10 10:40"));
    // Empty and inverted pauses are ignored.
    let p = [(s + 100, s + 100), (s + 500, s + 200)];
    assert_eq!(c.deadline(s, clock(20 * M), &p), at("2026-11-10 09:20"));
}

#[test]
fn a_pause_covering_everything_means_never() {
    let c = china_2026();
    let s = at("2026-11-10 09:00");
    let p = [(s - 10, i64::MAX)];
    assert_eq!(c.deadline(s, working(H), &p), i64::MAX);
    assert_eq!(c.deadline(s, clock(H), &p), i64::MAX);
    assert_eq!(c.counted(s, s + 30 * 86_400, TimeUnit::Working, &p), 0);
    assert_eq!(c.counted(s, s + 30 * 86_400, TimeUnit::Clock, &p), 0);
    // A pause ending later only moves the deadline.
    let p = [(s - 10, at("2026-11-12 10:00"))];
    assert_eq!(c.deadline(s, working(H), &p), at("2026-11-12 11:00"));
}

#[test]
fn zero_second_limits_are_the_start() {
    let c = china_2026();
    for s in [
        at("2026-11-10 09:00"),
        at("2026-11-08 03:00"),
        at("2026-10-01 12:00"),
    ] {
        assert_eq!(c.deadline(s, working(0), &[]), s);
        assert_eq!(c.deadline(s, clock(0), &[]), s);
        assert_eq!(c.deadline(s, working(0), &[(s - 5, s + 5)]), s);
    }
}

#[test]
fn no_working_day_at_all_means_never() {
    let c = WorkCalendar::from_spec(
        &spec(r#"weekend = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]"#),
        shanghai(),
    )
    .unwrap();
    let s = at("2026-11-10 09:00");
    assert_eq!(c.deadline(s, working(1), &[]), i64::MAX);
    assert_eq!(c.counted(s, s + 86_400 * 400, TimeUnit::Working, &[]), 0);
    // The horizon: a limit longer than ten years of clock time is never reached.
    let a = WorkCalendar::always(shanghai());
    assert_eq!(
        a.deadline(s, clock(HORIZON_DAYS * 86_400 + 1), &[]),
        i64::MAX
    );
    assert_eq!(
        a.deadline(s, clock(HORIZON_DAYS * 86_400), &[]),
        s + HORIZON_DAYS * 86_400
    );
}

#[test]
fn counted_of_an_empty_or_inverted_range_is_zero() {
    let c = china_2026();
    let s = at("2026-11-10 09:00");
    assert_eq!(c.counted(s, s, TimeUnit::Working, &[]), 0);
    assert_eq!(c.counted(s, s - H, TimeUnit::Clock, &[]), 0);
    // Far outside jiff's range: no working time, no panic.
    assert_eq!(
        c.counted(i64::MIN, i64::MIN + 1000, TimeUnit::Working, &[]),
        0
    );
    assert_eq!(c.deadline(i64::MAX - 10, working(1), &[]), i64::MAX);
    assert_eq!(c.deadline(i64::MAX - 10, clock(1), &[]), i64::MAX - 9);
}

/// New York, 8 March 2026: clocks jump from 02:00 to 03:00, the day lasts 23 hours;
/// 1 November 2026: 01:00–02:00 happens twice, the day lasts 25 hours.
#[test]
fn dst_days_count_the_time_that_elapsed() {
    let tz = new_york();
    let c = WorkCalendar::always(tz.clone());
    let day = |s: &str, e: &str| c.counted(at_in(&tz, s), at_in(&tz, e), TimeUnit::Working, &[]);
    assert_eq!(day("2026-03-08 00:00", "2026-03-09 00:00"), 23 * H);
    assert_eq!(day("2026-11-01 00:00", "2026-11-02 00:00"), 25 * H);

    // A window inside the gap does not exist: skipped. One across it counts what elapsed.
    let gap = WorkCalendar::from_spec(
        &spec(
            r#"weekend = []
hours = ["02:00-02:30", "04:00-05:00"]"#,
        ),
        tz.clone(),
    )
    .unwrap();
    let s = at_in(&tz, "2026-03-08 00:00");
    assert_eq!(gap.counted(s, s + 86_400, TimeUnit::Working, &[]), H);
    assert_eq!(
        gap.deadline(s, working(30 * M), &[]),
        at_in(&tz, "2026-03-08 04:30")
    );
    let across =
        WorkCalendar::from_spec(&spec("weekend = []\nhours = [\"01:30-03:30\"]"), tz.clone())
            .unwrap();
    assert_eq!(across.counted(s, s + 86_400, TimeUnit::Working, &[]), H);

    // (8 March and 1 November 2026 are Sundays, hence `weekend = []`.)
    // A window in the repeated hour is worked twice: 01:00–01:30 EDT and 01:00–01:30 EST.
    let fold =
        WorkCalendar::from_spec(&spec("weekend = []\nhours = [\"01:00-01:30\"]"), tz.clone())
            .unwrap();
    let s = at_in(&tz, "2026-11-01 00:00");
    assert_eq!(fold.counted(s, s + 86_400, TimeUnit::Working, &[]), H);
    // 45 minutes: all of the first 01:00–01:30 (EDT, 05:00 UTC) and 15 min of the second
    // (EST, 06:00 UTC) → 06:15 UTC.
    assert_eq!(
        fold.deadline(s, working(45 * M), &[]),
        s + 6 * H + 15 * M - 4 * H
    );
}

#[test]
fn spec_defaults() {
    let c = WorkCalendar::from_spec(&CalendarSpec::default(), shanghai()).unwrap();
    assert_eq!(c.working_day_secs(), 86_400);
    assert!(c.is_working_day(d("2026-11-06")));
    assert!(!c.is_working_day(d("2026-11-07")));
    assert!(!c.is_working_day(d("2026-11-08")));
    // Friday 20:00 + 8 clock hours of working time: Friday until midnight is 4 h, then Monday.
    assert_eq!(
        c.deadline(at("2026-11-06 20:00"), working(8 * H), &[]),
        at("2026-11-09 04:00")
    );
    // A Friday-only weekend, written in capitals.
    let c = WorkCalendar::from_spec(&spec(r#"weekend = ["FRI"]"#), shanghai()).unwrap();
    assert!(!c.is_working_day(d("2026-11-06")));
    assert!(c.is_working_day(d("2026-11-07")));
}

#[test]
fn adjacent_and_overlapping_holidays_merge() {
    let c = WorkCalendar::from_spec(
        &spec(r#"holidays = ["2026-11-12..2026-11-13", "2026-11-10..2026-11-11", "2026-11-11", "2026-11-20"]"#),
        shanghai(),
    )
    .unwrap();
    assert_eq!(
        c.holidays,
        vec![
            (d("2026-11-10"), d("2026-11-13")),
            (d("2026-11-20"), d("2026-11-20"))
        ]
    );
    assert!(c.is_working_day(d("2026-11-09")));
    assert!(!c.is_working_day(d("2026-11-12")));
    assert!(c.is_working_day(d("2026-11-19")));
    assert!(!c.is_working_day(d("2026-11-20")));
}

fn spec_error(toml_text: &str) -> String {
    WorkCalendar::from_spec(&spec(toml_text), shanghai()).unwrap_err()
}

#[test]
fn bad_specs_name_the_field_and_value() {
    let cases = [
        (
            r#"weekend = ["saturday"]"#,
            r#"calendar.weekend: unknown day "saturday" (expected one of: mon, tue, wed, thu, fri, sat, sun)"#,
        ),
        (
            r#"holidays = ["2026-13-01"]"#,
            r#"calendar.holidays: "2026-13-01" is not a date (YYYY-MM-DD)"#,
        ),
        (
            r#"holidays = ["2026-10-01T00:00"]"#,
            r#"calendar.holidays: "2026-10-01T00:00" is not a date (YYYY-MM-DD)"#,
        ),
        (
            r#"holidays = ["2026-10-07..2026-10-01"]"#,
            r#"calendar.holidays: "2026-10-07..2026-10-01" ends before it starts"#,
        ),
        (
            r#"holidays = ["2026-10-01..2026-02-30"]"#,
            r#"calendar.holidays: "2026-02-30" is not a date (YYYY-MM-DD)"#,
        ),
        (
            r#"workdays = ["2026/09/20"]"#,
            r#"calendar.workdays: "2026/09/20" is not a date (YYYY-MM-DD)"#,
        ),
        (
            r#"holidays = ["2026-10-01..2026-10-07"]
workdays = ["2026-10-04"]"#,
            "calendar.workdays: 2026-10-04 is also listed in calendar.holidays",
        ),
        (
            r#"workdays = ["2026-09-21"]"#,
            "calendar.workdays: 2026-09-21 is a Monday, a working day already; make-up working days fall on the weekend",
        ),
        (
            r#"hours = ["8:30-12:00"]"#,
            r#"calendar.hours: "8:30-12:00" is not a time window (HH:MM-HH:MM)"#,
        ),
        (
            r#"hours = ["08:30-25:00"]"#,
            r#"calendar.hours: "08:30-25:00": "25:00" is not a time of day"#,
        ),
        (
            r#"hours = ["12:00-08:30"]"#,
            r#"calendar.hours: "12:00-08:30" ends before it starts"#,
        ),
        (
            r#"hours = ["08:30-08:30"]"#,
            r#"calendar.hours: "08:30-08:30" ends before it starts"#,
        ),
        (
            r#"hours = ["08:30-12:00", "11:30-17:30"]"#,
            r#"calendar.hours: "08:30-12:00" and "11:30-17:30" overlap"#,
        ),
        (
            r#"hours = ["13:30-17:30", "08:30-12:00"]"#,
            r#"calendar.hours: "08:30-12:00" comes before "13:30-17:30"; list the hours in order"#,
        ),
        (
            r#"hours = []"#,
            "calendar.hours: no working hours given; leave `hours` out for the whole day",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(spec_error(text), want, "{text}");
    }
    // Unknown keys are refused by serde.
    let e = toml::from_str::<CalendarSpec>("holiday = []")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `holiday`"), "{e}");
}

#[test]
fn hours_may_touch_and_end_at_midnight() {
    let c = WorkCalendar::from_spec(
        &spec(r#"hours = ["00:00-08:00", "08:00-12:00", "20:00-24:00"]"#),
        shanghai(),
    )
    .unwrap();
    assert_eq!(c.working_day_secs(), 16 * H);
    // Friday 22:00 + 3 h: 2 h on Friday, Saturday and Sunday off, 1 h from Monday 00:00.
    assert_eq!(
        c.deadline(at("2026-11-06 22:00"), working(3 * H), &[]),
        at("2026-11-09 01:00")
    );
}

/// The DST changes the property tests aim at, checked against jiff.
#[test]
fn dst_change_instants() {
    let change = |tz: &TimeZone, t: i64| {
        let o = |t| tz.to_offset(Timestamp::from_second(t).unwrap());
        o(t - 1) != o(t)
    };
    assert!(change(&new_york(), 1_772_953_200));
    assert!(change(&new_york(), 1_793_512_800));
    let adl = TimeZone::get("Australia/Adelaide").unwrap();
    assert!(change(&adl, 1_775_320_200));
    assert!(change(&adl, 1_791_045_000));
}

#[test]
fn time_unit_text() {
    assert_eq!(TimeUnit::Working.as_str(), "working");
    assert_eq!("clock".parse::<TimeUnit>().unwrap(), TimeUnit::Clock);
}

/// Many orders: 10,000 deadlines of half a working day take well under a second.
#[test]
fn ten_thousand_deadlines() {
    let c = china_2026();
    let s0 = at("2026-01-01 00:00");
    let mut last = 0;
    for i in 0..10_000 {
        let s = s0 + i * 3_151; // spread over the year
        last = c.deadline(s, working(HALF_DAY), &[(s + 600, s + 1_200)]);
        assert!(last > s);
    }
    assert!(last < i64::MAX);
}

// ---- properties ----

/// A few calendars with different shapes: office hours with holidays, every day all day,
/// a DST zone with a window in the spring gap and the autumn fold, a zone with a half-hour
/// offset and an evening window.
fn calendars() -> Vec<WorkCalendar> {
    vec![
        china_2026(),
        WorkCalendar::always(shanghai()),
        WorkCalendar::always(new_york()),
        WorkCalendar::from_spec(
            &spec(
                r#"weekend = ["sun"]
holidays = ["2026-03-09..2026-03-10", "2026-11-02"]
workdays = ["2026-03-15"]
hours = ["01:15-02:45", "09:00-17:00", "23:00-24:00"]"#,
            ),
            new_york(),
        )
        .unwrap(),
        WorkCalendar::from_spec(
            &spec(r#"hours = ["07:00-11:00", "19:30-23:30"]"#),
            TimeZone::get("Australia/Adelaide").unwrap(),
        )
        .unwrap(),
    ]
}

/// Instants in 2026 and some weeks either side; half of them in the three days before (or the day after) a DST
/// change in New York or Adelaide, where the walks are most likely to go wrong.
fn instant() -> impl Strategy<Value = i64> {
    const CHANGES: [i64; 4] = [
        1_772_953_200, // 2026-03-08 07:00Z, New York springs forward
        1_775_320_200, // 2026-04-04 16:30Z, Adelaide falls back
        1_791_045_000, // 2026-10-03 16:30Z, Adelaide springs forward
        1_793_512_800, // 2026-11-01 06:00Z, New York falls back
    ];
    prop_oneof![
        1_767_225_600i64 - 30 * 86_400..1_767_225_600 + 400 * 86_400,
        (0usize..4, -3 * 86_400i64..86_400).prop_map(|(i, d)| CHANGES[i] + d),
    ]
}

fn pauses() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((-5 * 86_400i64..20 * 86_400, 0i64..3 * 86_400), 0..5)
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop_oneof![Just(TimeUnit::Clock), Just(TimeUnit::Working)]
}

/// Pauses given relative to `base`; some empty or inverted ones are kept on purpose.
fn absolute(base: i64, rel: &[(i64, i64)]) -> Vec<(i64, i64)> {
    rel.iter()
        .enumerate()
        .map(|(i, (s, len))| {
            if i == 3 {
                (base + s, base + s - len) // inverted: ignored
            } else {
                (base + s, base + s + len)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn deadline_inverts_counted(
        which in 0usize..5, start in instant(), secs in 0i64..20 * 86_400,
        unit in unit(), rel in pauses(),
    ) {
        let c = &calendars()[which];
        let p = absolute(start, &rel);
        let l = SlaLimit { unit, secs };
        let t = c.deadline(start, l, &p);
        prop_assume!(t != i64::MAX);
        prop_assert!(t >= start);
        prop_assert_eq!(c.counted(start, t, unit, &p), secs);
        // …and it is the first such instant.
        if secs > 0 {
            prop_assert_eq!(c.counted(start, t - 1, unit, &p), secs - 1);
        }
    }

    #[test]
    fn counted_is_additive(
        which in 0usize..5, a in instant(), x in 0i64..10 * 86_400, y in 0i64..10 * 86_400,
        unit in unit(), rel in pauses(),
    ) {
        let c = &calendars()[which];
        let p = absolute(a, &rel);
        let (b, e) = (a + x, a + x + y);
        prop_assert_eq!(
            c.counted(a, b, unit, &p) + c.counted(b, e, unit, &p),
            c.counted(a, e, unit, &p)
        );
    }

    #[test]
    fn counted_is_monotone_in_to(
        which in 0usize..5, a in instant(), x in 0i64..10 * 86_400, y in 0i64..86_400,
        unit in unit(), rel in pauses(),
    ) {
        let c = &calendars()[which];
        let p = absolute(a, &rel);
        let small = c.counted(a, a + x, unit, &p);
        let big = c.counted(a, a + x + y, unit, &p);
        prop_assert!(small <= big);
        prop_assert!(big - small <= y);
        // Working time never exceeds clock time, and pauses never add time.
        prop_assert!(c.counted(a, a + x, TimeUnit::Working, &p) <= c.counted(a, a + x, TimeUnit::Clock, &p));
        prop_assert!(c.counted(a, a + x, unit, &p) <= c.counted(a, a + x, unit, &[]));
    }

    /// Clock time is the wall seconds minus the union of the pauses, computed here another way:
    /// cut [from, to) at every pause boundary and keep the pieces no pause covers.
    #[test]
    fn clock_is_wall_minus_pause_union(
        a in instant(), x in 0i64..10 * 86_400, rel in pauses(),
    ) {
        let c = WorkCalendar::always(shanghai());
        let p = absolute(a, &rel);
        let to = a + x;
        let mut cuts: Vec<i64> = vec![a, to];
        for (s, e) in &p {
            cuts.extend([*s, *e]);
        }
        cuts.retain(|t| (a..=to).contains(t));
        cuts.sort();
        cuts.dedup();
        let free: i64 = cuts
            .windows(2)
            .filter(|w| !p.iter().any(|(s, e)| *s <= w[0] && w[0] < *e))
            .map(|w| w[1] - w[0])
            .sum();
        prop_assert_eq!(c.counted(a, to, TimeUnit::Clock, &p), free);
        prop_assert_eq!(china_2026().counted(a, to, TimeUnit::Clock, &p), free);
    }

    /// Working time, minute by minute through jiff's own instant→civil conversion: a minute
    /// counts when its local date is a working day and its local time is in a window. The
    /// zones and windows are whole minutes, so this is exact.
    #[test]
    fn working_time_matches_a_minute_by_minute_count(
        which in 0usize..5, a in instant(), minutes in 0i64..3 * 1440,
    ) {
        let c = &calendars()[which];
        let a = a - a.rem_euclid(60);
        let want: i64 = (0..minutes)
            .map(|i| a + i * 60)
            .filter(|t| {
                let z = Timestamp::from_second(*t).unwrap().to_zoned_datetime(c.tz.clone());
                let secs = i64::from(z.hour()) * 3600 + i64::from(z.minute()) * 60;
                c.is_working_day(z.date())
                    && c.windows.iter().any(|(s, e)| *s <= secs && secs < *e)
            })
            .count() as i64
            * 60;
        prop_assert_eq!(c.counted(a, a + minutes * 60, TimeUnit::Working, &[]), want);
    }
}
