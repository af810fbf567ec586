//! Contract rules as data (TOML), and the deductions they make from a period's availability.
//! Pure: takes figures, returns deduction lines with the numbers that triggered them.
//!
//! Rules expressible today:
//! - `fleet_online_rate`: below a threshold, each percentage point (partial points prorated,
//!   counted per started point, or per whole point) costs a share of the fee base;
//! - `device_offline_limit`: a device offline strictly longer than N hours forfeits its
//!   (prorated) monthly maintenance and/or link fee;
//! - `device_fault_hours`: each device whose fault time exceeds N hours costs score points;
//! - `score`: a 100-point score mapped to payment tiers (pay share of the fee base);
//! - `sla`: fault levels for work orders, each with a response and a repair limit in clock or
//!   working time and the conditions that select it (`sla.rs`);
//! - `sla.penalty`: what a late work order of a level costs (`penalty.rs`, [`assess_orders`]);
//! - `calendar`: the working days and hours those working-time limits count
//!   ([`crate::calendar`]).
//!
//! Money is fen; every line is computed exactly (`Ratio`) and rounded once, half away from zero.
//! The total is the sum of the rounded lines.

mod penalty;
pub mod ratio;
mod sla;

pub use penalty::{PenaltyStep, PricedOrder, SlaPenalty, assess_orders};
pub use sla::{FaultFacts, Measure, SlaLevel, SlaTerm, SlaWhen};

use serde::{Deserialize, Deserializer, Serialize};

use crate::availability::UnknownTreatment;
use crate::calendar::CalendarSpec;
use crate::error::{Error, Result};
use crate::registry::DeviceCode;
use ratio::Ratio;

/// How the fleet's online rate is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Online time over eligible, non-exempt time, summed over devices.
    #[default]
    TimeWeighted,
    /// Share of devices online at the daily check times, over all samples of the month.
    Sampled,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeWeighted => "time_weighted",
            Self::Sampled => "sampled",
        }
    }
}

/// How a fractional shortfall in percentage points counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialPoints {
    #[default]
    Prorate,
    PerStartedPoint,
    PerWholePoint,
}

/// Which fees make up the fee base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeBase {
    #[default]
    Maintenance,
    MaintenanceAndLink,
}

/// A decimal written in the contract file, as text or a TOML number; kept exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub Ratio);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            // Shortest round-trip text of the float is the decimal the author wrote.
            Raw::F(f) => f.to_string(),
        };
        Ratio::parse_decimal(&text)
            .map(Decimal)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetRateRule {
    /// Threshold in percent, e.g. 98.
    pub threshold_percent: Decimal,
    /// Share of the fee base deducted per percentage point below, e.g. 0.001 (1‰).
    pub deduction_per_point: Decimal,
    #[serde(default)]
    pub partial_points: PartialPoints,
    #[serde(default)]
    pub fee_base: FeeBase,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceOfflineRule {
    /// Offline strictly longer than this (exempt time not counted) triggers the rule.
    pub limit_hours: Decimal,
    #[serde(default = "yes")]
    pub forfeit_maintenance_fee: bool,
    #[serde(default = "yes")]
    pub forfeit_link_fee: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultHoursRule {
    /// Fault time (offline, plus degraded when `include_degraded`) strictly above this…
    pub limit_hours: Decimal,
    /// …costs this many score points per device.
    pub points: Decimal,
    #[serde(default)]
    pub include_degraded: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreTier {
    /// Lowest score of the tier.
    pub min_score: Decimal,
    /// Share of the fee base paid in this tier (1 = full).
    pub pay: Decimal,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    #[serde(default = "hundred")]
    pub start: Decimal,
    /// Score points lost per percentage point the fleet rate is below `fleet_online_rate`'s
    /// threshold (0 to leave the rate out of the score).
    #[serde(default = "zero")]
    pub points_per_rate_point: Decimal,
    #[serde(default)]
    pub fee_base: FeeBase,
    /// Highest `min_score` first is not required; the best tier the score reaches applies.
    pub tiers: Vec<ScoreTier>,
}

fn hundred() -> Decimal {
    Decimal(Ratio::int(100))
}
fn zero() -> Decimal {
    Decimal(Ratio::ZERO)
}

/// A maintenance contract's measurable rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub name: String,
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default)]
    pub method: Method,
    /// Local times of the daily checks for the `sampled` method, "HH:MM".
    #[serde(default = "default_checks")]
    pub check_times: Vec<String>,
    #[serde(default)]
    pub unknown: UnknownTreatment,
    pub fleet_online_rate: Option<FleetRateRule>,
    pub device_offline_limit: Option<DeviceOfflineRule>,
    pub device_fault_hours: Option<FaultHoursRule>,
    pub score: Option<ScoreRule>,
    /// Fault levels, tried in file order (`Contract::sla_level`).
    #[serde(default)]
    pub sla: Vec<SlaLevel>,
    /// Working days and hours; every day all day when left out (`Contract::calendar`).
    pub calendar: Option<CalendarSpec>,
}

