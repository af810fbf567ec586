//! Live video for the picture probe (GB/T 28181 §9.2): the platform INVITEs a channel, through
//! the peer that registered it (the channel itself, or its parent: an NVR or lower platform),
//! with an SDP offer of where it receives; ACKs the answer; ends the dialog with BYE. Pure, as
//! the rest of the platform: the probe (`crate::media`) does the sockets and the waiting.
//!
//! Each dialog is kept by Call-ID from the INVITE until its BYE, or until the INVITE is refused
//! or unanswered. A 200 heard again is ACKed again (the ACK of a 2xx is the caller's to
//! repeat); a 200 that comes after the probe gave up (it asked for a BYE first) is ACKed and
//! ended with a BYE at once, so that no device is left streaming to nobody. At most
//! [`MAX_INVITES`] dialogs at once.

use std::collections::HashMap;
use std::net::IpAddr;

use camwatch_core::registry::DeviceCode;

use super::{Outgoing, Peer, Pending, Platform, Tracked};
use crate::manscdp::ChannelStatus;
use crate::registrar::Presence;
use crate::sdp::{Media, MediaMode};
use crate::sip::{self, InResponse, Method, OutRequest};
use crate::transaction::TxKey;

/// The most live-video dialogs open at once (the probe's concurrency is far lower).
pub const MAX_INVITES: usize = 10_000;

/// What became of an INVITE, for the probe that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteAnswer {
    /// `200`: the device's SDP answer (ACKed already).
    Accepted { sdp: Vec<u8> },
    /// A final status of 300 or more.
    Refused { status: u16 },
    /// No final answer within the INVITE transaction's timeout.
    NoAnswer,
}

/// Why no INVITE could be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    #[error("neither registered to the platform nor in a catalog")]
    Unknown,
    #[error("{via} is not online")]
    Offline { via: DeviceCode },
    #[error("its parent reports it OFF")]
    Off,
    #[error("too many live-video sessions open")]
    TooMany,
}

/// An INVITE to send, its dialog's Call-ID and the peer it goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub call_id: String,
    pub via: DeviceCode,
    pub request: Outgoing,
}

#[derive(Debug)]
struct Dialog {
    channel: DeviceCode,
    to: Peer,
    from_tag: String,
    /// The INVITE's branch (a non-2xx is ACKed in its transaction).
    branch: String,
    /// The device's tag, once it answered 200.
    to_tag: Option<String>,
    /// The probe gave up before the answer: a 200 is ended at once.
    abandoned: bool,
}

/// The platform's live-video dialogs, and the answers not yet taken by the probe.
#[derive(Debug, Default)]
pub(crate) struct Invites {
    dialogs: HashMap<String, Dialog>,
    answers: Vec<(String, InviteAnswer)>,
}

impl Invites {
    /// The INVITE transaction timed out.
    pub(crate) fn unanswered(&mut self, call_id: &str) {
        if self.dialogs.remove(call_id).is_some() {
            self.answers
                .push((call_id.to_string(), InviteAnswer::NoAnswer));
        }
    }

    /// The device sent BYE: the dialog is over.
    pub(crate) fn peer_ended(&mut self, call_id: &str) {
        self.dialogs.remove(call_id);
    }
}

impl Platform {
    /// Where live video of `channel` is asked for: the registered peer itself, or its parent
    /// (which must be online and must not report the channel OFF).
    pub fn media_route(
        &self,
        channel: &DeviceCode,
        now: i64,
    ) -> Result<(DeviceCode, Peer), InviteError> {
        let via = if self.registrar.knows(channel) {
            *channel
        } else {
            let (parent, status) = self.channels.get(channel).ok_or(InviteError::Unknown)?;
            if *status == ChannelStatus::Off {
                return Err(InviteError::Off);
            }
            *parent
        };
        if self.registrar.presence(&via, now) != Presence::Online {
            return Err(InviteError::Offline { via });
        }
        let peer = *self.peers.get(&via).ok_or(InviteError::Offline { via })?;
        Ok((via, peer))
    }

    /// An INVITE for live video of `channel`, received at `ip:port` with RTP SSRC `ssrc`
    /// (the `y=` line, ten digits) by `mode` (UDP, or TCP with us listening on that port or
    /// connecting to the device's): tracked as a transaction, its dialog kept until
    /// [`Platform::bye`].
    pub fn invite(
        &mut self,
        channel: DeviceCode,
        mode: MediaMode,
        ip: IpAddr,
        port: u16,
        ssrc: &str,
        now: i64,
    ) -> Result<Invite, InviteError> {
        let (via, to) = self.media_route(&channel, now)?;
        if self.invites.dialogs.len() >= MAX_INVITES {
            return Err(InviteError::TooMany);
        }
        let (branch, tag, call_id) = (self.next_id(), self.next_id(), self.next_id());
        let call_id = format!("{call_id}@camwatch");
        let (via_host, transport) = self.via(to);
        let host = to.addr().to_string();
        let body = Media::offer(&self.cfg.id, mode, ip, port, ssrc);
        let bytes = sip::request_with(
            &OutRequest {
                method: Method::Invite,
                to_user: channel.as_str(),
                to_host: &host,
                from_user: &self.cfg.id,
                from_domain: &self.cfg.domain,
                via_host: &via_host,
                transport,
                branch: &branch,
                from_tag: &tag,
                to_tag: None,
                call_id: &call_id,
                cseq: 1,
                content_type: "APPLICATION/SDP",
            },
            &[
                ("Contact", format!("<sip:{}@{}>", self.cfg.id, via_host)),
                ("Subject", format!("{channel}:{ssrc},{}:0", self.cfg.id)),
            ],
            &body,
        );
        self.invites.dialogs.insert(
            call_id.clone(),
            Dialog {
                channel,
                to,
                from_tag: tag,
                branch: format!("z9hG4bK{branch}"),
                to_tag: None,
                abandoned: false,
            },
        );
        Ok(Invite {
            via,
            request: Outgoing {
                to,
                bytes,
                tx: Some(Tracked {
                    key: TxKey {
                        branch: format!("z9hG4bK{branch}"),
                        method: Method::Invite,
                    },
                    what: Pending::Invite {
                        device: channel,
                        call_id: call_id.clone(),
                    },
                }),
            },
            call_id,
        })
    }

