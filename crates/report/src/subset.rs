//! A report of part of the fleet: the devices (and their work orders) a reader scoped to
//! regions or to one maintainer may see, with totals that are that part's own.
//!
//! Job: cut a report's inputs down to the part ([`Subset::restrict`]) before the pure build, so
//! every total, rollup, device row and per-device deduction is computed exactly as the whole
//! fleet's is, from the part's own seconds, never re-added from rounded rows; then withhold
//! what only the whole fleet has ([`Subset::withhold_fleet_lines`]): the contract's fleet-wide
//! deduction lines (the fleet's online rate below its threshold) and score are the fleet's
//! money, and pricing a district as if it were the fleet would state a deduction nobody owes.
//!
//! Invariants: a subset report says so (`Report::scope`, a note, and the summary row in every
//! format); its `total_deduction` is the sum of the lines it shows.
//!
//! Must not: change the figures of a whole-fleet report (no subset: nothing here runs).

use std::sync::Arc;

use camwatch_core::history::StatusSpan;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::workorders::WorkOrder;

use super::Report;

/// Which devices and work orders a report covers.
#[derive(Clone)]
pub struct Subset {
    /// The part in words, for the report ("regions 340104 · maintainer AlphaCo").
    pub label: String,
    pub device: Arc<dyn Fn(&Device) -> bool + Send + Sync>,
    pub order: Arc<dyn Fn(&WorkOrder) -> bool + Send + Sync>,
}

impl std::fmt::Debug for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subset")
            .field("label", &self.label)
            .finish()
    }
}

impl Subset {
    /// Keeps the part's devices, their spans and the part's work orders. A parent (NVR,
    /// platform) outside the part is dropped with the rest: parents are not points.
    pub fn restrict(
        &self,
        devices: &mut Vec<Device>,
        spans: &mut Vec<StatusSpan>,
        orders: &mut Vec<WorkOrder>,
    ) {
        devices.retain(|d| (self.device)(d));
        let kept: std::collections::HashSet<DeviceCode> = devices.iter().map(|d| d.code).collect();
        spans.retain(|s| kept.contains(&s.device));
        orders.retain(|o| (self.order)(o));
    }

    /// Withholds the fleet's own lines from a report built over the part, and says so.
    pub fn withhold_fleet_lines(&self, r: &mut Report) {
        let before = r.deductions.len();
        r.deductions
            .retain(|d| d.device.is_some() || d.order.is_some());
        let withheld = before - r.deductions.len();
        let fen: i64 = r
            .deductions
            .iter()
            .map(|d| (d.amount * 100.0).round() as i64)
            .sum();
        r.total_deduction = fen as f64 / 100.0;
        r.score = None;
        r.scope = Some(self.label.clone());
        r.notes.insert(
            0,
            format!(
                "this report covers part of the fleet ({}): its totals are that part's own; {} the contract's fleet-wide lines (the fleet's online rate against its threshold, the score) are the whole fleet's and are not shown",
                self.label,
                if withheld == 0 {
                    "no fleet-wide deduction applied; ".to_string()
                } else {
                    format!("{withheld} fleet-wide deduction lines withheld; ")
                }
            ),
        );
    }
}
