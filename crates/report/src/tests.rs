//! A hand-worked month (February 2026, Asia/Shanghai, 672 hours) under the 98% example
//! contract, for both methods, plus determinism, bad inputs and the rendered formats.
//!
//! Register: cameras A, B, C, D (100.00 yuan maintenance + 50.00 link a month), an NVR (not a
//! point), camera E whose contract ended in January.
//! - A online all month.
//! - B offline the first 400 h (to 17 Feb 16:00), then online 272 h.
//! - C in contract from 15 Feb (336 h): online, with a picture fault 20 Feb 00:00–21 Feb 12:00
//!   (36 h degraded).
//! - D no data for 3 days (72 h unknown), online 500 h (to 24 Feb 20:00), offline 100 h to the
//!   end; planned works exempt 26 Feb (24 h) → offline counted 76 h.
//!
//! time_weighted: denominator 672 + 672 + 336 + (672 − 24 − 72) = 2256 h; online
//! 672 + 272 + 336 + 500 = 1780 h → 78.9007 %; intact (1780 − 36) / 2256 = 77.3050 %.
//! Points below 98: 98 − 178000/2256 = 19.0993; fee base 100 + 100 + 50 (C half the month) + 100
//! = 350.00 yuan; fleet deduction 19.0993 × 0.001 × 350 = 6.6848 → 6.68. B: 400 h > 360 h →
//! forfeits 100.00 + 50.00 = 150.00. Total 156.68.
//!
//! sampled (09:00, 15:00, 21:00; 84 checks per whole month): A 84 online; B 50 offline + 34
//! online; C 42 checks, 4 degraded; D 9 unknown (skipped), 62 online, 10 offline, 3 exempt
//! (skipped). Online 222 of 282 → 78.7234 %; points 5436/282 = 19.2766; fleet deduction
//! 19.2766 × 0.001 × 350 = 6.7468 → 6.75. Total 156.75.

use jiff::Timestamp;
use proptest::prelude::*;

use super::render::{Format, Lang, render};
use super::*;
use camwatch_core::contract::{Contract, Method};
use camwatch_core::history::{Exemption, ExemptionReason, ExemptionScope, Status, StatusSpan};
use camwatch_core::registry::{Device, DeviceCode};

const CONTRACT: &str = include_str!("../../../contracts/example-98.toml");

fn at(s: &str) -> i64 {
    format!("{s}:00+08:00")
        .parse::<Timestamp>()
        .unwrap()
        .as_second()
}

fn code(ty: &str, n: u32) -> DeviceCode {
    format!("3401040000{ty}0{n:06}").parse().unwrap()
}

fn device(n: u32, name: &str) -> Device {
    let mut d = Device::new(code("132", n), name);
    d.civil_code = Some("340104".into());
    d.maintainer = Some("合肥安视运维有限公司".into());
    d.monthly_fee_fen = Some(10_000);
    d.monthly_link_fee_fen = Some(5_000);
    d
}

fn span(n: u32, status: Status, from: &str, to: &str) -> StatusSpan {
    StatusSpan {
        device: code("132", n),
        status,
        start_at: at(from),
        end_at: at(to),
        cause: None,
    }
}

struct World {
    devices: Vec<Device>,
    spans: Vec<StatusSpan>,
    exemptions: Vec<Exemption>,
}

