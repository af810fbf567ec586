//! Fault work orders (工单): their states and every transition between them, as pure functions.
//!
//! An order moves 待处理 pending → accepted (the contractor responded) → repaired (the
//! contractor says it is fixed; camwatch re-probes) → awaiting review (待审核: the re-probe found
//! it healthy) → closed (已完成). A re-probe that still finds the fault sends it back to accepted
//! ("repair not verified"); a review that rejects the repair, or a fault found again on a closed
//! order, reopens it. The monitor's observations (the fault ended, the fault came back), the
//! passing of deadlines and the optional auto-close are transitions too, by the `system` actor.
//!
//! [`apply`] takes an order's state, an [`Action`] and the time, and returns the new state and
//! what happened ([`EventKind`]s, in order), or why the action is refused. The store keeps the
//! events as the order's append-only history; nothing is ever deleted.
//!
//! Deadlines are computed by the caller on the contract's working calendar (`calendar`) and
//! stored on the order; here they are only compared. An overdue flag records the moment the
//! deadline passed, not the moment someone noticed.

pub mod plan;
pub mod stats;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum State {
    /// 待处理: opened, nobody has responded.
    #[default]
    Pending,
    /// 处理中: the contractor responded (the response time is recorded).
    Accepted,
    /// The contractor reports a repair; camwatch is re-probing to verify it.
    Repaired,
    /// 待审核: the re-probe found the device healthy; a reviewer closes or reopens.
    AwaitingReview,
    /// 已完成.
    Closed,
}
crate::text_enum!(State, "work-order state");

impl State {
    pub fn is_open(self) -> bool {
        self != Self::Closed
    }
}

/// Why the order was opened.
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
pub enum Origin {
    /// A device offline past the grace period.
    Outage,
    /// A confirmed picture fault.
    Picture,
    /// A parent (NVR, encoder, lower platform) down: one order for it and its channels.
    Parent,
    /// Many devices of one region down together: one order for the shared cause.
    Region,
    /// Opened by hand (a user-reported fault).
    Manual,
    /// A fault the daily patrol (巡检) found and the operator recorded.
    Patrol,
}
crate::text_enum!(Origin, "work-order origin");

impl Origin {
    /// Opened by a person (by hand or from the patrol), not by the monitor: the monitor does
    /// not decide when such a fault ends.
    pub fn is_by_hand(self) -> bool {
        matches!(self, Self::Manual | Self::Patrol)
    }
}

/// How a closed order ended.
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
pub enum Resolution {
    /// Repaired, verified by re-probe and approved by a reviewer.
    Repaired,
    /// The fault ended and stayed ended (auto-close), whether or not anyone acted.
    Recovered,
    /// Closed by an operator without a repair (a false report, a device removed).
    Cancelled,
}
crate::text_enum!(Resolution, "work-order resolution");

/// What can be done to an order. Who may do what is the API's business (roles), not this
/// module's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The contractor responds.
    Accept,
    /// The contractor reports the repair done (accepting too, if it had not).
    Repair,
    /// The re-probe after a repair report: `healthy` or still faulty.
    Verify { healthy: bool },
    /// The reviewer approves the repair: closed.
    Approve,
    /// The reviewer rejects the repair, or a closed order's fault is found again.
    Reopen,
    /// Give the order to another contractor.
    Assign { contractor: String },
    /// A note (and/or an attachment) with no change of state.
    Note,
    /// The monitor saw the fault end.
    FaultEnded,
    /// The monitor saw the fault again after it had ended, before the order closed.
    FaultResumed,
    /// The device stayed healthy for the configured time: closed as recovered.
    AutoClose,
    /// An operator closes it without a repair.
    Cancel,
    /// The clock: flag the deadlines that have passed.
    CheckDeadlines,
}

