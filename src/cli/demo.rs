//! `camwatch demo`: the README's first command. See `crate::demo`.

use std::process::ExitCode;

use clap::Args;

use super::context::GlobalArgs;
use crate::demo::{DemoOptions, run as run_demo};
use camwatch_core::error::{Error, Result};
use camwatch_sim::faults::parse_duration;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Channels in the simulated fleet (IP cameras plus 16-channel NVRs).
    #[arg(long, default_value_t = 2000)]
    pub channels: u64,
    /// Simulated seconds per real second, for the fault schedule and the monitor's intervals.
    #[arg(long, default_value_t = 60.0)]
    pub time_scale: f64,
    /// Stop after this long (real time: 90s, 5m, 1h); default: run until Ctrl-C.
    #[arg(long)]
    pub duration: Option<String>,
    /// Seed of the simulated fleet and its faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// none, realistic, heavy, or demo (realistic, plus 1 % of the channels with a picture
    /// fault from the start).
    #[arg(long, default_value = "demo")]
    pub fault_mix: String,
    /// Summary lines instead of the full-screen view, even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Where the web console listens (loopback; another free port when this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

pub async fn run(g: &GlobalArgs, a: &DemoArgs) -> Result<ExitCode> {
    if !(a.time_scale > 0.0 && a.time_scale <= 10_000.0) {
        return Err(Error::invalid("--time-scale must be in (0, 10000]"));
    }
    let duration = match &a.duration {
        Some(d) => Some(std::time::Duration::from_secs(
            parse_duration(d).map_err(|e| Error::invalid(format!("--duration: {e}")))? as u64,
        )),
        None => None,
    };
    run_demo(DemoOptions {
        data_dir: g.data.clone(),
        channels: a.channels,
        time_scale: a.time_scale,
        duration,
        seed: a.seed,
        fault_mix: a.fault_mix.parse().map_err(Error::invalid)?,
        tui: a.plain.then_some(false),
        listen: a.listen.clone(),
    })
    .await
}
