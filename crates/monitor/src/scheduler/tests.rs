//! Scheduling policy in virtual time. Every test runs on a paused current-thread tokio runtime
//! with a `TokioClock`, so the schedule's clock, `Clock::sleep`, the probe deadline and the
//! fake probe's duration are one timeline, which tokio moves to the next timer whenever every
//! task is idle. No real time is measured, so the bounds below are exact and hold on any
//! machine however loaded: a test retuned for a busy CI machine would be measuring the machine.
//!
//! The probe is a virtual wait that records when it started and how many ran at once: what is
//! under test is when and how many probes start, not what they find (the probes have their own
//! tests against the simulator).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use camwatch_probes::ProbeStatus;
use jiff::Timestamp;

use super::*;
use camwatch_core::clock::TokioClock;

fn origin() -> Timestamp {
    "2026-10-01T00:00:00Z".parse().unwrap()
}

/// Clock milliseconds since `origin()`.
fn ms(clock: &dyn Clock) -> i64 {
    clock.now().as_millisecond() - origin().as_millisecond()
}

/// One clock second, in the scheduler's clock milliseconds.
const S: i64 = 1000;

struct Fake {
    clock: Arc<dyn Clock>,
    hosts: Vec<String>,
    /// How long each target's probe takes; `None`: it never returns on its own.
    took: Vec<Option<Duration>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Per host: (in flight now, most at once). A sync mutex: nothing awaits under it.
    per_host: Mutex<HashMap<String, (usize, usize)>>,
    /// (target, class, clock ms) of every probe started, in order.
    starts: Mutex<Vec<(usize, ProbeClass, i64)>>,
}

