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
        work_orders: &[],
        now: p.end_at,
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
    assert_eq!(r.regions[0].name.as_deref(), Some("安徽省合肥市蜀山区"));
    assert_eq!(r.contractors[0].name, None);
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

/// A report's input digest is how an auditor checks, months later and with a later camwatch,
/// that a report was made from the data it claims: its form must not change by accident.
#[test]
fn the_input_digest_is_stable_across_versions() {
    let c = contract(Method::TimeWeighted);
    let mut w = world();
    w.spans[1].cause = Some(camwatch_core::cause::Cause::NoMedia);
    assert_eq!(
        report_with(&w, &c, CONTRACT).input_digest,
        "c7aa0167e3d11364bf9883e1b68c6d02f74214fa36d9d6ba41ba9ff3586e2e4f"
    );
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
        work_orders: &[],
        now: p.end_at,
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

/// Written as it is made, each format is the bytes `render` gives (JSON, the canonical form,
/// included: streamed, it must not change by a byte).
#[test]
fn written_as_made_is_rendered_whole() {
    let r = report_with(&world(), &contract(Method::TimeWeighted), CONTRACT);
    for format in [Format::Json, Format::Csv, Format::Xlsx, Format::Html] {
        let mut out = Vec::new();
        super::render::render_to(&r, format, Lang::Zh, &mut out).unwrap();
        assert_eq!(out, render(&r, format, Lang::Zh).unwrap(), "{format:?}");
    }
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
    // The charts: daily against the threshold, regions, contractors, causes.
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    assert!(html.contains("Threshold 98%"));
    let xlsx = render(&r, Format::Xlsx, Lang::Zh).unwrap();
    use calamine::{DataType, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec!["汇总", "统计图", "点位明细", "扣款明细", "免责记录", "工单"]
    );
    // The charts sheet: the daily rates as numbers, and four native charts reading them.
    let charts = wb.worksheet_range("统计图").unwrap();
    assert_eq!(charts.get((0, 3)).unwrap().to_string(), "考核线");
    assert_eq!(charts.get((1, 0)).unwrap().to_string(), "2026-02-01");
    assert_eq!(charts.get((1, 1)).unwrap().as_f64(), Some(50.0));
    assert_eq!(charts.get((1, 3)).unwrap().as_f64(), Some(98.0));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(
        render(&r, Format::Xlsx, Lang::Zh).unwrap(),
    ))
    .unwrap();
    let parts: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let mut charts: Vec<&String> = parts
        .iter()
        .filter(|n| n.starts_with("xl/charts/chart"))
        .collect();
    charts.sort();
    assert_eq!(charts.len(), 4, "{parts:?}");
    let mut daily = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(charts[0]).unwrap(), &mut daily).unwrap();
    assert!(daily.contains("<c:lineChart>"), "{daily}");
    assert!(daily.contains("$B$2:$B$29"), "{daily}");
    let devices = wb.worksheet_range("点位明细").unwrap();
    assert_eq!(devices.get((0, 0)).unwrap().to_string(), "设备编码");
    assert_eq!(
        devices.get((2, 0)).unwrap().to_string(),
        "34010400001320000002"
    );
    assert_eq!(devices.get((2, 9)).unwrap().as_f64(), Some(400.0));
}

