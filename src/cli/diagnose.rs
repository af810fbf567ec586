//! `camwatch diagnose IMAGE [--prev IMAGE] [--baseline IMAGE]… [--json]`: the picture
//! diagnostics on files, as the monitor runs them on sampled frames.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::quality::{Baseline, Thumb, diagnose, from_bytes};

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// A JPEG picture, or an H.264 or H.265 keyframe (Annex B, as `ffmpeg -c:v libx264 -f h264` or
    /// `-c:v libx265 -f hevc` writes).
    pub image: PathBuf,
    /// The same camera's previous sample (enables `frozen`).
    #[arg(long)]
    pub prev: Option<PathBuf>,
    /// The camera's approved baseline picture (enables `scene_change` and the comparisons
    /// with it); given twice (day and night), the one in the more similar light is used.
    #[arg(long)]
    pub baseline: Vec<PathBuf>,
    /// Judge by this device group's thresholds (`[[scheduler.groups]] name`) instead of the
    /// fleet's.
    #[arg(long)]
    pub group: Option<String>,
    /// One JSON object: {"faults":[{"kind","score","severity"}…],"suspects":[…],"metrics":{…}}
    /// (`suspects` only when there are: findings judged without a baseline that a healthy
    /// scene shows too).
    #[arg(long)]
    pub json: bool,
}

fn load(p: &Path) -> Result<Thumb> {
    let bytes = std::fs::read(p).map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?;
    from_bytes(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", p.display())))
}

pub fn run(g: &GlobalArgs, a: &DiagnoseArgs) -> Result<ExitCode> {
    let cfg = g.config()?;
    let thresholds = match &a.group {
        None => cfg.quality.fleet_thresholds(),
        Some(name) => {
            let group = cfg
                .scheduler
                .groups
                .iter()
                .find(|x| &x.name == name)
                .ok_or_else(|| {
                    Error::invalid(format!("no device group named {name:?} in the config"))
                })?;
            cfg.quality.group_thresholds(group)
        }
    };
    let img = load(&a.image)?;
    let prev = a.prev.as_deref().map(load).transpose()?;
    let pictures = a
        .baseline
        .iter()
        .map(|p| load(p))
        .collect::<Result<Vec<_>>>()?;
    let base = Baseline::of(&pictures);
    let d = diagnose(&img, prev.as_ref(), base.as_ref(), &thresholds);
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&d).map_err(|e| Error::internal(e.to_string()))?
        );
    } else if d.faults.is_empty() && d.suspects.is_empty() {
        println!("{}: normal", a.image.display());
    } else {
        for f in &d.suspects {
            println!(
                "{}: suspect {} (score {:.3}; judged without a baseline, a healthy scene can \
                 look so: approve the camera's baseline to judge it)",
                a.image.display(),
                f.kind.as_str(),
                f.score
            );
        }
        for f in &d.faults {
            println!(
                "{}: {} (score {:.3}, {:?})",
                a.image.display(),
                f.kind.as_str(),
                f.score,
                f.severity
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
