use super::*;

fn code(n: u32) -> DeviceCode {
    format!("340104000013200{n:05}").parse().unwrap()
}

const MONTH: i64 = 31 * 86_400; // October

fn facts(n: u32, offline_h: i64) -> DeviceFacts {
    DeviceFacts {
        code: code(n),
        eligible_sec: MONTH,
        offline_sec: offline_h * 3600,
        degraded_sec: 0,
        monthly_fee_fen: 8_000,
        monthly_link_fee_fen: 3_000,
    }
}

fn example() -> Contract {
    Contract::parse(
        include_str!("../../../../contracts/example-98.toml"),
        "example-98.toml",
    )
    .unwrap()
}

#[test]
fn example_contracts_parse() {
    let c = example();
    assert_eq!(c.timezone, "Asia/Shanghai");
    assert_eq!(c.method, Method::TimeWeighted);
    let s = Contract::parse(
        include_str!("../../../../contracts/example-95-score.toml"),
        "x",
    )
    .unwrap();
    assert_eq!(s.sla.len(), 3);
    assert_eq!(s.score.unwrap().tiers.len(), 4);
}

#[test]
fn typo_is_named() {
    let e = Contract::parse(
        "name = \"x\"\n[fleet_online_rate]\nthreshold_percent = 98\ndeduction_per_pont = 0.001\n",
        "c.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("c.toml: "), "{e}");
    assert!(e.contains("unknown field `deduction_per_pont`"), "{e}");
    let e = Contract::parse("name = \"x\"\ntimezone = \"Mars/Olympus\"\n", "c.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("timezone"), "{e}");
    let e = Contract::parse("name = \"x\"\ncheck_times = [\"25:00\"]\n", "c.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("check_times"), "{e}");
}

/// Hand-worked: 10 cameras at 80.00 yuan maintenance + 30.00 link a month, all eligible the whole
/// of October. Fleet rate 97.5%: 0.5 points below 98% × 1‰ × fee base 800.00 = 0.40 yuan.
/// Camera 3 was offline 361 h (> 360): forfeits 80.00 + 30.00 = 110.00. Total 110.40.
#[test]
fn hand_worked_example_98() {
    let c = example();
    let devices: Vec<DeviceFacts> = (1..=10)
        .map(|n| facts(n, if n == 3 { 361 } else { 0 }))
        .collect();
    let a = assess(&c, Some((975, 1000)), &devices, MONTH);
    assert_eq!(a.maintenance_base, Ratio::int(80_000));
    assert_eq!(a.deductions.len(), 2);
    assert_eq!(a.deductions[0].rule, "fleet_online_rate");
    assert_eq!(a.deductions[0].amount_fen, 40);
    assert_eq!(
        a.deductions[0].basis,
        "fleet online rate 97.5000% (time_weighted) is below 98.00%: 0.5000 points below (0.5000 counted, prorated) × 0.0010 of the fee base 800.00 yuan"
    );
    assert_eq!(a.deductions[1].device, Some(code(3)));
    assert_eq!(a.deductions[1].amount_fen, 11_000);
    assert_eq!(a.total_fen, 11_040);
}

#[test]
fn exactly_at_the_limit_is_not_over() {
    let a = assess(&example(), Some((98, 100)), &[facts(1, 360)], MONTH);
    assert!(a.deductions.is_empty(), "{:?}", a.deductions);
}

#[test]
fn partial_point_modes() {
    let mut c = example();
    let devices: Vec<DeviceFacts> = (1..=100).map(|n| facts(n, 0)).collect(); // base 8,000.00
    // 96.3%: 1.7 points below.
    let amounts: Vec<i64> = [
        PartialPoints::Prorate,
        PartialPoints::PerStartedPoint,
        PartialPoints::PerWholePoint,
    ]
    .into_iter()
    .map(|p| {
        c.fleet_online_rate.as_mut().unwrap().partial_points = p;
        assess(&c, Some((963, 1000)), &devices, MONTH).total_fen
    })
    .collect();
    // 1.7 × 1‰ × 800,000 fen = 1,360; 2 × … = 1,600; 1 × … = 800.
    assert_eq!(amounts, vec![1_360, 1_600, 800]);
}

#[test]
fn prorated_fee_base_and_rounding() {
    // A camera in contract for 10 of 31 days: base 80.00 × 10/31 = 25.806451… yuan.
    let mut d = facts(1, 0);
    d.eligible_sec = 10 * 86_400;
    let a = assess(&example(), Some((90, 100)), &[d], MONTH);
    // 8 points × 1‰ × 2580.645161… fen = 20.645… fen → 21 fen.
    assert_eq!(a.total_fen, 21);
}

#[test]
fn no_observed_time_gives_no_fleet_deduction() {
    let a = assess(&example(), None, &[facts(1, 0)], MONTH);
    assert!(a.deductions.is_empty());
    let a = assess(&example(), Some((0, 0)), &[facts(1, 0)], MONTH);
    assert!(a.deductions.is_empty());
}

#[test]
fn score_tiers() {
    let c = Contract::parse(
        include_str!("../../../../contracts/example-95-score.toml"),
        "x",
    )
    .unwrap();
    // 20 cameras, 2 of them over 8 fault hours; fleet 93.5%: 1.5 points below → 2 started points
    // × 2 = 4 score points; + 2 devices × 1 = 6 lost → 94 → tier 90: pays 0.97.
    let devices: Vec<DeviceFacts> = (1..=20)
        .map(|n| facts(n, if n <= 2 { 9 } else { 0 }))
        .collect();
    let a = assess(&c, Some((935, 1000)), &devices, MONTH);
    assert_eq!(a.score, Some(Ratio::int(94)));
    let score = a.deductions.iter().find(|d| d.rule == "score").unwrap();
    // 3% of (20 × 110.00) = 66.00 yuan.
    assert_eq!(score.amount_fen, 6_600);
    // The rate itself deducts nothing in this contract (deduction_per_point 0).
    assert_eq!(a.total_fen, 6_600);
}

// ---- fault levels and the calendar ----

use crate::calendar::{SlaLimit, TimeUnit, WorkCalendar};

fn facts_of<'a>(
    parent_down: bool,
    devices: usize,
    codes: &'a [DeviceCode],
    region: &'a str,
) -> FaultFacts<'a> {
    FaultFacts {
        parent_down,
        devices,
        codes,
        region,
    }
}

fn clock(secs: i64) -> SlaLimit {
    SlaLimit {
        unit: TimeUnit::Clock,
        secs,
    }
}

/// A contract with only the `[[sla]]` levels given.
fn with_levels(levels: &str) -> Result<Contract> {
    Contract::parse(&format!("name = \"x\"\n{levels}"), "c.toml")
}

fn level_error(levels: &str) -> String {
    with_levels(levels).unwrap_err().to_string()
}

#[test]
fn example_98_levels_and_calendar() {
    let c = example();
    let names: Vec<&str> = c.sla.iter().map(|l| l.level.as_str()).collect();
    assert_eq!(names, ["重大", "一般"]);
    let major = &c.sla[0];
    assert_eq!(major.response(), clock(20 * 60));
    // Half of 08:30-12:00 + 13:30-17:30 (7 h 30): 3 h 45 of working time.
    assert_eq!(
        major.repair(),
        SlaLimit {
            unit: TimeUnit::Working,
            secs: 13_500
        }
    );
    assert_eq!(major.repair.measure, Measure::WorkingDays);
    assert_eq!(c.sla[1].response(), clock(20 * 60));
    assert_eq!(c.sla[1].repair(), clock(7_200));

    let cal = c.calendar().unwrap();
    let want = WorkCalendar::from_spec(
        &toml::from_str(crate::calendar::tests::CHINA_2026).unwrap(),
        c.time_zone().unwrap(),
    )
    .unwrap();
    assert_eq!(cal, want);
    assert_eq!(cal.working_day_secs(), 27_000);

    // Which level a fault is.
    let one = [code(1)];
    let level = |f: FaultFacts| c.sla_level(&f).map(|l| l.level.as_str());
    assert_eq!(level(facts_of(true, 1, &one, "340104")), Some("重大"));
    assert_eq!(level(facts_of(false, 10, &one, "340104")), Some("重大"));
    assert_eq!(level(facts_of(false, 9, &one, "340104")), Some("一般"));
    assert_eq!(level(facts_of(false, 1, &one, "340104")), Some("一般"));
}

/// Files written before the measures existed read the same: clock hours.
#[test]
fn old_level_keys_read_the_same() {
    let c = with_levels("[[sla]]\nlevel = \"A\"\nresponse_hours = 1.5\nrepair_hours = \"8\"\n")
        .unwrap();
    let l = &c.sla[0];
    assert_eq!(l.response(), clock(5_400));
    assert_eq!(l.repair(), clock(28_800));
    assert_eq!(l.response.measure, Measure::Hours);
    assert_eq!(l.response.amount, Decimal(Ratio::new(3, 2)));
    assert!(l.when.is_none());
    // No calendar: every day, all day, in the contract's zone.
    assert_eq!(
        c.calendar().unwrap(),
        WorkCalendar::always(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
    );
    // No levels at all: no level for any fault.
    let c = Contract::parse("name = \"x\"\n", "c.toml").unwrap();
    assert!(c.sla.is_empty());
    assert_eq!(c.sla_level(&facts_of(true, 99, &[], "")), None);
    assert_eq!(c.sla_level_or_last(&facts_of(true, 99, &[], "")), None);
}

#[test]
fn every_measure_converts() {
    let c = Contract::parse(
        "name = \"x\"\n\
         [calendar]\nhours = [\"09:00-12:00\", \"13:00-18:00\"]\n\
         [[sla]]\nlevel = \"A\"\nresponse_minutes = \"20\"\nrepair_working_hours = \"2.5\"\n\
         [[sla]]\nlevel = \"B\"\nresponse_working_days = 1\nrepair_working_days = \"0.3\"\n\
         [[sla]]\nlevel = \"C\"\nresponse_minutes = 0\nrepair_hours = \"0.0001\"\n",
        "c.toml",
    )
    .unwrap();
    let w = |secs| SlaLimit {
        unit: TimeUnit::Working,
        secs,
    };
    assert_eq!(c.sla[0].response(), clock(1_200));
    assert_eq!(c.sla[0].repair(), w(9_000));
    // A working day here is 8 h.
    assert_eq!(c.sla[1].response(), w(28_800));
    assert_eq!(c.sla[1].repair(), w(8_640));
    assert_eq!(c.sla[2].response(), clock(0));
    // 0.36 s rounds to 0; fractions of a second round half away from zero.
    assert_eq!(c.sla[2].repair(), clock(0));
    assert_eq!(
        SlaTerm {
            amount: Decimal(Ratio::new(1, 7_200)),
            measure: Measure::Hours
        }
        .limit(86_400),
        clock(1)
    );
    assert_eq!(
        "working_days".parse::<Measure>().unwrap(),
        Measure::WorkingDays
    );
}

#[test]
fn levels_match_in_file_order() {
    let c = Contract::parse(
        include_str!("../../../../contracts/example-95-score.toml"),
        "x",
    )
    .unwrap();
    let level = |f: FaultFacts| c.sla_level(&f).unwrap().level.clone();
    let listed = [code(7), code(1)];
    let other = [code(7)];
    // A listed site, among other devices.
    assert_eq!(
        level(facts_of(false, 2, &listed, "340104")),
        "一级（重点点位）"
    );
    // A region by prefix of its civil code; a longer code in the same region matches too.
    assert_eq!(
        level(facts_of(false, 1, &other, "340102")),
        "一级（重点点位）"
    );
    assert_eq!(
        level(facts_of(false, 1, &other, "340102001")),
        "一级（重点点位）"
    );
    assert_eq!(level(facts_of(false, 1, &other, "340103")), "三级");
    // The first matching level wins: parent down at a listed site is 一级.
    assert_eq!(
        level(facts_of(true, 1, &listed, "340104")),
        "一级（重点点位）"
    );
    assert_eq!(level(facts_of(true, 1, &other, "340104")), "二级");
    assert_eq!(level(facts_of(false, 5, &other, "340104")), "二级");
    assert_eq!(level(facts_of(false, 4, &other, "340104")), "三级");
}

/// Every level has a `when` and none matches: `None`, and the caller falls back to the last.
#[test]
fn no_catch_all_gives_none() {
    let c = with_levels(
        "[[sla]]\nlevel = \"重大\"\nresponse_minutes = 20\nrepair_working_days = 0.5\n\
         when = { parent_down = true }\n\
         [[sla]]\nlevel = \"较大\"\nresponse_minutes = 30\nrepair_hours = 4\n\
         when = { min_devices = 3 }\n",
    )
    .unwrap();
    let f = facts_of(false, 1, &[], "340104");
    assert_eq!(c.sla_level(&f), None);
    assert_eq!(c.sla_level_or_last(&f).unwrap().level, "较大");
    let f = facts_of(false, 3, &[], "340104");
    assert_eq!(c.sla_level(&f).unwrap().level, "较大");
}

#[test]
fn level_errors_name_the_level() {
    let cases = [
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nresponse_minutes = 20\nrepair_hours = 2\n",
            "sla level \"重大\": response_hours and response_minutes given together; give one response limit",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\n",
            "sla level \"重大\": no repair limit; give one of repair_minutes, repair_hours, repair_working_hours, repair_working_days",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = \"-1\"\nrepair_hours = 2\n",
            "sla level \"重大\": response_hours = \"-1\" is negative",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hour = 2\n",
            "sla level \"重大\": unknown key `repair_hour`",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_seconds = 2\n",
            "sla level \"重大\": unknown key `repair_seconds`",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = \"one\"\nrepair_hours = 2\n",
            "sla level \"重大\": response_hours: \"one\" is not a decimal number",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_working_days = 4000\n",
            "sla level \"重大\": repair_working_days = 4000 is longer than 3660 days",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hours = 2\nwhen = { min_device = 10 }\n",
            "sla level \"重大\": when: unknown field `min_device`",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hours = 2\nwhen = { parent_down = false }\n",
            "sla level \"重大\": when: no condition",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hours = 2\nwhen = { min_devices = 0 }\n",
            "sla level \"重大\": when.min_devices = 0 matches every fault",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hours = 2\nwhen = { sites = [\"3401\"] }\n",
            "sla level \"重大\": when.sites: \"3401\":",
        ),
        (
            "[[sla]]\nlevel = \"重大\"\nresponse_hours = 1\nrepair_hours = 2\nwhen = { regions = [\"合肥\"] }\n",
            "sla level \"重大\": when.regions: \"合肥\" is not a civil-code prefix (1 to 12 digits)",
        ),
        (
            "[[sla]]\nlevel = \" \"\nresponse_hours = 1\nrepair_hours = 2\n",
            "sla: `level` is empty; name the level",
        ),
        (
            "[[sla]]\nlevel = \"A\"\nresponse_hours = 1\nrepair_hours = 2\n\
             [[sla]]\nlevel = \"A\"\nresponse_hours = 1\nrepair_hours = 3\n",
            "c.toml: sla level \"A\" is listed twice",
        ),
    ];
    for (text, want) in cases {
        let e = level_error(text);
        assert!(e.starts_with("c.toml: "), "{e}");
        assert!(e.contains(want), "{text}\n→ {e}\nwanted: {want}");
    }
}

#[test]
fn calendar_errors_name_the_file_and_field() {
    let e = Contract::parse(
        "name = \"x\"\n[calendar]\nhours = [\"13:30-17:30\", \"08:30-12:00\"]\n",
        "c.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "c.toml: calendar.hours: \"08:30-12:00\" comes before \"13:30-17:30\"; list the hours in order"
    );
    let e = Contract::parse("name = \"x\"\n[calendar]\nweekends = [\"sun\"]\n", "c.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `weekends`"), "{e}");
}
