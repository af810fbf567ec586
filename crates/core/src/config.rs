//! `camwatch.toml`: every setting has a default, so no file is needed to start; a file that
//! names a key camwatch does not know is refused with the key named (typos must not silently
//! fall back to defaults when money depends on them).
//!
//! See `camwatch.example.toml` for the documented full form.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::quality::{Ramp, Thresholds};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub database: DatabaseConfig,
    pub secrets: SecretsConfig,
    pub scheduler: SchedulerConfig,
    pub quality: QualityConfig,
    pub contract: ContractConfig,
    pub workorders: WorkOrdersConfig,
    /// Notification targets of work orders (webhook, DingTalk, WeCom, an HTTP template): kept
    /// as a table here and checked by the notifier (`camwatch-notify`), which owns its form.
    pub notify: toml::Table,
    pub log: LogConfig,
    pub api: ApiConfig,
    pub gb28181: Gb28181Config,
    pub console: ConsoleConfig,
    pub node: NodeConfig,
    pub patrol: PatrolConfig,
    pub retention: RetentionConfig,
}

/// `serve` as one of several nodes on one PostgreSQL database (docs/nodes.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's name (shown by `camwatch nodes`); empty (the default): not a node, the one
    /// monitor of its database.
    pub name: String,
    /// How often the node renews its shard leases and re-plans which shards it holds.
    pub heartbeat_sec: u64,
    /// A lease not renewed for this long may be taken by another node; a node silent this
    /// long is dead, its open spans closed at its last heartbeat. At least 3 heartbeats.
    pub lease_ttl_sec: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            heartbeat_sec: 10,
            lease_ttl_sec: 30,
        }
    }
}

/// How long history is kept, and where it goes before it is dropped (docs/nodes.md, "Data at
/// scale"). Status spans and audit entries are kept by whole UTC months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Months of status spans and audit entries kept before the current one: the contract's
    /// audit period (tenders: three years). A span is kept by the month it ended in.
    pub months: u32,
    /// Where a month past `months` is exported (CSV with SHA-256 sums) before it is dropped,
    /// once a day by the node holding the `retention` duty. Empty (the default): nothing is
    /// ever dropped automatically; `camwatch archive` does it by hand.
    pub archive_dir: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            months: 36,
            archive_dir: String::new(),
        }
    }
}

/// Patrol (巡检): the daily rotation through the fleet that operators confirm by eye
/// (`camwatch_core::patrol`). Working days are the contract's calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatrolConfig {
    /// Offer the patrol page and its API (the report's patrol section is made either way
    /// when records exist).
    pub enabled: bool,
    /// Channels a working day's batch holds at least (tenders: "200 channels per working
    /// day"), when the fleet has that many.
    pub daily_quota: u32,
    /// Every channel comes round within this many working days.
    pub cycle_days: u32,
}

impl Default for PatrolConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            daily_quota: 200,
            cycle_days: 20,
        }
    }
}

impl NodeConfig {
    /// Several nodes: a name is set.
    pub fn enabled(&self) -> bool {
        !self.name.trim().is_empty()
    }
}

impl PatrolConfig {
    /// The plan's rules.
    pub fn rules(&self) -> crate::patrol::PlanRules {
        crate::patrol::PlanRules {
            quota: self.daily_quota,
            cycle_days: self.cycle_days,
        }
    }
}

/// The web console's map (`camwatch-api`'s console and map modules): where its tiles come
/// from and which coordinate systems the register and the tiles use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A tile server's URL template (`http://tiles.internal/{z}/{x}/{y}.png`, `{s}` allowed);
    /// empty (the default): no tiles, the map draws a grid.
    pub tiles: String,
    /// The attribution line the tile server asks for.
    pub tiles_attribution: String,
    /// The coordinate system of the register's longitude and latitude.
    pub register_crs: Crs,
    /// The coordinate system of the tiles (天地图: wgs84; most Chinese web maps: gcj02).
    pub tiles_crs: Crs,
}

