//! `camwatch sim`: a simulated fleet on loopback, for rehearsals, load tests and interop tests.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::export::to_csv;
use camwatch_sim::faults::parse_duration;
use camwatch_sim::gb28181::{Charset, GbFleet};
use camwatch_sim::{BindMode, FaultPlan, Shape, SimConfig};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Channels: IP cameras plus channels of 16-channel NVRs (about one host in five is an NVR).
    /// Ignored when --cameras or --nvrs is given.
    #[arg(long, default_value_t = 2000)]
    pub channels: u64,
    /// Exactly this many IP cameras (each its own host).
    #[arg(long)]
    pub cameras: Option<u64>,
    /// Exactly this many NVRs, spread evenly among the cameras…
    #[arg(long, requires = "channels_per_nvr")]
    pub nvrs: Option<u64>,
    /// …each serving this many channels (/Streaming/Channels/101, 201, …).
    #[arg(long)]
    pub channels_per_nvr: Option<u64>,
    /// A fault schedule (TOML, times relative to the start); see the README, "Simulator".
    #[arg(long, conflicts_with = "fault_mix")]
    pub faults: Option<PathBuf>,
    /// none, realistic or heavy: a seeded random mix of faults.
    #[arg(long, default_value = "realistic")]
    pub fault_mix: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First loopback address: host i listens on this address + i (ports 554/80, or 8554/8080
    /// without privileges). With --one-port, every host listens on this one address.
    #[arg(long, default_value = "127.16.0.1")]
    pub bind: Ipv4Addr,
    /// All hosts on the --bind address, each on its own two OS-chosen ports.
    #[arg(long)]
    pub one_port: bool,
    /// Write the fleet's register (importable by `camwatch device import`).
    #[arg(long)]
    pub register_out: Option<PathBuf>,
    /// Leave the cameras' passwords out of the register (by default they are in: they are the
    /// simulator's own, and the monitor needs them).
    #[arg(long)]
    pub without_passwords: bool,
    /// Write every fault interval as JSON lines (device, fault, start, end).
    #[arg(long)]
    pub truth_out: Option<PathBuf>,
    /// Simulated seconds per real second for the fault schedule.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// How far ahead a preset draws faults (simulated: 7d, 31d).
    #[arg(long, default_value = "31d")]
    pub horizon: String,
    /// Stop after this long (real time); default: until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub duration: Option<String>,
    #[command(flatten)]
    pub gb: GbSimArgs,
}

/// GB/T 28181 peers that register to a camwatch platform (`serve` with `[gb28181]`).
#[derive(Debug, Args)]
pub struct GbSimArgs {
    /// camwatch's GB/T 28181 platform (host:port): simulate GB peers registering to it.
    #[arg(long)]
    pub gb_platform: Option<std::net::SocketAddr>,
    /// The platform's 20-digit ID and domain (`[gb28181] id`, `domain`).
    #[arg(long, default_value = "34020000002000000001")]
    pub gb_platform_id: String,
    #[arg(long, default_value = "3402000000")]
    pub gb_domain: String,
    /// Single GB devices (cameras).
    #[arg(long, default_value_t = 0)]
    pub gb_devices: u32,
    /// Channels of one lower platform (0: none).
    #[arg(long, default_value_t = 0)]
    pub gb_lower_platform_channels: u32,
    /// The password every GB peer uses (and the register written by --register-out holds).
    #[arg(long, default_value = "12345678")]
    pub gb_password: String,
    #[arg(long, default_value_t = 60)]
    pub gb_keepalive_sec: i64,
    /// Catalog items per MESSAGE.
    #[arg(long, default_value_t = 50)]
    pub gb_page_size: usize,
    /// Over TCP (default UDP).
    #[arg(long)]
    pub gb_tcp: bool,
    /// MANSCDP documents in GB2312 (default UTF-8).
    #[arg(long)]
    pub gb_gb2312: bool,
    /// Fault: every GB peer stops its keepalives (and answers nothing) after this long
    /// (simulated: 10m, 2h).
    #[arg(long)]
    pub gb_dies_after: Option<String>,
    /// Fault: the peers use a wrong password.
    #[arg(long)]
    pub gb_wrong_password: bool,
    /// Fault: every catalog page is malformed XML.
    #[arg(long)]
    pub gb_malformed_catalog: bool,
    /// Fault: once camwatch subscribes to their catalogs, every peer sends this many catalog
    /// NOTIFYs a second (channels turning OFF and back ON in turn).
    #[arg(long, default_value_t = 0)]
    pub gb_notify_storm: u32,
    /// Peer i sends from this loopback address + i (default: all from 127.0.0.1).
    #[arg(long)]
    pub gb_bind: Option<Ipv4Addr>,
    /// Fault: what an INVITE for the lower platform's channel N (or device N, without a lower
    /// platform) gets: a picture fault (blur, too_dark, …) in its stream, or never_sends,
    /// refuses, garbage. Repeatable: `--gb-media-fault 3=blur --gb-media-fault 4=never_sends`.
    #[arg(long, value_name = "N=KIND")]
    pub gb_media_fault: Vec<String>,
    /// Fault: every GB peer's DeviceStatus answers say recording is off (`<Record>OFF`).
    #[arg(long)]
    pub gb_recording_off: bool,
}

