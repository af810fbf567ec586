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

use camwatch_core::health::PictureSample;
use camwatch_core::limits;
use camwatch_core::outcome::{FailureKind, ProbeKind, ProbeOutcome};
use camwatch_core::quality::{FaultKind, FaultSet};
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};

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

/// A picture fault a device reports for one of its channels in a catalog NOTIFY (`VLOST`,
/// `DEFECT`). The device says so itself; no picture is sampled for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelFault {
    /// Video lost: the channel is online but has no video signal (a camera unplugged from its
    /// encoder, a broken cable): the `signal_loss` picture fault diagnostics would find.
    VideoLost,
    /// The device reports the channel faulty: it gives no usable picture (`no_media`).
    Defect,
}

impl ChannelFault {
    /// The picture sample this report stands for, for picture confirmation.
    pub fn sample(self) -> PictureSample {
        match self {
            Self::VideoLost => PictureSample::Diagnosed {
                faults: FaultSet::of(&[FaultKind::SignalLoss]),
                still: None,
            },
            Self::Defect => PictureSample::NoMedia,
        }
    }
}

/// A register field a catalog may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CatalogField {
    Name,
    CivilCode,
    Parent,
    /// Longitude and latitude together.
    Position,
    Address,
}

impl CatalogField {
    /// The text form, for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::CivilCode => "civil_code",
            Self::Parent => "parent",
            Self::Position => "position",
            Self::Address => "address",
        }
    }
}

/// One field a catalog changed, with both values as text (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: CatalogField,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A register device and what a catalog changes in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelUpdate {
    /// The device with the catalog's values applied.
    pub after: Device,
    pub fields: Vec<FieldDiff>,
}

/// What one catalog changes in the register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogSync {
    /// Channels the register does not have, as register devices: to add as unconfirmed.
    pub added: Vec<Device>,
    /// Register devices whose name, civil code, parent, position or address differ.
    pub changed: Vec<ChannelUpdate>,
    /// Every valid code the catalog lists (but the source itself), sorted.
    pub listed: Vec<DeviceCode>,
    /// Register channels under this parent that the (complete) catalog no longer lists:
    /// flagged, never deleted.
    pub gone: Vec<DeviceCode>,
    /// Items whose DeviceID is not a valid 20-digit code, kept for the log.
    pub invalid: Vec<String>,
}

/// At most `n` characters of a peer's text, trimmed; `None` when empty.
fn text(v: Option<&str>, n: usize) -> Option<String> {
    let t: String = v?.trim().chars().take(n).collect();
    (!t.is_empty()).then_some(t)
}

/// The register parent of a catalog item from `source`: its ParentID when that is a valid code
/// other than its own, else the source (the peer whose outage takes it down).
fn item_parent(item: &CatalogItem, code: DeviceCode, source: DeviceCode) -> DeviceCode {
    item.parent_id
        .as_deref()
        .and_then(|p| p.parse::<DeviceCode>().ok())
        .filter(|p| *p != code)
        .unwrap_or(source)
}

/// A new register device from a catalog item.
pub fn device_from_item(item: &CatalogItem, code: DeviceCode, source: DeviceCode) -> Device {
    let name = text(item.name.as_deref(), limits::NAME_CHARS).unwrap_or_else(|| code.to_string());
    let mut d = Device::new(code, name);
    d.parent = Some(item_parent(item, code, source));
    d.kind = DeviceKind::from_code(&code, true);
    d.civil_code = text(item.civil_code.as_deref(), limits::NAME_CHARS);
    d.address = text(item.address.as_deref(), limits::TEXT_CHARS);
    d.vendor = text(item.manufacturer.as_deref(), limits::NAME_CHARS);
    d.model = text(item.model.as_deref(), limits::NAME_CHARS);
    d.longitude = item.longitude.filter(|x| x.is_finite());
    d.latitude = item.latitude.filter(|x| x.is_finite());
    d
}