fn world() -> World {
    let mut c = device(3, "C 新装点位");
    c.contract_from = Some("2026-02-15".parse().unwrap());
    let mut e = device(5, "E 已退出");
    e.contract_to = Some("2026-01-31".parse().unwrap());
    let mut nvr = Device::new(code("118", 9), "NVR");
    nvr.civil_code = Some("340104".into());
    let devices = vec![
        device(1, "A 路口"),
        device(2, "B 小区"),
        c,
        device(4, "D 学校"),
        e,
        nvr,
    ];
    use Status::*;
    let mut spans = vec![
        span(1, Online, "2026-01-20T00:00", "2026-03-05T00:00"),
        span(2, Offline, "2026-01-31T10:00", "2026-02-17T16:00"),
        span(2, Online, "2026-02-17T16:00", "2026-03-01T00:00"),
        span(3, Online, "2026-02-01T00:00", "2026-02-20T00:00"),
        span(3, Degraded, "2026-02-20T00:00", "2026-02-21T12:00"),
        span(3, Online, "2026-02-21T12:00", "2026-03-01T00:00"),
        span(4, Online, "2026-02-04T00:00", "2026-02-24T20:00"),
        span(4, Offline, "2026-02-24T20:00", "2026-03-02T00:00"),
        span(5, Offline, "2026-02-01T00:00", "2026-03-01T00:00"),
    ];
    // History of a code missing from the register: reported, not counted.
    spans.push(StatusSpan {
        device: code("132", 77),
        status: Offline,
        start_at: at("2026-02-01T00:00"),
        end_at: at("2026-02-02T00:00"),
        cause: None,
    });
    let exemptions = vec![Exemption {
        id: 1,
        scope: ExemptionScope::Device(code("132", 4)),
        reason: ExemptionReason::PlannedWorks,
        start_at: at("2026-02-26T00:00"),
        end_at: at("2026-02-27T00:00"),
        note: "道路施工停电".into(),
        approved_by: "市局视频专班".into(),
    }];
    World {
        devices,
        spans,
        exemptions,
    }
}

fn report_with(w: &World, contract: &Contract, text: &str) -> Report {
    let tz = contract.time_zone().unwrap();
    let p = Period::month("2026-02".parse().unwrap(), tz, &contract.timezone);
    build(&ReportInput {
        period: &p,
        contract,
        contract_text: text,
        devices: &w.devices,
        spans: &w.spans,
        exemptions: &w.exemptions,
    })
    .unwrap()
}

fn contract(method: Method) -> Contract {
    let mut c = Contract::parse(CONTRACT, "example-98.toml").unwrap();
    c.method = method;
    c
}

#[test]
fn hand_worked_month_time_weighted() {
    let r = report_with(&world(), &contract(Method::TimeWeighted), CONTRACT);
    assert_eq!(r.period_hours, 672.0);
    assert_eq!(r.period_from, "2026-02-01T00:00:00+08:00");
    let f = &r.fleet;
    assert_eq!(f.devices, 4);
    assert_eq!(f.eligible_hours, 672.0 * 3.0 + 336.0);
    assert_eq!(f.online_hours, 1780.0);
    assert_eq!(f.degraded_hours, 36.0);
    assert_eq!(f.offline_hours, 400.0 + 76.0);
    assert_eq!(f.exempt_hours, 24.0);
    assert_eq!(f.unknown_hours, 72.0);
    assert_eq!(f.online_rate, Some(0.789007));
    assert_eq!(f.intact_rate, Some(0.77305));
    assert_eq!(r.maintenance_fee_base, 350.0);
    let amounts: Vec<(&str, Option<&str>, f64)> = r
        .deductions
        .iter()
        .map(|d| (d.rule.as_str(), d.device.as_deref(), d.amount))
        .collect();
    assert_eq!(
        amounts,
        vec![
            ("fleet_online_rate", None, 6.68),
            ("device_offline_limit", Some("34010400001320000002"), 150.0),
        ]
    );
    assert_eq!(r.total_deduction, 156.68);
    assert!(
        r.deductions[0].basis.contains("78.9007% (time_weighted)"),
        "{}",
        r.deductions[0].basis
    );
    assert!(
        r.deductions[0].basis.contains("19.0993 points below"),
        "{}",
        r.deductions[0].basis
    );

    let b = &r.devices[1];
    assert_eq!(
        (b.offline_hours, b.online_hours, b.outages),
        (400.0, 272.0, 1)
    );
    assert!(b.over_offline_limit);
    assert_eq!(b.deduction, 150.0);
    let c = &r.devices[2];
    assert_eq!(c.eligible_hours, 336.0);
    assert_eq!(c.eligible_from, "2026-02-15T00:00:00+08:00");
    assert_eq!(c.intact_rate, Some(0.892857)); // 300 / 336
    let d = &r.devices[3];
    assert_eq!(
        (
            d.unknown_hours,
            d.exempt_hours,
            d.offline_hours,
            d.longest_outage_hours
        ),
        (72.0, 24.0, 76.0, 76.0)
    );
    assert_eq!(r.exemptions.len(), 1);
    assert_eq!(
        (r.exemptions[0].devices, r.exemptions[0].device_hours),
        (1, 24.0)
    );
    assert_eq!(r.regions.len(), 1);
    assert_eq!(r.regions[0].totals.online_rate, Some(0.789007));
    assert_eq!(r.contractors[0].device_deductions, 150.0);
    let notes = r.notes.join("\n");
    assert!(notes.contains("1 NVRs"), "{notes}");
    assert!(notes.contains("34010400001320000005"), "{notes}");
    assert!(
        notes.contains("not in the register") && notes.contains("34010400001320000077"),
        "{notes}"
    );
}