/// What happened to an order, as its history records it.
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
pub enum EventKind {
    Opened,
    /// A channel joined the order (a parent's or region's order grows).
    DeviceJoined,
    /// A channel left it (recovered, or down on its own after its parent recovered).
    DeviceLeft,
    Assigned,
    Accepted,
    Repaired,
    /// The re-probe found it healthy: awaiting review.
    Verified,
    /// The re-probe still found the fault: back to accepted.
    NotVerified,
    Approved,
    Reopened,
    FaultEnded,
    FaultResumed,
    /// Closed because the device stayed healthy.
    AutoClosed,
    Cancelled,
    ResponseOverdue,
    RepairOverdue,
    Noted,
}
crate::text_enum!(EventKind, "work-order event");

/// The part of an order its transitions read and write.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    pub state: State,
    pub contractor: Option<String>,
    pub response_due_at: Option<i64>,
    pub repair_due_at: Option<i64>,
    pub accepted_at: Option<i64>,
    /// The latest repair report (cleared when the re-probe does not verify it).
    pub repaired_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub resolution: Option<Resolution>,
    /// When the monitor last saw the fault end; `None` while it lasts.
    pub fault_ended_at: Option<i64>,
    /// The instant the response deadline passed with no response.
    pub response_overdue_at: Option<i64>,
    /// The instant the repair deadline passed with no verified repair.
    pub repair_overdue_at: Option<i64>,
}

impl Lifecycle {
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether a repair report counts as the repair for the deadline: reported and not refuted.
    fn repair_standing(&self) -> bool {
        self.repaired_at.is_some()
            && matches!(self.state(), State::Repaired | State::AwaitingReview)
            || self.state() == State::Closed
    }
}

/// Why an action was refused: it does not apply in the order's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a work order that is {state}")]
pub struct Refused {
    pub action: &'static str,
    pub state: State,
}

impl Action {
    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Repair => "report the repair of",
            Self::Verify { .. } => "verify",
            Self::Approve => "approve",
            Self::Reopen => "reopen",
            Self::Assign { .. } => "reassign",
            Self::Note => "add a note to",
            Self::FaultEnded => "end the fault of",
            Self::FaultResumed => "resume the fault of",
            Self::AutoClose => "auto-close",
            Self::Cancel => "cancel",
            Self::CheckDeadlines => "check the deadlines of",
        }
    }
}

