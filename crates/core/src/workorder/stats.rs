//! Work-order statistics for a period: counts by state, level, origin, contractor and region;
//! response and repair times (mean, p90); SLA compliance; the overdue list. Pure, so the
//! monthly report's figures are reproducible from the orders alone.
//!
//! - **Response time** is from opening to the contractor's response; **repair time** from
//!   opening to the repair report that stood (verified, or closed as repaired). Clock
//!   seconds: what the contract counts is in the deadlines, which the calendar computed.
//! - **Compliance** of a deadline: met when the response (repair) came at or before it;
//!   missed when it came later or has passed with none; orders whose deadline has not passed
//!   with none yet, and orders without deadlines, are not counted either way.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Lifecycle, Origin, Resolution, State};

/// What the statistics read of one order.
#[derive(Debug, Clone, Copy)]
pub struct OrderFacts<'a> {
    pub id: i64,
    pub level: &'a str,
    pub origin: Origin,
    pub contractor: Option<&'a str>,
    pub region: &'a str,
    pub opened_at: i64,
    pub life: &'a Lifecycle,
}

/// Mean and 90th percentile of a set of durations (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Durations {
    pub count: u64,
    pub mean_secs: Option<f64>,
    /// The nearest-rank 90th percentile.
    pub p90_secs: Option<i64>,
}

impl Durations {
    fn of(mut v: Vec<i64>) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        v.sort_unstable();
        let n = v.len();
        // Nearest rank: the smallest value with at least 90 % of the values at or below it.
        let rank = (9 * n).div_ceil(10).max(1);
        Self {
            count: n as u64,
            mean_secs: Some(v.iter().map(|&x| x as f64).sum::<f64>() / n as f64),
            p90_secs: Some(v[rank - 1]),
        }
    }
}

/// Deadlines met and missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Compliance {
    pub met: u64,
    pub missed: u64,
}

impl Compliance {
    /// Met / (met + missed), as a percentage; `None` when nothing was decided.
    pub fn percent(&self) -> Option<f64> {
        let n = self.met + self.missed;
        (n > 0).then(|| self.met as f64 * 100.0 / n as f64)
    }
}

/// The figures of one group of orders.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Figures {
    pub orders: u64,
    pub open: u64,
    pub response: Durations,
    pub repair: Durations,
    pub response_sla: Compliance,
    pub repair_sla: Compliance,
}

/// The period's statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Stats {
    pub all: Figures,
    pub by_state: BTreeMap<&'static str, u64>,
    pub by_level: BTreeMap<String, Figures>,
    pub by_origin: BTreeMap<&'static str, Figures>,
    pub by_contractor: BTreeMap<String, Figures>,
    pub by_region: BTreeMap<String, Figures>,
    /// Orders whose response or repair deadline was missed, by id.
    pub overdue: Vec<i64>,
}

/// The response time of an order, if it was answered.
pub fn response_secs(f: &OrderFacts) -> Option<i64> {
    f.life.accepted_at.map(|a| a - f.opened_at)
}

/// The repair time of an order, if a repair stands: reported and being verified, verified,
/// or closed as repaired (the same rule that stops the repair clock in the lifecycle).
pub fn repair_secs(f: &OrderFacts) -> Option<i64> {
    let stood = match f.life.state {
        State::Repaired | State::AwaitingReview => true,
        State::Closed => f.life.resolution == Some(Resolution::Repaired),
        _ => false,
    };
    f.life
        .repaired_at
        .filter(|_| stood)
        .map(|r| r - f.opened_at)
}

/// Met, missed, or not decided: an order closed before its deadline with nothing done owed
/// nothing (the fault ended on its own, or it was cancelled).
fn decide(
    due: Option<i64>,
    done: Option<i64>,
    flagged: Option<i64>,
    closed_at: Option<i64>,
    now: i64,
) -> Option<bool> {
    let due = due?;
    if flagged.is_some() {
        return Some(false);
    }
    match done {
        Some(t) => Some(t <= due),
        None if closed_at.is_some_and(|c| c <= due) => None,
        None if now > due => Some(false),
        None => None,
    }
}

