//! Injected wall-clock time. Production uses `SystemClock`; tests and the demo use a scaled or
//! manual clock so months and outages can be exercised in seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Current wall time.
    fn now(&self) -> Timestamp;
    /// Real time that elapses while `simulated` seconds pass on this clock.
    fn real_duration(&self, simulated: std::time::Duration) -> std::time::Duration {
        simulated
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Runs `scale` times faster than real time from `origin`, starting now.
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
    fn real_duration(&self, simulated: std::time::Duration) -> std::time::Duration {
        simulated.div_f64(self.scale)
    }
}

/// A clock that moves only when told to. For unit tests of time-dependent logic.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(at.as_nanosecond() as i64))
    }
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_nanos() as i64, Ordering::SeqCst);
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_nanosecond() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanosecond(self.0.load(Ordering::SeqCst) as i128).expect("in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_fast() {
        let origin: Timestamp = "2026-10-01T00:00:00Z".parse().unwrap();
        let c = ScaledClock::new(origin, 3600.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let elapsed = c.now().duration_since(origin).as_secs_f64();
        assert!(elapsed >= 60.0, "20 ms at 3600x is >= 72 s, got {elapsed}");
        assert_eq!(
            c.real_duration(std::time::Duration::from_secs(3600)),
            std::time::Duration::from_secs(1)
        );
    }
}