    /// Ends the dialog `call_id`: its BYE when the device accepted it; when it has not
    /// answered yet, a later 200 is ended at once (none now).
    pub fn bye(&mut self, call_id: &str) -> Option<Outgoing> {
        let d = self.invites.dialogs.get_mut(call_id)?;
        if d.to_tag.is_none() {
            d.abandoned = true;
            return None;
        }
        let d = self.invites.dialogs.remove(call_id)?;
        Some(self.in_dialog(Method::Bye, call_id, &d, 2, None))
    }

    /// The answers to INVITEs since the last call, by Call-ID.
    pub fn take_invite_answers(&mut self) -> Vec<(String, InviteAnswer)> {
        std::mem::take(&mut self.invites.answers)
    }

    /// Live-video dialogs open.
    pub fn open_invites(&self) -> usize {
        self.invites.dialogs.len()
    }

    /// A response to one of our INVITEs: ACKed; the first final one is the probe's answer.
    pub(super) fn on_invite_response(&mut self, r: &InResponse) -> Vec<Outgoing> {
        let call_id = r.common.call_id.as_str();
        if r.status < 200 {
            return Vec::new();
        }
        let Some(d) = self.invites.dialogs.get_mut(call_id) else {
            // Ended already (a late retransmission): nothing to do.
            return Vec::new();
        };
        if r.status >= 300 {
            let d = self
                .invites
                .dialogs
                .remove(call_id)
                .expect("looked up above");
            let branch = d.branch.clone();
            let ack = self.in_dialog(
                Method::Ack,
                call_id,
                &d,
                1,
                Some((&branch, r.common.to_tag.as_deref())),
            );
            self.invites.answers.push((
                call_id.to_string(),
                InviteAnswer::Refused { status: r.status },
            ));
            return vec![ack];
        }
        let first = d.to_tag.is_none();
        if first {
            d.to_tag = Some(r.common.to_tag.clone().unwrap_or_default());
        }
        let abandoned = d.abandoned;
        let d = if abandoned {
            self.invites
                .dialogs
                .remove(call_id)
                .expect("looked up above")
        } else {
            let d = &self.invites.dialogs[call_id];
            Dialog {
                channel: d.channel,
                to: d.to,
                from_tag: d.from_tag.clone(),
                branch: d.branch.clone(),
                to_tag: d.to_tag.clone(),
                abandoned: false,
            }
        };
        let mut out = vec![self.in_dialog(Method::Ack, call_id, &d, 1, None)];
        if abandoned {
            out.push(self.in_dialog(Method::Bye, call_id, &d, 2, None));
        } else if first {
            self.invites.answers.push((
                call_id.to_string(),
                InviteAnswer::Accepted {
                    sdp: r.common.body.clone(),
                },
            ));
        }
        out
    }

    /// Our `Via` host and transport for a peer.
    fn via(&self, to: Peer) -> (String, &'static str) {
        match to {
            Peer::Udp(_) => (self.via_udp.clone(), "UDP"),
            Peer::Tcp(..) => (self.via_tcp.clone(), "TCP"),
        }
    }

    /// An ACK or BYE in dialog `d`. A BYE is tracked (sent again over UDP); an ACK is not (it
    /// has no response). `hop` gives the INVITE's branch and the response's tag for the ACK
    /// of a non-2xx, which belongs to the INVITE's transaction.
    fn in_dialog(
        &mut self,
        method: Method,
        call_id: &str,
        d: &Dialog,
        cseq: u32,
        hop: Option<(&str, Option<&str>)>,
    ) -> Outgoing {
        let (via_host, transport) = self.via(d.to);
        let host = d.to.addr().to_string();
        let fresh = self.next_id();
        let (branch, to_tag) = match hop {
            Some((b, t)) => (b.trim_start_matches("z9hG4bK").to_string(), t),
            None => (fresh, d.to_tag.as_deref()),
        };
        let bytes = sip::request(
            &OutRequest {
                method,
                to_user: d.channel.as_str(),
                to_host: &host,
                from_user: &self.cfg.id,
                from_domain: &self.cfg.domain,
                via_host: &via_host,
                transport,
                branch: &branch,
                from_tag: &d.from_tag,
                to_tag: to_tag.filter(|t| !t.is_empty()),
                call_id,
                cseq,
                content_type: "APPLICATION/SDP",
            },
            b"",
        );
        let tx = (method == Method::Bye).then(|| Tracked {
            key: TxKey {
                branch: format!("z9hG4bK{branch}"),
                method,
            },
            what: Pending::Bye { device: d.channel },
        });
        Outgoing {
            to: d.to,
            bytes,
            tx,
        }
    }
}
