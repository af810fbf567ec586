//! What GB/T 28181 signalling says about each device, as the health model's inputs: one
//! [`ProbeOutcome`] (kind `sip`) per device and, for a channel, the parent to blame when the
//! parent itself is down. And what a catalog means for the register: channels to add, changed,
//! and gone.
//!
//! Rules:
//! - A registered peer (device, NVR, lower platform) is `up` while the registrar says online,
//!   `down` (`no_answer`, the detail naming expiry, unregister or missed keepalives) otherwise.
//! - A catalog channel follows its parent first: **while the parent is offline the channel is
//!   down with the parent as cause, whatever its last Status said** (a dead parent's ON is
//!   stale). Only under a live parent does the channel's own Status count: ON up, OFF down,
//!   anything else unknown (no outcome: the health model keeps its state).
//! - Catalog sync never deletes: a channel missing from a complete catalog is reported as gone
//!   (flagged for review); a partial catalog (given up at its deadline) reports additions and
//!   changes but no removals, as absence from it proves nothing.
//!
//! Must not: debounce, decide a status span, or touch the store (the monitor and the store do).

use std::collections::{BTreeMap, HashMap};

use camwatch_core::outcome::{FailureKind, ProbeKind, ProbeOutcome};
use camwatch_core::registry::{Device, DeviceCode};

use crate::catalog::Catalog;
use crate::manscdp::{CatalogItem, ChannelStatus};
use crate::registrar::{OfflineReason, Presence};

/// One device's signalling-derived outcome; a channel down because its parent is carries the
/// parent in `outcome.parent_down` (for `Cause::ParentDown`).
#[derive(Debug, Clone, PartialEq)]
pub struct SipObservation {
    pub device: DeviceCode,
    pub outcome: ProbeOutcome,
}

fn offline_detail(reason: OfflineReason) -> &'static str {
    match reason {
        OfflineReason::NeverRegistered => "not registered to the platform",
        OfflineReason::Unregistered => "unregistered (REGISTER with Expires: 0)",
        OfflineReason::Expired => "registration expired without re-registering",
        OfflineReason::KeepaliveLost => "keepalives stopped",
    }
}

/// The outcome of a registered peer.
pub fn peer_outcome(device: DeviceCode, presence: Presence) -> SipObservation {
    let outcome = match presence {
        Presence::Online => ProbeOutcome::up(ProbeKind::Sip),
        Presence::Offline(r) => {
            ProbeOutcome::down(ProbeKind::Sip, FailureKind::NoAnswer, offline_detail(r))
        }
    };
    SipObservation { device, outcome }
}

/// The outcome of a catalog channel under `parent` (whose presence is `parent_presence`), with
/// the Status the parent last reported for it. `None`: nothing to say (unknown Status).
pub fn channel_outcome(
    channel: DeviceCode,
    parent: DeviceCode,
    parent_presence: Presence,
    status: ChannelStatus,
) -> Option<SipObservation> {
    if let Presence::Offline(r) = parent_presence {
        let mut outcome = ProbeOutcome::down(
            ProbeKind::Sip,
            FailureKind::NoAnswer,
            format!("parent {parent}: {}", offline_detail(r)),
        );
        outcome.parent_down = Some(parent);
        return Some(SipObservation {
            device: channel,
            outcome,
        });
    }
    let outcome = match status {
        ChannelStatus::On => ProbeOutcome::up(ProbeKind::Sip),
        ChannelStatus::Off => ProbeOutcome::down(
            ProbeKind::Sip,
            FailureKind::NoAnswer,
            format!("catalog of {parent} reports Status OFF"),
        ),
        ChannelStatus::Unknown => return None,
    };
    Some(SipObservation {
        device: channel,
        outcome,
    })
}

/// What one catalog changes in the register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSync {
    /// Channels the register does not have: to add as unconfirmed.
    pub added: Vec<CatalogItem>,
    /// Channels whose name, civil code, parent or position differ: code and the fields.
    pub changed: Vec<(DeviceCode, Vec<&'static str>)>,
    /// Register channels under this parent that the (complete) catalog no longer lists:
    /// flagged, never deleted.
    pub gone: Vec<DeviceCode>,
    /// Items whose DeviceID is not a valid 20-digit code, kept for the log.
    pub invalid: Vec<String>,
}