/// The daily chart's figures and the outage causes, worked by hand from the month above.
#[test]
fn daily_rates_and_outage_causes_hand_worked() {
    use camwatch_core::cause::Cause;
    use camwatch_core::outcome::FailureKind;
    let mut w = world();
    for s in &mut w.spans {
        if s.device == code("132", 2) && s.status == Status::Offline {
            s.cause = Some(Cause::Failure(FailureKind::ConnectionRefused));
        }
    }
    let r = report_with(&w, &contract(Method::TimeWeighted), CONTRACT);
    assert_eq!(r.online_threshold_percent, Some(98.0));
    assert_eq!(r.daily.len(), 28);
    let day = |d: &str| {
        let x = r.daily.iter().find(|x| x.date == d).unwrap();
        (x.online_rate, x.intact_rate)
    };
    // A online, B offline; C not yet in contract; D has no data (unknown, excluded).
    assert_eq!(day("2026-02-01"), (Some(0.5), Some(0.5)));
    // B back online at 16:00: (24 + 8 + 24 + 24) / 96.
    assert_eq!(day("2026-02-17"), (Some(0.833333), Some(0.833333)));
    // C degraded all day: online, not intact.
    assert_eq!(day("2026-02-20"), (Some(1.0), Some(0.75)));
    // D offline from 20:00.
    assert_eq!(day("2026-02-24"), (Some(0.958333), Some(0.958333)));
    assert_eq!(day("2026-02-25"), (Some(0.75), Some(0.75)));
    // D's offline day is exempt: out of the denominator.
    assert_eq!(day("2026-02-26"), (Some(1.0), Some(1.0)));
    let causes: Vec<(&str, f64, u64)> = r
        .outage_causes
        .iter()
        .map(|c| (c.cause.as_str(), c.offline_hours, c.devices))
        .collect();
    assert_eq!(
        causes,
        vec![("connection_refused", 400.0, 1), ("unrecorded", 76.0, 1)]
    );
    let csv = String::from_utf8(render(&r, Format::Csv, Lang::Zh).unwrap()).unwrap();
    assert!(csv.contains("连接被拒绝,400.0000,1"), "{csv}");
    assert!(csv.contains("2026-02-20,100.0000,75.0000"), "{csv}");
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
        work_orders: &[],
        now: p.end_at,
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
    let devices = wb.worksheet_range("Devices").unwrap();
    assert!(
        devices
            .used_cells()
            .any(|(_, _, c)| *c == Data::String(w.devices[0].name.clone())),
        "the name as a string cell, without a prefix"
    );
}

// --- Work orders ---------------------------------------------------------------------------
//
// A hand-computed February of six orders. Level 一级: respond within 30 min, repair within 4 h;
// 二级: 60 min and 24 h (deadlines are data on the order; the contract's calendar made them).
// The report is made on 3 March 12:00, after the month: orders stand as they are then.
//
// | id  | level | kind    | contractor | region | opened       | responded     | repair stood   | state           |
// | 101 | 一级  | outage  | 甲         | 340104 | 02-03 08:00  | 08:20 (20)    | 10:00 (120)    | closed repaired |
// | 102 | 一级  | picture | 甲         | 340104 | 02-10 09:00  | 09:45 (45) ✗  | 12:30 (210)    | awaiting review |
// | 103 | 二级  | outage  | 乙         | 340103 | 02-12 14:00  | 14:30 (30)    | 02-13 20:00 (1800) ✗ | closed     |
// | 104 | 二级  | parent  | 乙         | 340103 | 02-20 10:00  | —             | —              | closed recovered 10:40 |
// | 105 | 一级  | outage  | (none)     | 340104 | 02-27 22:00  | — ✗           | — ✗            | pending         |
// | 106 | 二级  | manual  | 乙         | 340104 | 02-28 20:00  | 20:40 (40)    | 03-01 21:00 (1500) ✗ | closed 03-02 |
//
// (minutes from opening in brackets; ✗ a missed deadline)
// - States: pending 1, accepted 0, repaired 0, awaiting review 1, closed 4; open 2 (102, 105).
// - Response: 20, 30, 40, 45 → mean 135 / 4 = 33.75 min; p90 nearest rank ⌈0.9 × 4⌉ = 4th = 45.
// - Repair (stood): 120, 210, 1500, 1800 → mean 3630 / 4 = 907.5 min; p90 = 4th = 1800.
// - Response SLA: met 101, 103, 106; missed 102 (late), 105 (none by 22:30); 104 closed at
//   10:40 before its 11:00 deadline with nothing owed: not counted. 3 / 5 = 60 %.
// - Repair SLA: met 101, 102 (12:30 ≤ 13:00); missed 103, 105, 106; 104 not counted. 2 / 5 = 40 %.
// - Overdue: 102 (response), 103 (repair), 105 (both), 106 (repair).
// - 甲 (101, 102): 2 orders, 1 open; response 20, 45 → mean 32.5, p90 45; repair 120, 210 →
//   mean 165, p90 210; response 1 met 1 missed = 50 %; repair 2 met = 100 %.
// - 乙 (103, 104, 106): 3 orders, 0 open; response 30, 40 → mean 35, p90 40; repair 1800, 1500
//   → mean 1650, p90 1800; response 2 met = 100 %; repair 2 missed = 0 %.
// - unassigned (105): 1 order, open; no times; response 0 / 1, repair 0 / 1 = 0 %.
// - 一级 (101, 102, 105): response met 1, missed 2 = 33.3333 %; repair met 2, missed 1 =
//   66.6667 %. 二级 (103, 104, 106): response 2 / 2 = 100 %; repair 0 / 2 = 0 %.
// - Fault kinds: outage 3 (101, 103, 105), picture 1, parent 1, manual 1 (none regional).
// - Regions: 340103 2 orders, 340104 4.

