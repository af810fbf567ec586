//! Approved baseline pictures on disk: `<dir>/<code>.jpg`, and `<code>.night.jpg` for the
//! camera at night. Approving fetches a camera's picture (or takes a given JPEG), judges it
//! alone, writes it and records the approval in the audit log (`camwatch baseline approve`);
//! the monitor loads them at start (`load`). The picture is what the monitor diagnoses: the snapshot
//! where the register has a snapshot URL, else the stream's first keyframe (an NVR channel's),
//! decoded and kept as the thumbnail the detectors see.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;

use camwatch_core::error::{Error, Result};
use camwatch_core::quality::{Dismissal, Fault, FaultKind, Thresholds};
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::{AuditEntry, Store};

/// Snapshots fetched at once by `approve_all`.
const IN_FLIGHT: usize = 32;

/// The file of a camera's day (or night) baseline.
pub fn file_name(code: &DeviceCode, night: bool) -> String {
    if night {
        format!("{code}.night.jpg")
    } else {
        format!("{code}.jpg")
    }
}

/// The camera's approved pictures in `dir` (day, then night); `None` without any. An unreadable
/// one is logged and skipped.
pub fn load(dir: &Path, code: &DeviceCode) -> Option<camwatch_core::quality::Baseline> {
    let pictures: Vec<camwatch_core::quality::Thumb> = [false, true]
        .into_iter()
        .filter_map(|night| {
            let p = dir.join(file_name(code, night));
            let bytes = std::fs::read(&p).ok()?;
            camwatch_core::quality::from_jpeg(&bytes)
                .inspect_err(|e| tracing::warn!("baseline {}: {e}", p.display()))
                .ok()
        })
        .collect();
    camwatch_core::quality::Baseline::of(&pictures)
}

/// The camera's approved view as stored in `dir`: its baselines and dismissed false alarms.
pub fn view(dir: &Path, code: &DeviceCode) -> crate::views::View {
    crate::views::View {
        baseline: load(dir, code).map(Arc::new),
        dismissed: load_dismissals(dir, code).into(),
    }
}

/// Re-reads the camera's view from `dir` into the running monitor's `state`: the next picture
/// sample is judged against it.
pub fn reload(state: &crate::MonitorState, dir: &Path, code: &DeviceCode) {
    state.views().set(*code, view(dir, code));
}

/// Who approves, and where the pictures go.
pub struct Approver<'a> {
    pub store: &'a Arc<dyn Store>,
    pub dir: PathBuf,
    pub thresholds: &'a Thresholds,
    /// The audit log's actor (`cli:<user>`).
    pub actor: String,
    pub night: bool,
}

/// What `approve_all` did, camera by camera.
#[derive(Debug, Default)]
pub struct Summary {
    pub approved: Vec<DeviceCode>,
    /// Pictures that read as faulty judged alone, for an operator to look at.
    pub review: Vec<(DeviceCode, Vec<Fault>)>,
    pub no_picture: Vec<(DeviceCode, String)>,
    pub already: u64,
    /// Cameras with neither a snapshot nor a stream URL in the register.
    pub no_source: u64,
}

impl Approver<'_> {
    /// Every camera's snapshot (`replace`: also those with a baseline): the pictures that read
    /// as normal are approved; one camera's slow or broken answer holds up no other.
    pub async fn approve_all(&self, devices: &[Device], replace: bool) -> Summary {
        let by_code: HashMap<DeviceCode, &Device> = devices.iter().map(|d| (d.code, d)).collect();
        let mut s = Summary::default();
        let mut todo = Vec::new();
        for d in devices.iter().filter(|d| !d.kind.is_parent()) {
            if d.snapshot_url.is_none() && d.stream_urls.is_empty() {
                s.no_source += 1;
            } else if !replace && self.dir.join(file_name(&d.code, self.night)).exists() {
                s.already += 1;
            } else {
                todo.push((d, super::creds_for(d, &by_code)));
            }
        }
        let client = camwatch_probes::snapshot::client();
        let results: Vec<(DeviceCode, std::result::Result<Vec<Fault>, String>)> =
            futures::stream::iter(todo)
                .map(|(d, creds)| {
                    let client = &client;
                    async move {
                        let r = match fetch(d, creds, client).await {
                            Err(e) => Err(e),
                            Ok(jpeg) => match judge(&jpeg, self.thresholds) {
                                Ok(f) if f.is_empty() => self
                                    .write(&d.code, &jpeg, &f, None)
                                    .await
                                    .map(|_| f)
                                    .map_err(|e| e.to_string()),
                                other => other,
                            },
                        };
                        (d.code, r)
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
        for (code, r) in results {
            match r {
                Ok(f) if f.is_empty() => s.approved.push(code),
                Ok(f) => s.review.push((code, f)),
                Err(e) => s.no_picture.push((code, e)),
            }
        }
        s.approved.sort();
        s.review.sort_by_key(|r| r.0);
        s.no_picture.sort();
        s
    }

    /// Writes `jpeg` as the camera's baseline and audits it with what it read as alone.
    pub async fn write(
        &self,
        code: &DeviceCode,
        jpeg: &[u8],
        faults: &[Fault],
        from: Option<&Path>,
    ) -> Result<PathBuf> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
        let name = file_name(code, self.night);
        let path = dir.join(&name);
        // Written aside and renamed: the monitor never loads half a picture.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, jpeg)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        let detail = serde_json::json!({
            "file": name,
            "bytes": jpeg.len(),
            "from": from.map(|p| p.display().to_string()),
            "reads_alone_as": faults.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
        });
        self.store
            .append_audit(&AuditEntry {
                at: jiff::Timestamp::now().as_second(),
                actor: self.actor.clone(),
                action: "baseline.approve".into(),
                target: code.to_string(),
                detail: detail.to_string(),
            })
            .await?;
        Ok(path)
    }
}

