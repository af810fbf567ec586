//! Scheduling policy on a scaled clock (1 clock-second = 1 ms real). The probe here is a timed
//! wait that records concurrency: what is under test is when and how many probes start, not
//! what they find (the probes have their own tests against the simulator).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use camwatch_probes::ProbeStatus;

use super::*;
use camwatch_core::clock::ScaledClock;

struct Recorder {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    per_host: Mutex<HashMap<String, (usize, usize)>>,
    hosts: Vec<String>,
    /// Targets whose probe never returns on its own.
    hang: Vec<usize>,
    took: Duration,
}

impl Recorder {
    fn new(hosts: Vec<String>, hang: Vec<usize>, took_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            per_host: Mutex::new(HashMap::new()),
            hosts,
            hang,
            took: Duration::from_millis(took_ms),
        })
    }
}

struct Probe(Arc<Recorder>);

impl Prober for Probe {
    fn probe(
        &self,
        target: usize,
        _class: ProbeClass,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'static>> {
        let r = self.0.clone();
        Box::pin(async move {
            let n = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            r.max_in_flight.fetch_max(n, Ordering::SeqCst);
            let host = r.hosts[target].clone();
            {
                let mut m = r.per_host.lock().unwrap();
                let e = m.entry(host.clone()).or_default();
                e.0 += 1;
                e.1 = e.1.max(e.0);
            }
            struct Leave(Arc<Recorder>, String);
            impl Drop for Leave {
                fn drop(&mut self) {
                    self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
                    self.0.per_host.lock().unwrap().get_mut(&self.1).unwrap().0 -= 1;
                }
            }
            let _leave = Leave(r.clone(), host);
            if r.hang.contains(&target) {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(r.took).await;
            ProbeOutcome::up(ProbeKind::Tcp)
        })
    }
}

/// Records each completion: (target, clock ms, status/failure).
#[derive(Default)]
struct Log {
    done: Mutex<Vec<(usize, i64, ProbeOutcome)>>,
    recheck: Option<i64>,
}

impl Handler for Log {
    fn completed(&self, target: usize, _c: ProbeClass, at: i64, o: ProbeOutcome) -> Option<i64> {
        self.done.lock().unwrap().push((target, at, o));
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
            })
            .collect(),
    )
}

async fn run_for(
    ts: Arc<Vec<Target>>,
    l: Limits,
    rec: Arc<Recorder>,
    log: Arc<Log>,
    real: Duration,
) -> Duration {
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(jiff::Timestamp::now(), 1000.0));
    let (tx, rx) = watch::channel(false);
    let h = tokio::spawn(run(ts, l, clock, Arc::new(Probe(rec)), log, rx));
    tokio::time::sleep(real).await;
    let t = std::time::Instant::now();
    tx.send(true).unwrap();
    h.await.unwrap();
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_cap_holds_for_an_nvr() {
    // 32 channels of one NVR plus 8 cameras of their own.
    let mut hosts = vec!["nvr".to_string(); 32];
    hosts.extend((0..8).map(|i| format!("cam{i}")));
    let rec = Recorder::new(hosts.clone(), vec![], 20);
    let log = Arc::new(Log::default());
    // Interval 10 clock-seconds = 10 ms real: everything is due at once and keeps coming back.
    run_for(
        targets(&hosts),
        limits(64, 3, 10_000, 1000),
        rec.clone(),
        log.clone(),
        Duration::from_millis(600),
    )
    .await;
    let per = rec.per_host.lock().unwrap();
    assert!(per["nvr"].1 <= 3, "NVR saw {} at once", per["nvr"].1);
    assert_eq!(per["nvr"].1, 3, "the cap should be used");
    let done = log.done.lock().unwrap();
    for t in 0..hosts.len() {
        assert!(done.iter().any(|d| d.0 == t), "target {t} never probed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_cap_holds() {
    let hosts: Vec<String> = (0..200).map(|i| format!("h{i}")).collect();
    let rec = Recorder::new(hosts.clone(), vec![], 30);
    let log = Arc::new(Log::default());
    run_for(
        targets(&hosts),
        limits(16, 4, 50_000, 1000),
        rec.clone(),
        log.clone(),
        Duration::from_millis(500),
    )
    .await;
    let m = rec.max_in_flight.load(Ordering::SeqCst);
    assert!(m <= 16, "{m} in flight");
    assert_eq!(m, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_probe_is_cut_and_stalls_nobody() {
    let hosts: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
    // Targets 0–4 never answer; deadline 100 ms real.
    let rec = Recorder::new(hosts.clone(), vec![0, 1, 2, 3, 4], 5);
    let log = Arc::new(Log::default());
    let stop = run_for(
        targets(&hosts),
        limits(8, 2, 20_000, 100),
        rec,
        log.clone(),
        Duration::from_millis(700),
    )
    .await;
    let done = log.done.lock().unwrap();
    let cut: Vec<_> = done
        .iter()
        .filter(|d| d.2.failure == Some(FailureKind::Deadline))
        .collect();
    assert!(cut.iter().all(|d| d.0 < 5));
    assert!(cut.len() >= 5, "each hanging probe ends at its deadline");
    // The healthy ones kept their schedule: several rounds each.
    for t in 5..20 {
        let n = done
            .iter()
            .filter(|d| d.0 == t && d.2.status == ProbeStatus::Up)
            .count();
        assert!(n >= 5, "target {t} ran {n} times");
    }
    assert!(stop < Duration::from_millis(400), "shutdown took {stop:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_runs_are_staggered_over_one_interval() {
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
    let rec = Recorder::new(hosts.clone(), vec![], 1);
    let log = Arc::new(Log::default());
    // Interval 400 clock-s = 400 ms real; stop before any second run.
    run_for(
        targets(&hosts),
        limits(64, 4, 400_000, 1000),
        rec,
        log.clone(),
        Duration::from_millis(380),
    )
    .await;
    let done = log.done.lock().unwrap();
    let mut firsts: Vec<i64> = (0..10)
        .map(|t| done.iter().find(|d| d.0 == t).map(|d| d.1).expect("probed"))
        .collect();
    let base = firsts[0];
    for f in &mut firsts {
        *f -= base;
    }
    // Target i starts near i/10 of the interval (± scheduling slack on a busy machine).
    for (i, f) in firsts.iter().enumerate() {
        let want = 40_000 * i as i64;
        assert!(
            (f - want).abs() < 25_000,
            "target {i} started at {f} ms, want ~{want}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_can_ask_for_an_early_recheck() {
    let hosts = vec!["h".to_string()];
    let rec = Recorder::new(hosts.clone(), vec![], 1);
    let log = Arc::new(Log {
        recheck: Some(20_000),
        ..Default::default()
    });
    // Interval 1 h: without the recheck there would be a single run.
    run_for(
        targets(&hosts),
        limits(4, 4, 3_600_000, 1000),
        rec,
        log.clone(),
        Duration::from_millis(300),
    )
    .await;
    let n = log.done.lock().unwrap().len();
    assert!(n >= 5, "{n} runs");
}
