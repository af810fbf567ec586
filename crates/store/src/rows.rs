//! Conversions between `Device` and its column values, shared by both backends.

use std::collections::BTreeMap;

use jiff::civil::Date;

use camwatch_core::error::{Error, Result};
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_core::secret::SecretKey;

/// A device flattened to column values, in `COLUMNS` order.
pub(crate) struct DeviceColumns {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub parent_code: Option<String>,
    pub ip: Option<String>,
    pub rtsp_port: Option<i64>,
    pub http_port: Option<i64>,
    pub stream_urls: String,
    pub onvif_url: Option<String>,
    pub snapshot_url: Option<String>,
    pub username: Option<String>,
    pub password_sealed: Option<String>,
    pub civil_code: Option<String>,
    pub police_station: Option<String>,
    pub address: Option<String>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub place_type: Option<String>,
    pub build_type: Option<String>,
    pub build_date: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub resolution: Option<String>,
    pub maintainer: Option<String>,
    pub maintainer_contact: Option<String>,
    pub maintainer_phone: Option<String>,
    pub monthly_fee_fen: Option<i64>,
    pub monthly_link_fee_fen: Option<i64>,
    pub contract_from: Option<String>,
    pub contract_to: Option<String>,
    pub tags: String,
    pub extra: String,
}

/// Column names in the order `DeviceColumns` binds them (without `updated_at`).
pub(crate) const COLUMNS: [&str; 32] = [
    "code",
    "name",
    "kind",
    "parent_code",
    "ip",
    "rtsp_port",
    "http_port",
    "stream_urls",
    "onvif_url",
    "snapshot_url",
    "username",
    "password_sealed",
    "civil_code",
    "police_station",
    "address",
    "longitude",
    "latitude",
    "place_type",
    "build_type",
    "build_date",
    "vendor",
    "model",
    "resolution",
    "maintainer",
    "maintainer_contact",
    "maintainer_phone",
    "monthly_fee_fen",
    "monthly_link_fee_fen",
    "contract_from",
    "contract_to",
    "tags",
    "extra",
];

impl DeviceColumns {
    pub fn from_device(d: &Device, key: &SecretKey) -> Self {
        let code = d.code.to_string();
        Self {
            password_sealed: d.password.as_ref().map(|p| key.seal(&code, p)),
            code,
            name: d.name.clone(),
            kind: d.kind.as_str(),
            parent_code: d.parent.map(|p| p.to_string()),
            ip: d.ip.map(|ip| ip.to_string()),
            rtsp_port: d.rtsp_port.map(i64::from),
            http_port: d.http_port.map(i64::from),
            stream_urls: serde_json::to_string(&d.stream_urls).expect("strings serialise"),
            onvif_url: d.onvif_url.clone(),
            snapshot_url: d.snapshot_url.clone(),
            username: d.username.clone(),
            civil_code: d.civil_code.clone(),
            police_station: d.police_station.clone(),
            address: d.address.clone(),
            longitude: d.longitude,
            latitude: d.latitude,
            place_type: d.place_type.clone(),
            build_type: d.build_type.clone(),
            build_date: d.build_date.map(|x| x.to_string()),
            vendor: d.vendor.clone(),
            model: d.model.clone(),
            resolution: d.resolution.clone(),
            maintainer: d.maintainer.clone(),
            maintainer_contact: d.maintainer_contact.clone(),
            maintainer_phone: d.maintainer_phone.clone(),
            monthly_fee_fen: d.monthly_fee_fen,
            monthly_link_fee_fen: d.monthly_link_fee_fen,
            contract_from: d.contract_from.map(|x| x.to_string()),
            contract_to: d.contract_to.map(|x| x.to_string()),
            tags: serde_json::to_string(&d.tags).expect("strings serialise"),
            extra: serde_json::to_string(&d.extra).expect("strings serialise"),
        }
    }