/// The camera's current picture as [`fetch`] takes it, logging in with its own account or its
/// parent's (an NVR channel's).
pub async fn fetch_current(
    d: &Device,
    parent: Option<&Device>,
) -> std::result::Result<Vec<u8>, String> {
    let owners = parent.iter().map(|p| (p.code, *p)).collect();
    let creds = super::creds_for(d, &owners);
    fetch(d, creds, &camwatch_probes::snapshot::client()).await
}

/// The camera's current picture as a JPEG: its snapshot, else its stream's first keyframe.
pub async fn fetch(
    d: &Device,
    creds: Option<camwatch_probes::Credentials>,
    client: &camwatch_probes::HttpClient,
) -> std::result::Result<Vec<u8>, String> {
    let Some(url) = d.snapshot_url.as_deref() else {
        return keyframe(d, creds).await;
    };
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

/// The first keyframe of the camera's stream, decoded to the detectors' thumbnail.
async fn keyframe(
    d: &Device,
    creds: Option<camwatch_probes::Credentials>,
) -> std::result::Result<Vec<u8>, String> {
    let url = d
        .stream_urls
        .first()
        .ok_or("no snapshot or stream URL in the register; use --from FILE")?;
    let target = camwatch_probes::rtsp::RtspTarget {
        url: camwatch_probes::Url::parse(url).map_err(|e| format!("{url}: {e}"))?,
        creds,
    };
    let opts = camwatch_probes::rtsp::RtspOptions {
        depth: camwatch_probes::rtsp::Depth::FirstFrame,
        keep_frame: true,
        ..Default::default()
    };
    let o = camwatch_probes::rtsp::probe(&target, &opts).await;
    let thumb = match o.frame {
        Some(camwatch_probes::Frame::H264(k)) => camwatch_core::quality::from_h264(&k),
        Some(camwatch_probes::Frame::H265(k)) => camwatch_core::quality::from_h265(&k),
        _ => {
            return Err(format!(
                "no keyframe from the stream: {} {}",
                o.failure.map_or("", |f| f.as_str()),
                o.detail
            ));
        }
    }
    .map_err(|e| format!("keyframe not decoded: {e}"))?;
    Ok(super::thumb_jpeg(&thumb))
}

/// The picture's findings judged alone, faults and suspects (approving a picture that may
/// show a fault is for an operator who looked at it): only a picture the diagnostics can read
/// is judged.
pub fn judge(jpeg: &[u8], t: &Thresholds) -> std::result::Result<Vec<Fault>, String> {
    let th = camwatch_core::quality::from_jpeg(jpeg).map_err(|e| e.to_string())?;
    let d = camwatch_core::quality::diagnose(&th, None, None, t);
    Ok(d.faults.into_iter().chain(d.suspects).collect())
}

/// The file of a camera's dismissed false alarms (`camwatch baseline dismiss`), JSON.
pub fn dismissals_file(code: &DeviceCode) -> String {
    format!("{code}.dismissed.json")
}

/// The camera's dismissed false alarms in `dir`; none without the file. An unreadable file is
/// logged and read as none: the faults are reported, not hidden.
pub fn load_dismissals(dir: &Path, code: &DeviceCode) -> Vec<Dismissal> {
    let p = dir.join(dismissals_file(code));
    match std::fs::read(&p) {
        Err(_) => Vec::new(),
        Ok(b) => serde_json::from_slice(&b)
            .inspect_err(|e| tracing::warn!("dismissed false alarms {}: {e}", p.display()))
            .unwrap_or_default(),
    }
}

/// Marks (`measure` Some) or unmarks (None) `kind` as a false alarm for the camera, in `dir`,
/// and audits it as `baseline.dismiss` / `baseline.undismiss` with what was marked. Returns
/// the camera's dismissals after the change; unmarking a kind not marked is `NotFound`.
pub async fn set_dismissal(
    store: &Arc<dyn Store>,
    dir: &Path,
    actor: &str,
    code: &DeviceCode,
    kind: FaultKind,
    measure: Option<f64>,
) -> Result<Vec<Dismissal>> {
    let mut all = load_dismissals(dir, code);
    let before = all.iter().find(|d| d.kind == kind).copied();
    all.retain(|d| d.kind != kind);
    if let Some(m) = measure {
        all.push(Dismissal { kind, measure: m });
    } else if before.is_none() {
        return Err(Error::not_found(format!(
            "{code}: {} is not dismissed",
            kind.as_str()
        )));
    }
    all.sort_by_key(|d| d.kind);
    std::fs::create_dir_all(dir).map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    let name = dismissals_file(code);
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let body = serde_json::to_vec_pretty(&all).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    let detail = serde_json::json!({
        "file": name,
        "kind": kind.as_str(),
        "measure": measure,
        "was": before.map(|d| d.measure),
    });
    store
        .append_audit(&AuditEntry {
            at: jiff::Timestamp::now().as_second(),
            actor: actor.to_string(),
            action: if measure.is_some() {
                "baseline.dismiss"
            } else {
                "baseline.undismiss"
            }
            .into(),
            target: code.to_string(),
            detail: detail.to_string(),
        })
        .await?;
    Ok(all)
}