use camwatch_core::workorder::{Lifecycle, Origin, Resolution, State};
use camwatch_store::workorders::WorkOrder;

const JIA: &str = "合肥安视运维有限公司";
const YI: &str = "庐阳维保";

fn order(
    id: i64,
    level: &str,
    origin: Origin,
    contractor: Option<&str>,
    region: &str,
    opened: &str,
    f: impl FnOnce(&mut Lifecycle),
) -> WorkOrder {
    let opened_at = at(opened);
    let (respond, repair) = if level == "一级" {
        (30 * 60, 4 * 3600)
    } else {
        (60 * 60, 24 * 3600)
    };
    let mut life = Lifecycle {
        contractor: contractor.map(String::from),
        response_due_at: Some(opened_at + respond),
        repair_due_at: Some(opened_at + repair),
        ..Lifecycle::default()
    };
    f(&mut life);
    WorkOrder {
        id,
        subject: code("132", id as u32 - 100),
        origin,
        cause: None,
        title: format!("工单 {id}"),
        level: level.into(),
        region: region.into(),
        fault_since: opened_at - 600,
        opened_at,
        life,
        version: 1,
    }
}

fn orders() -> Vec<WorkOrder> {
    let t = |s: &str| Some(at(s));
    vec![
        order(
            101,
            "一级",
            Origin::Outage,
            Some(JIA),
            "340104",
            "2026-02-03T08:00",
            |l| {
                l.state = State::Closed;
                l.accepted_at = t("2026-02-03T08:20");
                l.repaired_at = t("2026-02-03T10:00");
                l.closed_at = t("2026-02-03T11:00");
                l.resolution = Some(Resolution::Repaired);
            },
        ),
        order(
            102,
            "一级",
            Origin::Picture,
            Some(JIA),
            "340104",
            "2026-02-10T09:00",
            |l| {
                l.state = State::AwaitingReview;
                l.accepted_at = t("2026-02-10T09:45");
                l.response_overdue_at = t("2026-02-10T09:30");
                l.repaired_at = t("2026-02-10T12:30");
            },
        ),
        order(
            103,
            "二级",
            Origin::Outage,
            Some(YI),
            "340103",
            "2026-02-12T14:00",
            |l| {
                l.state = State::Closed;
                l.accepted_at = t("2026-02-12T14:30");
                l.repair_overdue_at = t("2026-02-13T14:00");
                l.repaired_at = t("2026-02-13T20:00");
                l.closed_at = t("2026-02-13T22:00");
                l.resolution = Some(Resolution::Repaired);
            },
        ),
        order(
            104,
            "二级",
            Origin::Parent,
            Some(YI),
            "340103",
            "2026-02-20T10:00",
            |l| {
                l.state = State::Closed;
                l.fault_ended_at = t("2026-02-20T10:20");
                l.closed_at = t("2026-02-20T10:40");
                l.resolution = Some(Resolution::Recovered);
            },
        ),
        order(
            105,
            "一级",
            Origin::Outage,
            None,
            "340104",
            "2026-02-27T22:00",
            |l| {
                l.response_overdue_at = t("2026-02-27T22:30");
                l.repair_overdue_at = t("2026-02-28T02:00");
            },
        ),
        order(
            106,
            "二级",
            Origin::Manual,
            Some(YI),
            "340104",
            "2026-02-28T20:00",
            |l| {
                l.state = State::Closed;
                l.accepted_at = t("2026-02-28T20:40");
                l.repair_overdue_at = t("2026-03-01T20:00");
                l.repaired_at = t("2026-03-01T21:00");
                l.closed_at = t("2026-03-02T09:00");
                l.resolution = Some(Resolution::Repaired);
            },
        ),
    ]
}

fn report_with_orders(w: &World, orders: &[WorkOrder], now: i64) -> Report {
    let c = contract(Method::TimeWeighted);
    let p = Period::month(
        "2026-02".parse().unwrap(),
        c.time_zone().unwrap(),
        &c.timezone,
    );
    build(&ReportInput {
        period: &p,
        contract: &c,
        contract_text: CONTRACT,
        devices: &w.devices,
        spans: &w.spans,
        exemptions: &w.exemptions,
        work_orders: orders,
        now,
    })
    .unwrap()
}