impl Fake {
    fn new(
        clock: &Arc<dyn Clock>,
        hosts: &[String],
        took: impl Fn(usize) -> Option<Duration>,
    ) -> Arc<Self> {
        Arc::new(Self {
            clock: clock.clone(),
            hosts: hosts.to_vec(),
            took: (0..hosts.len()).map(took).collect(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            per_host: Mutex::new(HashMap::new()),
            starts: Mutex::new(Vec::new()),
        })
    }
    fn starts_of(&self, target: usize) -> Vec<i64> {
        let s = self.starts.lock().unwrap();
        s.iter().filter(|s| s.0 == target).map(|s| s.2).collect()
    }
    fn all_starts(&self) -> Vec<i64> {
        self.starts.lock().unwrap().iter().map(|s| s.2).collect()
    }
    fn most_on(&self, host: &str) -> usize {
        self.per_host.lock().unwrap()[host].1
    }
}

struct Probe(Arc<Fake>);

impl Prober for Probe {
    fn probe(
        &self,
        target: usize,
        class: ProbeClass,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'static>> {
        let r = self.0.clone();
        Box::pin(async move {
            let at = ms(r.clock.as_ref());
            r.starts.lock().unwrap().push((target, class, at));
            let n = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            r.max_in_flight.fetch_max(n, Ordering::SeqCst);
            let host = r.hosts[target].clone();
            {
                let mut m = r.per_host.lock().unwrap();
                let e = m.entry(host.clone()).or_default();
                e.0 += 1;
                e.1 = e.1.max(e.0);
            }
            // Leaves on completion and when cut at the deadline (the future is dropped).
            struct Leave(Arc<Fake>, String);
            impl Drop for Leave {
                fn drop(&mut self) {
                    self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
                    self.0.per_host.lock().unwrap().get_mut(&self.1).unwrap().0 -= 1;
                }
            }
            let _leave = Leave(r.clone(), host);
            match r.took[target] {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
            ProbeOutcome::up(ProbeKind::Tcp)
        })
    }
}

struct Done {
    target: usize,
    /// Clock ms since `origin()`.
    started: i64,
    ended: i64,
    outcome: ProbeOutcome,
}

/// Records each completion; with `recheck`, asks for the next run that long after the start.
struct Log {
    clock: Arc<dyn Clock>,
    done: Mutex<Vec<Done>>,
    recheck: Option<i64>,
}

impl Log {
    fn new(clock: &Arc<dyn Clock>, recheck: Option<i64>) -> Arc<Self> {
        Arc::new(Self {
            clock: clock.clone(),
            done: Mutex::new(Vec::new()),
            recheck,
        })
    }
}

impl Handler for Log {
    fn completed(&self, target: usize, _c: ProbeClass, at: i64, o: ProbeOutcome) -> Option<i64> {
        self.done.lock().unwrap().push(Done {
            target,
            started: at - origin().as_millisecond(),
            ended: ms(self.clock.as_ref()),
            outcome: o,
        });
        self.recheck.map(|d| at + d)
    }
}

fn limits(global: usize, host: usize, interval_ms: i64, deadline_ms: u64) -> Limits {
    Limits {
        max_in_flight: global,
        max_per_host: host,
        max_per_platform: 1000,
        deadline: Duration::from_millis(deadline_ms),
        interval_ms: HashMap::from([(ProbeClass::Liveness, interval_ms)]),
    }
}

fn targets(hosts: &[String]) -> Arc<Vec<Target>> {
    Arc::new(
        hosts
            .iter()
            .map(|h| Target {
                host: h.clone(),
                platform: None,
                classes: vec![ProbeClass::Liveness],
                not_before_ms: 0,
            })
            .collect(),
    )
}

fn distinct_hosts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("h{i}")).collect()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::new(origin()))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs the schedule for `span` of virtual time, then shuts it down; returns how long (virtual)
/// `run` took to return after the shutdown. Most tests stop half a second off the whole
/// seconds at which their probes start and end, so no event shares the shutdown's instant.
async fn run_for(
    clock: &Arc<dyn Clock>,
    ts: Arc<Vec<Target>>,
    l: Limits,
    fake: &Arc<Fake>,
    log: &Arc<Log>,
    span: Duration,
) -> Duration {
    // Nobody asks for probes out of turn.
    let (_, urgent) = tokio::sync::mpsc::unbounded_channel();
    let (tx, rx) = watch::channel(false);
    let h = tokio::spawn(run(
        ts,
        l,
        clock.clone(),
        Arc::new(Probe(fake.clone())),
        log.clone(),
        urgent,
        rx,
    ));
    tokio::time::sleep(span).await;
    let t = tokio::time::Instant::now();
    tx.send(true).unwrap();
    h.await.unwrap();
    t.elapsed()
}

/// Each gap between a target's consecutive starts is its probe's duration plus the class
/// interval ±5 % (the jitter), to the millisecond: nothing held it back.
fn assert_on_schedule(starts: &[i64], took_ms: i64, interval_ms: i64, what: &str) {
    let span = interval_ms / 20;
    for w in starts.windows(2) {
        let gap = w[1] - w[0] - took_ms;
        assert!(
            (interval_ms - span..=interval_ms + span).contains(&gap),
            "{what}: the run at {} ms came {gap} ms after the previous one ended, want {interval_ms} ±{span}",
            w[1]
        );
    }
}

/// Runs a target makes from its first start at `first` up to `until`, probing every `period`
/// (its probe's duration plus the interval) give or take the jitter: `n` within one run of
/// `(until − first) / period + ½`. The jitter never takes a target more than 5 % of an interval
/// off its unjittered course, so this holds for every target, not just on average.
fn assert_runs(n: usize, first: i64, until: i64, period: i64, what: &str) {
    let want = (until - first) as f64 / period as f64 + 0.5;
    assert!(
        (n as f64 - want).abs() <= 1.0,
        "{what}: {n} runs, want {want:.2} ± 1"
    );
}