#[test]
fn hand_worked_month_sampled() {
    let r = report_with(&world(), &contract(Method::Sampled), CONTRACT);
    let s = &r.fleet.samples;
    assert_eq!(
        (s.online, s.degraded, s.offline, s.unknown, s.exempt),
        (218, 4, 60, 9, 3)
    );
    assert_eq!(r.fleet.online_rate, Some(0.787234));
    assert_eq!(r.deductions[0].amount, 6.75);
    assert_eq!(r.total_deduction, 156.75);
    let b = &r.devices[1].samples;
    assert_eq!((b.offline, b.online), (50, 34));
}

#[test]
fn same_inputs_same_bytes_in_any_order() {
    let c = contract(Method::TimeWeighted);
    let w = world();
    let a = report_with(&w, &c, CONTRACT).to_json();
    let mut shuffled = world();
    shuffled.devices.reverse();
    shuffled.spans.reverse();
    let b = report_with(&shuffled, &c, CONTRACT).to_json();
    assert_eq!(a, b);
    // Another input, another digest.
    let mut changed = world();
    changed.spans[0].cause = Some(camwatch_core::cause::Cause::Other("refused".into()));
    let r2 = report_with(&changed, &c, CONTRACT);
    assert_ne!(r2.input_digest, report_with(&w, &c, CONTRACT).input_digest);
}

