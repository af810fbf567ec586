//! `camwatch baseline approve CODE [--from FILE] [--force] [--night]` and `camwatch baseline
//! approve --all [--replace] [--night]`: the picture a camera should show. The diagnostics compare every sample
//! with it (`quality::Baseline`): `scene_change`, and colour cast, occlusion, blur, noise and
//! over-exposure judged by what changed. Without `--from`, the camera's current snapshot is
//! fetched. Stored as `<data>/baselines/<code>.jpg`, or `<code>.night.jpg` with `--night` (the
//! camera at night: each sample is compared with the one in the more similar light); `serve`
//! and `demo` load them at start.
//! Every approval is audit-logged with the picture's diagnosis.
//!
//! A baseline hides whatever it shows (a cast in the baseline is the camera's colour from then
//! on), so a picture that reads as faulty judged alone is not approved without `--force`: an
//! operator has looked and says that is the scene (a lawn filling the view reads as a cast).
//! `--all` approves, over the whole register, the pictures that read as normal and lists the
//! rest for that review; one camera's slow or broken answer does not hold up the others.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use futures::StreamExt;

use super::context::{Context, GlobalArgs};
use crate::error::{Error, Result};
use crate::quality::{Fault, Thresholds};
use crate::registry::{Device, DeviceCode};
use crate::store::DeviceFilter;

/// Snapshots fetched at once by `--all`.
const IN_FLIGHT: usize = 32;

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
        /// Every camera with a snapshot URL and no baseline yet: pictures that read as normal
        /// are approved, the others listed for review.
        #[arg(long)]
        all: bool,
        /// With --all: cameras that have a baseline too.
        #[arg(long, requires = "all")]
        replace: bool,
        /// The camera's night picture (approve it at night), kept beside the day one.
        #[arg(long)]
        night: bool,
    },
}

pub async fn run(g: &GlobalArgs, c: &BaselineCommand) -> Result<ExitCode> {
    let BaselineCommand::Approve {
        code,
        from,
        force,
        all,
        replace,
        night,
    } = c;
    let file = |code: &DeviceCode| {
        if *night {
            format!("{code}.night.jpg")
        } else {
            format!("{code}.jpg")
        }
    };
    let ctx = g.context().await?;
    let thresholds = ctx.config.quality.fleet_thresholds();
    if *all {
        return approve_all(&ctx, &thresholds, *replace, &file).await;
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
    let path = store(&ctx, code, &file(code), &jpeg, &faults, from.as_ref()).await?;
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

/// What became of one camera under `--all`.
enum Outcome {
    Approved,
    Review(Vec<Fault>),
    NoPicture(String),
}

async fn approve_all(
    ctx: &Context,
    thresholds: &Thresholds,
    replace: bool,
    file: &dyn Fn(&DeviceCode) -> String,
) -> Result<ExitCode> {
    let devices = ctx.store.list_devices(&DeviceFilter::default()).await?;
    let by_code: std::collections::HashMap<DeviceCode, &Device> =
        devices.iter().map(|d| (d.code, d)).collect();
    let dir = ctx.data_dir.join("baselines");
    let (mut no_url, mut kept) = (0u64, 0u64);
    let mut todo = Vec::new();
    for d in devices.iter().filter(|d| !d.kind.is_parent()) {
        if d.snapshot_url.is_none() {
            no_url += 1;
        } else if !replace && dir.join(file(&d.code)).exists() {
            kept += 1;
        } else {
            todo.push(d);
        }
    }
    let client = camwatch_probes::snapshot::client();
    let results: Vec<(DeviceCode, Outcome)> = futures::stream::iter(todo)
        .map(|d| {
            let creds = crate::monitor::creds_for(d, &by_code);
            let client = &client;
            async move {
                let outcome = match fetch(d, creds, client).await {
                    Err(e) => Outcome::NoPicture(e),
                    Ok(jpeg) => match judge(&jpeg, thresholds) {
                        Err(e) => Outcome::NoPicture(e),
                        Ok(f) if !f.is_empty() => Outcome::Review(f),
                        Ok(_) => {
                            match store(ctx, &d.code, &file(&d.code), &jpeg, &[], None).await {
                                Ok(_) => Outcome::Approved,
                                Err(e) => Outcome::NoPicture(e.to_string()),
                            }
                        }
                    },
                };
                (d.code, outcome)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let (mut approved, mut review, mut failed) = (0u64, Vec::new(), Vec::new());
    for (code, o) in results {
        match o {
            Outcome::Approved => approved += 1,
            Outcome::Review(f) => review.push((code, describe(&f))),
            Outcome::NoPicture(e) => failed.push((code, e)),
        }
    }
    review.sort();
    failed.sort();
    for (code, f) in &review {
        println!("{code}: left for review: reads as {f}");
    }
    for (code, e) in &failed {
        println!("{code}: no picture: {e}");
    }
    println!(
        "approved {approved}; left for review {}; no picture {}; already approved {kept}; \
         no snapshot URL {no_url}",
        review.len(),
        failed.len()
    );
    Ok(ExitCode::SUCCESS)
}

async fn fetch(
    d: &Device,
    creds: Option<camwatch_probes::Credentials>,
    client: &camwatch_probes::HttpClient,
) -> std::result::Result<Vec<u8>, String> {
    let url = d
        .snapshot_url
        .as_deref()
        .ok_or("no snapshot URL in the register; use --from FILE")?;
    let target = camwatch_probes::snapshot::SnapshotTarget {
        url: camwatch_probes::Url::parse(url).map_err(|e| format!("{url}: {e}"))?,
        creds,
    };
    let o = camwatch_probes::snapshot::probe(client, &target, &Default::default()).await;
    match o.frame {
        Some(camwatch_probes::Frame::Jpeg(b)) => Ok(b.to_vec()),
        _ => Err(format!(
            "no picture from the camera: {} {}",
            o.failure.map_or("", |f| f.as_str()),
            o.detail
        )),
    }
}

/// The picture's faults judged alone: only a picture the diagnostics can read is judged.
fn judge(jpeg: &[u8], t: &Thresholds) -> std::result::Result<Vec<Fault>, String> {
    let th = crate::quality::from_jpeg(jpeg).map_err(|e| e.to_string())?;
    Ok(crate::quality::diagnose(&th, None, None, t).faults)
}

fn describe(faults: &[Fault]) -> String {
    faults
        .iter()
        .map(|f| format!("{} ({:.2})", f.kind.as_str(), f.score))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn store(
    ctx: &Context,
    code: &DeviceCode,
    name: &str,
    jpeg: &[u8],
    faults: &[Fault],
    from: Option<&PathBuf>,
) -> Result<PathBuf> {
    let dir = ctx.data_dir.join("baselines");
    std::fs::create_dir_all(&dir).map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    let path = dir.join(name);
    // Written aside and renamed: `serve` never loads half a picture.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, jpeg)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    ctx.audit(
        "baseline.approve",
        &code.to_string(),
        serde_json::json!({
            "file": name,
            "bytes": jpeg.len(),
            "from": from.map(|p| p.display().to_string()),
            "reads_alone_as": faults.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok(path)
}
