//! Fault levels of a contract (`[[sla]]`): which level a fault is, and its response and repair
//! limits as [`SlaLimit`]s for the calendar arithmetic in [`crate::calendar`].
//!
//! A level gives each limit once, in one of four measures: `*_minutes` and `*_hours` count clock
//! time, `*_working_hours` and `*_working_days` count working time of the contract's calendar
//! (a working day is that calendar's [`WorkCalendar::working_day_secs`]). Files written before
//! the measures existed (`response_hours`, `repair_hours`) read the same.
//!
//! Levels are tried in file order; a level's `when` conditions are alternatives (any one
//! matches), and a level without `when` matches every fault. Every error names the level.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Contract, Decimal};
use crate::calendar::{HORIZON_DAYS, SlaLimit, TimeUnit, WorkCalendar};
use crate::contract::ratio::Ratio;
use crate::registry::DeviceCode;

/// The measure a limit is written in; its text form is the key's suffix (`repair_working_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Measure {
    Minutes,
    Hours,
    WorkingHours,
    WorkingDays,
}
crate::text_enum!(Measure, "measure");

impl Measure {
    pub fn unit(self) -> TimeUnit {
        match self {
            Self::Minutes | Self::Hours => TimeUnit::Clock,
            Self::WorkingHours | Self::WorkingDays => TimeUnit::Working,
        }
    }

    /// Seconds in one of this measure, given the calendar's working day.
    fn secs(self, working_day_secs: i64) -> i64 {
        match self {
            Self::Minutes => 60,
            Self::Hours | Self::WorkingHours => 3600,
            Self::WorkingDays => working_day_secs,
        }
    }
}

/// A limit as written: an exact amount in a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTerm {
    pub amount: Decimal,
    pub measure: Measure,
}

impl SlaTerm {
    /// The limit in seconds of its unit; a working day is `working_day_secs`. Fractions of a
    /// second round half away from zero (0.5 working days of 7 h 30 = 13,500 s exactly).
    pub fn limit(&self, working_day_secs: i64) -> SlaLimit {
        let secs = self
            .amount
            .0
            .times(Ratio::int(self.measure.secs(working_day_secs) as i128))
            .round_half_away();
        SlaLimit {
            unit: self.measure.unit(),
            secs: secs as i64,
        }
    }
}

/// When a level applies. Any one condition given is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaWhen {
    /// The fault is (or follows) its parent device (NVR, switch) being down.
    pub parent_down: bool,
    /// At least this many devices are down together.
    pub min_devices: Option<usize>,
    /// One of the fault's devices is one of these.
    pub sites: Vec<DeviceCode>,
    /// The fault's region starts with one of these civil-code prefixes ("3401" covers 340102).
    pub regions: Vec<String>,
}

impl SlaWhen {
    pub fn matches(&self, f: &FaultFacts) -> bool {
        (self.parent_down && f.parent_down)
            || self.min_devices.is_some_and(|n| f.devices >= n)
            || f.codes.iter().any(|c| self.sites.contains(c))
            || self
                .regions
                .iter()
                .any(|r| f.region.starts_with(r.as_str()))
    }
}

/// What a fault looks like to the level rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultFacts<'a> {
    pub parent_down: bool,
    /// How many devices the fault covers.
    pub devices: usize,
    pub codes: &'a [DeviceCode],
    /// The region of the fault's devices (`Device::region`: a civil code).
    pub region: &'a str,
}

/// One fault level: its name, limits and when it applies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawSlaLevel")]
pub struct SlaLevel {
    pub level: String,
    pub response: SlaTerm,
    pub repair: SlaTerm,
    /// `None`: the level applies to every fault.
    pub when: Option<SlaWhen>,
    /// What a late order of this level costs (`penalty = { … }`); `None`: nothing.
    pub penalty: Option<super::penalty::SlaPenalty>,
    /// The calendar's working day, set by `Contract::parse`; a whole day until then.
    pub(super) working_day_secs: i64,
}

impl SlaLevel {
    /// Time allowed from the fault's report to the contractor's response.
    pub fn response(&self) -> SlaLimit {
        self.response.limit(self.working_day_secs)
    }

    /// Time allowed from the fault's report to its repair.
    pub fn repair(&self) -> SlaLimit {
        self.repair.limit(self.working_day_secs)
    }
}

impl Contract {
    /// The first level (in file order) whose `when` matches `f`; a level without `when`
    /// matches everything. `None` when the contract has no `[[sla]]`, and also when every level
    /// has a `when` and none matches: the contract gave no catch-all, and the caller decides
    /// (the work-order engine uses the last level, see [`Contract::sla_level_or_last`]).
    pub fn sla_level(&self, f: &FaultFacts) -> Option<&SlaLevel> {
        self.sla
            .iter()
            .find(|l| l.when.as_ref().is_none_or(|w| w.matches(f)))
    }

