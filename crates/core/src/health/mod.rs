//! Per-device health: probe outcomes in, status transitions out (docs/architecture.md,
//! decisions 1–3).
//!
//! - **Offline is confirmed, then backdated.** One failed probe makes the device *suspect* and asks
//!   for quick re-checks; only `confirm_failures` failures spread over at least `confirm_window_sec`
//!   declare it offline, and the outage starts at the first failure. A success in between clears
//!   the suspicion (counted as a blip, never written as an outage).
//! - **Recovery needs one success.** Each recovery counts a flap; flapping is visible, not hidden.
//! - **A child inherits its parent's outage** (`parent_down:<code>`) so reports and work orders can
//!   group an NVR's channels under the NVR.
//! - **Recent outcomes** are kept per device for "why is this camera red?": the last few successes
//!   and a longer tail of failures.
//!
//! Pure: no I/O, no clock. Times are Unix seconds supplied by the caller. Monitor gaps (camwatch
//! down, a sweep behind) are the monitor's business: it writes `unknown` for them.

pub mod picture;

use std::collections::VecDeque;

use crate::outcome::{FailureKind, ProbeOutcome, ProbeStatus};
use serde::Serialize;

use crate::cause::Cause;
use crate::history::Status;
use crate::registry::DeviceCode;

/// Debounce settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    pub confirm_failures: u32,
    pub confirm_window_sec: i64,
    /// Successes kept for the "why" view.
    pub keep_successes: usize,
    /// Failures kept for the "why" view (longer: they explain the red).
    pub keep_failures: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            confirm_failures: 3,
            confirm_window_sec: 60,
            keep_successes: 5,
            keep_failures: 20,
        }
    }
}

impl HealthConfig {
    /// When to re-check a suspect device: spread the remaining confirmations over the window.
    pub fn recheck_after_sec(&self) -> i64 {
        let gaps = self.confirm_failures.saturating_sub(1).max(1) as i64;
        (self.confirm_window_sec / gaps).max(1)
    }
}

/// What the state machine believes about a device now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    /// No observation yet since the monitor started.
    Unknown,
    /// Online or degraded (`status`), since `since`.
    Up { status: Status, since: i64 },
    /// Failing but not yet confirmed.
    Suspect {
        /// What it was before (kept while suspect: the outage is not confirmed).
        was: Box<Phase>,
        first_failure_at: i64,
        failures: u32,
        failure: FailureKind,
    },
    /// Confirmed offline since the first failure.
    Down { since: i64, cause: Cause },
}

/// A probe result as health sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub at: i64,
    pub status: ProbeStatus,
    pub failure: Option<FailureKind>,
    /// The confirmed picture problem (picture faults, no media, a bad image), making an `Up`
    /// device degraded; `None` for a normal picture or none sampled yet.
    pub picture: Option<Cause>,
    pub detail: String,
    pub elapsed_ms: f64,
}

impl Observation {
    pub fn from_outcome(at: i64, o: &ProbeOutcome) -> Self {
        Self {
            at,
            status: o.status,
            failure: o.failure,
            picture: None,
            detail: o.detail.clone(),
            elapsed_ms: o.elapsed_ms,
        }
    }
    fn is_failure(&self) -> bool {
        self.status == ProbeStatus::Down
    }
}

/// A status change to record: from `at` on, the device is `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub status: Status,
    pub at: i64,
    pub cause: Option<Cause>,
}

/// What the caller should do after an observation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub change: Option<Change>,
    /// Re-check this device at this time (suspect: confirmation pending).
    pub recheck_at: Option<i64>,
}

/// One remembered outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recent {
    pub at: i64,
    pub status: ProbeStatus,
    pub failure: Option<FailureKind>,
    pub detail: String,
    pub elapsed_ms: f64,
}

/// The health of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceHealth {
    pub phase: Phase,
    /// Recoveries from confirmed outages.
    pub flaps: u32,
    /// Suspicions cleared before confirmation.
    pub blips: u32,
    successes: VecDeque<Recent>,
    failures: VecDeque<Recent>,
    /// The latest observation time applied: probes of different classes overlap, so a slow
    /// picture probe can report after a later-started liveness probe; its verdict holds from
    /// this moment, never before a change already made.
    latest_at: i64,
}

impl Default for DeviceHealth {
    fn default() -> Self {
        Self::new()
    }
}

fn up_status(o: &Observation) -> Status {
    if o.status == ProbeStatus::Degraded || o.picture.is_some() {
        Status::Degraded
    } else {
        Status::Online
    }
}

fn up_cause(o: &Observation) -> Option<Cause> {
    o.picture.clone()
}

impl DeviceHealth {
    pub fn new() -> Self {
        Self {
            phase: Phase::Unknown,
            flaps: 0,
            blips: 0,
            successes: VecDeque::new(),
            failures: VecDeque::new(),
            latest_at: i64::MIN,
        }
    }

    /// The status a report would show now.
    pub fn status(&self) -> Status {
        match &self.phase {
            Phase::Unknown => Status::Unknown,
            Phase::Up { status, .. } => *status,
            Phase::Suspect { was, .. } => match was.as_ref() {
                Phase::Up { status, .. } => *status,
                Phase::Down { .. } => Status::Offline,
                _ => Status::Unknown,
            },
            Phase::Down { .. } => Status::Offline,
        }
    }

