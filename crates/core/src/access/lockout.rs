//! Lockout after repeated login failures, as a pure function of the recorded attempts and the
//! time now (read from the injected clock by the caller).
//!
//! **Rule.** A name is locked for `lock_sec` from the moment it reaches `max_failures` failed
//! attempts within `window_sec` (failures counted since its last successful login or admin
//! unlock). Attempts made while locked are refused before the password is checked and recorded
//! as [`AttemptOutcome::Locked`]: they are not failures, so hammering a locked name does not
//! extend its lock (nor does it reveal whether the password would have been right).
//!
//! Unknown names are locked the same way, so a locked answer tells nothing about whether a
//! name exists.
//!
//! **Horizon.** The state at `now` depends only on attempts at or after
//! [`LockoutPolicy::horizon`]`(now)` = `now - window_sec - lock_sec`: a lock covering `now`
//! started at most `lock_sec` ago, and its failures lie within `window_sec` before that. The
//! store reads no further back.

use serde::{Deserialize, Serialize};

/// What one login attempt came to (stored with the attempt).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttemptOutcome {
    Success,
    WrongPassword,
    UnknownUser,
    /// Refused unchecked: the name was locked.
    Locked,
    /// The right password for a disabled user.
    Disabled,
    /// An admin lifted the lock (not a login; resets the count like a success).
    Unlocked,
}
crate::text_enum!(AttemptOutcome, "login outcome");

impl AttemptOutcome {
    /// Counts towards a lock.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::WrongPassword | Self::UnknownUser)
    }
    /// Starts the count afresh.
    pub fn resets(self) -> bool {
        matches!(self, Self::Success | Self::Unlocked)
    }
}

/// The policy's parameters; `Default`: 5 failures within 15 minutes lock for 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub window_sec: i64,
    pub lock_sec: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_sec: 15 * 60,
            lock_sec: 15 * 60,
        }
    }
}

/// Whether a name may try to log in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LockState {
    /// May try; `failures_left` more failures (this one included) lock it.
    Open { failures_left: u32 },
    /// Refused until `until` (Unix seconds).
    Locked { until: i64 },
}

impl LockoutPolicy {
    /// The oldest attempt that can matter at `now`.
    pub fn horizon(&self, now: i64) -> i64 {
        now.saturating_sub(self.window_sec.saturating_add(self.lock_sec))
    }