fn default_tz() -> String {
    "Asia/Shanghai".into()
}
fn default_checks() -> Vec<String> {
    vec!["09:00".into(), "15:00".into(), "21:00".into()]
}

impl Contract {
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let c: Contract =
            toml::from_str(text).map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
        c.time_zone()
            .map_err(|e| Error::invalid(format!("{origin}: timezone: {e}")))?;
        c.check_times_hm()
            .map_err(|e| Error::invalid(format!("{origin}: check_times: {e}")))?;
        if let Some(s) = &c.score
            && s.tiers.is_empty()
        {
            return Err(Error::invalid(format!(
                "{origin}: score.tiers: at least one tier is needed"
            )));
        }
        let mut c = c;
        let calendar = c
            .calendar()
            .map_err(|e| Error::invalid(format!("{origin}: {}", e.message())))?;
        for (i, l) in c.sla.iter().enumerate() {
            if c.sla[..i].iter().any(|o| o.level == l.level) {
                return Err(Error::invalid(format!(
                    "{origin}: sla level {:?} is listed twice",
                    l.level
                )));
            }
        }
        // Working-days limits are in the contract's own working days.
        for l in &mut c.sla {
            l.working_day_secs = calendar.working_day_secs();
        }
        Ok(c)
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn time_zone(&self) -> std::result::Result<jiff::tz::TimeZone, String> {
        jiff::tz::TimeZone::get(&self.timezone).map_err(|e| e.to_string())
    }

    /// Check times as (hour, minute).
    pub fn check_times_hm(&self) -> std::result::Result<Vec<(i8, i8)>, String> {
        self.check_times
            .iter()
            .map(|t| {
                let (h, m) = t
                    .split_once(':')
                    .ok_or_else(|| format!("{t:?} is not HH:MM"))?;
                let h: i8 = h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
                let m: i8 = m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
                if !(0..24).contains(&h) || !(0..60).contains(&m) {
                    return Err(format!("{t:?} is not a time of day"));
                }
                Ok((h, m))
            })
            .collect()
    }
}

/// What the rules need to know about one device for the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    pub code: DeviceCode,
    pub eligible_sec: i64,
    pub offline_sec: i64,
    pub degraded_sec: i64,
    pub monthly_fee_fen: i64,
    pub monthly_link_fee_fen: i64,
}

/// One deduction line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deduction {
    pub rule: &'static str,
    pub device: Option<DeviceCode>,
    /// The work order an SLA line is about.
    pub order: Option<i64>,
    pub amount_fen: i64,
    /// The rule and the numbers, for people.
    pub basis: String,
}

/// The result of applying a contract to a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub deductions: Vec<Deduction>,
    pub total_fen: i64,
    /// Fee bases (prorated by eligible share), exact.
    pub maintenance_base: Ratio,
    pub link_base: Ratio,
    pub score: Option<Ratio>,
}

fn fen(r: Ratio) -> String {
    r.times(Ratio::new(1, 100)).to_decimal(2)
}

fn hours(sec: i64) -> String {
    Ratio::new(sec as i128, 3600).to_decimal(2)
}