    /// Recent outcomes, newest first (failures are kept longer than successes).
    pub fn recent(&self) -> Vec<Recent> {
        let mut v: Vec<Recent> = self
            .successes
            .iter()
            .chain(self.failures.iter())
            .cloned()
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.at));
        v
    }

    fn remember(&mut self, o: &Observation, cfg: &HealthConfig) {
        let r = Recent {
            at: o.at,
            status: o.status,
            failure: o.failure,
            detail: o.detail.clone(),
            elapsed_ms: o.elapsed_ms,
        };
        let (q, cap) = if o.is_failure() {
            (&mut self.failures, cfg.keep_failures)
        } else {
            (&mut self.successes, cfg.keep_successes)
        };
        q.push_back(r);
        while q.len() > cap {
            q.pop_front();
        }
    }

    /// Feeds one observation. `parent_down` names the parent (NVR, encoder) when it is confirmed
    /// offline, so the child's outage is attributed to it.
    pub fn observe(
        &mut self,
        o: &Observation,
        parent_down: Option<&DeviceCode>,
        cfg: &HealthConfig,
    ) -> Decision {
        let late;
        let o = if o.at < self.latest_at {
            late = Observation {
                at: self.latest_at,
                ..o.clone()
            };
            &late
        } else {
            o
        };
        self.latest_at = o.at;
        self.remember(o, cfg);
        let phase = std::mem::replace(&mut self.phase, Phase::Unknown);
        let (next, decision) = if o.is_failure() {
            let failure = o.failure.unwrap_or(FailureKind::Io);
            match phase {
                Phase::Down { since, cause } => (Phase::Down { since, cause }, Decision::default()),
                Phase::Suspect {
                    was,
                    first_failure_at,
                    failures,
                    ..
                } => {
                    let failures = failures + 1;
                    if failures >= cfg.confirm_failures
                        && o.at - first_failure_at >= cfg.confirm_window_sec
                    {
                        let cause = match parent_down {
                            Some(p) => Cause::ParentDown(*p),
                            None => Cause::from_failure(failure),
                        };
                        (
                            Phase::Down {
                                since: first_failure_at,
                                cause: cause.clone(),
                            },
                            Decision {
                                change: Some(Change {
                                    status: Status::Offline,
                                    at: first_failure_at,
                                    cause: Some(cause),
                                }),
                                recheck_at: None,
                            },
                        )
                    } else {
                        // Not yet: re-check after the spacing, but never before the window can
                        // have elapsed on the last needed failure.
                        let at = (o.at + cfg.recheck_after_sec()).max(
                            if failures + 1 >= cfg.confirm_failures {
                                first_failure_at + cfg.confirm_window_sec
                            } else {
                                0
                            },
                        );
                        (
                            Phase::Suspect {
                                was,
                                first_failure_at,
                                failures,
                                failure,
                            },
                            Decision {
                                change: None,
                                recheck_at: Some(at),
                            },
                        )
                    }
                }
                was @ (Phase::Up { .. } | Phase::Unknown) => {
                    if cfg.confirm_failures <= 1 {
                        let cause = match parent_down {
                            Some(p) => Cause::ParentDown(*p),
                            None => Cause::from_failure(failure),
                        };
                        (
                            Phase::Down {
                                since: o.at,
                                cause: cause.clone(),
                            },
                            Decision {
                                change: Some(Change {
                                    status: Status::Offline,
                                    at: o.at,
                                    cause: Some(cause),
                                }),
                                recheck_at: None,
                            },
                        )
                    } else {
                        (
                            Phase::Suspect {
                                was: Box::new(was),
                                first_failure_at: o.at,
                                failures: 1,
                                failure,
                            },
                            Decision {
                                change: None,
                                recheck_at: Some(o.at + cfg.recheck_after_sec()),
                            },
                        )
                    }
                }
            }
        } else {
            let status = up_status(o);
            let change = |at| Change {
                status,
                at,
                cause: up_cause(o),
            };
            match phase {
                Phase::Up { status: s, since } if s == status => {
                    (Phase::Up { status: s, since }, Decision::default())
                }
                Phase::Suspect { was, .. } => {
                    self.blips += 1;
                    match *was {
                        Phase::Up { status: s, since } if s == status => {
                            (Phase::Up { status: s, since }, Decision::default())
                        }
                        Phase::Down { .. } => {
                            self.flaps += 1;
                            (
                                Phase::Up {
                                    status,
                                    since: o.at,
                                },
                                Decision {
                                    change: Some(change(o.at)),
                                    recheck_at: None,
                                },
                            )
                        }
                        _ => (
                            Phase::Up {
                                status,
                                since: o.at,
                            },
                            Decision {
                                change: Some(change(o.at)),
                                recheck_at: None,
                            },
                        ),
                    }
                }
                Phase::Down { .. } => {
                    self.flaps += 1;
                    (
                        Phase::Up {
                            status,
                            since: o.at,
                        },
                        Decision {
                            change: Some(change(o.at)),
                            recheck_at: None,
                        },
                    )
                }
                Phase::Up { .. } | Phase::Unknown => (
                    Phase::Up {
                        status,
                        since: o.at,
                    },
                    Decision {
                        change: Some(change(o.at)),
                        recheck_at: None,
                    },
                ),
            }
        };
        self.phase = next;
        decision
    }

    /// The monitor lost sight of the device (gap): forget the phase; what follows starts afresh.
    pub fn reset(&mut self) {
        self.phase = Phase::Unknown;
    }
}

pub use picture::{PictureConfirm, PictureSample};

#[cfg(test)]
mod tests;
