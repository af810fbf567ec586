//! `camwatch baseline approve CODE [--from FILE]`: the picture a camera should show, for
//! `scene_change` (the camera was turned or moved). Without `--from`, the camera's current
//! snapshot is fetched and approved. Stored as `<data>/baselines/<code>.jpg`; `serve` loads
//! baselines at start. Audit-logged.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use crate::error::{Error, Result};
use crate::registry::DeviceCode;

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Approve the camera's current picture (or a JPEG file) as its baseline.
    Approve {
        code: DeviceCode,
        /// A JPEG to approve instead of fetching the camera's snapshot.
        #[arg(long)]
        from: Option<PathBuf>,
    },
}

pub async fn run(g: &GlobalArgs, c: &BaselineCommand) -> Result<ExitCode> {
    let BaselineCommand::Approve { code, from } = c;
    let ctx = g.context().await?;
    let (d, _, creds) = ctx.device_with_creds(code).await?;
    let jpeg = match from {
        Some(p) => std::fs::read(p).map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?,
        None => {
            let url = d.snapshot_url.as_deref().ok_or_else(|| {
                Error::invalid(format!(
                    "{code}: no snapshot URL in the register; use --from FILE"
                ))
            })?;
            let target = camwatch_probes::snapshot::SnapshotTarget {
                url: camwatch_probes::Url::parse(url)
                    .map_err(|e| Error::invalid(format!("{url}: {e}")))?,
                creds,
            };
            let o = camwatch_probes::snapshot::probe(
                &camwatch_probes::snapshot::client(),
                &target,
                &Default::default(),
            )
            .await;
            match o.frame {
                Some(camwatch_probes::Frame::Jpeg(b)) => b.to_vec(),
                _ => {
                    return Err(Error::invalid(format!(
                        "{code}: no picture from the camera: {} {}",
                        o.failure.map_or("", |f| f.as_str()),
                        o.detail
                    )));
                }
            }
        }
    };
    // Only a picture the diagnostics can read becomes a baseline.
    crate::quality::from_jpeg(&jpeg).map_err(|e| Error::invalid(format!("{code}: {e}")))?;
    let dir = ctx.data_dir.join("baselines");
    std::fs::create_dir_all(&dir).map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("{code}.jpg"));
    std::fs::write(&path, &jpeg).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    ctx.audit(
        "baseline.approve",
        &code.to_string(),
        serde_json::json!({"bytes": jpeg.len(), "from": from.as_ref().map(|p| p.display().to_string())}),
    )
    .await?;
    println!(
        "{code}: baseline approved ({} bytes) → {}",
        jpeg.len(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
