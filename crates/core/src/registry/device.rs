//! One register record per video channel ("一机一档").

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::code::{CodeType, DeviceCode};
use crate::secret::Password;

/// What kind of equipment a record describes. Stored as text (`as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// An IP camera answering on its own address.
    Camera,
    /// One channel of an NVR/DVR/encoder: reached through the parent's address.
    Channel,
    Nvr,
    Dvr,
    Encoder,
    /// A lower-level platform feeding channels (GB/T 28181 cascade).
    Platform,
    Other,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 7] = [
        Self::Camera,
        Self::Channel,
        Self::Nvr,
        Self::Dvr,
        Self::Encoder,
        Self::Platform,
        Self::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Channel => "channel",
            Self::Nvr => "nvr",
            Self::Dvr => "dvr",
            Self::Encoder => "encoder",
            Self::Platform => "platform",
            Self::Other => "other",
        }
    }
    /// Parents hold channels; they are monitored but not counted as camera points.
    pub fn is_parent(self) -> bool {
        matches!(self, Self::Nvr | Self::Dvr | Self::Encoder | Self::Platform)
    }
    /// The kind a code's type digits imply, when a source file does not say.
    pub fn from_code(code: &DeviceCode, has_parent: bool) -> Self {
        match code.type_kind() {
            CodeType::Nvr | CodeType::Hvr => Self::Nvr,
            CodeType::Dvr => Self::Dvr,
            CodeType::Encoder | CodeType::VideoServer => Self::Encoder,
            CodeType::Platform | CodeType::CentreServer => Self::Platform,
            CodeType::Camera | CodeType::NetworkCamera if has_parent => Self::Channel,
            CodeType::Camera | CodeType::NetworkCamera => Self::Camera,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown device kind {s:?} (expected one of: {})",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

/// A camera register record. Money is in fen (0.01 yuan) so sums are exact.
///
/// `password` is clear text in memory only; the store seals it (see `secret`).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub code: DeviceCode,
    pub name: String,
    pub kind: DeviceKind,
    pub parent: Option<DeviceCode>,
    pub ip: Option<IpAddr>,
    pub rtsp_port: Option<u16>,
    pub http_port: Option<u16>,
    /// Main stream first, then sub-streams. Never carries credentials.
    pub stream_urls: Vec<String>,
    pub onvif_url: Option<String>,
    pub snapshot_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Password>,
    /// 行政区划: 6-digit administrative division code (or more digits for finer units).
    pub civil_code: Option<String>,
    /// 所属派出所
    pub police_station: Option<String>,
    pub address: Option<String>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    /// 监控点位类型 / 摄像机位置类型
    pub place_type: Option<String>,
    pub build_type: Option<String>,
    pub build_date: Option<Date>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub resolution: Option<String>,
    /// 运维单位: the maintenance contractor.
    pub maintainer: Option<String>,
    pub maintainer_contact: Option<String>,
    pub maintainer_phone: Option<String>,
    pub monthly_fee_fen: Option<i64>,
    pub monthly_link_fee_fen: Option<i64>,
    pub contract_from: Option<Date>,
    pub contract_to: Option<Date>,
    pub tags: Vec<String>,
    /// Columns a source file carried that have no field of their own, by their original header.
    pub extra: BTreeMap<String, String>,
}

impl Device {
    /// A record with only the required fields; the kind follows from the code.
    pub fn new(code: DeviceCode, name: impl Into<String>) -> Self {
        Self {
            code,
            name: name.into(),
            kind: DeviceKind::from_code(&code, false),
            parent: None,
            ip: None,
            rtsp_port: None,
            http_port: None,
            stream_urls: Vec::new(),
            onvif_url: None,
            snapshot_url: None,
            username: None,
            password: None,
            civil_code: None,
            police_station: None,
            address: None,
            longitude: None,
            latitude: None,
            place_type: None,
            build_type: None,
            build_date: None,
            vendor: None,
            model: None,
            resolution: None,
            maintainer: None,
            maintainer_contact: None,
            maintainer_phone: None,
            monthly_fee_fen: None,
            monthly_link_fee_fen: None,
            contract_from: None,
            contract_to: None,
            tags: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// The region used for rollups and region scoping: the civil code if given, else the
    /// code's own 6-digit division.
    pub fn region(&self) -> &str {
        self.civil_code
            .as_deref()
            .unwrap_or_else(|| self.code.civil_code())
    }
}

/// Refuse URLs that carry `user:password@`: credentials belong in their own, encrypted fields.
pub fn check_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not an absolute URL (scheme://host/...)"
        ));
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        return Err(format!("{url:?} has an invalid scheme"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "URL carries credentials (user:password@host); put them in the username/password fields, which are encrypted at rest"
                .to_string(),
        );
    }
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_with_credentials_is_refused() {
        let e = check_url("rtsp://admin:12345@10.0.0.1/Streaming/Channels/101").unwrap_err();
        assert!(e.contains("credentials"), "{e}");
        assert!(
            !e.contains("12345"),
            "error must not echo the password: {e}"
        );
        check_url("rtsp://10.0.0.1:554/Streaming/Channels/101").unwrap();
        assert!(check_url("not a url").is_err());
        assert!(check_url("rtsp:///path").is_err());
    }

    #[test]
    fn kind_from_code() {
        let nvr: DeviceCode = "34020000001180000001".parse().unwrap();
        let cam: DeviceCode = "34020000001320000001".parse().unwrap();
        assert_eq!(DeviceKind::from_code(&nvr, false), DeviceKind::Nvr);
        assert_eq!(DeviceKind::from_code(&cam, false), DeviceKind::Camera);
        assert_eq!(DeviceKind::from_code(&cam, true), DeviceKind::Channel);
        for k in DeviceKind::ALL {
            assert_eq!(k.as_str().parse::<DeviceKind>().unwrap(), k);
        }
    }
}