    /// The state at `now` given a name's attempts in the order they were made (times in Unix
    /// seconds; attempts after `now` are ignored).
    pub fn state(&self, attempts: &[(i64, AttemptOutcome)], now: i64) -> LockState {
        let max = self.max_failures.max(1) as usize;
        let upto: Vec<&(i64, AttemptOutcome)> = attempts.iter().filter(|a| a.0 <= now).collect();
        let since_reset = match upto.iter().rposition(|a| a.1.resets()) {
            Some(i) => &upto[i + 1..],
            None => &upto[..],
        };
        let failures: Vec<i64> = since_reset
            .iter()
            .filter(|a| a.1.is_failure())
            .map(|a| a.0)
            .collect();
        // A lock starts at the failure that makes `max` within the window.
        let until = failures
            .windows(max)
            .filter(|w| w[max - 1] - w[0] < self.window_sec)
            .map(|w| w[max - 1].saturating_add(self.lock_sec))
            .max();
        if let Some(until) = until
            && until > now
        {
            return LockState::Locked { until };
        }
        let recent = failures
            .iter()
            .filter(|at| **at > now - self.window_sec)
            .count();
        LockState::Open {
            failures_left: (max - recent.min(max)) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome as O;
    use proptest::prelude::*;

    const T: i64 = 1_790_000_000;

    fn p() -> LockoutPolicy {
        LockoutPolicy::default()
    }

    fn fails(times: &[i64]) -> Vec<(i64, AttemptOutcome)> {
        times.iter().map(|t| (T + t, O::WrongPassword)).collect()
    }

    #[test]
    fn nothing_recorded_is_open() {
        assert_eq!(p().state(&[], T), LockState::Open { failures_left: 5 });
    }

    #[test]
    fn five_failures_in_fifteen_minutes_lock_for_fifteen() {
        let a = fails(&[0, 60, 120, 180, 240]);
        assert_eq!(
            p().state(&a[..4], T + 250),
            LockState::Open { failures_left: 1 }
        );
        assert_eq!(
            p().state(&a, T + 240),
            LockState::Locked { until: T + 1140 }
        );
        assert_eq!(
            p().state(&a, T + 1139),
            LockState::Locked { until: T + 1140 }
        );
        // The lock ends, and the failures that caused it have left the window (the window is
        // no longer than the lock), so five tries again.
        assert_eq!(
            p().state(&a, T + 1140),
            LockState::Open { failures_left: 5 }
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_lock() {
        let a = fails(&[0, 300, 600, 899, 900]);
        assert_eq!(p().state(&a, T + 900), LockState::Open { failures_left: 1 });
        let a = fails(&[0, 300, 600, 899, 899]);
        assert_eq!(
            p().state(&a, T + 899),
            LockState::Locked { until: T + 1799 }
        );
    }

    #[test]
    fn unknown_names_count_like_wrong_passwords() {
        let a: Vec<_> = (0..5).map(|i| (T + i, O::UnknownUser)).collect();
        assert_eq!(p().state(&a, T + 5), LockState::Locked { until: T + 904 });
    }

    #[test]
    fn a_success_or_an_unlock_starts_the_count_afresh() {
        for reset in [O::Success, O::Unlocked] {
            let mut a = fails(&[0, 1, 2, 3]);
            a.push((T + 4, reset));
            a.extend(fails(&[5, 6, 7, 8]));
            assert_eq!(
                p().state(&a, T + 9),
                LockState::Open { failures_left: 1 },
                "{reset}"
            );
        }
        let mut a = fails(&[0, 1, 2, 3, 4]);
        assert!(matches!(p().state(&a, T + 5), LockState::Locked { .. }));
        a.push((T + 10, O::Unlocked));
        assert_eq!(p().state(&a, T + 10), LockState::Open { failures_left: 5 });
    }

    #[test]
    fn attempts_while_locked_do_not_extend_the_lock() {
        let mut a = fails(&[0, 1, 2, 3, 4]);
        a.extend((5..900).step_by(50).map(|t| (T + t, O::Locked)));
        assert_eq!(p().state(&a, T + 899), LockState::Locked { until: T + 904 });
        assert_eq!(p().state(&a, T + 904), LockState::Open { failures_left: 5 });
        a.push((T + 500, O::Disabled));
        assert_eq!(p().state(&a, T + 904), LockState::Open { failures_left: 5 });
    }

    #[test]
    fn a_longer_window_than_lock_relocks_on_the_next_failure() {
        let pol = LockoutPolicy {
            max_failures: 3,
            window_sec: 3600,
            lock_sec: 60,
        };
        let mut a = fails(&[0, 10, 20]);
        assert_eq!(pol.state(&a, T + 20), LockState::Locked { until: T + 80 });
        assert_eq!(pol.state(&a, T + 80), LockState::Open { failures_left: 0 });
        a.extend(fails(&[100]));
        assert_eq!(pol.state(&a, T + 100), LockState::Locked { until: T + 160 });
    }

    #[test]
    fn the_future_is_ignored_and_the_horizon_is_window_plus_lock() {
        let a = fails(&[0, 1, 2, 3, 4]);
        assert_eq!(p().state(&a, T - 1), LockState::Open { failures_left: 5 });
        assert_eq!(p().horizon(T), T - 1800);
    }

    #[test]
    fn names_round_trip() {
        use strum::VariantArray;
        for o in AttemptOutcome::VARIANTS {
            assert_eq!(o.as_str().parse::<AttemptOutcome>().unwrap(), *o);
        }
    }

    fn arb_outcome() -> impl Strategy<Value = AttemptOutcome> {
        prop_oneof![
            6 => Just(O::WrongPassword),
            2 => Just(O::UnknownUser),
            1 => Just(O::Success),
            1 => Just(O::Locked),
            1 => Just(O::Unlocked),
            1 => Just(O::Disabled),
        ]
    }

    proptest! {
        /// Only what lies within the horizon matters: the state from the full history equals
        /// the state from the attempts at or after `horizon(now)`.
        #[test]
        fn the_horizon_is_enough(gaps in proptest::collection::vec((0i64..400, arb_outcome()), 0..60),
                                 max in 1u32..7, window in 1i64..2000, lock in 1i64..2000,
                                 extra in 0i64..3000) {
            let pol = LockoutPolicy { max_failures: max, window_sec: window, lock_sec: lock };
            let mut t = T;
            let a: Vec<(i64, AttemptOutcome)> = gaps.iter().map(|(g, o)| { t += g; (t, *o) }).collect();
            let now = t + extra;
            let h = pol.horizon(now);
            let tail: Vec<_> = a.iter().copied().filter(|x| x.0 >= h).collect();
            // A reset before the horizon is invisible in the tail, but the failures before it
            // are out of reach anyway.
            prop_assert_eq!(pol.state(&a, now), pol.state(&tail, now));
        }

        /// One more failure never opens a locked name, and a lock never outlasts `lock_sec`
        /// after the last failure.
        #[test]
        fn failures_only_tighten(times in proptest::collection::vec(0i64..3000, 0..30),
                                 extra in 0i64..100) {
            let mut times = times;
            times.sort();
            let a = fails(&times);
            let now = T + times.last().copied().unwrap_or(0) + extra;
            let before = p().state(&a, now);
            let mut more = a.clone();
            more.push((now, O::WrongPassword));
            let after = p().state(&more, now);
            match (before, after) {
                (LockState::Locked { until: u1 }, LockState::Locked { until: u2 }) => prop_assert!(u2 >= u1),
                (LockState::Locked { .. }, LockState::Open { .. }) => prop_assert!(false, "unlocked by a failure"),
                (LockState::Open { failures_left: l }, LockState::Open { failures_left: l2 }) => prop_assert!(l2 < l || l == 0),
                (LockState::Open { failures_left: l }, LockState::Locked { until }) => {
                    prop_assert!(l <= 1, "locked with {} left", l);
                    prop_assert_eq!(until, now + 900);
                }
            }
        }
    }
}