impl GbSimArgs {
    fn fleet(&self, now: i64) -> Result<Option<GbFleet>> {
        let Some(platform) = self.gb_platform else {
            return Ok(None);
        };
        if !platform.ip().is_loopback() {
            return Err(Error::invalid(format!(
                "--gb-platform {platform}: the simulator only talks to loopback"
            )));
        }
        let dies_at = match &self.gb_dies_after {
            Some(d) => Some(
                now + parse_duration(d)
                    .map_err(|e| Error::invalid(format!("--gb-dies-after: {e}")))?,
            ),
            None => None,
        };
        let mut media = Vec::new();
        for f in &self.gb_media_fault {
            let bad = |e: String| Error::invalid(format!("--gb-media-fault {f:?}: {e}"));
            let (n, kind) = f
                .split_once('=')
                .ok_or_else(|| bad("expected N=KIND".into()))?;
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| bad("N is not a number".into()))?;
            let code = if self.gb_lower_platform_channels > 0 {
                camwatch_sim::gb28181::channel_code(0, n)
            } else {
                camwatch_sim::gb28181::device_code(0, n)
            };
            media.push((code, kind.trim().parse().map_err(bad)?));
        }
        let mut fleet = GbFleet {
            media,
            platform,
            platform_id: self.gb_platform_id.clone(),
            domain: self.gb_domain.clone(),
            devices: self.gb_devices,
            lower_platform_channels: self.gb_lower_platform_channels,
            password: self.gb_password.clone(),
            keepalive_sec: self.gb_keepalive_sec.max(1),
            page_size: self.gb_page_size.max(1),
            charset: if self.gb_gb2312 {
                Charset::Gb2312
            } else {
                Charset::Utf8
            },
            tcp: self.gb_tcp,
            dies_at,
            wrong_password: self.gb_wrong_password,
            malformed_catalog: self.gb_malformed_catalog,
            bind: self.gb_bind,
            notify_storm_per_sec: self.gb_notify_storm,
            ..GbFleet::default()
        };
        if self.gb_recording_off {
            fleet.recording_off = fleet.configs().iter().map(|c| c.id).collect();
        }
        Ok(Some(fleet))
    }
}

pub async fn run(a: &SimArgs) -> Result<ExitCode> {
    if !(a.time_scale > 0.0 && a.time_scale <= 10_000.0) {
        return Err(Error::invalid("--time-scale must be in (0, 10000]"));
    }
    let horizon =
        parse_duration(&a.horizon).map_err(|e| Error::invalid(format!("--horizon: {e}")))?;
    let faults = match &a.faults {
        Some(p) => FaultPlan::Schedule(
            std::fs::read_to_string(p)
                .map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => FaultPlan::Preset(a.fault_mix.parse().map_err(Error::invalid)?),
    };
    let shape = if a.cameras.is_some() || a.nvrs.is_some() {
        Shape::Exact {
            cameras: a.cameras.unwrap_or(0),
            nvrs: a.nvrs.unwrap_or(0),
            channels_per_nvr: a.channels_per_nvr.unwrap_or(0),
        }
    } else {
        Shape::Mix {
            channels: a.channels,
        }
    };
    shape
        .check()
        .map_err(|e| Error::invalid(format!("--cameras/--nvrs/--channels-per-nvr: {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(jiff::Timestamp::now(), a.time_scale));
    let gb = a.gb.fleet(clock.now().as_second())?;
    let gb_clock = clock.clone();
    let fleet = camwatch_sim::start(
        SimConfig {
            shape,
            seed: a.seed,
            bind: if a.one_port {
                BindMode::OnePort { ip: a.bind }
            } else {
                BindMode::Distinct { base: a.bind }
            },
            faults,
            horizon_sec: horizon,
        },
        clock,
    )
    .await?;
    let hosts = fleet.devices().iter().filter(|d| d.ip.is_some()).count();
    let nvrs = fleet
        .devices()
        .iter()
        .filter(|d| d.kind.is_parent())
        .count();
    eprintln!(
        "simulating {} channels on {hosts} hosts, {nvrs} of them NVRs (seed {}, time ×{})",
        shape.channels(),
        a.seed,
        a.time_scale
    );
    for n in &fleet.notes {
        eprintln!("note: {n}");
    }
    let (gb_stop, gb_stopped) = tokio::sync::watch::channel(false);
    let mut register = fleet.devices().to_vec();
    if let Some(gb) = &gb {
        let peers = camwatch_sim::gb28181::start(gb, gb_clock, gb_stopped).await?;
        eprintln!(
            "GB/T 28181: {} peer(s) registering to {} over {} ({} lower-platform channels)",
            peers.len(),
            gb.platform,
            if gb.tcp { "TCP" } else { "UDP" },
            gb.lower_platform_channels
        );
        register.extend(gb.register());
    }
    if let Some(p) = &a.register_out {
        std::fs::write(p, to_csv(&register, !a.without_passwords))
            .map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?;
        eprintln!("register: {}", p.display());
    }
    if let Some(p) = &a.truth_out {
        std::fs::write(p, fleet.truth_jsonl())
            .map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?;
        eprintln!("truth: {} ({} intervals)", p.display(), fleet.truth().len());
    }
    let duration = match &a.duration {
        Some(d) => Some(std::time::Duration::from_secs(
            parse_duration(d).map_err(|e| Error::invalid(format!("--duration: {e}")))? as u64,
        )),
        None => None,
    };
    eprintln!("serving; Ctrl-C or SIGTERM stops");
    super::serve::until_stopped(duration).await?;
    let _ = gb_stop.send(true);
    let (rtsp, http) = fleet.served();
    fleet.shutdown().await;
    eprintln!("stopped after serving {rtsp} RTSP and {http} HTTP connections");
    Ok(ExitCode::SUCCESS)
}
