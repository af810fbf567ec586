//! `camwatch probe CODE` for a GB/T 28181 device: such a device cannot be probed from here (it
//! registers to the platform inside `camwatch serve`, and only that process holds its
//! registration, keepalives and catalogs), so the probe asks the running node through its HTTP
//! API (`GET /api/v1/devices/{code}`, an API token from the environment) and explains its `sip`
//! object step by step: registered? last keepalive, and under which rule? catalog? device info?
//!
//! Why the API and not the store: the facts change with every keepalive, and the node's memory
//! is the only place where they are current (the store keeps a peer's last facts at most a
//! minute behind, for a restarted node to show as history: they come back through the API too,
//! marked `stored_at`). The explanation itself ([`explain`]) is pure.

use std::time::Duration;

use camwatch_api::devices::sip::SipView;
use camwatch_core::error::{Error, Result};
use camwatch_core::outcome::{FailureKind, ProbeKind, ProbeOutcome};
use camwatch_core::registry::DeviceCode;
use camwatch_store::fmt_at;

/// What `GET /devices/{code}` says that the explanation needs.
#[derive(Debug, serde::Deserialize)]
pub struct NodeView {
    /// The monitor's status of the device (`online`, `offline`, …).
    pub status: String,
    pub cause: Option<String>,
    pub sip: Option<SipView>,
}

/// Asks the node at `base` (`http(s)://HOST:PORT`) about `code` with `token`.
pub async fn ask(
    base: &str,
    token: &str,
    code: &DeviceCode,
    deadline: Duration,
) -> Result<NodeView> {
    let url = format!("{}/api/v1/devices/{code}", base.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(deadline)
        .build()
        .map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
    let r = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| Error::invalid(format!("{url}: the node did not answer: {e}")))?;
    let status = r.status();
    if !status.is_success() {
        let body = r.text().await.unwrap_or_default();
        return Err(Error::invalid(format!(
            "{url}: the node answered {status}: {}",
            body.chars().take(300).collect::<String>()
        )));
    }
    let body = r
        .bytes()
        .await
        .map_err(|e| Error::invalid(format!("{url}: reading the answer: {e}")))?;
    serde_json::from_slice::<NodeView>(&body)
        .map_err(|e| Error::invalid(format!("{url}: not a device's live state: {e}")))
}

/// Seconds as a short duration: `45 s`, `12 min 5 s`, `3 h 2 min`.
fn ago(sec: i64) -> String {
    let sec = sec.max(0);
    match sec {
        0..60 => format!("{sec} s"),
        60..3600 => format!("{} min {} s", sec / 60, sec % 60),
        _ => format!("{} h {} min", sec / 3600, sec % 3600 / 60),
    }
}