fn made_at() -> i64 {
    at("2026-03-03T12:00")
}

fn fig(
    orders: u64,
    open: u64,
    response: (u64, Option<f64>, Option<f64>),
    repair: (u64, Option<f64>, Option<f64>),
    response_sla: (u64, u64, Option<f64>),
    repair_sla: (u64, u64, Option<f64>),
) -> OrderFigures {
    let times = |(count, mean_minutes, p90_minutes)| OrderTimes {
        count,
        mean_minutes,
        p90_minutes,
    };
    let sla = |(met, missed, percent)| OrderSla {
        met,
        missed,
        percent,
    };
    OrderFigures {
        orders,
        open,
        response: times(response),
        repair: times(repair),
        response_sla: sla(response_sla),
        repair_sla: sla(repair_sla),
    }
}

#[test]
fn hand_computed_work_order_month() {
    let mut os = orders();
    os.reverse(); // any order in, the same report out
    let r = report_with_orders(&world(), &os, made_at());
    let w = &r.work_orders;
    assert_eq!(
        w.all,
        fig(
            6,
            2,
            (4, Some(33.75), Some(45.0)),
            (4, Some(907.5), Some(1800.0)),
            (3, 2, Some(60.0)),
            (2, 3, Some(40.0)),
        )
    );
    let states: Vec<(&str, u64)> = w
        .by_state
        .iter()
        .map(|s| (s.state.as_str(), s.orders))
        .collect();
    assert_eq!(
        states,
        vec![
            ("pending", 1),
            ("accepted", 0),
            ("repaired", 0),
            ("awaiting_review", 1),
            ("closed", 4)
        ]
    );
    let group = |g: &[OrderGroup], k: &str| {
        g.iter()
            .find(|g| g.key == k)
            .unwrap_or_else(|| panic!("{k}"))
            .figures
            .clone()
    };
    assert_eq!(
        w.by_contractor
            .iter()
            .map(|g| &g.key[..])
            .collect::<Vec<_>>(),
        vec!["", JIA, YI]
    );
    assert_eq!(
        group(&w.by_contractor, JIA),
        fig(
            2,
            1,
            (2, Some(32.5), Some(45.0)),
            (2, Some(165.0), Some(210.0)),
            (1, 1, Some(50.0)),
            (2, 0, Some(100.0)),
        )
    );
    assert_eq!(
        group(&w.by_contractor, YI),
        fig(
            3,
            0,
            (2, Some(35.0), Some(40.0)),
            (2, Some(1650.0), Some(1800.0)),
            (2, 0, Some(100.0)),
            (0, 2, Some(0.0)),
        )
    );
    assert_eq!(
        group(&w.by_contractor, ""),
        fig(
            1,
            1,
            (0, None, None),
            (0, None, None),
            (0, 1, Some(0.0)),
            (0, 1, Some(0.0)),
        )
    );
    let l1 = group(&w.by_level, "一级");
    assert_eq!(
        (l1.orders, &l1.response_sla, &l1.repair_sla),
        (
            3,
            &OrderSla {
                met: 1,
                missed: 2,
                percent: Some(33.3333)
            },
            &OrderSla {
                met: 2,
                missed: 1,
                percent: Some(66.6667)
            }
        )
    );
    let l2 = group(&w.by_level, "二级");
    assert_eq!(
        (l2.orders, l2.response_sla.percent, l2.repair_sla.percent),
        (3, Some(100.0), Some(0.0))
    );
    let kinds: Vec<(&str, u64)> = w
        .by_origin
        .iter()
        .map(|g| (g.key.as_str(), g.figures.orders))
        .collect();
    assert_eq!(
        kinds,
        vec![("outage", 3), ("picture", 1), ("parent", 1), ("manual", 1)]
    );
    let regions: Vec<(&str, u64)> = w
        .by_region
        .iter()
        .map(|g| (g.key.as_str(), g.figures.orders))
        .collect();
    assert_eq!(regions, vec![("340103", 2), ("340104", 4)]);

    let overdue: Vec<(i64, &str)> = w
        .overdue
        .iter()
        .map(|o| (o.id, o.missed.as_str()))
        .collect();
    assert_eq!(
        overdue,
        vec![
            (102, "response"),
            (103, "repair"),
            (105, "both"),
            (106, "repair")
        ]
    );
    let o106 = &w.overdue[3];
    assert_eq!(
        (
            o106.title.as_str(),
            o106.contractor.as_str(),
            o106.state.as_str(),
            o106.opened.as_str(),
            o106.responded.as_str(),
            o106.repair_due.as_str(),
            o106.repaired.as_str(),
        ),
        (
            "工单 106",
            YI,
            "closed",
            "2026-02-28T20:00:00+08:00",
            "2026-02-28T20:40:00+08:00",
            "2026-03-01T20:00:00+08:00",
            "2026-03-01T21:00:00+08:00",
        )
    );
    let o105 = &w.overdue[2];
    assert_eq!(
        (
            o105.contractor.as_str(),
            o105.responded.as_str(),
            o105.repaired.as_str()
        ),
        ("", "", "")
    );
    assert!(
        r.semantics
            .iter()
            .any(|s| s.contains("as the orders stand when the report is made")),
        "{:?}",
        r.semantics
    );
    // The availability figures do not change with work orders.
    let plain = report_with(&world(), &contract(Method::TimeWeighted), CONTRACT);
    assert_eq!((&r.fleet, &r.deductions), (&plain.fleet, &plain.deductions));
    assert_eq!(plain.work_orders.all.orders, 0);
    assert_eq!(plain.work_orders.by_state.len(), 5);

    // JSON: the section with its figures.
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let j = &v["work_orders"];
    assert_eq!(j["orders"], 6);
    assert_eq!(j["response"]["mean_minutes"], 33.75);
    assert_eq!(j["repair_sla"]["percent"], 40.0);
    assert_eq!(j["by_contractor"][1]["key"], JIA);
    assert_eq!(j["by_contractor"][1]["response_sla"]["percent"], 50.0);
    assert_eq!(j["overdue"][2]["id"], 105);

    // The same figures in every format.
    let csv = String::from_utf8(render(&r, Format::Csv, Lang::Zh).unwrap()).unwrap();
    for want in [
        "工单统计",
        "工单数,6",
        "平均响应时长(分钟),33.75",
        "修复时长P90(分钟),1800.00",
        "响应及时率(%),60.0000",
        "修复及时率(%),40.0000",
        "超时工单,4",
        "已完成,4",
        "（未指派）,1,1,0,,,0,,,0,1,0.0000,0,1,0.0000",
        "105,工单 105,一级,离线,,340104,待处理,2026-02-27T22:00:00+08:00",
        "响应及修复超时",
    ] {
        assert!(csv.contains(want), "{want} in {csv}");
    }
    let html = String::from_utf8(render(&r, Format::Html, Lang::En).unwrap()).unwrap();
    for want in [
        "Work orders by contractor",
        "<td>Mean response (min)</td><td>33.75</td>",
        "<td>Repair SLA %</td><td>40.0000</td>",
        "<td>Response and repair</td>",
        "<td>Awaiting review</td><td>1</td>",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    let xlsx = render(&r, Format::Xlsx, Lang::En).unwrap();
    use calamine::{DataType, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec![
            "Summary",
            "Charts",
            "Devices",
            "Deductions",
            "Exemptions",
            "Work orders"
        ]
    );
    let sheet = wb.worksheet_range("Work orders").unwrap();
    let cells: Vec<(usize, usize, String)> = sheet
        .used_cells()
        .map(|(r, c, v)| (r, c, v.to_string()))
        .collect();
    let row_of = |label: &str| {
        cells
            .iter()
            .find(|(_, c, v)| *c == 0 && v == label)
            .map(|&(r, _, _)| r)
            .unwrap_or_else(|| panic!("{label}"))
    };
    let r_mean = row_of("Mean repair (min)");
    assert_eq!(sheet.get((r_mean, 1)).unwrap().as_f64(), Some(907.5));
    let r_jia = row_of(JIA);
    assert_eq!(sheet.get((r_jia, 1)).unwrap().as_f64(), Some(2.0));
}

/// The example contract with this test's two levels, priced.
const PRICED_LEVELS: &str = r#"
[[sla]]
level = "一级"
response_minutes = "30"
repair_hours = "4"
penalty = { late_response_yuan = "50", late_repair_yuan = "200", late_repair_steps = [{ hours_late = "12", yuan = "500" }] }

[[sla]]
level = "二级"
response_minutes = "60"
repair_hours = "24"
penalty = { late_repair_yuan = "100" }
"#;

fn priced_contract_text() -> String {
    // The example's own levels give way to the two the orders above were opened with.
    let start = CONTRACT.find("[[sla]]").unwrap();
    let end = CONTRACT.find("[calendar]").unwrap();
    format!(
        "{}{PRICED_LEVELS}\n{}",
        &CONTRACT[..start],
        &CONTRACT[end..]
    )
}

fn priced_report(orders: &[WorkOrder], now: i64) -> Report {
    let text = priced_contract_text();
    let c = Contract::parse(&text, "priced.toml").unwrap();
    let p = Period::month(
        "2026-02".parse().unwrap(),
        c.time_zone().unwrap(),
        &c.timezone,
    );
    let w = world();
    build(&ReportInput {
        period: &p,
        contract: &c,
        contract_text: &text,
        devices: &w.devices,
        spans: &w.spans,
        exemptions: &w.exemptions,
        work_orders: orders,
        now,
    })
    .unwrap()
}

/// The month of `orders()` under a priced contract, worked by hand at 2026-03-03 12:00:
/// - 101 (一级): answered 08:20 ≤ 08:30, repaired 10:00 ≤ 12:00: nothing;
/// - 102 (一级): answered 09:45 > 09:30: 50; repaired 12:30 ≤ 13:00: nothing;
/// - 103 (二级): answered in time; repaired 02-13 20:00, 6 h after 14:00: 100 (flat);
/// - 104: closed by itself before both deadlines: nothing;
/// - 105 (一级): never answered: 50; repair due 02-28 02:00, none by 03-03 12:00 (82 h late):
///   the 12 h step, 500;
/// - 106 (二级): repaired 03-01 21:00, 1 h after 20:00: 100.
///
/// 800 yuan of SLA deductions, after the availability lines, which do not change.
#[test]
fn hand_computed_sla_deductions() {
    let mut os = orders();
    os.reverse();
    let r = priced_report(&os, made_at());
    let plain = report_with(&world(), &contract(Method::TimeWeighted), CONTRACT);
    let (avail, sla) = r.deductions.split_at(plain.deductions.len());
    assert_eq!(avail, &plain.deductions[..]);
    let lines: Vec<(&str, Option<i64>, Option<&str>, f64)> = sla
        .iter()
        .map(|d| (d.rule.as_str(), d.order, d.device.as_deref(), d.amount))
        .collect();
    let subject = |id: u32| Some(code("132", id - 100).to_string());
    let s = |id| subject(id);
    assert_eq!(
        lines,
        vec![
            ("sla_late_response", Some(102), s(102).as_deref(), 50.0),
            ("sla_late_repair", Some(103), s(103).as_deref(), 100.0),
            ("sla_late_response", Some(105), s(105).as_deref(), 50.0),
            ("sla_late_repair", Some(105), s(105).as_deref(), 500.0),
            ("sla_late_repair", Some(106), s(106).as_deref(), 100.0),
        ]
    );
    assert_eq!(
        sla[3].basis,
        "work order 105 (一级): repair due 2026-02-28 02:00:00, not repaired when the report \
         was made; 500.00 yuan for lateness from 12.00 h"
    );
    assert_eq!(
        sla[1].basis,
        "work order 103 (二级): repair due 2026-02-13 14:00:00, repaired 2026-02-13 \
         20:00:00: 6.00 h late; 100.00 yuan per late repair"
    );
    assert_eq!(
        r.total_deduction,
        super::round(plain.total_deduction + 800.0, 2)
    );
    // The device rows carry their orders' lines: device 1 (order 101) nothing, device 2
    // (order 102) its 50.
    let row = |n: u32| {
        r.devices
            .iter()
            .find(|d| d.code == code("132", n).to_string())
            .map(|d| d.deduction)
    };
    let plain_row = |n: u32| {
        plain
            .devices
            .iter()
            .find(|d| d.code == code("132", n).to_string())
            .map(|d| d.deduction)
    };
    assert_eq!(row(1), plain_row(1));
    assert_eq!(row(2).zip(plain_row(2)).map(|(a, b)| a - b), Some(50.0));
    assert!(
        r.semantics.iter().any(|s| s.contains("SLA deductions")),
        "{:?}",
        r.semantics
    );
    // Made again a month later: 105 is still unrepaired and past its last step, so the
    // figures and the digest stay.
    let later = priced_report(&orders(), made_at() + 30 * 86_400);
    assert_eq!(later.deductions, r.deductions);
    assert_eq!(later.input_digest, r.input_digest);
    // Made before 105 reached its 12 h step (02-28 13:59:59 local): the flat price, and
    // another digest.
    let before = priced_report(&orders(), at("2026-02-28T13:59") + 59);
    let l105: Vec<f64> = before
        .deductions
        .iter()
        .filter(|d| d.order == Some(105) && d.rule == "sla_late_repair")
        .map(|d| d.amount)
        .collect();
    assert_eq!(l105, [200.0]);
    assert_ne!(before.input_digest, r.input_digest);
    // Rendered with the order's number in its own column.
    let csv = String::from_utf8(render(&r, Format::Csv, Lang::En).unwrap()).unwrap();
    assert!(
        csv.contains("Late repair,34010400001320000005,105,500.00,"),
        "{csv}"
    );
}

/// The example contract lists neither 一级 nor 二级: late orders of those levels are named
/// in a note, not priced.
#[test]
fn unpriced_levels_are_named() {
    let r = report_with_orders(&world(), &orders(), made_at());
    assert!(r.deductions.iter().all(|d| d.order.is_none()));
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("4 late work orders have a level the contract does not list")),
        "{:?}",
        r.notes
    );
}

