//! Injected wall-clock time, and waiting on it. Production uses `SystemClock`; the demo and the
//! rehearsal use a `ScaledClock` so months and outages pass in minutes; tests use a
//! `TokioClock` under paused tokio time (async code whose timing is the point) or a
//! `ManualClock` (logic stepped by hand).
//!
//! # Which test clock
//!
//! - [`TokioClock`]: clock time *is* tokio's time. Under `#[tokio::test(start_paused = true)]`
//!   (needs tokio's `test-util` feature and the current-thread runtime) tokio jumps to the next
//!   timer whenever every task is idle, so [`Clock::sleep`], `tokio::time::sleep`,
//!   `tokio::time::timeout` deadlines and `tokio::time::Instant` all run on one virtual
//!   timeline: a day of scheduling takes milliseconds and ends the same way on any machine,
//!   however busy. Use it for async components (the scheduler, the monitor) where when and how
//!   long is what is under test. Create it inside the runtime.
//! - [`ManualClock`]: time moves only when the test calls [`ManualClock::advance`] or
//!   [`ManualClock::set`]; a sleeper wakes only then, and nothing else (tokio timers, probe
//!   deadlines) follows it. Use it for synchronous logic (health, history, availability) and
//!   for stepping async code one explicit instant at a time.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use jiff::Timestamp;

/// A wait on a clock: boxed so that [`Clock`] stays object-safe (`Arc<dyn Clock>`), `'static`
/// so that it can be held across a `select!` or moved into a task.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current wall time.
    fn now(&self) -> Timestamp;
    /// Real time that elapses while `simulated` seconds pass on this clock.
    fn real_duration(&self, simulated: Duration) -> Duration {
        simulated
    }
    /// Waits until `d` has passed on this clock, measured from this call (not from the first
    /// poll). A span rather than a `sleep_until(Timestamp)`: every clock's wait is a tokio
    /// sleep of a span or a wait for an advance, a span needs no conversion from wall time to
    /// a monotonic instant, and a caller that holds an absolute due time re-reads
    /// [`Clock::now`] after waking anyway (the scheduler does), so nothing accumulates.
    ///
    /// The default sleeps `real_duration(d)` with tokio, which is right for any clock tied to
    /// real time ([`SystemClock`], [`ScaledClock`]); a virtual clock overrides it.
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(self.real_duration(d)))
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// Real wall time; sleeps are tokio sleeps of the same span.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Runs `scale` times faster than real time from `origin`, starting now; a sleep of `d` is a
/// tokio sleep of `d / scale`.
#[derive(Debug)]
pub struct ScaledClock {
    origin: Timestamp,
    started: std::time::Instant,
    scale: f64,
}

impl ScaledClock {
    pub fn new(origin: Timestamp, scale: f64) -> Self {
        assert!(scale > 0.0, "time scale must be positive");
        Self {
            origin,
            started: std::time::Instant::now(),
            scale,
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let real = self.started.elapsed().as_secs_f64();
        let sim_ns = (real * self.scale * 1e9) as i64;
        self.origin
            .checked_add(jiff::SignedDuration::from_nanos(sim_ns))
            .expect("scaled clock stays within jiff's range")
    }
    fn real_duration(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.scale)
    }
}

