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
    if let Some(p) = &a.register_out {
        std::fs::write(p, to_csv(fleet.devices(), !a.without_passwords))
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
    let (rtsp, http) = fleet.served();
    fleet.shutdown().await;
    eprintln!("stopped after serving {rtsp} RTSP and {http} HTTP connections");
    Ok(ExitCode::SUCCESS)
}
