//! `camwatch baseline approve CODE [--from FILE] [--force] [--night]` and `camwatch baseline
//! approve --all [--replace] [--night]`: the picture a camera should show. The diagnostics
//! compare every sample with it (`quality::Baseline`): `scene_change`, and colour cast,
//! occlusion, blur, noise and over-exposure judged by what changed. Without `--from`, the
//! camera's current picture is fetched, as the monitor samples it (the snapshot, else the
//! stream's first keyframe). Stored as `<data>/baselines/<code>.jpg`, or `<code>.night.jpg`
//! with `--night` (the camera at night: each sample is compared with the one in the more
//! similar light); `serve` and `demo` load them at start. Every approval is audit-logged with
//! the picture's diagnosis (`monitor::baselines`).
//!
//! A baseline hides whatever it shows (a cast in the baseline is the camera's colour from then
//! on), so a picture that reads as faulty judged alone is not approved without `--force`: an
//! operator has looked and says that is the scene (a lawn filling the view reads as a cast).
//! `--all` approves, over the whole register, the pictures that read as normal and lists the
//! rest for that review; one camera's slow or broken answer does not hold up the others. On an
//! empty register it fails (`NotFound`) and says how to import one.
//!
//! `camwatch baseline dismiss CODE KIND [--from FILE]`: the fault KIND the camera reports now is
//! a false alarm for its view (an operator has looked). Its current picture (or FILE) is
//! diagnosed as the monitor does, against its approved baseline; KIND must be among the faults
//! found. The measure it was found by is kept in `<data>/baselines/<code>.dismissed.json` and
//! the monitor stops reporting KIND for that camera while it measures no worse than that by
//! half the ramp's span; a clearly worse KIND, every other kind, and everything once the
//! camera turned are reported as before (`quality::Dismissal`). `camwatch baseline undismiss
//! CODE KIND` takes it back. Both are audit-logged (`baseline.dismiss`, `baseline.undismiss`)
//! and read by `serve` and `demo` at start.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::quality::{Fault, FaultKind};
use camwatch_core::registry::DeviceCode;
use camwatch_monitor::baselines::{Approver, fetch, judge, load, set_dismissal};
use camwatch_store::DeviceFilter;

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Approve a camera's current picture (or a JPEG file) as its baseline, or with --all every
    /// camera's picture that reads as normal.
    Approve {
        /// The camera (20-digit code).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        code: Option<DeviceCode>,
        /// A JPEG to approve instead of fetching the camera's snapshot.
        #[arg(long, conflicts_with = "all")]
        from: Option<PathBuf>,
        /// Approve a picture even though it reads as faulty judged alone (you have looked at
        /// it: that is the scene).
        #[arg(long, conflicts_with = "all")]
        force: bool,
        /// Every camera with no baseline yet (its snapshot, or its stream's first keyframe):
        /// pictures that read as normal are approved, the others listed for review.
        #[arg(long)]
        all: bool,
        /// With --all: cameras that have a baseline too.
        #[arg(long, requires = "all")]
        replace: bool,
        /// The camera's night picture (approve it at night), kept beside the day one.
        #[arg(long)]
        night: bool,
    },
    /// Mark a fault the camera reports now as a false alarm for its view: it stops being
    /// reported unless it gets clearly worse (audited; `undismiss` takes it back).
    Dismiss {
        /// The camera (20-digit code).
        code: DeviceCode,
        /// The fault kind (blur, color_cast, occlusion, …).
        kind: FaultKind,
        /// A JPEG to judge instead of fetching the camera's current picture.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Take back a dismissal: the camera reports that fault kind again.
    Undismiss {
        /// The camera (20-digit code).
        code: DeviceCode,
        /// The fault kind.
        kind: FaultKind,
    },
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub async fn run(g: &GlobalArgs, c: &BaselineCommand) -> Result<ExitCode> {
    let (code, kind, from) = match c {
        BaselineCommand::Approve { .. } => return approve(g, c).await,
        BaselineCommand::Dismiss { code, kind, from } => (code, *kind, Some(from)),
        BaselineCommand::Undismiss { code, kind } => (code, *kind, None),
    };
    let ctx = g.context().await?;
    let dir = ctx.data_dir.join("baselines");
    let Some(from) = from else {
        let left = set_dismissal(&ctx.store, &dir, &actor(), code, kind, None).await?;
        println!(
            "{code}: {} is reported again ({} dismissed left)",
            kind.as_str(),
            left.len()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let (d, _, creds) = ctx.device_with_creds(code).await?;
    let jpeg = match from {
        Some(p) => std::fs::read(p).map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?,
        None => fetch(&d, creds, &camwatch_probes::snapshot::client())
            .await
            .map_err(|e| Error::invalid(format!("{code}: {e}")))?,
    };
    let thresholds = ctx.config.quality.fleet_thresholds();
    let thumb = camwatch_core::quality::from_jpeg(&jpeg)
        .map_err(|e| Error::invalid(format!("{code}: {e}")))?;
    let baseline = load(&dir, code);
    let diagnosis = camwatch_core::quality::diagnose(&thumb, None, baseline.as_ref(), &thresholds);
    let (true, Some(measure)) = (
        diagnosis.faults.iter().any(|f| f.kind == kind),
        diagnosis.measure(kind, &thresholds),
    ) else {
        return Err(Error::invalid(format!(
            "{code}: the picture does not read as {} now (it reads as {}); only a fault that              is reported can be dismissed",
            kind.as_str(),
            if diagnosis.faults.is_empty() {
                "normal".to_string()
            } else {
                describe(&diagnosis.faults)
            }
        )));
    };
    let all = set_dismissal(&ctx.store, &dir, &actor(), code, kind, Some(measure)).await?;
    println!(
        "{code}: {} dismissed as a false alarm for this view (measure {measure:.3}); reported          again if it gets clearly worse. {} dismissed for this camera; restart `serve` to apply.",
        kind.as_str(),
        all.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn approve(g: &GlobalArgs, c: &BaselineCommand) -> Result<ExitCode> {
    let BaselineCommand::Approve {
        code,
        from,
        force,
        all,
        replace,
        night,
    } = c
    else {
        return Err(Error::internal("baseline approve: another command"));
    };
    let ctx = g.context().await?;
    let thresholds = ctx.config.quality.fleet_thresholds();
    let approver = Approver {
        store: &ctx.store,
        dir: ctx.data_dir.join("baselines"),
        thresholds: &thresholds,
        actor: actor(),
        night: *night,
    };
    if *all {
        let devices = ctx.store.list_devices(&DeviceFilter::default()).await?;
        if devices.is_empty() {
            // NotFound: the request is well formed (not InvalidArgument) and nothing failed
            // (not Unavailable); what it acts on, the register's devices, does not exist.
            return Err(Error::not_found(
                "baseline approve --all: the register has no devices; import them first with \
                 `camwatch device import FILE` (CSV or XLSX; `camwatch device columns` lists the \
                 columns), or point --data/--db at the register you meant",
            ));
        }
        let s = approver.approve_all(&devices, *replace).await;
        for (code, f) in &s.review {
            println!("{code}: left for review: reads as {}", describe(f));
        }
        for (code, e) in &s.no_picture {
            println!("{code}: no picture: {e}");
        }
        println!(
            "approved {}; left for review {}; no picture {}; already approved {}; no picture \
             source {}",
            s.approved.len(),
            s.review.len(),
            s.no_picture.len(),
            s.already,
            s.no_source
        );
        return Ok(ExitCode::SUCCESS);
    }
    let code = code.as_ref().expect("clap requires CODE without --all");
    let (d, _, creds) = ctx.device_with_creds(code).await?;
    let jpeg = match from {
        Some(p) => std::fs::read(p).map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?,
        None => fetch(&d, creds, &camwatch_probes::snapshot::client())
            .await
            .map_err(|e| Error::invalid(format!("{code}: {e}")))?,
    };
    let faults = judge(&jpeg, &thresholds).map_err(|e| Error::invalid(format!("{code}: {e}")))?;
    if !faults.is_empty() && !force {
        return Err(Error::invalid(format!(
            "{code}: the picture reads as {} judged alone; look at it, and if that is the \
             scene approve it with --force",
            describe(&faults)
        )));
    }
    let path = approver
        .write(code, &jpeg, &faults, from.as_deref())
        .await?;
    println!(
        "{code}: baseline approved ({} bytes{}) → {}",
        jpeg.len(),
        if faults.is_empty() {
            String::new()
        } else {
            format!(", reads as {} alone", describe(&faults))
        },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn describe(faults: &[Fault]) -> String {
    faults
        .iter()
        .map(|f| format!("{} ({:.2})", f.kind.as_str(), f.score))
        .collect::<Vec<_>>()
        .join(", ")
}
