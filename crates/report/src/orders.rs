//! The work-order section: `camwatch_core::workorder::stats` of the orders opened in the
//! period, at the report's `now`, rounded and laid out as rows. Nothing is counted here that
//! `stats` does not count.

use std::collections::BTreeMap;

use strum::VariantArray;

use super::{
    OrderFigures, OrderGroup, OrderSla, OrderTimes, OverdueRow, Period, StateCount,
    WorkOrderSection, round,
};
use camwatch_core::contract::{Contract, Deduction, PricedOrder, assess_orders};
use camwatch_core::workorder::stats::{
    Compliance, Durations, Figures, OrderFacts, repair_met, repair_secs, response_met, stats,
};
use camwatch_core::workorder::{Origin, State};
use camwatch_store::workorders::WorkOrder;

/// Seconds → minutes, rounded to 2 places (0.6 s).
fn minutes(secs: f64) -> f64 {
    round(secs / 60.0, 2)
}

fn times(d: &Durations) -> OrderTimes {
    OrderTimes {
        count: d.count,
        mean_minutes: d.mean_secs.map(minutes),
        p90_minutes: d.p90_secs.map(|s| minutes(s as f64)),
    }
}

fn sla(c: &Compliance) -> OrderSla {
    OrderSla {
        met: c.met,
        missed: c.missed,
        percent: c.percent().map(|p| round(p, 4)),
    }
}

fn figures(f: &Figures) -> OrderFigures {
    OrderFigures {
        orders: f.orders,
        open: f.open,
        response: times(&f.response),
        repair: times(&f.repair),
        response_sla: sla(&f.response_sla),
        repair_sla: sla(&f.repair_sla),
    }
}

fn groups<K: AsRef<str>>(m: &BTreeMap<K, Figures>) -> Vec<OrderGroup> {
    m.iter()
        .map(|(k, f)| OrderGroup {
            key: k.as_ref().to_string(),
            figures: figures(f),
        })
        .collect()
}

fn facts(o: &WorkOrder) -> OrderFacts<'_> {
    OrderFacts {
        id: o.id,
        level: &o.level,
        origin: o.origin,
        contractor: o.life.contractor.as_deref(),
        region: &o.region,
        opened_at: o.opened_at,
        life: &o.life,
    }
}

/// The section for `orders` (those opened in the period, any order) as they stand at `now`.
pub fn section(p: &Period, orders: &[WorkOrder], now: i64) -> WorkOrderSection {
    let facts: Vec<OrderFacts> = orders.iter().map(facts).collect();
    let s = stats(&facts, now);
    let local = |t: Option<i64>| t.map(|t| p.local(t)).unwrap_or_default();
    let by_id: BTreeMap<i64, (&WorkOrder, &OrderFacts)> = orders
        .iter()
        .zip(&facts)
        .map(|(o, f)| (o.id, (o, f)))
        .collect();
    let overdue = s
        .overdue
        .iter()
        .filter_map(|id| by_id.get(id))
        .map(|&(o, f)| {
            let missed = match (response_met(f, now), repair_met(f, now)) {
                (Some(false), Some(false)) => "both",
                (Some(false), _) => "response",
                _ => "repair",
            };
            OverdueRow {
                id: o.id,
                title: o.title.clone(),
                level: o.level.clone(),
                origin: o.origin.as_str().into(),
                contractor: o.life.contractor.clone().unwrap_or_default(),
                region: o.region.clone(),
                state: o.life.state.as_str().into(),
                opened: p.local(o.opened_at),
                response_due: local(o.life.response_due_at),
                responded: local(o.life.accepted_at),
                repair_due: local(o.life.repair_due_at),
                repaired: local(repair_secs(f).map(|s| s + o.opened_at)),
                missed: missed.into(),
            }
        })
        .collect();
    // Fault kinds in their declared order, as the states are.
    let by_origin = Origin::VARIANTS
        .iter()
        .filter_map(|o| {
            s.by_origin.get(o.as_str()).map(|f| OrderGroup {
                key: o.as_str().into(),
                figures: figures(f),
            })
        })
        .collect();
    WorkOrderSection {
        all: figures(&s.all),
        by_state: State::VARIANTS
            .iter()
            .map(|st| StateCount {
                state: st.as_str().into(),
                orders: s.by_state.get(st.as_str()).copied().unwrap_or(0),
            })
            .collect(),
        by_level: groups(&s.by_level),
        by_origin,
        by_contractor: groups(&s.by_contractor),
        by_region: groups(&s.by_region),
        overdue,
    }
}

/// The contract's SLA deduction lines for `orders` at `now`, and the late orders it cannot
/// price (their level is not in the contract).
pub fn deductions(c: &Contract, orders: &[WorkOrder], now: i64) -> (Vec<Deduction>, Vec<i64>) {
    let mut priced: Vec<PricedOrder> = orders
        .iter()
        .map(|o| PricedOrder {
            subject: o.subject,
            facts: facts(o),
        })
        .collect();
    // Lines in order of the orders' numbers, whatever order the store returned them in.
    priced.sort_unstable_by_key(|o| o.facts.id);
    assess_orders(c, &priced, now)
}

/// The instant the figures depend on, for the digest: `now` capped just after the last instant
/// it is compared with — every deadline, and every repair deadline plus each of its level's
/// penalty steps. Any later instant gives the same figures, so a closed month's report made
/// again later keeps its digest unless the orders changed. `None` when no order has a deadline.
pub fn decisive_now(c: &Contract, orders: &[WorkOrder], now: i64) -> Option<i64> {
    orders
        .iter()
        .flat_map(|o| {
            let steps: Vec<i64> = c
                .sla_level_named(&o.level)
                .and_then(|l| l.penalty.as_ref())
                .map(|p| p.step_offsets_secs().collect())
                .unwrap_or_default();
            let due = o.life.repair_due_at;
            let repair_steps = due
                .map(|due| steps.into_iter().map(move |s| due.saturating_add(s)))
                .into_iter()
                .flatten();
            [o.life.response_due_at, o.life.repair_due_at]
                .into_iter()
                .flatten()
                .chain(repair_steps)
        })
        .max()
        .map(|last| now.min(last.saturating_add(1)))
}