fn position(lon: Option<f64>, lat: Option<f64>) -> Option<String> {
    match (lon, lat) {
        (None, None) => None,
        (a, b) => Some(format!(
            "{},{}",
            a.map_or_else(String::new, |x| x.to_string()),
            b.map_or_else(String::new, |x| x.to_string())
        )),
    }
}

/// The catalog's values applied to a register device: only fields the item carries change (an
/// item without a civil code leaves the register's alone).
fn update(d: &Device, item: &CatalogItem, source: DeviceCode) -> Option<ChannelUpdate> {
    let new = device_from_item(item, d.code, source);
    let mut after = d.clone();
    let mut fields = Vec::new();
    let mut diff = |field, before: Option<String>, now: Option<String>| {
        fields.push(FieldDiff {
            field,
            before,
            after: now,
        })
    };
    if item.name.as_deref().is_some_and(|n| !n.trim().is_empty()) && new.name != d.name {
        diff(
            CatalogField::Name,
            Some(d.name.clone()),
            Some(new.name.clone()),
        );
        after.name = new.name;
    }
    if new.civil_code.is_some() && new.civil_code != d.civil_code {
        diff(
            CatalogField::CivilCode,
            d.civil_code.clone(),
            new.civil_code.clone(),
        );
        after.civil_code = new.civil_code;
    }
    let stated_parent = item
        .parent_id
        .as_deref()
        .and_then(|p| p.parse::<DeviceCode>().ok())
        .filter(|p| *p != d.code);
    if stated_parent.is_some() && stated_parent != d.parent {
        diff(
            CatalogField::Parent,
            d.parent.map(|p| p.to_string()),
            stated_parent.map(|p| p.to_string()),
        );
        after.parent = stated_parent;
    }
    if (new.longitude.is_some() || new.latitude.is_some())
        && (new.longitude != d.longitude || new.latitude != d.latitude)
    {
        diff(
            CatalogField::Position,
            position(d.longitude, d.latitude),
            position(new.longitude, new.latitude),
        );
        after.longitude = new.longitude;
        after.latitude = new.latitude;
    }
    if new.address.is_some() && new.address != d.address {
        diff(
            CatalogField::Address,
            d.address.clone(),
            new.address.clone(),
        );
        after.address = new.address;
    }
    (!fields.is_empty()).then_some(ChannelUpdate { after, fields })
}

