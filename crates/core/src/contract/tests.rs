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
