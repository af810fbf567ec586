//! The recorded past of each device: status spans and exemptions. These are the shared currency
//! between `health` (which writes spans), `store` (which keeps them) and `availability`
//! (which turns them into rates and hours).
//!
//! Times are Unix seconds, UTC (`_at`). A span covers `[start_at, end_at)`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::registry::DeviceCode;

/// A device's status over a span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Streaming and the picture is normal.
    Online,
    /// Streaming, but the picture is faulty (counts as online, not as intact).
    Degraded,
    Offline,
    /// No trustworthy observation: monitor down, sweep behind, or no data.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 4] = [Self::Online, Self::Degraded, Self::Offline, Self::Unknown];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Degraded => "degraded",
            Self::Offline => "offline",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!("unknown status {s:?} (expected online, degraded, offline or unknown)")
            })
    }
}

/// One closed interval of one status for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSpan {
    pub device: DeviceCode,
    pub status: Status,
    /// Inclusive start, Unix seconds UTC.
    pub start_at: i64,
    /// Exclusive end, Unix seconds UTC.
    pub end_at: i64,
    /// Why: failure kind for offline ("refused", "auth_failed", "parent_down:…"), fault kinds
    /// for degraded, "monitor_gap" for unknown.
    pub cause: Option<String>,
}

/// Why a device's time is exempt from the contract's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionReason {
    ForceMajeure,
    PlannedWorks,
    Relocation,
    Demolition,
    ThirdParty,
    Other,
}

impl ExemptionReason {
    pub const ALL: [ExemptionReason; 6] = [
        Self::ForceMajeure,
        Self::PlannedWorks,
        Self::Relocation,
        Self::Demolition,
        Self::ThirdParty,
        Self::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ForceMajeure => "force_majeure",
            Self::PlannedWorks => "planned_works",
            Self::Relocation => "relocation",
            Self::Demolition => "demolition",
            Self::ThirdParty => "third_party",
            Self::Other => "other",
        }
    }
}

impl FromStr for ExemptionReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "unknown exemption reason {s:?} (expected one of: {})",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

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
