//! The probe scheduler: a due-time queue drives a bounded pool of probe tasks (decision 7 in
//! docs/architecture.md).
//!
//! - One heap entry per (target, probe class) holds its next due time; nothing runs for a device
//!   between its probes (no task per device, no timer per device).
//! - A probe starts only when it holds a global permit (`max_in_flight`), a permit of its host
//!   (`max_per_host`: an NVR serving 64 channels never sees 64 sessions at once) and, when the
//!   target sits behind a platform, a permit of that platform (`max_per_platform`). A job whose
//!   host or platform is busy is put back a moment later instead of blocking the queue.
//! - First runs are staggered over one interval (`offset = interval × i / n`), later runs get a
//!   ±5 % jitter so a fleet started together does not stay in lock-step. The jitter does not
//!   accumulate: a target stays within ±5 % of an interval of its unjittered schedule, so a day
//!   of 5-minute probes is the expected count ±1 for every camera (see [`jitter`]).
//! - Every probe is cut at a hard deadline (real time: networks do not run on the demo's clock).
//! - After each probe the [`Handler`] decides: the next run after the class interval, or sooner
//!   (a re-check while a failure is being confirmed).
//! - A probe can be asked for out of turn ([`Urgent`]: a repair to verify, an operator's "probe
//!   now"): it runs as soon as the caps allow, once, without moving the regular schedule.
//! - Shutdown stops dispatching at once; probes in flight finish or are cut at their deadline,
//!   and `run` returns after the last one.
//!
//! Due times are on the injected [`Clock`] (so `--time-scale` compresses intervals) and waiting
//! for them is [`Clock::sleep`]; deadlines and the elapsed time of a cut probe are tokio time
//! (real in production, virtual under a paused test runtime with `TokioClock`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use camwatch_probes::{FailureKind, ProbeKind, ProbeOutcome};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use camwatch_core::clock::Clock;

/// What a probe is for; each class has its own interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeClass {
    /// Is it up: RTSP DESCRIBE, else TCP connect (default every 5 min).
    Liveness,
    /// What does it show: snapshot, else one RTSP keyframe (default hourly).
    Picture,
    /// Device facts: clock drift, firmware (default daily).
    Onvif,
}

impl ProbeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Picture => "picture",
            Self::Onvif => "onvif",
        }
    }
}

/// One schedulable target: which classes apply and what it shares with others.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host key for the per-host cap (IP or host name; channels of one NVR share it).
    pub host: String,
    /// Platform key for the per-platform cap (e.g. a lower-level platform's code), if any.
    pub platform: Option<String>,
    pub classes: Vec<ProbeClass>,
    /// No first probe before this (clock ms; 0: none): a node that takes a device over from a
    /// live node waits one interval after the other's last possible probe, so that no
    /// interval sees the device probed by two nodes (docs/nodes.md).
    pub not_before_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_in_flight: usize,
    pub max_per_host: usize,
    pub max_per_platform: usize,
    pub deadline: Duration,
    /// Interval of each class, in clock milliseconds.
    pub interval_ms: HashMap<ProbeClass, i64>,
}

/// The probe itself: given a target index and class, one attempt.
pub trait Prober: Send + Sync + 'static {
    fn probe(
        &self,
        target: usize,
        class: ProbeClass,
    ) -> Pin<Box<dyn Future<Output = ProbeOutcome> + Send + 'static>>;
}

/// What happens after a probe: returns when to run this (target, class) next, in clock
/// milliseconds, or `None` for the class interval.
pub trait Handler: Send + Sync + 'static {
    /// A probe of `class` starts, `lag_ms` clock milliseconds after it was due (for metrics).
    fn started(&self, _class: ProbeClass, _lag_ms: i64) {}

    fn completed(
        &self,
        target: usize,
        class: ProbeClass,
        started_at_ms: i64,
        outcome: ProbeOutcome,
    ) -> Option<i64>;
}

fn now_ms(clock: &dyn Clock) -> i64 {
    clock.now().as_millisecond()
}

/// splitmix64, for jitter: deterministic per (target, class, run).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where a (target, class)'s `run`-th probe sits around its unjittered time: within ±2.5 % of
/// the interval, a function of those three alone (not of the rest of the fleet).
fn offset(interval_ms: i64, target: usize, class: ProbeClass, run: u64) -> i64 {
    let half = interval_ms / 40;
    if half == 0 {
        return 0;
    }
    let key = mix(((target as u64) << 2) | class as u64) ^ run;
    (mix(key) % (2 * half as u64 + 1)) as i64 - half
}