/// Applies `c` to the period's figures. `fleet_rate` is the online ratio (numerator,
/// denominator) by the contract's method, `None` when nothing was observed.
pub fn assess(
    c: &Contract,
    fleet_rate: Option<(i128, i128)>,
    devices: &[DeviceFacts],
    period_sec: i64,
) -> Assessment {
    let share = |d: &DeviceFacts, fee: i64| {
        Ratio::new(fee as i128 * d.eligible_sec as i128, period_sec as i128)
    };
    let mut maintenance_base = Ratio::ZERO;
    let mut link_base = Ratio::ZERO;
    for d in devices {
        maintenance_base = maintenance_base.plus(share(d, d.monthly_fee_fen));
        link_base = link_base.plus(share(d, d.monthly_link_fee_fen));
    }
    let base_of = |b: FeeBase| match b {
        FeeBase::Maintenance => maintenance_base,
        FeeBase::MaintenanceAndLink => maintenance_base.plus(link_base),
    };
    let rate = fleet_rate
        .filter(|(_, d)| *d > 0)
        .map(|(n, d)| Ratio::new(n, d));
    let mut out = Vec::new();
    let mut points_below = None;

    if let (Some(rule), Some(rate)) = (&c.fleet_online_rate, rate) {
        let threshold = rule.threshold_percent.0.times(Ratio::new(1, 100));
        if rate < threshold {
            let exact = threshold.minus(rate).times(Ratio::int(100));
            let counted = match rule.partial_points {
                PartialPoints::Prorate => exact,
                PartialPoints::PerStartedPoint => Ratio::int(exact.ceil()),
                PartialPoints::PerWholePoint => Ratio::int(exact.floor()),
            };
            points_below = Some(counted);
            let base = base_of(rule.fee_base);
            let amount = counted.times(rule.deduction_per_point.0).times(base);
            // A contract that scores the rate instead of deducting for it has no line here.
            if rule.deduction_per_point.0 > Ratio::ZERO {
                out.push(Deduction {
                rule: "fleet_online_rate",
                device: None,
                order: None,
                amount_fen: amount.round_half_away() as i64,
                basis: format!(
                    "fleet online rate {}% ({}) is below {}%: {} points below ({} counted, {}) × {} of the fee base {} yuan",
                    rate.times(Ratio::int(100)).to_decimal(4),
                    c.method.as_str(),
                    rule.threshold_percent.0.to_decimal(2),
                    exact.to_decimal(4),
                    counted.to_decimal(4),
                    match rule.partial_points {
                        PartialPoints::Prorate => "prorated",
                        PartialPoints::PerStartedPoint => "per started point",
                        PartialPoints::PerWholePoint => "per whole point",
                    },
                    rule.deduction_per_point.0.to_decimal(4),
                    fen(base)
                ),
            });
            }
        }
    }

    if let Some(rule) = &c.device_offline_limit {
        let limit = rule.limit_hours.0.times(Ratio::int(3600));
        for d in devices {
            if Ratio::int(d.offline_sec as i128) > limit {
                let mut parts = Vec::new();
                let mut amount = Ratio::ZERO;
                if rule.forfeit_maintenance_fee {
                    let m = share(d, d.monthly_fee_fen);
                    amount = amount.plus(m);
                    parts.push(format!("maintenance fee {}", fen(m)));
                }
                if rule.forfeit_link_fee {
                    let l = share(d, d.monthly_link_fee_fen);
                    amount = amount.plus(l);
                    parts.push(format!("link fee {}", fen(l)));
                }
                out.push(Deduction {
                    rule: "device_offline_limit",
                    device: Some(d.code),
                    order: None,
                    amount_fen: amount.round_half_away() as i64,
                    basis: format!(
                        "offline {} h > {} h limit: forfeits {} (prorated to {} of {} eligible hours)",
                        hours(d.offline_sec),
                        rule.limit_hours.0.to_decimal(2),
                        parts.join(" + "),
                        hours(d.eligible_sec),
                        hours(period_sec)
                    ),
                });
            }
        }
    }

    let mut score = None;
    if let Some(s) = &c.score {
        let mut lost = Ratio::ZERO;
        let mut why = Vec::new();
        if let Some(p) = points_below {
            let l = p.times(s.points_per_rate_point.0);
            if l > Ratio::ZERO {
                lost = lost.plus(l);
                why.push(format!("{} for the fleet rate", l.to_decimal(2)));
            }
        }
        if let Some(f) = &c.device_fault_hours {
            let limit = f.limit_hours.0.times(Ratio::int(3600));
            let over = devices
                .iter()
                .filter(|d| {
                    let fault = d.offline_sec
                        + if f.include_degraded {
                            d.degraded_sec
                        } else {
                            0
                        };
                    Ratio::int(fault as i128) > limit
                })
                .count();
            if over > 0 {
                let l = f.points.0.times(Ratio::int(over as i128));
                lost = lost.plus(l);
                why.push(format!(
                    "{} for {over} devices over {} fault hours",
                    l.to_decimal(2),
                    f.limit_hours.0.to_decimal(2)
                ));
            }
        }
        let sc = s.start.0.minus(lost);
        let tier = s
            .tiers
            .iter()
            .filter(|t| sc >= t.min_score.0)
            .max_by(|a, b| a.min_score.0.cmp(&b.min_score.0))
            .or_else(|| {
                s.tiers
                    .iter()
                    .min_by(|a, b| a.min_score.0.cmp(&b.min_score.0))
            });
        if let Some(t) = tier {
            let unpaid = Ratio::int(1).minus(t.pay.0);
            if unpaid > Ratio::ZERO {
                let base = base_of(s.fee_base);
                out.push(Deduction {
                    rule: "score",
                    device: None,
                    order: None,
                    amount_fen: unpaid.times(base).round_half_away() as i64,
                    basis: format!(
                        "score {} ({} − {}{}) falls in the tier from {}: pays {} of the fee base {} yuan",
                        sc.to_decimal(2),
                        s.start.0.to_decimal(2),
                        lost.to_decimal(2),
                        if why.is_empty() { String::new() } else { format!(": {}", why.join(", ")) },
                        t.min_score.0.to_decimal(2),
                        t.pay.0.to_decimal(4),
                        fen(base)
                    ),
                });
            }
        }
        score = Some(sc);
    }
    let total_fen = out.iter().map(|d| d.amount_fen).sum();
    Assessment {
        deductions: out,
        total_fen,
        maintenance_base,
        link_base,
        score,
    }
}

#[cfg(test)]
mod tests;