/// Start times of `slots` slots that open at `first(k)` and then run probes of `took_ms` back
/// to back, up to `until` (inclusive), sorted.
fn back_to_back(slots: i64, first: impl Fn(i64) -> i64, took_ms: i64, until: i64) -> Vec<i64> {
    let mut v: Vec<i64> = (0..slots)
        .flat_map(|k| {
            let f = first(k);
            (0..)
                .map(move |m| f + m * took_ms)
                .take_while(move |&t| t <= until)
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(start_paused = true)]
async fn per_host_cap_holds_for_an_nvr() {
    // 32 channels of one NVR plus 8 cameras of their own; every probe takes 20 s and the
    // interval is 60 s, so the NVR's channels want ~10 sessions at once and get 3.
    let mut hosts = vec!["nvr".to_string(); 32];
    hosts.extend((0..8).map(|i| format!("cam{i}")));
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(20)));
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        targets(&hosts),
        limits(64, 3, 60 * S, 30_000),
        &fake,
        &log,
        secs(3600.5),
    )
    .await;
    assert_eq!(fake.most_on("nvr"), 3, "the cap is used and never exceeded");
    // No NVR slot idles while channels wait: the first three channels start at their staggered
    // offsets (40 targets over 60 s: 0, 1.5 s, 3 s) and each slot then runs back to back, the
    // next channel starting the instant the previous one ends.
    let mut nvr: Vec<i64> = (0..32).flat_map(|t| fake.starts_of(t)).collect();
    nvr.sort();
    assert_eq!(nvr, back_to_back(3, |k| k * 1500, 20 * S, 3600 * S + 499));
    // Every channel gets its turn (543 sessions over 32 channels).
    for t in 0..32 {
        let n = fake.starts_of(t).len();
        assert!((16..=18).contains(&n), "channel {t} ran {n} times");
    }
    // The cameras of their own are not held up by the NVR's queue.
    for (t, cam) in hosts.iter().enumerate().skip(32) {
        let s = fake.starts_of(t);
        assert_eq!(s[0], 60 * S * t as i64 / 40, "camera {t}'s first run");
        assert_on_schedule(&s, 20 * S, 60 * S, &format!("camera {t}"));
        assert_runs(s.len(), s[0], 3600 * S, 80 * S, &format!("camera {t}"));
        assert_eq!(fake.most_on(cam), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn global_cap_holds() {
    // 200 hosts, every probe 30 s, interval 50 s: ~75 would run at once without the cap of 16.
    let hosts = distinct_hosts(200);
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(30)));
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        targets(&hosts),
        limits(16, 4, 50 * S, 60_000),
        &fake,
        &log,
        secs(600.5),
    )
    .await;
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 16);
    // The 16 slots fill at the staggered offsets (200 targets over 50 s: one per 250 ms) and
    // each is then reused the instant its probe ends: exactly these starts, no more, no fewer.
    let mut got = fake.all_starts();
    got.sort();
    // The turn that falls at the shutdown's instant (600.5 s) does not start: shutdown wins.
    assert_eq!(got, back_to_back(16, |k| k * 250, 30 * S, 600 * S + 499));
}

#[tokio::test(start_paused = true)]
async fn a_hanging_probe_is_cut_and_stalls_nobody() {
    // Targets 0–4 never answer; the rest take 2 s. Deadline 10 s, interval 60 s, 20 targets:
    // target i first runs at 3 s × i.
    let hosts = distinct_hosts(20);
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |t| {
        (t >= 5).then_some(Duration::from_secs(2))
    });
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        targets(&hosts),
        limits(8, 2, 60 * S, 10_000),
        &fake,
        &log,
        secs(3600.5),
    )
    .await;
    for d in log.done.lock().unwrap().iter() {
        if d.target < 5 {
            // Cut at exactly the deadline, and reported as such.
            assert_eq!(d.outcome.failure, Some(FailureKind::Deadline));
            assert_eq!(d.ended - d.started, 10 * S);
            assert_eq!(d.outcome.elapsed_ms, 10_000.0);
        } else {
            assert_eq!(d.outcome.status, ProbeStatus::Up);
            assert_eq!(d.ended - d.started, 2 * S);
        }
    }
    for t in 0..20 {
        let s = fake.starts_of(t);
        assert_eq!(s[0], 3 * S * t as i64, "target {t}'s first run");
        // Hanging or not, everyone keeps the schedule: the cut ones 10 s + interval apart,
        // the healthy ones 2 s + interval apart, 52 and 58 runs in the hour.
        let took = if t < 5 { 10 * S } else { 2 * S };
        assert_on_schedule(&s, took, 60 * S, &format!("target {t}"));
        assert_runs(
            s.len(),
            s[0],
            3600 * S,
            took + 60 * S,
            &format!("target {t}"),
        );
    }
}