/// A geographic coordinate system found in Chinese registers and tile servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// WGS-84 (GPS, 天地图, PGIS).
    #[default]
    Wgs84,
    /// GCJ-02 (the national "Mars" datum of most web maps).
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

impl Crs {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wgs84 => "wgs84",
            Self::Gcj02 => "gcj02",
            Self::Bd09 => "bd09",
        }
    }
}

impl ConsoleConfig {
    /// The tile server's origin (`scheme://host[:port]`), for the console's
    /// Content-Security-Policy; `None` without tiles.
    pub fn tiles_origin(&self) -> Option<String> {
        let t = self.tiles.trim();
        let rest = t
            .strip_prefix("http://")
            .map(|r| ("http", r))
            .or_else(|| t.strip_prefix("https://").map(|r| ("https", r)))?;
        // `{s}.tiles.internal` (subdomains a, b, c…) is the CSP wildcard `*.tiles.internal`.
        let host = rest.1.split('/').next().unwrap_or("").replace("{s}.", "*.");
        (!host.is_empty()).then(|| format!("{}://{host}", rest.0))
    }

    fn check(&self) -> std::result::Result<(), String> {
        let t = self.tiles.trim();
        if t.is_empty() {
            return Ok(());
        }
        let host = self
            .tiles_origin()
            .ok_or("expected an http:// or https:// URL template")?;
        if host.contains(['{', '}', ' ', '\'', '"', ';', ',']) {
            return Err(format!(
                "{t:?}: the host must be a plain host name or address"
            ));
        }
        for part in ["{z}", "{x}", "{y}"] {
            if !t.contains(part) {
                return Err(format!("{t:?}: the template has no {part}"));
            }
        }
        Ok(())
    }
}

/// GB/T 28181: camwatch as the SIP platform that devices, NVRs and lower platforms register to
/// (`camwatch-gb28181`), run by `serve`. Off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gb28181Config {
    pub enabled: bool,
    /// Where to receive SIP over UDP and over TCP.
    pub udp_listen: String,
    pub tcp_listen: String,
    /// camwatch's own 20-digit SIP ID, and the SIP domain (also the digest realm).
    pub id: String,
    pub domain: String,
    /// The password of devices without one of their own in the register, sealed with the data
    /// key (`v1:…`, as `camwatch gb28181 seal-password` prints it); empty: none. A device's own
    /// password is the register's (stored sealed).
    pub shared_password: String,
    /// What to do with a device that registers but is not in the register (it is recorded for
    /// review either way).
    pub unknown_devices: UnknownDevices,
    /// Keepalive interval and how many may be missed before a device is offline.
    pub keepalive_interval_sec: u32,
    pub keepalive_misses: u32,
    /// The lifetime asked for the catalog subscription (SUBSCRIBE, `Event: Catalog`) made to
    /// every peer that registers, refreshed before it ends; 0: no subscriptions. At least 60.
    pub catalog_subscription_sec: u32,
    /// How often every registered peer is asked for its DeviceStatus (recording health:
    /// `Record`, `Encode`, `Status`), each gap jittered by up to 10 %; the first, with
    /// DeviceInfo, within a minute of its registration. 0: never. At least 60.
    pub device_status_sec: u32,
    /// DeviceStatus queries waiting for their answer at once (the rest wait their turn).
    pub device_status_at_once: usize,
    /// Sample the picture of channels reachable only over GB/T 28181 (no RTSP or snapshot URL
    /// of their own) by INVITE: live video over RTP/PS to the first keyframe, then BYE, as
    /// their picture probe (`[scheduler] picture_interval_sec`).
    pub picture_invites: bool,
    /// Picture INVITEs at once through one peer (a lower platform, an NVR, a camera).
    pub invite_per_platform: usize,
    /// The address offered for RTP in the INVITE's SDP; empty: the local address that routes
    /// to the peer (what a UDP socket connected to it is given).
    pub media_ip: String,
    /// How long an INVITE may wait for its answer, then how long for the first keyframe.
    pub invite_answer_sec: u64,
    pub media_timeout_sec: u64,
    /// How picture INVITEs ask for media: RTP over UDP, or RTP over TCP (RFC 4571) with the
    /// device connecting to camwatch (`tcp_passive`) or camwatch to the device (`tcp_active`).
    pub media_transport: GbMediaTransport,
    /// The same per peer the INVITE goes through (a device, NVR or lower platform), by its
    /// 20-digit ID; peers not named use `media_transport`.
    pub media_transport_peers: BTreeMap<String, GbMediaTransport>,
    /// The time zone of the `Date` header in the 200 to a REGISTER, by which devices set their
    /// clocks (GB/T 28181 writes it as local time without a zone: `2026-12-05T20:34:56.789`).
    pub time_zone: String,
}