#[test]
fn the_digest_covers_the_work_orders() {
    let w = world();
    let plain = report_with(&w, &contract(Method::TimeWeighted), CONTRACT);
    let with = report_with_orders(&w, &orders(), made_at());
    assert_ne!(plain.input_digest, with.input_digest);
    // Without orders the digest is what it was before reports had a work-order section
    // (computed on the parent commit), whatever `now` is.
    assert_eq!(
        plain.input_digest,
        report_with_orders(&w, &[], made_at()).input_digest
    );
    assert_eq!(plain.input_digest, PLAIN_DIGEST);
    // Order-independent.
    let mut rev = orders();
    rev.reverse();
    assert_eq!(
        report_with_orders(&w, &rev, made_at()).to_json(),
        with.to_json()
    );
    // Any change to an order changes it: a state, a contractor, a lifecycle time, a title.
    let changes: [fn(&mut WorkOrder); 5] = [
        |o| o.life.state = State::Closed,
        |o| o.life.contractor = Some("别家".into()),
        |o| o.life.fault_ended_at = Some(o.opened_at + 1),
        |o| o.title.push('!'),
        |o| o.level = "三级".into(),
    ];
    for (k, change) in changes.iter().enumerate() {
        let mut os = orders();
        change(&mut os[4]);
        assert_ne!(
            report_with_orders(&w, &os, made_at()).input_digest,
            with.input_digest,
            "change {k}"
        );
    }
    // Made again later, once every deadline has passed, the report is the same, digest and all.
    let later = report_with_orders(&w, &orders(), at("2026-06-01T00:00"));
    assert_eq!(later.to_json(), with.to_json());
    // But `now` counts while a deadline is still ahead: 105 unflagged, looked at before its
    // response deadline and after.
    let mut os = orders();
    os.truncate(5);
    os[4].life.response_overdue_at = None;
    os[4].life.repair_overdue_at = None;
    let before = report_with_orders(&w, &os, at("2026-02-27T22:10"));
    let after = report_with_orders(&w, &os, at("2026-02-27T22:40"));
    assert_ne!(before.input_digest, after.input_digest);
    assert_eq!(
        (
            before.work_orders.all.response_sla.missed,
            after.work_orders.all.response_sla.missed
        ),
        (1, 2)
    );
}