/// Whether the response deadline was met (`None`: undecided or none).
pub fn response_met(f: &OrderFacts, now: i64) -> Option<bool> {
    decide(
        f.life.response_due_at,
        f.life.accepted_at,
        f.life.response_overdue_at,
        f.life.closed_at,
        now,
    )
}

/// Whether the repair deadline was met (`None`: undecided or none).
pub fn repair_met(f: &OrderFacts, now: i64) -> Option<bool> {
    let repaired = repair_secs(f).map(|s| s + f.opened_at);
    decide(
        f.life.repair_due_at,
        repaired,
        f.life.repair_overdue_at,
        f.life.closed_at,
        now,
    )
}

#[derive(Default)]
struct Acc {
    orders: u64,
    open: u64,
    response: Vec<i64>,
    repair: Vec<i64>,
    response_sla: Compliance,
    repair_sla: Compliance,
}

impl Acc {
    fn add(&mut self, f: &OrderFacts, now: i64) {
        self.orders += 1;
        self.open += u64::from(f.life.state.is_open());
        self.response.extend(response_secs(f));
        self.repair.extend(repair_secs(f));
        count(&mut self.response_sla, response_met(f, now));
        count(&mut self.repair_sla, repair_met(f, now));
    }
    fn figures(self) -> Figures {
        Figures {
            orders: self.orders,
            open: self.open,
            response: Durations::of(self.response),
            repair: Durations::of(self.repair),
            response_sla: self.response_sla,
            repair_sla: self.repair_sla,
        }
    }
}

fn count(c: &mut Compliance, met: Option<bool>) {
    match met {
        Some(true) => c.met += 1,
        Some(false) => c.missed += 1,
        None => {}
    }
}

fn done<K: Ord>(m: BTreeMap<K, Acc>) -> BTreeMap<K, Figures> {
    m.into_iter().map(|(k, a)| (k, a.figures())).collect()
}

