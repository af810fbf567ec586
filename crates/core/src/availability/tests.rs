use proptest::prelude::*;

use super::*;
use crate::registry::DeviceCode;

fn code() -> DeviceCode {
    "34010400001320000001".parse().unwrap()
}

fn span(status: Status, a: i64, b: i64) -> StatusSpan {
    StatusSpan {
        device: code(),
        status,
        start_at: a,
        end_at: b,
        cause: None,
    }
}

const H: i64 = 3600;

#[test]
fn hand_worked_device() {
    // Window: 10 days. Online 0–100 h, offline 100–130 h, unknown (no span) 130–140 h,
    // degraded 140–200 h, offline 200–240 h. Exemption 210–220 h (inside the second outage).
    let window = Interval::new(0, 240 * H);
    let spans = [
        span(Status::Online, 0, 100 * H),
        span(Status::Offline, 100 * H, 130 * H),
        span(Status::Degraded, 140 * H, 200 * H),
        span(Status::Offline, 200 * H, 240 * H),
    ];
    let ex = [Interval::new(210 * H, 220 * H)];
    let checks: Vec<i64> = (0..10).map(|d| d * 24 * H + 9 * H).collect();
    let a = device_availability(window, &spans, &ex, &checks).unwrap();
    let h = a.hours;
    assert_eq!(h.eligible, 240 * H);
    assert_eq!(h.exempt, 10 * H);
    assert_eq!(h.online, 100 * H);
    assert_eq!(h.degraded, 60 * H);
    assert_eq!(h.offline, 30 * H + 30 * H);
    assert_eq!(h.unknown, 10 * H);
    assert_eq!(a.outages, 2);
    assert_eq!(a.longest_outage, 30 * H);
    // exclude: (100+60)/(240-10-10) = 160/220
    assert_eq!(
        h.online_ratio(UnknownTreatment::Exclude),
        (160 * H, 220 * H)
    );
    assert_eq!(
        h.intact_ratio(UnknownTreatment::Exclude),
        (100 * H, 220 * H)
    );
    assert_eq!(h.online_ratio(UnknownTreatment::Online), (170 * H, 230 * H));
    assert_eq!(
        h.online_ratio(UnknownTreatment::Offline),
        (160 * H, 230 * H)
    );
    // Check times at 9, 33, 57, 81 h (online), 105, 129 h (offline), 153, 177 h (degraded),
    // 201 h (offline), 225 h (offline; 210–220 exemption does not cover 225).
    assert_eq!(
        a.samples,
        Samples {
            online: 4,
            degraded: 2,
            offline: 4,
            unknown: 0,
            exempt: 0
        }
    );
}

#[test]
fn overlapping_spans_are_refused() {
    let e = device_availability(
        Interval::new(0, 100),
        &[span(Status::Online, 0, 50), span(Status::Offline, 40, 60)],
        &[],
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("overlaps"), "{e}");
}

#[test]
fn empty_window_is_all_zero() {
    let a = device_availability(
        Interval::new(10, 10),
        &[span(Status::Offline, 0, 50)],
        &[],
        &[5],
    )
    .unwrap();
    assert_eq!(a, DeviceAvailability::default());
}

/// Random non-overlapping spans over [0, 1000) with gaps.
fn arb_spans() -> impl Strategy<Value = Vec<StatusSpan>> {
    proptest::collection::vec((0u8..4, 1i64..80, 0i64..20), 0..25).prop_map(|v| {
        let mut t = 0;
        let mut out = Vec::new();
        for (s, len, gap) in v {
            t += gap;
            let status = [
                Status::Online,
                Status::Degraded,
                Status::Offline,
                Status::Unknown,
            ][s as usize];
            out.push(span(status, t, t + len));
            t += len;
        }
        out
    })
}

fn arb_exempt() -> impl Strategy<Value = Vec<Interval>> {
    proptest::collection::vec((0i64..1200, 0i64..200), 0..4).prop_map(|v| {
        v.into_iter()
            .map(|(a, l)| Interval::new(a, a + l))
            .collect()
    })
}