/// The step-by-step explanation of the node's view at `now` (lines, indented as `describe`'s),
/// and the outcome it amounts to: up while the device (or the peer whose catalog lists it) is
/// registered and keeping alive and, for a channel, reported ON; down otherwise.
pub fn explain(v: &NodeView, now: i64) -> (Vec<String>, ProbeOutcome) {
    let mut lines = vec![format!(
        "  sip (asked the running node): monitor status {}{}",
        v.status.to_uppercase(),
        v.cause
            .as_ref()
            .map_or(String::new(), |c| format!(" — {c}"))
    )];
    let Some(s) = &v.sip else {
        lines.push(
            "      the platform has not heard of it: not registered, and in no catalog received \
             since the node started"
                .into(),
        );
        let o = ProbeOutcome::down(ProbeKind::Sip, FailureKind::NoAnswer, "not registered");
        return (lines, o);
    };
    let of = if s.channel.is_some() {
        format!(" (its parent {} is the peer)", s.peer)
    } else {
        String::new()
    };
    let registration = match s.presence.as_str() {
        // Stored before the node's start and not heard since: history, no registration now.
        _ if s.stored_at.is_some() => format!(
            "NOT REGISTERED{of} since the node started; before its restart (facts stored {}): \
             registered over {} from {} since {}, registration expiring {}",
            s.stored_at.map_or("?".into(), fmt_at),
            s.transport.as_deref().unwrap_or("?"),
            s.addr.as_deref().unwrap_or("?"),
            s.registered_at.map_or("?".into(), fmt_at),
            s.expires_at.map_or("?".into(), fmt_at),
        ),
        "online" => format!(
            "registered{of} over {} from {} since {}, registration expires {}",
            s.transport.as_deref().unwrap_or("?"),
            s.addr.as_deref().unwrap_or("?"),
            s.registered_at.map_or("?".into(), fmt_at),
            s.expires_at.map_or("?".into(), fmt_at),
        ),
        "keepalive_lost" => format!(
            "KEEPALIVES STOPPED{of}: offline since {} ({} keepalives missed), last heard over {} from {}",
            s.offline_at.map_or("?".into(), fmt_at),
            s.keepalive_misses,
            s.transport.as_deref().unwrap_or("?"),
            s.addr.as_deref().unwrap_or("?"),
        ),
        "expired" => format!(
            "REGISTRATION EXPIRED{of} at {} without a re-REGISTER",
            s.offline_at.map_or("?".into(), fmt_at)
        ),
        "unregistered" => format!(
            "UNREGISTERED{of} (REGISTER with Expires: 0) at {}",
            s.offline_at.map_or("?".into(), fmt_at)
        ),
        other => format!("NOT REGISTERED{of} ({other})"),
    };
    lines.push(format!("      registration: {registration}"));
    let rule = format!(
        "expected every {} s, offline after {} missed",
        s.keepalive_interval_sec, s.keepalive_misses
    );
    lines.push(match s.last_keepalive {
        Some(at) => format!(
            "      keepalive: last keepalive at {} ({} ago), {rule}; {} interval(s) missed now{}",
            fmt_at(at),
            ago(now - at),
            s.missed_now,
            match (s.presence.as_str(), s.offline_at) {
                ("online", Some(by)) => format!(", offline at {} if none comes", fmt_at(by)),
                _ => String::new(),
            }
        ),
        None => format!("      keepalive: none received yet, {rule}"),
    });
    lines.push(match &s.catalog {
        Some(c) => format!(
            "      catalog: {} at {}: {} of {} channel(s) in {} message(s)",
            if c.complete { "complete" } else { "PARTIAL" },
            fmt_at(c.at),
            c.channels,
            c.announced,
            c.pages
        ),
        None => "      catalog: none received yet".into(),
    });
    if let Some(ch) = &s.channel {
        lines.push(format!(
            "      channel: {}'s catalog lists it with Status {}",
            s.peer,
            ch.to_uppercase()
        ));
    }
    if let Some(r) = &s.recording {
        lines.push(format!(
            "      recording: {} since {} (encode {}, status {}; last DeviceStatus at {})",
            if r.record == "on" {
                "recording".to_string()
            } else {
                format!("NOT RECORDING (Record {})", r.record.to_uppercase())
            },
            fmt_at(r.since),
            r.encode,
            r.status,
            fmt_at(r.checked_at)
        ));
    }
    if let Some(i) = &s.device_info {
        lines.push(format!(
            "      device info: {} at {}",
            [&i.manufacturer, &i.model, &i.firmware]
                .iter()
                .filter_map(|x| x.as_deref())
                .collect::<Vec<_>>()
                .join(" "),
            fmt_at(i.at)
        ));
    }
    let registered = s.presence == "online";
    let channel_on = s.channel.as_deref().is_none_or(|c| c == "on");
    let mut o = if registered && channel_on {
        ProbeOutcome::up(ProbeKind::Sip)
    } else {
        ProbeOutcome::down(
            ProbeKind::Sip,
            FailureKind::NoAnswer,
            if registered {
                format!(
                    "its parent {} reports it {}",
                    s.peer,
                    s.channel.as_deref().unwrap_or("?")
                )
            } else {
                format!("{}: {}", s.peer, s.presence)
            },
        )
    };
    o.fact("sip_presence", &s.presence);
    if let Some(at) = s.last_keepalive {
        o.fact("last_keepalive", fmt_at(at));
    }
    (lines, o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_api::devices::sip::SipCatalogView;
    use camwatch_core::outcome::ProbeStatus;

    const T0: i64 = 1_800_000_000;

    fn view(presence: &str, channel: Option<&str>) -> NodeView {
        NodeView {
            status: "online".into(),
            cause: None,
            sip: Some(SipView {
                peer: "34020000001320000001".into(),
                channel: channel.map(str::to_string),
                presence: presence.into(),
                offline_at: Some(T0 + 180),
                transport: Some("udp".into()),
                addr: Some("127.0.0.1:5061".into()),
                registered_at: Some(T0 - 100),
                expires_at: Some(T0 + 3500),
                last_keepalive: Some(T0),
                keepalive_interval_sec: 60,
                keepalive_misses: 3,
                missed_now: 0,
                catalog: Some(SipCatalogView {
                    at: T0 - 99,
                    channels: 4,
                    announced: 4,
                    pages: 2,
                    complete: true,
                }),
                device_info: None,
                recording: None,
                stored_at: None,
            }),
        }
    }

    #[test]
    fn a_registered_device_is_explained_and_up() {
        let (lines, o) = explain(&view("online", None), T0 + 30);
        let text = lines.join("\n");
        assert!(
            text.contains("registration: registered over udp from 127.0.0.1:5061"),
            "{text}"
        );
        assert!(
            text.contains("last keepalive at 2027-01-15T08:00:00Z (30 s ago)"),
            "{text}"
        );
        assert!(
            text.contains("expected every 60 s, offline after 3 missed"),
            "{text}"
        );
        assert!(text.contains("catalog: complete at"), "{text}");
        assert!(text.contains("4 of 4 channel(s) in 2 message(s)"), "{text}");
        assert_eq!(o.status, ProbeStatus::Up);
    }

    #[test]
    fn stopped_keepalives_name_the_last_one() {
        let (lines, o) = explain(&view("keepalive_lost", None), T0 + 4000);
        let text = lines.join("\n");
        assert!(
            text.contains("KEEPALIVES STOPPED: offline since 2027-01-15T08:03:00Z"),
            "{text}"
        );
        assert!(
            text.contains("last keepalive at 2027-01-15T08:00:00Z (1 h 6 min ago)"),
            "{text}"
        );
        assert_eq!(o.status, ProbeStatus::Down);
        assert_eq!(o.failure, Some(FailureKind::NoAnswer));
    }

    /// Facts stored before the node's restart are history: not registered now, down.
    #[test]
    fn facts_from_before_a_restart_are_no_registration() {
        let mut v = view("never_registered", None);
        v.sip.as_mut().unwrap().stored_at = Some(T0 + 10);
        let (lines, o) = explain(&v, T0 + 600);
        let text = lines.join("\n");
        assert!(
            text.contains("NOT REGISTERED since the node started; before its restart (facts stored 2027-01-15T08:00:10Z): registered over udp from 127.0.0.1:5061"),
            "{text}"
        );
        assert!(
            text.contains("last keepalive at 2027-01-15T08:00:00Z"),
            "{text}"
        );
        assert_eq!(o.status, ProbeStatus::Down);
    }

    #[test]
    fn a_channel_reported_off_is_down_under_a_live_parent() {
        let (lines, o) = explain(&view("online", Some("off")), T0);
        assert!(lines.join("\n").contains("lists it with Status OFF"));
        assert_eq!(o.status, ProbeStatus::Down);
        let (_, o) = explain(&view("online", Some("on")), T0);
        assert_eq!(o.status, ProbeStatus::Up);
    }

    #[test]
    fn unheard_of_is_down() {
        let v = NodeView {
            status: "unknown".into(),
            cause: None,
            sip: None,
        };
        let (lines, o) = explain(&v, T0);
        assert!(lines.join("\n").contains("has not heard of it"));
        assert_eq!(o.status, ProbeStatus::Down);
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(ago(5), "5 s");
        assert_eq!(ago(125), "2 min 5 s");
        assert_eq!(ago(7300), "2 h 1 min");
        assert_eq!(ago(-3), "0 s");
    }
}