/// Compares a catalog from `parent` with the register.
pub fn sync(parent: DeviceCode, catalog: &Catalog, register: &[Device]) -> CatalogSync {
    let by_code: HashMap<DeviceCode, &Device> = register.iter().map(|d| (d.code, d)).collect();
    let mut out = CatalogSync::default();
    let mut listed: BTreeMap<DeviceCode, ()> = BTreeMap::new();
    for item in &catalog.items {
        let Ok(code) = item.device_id.parse::<DeviceCode>() else {
            out.invalid.push(item.device_id.clone());
            continue;
        };
        listed.insert(code, ());
        let Some(d) = by_code.get(&code) else {
            out.added.push(item.clone());
            continue;
        };
        let mut fields = Vec::new();
        if item.name.as_deref().is_some_and(|n| n != d.name) {
            fields.push("name");
        }
        if item.civil_code.is_some() && item.civil_code != d.civil_code {
            fields.push("civil_code");
        }
        let item_parent = item
            .parent_id
            .as_deref()
            .and_then(|p| p.parse::<DeviceCode>().ok());
        if item_parent.is_some() && item_parent != d.parent {
            fields.push("parent");
        }
        if item.longitude.is_some() && item.longitude != d.longitude
            || item.latitude.is_some() && item.latitude != d.latitude
        {
            fields.push("position");
        }
        if !fields.is_empty() {
            out.changed.push((code, fields));
        }
    }
    if catalog.complete {
        out.gone = register
            .iter()
            .filter(|d| d.parent == Some(parent) && !listed.contains_key(&d.code))
            .map(|d| d.code)
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::outcome::ProbeStatus;
    use camwatch_core::registry::DeviceKind;
    use proptest::prelude::*;

    fn code(n: u32) -> DeviceCode {
        format!("340200000013100{n:05}").parse().unwrap()
    }

    fn parent() -> DeviceCode {
        "34020000001110000001".parse().unwrap()
    }

    fn item(n: u32, name: &str) -> CatalogItem {
        CatalogItem {
            device_id: code(n).to_string(),
            name: Some(name.into()),
            manufacturer: None,
            model: None,
            civil_code: None,
            parent_id: Some(parent().to_string()),
            address: None,
            status: ChannelStatus::On,
            longitude: None,
            latitude: None,
        }
    }

    fn device(n: u32, name: &str) -> Device {
        let mut d = Device::new(code(n), name);
        d.kind = DeviceKind::Channel;
        d.parent = Some(parent());
        d
    }

    #[test]
    fn a_dead_parents_on_is_not_trusted() {
        let dead = Presence::Offline(OfflineReason::KeepaliveLost);
        let o = channel_outcome(code(1), parent(), dead, ChannelStatus::On).unwrap();
        assert_eq!(o.outcome.status, ProbeStatus::Down);
        assert_eq!(o.outcome.parent_down, Some(parent()));
        let o = channel_outcome(code(1), parent(), Presence::Online, ChannelStatus::On).unwrap();
        assert_eq!(o.outcome.status, ProbeStatus::Up);
        let o = channel_outcome(code(1), parent(), Presence::Online, ChannelStatus::Off).unwrap();
        assert_eq!(
            (o.outcome.status, o.outcome.parent_down),
            (ProbeStatus::Down, None)
        );
        assert!(
            channel_outcome(code(1), parent(), Presence::Online, ChannelStatus::Unknown).is_none()
        );
        let p = peer_outcome(parent(), Presence::Offline(OfflineReason::Expired));
        assert_eq!(p.outcome.failure, Some(FailureKind::NoAnswer));
        assert!(p.outcome.detail.contains("expired"));
    }

    #[test]
    fn sync_adds_changes_and_flags_never_deletes() {
        let register = vec![device(1, "东门"), device(2, "西门"), device(3, "北门")];
        let catalog = Catalog {
            device_id: parent().to_string(),
            sn: 1,
            sum_num: 3,
            items: vec![
                item(1, "东门"),
                item(2, "西门 改"),
                item(4, "新"),
                CatalogItem {
                    device_id: "bogus".into(),
                    ..item(5, "x")
                },
            ],
            complete: true,
        };
        let s = sync(parent(), &catalog, &register);
        assert_eq!(s.added.len(), 1);
        assert_eq!(s.added[0].device_id, code(4).to_string());
        assert_eq!(s.changed, vec![(code(2), vec!["name"])]);
        assert_eq!(s.gone, vec![code(3)]);
        assert_eq!(s.invalid, vec!["bogus".to_string()]);
        let partial = Catalog {
            complete: false,
            ..catalog
        };
        assert!(sync(parent(), &partial, &register).gone.is_empty());
    }

    proptest! {
        /// Whatever the ON/OFF statuses, no channel under an offline parent is ever up.
        #[test]
        fn no_channel_is_up_under_a_dead_parent(statuses in proptest::collection::vec(0u8..3, 0..50)) {
            for (i, s) in statuses.iter().enumerate() {
                let status = [ChannelStatus::On, ChannelStatus::Off, ChannelStatus::Unknown][*s as usize];
                for reason in [OfflineReason::KeepaliveLost, OfflineReason::Expired, OfflineReason::Unregistered, OfflineReason::NeverRegistered] {
                    let o = channel_outcome(code(i as u32), parent(), Presence::Offline(reason), status).unwrap();
                    prop_assert_eq!(o.outcome.status, ProbeStatus::Down);
                    prop_assert_eq!(o.outcome.parent_down, Some(parent()));
                }
            }
        }
    }
}