#[test]
fn overlapping_history_is_refused_not_counted() {
    let mut w = world();
    w.spans.push(span(
        1,
        Status::Offline,
        "2026-02-10T00:00",
        "2026-02-11T00:00",
    ));
    let c = contract(Method::TimeWeighted);
    let p = Period::month(
        "2026-02".parse().unwrap(),
        c.time_zone().unwrap(),
        "Asia/Shanghai",
    );
    let e = build(&ReportInput {
        period: &p,
        contract: &c,
        contract_text: CONTRACT,
        devices: &w.devices,
        spans: &w.spans,
        exemptions: &w.exemptions,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("34010400001320000001") && e.contains("overlaps"),
        "{e}"
    );
}

#[test]
fn a_month_with_no_data_says_so() {
    let mut w = world();
    w.spans.clear();
    let r = report_with(&w, &contract(Method::TimeWeighted), CONTRACT);
    assert_eq!(r.fleet.online_rate, None);
    assert_eq!(
        r.fleet.unknown_hours,
        r.fleet.eligible_hours - r.fleet.exempt_hours
    );
    assert!(r.deductions.iter().all(|d| d.rule != "fleet_online_rate"));
    assert!(
        r.notes.iter().any(|n| n.contains("nothing was observed")),
        "{:?}",
        r.notes
    );
}

#[test]
fn formats_carry_the_content() {
    let r = report_with(&world(), &contract(Method::TimeWeighted), CONTRACT);
    let csv = String::from_utf8(render(&r, Format::Csv, Lang::Zh).unwrap()).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert!(csv.contains("扣款合计(元),156.68"), "{csv}");
    assert!(csv.contains("34010400001320000002"));
    let html = String::from_utf8(render(&r, Format::Html, Lang::En).unwrap()).unwrap();
    assert!(html.contains("size: A4") && html.contains("156.68") && html.contains("Signatures"));
    assert!(!html.contains("<script"));
    let xlsx = render(&r, Format::Xlsx, Lang::Zh).unwrap();
    use calamine::{DataType, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec!["汇总", "点位明细", "扣款明细", "免责记录"]
    );
    let devices = wb.worksheet_range("点位明细").unwrap();
    assert_eq!(devices.get((0, 0)).unwrap().to_string(), "设备编码");
    assert_eq!(
        devices.get((2, 0)).unwrap().to_string(),
        "34010400001320000002"
    );
    assert_eq!(devices.get((2, 9)).unwrap().as_f64(), Some(400.0));
}

#[test]
fn dst_zone_month_counts_civil_hours() {
    let text = CONTRACT.replace("Asia/Shanghai", "Europe/Berlin");
    let c = Contract::parse(&text, "berlin.toml").unwrap();
    let tz = c.time_zone().unwrap();
    let p = Period::month("2026-03".parse().unwrap(), tz, "Europe/Berlin");
    let d = device(1, "A");
    let s = StatusSpan {
        device: d.code,
        status: Status::Online,
        start_at: p.start_at - 1000,
        end_at: p.end_at + 1000,
        cause: None,
    };
    let r = build(&ReportInput {
        period: &p,
        contract: &c,
        contract_text: &text,
        devices: std::slice::from_ref(&d),
        spans: std::slice::from_ref(&s),
        exemptions: &[],
    })
    .unwrap();
    assert_eq!(r.fleet.eligible_hours, 743.0);
    assert_eq!(r.fleet.online_rate, Some(1.0));
    assert_eq!(r.period_from, "2026-03-01T00:00:00+01:00");
    assert_eq!(r.period_to, "2026-04-01T00:00:00+02:00");
}

proptest! {
    /// Cutting any span in two at any instant changes no figure (only the digest).
    #[test]
    fn splitting_a_span_changes_nothing(which in 0usize..9, frac in 0.0f64..1.0) {
        let c = contract(Method::TimeWeighted);
        let w = world();
        let whole = report_with(&w, &c, CONTRACT);
        let mut cut = world();
        let s = cut.spans[which].clone();
        let mid = s.start_at + ((s.end_at - s.start_at) as f64 * frac) as i64;
        prop_assume!(mid > s.start_at && mid < s.end_at);
        cut.spans[which].end_at = mid;
        cut.spans.push(StatusSpan { start_at: mid, ..s });
        let split = report_with(&cut, &c, CONTRACT);
        prop_assert_eq!(&whole.fleet, &split.fleet);
        prop_assert_eq!(&whole.deductions, &split.deductions);
        prop_assert_eq!(&whole.devices, &split.devices);
    }
}

/// Names, contractors and exemption text typed by people must not run as formulas when the CSV
/// is opened in Excel or WPS; numbers stay numbers. XLSX carries them as string cells.
#[test]
fn user_text_never_runs_as_a_formula() {
    let mut w = world();
    w.devices[0].name = "=HYPERLINK(\"http://x.example/\",\"A\")".into();
    for d in &mut w.devices {
        d.maintainer = Some("+合肥安视".into());
    }
    w.exemptions[0].note = "@SUM(A1)".into();
    w.exemptions[0].approved_by = "-专班".into();
    let r = report_with(&w, &contract(Method::TimeWeighted), CONTRACT);
    let bytes = render(&r, Format::Csv, Lang::En).unwrap();
    let mut rdr = ::csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(&bytes[3..]);
    let cells: Vec<String> = rdr
        .records()
        .flat_map(|x| x.unwrap().iter().map(String::from).collect::<Vec<_>>())
        .collect();
    for c in &cells {
        assert!(
            !camwatch_core::spreadsheet::needs_escape(c)
                || c.starts_with('\'')
                || camwatch_core::spreadsheet::is_plain_number(c),
            "{c:?} would run as a formula"
        );
    }
    for want in [
        "'=HYPERLINK(\"http://x.example/\",\"A\")",
        "'+合肥安视",
        "'@SUM(A1)",
        "'-专班",
        "156.68",
    ] {
        assert!(cells.iter().any(|c| c == want), "{want:?} in {cells:?}");
    }
    let xlsx = render(&r, Format::Xlsx, Lang::En).unwrap();
    use calamine::{Data, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    for sheet in wb.sheet_names() {
        let f = wb.worksheet_formula(&sheet).unwrap();
        assert!(f.used_cells().all(|(_, _, f)| f.is_empty()), "{sheet}");
    }
    let sheet = wb.sheet_names()[1].clone();
    let devices = wb.worksheet_range(&sheet).unwrap();
    assert!(
        devices
            .used_cells()
            .any(|(_, _, c)| *c == Data::String(w.devices[0].name.clone())),
        "the name as a string cell, without a prefix"
    );
}
