//! A GB/T 28181 device's signalling in its live state (`sip` of `GET /devices/{code}`): the
//! platform's facts ([`camwatch_core::signalling::SipFacts`]) as JSON, times in Unix seconds,
//! closed sets in their text form. `camwatch probe CODE` reads the same object.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use camwatch_core::signalling::SipFacts;

/// What the GB/T 28181 platform knows of a device's signalling now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SipView {
    /// The peer the facts are about: the device itself, or the NVR or lower platform whose
    /// catalog lists it (then `channel` is set).
    pub peer: String,
    /// The Status the peer last reported for the device as its channel: `on`, `off` or
    /// `unknown`; `null` when the device is the peer itself.
    pub channel: Option<String>,
    /// `online`, `never_registered`, `unregistered`, `expired` or `keepalive_lost`.
    pub presence: String,
    /// Online: when it goes offline if nothing more arrives; offline: when it went.
    pub offline_at: Option<i64>,
    /// `udp` or `tcp`, as it was last heard.
    pub transport: Option<String>,
    /// The address it was last heard from.
    pub addr: Option<String>,
    pub registered_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_keepalive: Option<i64>,
    pub keepalive_interval_sec: u32,
    /// Offline after this many intervals without a keepalive.
    pub keepalive_misses: u32,
    /// Whole intervals since its last keepalive or REGISTER.
    pub missed_now: u32,
    pub catalog: Option<SipCatalogView>,
    pub device_info: Option<SipInfoView>,
    /// Recording health from its last DeviceStatus answer.
    pub recording: Option<SipRecordingView>,
    /// Set (Unix seconds: when they were stored) when these are the last facts known from
    /// before the node's start, the peer not heard since: `presence` is then
    /// `never_registered` and `registered_at`, `expires_at`, `last_keepalive`, `catalog` and
    /// `device_info` are history (a registration from before a restart is no proof of one
    /// now); `recording.checked_at` is then its last change.
    #[serde(default)]
    pub stored_at: Option<i64>,
}

/// The peer's recording health (`Record`, `Encode`, `Status` of its DeviceStatus answers).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SipRecordingView {
    /// `on`, `off` or `unknown` (anything but ON/OFF).
    pub record: String,
    pub encode: String,
    /// The device's own Status: `on` (OK), `off` (ERROR) or `unknown`.
    pub status: String,
    /// Since when `record` has had its value (as far as this node heard).
    pub since: i64,
    /// The last answer.
    pub checked_at: i64,
}

/// The peer's last catalog.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SipCatalogView {
    /// When it completed, or was given up as partial.
    pub at: i64,
    pub channels: u32,
    /// The `SumNum` the peer announced.
    pub announced: u32,
    /// The MESSAGEs it came in.
    pub pages: u32,
    pub complete: bool,
}

/// The peer's last DeviceInfo answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SipInfoView {
    pub at: i64,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub channels: Option<u32>,
}

impl From<SipFacts> for SipView {
    fn from(f: SipFacts) -> Self {
        let p = f.peer;
        Self {
            peer: p.code.to_string(),
            channel: f.channel.map(|c| c.as_str().to_string()),
            presence: p.presence.as_str().to_string(),
            offline_at: p.offline_at,
            transport: p.transport.map(|t| t.as_str().to_string()),
            addr: p.addr.map(|a| a.to_string()),
            registered_at: p.registered_at,
            expires_at: p.expires_at,
            last_keepalive: p.last_keepalive,
            keepalive_interval_sec: p.keepalive_interval_sec,
            keepalive_misses: p.keepalive_misses,
            missed_now: p.missed_now,
            catalog: p.catalog.map(|c| SipCatalogView {
                at: c.at,
                channels: c.channels,
                announced: c.announced,
                pages: c.pages,
                complete: c.complete,
            }),
            recording: p.recording.map(|r| SipRecordingView {
                record: r.record.as_str().to_string(),
                encode: r.encode.as_str().to_string(),
                status: r.status.as_str().to_string(),
                since: r.since,
                checked_at: r.checked_at,
            }),
            device_info: p.info.map(|i| SipInfoView {
                at: i.at,
                manufacturer: i.manufacturer,
                model: i.model,
                firmware: i.firmware,
                channels: i.channels,
            }),
            stored_at: p.stored_at,
        }
    }
}
