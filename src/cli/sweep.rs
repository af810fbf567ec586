//! `camwatch sweep`: one liveness pass over the register, then a summary. Writes no status
//! history (one failed probe is not a confirmed outage); `serve` does that.

use std::process::ExitCode;

use camwatch_probes::ProbeStatus;
use clap::Args;

use super::context::GlobalArgs;
use camwatch_core::error::Result;
use camwatch_monitor::{MonitorConfig, sweep};
use camwatch_store::DeviceFilter;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only devices whose civil code (行政区划) starts with this.
    #[arg(long)]
    pub region: Option<String>,
    /// Only devices of this maintenance contractor.
    #[arg(long)]
    pub maintainer: Option<String>,
    /// List every device that failed, with the failure and the server's words.
    #[arg(long)]
    pub failures: bool,
    /// One JSON object per device on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(g: &GlobalArgs, a: &SweepArgs) -> Result<ExitCode> {
    let ctx = g.context().await?;
    let filter = DeviceFilter {
        region_prefix: a.region.clone(),
        maintainer: a.maintainer.clone(),
        ..Default::default()
    };
    let devices = ctx.store.list_devices(&filter).await?;
    let cfg = MonitorConfig::from_config(&ctx.config);
    eprintln!(
        "sweeping {} devices (at most {} probes in flight, {} per host, {} ms deadline)…",
        devices.len(),
        cfg.max_in_flight,
        cfg.max_per_host,
        cfg.deadline.as_millis()
    );
    let s = sweep(&devices, &cfg).await;
    if a.json {
        for (d, o) in devices.iter().zip(&s.outcomes) {
            let line =
                serde_json::json!({"code": d.code.to_string(), "name": d.name, "outcome": o});
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let n = s.outcomes.len().max(1);
    println!(
        "{} devices in {:.1} s ({:.0} probes/s; p50 {:.0} ms, p99 {:.0} ms)",
        s.outcomes.len(),
        s.elapsed.as_secs_f64(),
        s.outcomes.len() as f64 / s.elapsed.as_secs_f64().max(1e-9),
        s.latency_ms(0.5),
        s.latency_ms(0.99)
    );
    for (label, st) in [
        ("up", ProbeStatus::Up),
        ("degraded", ProbeStatus::Degraded),
        ("down", ProbeStatus::Down),
    ] {
        let c = s.count(st);
        println!("  {label:<9} {c:>7}  {:6.2}%", 100.0 * c as f64 / n as f64);
    }
    for (kind, c) in s.failures() {
        println!("    {kind:<22} {c:>7}");
    }
    if a.failures {
        for (d, o) in devices.iter().zip(&s.outcomes) {
            if o.status == ProbeStatus::Down {
                println!(
                    "{}  {}  {}  {}",
                    d.code,
                    d.name,
                    o.failure.map_or("", |f| f.as_str()),
                    o.detail
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