    /// The level named `name` (an order keeps its level's name); `None` when the contract no
    /// longer lists it.
    pub fn sla_level_named(&self, name: &str) -> Option<&SlaLevel> {
        self.sla.iter().find(|l| l.level == name)
    }

    /// [`Contract::sla_level`], or the last level when none matches; `None` only without
    /// `[[sla]]`.
    pub fn sla_level_or_last(&self, f: &FaultFacts) -> Option<&SlaLevel> {
        self.sla_level(f).or(self.sla.last())
    }

    /// The `[calendar]` section, or every day all day ([`WorkCalendar::always`]), in the
    /// contract's time zone.
    pub fn calendar(&self) -> crate::error::Result<WorkCalendar> {
        let tz = self
            .time_zone()
            .map_err(|e| crate::error::Error::invalid(format!("timezone: {e}")))?;
        match &self.calendar {
            None => Ok(WorkCalendar::always(tz)),
            Some(spec) => WorkCalendar::from_spec(spec, tz).map_err(crate::error::Error::invalid),
        }
    }
}

/// A level as written: the name, and every other key kept to be checked with the name at hand
/// (serde's own unknown-field error could not say which level it was in).
#[derive(Deserialize)]
struct RawSlaLevel {
    level: String,
    #[serde(flatten)]
    rest: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    #[serde(default)]
    parent_down: bool,
    min_devices: Option<usize>,
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

impl TryFrom<RawSlaLevel> for SlaLevel {
    type Error = String;

    fn try_from(raw: RawSlaLevel) -> Result<Self, String> {
        let name = raw.level.trim();
        if name.is_empty() {
            return Err("sla: `level` is empty; name the level".into());
        }
        let err = |e: String| format!("sla level {name:?}: {e}");
        let mut response = Vec::new();
        let mut repair = Vec::new();
        let mut when = None;
        let mut penalty = None;
        for (key, value) in raw.rest {
            if key == "penalty" {
                penalty = Some(super::penalty::parse(value).map_err(err)?);
                continue;
            }
            if key == "when" {
                when = Some(parse_when(value).map_err(err)?);
                continue;
            }
            let term = key
                .split_once('_')
                .and_then(|(which, m)| Some((which, m.parse::<Measure>().ok()?)))
                .filter(|(which, _)| *which == "response" || *which == "repair");
            let Some((which, measure)) = term else {
                return Err(err(format!(
                    "unknown key `{key}` (expected level, when, penalty, and one of response_… and \
                     repair_… with …_minutes, …_hours, …_working_hours or …_working_days)"
                )));
            };
            let amount: Decimal = value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| err(format!("{key}: {}", e.message())))?;
            if amount.0.is_negative() {
                return Err(err(format!("{key} = {value} is negative")));
            }
            // Longer than the horizon could never be reached (and might not fit in i64).
            let most = Ratio::int((HORIZON_DAYS * 86_400) as i128);
            if amount.0.times(Ratio::int(measure.secs(86_400) as i128)) > most {
                return Err(err(format!(
                    "{key} = {value} is longer than {HORIZON_DAYS} days"
                )));
            }
            let response_key = which == "response";
            let t = (key, SlaTerm { amount, measure });
            if response_key {
                response.push(t);
            } else {
                repair.push(t);
            }
        }
        let one = |which: &str, mut v: Vec<(String, SlaTerm)>| match v.len() {
            1 => Ok(v.remove(0).1),
            0 => Err(err(format!(
                "no {which} limit; give one of {which}_minutes, {which}_hours, \
                 {which}_working_hours, {which}_working_days"
            ))),
            _ => Err(err(format!(
                "{} given together; give one {which} limit",
                v.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        };
        Ok(SlaLevel {
            response: one("response", response)?,
            repair: one("repair", repair)?,
            level: name.to_string(),
            when,
            penalty,
            working_day_secs: 86_400,
        })
    }
}

fn parse_when(value: toml::Value) -> Result<SlaWhen, String> {
    let raw: RawWhen = value
        .try_into()
        .map_err(|e: toml::de::Error| format!("when: {}", e.message()))?;
    let sites = raw
        .sites
        .iter()
        .map(|s| {
            s.parse::<DeviceCode>()
                .map_err(|e| format!("when.sites: {s:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for r in &raw.regions {
        if r.is_empty() || r.len() > 12 || !r.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "when.regions: {r:?} is not a civil-code prefix (1 to 12 digits)"
            ));
        }
    }
    if raw.min_devices == Some(0) {
        return Err("when.min_devices = 0 matches every fault; leave `when` out instead".into());
    }
    if !raw.parent_down && raw.min_devices.is_none() && sites.is_empty() && raw.regions.is_empty() {
        return Err(
            "when: no condition (parent_down = true, min_devices, sites or regions); \
             leave `when` out for a level that applies to every fault"
                .into(),
        );
    }
    Ok(SlaWhen {
        parent_down: raw.parent_down,
        min_devices: raw.min_devices,
        sites,
        regions: raw.regions,
    })
}
