//! What one probe of one channel found. A dead camera is an outcome (`Down` + `FailureKind`),
//! never an `Err`: `Err` is reserved for misconfiguration or bugs in the caller.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    /// Answered correctly within the deadline.
    Up,
    /// Answered, but something is wrong that does not make it unusable (slow stream, clock drift,
    /// packet loss, picture faults).
    Degraded,
    /// Not usable: see the `FailureKind`.
    Down,
}

impl ProbeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// Why a probe failed. Stored as text (`as_str`); the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl FailureKind {
    pub const ALL: [FailureKind; 15] = [
        Self::DnsOrRoute,
        Self::ConnectionRefused,
        Self::ConnectTimeout,
        Self::NoAnswer,
        Self::Tls,
        Self::AuthFailed,
        Self::RtspStatus,
        Self::StreamNotFound,
        Self::NoMedia,
        Self::MalformedReply,
        Self::SoapFault,
        Self::HttpStatus,
        Self::BadImage,
        Self::Deadline,
        Self::Io,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DnsOrRoute => "dns_or_route",
            Self::ConnectionRefused => "connection_refused",
            Self::ConnectTimeout => "connect_timeout",
            Self::NoAnswer => "no_answer",
            Self::Tls => "tls",
            Self::AuthFailed => "auth_failed",
            Self::RtspStatus => "rtsp_status",
            Self::StreamNotFound => "stream_not_found",
            Self::NoMedia => "no_media",
            Self::MalformedReply => "malformed_reply",
            Self::SoapFault => "soap_fault",
            Self::HttpStatus => "http_status",
            Self::BadImage => "bad_image",
            Self::Deadline => "deadline",
            Self::Io => "io",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown failure kind {s:?}"))
    }
}

/// Which protocol produced an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Tcp,
    Rtsp,
    Onvif,
    Snapshot,
    Sip,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Rtsp => "rtsp",
            Self::Onvif => "onvif",
            Self::Snapshot => "snapshot",
            Self::Sip => "sip",
        }
    }
}

/// One timed step of a probe ("connect", "DESCRIBE", "SETUP", "PLAY", "first_frame", …).
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
    /// What the probe learned (codec, resolution, fps, vendor, clock drift, …) as key/value.
    pub facts: Vec<(String, String)>,
    /// A sampled picture, when the probe fetched one (snapshot JPEG or an encoded keyframe).
    #[serde(skip)]
    pub frame: Option<Frame>,
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
            frame: None,
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