#[tokio::test(start_paused = true)]
async fn first_runs_are_staggered_over_one_interval() {
    for (n, interval) in [(10, 400 * S), (7, 300 * S), (1000, 300 * S)] {
        let hosts = distinct_hosts(n);
        let clock = clock();
        let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_millis(1)));
        let log = Log::new(&clock, None);
        run_for(
            &clock,
            targets(&hosts),
            limits(64, 4, interval, 1000),
            &fake,
            &log,
            Duration::from_millis(interval as u64),
        )
        .await;
        // Target i first starts at exactly i/n of the interval (in whole clock milliseconds).
        let firsts: Vec<i64> = (0..n).map(|t| fake.starts_of(t)[0]).collect();
        let want: Vec<i64> = (0..n as i64).map(|i| interval * i / n as i64).collect();
        assert_eq!(firsts, want, "{n} targets over {interval} ms");
    }
}

#[tokio::test(start_paused = true)]
async fn handler_can_ask_for_an_early_recheck() {
    let hosts = vec!["h".to_string()];
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(1)));
    // Re-check 20 s after each start; the interval of 1 h alone would give a single run.
    let log = Log::new(&clock, Some(20 * S));
    run_for(
        &clock,
        targets(&hosts),
        limits(4, 4, 3600 * S, 1000),
        &fake,
        &log,
        secs(200.5),
    )
    .await;
    let want: Vec<i64> = (0..=10).map(|k| k * 20 * S).collect();
    assert_eq!(fake.starts_of(0), want);
}

