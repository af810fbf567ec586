//! SLA deductions (`[sla.penalty]` of a fault level): what late work orders cost, as contract
//! data like the online-rate rules. Pure: takes the orders as they stand at the report's `now`
//! and returns one deduction line per late deadline, with the order and the numbers.
//!
//! Tenders price lateness per order ("响应超时每次扣 50 元，修复超时每次扣 100 元，超过 24 小时未修复
//! 每次扣 300 元"), so a level may give:
//! - `late_response_yuan`: each order whose response deadline was missed;
//! - `late_repair_yuan`: each order whose repair deadline was missed;
//! - `late_repair_steps`: `{ hours_late, yuan }` steps; the highest step the lateness reaches
//!   replaces `late_repair_yuan`. Lateness is clock time from the repair deadline to the repair
//!   that stood, or, with none, to the order's closing or the report's `now`.
//!
//! "Missed" is exactly the statistics' rule ([`repair_met`], [`response_met`]): an order closed
//! before a deadline with nothing owed costs nothing; a deadline not yet passed costs nothing
//! yet. Deadlines already account for the calendar and exemptions. An order whose level the
//! contract no longer lists costs nothing and is named in the returned `unpriced` list, so the
//! report can say so instead of hiding it.

use serde::Deserialize;

use super::ratio::Ratio;
use super::{Contract, Decimal, Deduction};
use crate::registry::DeviceCode;
use crate::workorder::stats::{OrderFacts, repair_met, repair_secs, response_met};

/// A level's price of lateness, in yuan, exact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlaPenalty {
    pub late_response: Option<Decimal>,
    pub late_repair: Option<Decimal>,
    /// Ascending by `hours_late`, each step dearer than the one before.
    pub late_repair_steps: Vec<PenaltyStep>,
}

/// Lateness of at least `hours_late` costs `yuan` (instead of any lower step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PenaltyStep {
    pub hours_late: Decimal,
    pub yuan: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPenalty {
    late_response_yuan: Option<Decimal>,
    late_repair_yuan: Option<Decimal>,
    #[serde(default)]
    late_repair_steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    hours_late: Decimal,
    yuan: Decimal,
}

/// Parses `penalty = { … }` of one level; errors name the key (the caller adds the level).
pub(super) fn parse(value: toml::Value) -> Result<SlaPenalty, String> {
    let raw: RawPenalty = value
        .try_into()
        .map_err(|e: toml::de::Error| format!("penalty: {}", e.message()))?;
    let money = |key: &str, d: Option<Decimal>| match d {
        Some(d) if d.0.is_negative() => Err(format!("penalty.{key} is negative")),
        _ => Ok(d),
    };
    let late_response = money("late_response_yuan", raw.late_response_yuan)?;
    let late_repair = money("late_repair_yuan", raw.late_repair_yuan)?;
    let mut steps: Vec<PenaltyStep> = Vec::with_capacity(raw.late_repair_steps.len());
    for (i, s) in raw.late_repair_steps.into_iter().enumerate() {
        let at = format!("penalty.late_repair_steps[{i}]");
        if s.hours_late.0 <= Ratio::ZERO {
            return Err(format!("{at}: hours_late must be above 0"));
        }
        if s.yuan.0.is_negative() {
            return Err(format!("{at}: yuan is negative"));
        }
        if let Some(prev) = steps.last().copied()
            && s.hours_late.0 <= prev.hours_late.0
        {
            return Err(format!(
                "{at}: hours_late {} is not above the previous step's {}",
                s.hours_late.0.to_decimal(2),
                prev.hours_late.0.to_decimal(2)
            ));
        }
        steps.push(PenaltyStep {
            hours_late: s.hours_late,
            yuan: s.yuan,
        });
    }
    if late_response.is_none() && late_repair.is_none() && steps.is_empty() {
        return Err(
            "penalty: no price (late_response_yuan, late_repair_yuan or late_repair_steps); \
             leave `penalty` out for a level that costs nothing"
                .into(),
        );
    }
    Ok(SlaPenalty {
        late_response,
        late_repair,
        late_repair_steps: steps,
    })
}

impl SlaPenalty {
    /// The price of a repair `late_secs` late: the highest step reached, else the flat price.
    fn repair_price(&self, late_secs: i64) -> Option<(Ratio, Option<&PenaltyStep>)> {
        let late = Ratio::int(late_secs as i128);
        let step = self
            .late_repair_steps
            .iter()
            .rev()
            .find(|s| late >= s.hours_late.0.times(Ratio::int(3600)));
        match (step, self.late_repair) {
            (Some(s), _) => Some((s.yuan.0, Some(s))),
            (None, Some(flat)) => Some((flat.0, None)),
            (None, None) => None,
        }
    }

    /// Instants after a repair deadline at which the price may change: what a report's `now`
    /// is compared with besides the deadlines themselves.
    pub fn step_offsets_secs(&self) -> impl Iterator<Item = i64> + '_ {
        self.late_repair_steps
            .iter()
            .map(|s| s.hours_late.0.times(Ratio::int(3600)).ceil() as i64)
    }
}