/// Wall time driven by tokio's clock: `origin` plus the `tokio::time::Instant` time elapsed
/// since [`TokioClock::new`]. In a normal runtime that is real time (like [`SystemClock`] from
/// `origin`); in a paused one it is virtual, and advances only as tokio auto-advances or the
/// test calls `tokio::time::advance`. See the module documentation for when to use it.
#[derive(Debug)]
pub struct TokioClock {
    origin: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `origin` now. Call it inside the runtime whose time it should follow.
    pub fn new(origin: Timestamp) -> Self {
        Self {
            origin,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.origin
            .checked_add(self.start.elapsed())
            .expect("tokio clock stays within jiff's range")
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock that moves only when told to, with [`ManualClock::advance`] or
/// [`ManualClock::set`]. A [`Clock::sleep`] on it never ends by itself: it ends when the clock
/// is moved to or past its end. For unit tests of time-dependent logic; see the module
/// documentation for when to use [`TokioClock`] instead.
#[derive(Debug)]
pub struct ManualClock(Arc<Manual>);

#[derive(Debug)]
struct Manual {
    /// Nanoseconds since the Unix epoch.
    at: AtomicI64,
    /// Pending sleepers, woken on every move of the clock. Locked around both the sleeper's
    /// check of `at` and the mover's wake-up, so a move cannot slip between them.
    sleepers: Mutex<HashMap<u64, Waker>>,
    next_id: AtomicU64,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(Manual {
            at: AtomicI64::new(at.as_nanosecond() as i64),
            sleepers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }))
    }
    pub fn advance(&self, by: Duration) {
        self.0.at.fetch_add(by.as_nanos() as i64, Ordering::SeqCst);
        self.0.wake();
    }
    pub fn set(&self, at: Timestamp) {
        self.0.at.store(at.as_nanosecond() as i64, Ordering::SeqCst);
        self.0.wake();
    }
}

impl Manual {
    fn wake(&self) {
        let woken: Vec<Waker> = self.lock().drain().map(|(_, w)| w).collect();
        for w in woken {
            w.wake();
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanosecond(self.0.at.load(Ordering::SeqCst) as i128).expect("in range")
    }
    fn sleep(&self, d: Duration) -> Sleep {
        let now = self.0.at.load(Ordering::SeqCst);
        Box::pin(ManualSleep {
            clock: self.0.clone(),
            until: now.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            id: self.0.next_id.fetch_add(1, Ordering::Relaxed),
        })
    }
}

struct ManualSleep {
    clock: Arc<Manual>,
    until: i64,
    id: u64,
}

impl Future for ManualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut sleepers = self.clock.lock();
        if self.clock.at.load(Ordering::SeqCst) >= self.until {
            sleepers.remove(&self.id);
            return Poll::Ready(());
        }
        sleepers.insert(self.id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        // A sleep given up (the other arm of a `select!` won) leaves no waker behind.
        self.clock.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Timestamp {
        "2026-10-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn scaled_clock_runs_fast() {
        let c = ScaledClock::new(origin(), 3600.0);
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = c.now().duration_since(origin()).as_secs_f64();
        assert!(elapsed >= 60.0, "20 ms at 3600x is >= 72 s, got {elapsed}");
        assert_eq!(
            c.real_duration(Duration::from_secs(3600)),
            Duration::from_secs(1)
        );
    }

    /// The scaled clock's sleep is a tokio sleep of the real span: under paused time an hour
    /// at 3600x is exactly one virtual second.
    #[tokio::test(start_paused = true)]
    async fn scaled_clock_sleeps_the_real_span() {
        let c = ScaledClock::new(origin(), 3600.0);
        let t0 = tokio::time::Instant::now();
        c.sleep(Duration::from_secs(3600)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn system_clock_sleeps_the_span() {
        let t0 = tokio::time::Instant::now();
        SystemClock.sleep(Duration::from_millis(1500)).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(1500));
    }

    /// A day on the tokio clock passes in virtual time: `now` moves by exactly the slept span.
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = TokioClock::new(origin());
        assert_eq!(c.now(), origin());
        let real = std::time::Instant::now();
        c.sleep(Duration::from_secs(86_400)).await;
        assert_eq!(c.now().duration_since(origin()).as_secs(), 86_400);
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(c.now().duration_since(origin()).as_millis(), 86_400_250);
        // A virtual day, not a real one.
        assert!(real.elapsed() < Duration::from_secs(60));
    }

    /// Sleeps and tokio timers on the tokio clock share one timeline, so they end in order.
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_sleeps_order_with_tokio_timers() {
        let c = TokioClock::new(origin());
        let order = Arc::new(Mutex::new(Vec::new()));
        let a = {
            let (o, s) = (order.clone(), c.sleep(Duration::from_secs(30)));
            tokio::spawn(async move {
                s.await;
                o.lock().unwrap().push("clock 30 s");
            })
        };
        let b = {
            let o = order.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                o.lock().unwrap().push("tokio 20 s");
            })
        };
        let t = tokio::time::timeout(Duration::from_secs(10), c.sleep(Duration::from_secs(60)));
        assert!(t.await.is_err(), "a 10 s deadline cuts a 60 s clock sleep");
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["tokio 20 s", "clock 30 s"]);
        assert_eq!(c.now().duration_since(origin()).as_secs(), 30);
    }

    /// A manual clock's sleep ends when the clock is moved to its end, not before, and never
    /// on its own (the runtime is paused, so only a wake-up by the clock could end it).
    #[tokio::test(start_paused = true)]
    async fn manual_clock_sleep_ends_when_advanced_to_its_end() {
        let c = Arc::new(ManualClock::new(origin()));
        let s = c.sleep(Duration::from_secs(300));
        c.advance(Duration::from_secs(100)); // measured from the call, not the first poll
        let h = tokio::spawn(s);
        tokio::task::yield_now().await;
        assert!(!h.is_finished());
        // An hour of tokio time does not move it.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!h.is_finished());
        c.advance(Duration::from_secs(199));
        tokio::task::yield_now().await;
        assert!(!h.is_finished(), "1 s short");
        c.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(1), h)
            .await
            .expect("woken by the advance")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn manual_clock_set_wakes_and_dropped_sleeps_leave_nothing() {
        let c = ManualClock::new(origin());
        assert_eq!(c.now(), origin());
        for _ in 0..3 {
            let s = c.sleep(Duration::from_secs(10));
            // Polled once (registers), then given up.
            let _ = tokio::time::timeout(Duration::from_millis(1), s).await;
        }
        assert!(c.0.lock().is_empty(), "given-up sleeps unregister");
        let h = tokio::spawn(c.sleep(Duration::from_secs(60)));
        tokio::task::yield_now().await;
        c.set(
            origin()
                .checked_add(jiff::SignedDuration::from_mins(2))
                .unwrap(),
        );
        tokio::time::timeout(Duration::from_secs(1), h)
            .await
            .expect("woken by set")
            .unwrap();
        assert_eq!(c.now().duration_since(origin()).as_secs(), 120);
        c.sleep(Duration::ZERO).await; // already due: ready at once
    }
}
