//! What one probe of one channel found. A dead camera is an outcome (`Down` + `FailureKind`),
//! never an `Err`: `Err` is reserved for misconfiguration or bugs in the caller.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::quality::FaultSet;

/// The verdict of one probe.
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
pub enum ProbeStatus {
    /// Answered correctly within the deadline.
    Up,
    /// Answered, but something is wrong that does not make it unusable (slow stream, clock drift,
    /// packet loss, picture faults).
    Degraded,
    /// Not usable: see the `FailureKind`.
    Down,
}
crate::text_enum!(ProbeStatus, "probe status");

/// Why a probe failed. Stored as text (`as_str`); the set is closed.
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
pub enum FailureKind {
    /// Name did not resolve, or no route to the host.
    DnsOrRoute,
    /// TCP RST: nothing listens on the port (device off, service down).
    ConnectionRefused,
    /// TCP handshake did not complete within the deadline.
    ConnectTimeout,
    /// Connected, but the peer never answered (the "black hole").
    NoAnswer,
    Tls,
    /// 401 after sending credentials (wrong password, locked account).
    AuthFailed,
    /// RTSP status other than 200 and other than the specific ones below.
    RtspStatus,
    /// RTSP 404 / stream path unknown.
    StreamNotFound,
    /// A SIP request of ours refused with a final status of 300 or more (a GB/T 28181 INVITE
    /// for live video).
    SipStatus,
    /// PLAY succeeded but no media (or no keyframe) arrived within the deadline.
    NoMedia,
    /// The peer's reply could not be parsed (garbage, truncated, wrong CSeq, oversized).
    MalformedReply,
    /// ONVIF answered with a SOAP fault other than NotAuthorized.
    SoapFault,
    /// HTTP status other than 200 and 401.
    HttpStatus,
    /// A snapshot that is not a decodable JPEG of plausible size.
    BadImage,
    /// The whole probe did not finish within its hard deadline.
    Deadline,
    /// Anything else (I/O error mid-exchange, connection reset).
    Io,
}
crate::text_enum!(FailureKind, "failure kind");

/// Which protocol produced an outcome.
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
pub enum ProbeKind {
    Tcp,
    Rtsp,
    Onvif,
    Snapshot,
    Sip,
}
crate::text_enum!(ProbeKind, "probe kind");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    pub step: String,
    pub elapsed_ms: f64,
}

/// The result of one probe of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    pub kind: ProbeKind,
    pub status: ProbeStatus,
    pub failure: Option<FailureKind>,
    /// Human-readable detail, including the server's own words (status line, SOAP fault text)
    /// where there are any. Never contains credentials.
    pub detail: String,
    pub steps: Vec<StepTiming>,
    /// Total wall time of the probe.
    pub elapsed_ms: f64,
    /// What the probe learned (codec, resolution, fps, vendor, clock drift, …) as key/value,
    /// for people (`camwatch probe`, the "why" view). Code reads the typed fields below.
    pub facts: Vec<(String, String)>,
    /// The picture diagnostics' verdict on the sampled frame (set by the monitor once the frame
    /// is diagnosed; `None` when no frame was diagnosed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureVerdict>,
    /// What an ONVIF probe learnt (as far as it got).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onvif: Option<OnvifFacts>,
    /// The parent whose outage this failure is, when the probe itself knows it (GB/T 28181
    /// signalling: a channel of a lower platform that has gone offline). The monitor blames the
    /// parent for it even before its own probes confirm the parent down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_down: Option<crate::registry::DeviceCode>,
    /// A sampled picture, when the probe fetched one (snapshot JPEG or an encoded keyframe).
    #[serde(skip)]
    pub frame: Option<Frame>,
    /// What the device's parent itself says of the picture, where no picture is sampled: a
    /// GB/T 28181 channel whose parent reported VLOST or DEFECT (or nothing wrong). The monitor
    /// feeds it to picture confirmation with the liveness outcome that carries it.
    #[serde(skip)]
    pub reported_picture: Option<crate::health::PictureSample>,
}

/// The diagnostics' verdict on one sampled picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PictureVerdict {
    /// Faults found in this picture alone (empty: normal). `frozen` needs the previous sample
    /// and is added by picture confirmation, not here.
    pub faults: FaultSet,
    /// Findings of a camera with no approved baseline whose cue a healthy scene shows too
    /// (`quality::Diagnosis::suspects`): for review, never confirmed or counted as faults.
    #[serde(default)]
    pub suspects: FaultSet,
    /// A fingerprint of the picture without its OSD rows (`quality::fingerprint`).
    pub fingerprint: u64,
    /// The picture's summary for `frozen` (`quality::Still`), compared with the next sample's.
    #[serde(skip)]
    pub still: Option<crate::quality::Still>,
}

/// Device facts from ONVIF (each `None` when the device did not say, or the probe stopped
/// before asking).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnvifFacts {
    /// The camera's clock minus ours, seconds (positive: the camera is ahead).
    pub clock_drift_sec: Option<i64>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub profiles: Option<usize>,
    /// The first profile's resolution, `WxH`.
    pub resolution: Option<String>,
    pub stream_uri: Option<String>,
    pub snapshot_uri: Option<String>,
}

/// Bytes of one sampled picture, as received.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Jpeg(bytes::Bytes),
    /// One H.264 access unit in Annex B form, SPS/PPS included.
    H264(bytes::Bytes),
    /// One H.265 access unit in Annex B form, VPS/SPS/PPS included.
    H265(bytes::Bytes),
}

impl ProbeOutcome {
    pub fn up(kind: ProbeKind) -> Self {
        Self {
            kind,
            status: ProbeStatus::Up,
            failure: None,
            detail: String::new(),
            steps: Vec::new(),
            elapsed_ms: 0.0,
            facts: Vec::new(),
            picture: None,
            onvif: None,
            parent_down: None,
            frame: None,
            reported_picture: None,
        }
    }
    pub fn down(kind: ProbeKind, failure: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            status: ProbeStatus::Down,
            failure: Some(failure),
            detail: detail.into(),
            ..Self::up(kind)
        }
    }
    pub fn step(&mut self, step: &str, elapsed: Duration) {
        self.steps.push(StepTiming {
            step: step.to_string(),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        });
    }
    pub fn fact(&mut self, key: &str, value: impl ToString) {
        self.facts.push((key.to_string(), value.to_string()));
    }
}
