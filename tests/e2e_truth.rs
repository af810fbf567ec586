//! The truth test: simulator + monitor + report on one scaled clock, and the measured online
//! rate compared with the true one, computed from the simulator's truth file alone. The full
//! 7-day version is `camwatch bench e2e`; this one simulates 10 hours in about two minutes.

use std::net::Ipv4Addr;
use std::time::Duration;

use camwatch::rehearsal::{RehearsalConfig, rehearse};
use camwatch_core::registry::generate::generate;
use camwatch_monitor::MonitorConfig;
use camwatch_sim::{BindMode, FaultPlan};

const CHANNELS: u64 = 200;
const SEED: u64 = 11;

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

/// Every kind of trouble, short and long, from a seeded generator over the fleet's own codes.
fn schedule() -> String {
    let reg = generate(CHANNELS, SEED);
    let cams: Vec<String> = reg
        .iter()
        .filter(|d| d.ip.is_some() && !d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();
    let nvrs: Vec<String> = reg
        .iter()
        .filter(|d| d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();
    let region = reg
        .iter()
        .find(|d| d.ip.is_some() && !d.kind.is_parent())
        .map(|d| d.region().to_string())
        .unwrap();
    let mut s = String::new();
    let mut f = |scope: &str, who: &str, kind: &str, start: &str, dur: &str, extra: &str| {
        s += &format!(
            "[[fault]]\n{scope} = \"{who}\"\nkind = \"{kind}\"\nstart = \"{start}\"\nduration = \"{dur}\"\n{extra}"
        );
    };
    let mut c = cams.iter();
    let mut next = || c.next().expect("enough cameras").as_str();
    // Short outages, refused and black holes, at staggered times.
    for i in 0..10 {
        f(
            "device",
            next(),
            "offline",
            &format!("{}m", 20 + 17 * i),
            &format!("{}m", 15 + 7 * i),
            "",
        );
    }
    for i in 0..5 {
        f(
            "device",
            next(),
            "black_hole",
            &format!("{}m", 30 + 23 * i),
            &format!("{}m", 20 + 10 * i),
            "",
        );
    }
    // Long outages: over half the window, i.e. over the scaled 360-of-720-hour limit.
    for _ in 0..3 {
        f("device", next(), "offline", "10m", "8h", "");
    }
    for i in 0..3 {
        f(
            "device",
            next(),
            "auth_failure",
            &format!("{}m", 40 + 30 * i),
            "70m",
            "",
        );
    }
    for _ in 0..2 {
        f(
            "device",
            next(),
            "flapping",
            "60m",
            "2h",
            "period = \"40m\"\n",
        );
    }
    f("device", next(), "rtsp_503", "90m", "45m", "");
    f("device", next(), "garbage", "100m", "30m", "");
    f("device", next(), "slow", "0s", "10h", "seconds = 0.05\n");
    // A blip shorter than the confirmation window: not an outage in camwatch, 1 minute in truth.
    f("device", next(), "offline", "150m", "40s", "");
    f("device", next(), "blur", "30m", "3h", "");
    f("device", next(), "too_dark", "60m", "2h", "");
    f("device", next(), "no_media", "45m", "2h", "");
    if let Some(n) = nvrs.first() {
        f("nvr", n, "nvr_down", "80m", "40m", "");
    }
    f("region", &region, "region_down", "200m", "20m", "");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_online_rate_is_the_true_rate() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(RehearsalConfig {
        channels: CHANNELS,
        seed: SEED,
        bind: BindMode::OnePort { ip: base() },
        faults: FaultPlan::Schedule(schedule(), "truth-test.toml".into()),
        time_scale: 300.0,
        // Ten hours: at a 300 s liveness interval each outage's edges are seen within a
        // sample, and over five hours those errors alone came near the 0.1 pp bound.
        simulated_sec: 10 * 3600 + 10 * 60,
        monitor: MonitorConfig {
            liveness_interval_sec: 300,
            picture_interval_sec: 1200,
            // Real time, 5 simulated minutes: a debug build on two busy cores (CI) missed
            // 400 ms now and then, and a missed probe is an outage that never was (two CI
            // runs of four measured −0.10 and −0.11 pp). The tolerances count the deadline in.
            deadline: Duration::from_secs(1),
            max_in_flight: 128,
            ..Default::default()
        },
        dir: dir.path().to_path_buf(),
        db_url: None,
    })
    .await
    .unwrap();
    let summary = r.summary();
    println!("{summary}");
    assert!(
        r.rate_error_pp().abs() <= 0.1,
        "measured vs true online rate off by {:.4} pp\n{summary}",
        r.rate_error_pp()
    );
    let bad: Vec<_> = r.outside_tolerance();
    assert!(
        bad.is_empty(),
        "cameras outside tolerance: {bad:#?}\n{summary}"
    );
    assert!(
        r.devices.iter().filter(|d| d.truth_over_limit).count() >= 3,
        "the long outages must be over the limit in truth\n{summary}"
    );
    let mism = r.flag_mismatches();
    assert!(
        mism.is_empty(),
        "over-limit flags differ: {mism:#?}\n{summary}"
    );
    // The report adds up: every eligible hour is online (degraded included), offline, exempt
    // or unknown.
    for d in &r.report.devices {
        assert!(d.degraded_hours <= d.online_hours, "{d:?}");
        let sum = d.online_hours + d.offline_hours + d.exempt_hours + d.unknown_hours;
        assert!((sum - d.eligible_hours).abs() < 0.001, "{d:?}");
    }
    // A stream that negotiates but never delivers is found by the picture probe.
    assert!(
        r.measured_picture_sec.get("no_media").copied().unwrap_or(0) > 0,
        "{summary}"
    );
}
