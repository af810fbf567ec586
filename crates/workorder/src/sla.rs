//! An order's level, deadlines and contractor, from the contract, the working calendar, the
//! approved exemptions and the assignment rules.
//!
//! Deadlines count from when the order is opened, in the level's unit (clock or working time
//! on the contract's calendar), and stand still while an approved exemption covers one of the
//! order's devices (planned works, force majeure). An exemption approved after the order
//! opened moves its deadlines too: the engine recomputes them while the order is open.

use std::sync::Arc;

use camwatch_core::calendar::WorkCalendar;
use camwatch_core::config::AssignRule;
use camwatch_core::contract::{Contract, FaultFacts, SlaLevel};
use camwatch_core::error::{Error, Result};
use camwatch_core::history::{Exemption, ExemptionScope};
use camwatch_core::registry::DeviceCode;
use camwatch_store::Store;

/// The level of an order when the contract defines none.
pub const UNGRADED: &str = "未分级";

/// A new order's level and deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub level: String,
    pub response_due_at: Option<i64>,
    pub repair_due_at: Option<i64>,
}

pub struct Sla {
    store: Arc<dyn Store>,
    contract: Option<Contract>,
    calendar: WorkCalendar,
    assign: Vec<AssignRule>,
}

impl Sla {
    /// The rules of `contract` (none: orders have no level and no deadlines).
    pub fn new(
        store: Arc<dyn Store>,
        contract: Option<Contract>,
        assign: Vec<AssignRule>,
    ) -> Result<Self> {
        let calendar = match &contract {
            Some(c) => c.calendar()?,
            None => WorkCalendar::always(
                jiff::tz::TimeZone::get("Asia/Shanghai")
                    .map_err(|e| Error::internal(format!("time zone Asia/Shanghai: {e}")))?,
            ),
        };
        Ok(Self {
            store,
            contract,
            calendar,
            assign,
        })
    }

    pub fn calendar(&self) -> &WorkCalendar {
        &self.calendar
    }

    /// Who gets a device's orders: its maintainer in the register, else the first assignment
    /// rule whose region prefix matches.
    pub fn contractor_for(&self, maintainer: Option<&str>, region: &str) -> Option<String> {
        maintainer
            .filter(|m| !m.trim().is_empty())
            .map(str::to_string)
            .or_else(|| {
                self.assign
                    .iter()
                    .find(|r| region.starts_with(&r.region_prefix))
                    .map(|r| r.contractor.clone())
            })
    }

    fn level(&self, facts: &FaultFacts) -> Option<&SlaLevel> {
        let c = self.contract.as_ref()?;
        // A contract whose levels all have conditions and none matches: the last level.
        c.sla_level_or_last(facts)
    }

    fn level_named(&self, name: &str) -> Option<&SlaLevel> {
        self.contract.as_ref()?.sla_level_named(name)
    }

    /// Level and deadlines of an order opened at `at` for `devices` in `region`.
    pub async fn plan(
        &self,
        devices: &[DeviceCode],
        region: &str,
        parent_down: bool,
        at: i64,
    ) -> Result<Plan> {
        let facts = FaultFacts {
            parent_down,
            devices: devices.len(),
            codes: devices,
            region,
        };
        let Some(level) = self.level(&facts) else {
            return Ok(Plan {
                level: UNGRADED.into(),
                response_due_at: None,
                repair_due_at: None,
            });
        };
        let pauses = pauses(&self.exemptions_from(at).await?, devices, region);
        Ok(Plan {
            level: level.level.clone(),
            response_due_at: Some(self.calendar.deadline(at, level.response(), &pauses)),
            repair_due_at: Some(self.calendar.deadline(at, level.repair(), &pauses)),
        })
    }

    /// The deadlines of an order of `level` opened at `opened_at`, with `exemptions` (those
    /// approved by now, read once for every open order by [`Self::exemptions_from`]); `None` for
    /// a level the contract no longer has.
    pub fn deadlines(
        &self,
        level: &str,
        devices: &[DeviceCode],
        region: &str,
        opened_at: i64,
        exemptions: &[Exemption],
    ) -> Option<(i64, i64)> {
        let l = self.level_named(level)?;
        let pauses = pauses(exemptions, devices, region);
        Some((
            self.calendar.deadline(opened_at, l.response(), &pauses),
            self.calendar.deadline(opened_at, l.repair(), &pauses),
        ))
    }

    /// Approved exemptions that end after `from`.
    pub async fn exemptions_from(&self, from: i64) -> Result<Vec<Exemption>> {
        self.store.exemptions_overlapping(from, i64::MAX / 2).await
    }
}

/// The periods of `exemptions` covering any of `devices` (or their region).
fn pauses(exemptions: &[Exemption], devices: &[DeviceCode], region: &str) -> Vec<(i64, i64)> {
    exemptions
        .iter()
        .filter(|e| match &e.scope {
            ExemptionScope::Device(c) => devices.contains(c),
            ExemptionScope::RegionPrefix(p) => region.starts_with(p.as_str()),
        })
        .map(|e| (e.start_at, e.end_at))
        .collect()
}