/// The jitter added to the interval after a (target, class)'s `run`-th probe (`run` ≥ 1): the
/// move from its previous offset to its next, so within ±5 % of the interval, deterministic.
/// As a difference of offsets it telescopes: over any number of runs the schedule is off its
/// unjittered course by at most ±5 % of one interval. An independent ±5 % per gap would be a
/// random walk instead, off by about half an interval after a day of 5-minute probes (288
/// runs ±2 or worse for one camera in five).
fn jitter(interval_ms: i64, target: usize, class: ProbeClass, run: u64) -> i64 {
    offset(interval_ms, target, class, run) - offset(interval_ms, target, class, run - 1)
}

/// A due job; the heap is ordered by due time, then sequence (FIFO among equals). The flag
/// marks a one-off probe asked for out of turn (it does not reschedule itself).
type Entry = Reverse<(i64, u64, usize, ProbeClass, bool)>;

/// Out-of-turn probe requests: (target index, class).
pub type Urgent = tokio::sync::mpsc::UnboundedReceiver<(usize, ProbeClass)>;

/// A finished probe's report: when to run it next (`None`: a one-off, not rescheduled).
type Next = (Option<i64>, usize, ProbeClass, bool);

/// Runs the schedule until `shutdown` turns true; returns once every in-flight probe has ended.
pub async fn run(
    targets: Arc<Vec<Target>>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    prober: Arc<dyn Prober>,
    handler: Arc<dyn Handler>,
    mut urgent: Urgent,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = now_ms(clock.as_ref());
    let n = targets.len().max(1) as i64;
    let mut heap: BinaryHeap<Entry> = BinaryHeap::with_capacity(targets.len() * 2);
    let mut seq = 0u64;
    for (i, t) in targets.iter().enumerate() {
        for &c in &t.classes {
            let iv = limits.interval_ms.get(&c).copied().unwrap_or(300_000);
            let first = start.max(t.not_before_ms) + iv * i as i64 / n;
            heap.push(Reverse((first, seq, i, c, false)));
            seq += 1;
        }
    }
    let global = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let mut hosts: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut platforms: HashMap<String, Arc<Semaphore>> = HashMap::new();
    // Finished probes hand their next due time back here.
    let (next_tx, mut next_rx) = tokio::sync::mpsc::unbounded_channel::<Next>();
    // Due jobs blocked by a busy host ("h:") or platform ("p:"), first come first served; a
    // finished probe releases one waiter of its host and of its platform.
    let mut waiting: HashMap<String, VecDeque<(i64, usize, ProbeClass, bool)>> = HashMap::new();
    let release = |waiting: &mut HashMap<String, VecDeque<(i64, usize, ProbeClass, bool)>>,
                   heap: &mut BinaryHeap<Entry>,
                   seq: &mut u64,
                   i: usize| {
        let t = &targets[i];
        let keys = std::iter::once(format!("h:{}", t.host))
            .chain(t.platform.iter().map(|p| format!("p:{p}")));
        for k in keys {
            if let Some((due, j, c, once)) = waiting.get_mut(&k).and_then(VecDeque::pop_front) {
                heap.push(Reverse((due, *seq, j, c, once)));
                *seq += 1;
            }
        }
    };
    // A finished probe: free its host's and platform's next waiter, reschedule it.
    let finished = |waiting: &mut HashMap<String, VecDeque<(i64, usize, ProbeClass, bool)>>,
                    heap: &mut BinaryHeap<Entry>,
                    seq: &mut u64,
                    (due, i, c, once): Next| {
        release(waiting, heap, seq, i);
        if let Some(due) = due {
            heap.push(Reverse((due, *seq, i, c, once)));
            *seq += 1;
        }
    };
    let mut urgent_open = true;
    let mut tasks = tokio::task::JoinSet::new();
    // Probes started so far per (target, class): the key of the next jitter.
    let mut runs: HashMap<(usize, ProbeClass), u64> = HashMap::new();

    loop {
        if *shutdown.borrow() {
            break;
        }
        while let Ok(m) = next_rx.try_recv() {
            finished(&mut waiting, &mut heap, &mut seq, m);
        }
        while let Ok((i, c)) = urgent.try_recv() {
            if i < targets.len() {
                heap.push(Reverse((now_ms(clock.as_ref()), seq, i, c, true)));
                seq += 1;
            }
        }
        while tasks.try_join_next().is_some() {}
        let Some(&Reverse((due, _, i, class, once))) = heap.peek() else {
            // Nothing scheduled: wait for a finished probe to reschedule, or shutdown.
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                m = next_rx.recv() => if let Some(m) = m {
                    finished(&mut waiting, &mut heap, &mut seq, m);
                },
                u = urgent.recv(), if urgent_open => match u {
                    // Queued at the top of the loop, with the others.
                    Some((i, c)) => if i < targets.len() {
                        heap.push(Reverse((now_ms(clock.as_ref()), seq, i, c, true)));
                        seq += 1;
                    },
                    None => urgent_open = false,
                },
            }
            continue;
        };
        let now = now_ms(clock.as_ref());
        if due > now {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                m = next_rx.recv() => if let Some(m) = m {
                    finished(&mut waiting, &mut heap, &mut seq, m);
                },
                u = urgent.recv(), if urgent_open => match u {
                    // Queued at the top of the loop, with the others.
                    Some((i, c)) => if i < targets.len() {
                        heap.push(Reverse((now_ms(clock.as_ref()), seq, i, c, true)));
                        seq += 1;
                    },
                    None => urgent_open = false,
                },
                _ = clock.sleep(Duration::from_millis((due - now) as u64)) => {}
            }
            continue;
        }
        // Due now. Wait for a global slot (this is the back-pressure that bounds the pool).
        // Every select here is biased, shutdown first: when a slot frees at the instant of the
        // shutdown, nothing more starts, and the schedule does not depend on select!'s coin.
        let permit = tokio::select! {
            biased;
            _ = shutdown.changed() => continue,
            p = global.clone().acquire_owned() => p.expect("semaphore never closed"),
        };
        heap.pop();
        let t = &targets[i];
        let host = hosts
            .entry(t.host.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(limits.max_per_host.max(1))))
            .clone();
        let Ok(host_permit) = host.try_acquire_owned() else {
            // The host is busy with other channels: wait for one of them to finish.
            waiting
                .entry(format!("h:{}", t.host))
                .or_default()
                .push_back((due, i, class, once));
            drop(permit);
            continue;
        };
        let platform_permit: Option<OwnedSemaphorePermit> = match &t.platform {
            Some(p) => {
                let s = platforms
                    .entry(p.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(limits.max_per_platform.max(1))))
                    .clone();
                match s.try_acquire_owned() {
                    Ok(pp) => Some(pp),
                    Err(_) => {
                        waiting
                            .entry(format!("p:{p}"))
                            .or_default()
                            .push_back((due, i, class, once));
                        // The host slot taken above goes back unused: hand it to a waiter.
                        drop(host_permit);
                        let h = format!("h:{}", t.host);
                        if let Some((d, j, c, o)) =
                            waiting.get_mut(&h).and_then(VecDeque::pop_front)
                        {
                            heap.push(Reverse((d, seq, j, c, o)));
                            seq += 1;
                        }
                        continue;
                    }
                }
            }
            None => None,
        };
        let interval = limits.interval_ms.get(&class).copied().unwrap_or(300_000);
        let (prober, handler, clock, next_tx) = (
            prober.clone(),
            handler.clone(),
            clock.clone(),
            next_tx.clone(),
        );
        let deadline = limits.deadline;
        // One-off probes do not advance the regular schedule's jitter.
        let run = runs.entry((i, class)).or_insert(0);
        *run += u64::from(!once);
        let run = (*run).max(1);
        tasks.spawn(async move {
            let held = (permit, host_permit, platform_permit);
            let started = now_ms(clock.as_ref());
            handler.started(class, started - due);
            let t0 = tokio::time::Instant::now();
            let outcome = match tokio::time::timeout(deadline, prober.probe(i, class)).await {
                Ok(o) => o,
                Err(_) => {
                    let mut o = ProbeOutcome::down(
                        match class {
                            ProbeClass::Liveness => ProbeKind::Rtsp,
                            ProbeClass::Picture => ProbeKind::Snapshot,
                            ProbeClass::Onvif => ProbeKind::Onvif,
                        },
                        FailureKind::Deadline,
                        format!("no result within the {} ms deadline", deadline.as_millis()),
                    );
                    o.elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
                    o
                }
            };
            let asked = handler.completed(i, class, started, outcome);
            // A one-off goes on only for a re-check its outcome asks for; the regular schedule
            // of the same probe is still in the queue.
            let next = if once {
                asked
            } else {
                Some(asked.unwrap_or_else(|| {
                    now_ms(clock.as_ref()) + interval + jitter(interval, i, class, run)
                }))
            };
            // Free the slots before reporting back, so the waiter this releases can take them.
            drop(held);
            let _ = next_tx.send((next, i, class, once));
        });
    }
    // Graceful: let in-flight probes finish (each is bounded by its deadline).
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests;