/// The digest of `report_with(&world(), time_weighted)` before reports had a work-order
/// section (with the example contract as it is now: its text is an input).
const PLAIN_DIGEST: &str = "64b94efa2451e96c640a6f2a077cc8fbd6a5360fa614d8b6456d9129e5d8b7d8";

/// Titles and contractor names are typed by people: escaped in HTML, never a formula in CSV or
/// XLSX.
#[test]
fn work_order_text_is_escaped() {
    let mut os = orders();
    os[4].title = "<script>alert(1)</script>".into();
    os[2].title = "=HYPERLINK(\"http://x.example/\",\"A\")".into();
    os[2].life.contractor = Some("+乙".into());
    os[2].level = "@一级".into();
    let r = report_with_orders(&world(), &os, made_at());
    let html = String::from_utf8(render(&r, Format::Html, Lang::Zh).unwrap()).unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let bytes = render(&r, Format::Csv, Lang::Zh).unwrap();
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
    for want in ["'=HYPERLINK(\"http://x.example/\",\"A\")", "'+乙", "'@一级"] {
        assert!(cells.iter().any(|c| c == want), "{want:?} in {cells:?}");
    }
    let xlsx = render(&r, Format::Xlsx, Lang::Zh).unwrap();
    use calamine::{Data, Reader};
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    for sheet in wb.sheet_names() {
        let f = wb.worksheet_formula(&sheet).unwrap();
        assert!(f.used_cells().all(|(_, _, f)| f.is_empty()), "{sheet}");
    }
    let sheet = wb.worksheet_range("工单").unwrap();
    for text in [&os[2].title, "+乙", "@一级"] {
        assert!(
            sheet
                .used_cells()
                .any(|(_, _, c)| *c == Data::String(text.to_string())),
            "{text} as a string cell, without a prefix"
        );
    }
}