/// Compares a catalog from `source` with the register: `register` holds at least the
/// register's records of the listed codes and of the devices under `source`.
pub fn sync(source: DeviceCode, catalog: &Catalog, register: &[Device]) -> CatalogSync {
    let by_code: HashMap<DeviceCode, &Device> = register.iter().map(|d| (d.code, d)).collect();
    let mut out = CatalogSync::default();
    let mut listed: BTreeMap<DeviceCode, ()> = BTreeMap::new();
    for item in &catalog.items {
        let Ok(code) = item.device_id.parse::<DeviceCode>() else {
            out.invalid.push(item.device_id.chars().take(40).collect());
            continue;
        };
        // The source listing itself, or a repeated item: nothing more to learn.
        if code == source || listed.insert(code, ()).is_some() {
            continue;
        }
        match by_code.get(&code) {
            None => out.added.push(device_from_item(item, code, source)),
            Some(d) => out.changed.extend(update(d, item, source)),
        }
    }
    if catalog.complete {
        out.gone = register
            .iter()
            .filter(|d| d.parent == Some(source) && !listed.contains_key(&d.code))
            .map(|d| d.code)
            .collect();
        out.gone.sort();
        out.gone.dedup();
    }
    out.listed = listed.into_keys().collect();
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
                item(4, "新 again"),
                CatalogItem {
                    device_id: parent().to_string(),
                    ..item(0, "the NVR itself")
                },
                CatalogItem {
                    device_id: "bogus".into(),
                    ..item(5, "x")
                },
            ],
            complete: true,
        };
        let s = sync(parent(), &catalog, &register);
        assert_eq!(s.added.len(), 1);
        let added = &s.added[0];
        assert_eq!(
            (added.code, added.name.as_str(), added.parent, added.kind),
            (
                code(4),
                "新",
                Some(parent()),
                DeviceKind::from_code(&code(4), true)
            )
        );
        assert_eq!(s.changed.len(), 1);
        assert_eq!(s.changed[0].after.code, code(2));
        assert_eq!(s.changed[0].after.name, "西门 改");
        assert_eq!(
            s.changed[0].fields,
            vec![FieldDiff {
                field: CatalogField::Name,
                before: Some("西门".into()),
                after: Some("西门 改".into()),
            }]
        );
        assert_eq!(s.listed, vec![code(1), code(2), code(4)]);
        assert_eq!(s.gone, vec![code(3)]);
        assert_eq!(s.invalid, vec!["bogus".to_string()]);
        let partial = Catalog {
            complete: false,
            ..catalog
        };
        assert!(sync(parent(), &partial, &register).gone.is_empty());
    }

    #[test]
    fn an_item_changes_only_the_fields_it_carries() {
        let mut d = device(1, "东门");
        d.civil_code = Some("340200".into());
        d.longitude = Some(117.1);
        d.latitude = Some(31.8);
        let bare = CatalogItem {
            name: None,
            parent_id: None,
            ..item(1, "")
        };
        let catalog = |items| Catalog {
            device_id: parent().to_string(),
            sn: 1,
            sum_num: 1,
            items,
            complete: true,
        };
        let s = sync(parent(), &catalog(vec![bare.clone()]), &[d.clone()]);
        assert!(s.changed.is_empty(), "{:?}", s.changed);
        let moved = CatalogItem {
            longitude: Some(117.2),
            latitude: Some(31.8),
            civil_code: Some("340201".into()),
            ..bare
        };
        let s = sync(parent(), &catalog(vec![moved]), &[d]);
        let fields: Vec<_> = s.changed[0].fields.iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            vec![CatalogField::CivilCode, CatalogField::Position]
        );
        assert_eq!(s.changed[0].after.longitude, Some(117.2));
        assert_eq!(s.changed[0].fields[1].before.as_deref(), Some("117.1,31.8"));
    }

    proptest! {
        /// Whatever the register and the catalog hold: nothing added is in the register,
        /// nothing listed is gone, only register devices under the source are gone, and every
        /// valid listed code is either added or already in the register.
        #[test]
        fn sync_partitions_the_codes(
            in_register in proptest::collection::btree_set(0u32..200, 0..60),
            in_catalog in proptest::collection::btree_set(0u32..200, 0..60),
            complete: bool,
        ) {
            let register: Vec<Device> = in_register.iter().map(|n| device(*n, "r")).collect();
            let catalog = Catalog {
                device_id: parent().to_string(),
                sn: 1,
                sum_num: in_catalog.len() as u32,
                items: in_catalog.iter().map(|n| item(*n, "c")).collect(),
                complete,
            };
            let s = sync(parent(), &catalog, &register);
            let reg: std::collections::HashSet<_> = in_register.iter().map(|n| code(*n)).collect();
            prop_assert!(s.added.iter().all(|d| !reg.contains(&d.code)));
            prop_assert!(s.gone.iter().all(|c| reg.contains(c) && !s.listed.contains(c)));
            prop_assert_eq!(s.listed.len(), in_catalog.len());
            prop_assert_eq!(
                s.added.len() + in_catalog.iter().filter(|n| in_register.contains(n)).count(),
                in_catalog.len()
            );
            if !complete {
                prop_assert!(s.gone.is_empty());
            } else {
                prop_assert_eq!(s.gone.len(), in_register.difference(&in_catalog).count());
            }
        }

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