/// Applies `action` at `at` to an order in state `o`: the new state and what happened, in order.
/// An action with nothing to do (no deadline passed, the same contractor) returns no events.
pub fn apply(
    o: &Lifecycle,
    action: &Action,
    at: i64,
) -> Result<(Lifecycle, Vec<EventKind>), Refused> {
    let refused = || Refused {
        action: action.verb(),
        state: o.state(),
    };
    let mut n = o.clone();
    let mut ev = Vec::new();
    match action {
        Action::Accept => {
            if o.state() != State::Pending {
                return Err(refused());
            }
            flag_late_response(&mut n, at, &mut ev);
            n.accepted_at = Some(at);
            n.state = State::Accepted;
            ev.push(EventKind::Accepted);
        }
        Action::Repair => match o.state() {
            State::Pending | State::Accepted => {
                if o.state() == State::Pending {
                    flag_late_response(&mut n, at, &mut ev);
                    n.accepted_at = Some(at);
                    ev.push(EventKind::Accepted);
                }
                flag_late_repair(&mut n, at, &mut ev);
                n.repaired_at = Some(at);
                n.state = State::Repaired;
                ev.push(EventKind::Repaired);
            }
            _ => return Err(refused()),
        },
        Action::Verify { healthy } => {
            if o.state() != State::Repaired {
                return Err(refused());
            }
            if *healthy {
                n.state = State::AwaitingReview;
                ev.push(EventKind::Verified);
            } else {
                n.repaired_at = None;
                n.state = State::Accepted;
                ev.push(EventKind::NotVerified);
                // The report did not stand: if its deadline has passed meanwhile, it is overdue.
                flag_deadlines(&mut n, at, &mut ev);
            }
        }
        Action::Approve => {
            if o.state() != State::AwaitingReview {
                return Err(refused());
            }
            n.closed_at = Some(at);
            n.resolution = Some(Resolution::Repaired);
            n.state = State::Closed;
            ev.push(EventKind::Approved);
        }
        Action::Reopen => match o.state() {
            State::AwaitingReview | State::Closed => {
                n.repaired_at = None;
                n.closed_at = None;
                n.resolution = None;
                if o.state() == State::Closed {
                    n.fault_ended_at = None;
                }
                // Reopened orders are worked by whoever had them; the response stands.
                n.state = if n.accepted_at.is_some() {
                    State::Accepted
                } else {
                    State::Pending
                };
                ev.push(EventKind::Reopened);
                flag_deadlines(&mut n, at, &mut ev);
            }
            _ => return Err(refused()),
        },
        Action::Assign { contractor } => {
            if !o.state().is_open() {
                return Err(refused());
            }
            if o.contractor.as_deref() != Some(contractor.as_str()) {
                n.contractor = Some(contractor.clone());
                ev.push(EventKind::Assigned);
            }
        }
        Action::Note => ev.push(EventKind::Noted),
        Action::FaultEnded => {
            if !o.state().is_open() {
                return Err(refused());
            }
            if o.fault_ended_at.is_none() {
                n.fault_ended_at = Some(at);
                ev.push(EventKind::FaultEnded);
            }
        }
        Action::FaultResumed => {
            if !o.state().is_open() {
                return Err(refused());
            }
            if o.fault_ended_at.is_some() {
                n.fault_ended_at = None;
                ev.push(EventKind::FaultResumed);
            }
        }
        Action::AutoClose => {
            // A reviewer's decision is not taken away from them.
            if !matches!(o.state(), State::Pending | State::Accepted) || o.fault_ended_at.is_none()
            {
                return Err(refused());
            }
            n.closed_at = Some(at);
            n.resolution = Some(Resolution::Recovered);
            n.state = State::Closed;
            ev.push(EventKind::AutoClosed);
        }
        Action::Cancel => {
            if !o.state().is_open() {
                return Err(refused());
            }
            n.closed_at = Some(at);
            n.resolution = Some(Resolution::Cancelled);
            n.state = State::Closed;
            ev.push(EventKind::Cancelled);
        }
        Action::CheckDeadlines => {
            if o.state().is_open() {
                flag_deadlines(&mut n, at, &mut ev);
            }
        }
    }
    Ok((n, ev))
}

/// Flags each deadline that has passed by `at` with nothing done, at the moment it passed.
fn flag_deadlines(n: &mut Lifecycle, at: i64, ev: &mut Vec<EventKind>) {
    if n.accepted_at.is_none() {
        flag_late_response(n, at, ev);
    }
    if !n.repair_standing() {
        flag_late_repair(n, at, ev);
    }
}

fn flag_late_response(n: &mut Lifecycle, at: i64, ev: &mut Vec<EventKind>) {
    if let Some(due) = n.response_due_at
        && due <= at
        && n.response_overdue_at.is_none()
    {
        n.response_overdue_at = Some(due);
        ev.push(EventKind::ResponseOverdue);
    }
}

fn flag_late_repair(n: &mut Lifecycle, at: i64, ev: &mut Vec<EventKind>) {
    if let Some(due) = n.repair_due_at
        && due <= at
        && n.repair_overdue_at.is_none()
    {
        n.repair_overdue_at = Some(due);
        ev.push(EventKind::RepairOverdue);
    }
}

/// The next instant at which [`Action::CheckDeadlines`] would flag something, if any.
pub fn next_deadline(o: &Lifecycle) -> Option<i64> {
    if !o.state().is_open() {
        return None;
    }
    let response = o
        .response_due_at
        .filter(|_| o.accepted_at.is_none() && o.response_overdue_at.is_none());
    let repair = o
        .repair_due_at
        .filter(|_| !o.repair_standing() && o.repair_overdue_at.is_none());
    match (response, repair) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