/// How a GB/T 28181 picture INVITE asks for media (`[gb28181] media_transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GbMediaTransport {
    /// RTP datagrams to a port of camwatch's.
    #[default]
    Udp,
    /// RTP over TCP; camwatch listens, the device connects.
    TcpPassive,
    /// RTP over TCP; camwatch connects to the port of the device's answer.
    TcpActive,
}

impl Default for Gb28181Config {
    fn default() -> Self {
        Self {
            enabled: false,
            udp_listen: "0.0.0.0:5060".into(),
            tcp_listen: "0.0.0.0:5060".into(),
            id: "34020000002000000001".into(),
            domain: "3402000000".into(),
            shared_password: String::new(),
            unknown_devices: UnknownDevices::Refuse,
            keepalive_interval_sec: 60,
            keepalive_misses: 3,
            catalog_subscription_sec: 3600,
            device_status_sec: 600,
            device_status_at_once: 64,
            picture_invites: true,
            invite_per_platform: 4,
            media_ip: String::new(),
            invite_answer_sec: 4,
            media_timeout_sec: 5,
            media_transport: GbMediaTransport::Udp,
            media_transport_peers: BTreeMap::new(),
            time_zone: "Asia/Shanghai".into(),
        }
    }
}

/// What the GB/T 28181 platform does with a device that is not in the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownDevices {
    /// Record it and let it register with the shared password.
    Accept,
    /// Record it and answer 403.
    #[default]
    Refuse,
}

/// The HTTP API (`camwatch-api`), served by `serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The address to listen on, e.g. `127.0.0.1:8080`; empty (the default): no API.
    pub listen: String,
    /// Mark the session cookie `Secure`: set when clients reach the API over TLS (a proxy).
    pub secure_cookie: bool,
    /// Serve `/metrics` without authentication (for a scraper on a private network); by
    /// default it needs an unscoped user's session or API token.
    pub metrics_open: bool,
    /// Serve HTTPS with this PEM certificate chain (with `tls_key`); empty: plain HTTP. The
    /// session cookie is then `Secure` whatever `secure_cookie` says.
    pub tls_cert: String,
    /// The PEM private key of `tls_cert`.
    pub tls_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Holds the SQLite database, the key file, logs, evidence frames and reports.
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data"),
        }
    }
}

/// The default of `[database] write_buffer_max`: about 100 MB of changes, ten for each of
/// 100,000 channels (one node's share of 300,000), which covers hours of the database away.
pub const WRITE_BUFFER_MAX: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://<data.dir>/camwatch.db`.
    pub url: String,
    /// Status changes the monitor keeps in memory while the database is away (restarted, out
    /// of reach); beyond them the record ends at the first change dropped (`unknown`) and
    /// resumes with the live status when the database is back.
    pub write_buffer_max: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            write_buffer_max: WRITE_BUFFER_MAX,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The 32-byte key sealing camera passwords; empty means `<data.dir>/secret.key`.
    /// `CAMWATCH_SECRET_KEY` (64 hex digits) overrides the file.
    pub key_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Liveness probe (RTSP DESCRIBE, else TCP connect) interval per device.
    pub liveness_interval_sec: u64,
    /// Picture probe (snapshot, else one RTSP keyframe) interval per device.
    pub picture_interval_sec: u64,
    /// ONVIF facts (clock, firmware) interval per device.
    pub onvif_interval_sec: u64,
    /// Failures needed to declare a device offline…
    pub confirm_failures: u32,
    /// …spread over at least this long.
    pub confirm_window_sec: u64,
    /// Probes in flight at once, all devices.
    pub max_in_flight: usize,
    /// Probes in flight at once against one host (an NVR serving many channels).
    pub max_per_host: usize,
    /// Hard deadline of one probe.
    pub deadline_ms: u64,
    /// Device groups with their own intervals (first match wins), e.g. a district's cameras
    /// probed every 2 minutes, or NVR-behind channels hourly.
    pub groups: Vec<GroupConfig>,
}