    pub fn into_device(self, key: &SecretKey) -> Result<Device> {
        let bad = |what: &str, v: &str| {
            Error::internal(format!(
                "stored device {}: column {what} holds an invalid value {v:?}",
                self.code
            ))
        };
        let code: DeviceCode = self.code.parse().map_err(|_| bad("code", &self.code))?;
        let parse_date = |col: &str, v: &Option<String>| -> Result<Option<Date>> {
            v.as_deref()
                .map(|s| s.parse::<Date>().map_err(|_| bad(col, s)))
                .transpose()
        };
        let port = |col: &str, v: Option<i64>| -> Result<Option<u16>> {
            v.map(|p| u16::try_from(p).map_err(|_| bad(col, &p.to_string())))
                .transpose()
        };
        let password = match &self.password_sealed {
            Some(s) => Some(key.open(&self.code, s).map_err(|e| {
                Error::internal(format!("stored device {}: password: {e}", self.code))
            })?),
            None => None,
        };
        Ok(Device {
            code,
            name: self.name.clone(),
            kind: self.kind.parse().map_err(|_| bad("kind", self.kind))?,
            parent: self
                .parent_code
                .as_deref()
                .map(|p| p.parse().map_err(|_| bad("parent_code", p)))
                .transpose()?,
            ip: self
                .ip
                .as_deref()
                .map(|ip| ip.parse().map_err(|_| bad("ip", ip)))
                .transpose()?,
            rtsp_port: port("rtsp_port", self.rtsp_port)?,
            http_port: port("http_port", self.http_port)?,
            stream_urls: serde_json::from_str(&self.stream_urls)
                .map_err(|_| bad("stream_urls", &self.stream_urls))?,
            onvif_url: self.onvif_url.clone(),
            snapshot_url: self.snapshot_url.clone(),
            username: self.username.clone(),
            password,
            civil_code: self.civil_code.clone(),
            police_station: self.police_station.clone(),
            address: self.address.clone(),
            longitude: self.longitude,
            latitude: self.latitude,
            place_type: self.place_type.clone(),
            build_type: self.build_type.clone(),
            build_date: parse_date("build_date", &self.build_date)?,
            vendor: self.vendor.clone(),
            model: self.model.clone(),
            resolution: self.resolution.clone(),
            maintainer: self.maintainer.clone(),
            maintainer_contact: self.maintainer_contact.clone(),
            maintainer_phone: self.maintainer_phone.clone(),
            monthly_fee_fen: self.monthly_fee_fen,
            monthly_link_fee_fen: self.monthly_link_fee_fen,
            contract_from: parse_date("contract_from", &self.contract_from)?,
            contract_to: parse_date("contract_to", &self.contract_to)?,
            tags: serde_json::from_str(&self.tags).map_err(|_| bad("tags", &self.tags))?,
            extra: serde_json::from_str::<BTreeMap<String, String>>(&self.extra)
                .map_err(|_| bad("extra", &self.extra))?,
        })
    }
}

/// `DeviceKind::from_str` needs an owned-free parse of a `&'static str` we produced ourselves.
pub(crate) fn kind_static(s: &str) -> Option<&'static str> {
    DeviceKind::ALL
        .into_iter()
        .map(DeviceKind::as_str)
        .find(|k| *k == s)
}

/// The columns `Store::list_devices_for_report` reads, in order.
pub const REPORT_COLUMNS: &str = "code, name, kind, parent_code, civil_code, maintainer, \
    monthly_fee_fen, monthly_link_fee_fen, contract_from, contract_to";

/// One register row as reports need it.
pub struct ReportRow<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub parent_code: Option<&'a str>,
    pub civil_code: Option<&'a str>,
    pub maintainer: Option<&'a str>,
    pub monthly_fee_fen: Option<i64>,
    pub monthly_link_fee_fen: Option<i64>,
    pub contract_from: Option<&'a str>,
    pub contract_to: Option<&'a str>,
}

impl ReportRow<'_> {
    pub fn into_device(self) -> Result<Device> {
        let bad = |what: &str, v: &str| {
            Error::internal(format!(
                "stored device {}: column {what} holds an invalid value {v:?}",
                self.code
            ))
        };
        let code: DeviceCode = self.code.parse().map_err(|_| bad("code", self.code))?;
        let date = |col: &str, v: Option<&str>| -> Result<Option<Date>> {
            v.map(|s| s.parse::<Date>().map_err(|_| bad(col, s)))
                .transpose()
        };
        let mut d = Device::new(code, self.name);
        d.kind = self.kind.parse().map_err(|_| bad("kind", self.kind))?;
        d.parent = self
            .parent_code
            .map(|p| p.parse().map_err(|_| bad("parent_code", p)))
            .transpose()?;
        d.civil_code = self.civil_code.map(str::to_string);
        d.maintainer = self.maintainer.map(str::to_string);
        d.monthly_fee_fen = self.monthly_fee_fen;
        d.monthly_link_fee_fen = self.monthly_link_fee_fen;
        d.contract_from = date("contract_from", self.contract_from)?;
        d.contract_to = date("contract_to", self.contract_to)?;
        Ok(d)
    }
}