/// A report of part of the fleet: the part's device rows are the fleet report's own rows for
/// those devices, its totals are the part's (not the fleet's), the fleet-wide lines are
/// withheld and the report says what it covers, in every format.
#[test]
fn a_subset_report_is_the_parts_own_and_says_so() {
    let mut w = world();
    // Device 4 moves to another district with another maintainer.
    w.devices[3].civil_code = Some("340103".into());
    w.devices[3].maintainer = Some("BetaCo".into());
    let c = contract(Method::TimeWeighted);
    let whole = report_with(&w, &c, CONTRACT);
    assert!(
        whole.deductions.iter().any(|d| d.device.is_none()),
        "the fixture's fleet misses the threshold: {:?}",
        whole.deductions
    );

    let subset = crate::Subset {
        label: "regions 340104".into(),
        device: std::sync::Arc::new(|d: &Device| d.region().starts_with("340104")),
        order: std::sync::Arc::new(|o: &WorkOrder| o.region.starts_with("340104")),
    };
    let (mut devices, mut spans, mut orders) = (w.devices.clone(), w.spans.clone(), Vec::new());
    subset.restrict(&mut devices, &mut spans, &mut orders);
    let tz = c.time_zone().unwrap();
    let p = Period::month("2026-02".parse().unwrap(), tz, &c.timezone);
    let mut part = build(&ReportInput {
        period: &p,
        contract: &c,
        contract_text: CONTRACT,
        devices: &devices,
        spans: &spans,
        exemptions: &w.exemptions,
        work_orders: &orders,
        now: p.end_at,
    })
    .unwrap();
    subset.withhold_fleet_lines(&mut part);

    let want: Vec<&DeviceRow> = whole
        .devices
        .iter()
        .filter(|r| r.region.starts_with("340104"))
        .collect();
    assert_eq!(part.devices.iter().collect::<Vec<_>>(), want);
    assert_eq!(part.fleet.devices, want.len() as u64);
    let sum: f64 = want.iter().map(|r| r.offline_hours).sum();
    assert!(
        (part.fleet.offline_hours - sum).abs() < 1e-3,
        "{} vs {sum}",
        part.fleet.offline_hours
    );
    assert_ne!(part.fleet.offline_hours, whole.fleet.offline_hours);
    assert!(
        part.deductions
            .iter()
            .all(|d| d.device.is_some() || d.order.is_some())
    );
    let shown: f64 = part.deductions.iter().map(|d| d.amount).sum();
    assert!((part.total_deduction - shown).abs() < 0.005);
    assert_eq!(part.score, None);
    assert_eq!(part.scope.as_deref(), Some("regions 340104"));
    assert!(
        part.notes[0].contains("part of the fleet (regions 340104)"),
        "{:?}",
        part.notes
    );
    assert!(
        !part.notes.iter().any(|n| n.contains("not in the register")),
        "the other district's history is not a stranger's: {:?}",
        part.notes
    );
    let top: serde_json::Value = serde_json::from_str(&whole.to_json()).unwrap();
    assert!(whole.scope.is_none() && top.get("scope").is_none());
    for (format, needle) in [
        (Format::Csv, "regions 340104"),
        (Format::Html, "regions 340104"),
    ] {
        let out = String::from_utf8(render(&part, format, Lang::Zh).unwrap()).unwrap();
        assert!(
            out.contains("统计范围") && out.contains(needle),
            "{format:?}"
        );
    }
}