/// A device group: which devices (every given condition must hold) and its intervals (unset:
/// the fleet's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    pub name: String,
    /// Civil code (行政区划) prefix.
    pub region_prefix: Option<String>,
    /// Exact maintenance contractor name.
    pub maintainer: Option<String>,
    pub liveness_interval_sec: Option<u64>,
    pub picture_interval_sec: Option<u64>,
    pub onvif_interval_sec: Option<u64>,
    /// Picture-diagnostic ramps for this group, over the fleet's (`[quality.thresholds]`),
    /// e.g. `too_dark = { zero = 60.0, one = 30.0 }` for tunnel cameras.
    pub thresholds: BTreeMap<String, Ramp>,
}

/// Picture diagnostics (`[quality]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Picture samples in a row that must show a fault before it is confirmed.
    pub confirm_samples: u32,
    /// Evidence frames kept per device (oldest removed first).
    pub evidence_keep: usize,
    /// Days an evidence frame is kept (0: no age limit, only `evidence_keep`).
    pub evidence_days: u32,
    /// Per-kind ramps over the built-in ones: `kind = { zero = …, one = … }`, where `zero` is the
    /// metric at which the score starts to rise and `one` where it is a certain fault.
    pub thresholds: BTreeMap<String, Ramp>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            confirm_samples: 2,
            evidence_keep: 5,
            evidence_days: 90,
            thresholds: BTreeMap::new(),
        }
    }
}

impl QualityConfig {
    /// The fleet's thresholds: the built-in ones with `[quality.thresholds]` applied.
    pub fn fleet_thresholds(&self) -> Thresholds {
        Thresholds::default()
            .with_overrides(&self.thresholds)
            .unwrap_or_default()
    }

    /// A group's thresholds: the fleet's with the group's applied.
    pub fn group_thresholds(&self, g: &GroupConfig) -> Thresholds {
        let fleet = self.fleet_thresholds();
        fleet.with_overrides(&g.thresholds).unwrap_or(fleet)
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            liveness_interval_sec: 300,
            picture_interval_sec: 3600,
            onvif_interval_sec: 86_400,
            confirm_failures: 3,
            confirm_window_sec: 60,
            max_in_flight: 512,
            max_per_host: 4,
            deadline_ms: 10_000,
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContractConfig {
    /// Contract rules file used by reports when `--contract` is not given.
    pub file: String,
}

/// Fault work orders: when a fault opens one, who gets it, when it closes by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkOrdersConfig {
    /// Open work orders from the monitor's faults (`serve`, `demo`).
    pub enabled: bool,
    /// An outage opens an order once it has lasted this long (clock seconds).
    pub grace_sec: u64,
    /// Outages of one region starting within `region_window_sec` of one another that make one
    /// region order instead of one each; 0: never.
    pub region_min_devices: usize,
    pub region_window_sec: u64,
    /// Close an order by itself once its fault has stayed away this long, if nobody has
    /// reported a repair yet (clock seconds); 0: never, a person closes every order.
    pub auto_close_after_sec: u64,
    /// How long the re-probe after a reported repair may take before it counts as not verified.
    pub verify_timeout_sec: u64,
    /// Who maintains a region's devices when the register names no maintainer (first match).
    pub assign: Vec<AssignRule>,
}

impl Default for WorkOrdersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            grace_sec: 600,
            region_min_devices: 0,
            region_window_sec: 120,
            auto_close_after_sec: 0,
            verify_timeout_sec: 120,
            assign: Vec::new(),
        }
    }
}

