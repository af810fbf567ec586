//! The recorded past of each device: status spans and exemptions. These are the shared currency
//! between `health` (which writes spans), `store` (which keeps them) and `availability`
//! (which turns them into rates and hours).
//!
//! Times are Unix seconds, UTC (`_at`). A span covers `[start_at, end_at)`.

use serde::{Deserialize, Serialize};

use crate::registry::DeviceCode;

/// A device's status over a span of time.
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
pub enum Status {
    /// Streaming and the picture is normal.
    Online,
    /// Streaming, but the picture is faulty (counts as online, not as intact).
    Degraded,
    Offline,
    /// No trustworthy observation: monitor down, sweep behind, or no data.
    Unknown,
}
crate::text_enum!(Status, "status");

/// One closed interval of one status for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSpan {
    pub device: DeviceCode,
    pub status: Status,
    /// Inclusive start, Unix seconds UTC.
    pub start_at: i64,
    /// Exclusive end, Unix seconds UTC.
    pub end_at: i64,
    /// Why: the failure or parent for offline, the picture faults for degraded.
    pub cause: Option<crate::cause::Cause>,
}

/// Why a device's time is exempt from the contract's numbers.
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
pub enum ExemptionReason {
    ForceMajeure,
    PlannedWorks,
    Relocation,
    Demolition,
    ThirdParty,
    Other,
}
crate::text_enum!(ExemptionReason, "exemption reason");

/// What an exemption applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ExemptionScope {
    Device(DeviceCode),
    /// Every device whose region (civil code) starts with this prefix.
    RegionPrefix(String),
}

/// An approved period that counts neither as online nor as offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    /// Store-assigned id; 0 before it is stored.
    pub id: i64,
    pub scope: ExemptionScope,
    pub reason: ExemptionReason,
    pub start_at: i64,
    pub end_at: i64,
    pub note: String,
    pub approved_by: String,
}

impl ExemptionScope {
    /// Whether it covers the device `code`, whose region (civil code) is `region`.
    pub fn covers(&self, code: &DeviceCode, region: &str) -> bool {
        match self {
            Self::Device(c) => c == code,
            Self::RegionPrefix(p) => region.starts_with(p.as_str()),
        }
    }
}

/// `device:<code>` or `region:<prefix>`: the form audit entries, digests and messages use.
impl std::fmt::Display for ExemptionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Device(c) => write!(f, "device:{c}"),
            Self::RegionPrefix(p) => write!(f, "region:{p}"),
        }
    }
}

impl Exemption {
    /// Whether this exemption may be stored: a period that ends after it starts, who approved
    /// it, bounded texts, a region prefix of 1–12 digits. The error names the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.end_at <= self.start_at {
            return Err(("to", "the end must be after the start".into()));
        }
        if let ExemptionScope::RegionPrefix(p) = &self.scope
            && (p.is_empty() || p.len() > 12 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err((
                "region",
                format!("{p:?}: a region prefix is 1–12 digits, e.g. 340104"),
            ));
        }
        if self.approved_by.trim().is_empty() {
            return Err(("approved_by", "who approved it is required".into()));
        }
        crate::limits::check_chars(self.approved_by.trim(), crate::limits::APPROVER_CHARS)
            .map_err(|e| ("approved_by", e))?;
        crate::limits::check_chars(&self.note, crate::limits::NOTE_CHARS)
            .map_err(|e| ("note", e))?;
        Ok(())
    }
}

pub mod csv;
