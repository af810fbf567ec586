//! The platform's diagnostic memory of each peer beyond what the registrar keeps: how many
//! MESSAGEs its catalog came in, its last catalog and its last DeviceInfo. Read together with
//! the registrar's state as [`camwatch_core::signalling::SipFacts`] ("registered? last
//! keepalive? catalog?" for `camwatch probe` and the API).
//!
//! Invariants: one record per peer that sent a catalog page or a DeviceInfo while online, so
//! the records are bounded by the registered peers (messages from others are refused before
//! they get here); nothing here changes what the platform decides.

use std::collections::HashMap;

use camwatch_core::registry::DeviceCode;
use camwatch_core::signalling::{
    CatalogFacts, InfoFacts, OnOff, PeerFacts, RecordingFacts, SipFacts, SipPresence, SipTransport,
};

use super::{Peer, Platform};
use crate::catalog::Catalog;
use crate::manscdp::{ChannelStatus, Manscdp};
use crate::registrar::{OfflineReason, Presence};

#[derive(Debug, Default)]
pub(super) struct Facts {
    peers: HashMap<DeviceCode, Record>,
    /// The last facts stored before this start, for peers not heard since (bounded by the
    /// register).
    remembered: HashMap<DeviceCode, PeerFacts>,
}

#[derive(Debug, Default)]
struct Record {
    /// The catalog being assembled: its SN and the pages seen so far.
    pages: Option<(u32, u32)>,
    catalog: Option<CatalogFacts>,
    info: Option<InfoFacts>,
    recording: Option<RecordingFacts>,
}

/// ON, OFF or anything else as [`OnOff`] (case and spaces ignored).
fn on_off(s: Option<&str>) -> OnOff {
    match s.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("ON") => OnOff::On,
        Some(v) if v.eq_ignore_ascii_case("OFF") => OnOff::Off,
        _ => OnOff::Unknown,
    }
}

/// A DeviceStatus answer's `Record`, `Encode` and `Status` (`OK` on, `ERROR` off); `None` for
/// any other document.
pub fn recording_of(m: &Manscdp) -> Option<(OnOff, OnOff, OnOff)> {
    let Manscdp::DeviceStatus {
        record,
        encode,
        status,
        ..
    } = m
    else {
        return None;
    };
    let status = match status {
        ChannelStatus::On => OnOff::On,
        ChannelStatus::Off => OnOff::Off,
        ChannelStatus::Unknown => OnOff::Unknown,
    };
    Some((on_off(record.as_deref()), on_off(encode.as_deref()), status))
}

impl Facts {
    /// A catalog page (SN `sn`) from `device`.
    pub(super) fn page(&mut self, device: DeviceCode, sn: u32) {
        let r = self.peers.entry(device).or_default();
        r.pages = match r.pages {
            Some((s, n)) if s == sn => Some((s, n.saturating_add(1))),
            _ => Some((sn, 1)),
        };
    }

    /// `device`'s catalog completed (or was given up) at `at`.
    pub(super) fn catalog(&mut self, device: DeviceCode, c: &Catalog, at: i64) {
        let r = self.peers.entry(device).or_default();
        let pages = match r.pages {
            Some((sn, n)) if sn == c.sn => n,
            _ => 0,
        };
        r.pages = None;
        r.catalog = Some(CatalogFacts {
            at,
            channels: u32::try_from(c.items.len()).unwrap_or(u32::MAX),
            announced: c.sum_num,
            pages,
            complete: c.complete,
        });
    }

    /// `device`'s DeviceInfo answer at `at` (anything else is ignored).
    pub(super) fn info(&mut self, device: DeviceCode, m: &Manscdp, at: i64) {
        if let Manscdp::DeviceInfo {
            manufacturer,
            model,
            firmware,
            channels,
            ..
        } = m
        {
            self.peers.entry(device).or_default().info = Some(InfoFacts {
                at,
                manufacturer: manufacturer.clone(),
                model: model.clone(),
                firmware: firmware.clone(),
                channels: *channels,
            });
        }
    }
}