/// `[[workorders.assign]]`: devices whose civil code starts with `region_prefix` go to
/// `contractor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRule {
    pub region_prefix: String,
    pub contractor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `camwatch=debug,sqlx=warn`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
        }
    }
}

impl Config {
    /// Parses `text` (from `origin`, named in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let cfg: Config =
            toml::from_str(text).map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<()> {
        if let Err(e) = self.console.check() {
            return Err(Error::invalid(format!("{origin}: console.tiles: {e}")));
        }
        let s = &self.scheduler;
        let bad =
            |k: &str, why: &str| Err(Error::invalid(format!("{origin}: scheduler.{k}: {why}")));
        if s.liveness_interval_sec == 0 {
            return bad("liveness_interval_sec", "must be at least 1");
        }
        if s.picture_interval_sec == 0 {
            return bad("picture_interval_sec", "must be at least 1");
        }
        if s.onvif_interval_sec == 0 {
            return bad("onvif_interval_sec", "must be at least 1");
        }
        if s.confirm_failures == 0 {
            return bad("confirm_failures", "must be at least 1");
        }
        if s.max_in_flight == 0 || s.max_per_host == 0 {
            return bad("max_in_flight/max_per_host", "must be at least 1");
        }
        if s.deadline_ms < 100 {
            return bad("deadline_ms", "must be at least 100");
        }
        for (i, g) in s.groups.iter().enumerate() {
            let at = |k: &str| format!("groups[{i}] ({}).{k}", g.name);
            if g.region_prefix.is_none() && g.maintainer.is_none() {
                return bad(
                    &at("region_prefix"),
                    "a group needs region_prefix or maintainer",
                );
            }
            if let Err(e) = Thresholds::default().with_overrides(&g.thresholds) {
                return bad(&at("thresholds"), &e);
            }
            for (k, v) in [
                ("liveness_interval_sec", g.liveness_interval_sec),
                ("picture_interval_sec", g.picture_interval_sec),
                ("onvif_interval_sec", g.onvif_interval_sec),
            ] {
                if v == Some(0) {
                    return bad(&at(k), "must be at least 1");
                }
            }
        }
        let pa = &self.patrol;
        if pa.daily_quota == 0 || pa.cycle_days == 0 {
            return Err(Error::invalid(format!(
                "{origin}: patrol.daily_quota/cycle_days: must be at least 1"
            )));
        }
        if self.retention.months == 0 {
            return Err(Error::invalid(format!(
                "{origin}: retention.months: must be at least 1 (the month before this one is \
                 what monthly reports read)"
            )));
        }
        let q = &self.quality;
        if q.confirm_samples == 0 {
            return Err(Error::invalid(format!(
                "{origin}: quality.confirm_samples: must be at least 1"
            )));
        }
        if let Err(e) = Thresholds::default().with_overrides(&q.thresholds) {
            return Err(Error::invalid(format!("{origin}: quality.thresholds: {e}")));
        }
        let gb = &self.gb28181;
        let digits = |v: &str, n: usize| v.len() == n && v.bytes().all(|b| b.is_ascii_digit());
        if !digits(&gb.id, 20) {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.id: expected a 20-digit GB/T 28181 ID, got {:?}",
                gb.id
            )));
        }
        if gb.domain.trim().is_empty() {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.domain: must not be empty"
            )));
        }
        if gb.keepalive_interval_sec == 0 || gb.keepalive_misses == 0 {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.keepalive_interval_sec/keepalive_misses: must be at least 1"
            )));
        }
        if (1..60).contains(&gb.catalog_subscription_sec) {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.catalog_subscription_sec: 0 (none) or at least 60, not {}",
                gb.catalog_subscription_sec
            )));
        }
        if (1..60).contains(&gb.device_status_sec) || gb.device_status_at_once == 0 {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.device_status_sec: 0 (never) or at least 60, not {}; \
                 device_status_at_once: at least 1",
                gb.device_status_sec
            )));
        }
        if gb.invite_per_platform == 0 || gb.invite_answer_sec == 0 || gb.media_timeout_sec == 0 {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.invite_per_platform/invite_answer_sec/media_timeout_sec: must be at least 1"
            )));
        }
        if !gb.media_ip.trim().is_empty() && gb.media_ip.trim().parse::<std::net::IpAddr>().is_err()
        {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.media_ip: not an IP address: {:?}",
                gb.media_ip
            )));
        }
        if let Some(peer) = gb.media_transport_peers.keys().find(|k| !digits(k, 20)) {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.media_transport_peers: expected 20-digit GB/T 28181 IDs, got {peer:?}"
            )));
        }
        if let Err(e) = jiff::tz::TimeZone::get(gb.time_zone.trim()) {
            return Err(Error::invalid(format!(
                "{origin}: gb28181.time_zone: {:?} is no IANA time zone: {e}",
                gb.time_zone
            )));
        }
        let n = &self.node;
        if n.heartbeat_sec == 0 {
            return Err(Error::invalid(format!(
                "{origin}: node.heartbeat_sec: must be at least 1"
            )));
        }
        if n.lease_ttl_sec < 3 * n.heartbeat_sec {
            return Err(Error::invalid(format!(
                "{origin}: node.lease_ttl_sec: must be at least 3 heartbeats ({} s), got {}",
                3 * n.heartbeat_sec,
                n.lease_ttl_sec
            )));
        }
        let db = &self.database.url;
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !db.is_empty() && !known.iter().any(|k| db.starts_with(k)) {
            return Err(Error::invalid(format!(
                "{origin}: database.url: expected sqlite://PATH or postgres://…, got {db:?}"
            )));
        }
        if self.database.write_buffer_max == 0 {
            return Err(Error::invalid(format!(
                "{origin}: database.write_buffer_max: must be at least 1"
            )));
        }
        Ok(())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data.dir.join("camwatch.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn key_file(&self) -> PathBuf {
        if self.secrets.key_file.is_empty() {
            self.data.dir.join("secret.key")
        } else {
            PathBuf::from(&self.secrets.key_file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::parse("", "x").unwrap(), Config::default());
    }

    #[test]
    fn console_tiles_are_checked_and_give_their_origin() {
        let c = Config::parse(
            "[console]\ntiles = \"http://10.1.2.3:8080/t/{z}/{x}/{y}.png\"\ntiles_crs = \"gcj02\"\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.console.tiles_crs, Crs::Gcj02);
        let sub = Config::parse(
            "[console]\ntiles = \"https://{s}.t.lan/{z}/{x}/{y}\"\n",
            "f",
        );
        assert_eq!(
            sub.unwrap().console.tiles_origin().as_deref(),
            Some("https://*.t.lan")
        );
        assert_eq!(c.console.register_crs, Crs::Wgs84);
        assert_eq!(
            c.console.tiles_origin().as_deref(),
            Some("http://10.1.2.3:8080")
        );
        for (text, want) in [
            ("tiles = \"ftp://x/{z}/{x}/{y}\"", "expected an http"),
            ("tiles = \"http://x/{z}/{x}.png\"", "has no {y}"),
            ("tiles = \"http://x{z}/{z}/{x}/{y}\"", "plain host"),
            ("register_crs = \"utm\"", "unknown variant"),
        ] {
            let e = Config::parse(&format!("[console]\n{text}\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn gb28181_media_transport_globally_and_per_peer() {
        let c = Config::parse(
            "[gb28181]\nmedia_transport = \"tcp_passive\"\n\
             [gb28181.media_transport_peers]\n\"34020000002000000099\" = \"tcp_active\"\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.gb28181.media_transport, GbMediaTransport::TcpPassive);
        assert_eq!(
            c.gb28181.media_transport_peers["34020000002000000099"],
            GbMediaTransport::TcpActive
        );
        assert_eq!(
            Config::default().gb28181.media_transport,
            GbMediaTransport::Udp
        );
        for (text, want) in [
            ("media_transport = \"tcp\"", "unknown variant"),
            (
                "media_transport_peers = { \"3402\" = \"udp\" }",
                "gb28181.media_transport_peers: expected 20-digit",
            ),
            (
                "time_zone = \"Mars/Olympus\"",
                "gb28181.time_zone: \"Mars/Olympus\" is no IANA time zone",
            ),
        ] {
            let e = Config::parse(&format!("[gb28181]\n{text}\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../../camwatch.example.toml");
        Config::parse(text, "camwatch.example.toml").unwrap();
    }

    /// Each invalid fixture is paired with the exact start of its error.
    #[test]
    fn invalid_fixtures_give_their_errors() {
        let cases = [
            (
                "[scheduler]\nliveness_interval = 60\n",
                "f: TOML parse error at line 2, column 1",
            ),
            (
                "[databse]\nurl = \"x\"\n",
                "f: TOML parse error at line 1, column 2",
            ),
            (
                "[scheduler]\nconfirm_failures = 0\n",
                "f: scheduler.confirm_failures: must be at least 1",
            ),
            (
                "[quality.thresholds]\nblurr = { zero = 1.0, one = 2.0 }\n",
                "f: quality.thresholds: unknown fault kind \"blurr\"",
            ),
            (
                "[quality.thresholds]\nblur = { zero = 1.0, one = 1.0 }\n",
                "f: quality.thresholds: blur: zero and one must differ",
            ),
            (
                "[[scheduler.groups]]\nname = \"t\"\nregion_prefix = \"34\"\nthresholds = { dark = { zero = 1.0, one = 2.0 } }\n",
                "f: scheduler.groups[0] (t).thresholds: unknown fault kind \"dark\"",
            ),
            (
                "[patrol]\ndaily_quota = 0\n",
                "f: patrol.daily_quota/cycle_days: must be at least 1",
            ),
            (
                "[retention]\nmonths = 0\n",
                "f: retention.months: must be at least 1 (the month before this one is what monthly reports read)",
            ),
            (
                "[database]\nurl = \"mysql://x\"\n",
                "f: database.url: expected sqlite://PATH or postgres://…, got \"mysql://x\"",
            ),
            (
                "[node]\nheartbeat_sec = 0\n",
                "f: node.heartbeat_sec: must be at least 1",
            ),
            (
                "[node]\nname = \"a\"\nheartbeat_sec = 10\nlease_ttl_sec = 20\n",
                "f: node.lease_ttl_sec: must be at least 3 heartbeats (30 s), got 20",
            ),
            (
                "[database]\nwrite_buffer_max = 0\n",
                "f: database.write_buffer_max: must be at least 1",
            ),
        ];
        for (text, want) in cases {
            let e = Config::parse(text, "f").unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: got {e}");
        }
        let e = Config::parse("[scheduler]\nliveness_interval = 60\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `liveness_interval`"), "{e}");
        let e = Config::parse("[databse]\n", "f").unwrap_err().to_string();
        assert!(e.contains("unknown field `databse`"), "{e}");
    }

    #[test]
    fn group_thresholds_layer_over_the_fleets() {
        let cfg = Config::parse(
            "[quality.thresholds]\nblur = { zero = 3.0, one = 8.0 }\n\
             [[scheduler.groups]]\nname = \"tunnels\"\nregion_prefix = \"3401\"\n\
             thresholds = { too_dark = { zero = 60.0, one = 30.0 } }\n",
            "f",
        )
        .unwrap();
        let fleet = cfg.quality.fleet_thresholds();
        assert_eq!(fleet.blur, Ramp::new(3.0, 8.0));
        assert_eq!(fleet.too_dark, Thresholds::default().too_dark);
        let g = cfg.quality.group_thresholds(&cfg.scheduler.groups[0]);
        assert_eq!(g.blur, Ramp::new(3.0, 8.0));
        assert_eq!(g.too_dark, Ramp::new(60.0, 30.0));
    }
}