fn split_at(spans: &[StatusSpan], t: i64) -> Vec<StatusSpan> {
    let mut out = Vec::new();
    for s in spans {
        if s.start_at < t && t < s.end_at {
            out.push(span(s.status, s.start_at, t));
            out.push(span(s.status, t, s.end_at));
        } else {
            out.push(s.clone());
        }
    }
    out
}

proptest! {
    #[test]
    fn month_split_anywhere_sums_to_the_same(spans in arb_spans(), ex in arb_exempt(), cut in 1i64..1400) {
        let whole = Interval::new(0, 1500);
        let checks: Vec<i64> = (0..1500).step_by(37).collect();
        let all = device_availability(whole, &spans, &ex, &checks).unwrap();
        let a = device_availability(Interval::new(0, cut), &spans, &ex, &checks).unwrap();
        let b = device_availability(Interval::new(cut, 1500), &spans, &ex, &checks).unwrap();
        let mut sum = a.hours;
        sum.add(&b.hours);
        prop_assert_eq!(sum, all.hours);
        let mut s = a.samples;
        s.add(&b.samples);
        prop_assert_eq!(s, all.samples);
    }

    #[test]
    fn span_order_never_matters(spans in arb_spans(), ex in arb_exempt(), seed in 0u64..1000) {
        let window = Interval::new(0, 1500);
        let mut shuffled = spans.clone();
        // Deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in 0..n {
            let j = (seed as usize * 31 + i * 17) % n.max(1);
            shuffled.swap(i, j);
        }
        let mut ex_rev = ex.clone();
        ex_rev.reverse();
        prop_assert_eq!(
            device_availability(window, &spans, &ex, &[100, 500]).unwrap(),
            device_availability(window, &shuffled, &ex_rev, &[100, 500]).unwrap()
        );
    }

    #[test]
    fn splitting_a_span_changes_nothing(spans in arb_spans(), t in 0i64..1500) {
        let window = Interval::new(0, 1500);
        let a = device_availability(window, &spans, &[], &[]).unwrap();
        let b = device_availability(window, &split_at(&spans, t), &[], &[]).unwrap();
        prop_assert_eq!(a.hours, b.hours);
        prop_assert_eq!(a.outages, b.outages);
        prop_assert_eq!(a.longest_outage, b.longest_outage);
    }

    #[test]
    fn more_outage_never_raises_a_rate(spans in arb_spans(), ex in arb_exempt(), pick in 0usize..25) {
        let window = Interval::new(0, 1500);
        let before = device_availability(window, &spans, &ex, &[]).unwrap().hours;
        let mut worse = spans.clone();
        if let Some(s) = worse.get_mut(pick % spans.len().max(1)) {
            s.status = Status::Offline;
        }
        let after = device_availability(window, &worse, &ex, &[]).unwrap().hours;
        for t in [UnknownTreatment::Exclude, UnknownTreatment::Online, UnknownTreatment::Offline] {
            let (n0, d0) = before.online_ratio(t);
            let (n1, d1) = after.online_ratio(t);
            // n1/d1 <= n0/d0, cross-multiplied (denominators are non-negative).
            if d0 > 0 && d1 > 0 {
                prop_assert!((n1 as i128) * (d0 as i128) <= (n0 as i128) * (d1 as i128));
            }
        }
    }

    #[test]
    fn exempt_time_is_never_offline(spans in arb_spans(), ex in arb_exempt()) {
        let window = Interval::new(0, 1500);
        let with = device_availability(window, &spans, &ex, &[]).unwrap().hours;
        let without = device_availability(window, &spans, &[], &[]).unwrap().hours;
        prop_assert!(with.offline <= without.offline);
        prop_assert_eq!(with.online + with.degraded + with.offline + with.unknown + with.exempt, with.eligible);
        // Everything exempt: nothing offline at all.
        let all = device_availability(window, &spans, &[window], &[]).unwrap().hours;
        prop_assert_eq!(all.offline, 0);
        prop_assert_eq!(all.exempt, all.eligible);
    }
}