#[test]
fn jitter_stays_within_five_percent_and_does_not_accumulate() {
    let classes = [ProbeClass::Liveness, ProbeClass::Picture, ProbeClass::Onvif];
    for interval in [19, 39, 40, 80, 1000, 300_000, 3_600_000, 86_400_000] {
        let span = interval / 20;
        let mut all = Vec::new();
        for target in 0..200 {
            for class in classes {
                let mut drift = 0;
                for run in 1..=300 {
                    let j = jitter(interval, target, class, run);
                    assert_eq!(j, jitter(interval, target, class, run), "deterministic");
                    assert!(j.abs() <= span, "interval {interval}: {j}");
                    // However many runs, the schedule is off its course by ±5 % at most.
                    drift += j;
                    assert!(drift.abs() <= span, "interval {interval}: drift {drift}");
                    all.push(j);
                }
            }
        }
        if span >= 2 {
            // It spreads over the band, both ways, centred.
            let (lo, hi) = (*all.iter().min().unwrap(), *all.iter().max().unwrap());
            assert!(
                hi >= span * 9 / 10 && lo <= -span * 9 / 10,
                "{interval}: {lo}..{hi}"
            );
            let mean = all.iter().sum::<i64>() as f64 / all.len() as f64;
            assert!(mean.abs() < span as f64 * 0.03, "{interval}: mean {mean}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_is_deterministic_and_within_five_percent_in_a_run() {
    // 50 targets whose probes take 0–4.9 s, six hours of 5-minute liveness, twice.
    let hosts = distinct_hosts(50);
    let took = |t: usize| 100 * t as i64;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let clock = clock();
        let fake = Fake::new(&clock, &hosts, |t| {
            Some(Duration::from_millis(took(t) as u64))
        });
        let log = Log::new(&clock, None);
        run_for(
            &clock,
            targets(&hosts),
            limits(64, 4, 300 * S, 10_000),
            &fake,
            &log,
            secs(6.0 * 3600.0 + 0.05),
        )
        .await;
        let mut gaps = std::collections::BTreeSet::new();
        for t in 0..50 {
            let s = fake.starts_of(t);
            assert_on_schedule(&s, took(t), 300 * S, &format!("target {t}"));
            gaps.extend(s.windows(2).map(|w| w[1] - w[0] - took(t)));
        }
        // The jitter does move runs: the fleet does not stay in lock-step.
        assert!(gaps.len() > 1000, "{} distinct gaps", gaps.len());
        let starts = std::mem::take(&mut *fake.starts.lock().unwrap());
        runs.push(starts);
    }
    // Same fleet, same schedule, to the millisecond.
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test(start_paused = true)]
async fn a_busy_hosts_waiters_run_in_fifo_order() {
    // One NVR, one session at a time. Channel 0 holds it for 500 s from t = 0; channels 1–3
    // become due while it is busy, in the order 3 (at 60 s), 2 (100 s), 1 (200 s): a first
    // run is offset by i/n of its class's interval, and their classes' intervals differ. So
    // first come is neither index order nor last come.
    let hosts = vec!["nvr".to_string(); 4];
    let classes = [
        ProbeClass::Liveness,
        ProbeClass::Onvif,
        ProbeClass::Liveness,
        ProbeClass::Picture,
    ];
    let ts = Arc::new(
        classes
            .iter()
            .map(|&c| Target {
                host: "nvr".into(),
                platform: None,
                classes: vec![c],
                not_before_ms: 0,
            })
            .collect::<Vec<_>>(),
    );
    let mut l = limits(8, 1, 200 * S, 1000 * 1000);
    l.interval_ms.insert(ProbeClass::Onvif, 800 * S);
    l.interval_ms.insert(ProbeClass::Picture, 80 * S);
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |t| {
        Some(Duration::from_secs(if t == 0 { 500 } else { 10 }))
    });
    let log = Log::new(&clock, None);
    run_for(&clock, ts, l, &fake, &log, secs(530.5)).await;
    // First come, first served: 3, 2, 1, each the instant the previous session ends.
    let got: Vec<(usize, i64)> = fake
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.0, s.2))
        .collect();
    assert_eq!(got, [(0, 0), (3, 500 * S), (2, 510 * S), (1, 520 * S)]);
    assert_eq!(fake.most_on("nvr"), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_after_in_flight_probes_end() {
    // Four targets over 100 s: 0 hangs (from 0 s), 1 takes 30 s (from 25 s), 2 and 3 are due
    // at 50 and 75 s. Shutdown at 26 s: nothing more starts; 1 finishes at 55 s, 0 is cut at
    // its 60 s deadline, and `run` returns then, 34 s after the shutdown.
    let hosts = distinct_hosts(4);
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |t| {
        (t != 0).then_some(Duration::from_secs(30))
    });
    let log = Log::new(&clock, None);
    let took = run_for(
        &clock,
        targets(&hosts),
        limits(8, 2, 100 * S, 60_000),
        &fake,
        &log,
        secs(26.0),
    )
    .await;
    assert_eq!(took, Duration::from_secs(34));
    let started: Vec<usize> = fake.starts.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(started, [0, 1], "nothing starts after the shutdown");
    let done: Vec<(usize, i64, Option<FailureKind>)> = log
        .done
        .lock()
        .unwrap()
        .iter()
        .map(|d| (d.target, d.ended, d.outcome.failure))
        .collect();
    assert_eq!(
        done,
        [(1, 55 * S, None), (0, 60 * S, Some(FailureKind::Deadline))]
    );
    assert_eq!(fake.in_flight.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_day_of_five_minute_liveness_on_a_thousand_targets() {
    // 1,000 cameras, liveness every 5 min, each probe 2 s, one day of virtual time.
    const DAY: i64 = 86_400 * S;
    let hosts = distinct_hosts(1000);
    let clock = clock();
    let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(2)));
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        targets(&hosts),
        limits(64, 4, 300 * S, 10_000),
        &fake,
        &log,
        Duration::from_millis(DAY as u64) - Duration::from_millis(1),
    )
    .await;
    let mut per_target = vec![Vec::new(); 1000];
    for &(t, c, at) in fake.starts.lock().unwrap().iter() {
        assert_eq!(c, ProbeClass::Liveness);
        per_target[t].push(at);
    }
    for (t, s) in per_target.iter().enumerate() {
        // From its staggered first run, one run per 2 s + 5 min (± jitter) until the day ends:
        // 286 or 287 for every camera.
        let first = 300 * S * t as i64 / 1000;
        assert_eq!(s[0], first, "target {t}'s first run");
        assert_runs(s.len(), first, DAY, 302 * S, &format!("target {t}"));
        assert_on_schedule(s, 2 * S, 300 * S, &format!("target {t}"));
    }
}

