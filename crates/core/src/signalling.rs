//! What the GB/T 28181 platform knows of one device's signalling, for diagnostics: is it
//! registered, over what and from where, when did it last keep alive and under which rule, what
//! did its last catalog and DeviceInfo say. The platform fills it from its own state
//! (`camwatch_gb28181::platform::Platform::facts`); the monitor hands it to the API, which shows
//! it in a device's live state and to `camwatch probe`.
//!
//! Plain data: the platform decides nothing from it. Closed sets are enums with a stable text
//! form (`as_str`), used at the API boundary.

use std::net::SocketAddr;

use crate::registry::DeviceCode;

/// Whether a peer is registered now, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum SipPresence {
    Online,
    /// Not registered since the platform started.
    NeverRegistered,
    /// It sent REGISTER with `Expires: 0`.
    Unregistered,
    /// Its registration ran out without a re-REGISTER.
    Expired,
    /// It stopped sending keepalives (`keepalive_misses` intervals without one).
    KeepaliveLost,
}
crate::text_enum!(SipPresence, "SIP presence");

/// The transport a peer last reached the platform over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum SipTransport {
    Udp,
    Tcp,
}
crate::text_enum!(SipTransport, "SIP transport");

/// ON or OFF as a device says it: a catalog channel's Status as its parent last reported it
/// (catalog or NOTIFY); DeviceStatus's `Record`, `Encode` and `Status` (`OK` is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum OnOff {
    On,
    Off,
    /// Absent or outside the standard (never read as ON).
    Unknown,
}
crate::text_enum!(OnOff, "on/off");

/// One registered (or once registered) peer: a device, NVR or lower platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFacts {
    pub code: DeviceCode,
    pub presence: SipPresence,
    /// While online, when it goes offline if nothing more arrives; offline, when it went.
    pub offline_at: Option<i64>,
    /// How and from where it was last heard (`None`: never).
    pub transport: Option<SipTransport>,
    pub addr: Option<SocketAddr>,
    /// The start of its current (or last) registration, and when that registration ends.
    pub registered_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_keepalive: Option<i64>,
    /// The rule in force for it: a keepalive every `interval`, offline after `misses` missed.
    pub keepalive_interval_sec: u32,
    pub keepalive_misses: u32,
    /// Whole keepalive intervals since its last sign of life (keepalive or REGISTER).
    pub missed_now: u32,
    pub catalog: Option<CatalogFacts>,
    pub info: Option<InfoFacts>,
    /// What its last DeviceStatus answer said of recording and encoding.
    pub recording: Option<RecordingFacts>,
    /// `Some` when these are the last facts known from before this node started (when they
    /// were stored), not heard since: `presence` then says `never_registered` (since the
    /// start) and the times are history; a registration from before a restart proves nothing
    /// now. `None` for what the running platform heard itself.
    pub stored_at: Option<i64>,
}

/// A device's recording health from its DeviceStatus answers (GB/T 28181 §A.2.6: `Record`,
/// `Encode`, `Status`). A device that does not answer keeps its last facts: silence is no
/// outage by itself (liveness speaks for that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingFacts {
    pub record: OnOff,
    pub encode: OnOff,
    /// The device's own `Status` (`OK` on, `ERROR` off).
    pub status: OnOff,
    /// Since when `record` has had its value (as far as the platform heard).
    pub since: i64,
    /// The last answer.
    pub checked_at: i64,
}

/// The last catalog the peer answered (complete, or partial at its deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFacts {
    /// When it completed (or was given up).
    pub at: i64,
    pub channels: u32,
    /// What the peer announced (`SumNum`).
    pub announced: u32,
    /// The MESSAGEs it came in.
    pub pages: u32,
    pub complete: bool,
}

/// The peer's last DeviceInfo answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoFacts {
    pub at: i64,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub channels: Option<u32>,
}

/// What signalling knows of one device: as a peer itself, or as a channel of `peer` (its
/// parent), with the Status the parent last reported for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipFacts {
    pub peer: PeerFacts,
    /// `Some` when the device is a catalog channel of `peer` rather than the peer itself.
    pub channel: Option<OnOff>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn names_round_trip() {
        for v in SipPresence::VARIANTS {
            assert_eq!(v.as_str().parse::<SipPresence>().unwrap(), *v);
        }
        for v in SipTransport::VARIANTS {
            assert_eq!(v.as_str().parse::<SipTransport>().unwrap(), *v);
        }
        for v in OnOff::VARIANTS {
            assert_eq!(v.as_str().parse::<OnOff>().unwrap(), *v);
        }
        assert_eq!(SipPresence::KeepaliveLost.as_str(), "keepalive_lost");
    }
}