proptest! {
    /// Days (any cuts tiling the window) sum to the whole, hours and samples, and the offline
    /// time by cause sums to the offline hours.
    #[test]
    fn parts_that_tile_the_window_sum_to_the_whole(
        spans in arb_spans(),
        ex in arb_exempt(),
        mut cuts in proptest::collection::vec(1i64..1500, 0..8),
    ) {
        let window = Interval::new(0, 1500);
        let checks: Vec<i64> = (0..1500).step_by(37).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut edges = vec![window.start];
        edges.extend(cuts);
        edges.push(window.end);
        let parts: Vec<Interval> = edges.windows(2).map(|w| Interval::new(w[0], w[1])).collect();
        let b = device_breakdown(window, &spans, &ex, &checks, &parts).unwrap();
        prop_assert_eq!(&b.whole, &device_availability(window, &spans, &ex, &checks).unwrap());
        let (mut h, mut s) = (Hours::default(), Samples::default());
        for (p, iv) in b.parts.iter().zip(&parts) {
            // Each part is what the whole computation gives on that part alone.
            let alone = device_availability(*iv, &spans, &ex, &checks).unwrap();
            prop_assert_eq!(p.hours, alone.hours);
            prop_assert_eq!(p.samples, alone.samples);
            h.add(&p.hours);
            s.add(&p.samples);
        }
        prop_assert_eq!(h, b.whole.hours);
        prop_assert_eq!(s, b.whole.samples);
        let by_cause: i64 = b.offline_by_cause.iter().map(|(_, secs)| secs).sum();
        prop_assert_eq!(by_cause, b.whole.hours.offline);
    }
}

proptest! {
    /// Parts in any order, overlapping, reaching outside the window or empty: each is what
    /// the whole computation gives on its share of the window alone.
    #[test]
    fn any_parts_count_as_their_share_of_the_window(
        spans in arb_spans(),
        ex in arb_exempt(),
        parts in proptest::collection::vec((0i64..1600, 0i64..600), 0..10),
    ) {
        let window = Interval::new(100, 1400);
        let checks: Vec<i64> = (0..1500).step_by(37).collect();
        let parts: Vec<Interval> = parts.into_iter().map(|(a, len)| Interval::new(a, a + len)).collect();
        let b = device_breakdown(window, &spans, &ex, &checks, &parts).unwrap();
        prop_assert_eq!(b.parts.len(), parts.len());
        for (p, iv) in b.parts.iter().zip(&parts) {
            let share = window.intersect(*iv);
            if share.is_empty() {
                prop_assert_eq!(*p, Part::default());
                continue;
            }
            let clipped: Vec<Interval> = ex.iter().map(|e| e.intersect(window)).collect();
            let alone = device_availability(share, &spans, &clipped, &checks).unwrap();
            prop_assert_eq!(p.hours, alone.hours);
            prop_assert_eq!(p.samples, alone.samples);
        }
    }
}

#[test]
fn offline_time_is_split_by_the_cause_family() {
    use crate::cause::Cause;
    use crate::outcome::FailureKind;
    let mut a = span(Status::Offline, 0, 100);
    a.cause = Some(Cause::Failure(FailureKind::ConnectionRefused));
    let mut b = span(Status::Offline, 100, 130);
    b.cause = Some(Cause::NoMedia);
    let mut c = span(Status::Offline, 200, 260);
    c.cause = Some(Cause::Failure(FailureKind::ConnectionRefused));
    let d = span(Status::Offline, 300, 310);
    let b = device_breakdown(
        Interval::new(0, 1000),
        &[a, b, c, d],
        &[Interval::new(250, 260)],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        b.offline_by_cause,
        vec![
            (Some("connection_refused"), 150),
            (Some("no_media"), 30),
            (None, 10)
        ]
    );
    assert_eq!(b.whole.outages, 3);
}