/// The statistics of `orders` as they stand at `now`.
pub fn stats(orders: &[OrderFacts], now: i64) -> Stats {
    let mut all = Acc::default();
    let mut by_level: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_origin: BTreeMap<&'static str, Acc> = BTreeMap::new();
    let mut by_contractor: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_region: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_state: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut overdue = Vec::new();
    // A key is allocated once per group, not once per order (a month has tens of thousands).
    fn group<'m>(m: &'m mut BTreeMap<String, Acc>, key: &str) -> &'m mut Acc {
        if !m.contains_key(key) {
            m.insert(key.to_string(), Acc::default());
        }
        m.get_mut(key).expect("inserted above")
    }
    for f in orders {
        all.add(f, now);
        group(&mut by_level, f.level).add(f, now);
        by_origin.entry(f.origin.as_str()).or_default().add(f, now);
        group(&mut by_contractor, f.contractor.unwrap_or("")).add(f, now);
        group(&mut by_region, f.region).add(f, now);
        *by_state.entry(f.life.state.as_str()).or_default() += 1;
        if response_met(f, now) == Some(false) || repair_met(f, now) == Some(false) {
            overdue.push(f.id);
        }
    }
    overdue.sort_unstable();
    Stats {
        all: all.figures(),
        by_state,
        by_level: done(by_level),
        by_origin: done(by_origin),
        by_contractor: done(by_contractor),
        by_region: done(by_region),
        overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(f: impl FnOnce(&mut Lifecycle)) -> Lifecycle {
        let mut l = Lifecycle {
            response_due_at: Some(1200),
            repair_due_at: Some(7200),
            ..Lifecycle::default()
        };
        f(&mut l);
        l
    }

    /// A hand-computed month of six orders, all opened at 0 with a 20-minute response and a
    /// 2-hour repair deadline, looked at when 10,000 s have passed.
    #[test]
    fn a_hand_computed_month() {
        let lives = [
            // 1: answered in 600 s, repaired in 3,600 s, approved: both met.
            life(|l| {
                l.state = State::Closed;
                l.accepted_at = Some(600);
                l.repaired_at = Some(3600);
                l.closed_at = Some(4000);
                l.resolution = Some(Resolution::Repaired);
            }),
            // 2: answered late (1,500 s), repair awaiting review at 7,000 s: response missed.
            life(|l| {
                l.state = State::AwaitingReview;
                l.accepted_at = Some(1500);
                l.response_overdue_at = Some(1200);
                l.repaired_at = Some(7000);
            }),
            // 3: answered at 1,200 s exactly (met), still not repaired at 10,000 s: missed.
            life(|l| {
                l.state = State::Accepted;
                l.accepted_at = Some(1200);
            }),
            // 4: nobody answered, the fault ended and it auto-closed at 900 s, before either
            // deadline: nothing was owed, not counted.
            life(|l| {
                l.state = State::Closed;
                l.closed_at = Some(900);
                l.fault_ended_at = Some(300);
                l.resolution = Some(Resolution::Recovered);
            }),
            // 5: pending, response overdue flagged at 1,200 s.
            life(|l| {
                l.response_overdue_at = Some(1200);
                l.repair_overdue_at = Some(7200);
            }),
            // 6: no contract level: no deadlines, answered in 100 s.
            Lifecycle {
                state: State::Accepted,
                accepted_at: Some(100),
                ..Lifecycle::default()
            },
        ];
        let contractors = [
            Some("甲"),
            Some("甲"),
            Some("乙"),
            Some("乙"),
            Some("甲"),
            None,
        ];
        let facts: Vec<OrderFacts> = lives
            .iter()
            .enumerate()
            .map(|(i, l)| OrderFacts {
                id: i as i64 + 1,
                level: if i == 5 { "未分级" } else { "一般" },
                origin: Origin::Outage,
                contractor: contractors[i],
                region: "340102",
                opened_at: 0,
                life: l,
            })
            .collect();
        let s = stats(&facts, 10_000);
        assert_eq!(s.all.orders, 6);
        assert_eq!(s.all.open, 4);
        // Responses: 600, 1500, 1200, 100 → mean 850, p90 (rank 4 of 4) 1500.
        assert_eq!(s.all.response.count, 4);
        assert_eq!(s.all.response.mean_secs, Some(850.0));
        assert_eq!(s.all.response.p90_secs, Some(1500));
        // Repairs that stood: 3600 (closed repaired), 7000 (awaiting review).
        assert_eq!(s.all.repair.count, 2);
        assert_eq!(s.all.repair.mean_secs, Some(5300.0));
        // Response: met 1, 3; missed 2, 5; not counted 4 (closed before its deadline) and 6
        // (no deadline).
        assert_eq!(s.all.response_sla, Compliance { met: 2, missed: 2 });
        // Repair: met 1, 2; missed 3, 5; 4 recovered (none owed); 6 none.
        assert_eq!(s.all.repair_sla, Compliance { met: 2, missed: 2 });
        assert_eq!(s.all.repair_sla.percent(), Some(50.0));
        assert_eq!(s.overdue, vec![2, 3, 5]);
        assert_eq!(s.by_contractor["甲"].orders, 3);
        assert_eq!(
            s.by_contractor["乙"].response_sla,
            Compliance { met: 1, missed: 0 }
        );
        assert_eq!(s.by_state["closed"], 2);
        assert_eq!(s.by_level["未分级"].response_sla, Compliance::default());
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        let d = Durations::of((1..=10).collect());
        assert_eq!((d.p90_secs, d.mean_secs), (Some(9), Some(5.5)));
        let d = Durations::of(vec![7]);
        assert_eq!(d.p90_secs, Some(7));
        assert_eq!(Durations::of(Vec::new()), Durations::default());
    }
}
