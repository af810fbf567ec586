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

pub mod csv;