impl Facts {
    /// `device`'s DeviceStatus answer at `at`: its recording facts now, and the previous ones
    /// when `Record`, `Encode` or `Status` changed (or this is the first answer): `None` when
    /// nothing changed (or `m` is no DeviceStatus).
    pub(super) fn status(
        &mut self,
        device: DeviceCode,
        m: &Manscdp,
        at: i64,
    ) -> Option<(Option<RecordingFacts>, RecordingFacts)> {
        let (record, encode, status) = recording_of(m)?;
        let r = self.peers.entry(device).or_default();
        let previous = r.recording;
        let since = match previous {
            Some(p) if p.record == record => p.since,
            _ => at,
        };
        let now = RecordingFacts {
            record,
            encode,
            status,
            since,
            checked_at: at,
        };
        r.recording = Some(now);
        let changed =
            previous.is_none_or(|p| (p.record, p.encode, p.status) != (record, encode, status));
        changed.then_some((previous, now))
    }
}

impl Platform {
    /// What signalling knows of `device` at `now`, for diagnostics: the device as a peer, or as
    /// a catalog channel with its parent's facts, or the facts stored before this start
    /// ([`Platform::remember`], `stored_at` set) when it has been neither since; `None` when
    /// nothing is known of it.
    pub fn facts(&self, device: &DeviceCode, now: i64) -> Option<SipFacts> {
        if self.registrar.knows(device) {
            return Some(SipFacts {
                peer: self.peer_facts(device, now),
                channel: None,
            });
        }
        let Some((parent, status)) = self.channels.get(device) else {
            return self.facts.remembered.get(device).map(|p| SipFacts {
                peer: p.clone(),
                channel: None,
            });
        };
        Some(SipFacts {
            peer: self.peer_facts(parent, now),
            channel: Some(match status {
                ChannelStatus::On => OnOff::On,
                ChannelStatus::Off => OnOff::Off,
                ChannelStatus::Unknown => OnOff::Unknown,
            }),
        })
    }

    fn peer_facts(&self, device: &DeviceCode, now: i64) -> PeerFacts {
        let st = self.registrar.state(device, now);
        let record = self.facts.peers.get(device);
        let interval = st.liveness.interval_sec.max(1);
        PeerFacts {
            code: *device,
            presence: match st.presence {
                Presence::Online => SipPresence::Online,
                Presence::Offline(OfflineReason::NeverRegistered) => SipPresence::NeverRegistered,
                Presence::Offline(OfflineReason::Unregistered) => SipPresence::Unregistered,
                Presence::Offline(OfflineReason::Expired) => SipPresence::Expired,
                Presence::Offline(OfflineReason::KeepaliveLost) => SipPresence::KeepaliveLost,
            },
            offline_at: st.deadline.or(st.offline_since),
            transport: self.peers.get(device).map(|p| match p {
                Peer::Udp(_) => SipTransport::Udp,
                Peer::Tcp(..) => SipTransport::Tcp,
            }),
            addr: self.peers.get(device).map(|p| p.addr()),
            registered_at: st.registered_at,
            expires_at: st.expires_at,
            last_keepalive: st.last_keepalive,
            keepalive_interval_sec: st.liveness.interval_sec,
            keepalive_misses: st.liveness.misses,
            missed_now: st.last_alive.map_or(0, |a| {
                u32::try_from(now.saturating_sub(a).max(0) / i64::from(interval))
                    .unwrap_or(u32::MAX)
            }),
            catalog: record.and_then(|r| r.catalog.clone()),
            info: record.and_then(|r| r.info.clone()),
            recording: record.and_then(|r| r.recording),
            stored_at: None,
        }
    }

    /// Facts of peers as stored before this start (`camwatch_store::gb_sip_facts`), shown for
    /// a peer until it is heard again (see [`Platform::facts`]): `presence` is made
    /// `never_registered` and `stored_at` kept. Only devices of the register are taken, so
    /// the memory stays bounded by it.
    pub fn remember(&mut self, stored: Vec<PeerFacts>) {
        for mut f in stored {
            if !self.cfg.known.contains(&f.code) {
                continue;
            }
            f.presence = SipPresence::NeverRegistered;
            f.offline_at = None;
            f.missed_now = 0;
            f.stored_at = f.stored_at.or(Some(0));
            self.facts.remembered.insert(f.code, f);
        }
    }

    /// Whether `device` is in the register (only those have their facts stored).
    pub fn knows_device(&self, device: &DeviceCode) -> bool {
        self.cfg.known.contains(device)
    }
}