/// One order as the penalty rules read it.
#[derive(Debug, Clone, Copy)]
pub struct PricedOrder<'a> {
    pub subject: DeviceCode,
    pub facts: OrderFacts<'a>,
}

/// The SLA deduction lines of `orders` at `now`, and the ids of orders whose level the
/// contract does not list (not priced).
pub fn assess_orders(c: &Contract, orders: &[PricedOrder], now: i64) -> (Vec<Deduction>, Vec<i64>) {
    let mut out = Vec::new();
    let mut unpriced = Vec::new();
    let yuan_to_fen = |y: Ratio| y.times(Ratio::int(100)).round_half_away() as i64;
    // Local time in the contract's zone, as the deadlines were computed in it.
    let tz = c.time_zone().unwrap_or(jiff::tz::TimeZone::UTC);
    let time = |t: i64| match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => t.to_string(),
    };
    for o in orders {
        let f = &o.facts;
        let Some(level) = c.sla_level_named(f.level) else {
            if response_met(f, now) == Some(false) || repair_met(f, now) == Some(false) {
                unpriced.push(f.id);
            }
            continue;
        };
        let Some(p) = &level.penalty else { continue };
        if let (Some(price), Some(false), Some(due)) = (
            p.late_response,
            response_met(f, now),
            f.life.response_due_at,
        ) {
            let answered = f.life.accepted_at.map_or_else(
                || "no response".to_string(),
                |a| format!("responded {}", time(a)),
            );
            out.push(Deduction {
                rule: "sla_late_response",
                device: Some(o.subject),
                order: Some(f.id),
                amount_fen: yuan_to_fen(price.0),
                basis: format!(
                    "work order {} ({}): response due {}, {answered}: {} yuan per late response",
                    f.id,
                    f.level,
                    time(due),
                    price.0.to_decimal(2)
                ),
            });
        }
        if let (Some(false), Some(due)) = (repair_met(f, now), f.life.repair_due_at) {
            // Until a repair stands, lateness runs to the report's `now`; the text then names
            // only the step reached, so a report made later says the same until the next step.
            let (end, done) = match (repair_secs(f), f.life.closed_at) {
                (Some(s), _) => (f.opened_at + s, Some("repaired")),
                (None, Some(c)) => (c, Some("closed unrepaired")),
                (None, None) => (now, None),
            };
            // A flagged overdue with the repair later withdrawn keeps lateness ≥ 0.
            let late = (end - due).max(0);
            if let Some((price, step)) = p.repair_price(late) {
                let which = step.map_or_else(
                    || "per late repair".to_string(),
                    |s| format!("for lateness from {} h", s.hours_late.0.to_decimal(2)),
                );
                let lateness = match done {
                    Some(how) => format!(
                        "{how} {}: {} h late",
                        time(end),
                        Ratio::new(late as i128, 3600).to_decimal(2)
                    ),
                    None => "not repaired when the report was made".to_string(),
                };
                out.push(Deduction {
                    rule: "sla_late_repair",
                    device: Some(o.subject),
                    order: Some(f.id),
                    amount_fen: yuan_to_fen(price),
                    basis: format!(
                        "work order {} ({}): repair due {}, {lateness}; {} yuan {which}",
                        f.id,
                        f.level,
                        time(due),
                        price.to_decimal(2)
                    ),
                });
            }
        }
    }
    (out, unpriced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workorder::{Lifecycle, Origin, Resolution, State};

    const LEVELS: &str = r#"name = "x"
timezone = "UTC"
[[sla]]
level = "重大"
response_minutes = "20"
repair_hours = "2"
penalty = { late_response_yuan = "50", late_repair_yuan = "100", late_repair_steps = [{ hours_late = "24", yuan = "300" }, { hours_late = "72.5", yuan = "1000" }] }
[[sla]]
level = "一般"
response_minutes = "20"
repair_hours = "2"
penalty = { late_repair_yuan = "80.125" }
[[sla]]
level = "免罚"
response_minutes = "20"
repair_hours = "2"
"#;

    fn contract() -> Contract {
        Contract::parse(LEVELS, "c.toml").unwrap()
    }

    fn code() -> DeviceCode {
        "34010200001320000001".parse().unwrap()
    }

    /// Opened at 0: response due 1,200, repair due 7,200.
    fn life(f: impl FnOnce(&mut Lifecycle)) -> Lifecycle {
        let mut l = Lifecycle {
            response_due_at: Some(1200),
            repair_due_at: Some(7200),
            ..Lifecycle::default()
        };
        f(&mut l);
        l
    }

    fn price(level: &str, l: &Lifecycle, now: i64) -> (Vec<(&'static str, i64)>, Vec<i64>) {
        let c = contract();
        let o = PricedOrder {
            subject: code(),
            facts: OrderFacts {
                id: 7,
                level,
                origin: Origin::Outage,
                contractor: Some("甲"),
                region: "340102",
                opened_at: 0,
                life: l,
            },
        };
        let (lines, unpriced) = assess_orders(&c, &[o], now);
        for d in &lines {
            assert_eq!((d.order, d.device), (Some(7), Some(code())));
            assert!(d.basis.starts_with("work order 7 ("), "{}", d.basis);
        }
        (
            lines.iter().map(|d| (d.rule, d.amount_fen)).collect(),
            unpriced,
        )
    }

    #[test]
    fn an_order_on_time_costs_nothing() {
        let l = life(|l| {
            l.state = State::Closed;
            l.accepted_at = Some(1200);
            l.repaired_at = Some(7200);
            l.closed_at = Some(9000);
            l.resolution = Some(Resolution::Repaired);
        });
        assert_eq!(price("重大", &l, 1_000_000), (vec![], vec![]));
    }

    #[test]
    fn late_response_and_repair_by_steps() {
        // Answered at 1,201 s; repaired 24 h after the deadline exactly: the 24 h step.
        let l = life(|l| {
            l.state = State::AwaitingReview;
            l.accepted_at = Some(1201);
            l.response_overdue_at = Some(1200);
            l.repaired_at = Some(7200 + 24 * 3600);
            l.repair_overdue_at = Some(7200);
        });
        let (lines, _) = price("重大", &l, 1_000_000);
        assert_eq!(
            lines,
            [("sla_late_response", 5_000), ("sla_late_repair", 30_000)]
        );
        // One second short of the step: the flat price.
        let l = life(|l| {
            l.state = State::Repaired;
            l.accepted_at = Some(600);
            l.repaired_at = Some(7200 + 24 * 3600 - 1);
            l.repair_overdue_at = Some(7200);
        });
        assert_eq!(
            price("重大", &l, 1_000_000).0,
            [("sla_late_repair", 10_000)]
        );
    }

    #[test]
    fn an_unrepaired_order_climbs_the_steps_with_now() {
        let l = life(|l| {
            l.state = State::Accepted;
            l.accepted_at = Some(600);
        });
        let at = |now| price("重大", &l, now).0;
        // Deadline not passed: undecided, nothing.
        assert_eq!(at(7200), []);
        assert_eq!(at(7201), [("sla_late_repair", 10_000)]);
        assert_eq!(at(7200 + 72 * 3600 + 1799), [("sla_late_repair", 30_000)]);
        assert_eq!(at(7200 + 72 * 3600 + 1800), [("sla_late_repair", 100_000)]);
        let c = contract();
        let offsets: Vec<i64> = c.sla[0]
            .penalty
            .as_ref()
            .unwrap()
            .step_offsets_secs()
            .collect();
        assert_eq!(offsets, [24 * 3600, 72 * 3600 + 1800]);
    }

    #[test]
    fn fractions_of_a_fen_round_half_away() {
        let l = life(|l| l.state = State::Pending);
        // 80.125 yuan = 8,012.5 fen → 8,013. Only a repair price on this level.
        assert_eq!(price("一般", &l, 10_000).0, [("sla_late_repair", 8_013)]);
    }

    #[test]
    fn nothing_owed_and_unpriced_levels() {
        // Closed by itself before the deadlines: nothing, even much later.
        let l = life(|l| {
            l.state = State::Closed;
            l.closed_at = Some(900);
            l.resolution = Some(Resolution::Recovered);
        });
        assert_eq!(price("重大", &l, 1_000_000), (vec![], vec![]));
        // A level without a penalty: late but free.
        let late = life(|l| l.state = State::Pending);
        assert_eq!(price("免罚", &late, 1_000_000), (vec![], vec![]));
        // A level the contract does not list: named, not priced.
        assert_eq!(price("旧级别", &late, 1_000_000), (vec![], vec![7]));
        // Not late yet under an unknown level: not named.
        assert_eq!(price("旧级别", &late, 1000), (vec![], vec![]));
    }

    #[test]
    fn penalty_errors_name_the_level_and_key() {
        let err = |p: &str| {
            Contract::parse(
                &format!(
                    "name = \"x\"\n[[sla]]\nlevel = \"A\"\nresponse_minutes = 1\nrepair_hours = 1\npenalty = {p}\n"
                ),
                "c.toml",
            )
            .unwrap_err()
            .to_string()
        };
        assert!(err("{}").contains("sla level \"A\": penalty: no price"));
        assert!(err("{ late_response_yuan = \"-1\" }").contains("late_response_yuan is negative"));
        assert!(err("{ late_fee = 1 }").contains("unknown field `late_fee`"));
        let e = err(
            "{ late_repair_steps = [{ hours_late = 24, yuan = 1 }, { hours_late = 24, yuan = 2 }] }",
        );
        assert!(
            e.contains(
                "late_repair_steps[1]: hours_late 24.00 is not above the previous step's 24.00"
            ),
            "{e}"
        );
        assert!(
            err("{ late_repair_steps = [{ hours_late = 0, yuan = 1 }] }")
                .contains("late_repair_steps[0]: hours_late must be above 0")
        );
    }
}
