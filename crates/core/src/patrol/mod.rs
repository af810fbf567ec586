//! Patrol (巡检): the operator's own look at each channel, as tenders require it ("at least
//! 200 channels per working day, faults recorded"), beside the automatic picture checks.
//!
//! | module     | job                                                                      |
//! |------------|--------------------------------------------------------------------------|
//! | `plan`     | the rotation: which channels are today's batch, on the working calendar |
//! | `coverage` | a period's figures: planned, patrolled, coverage, faults, who, misses   |
//!
//! The closed sets a patrol record carries ([`Verdict`], [`Finding`]) live here; their text
//! forms exist for storage, export and people only.
//!
//! Must not: read the clock, the store or the register (callers hand in codes, dates and
//! records), or decide who may patrol (that is `access`).

pub mod coverage;
pub mod plan;
#[cfg(test)]
mod tests;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::quality::FaultKind;
use crate::registry::{DeviceCode, DeviceKind};

pub use coverage::{Coverage, DayFigures, FindingRow, PatrollerFigures, coverage};
pub use plan::{Plan, PlanRules, working_day_index};

/// Whether devices of `kind` are patrolled: the video sources (cameras, NVR/encoder
/// channels), not the recorders and platforms that carry them (they have no picture).
pub fn is_patrolled(kind: DeviceKind) -> bool {
    matches!(kind, DeviceKind::Camera | DeviceKind::Channel)
}

/// What the patroller concluded about a channel.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// 正常: the picture is what it should be.
    Normal,
    /// 故障: something is wrong ([`Finding`] says what); a work order is opened.
    Fault,
}
crate::text_enum!(Verdict, "patrol verdict");

/// What a patroller found wrong: one of the picture fault kinds the automatic diagnosis knows,
/// no video at all, or something else (described in the record's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finding {
    /// A picture fault of the automatic diagnosis's kinds (blur, occlusion, ...).
    Picture(FaultKind),
    /// No picture at all (black wall tile, "no signal").
    NoVideo,
    /// Anything else (a wrong view, a missing OSD, a time stamp off): see the note.
    Other,
}

impl Finding {
    /// Every finding, in the order a form lists them.
    pub fn all() -> Vec<Finding> {
        use strum::VariantArray;
        let mut v = vec![Self::NoVideo];
        v.extend(FaultKind::VARIANTS.iter().map(|k| Self::Picture(*k)));
        v.push(Self::Other);
        v
    }

    /// The stable text form: a picture fault kind's own name, `no_video` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Picture(k) => k.as_str(),
            Self::NoVideo => "no_video",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Finding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Self::all()
            .into_iter()
            .find(|f| f.as_str() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all().iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown patrol finding {t:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// One stored patrol record. Records are never edited or deleted: a second verdict on the
/// same device and day is a new record, and the latest (by `recorded_at`, then `id`) counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub device: DeviceCode,
    /// The working day of the batch, in the calendar's time zone.
    pub day: Date,
    /// The user who looked (their audit name).
    pub patroller: String,
    pub verdict: Verdict,
    /// What was wrong: set exactly when `verdict` is `Fault`.
    pub finding: Option<Finding>,
    pub note: String,
    /// The work order the fault opened (or joined, when one was already open).
    pub work_order: Option<i64>,
    /// Unix seconds.
    pub recorded_at: i64,
}

impl Record {
    /// Whether this record supersedes `other` (same device and day): later, or as late with a
    /// higher id.
    pub fn supersedes(&self, other: &Record) -> bool {
        (self.recorded_at, self.id) > (other.recorded_at, other.id)
    }
}

/// Checks the pairing of a verdict and a finding: a fault says what it is, a normal verdict
/// carries none.
pub fn check_finding(verdict: Verdict, finding: Option<Finding>) -> Result<(), String> {
    match (verdict, finding) {
        (Verdict::Fault, None) => Err("a fault verdict needs a finding (what is wrong)".into()),
        (Verdict::Normal, Some(f)) => Err(format!(
            "a normal verdict carries no finding (got {f:?})",
            f = f.as_str()
        )),
        _ => Ok(()),
    }
}