/// A probe asked for out of turn runs at once, once, and the regular schedule goes on as if
/// it had not happened (same starts, same jitter).
#[tokio::test(start_paused = true)]
async fn an_urgent_probe_runs_at_once_and_leaves_the_schedule_alone() {
    let hosts = distinct_hosts(2);
    let clock = clock();
    let plain = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(1)));
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        targets(&hosts),
        limits(10, 10, 60 * S, 10_000),
        &plain,
        &log,
        secs(600.5),
    )
    .await;

    // A new clock at `origin()` from tokio's now: the second run starts where the first did.
    let clock = self::clock();
    let fake = Fake::new(&clock, &hosts, |_| Some(Duration::from_secs(1)));
    let log = Log::new(&clock, None);
    let (urgent_tx, urgent) = tokio::sync::mpsc::unbounded_channel();
    let (tx, rx) = watch::channel(false);
    let h = tokio::spawn(run(
        targets(&hosts),
        limits(10, 10, 60 * S, 10_000),
        clock.clone(),
        Arc::new(Probe(fake.clone())),
        log.clone(),
        urgent,
        rx,
    ));
    tokio::time::sleep(secs(100.25)).await;
    let asked = ms(clock.as_ref());
    urgent_tx.send((1, ProbeClass::Liveness)).unwrap();
    // Out of range: ignored, not a panic.
    urgent_tx.send((7, ProbeClass::Liveness)).unwrap();
    tokio::time::sleep(secs(500.25)).await;
    tx.send(true).unwrap();
    h.await.unwrap();

    assert_eq!(fake.starts_of(0), plain.starts_of(0));
    let mut want = plain.starts_of(1);
    want.push(asked);
    want.sort();
    assert_eq!(
        fake.starts_of(1),
        want,
        "the regular runs plus one at {asked} ms"
    );
}

/// A target taken over from another node waits for `not_before_ms`, then takes its place in the
/// stagger after it; the others start at once.
#[tokio::test(start_paused = true)]
async fn a_taken_over_target_waits_for_its_not_before() {
    let clock = clock();
    let hosts = distinct_hosts(4);
    let mut ts: Vec<Target> = (*targets(&hosts)).clone();
    let wait_until = origin().as_millisecond() + 60 * S;
    ts[2].not_before_ms = wait_until;
    let fake = Fake::new(&clock, &hosts, |_| Some(secs(0.1)));
    let log = Log::new(&clock, None);
    run_for(
        &clock,
        Arc::new(ts),
        limits(10, 1, 40 * S, 5000),
        &fake,
        &log,
        secs(85.5),
    )
    .await;
    // Staggered over 40 s: 0, 10, (60 + 20), 30.
    assert_eq!(fake.starts_of(0)[0], 0);
    assert_eq!(fake.starts_of(1)[0], 10 * S);
    assert_eq!(fake.starts_of(3)[0], 30 * S);
    assert_eq!(fake.starts_of(2), vec![80 * S]);
    assert!(fake.starts_of(1).len() >= 2);
}
