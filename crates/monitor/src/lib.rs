//! The monitor: register → scheduler → probes → health → status spans in the store. This is
//! what `camwatch serve` runs and what the demo shows.
//!
//! - Liveness: RTSP DESCRIBE of the main stream (TCP connect when a device has no stream URL;
//!   NVRs and other parents get a TCP connect to their RTSP port).
//! - Picture: the snapshot URL, else one RTSP keyframe. A stream that negotiates but delivers no
//!   picture (`no_media`, a bad image) twice in a row makes the device `degraded` with that
//!   cause; picture diagnostics plug in here.
//! - One monitor per database: `run` takes the `MonitorLease` its caller acquired
//!   (`Store::acquire_monitor`) and releases it at the end.
//! - Monitor gaps: at start, spans left open by a monitor that died are closed at its last
//!   heartbeat, so the time camwatch was down is uncovered, i.e. `unknown`, never outage or
//!   online. A graceful stop closes this monitor's open spans at the stop, no one else's.
//! - Status changes are written in batches, each batch with a heartbeat, from one writer task.

pub mod baselines;
mod duties;
pub mod events;
pub mod evidence;
pub mod live;
pub mod metrics;
mod node;
mod peers;
pub mod scheduler;
pub mod summary;
mod sweep;
pub mod views;
mod writer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camwatch_probes::rtsp::{Depth, RtspOptions, RtspTarget};
use camwatch_probes::snapshot::{SnapshotOptions, SnapshotTarget};
use camwatch_probes::{Credentials, FailureKind, Frame, ProbeKind, ProbeOutcome, ProbeStatus};
use camwatch_probes::{HttpClient, SessionGroup, Url};
use tokio::sync::{mpsc, watch};

use crate::scheduler::{Handler, Limits, ProbeClass, Prober, Target};
use camwatch_core::clock::Clock;
use camwatch_core::error::Result;
use camwatch_core::health::{
    DeviceHealth, HealthConfig, Observation, PictureConfirm, PictureSample,
};
use camwatch_core::history::Status;
use camwatch_core::quality::keyframe::Codec;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::{MonitorLease, RegisterRevision, Store, Transition};
pub use duties::{Duties, run_duty};
pub use events::{
    Continued, DeviceMeta, Event, EventBus, EventKind, Received, RecordingChange, StatusChange,
    Subscription,
};
pub use live::{
    DeviceBrief, DeviceLive, Evidence, LiveStatus, MonitorState, ProbeCounters, RecentProbe,
};
pub use node::NodeRole;
pub use sweep::{Sweep, sweep};

/// How the monitor probes.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub health: HealthConfig,
    pub liveness_interval_sec: u64,
    pub picture_interval_sec: u64,
    /// ONVIF facts (clock drift, firmware) of devices with an ONVIF URL.
    pub onvif_interval_sec: u64,
    pub max_in_flight: usize,
    pub max_per_host: usize,
    pub max_per_platform: usize,
    pub deadline: Duration,
    /// Picture samples in a row that must agree before a picture fault is confirmed.
    pub picture_confirm: u32,
    /// Where the frame that proved a picture fault is kept (`<dir>/<code>/<unix>-<kinds>.jpg`).
    pub evidence_dir: Option<std::path::PathBuf>,
    /// How many evidence frames are kept per device, and for how long.
    pub evidence_retention: evidence::Retention,
    /// Approved baseline pictures, `<dir>/<code>.jpg` (`camwatch baseline approve`).
    pub baseline_dir: Option<std::path::PathBuf>,
    /// The fleet's picture-diagnostic thresholds.
    pub quality: camwatch_core::quality::Thresholds,
    /// Device groups with their own intervals and thresholds (first match wins).
    pub groups: Vec<camwatch_core::config::GroupConfig>,
    /// How often (clock seconds) the register is checked for changes (imports while running);
    /// 0: never.
    pub register_poll_sec: u64,
    /// Where devices without an address of their own (no IP, stream or snapshot URL) get their
    /// liveness: the GB/T 28181 platform's registrations, keepalives and catalogs. `None`: such
    /// devices are down with `dns_or_route` ("no address"), as before.
    pub signalling: Option<Arc<dyn SignallingStatus>>,
    /// One of several nodes (the lease was taken with `NodeStore::join_node`): probe only the
    /// shards this node holds, renewed and re-planned every heartbeat (docs/nodes.md). `None`:
    /// the one monitor of its database, probing every device.
    pub node: Option<NodeRole>,
    /// The singleton duties a node may take (with `node`; ignored without it, where the caller
    /// holds them all, the database's one monitor).
    pub duties: Option<Duties>,
    /// Status changes the span writer keeps in memory while the database is away (see
    /// `writer`): beyond them the record ends at the first change dropped and resumes when
    /// the database is back.
    pub write_buffer_max: usize,
}

/// A source of status that devices report themselves (GB/T 28181 signalling) rather than one a
/// probe finds by connecting. Asking it is the liveness probe of a device it covers: one
/// answer, from what it last heard, never waiting on the network.
pub trait SignallingStatus: Send + Sync + std::fmt::Debug {
    /// What it says about `device` at `now` (Unix seconds); `None`: it has not heard of it.
    fn observe(&self, device: &DeviceCode, now: i64) -> Option<ProbeOutcome>;

    /// What it says about `device`'s picture at `now`, where it reports pictures (a GB/T 28181
    /// parent's VLOST or DEFECT for a channel, or a normal picture when it reports nothing
    /// wrong); `None`: nothing (no picture sample is taken from it).
    fn picture(&self, _device: &DeviceCode, _now: i64) -> Option<PictureSample> {
        None
    }

    /// What it knows of `device`'s signalling at `now`, for diagnostics (registration,
    /// keepalives, catalog, DeviceInfo); `None`: it has not heard of it.
    fn facts(
        &self,
        _device: &DeviceCode,
        _now: i64,
    ) -> Option<camwatch_core::signalling::SipFacts> {
        None
    }

    /// Whether it samples pictures itself ([`SignallingStatus::picture_probe`]): then every
    /// device it covers that is not a parent gets picture probes from it.
    fn takes_pictures(&self) -> bool {
        false
    }

    /// A picture probe of `device` (a GB/T 28181 INVITE for live video to the first
    /// keyframe): the outcome carries the frame, diagnosed then like an RTSP keyframe.
    fn picture_probe(
        &self,
        device: DeviceCode,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ProbeOutcome> + Send + 'static>> {
        let _ = device;
        Box::pin(async {
            ProbeOutcome::down(ProbeKind::Sip, FailureKind::NoMedia, "no picture source")
        })
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            health: HealthConfig::default(),
            liveness_interval_sec: 300,
            picture_interval_sec: 3600,
            onvif_interval_sec: 86_400,
            max_in_flight: 512,
            max_per_host: 4,
            max_per_platform: 64,
            deadline: Duration::from_secs(10),
            picture_confirm: 2,
            evidence_dir: None,
            evidence_retention: evidence::Retention {
                keep: 5,
                max_age: None,
            },
            baseline_dir: None,
            quality: camwatch_core::quality::Thresholds::default(),
            groups: Vec::new(),
            register_poll_sec: 60,
            signalling: None,
            node: None,
            duties: None,
            write_buffer_max: camwatch_core::config::WRITE_BUFFER_MAX,
        }
    }
}

impl MonitorConfig {
    pub fn from_config(cfg: &camwatch_core::config::Config) -> Self {
        let c = &cfg.scheduler;
        Self {
            health: HealthConfig {
                confirm_failures: c.confirm_failures,
                confirm_window_sec: c.confirm_window_sec as i64,
                ..HealthConfig::default()
            },
            liveness_interval_sec: c.liveness_interval_sec,
            picture_interval_sec: c.picture_interval_sec,
            onvif_interval_sec: c.onvif_interval_sec,
            max_in_flight: c.max_in_flight,
            max_per_host: c.max_per_host,
            deadline: Duration::from_millis(c.deadline_ms),
            picture_confirm: cfg.quality.confirm_samples,
            evidence_retention: evidence::Retention {
                keep: cfg.quality.evidence_keep,
                max_age: (cfg.quality.evidence_days > 0)
                    .then(|| i64::from(cfg.quality.evidence_days) * 86_400),
            },
            quality: cfg.quality.fleet_thresholds(),
            groups: c.groups.clone(),
            write_buffer_max: cfg.database.write_buffer_max,
            ..Self::default()
        }
    }

    /// Each device's picture thresholds: its group's, else the fleet's.
    fn thresholds_per_device(
        &self,
        devices: &[Device],
    ) -> Vec<Arc<camwatch_core::quality::Thresholds>> {
        let fleet = Arc::new(self.quality.clone());
        let per_group: Vec<Arc<camwatch_core::quality::Thresholds>> = self
            .groups
            .iter()
            .map(|g| match self.quality.with_overrides(&g.thresholds) {
                Ok(t) => Arc::new(t),
                Err(e) => {
                    tracing::warn!(group = %g.name, "thresholds ignored: {e}");
                    fleet.clone()
                }
            })
            .collect();
        group_index(devices, &self.groups)
            .into_iter()
            .map(|g| g.map_or_else(|| fleet.clone(), |i| per_group[i].clone()))
            .collect()
    }
}

enum Liveness {
    Rtsp(RtspTarget),
    Tcp(SocketAddr),
    /// Asked of `MonitorConfig::signalling` (the device has no address of its own).
    Signalling(DeviceCode),
}

/// A picture sample: PLAY to the first keyframe proves media flows (a stream can negotiate and
/// deliver nothing while the snapshot endpoint still answers); the snapshot, when there is
/// one, is the cheaper picture to diagnose.
struct Picture {
    keyframe: Option<RtspTarget>,
    snapshot: Option<SnapshotTarget>,
    /// Sampled by the signalling source (GB/T 28181 INVITE), the device having no RTSP or
    /// snapshot URL.
    signalling: bool,
}

struct ProbeTarget {
    liveness: Option<Liveness>,
    picture: Option<Picture>,
    group: Arc<SessionGroup>,
    /// Whose approved view (`views::Views`) every picture sample is compared with.
    code: DeviceCode,
    /// The device group's picture thresholds.
    thresholds: Arc<camwatch_core::quality::Thresholds>,
    onvif: Option<camwatch_probes::onvif::OnvifTarget>,
}

/// Credentials of a device, or of its parent (NVR channels log in with the NVR's account).
pub fn creds_for(d: &Device, by_code: &HashMap<DeviceCode, &Device>) -> Option<Credentials> {
    let owner = if d.username.is_some() {
        d
    } else {
        d.parent.and_then(|p| by_code.get(&p).copied()).unwrap_or(d)
    };
    Some(Credentials {
        username: owner.username.clone()?,
        password: owner
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default(),
    })
}

fn host_key(d: &Device, by_code: &HashMap<DeviceCode, &Device>) -> String {
    // IP and RTSP port: cameras behind one NAT address on different ports are different
    // devices, each with its own session limit; an NVR's channels share the NVR's.
    let owner = match d.parent.and_then(|p| by_code.get(&p)) {
        Some(p) if p.ip.is_some() && d.ip.is_none() => *p,
        _ => d,
    };
    if let Some(ip) = owner.ip {
        return SocketAddr::new(ip, owner.rtsp_port.unwrap_or(554)).to_string();
    }
    d.stream_urls
        .first()
        .and_then(|u| Url::parse(u).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(format!("{host}:{}", u.port().unwrap_or(554)))
        })
        .unwrap_or_else(|| d.code.to_string())
}

/// The register as probe targets (index-aligned with `devices`).
fn targets(devices: &[Device], cfg: &MonitorConfig) -> (Vec<Target>, Vec<ProbeTarget>) {
    let thresholds = cfg.thresholds_per_device(devices);
    let by_code: HashMap<DeviceCode, &Device> = devices.iter().map(|d| (d.code, d)).collect();
    let mut groups: HashMap<String, Arc<SessionGroup>> = HashMap::new();
    let mut sched = Vec::with_capacity(devices.len());
    let mut probe = Vec::with_capacity(devices.len());
    for (d, thresholds) in devices.iter().zip(thresholds) {
        let host = host_key(d, &by_code);
        let group = groups
            .entry(host.clone())
            .or_insert_with(|| Arc::new(SessionGroup::default()))
            .clone();
        let creds = creds_for(d, &by_code);
        let rtsp = d
            .stream_urls
            .first()
            .and_then(|u| Url::parse(u).ok())
            .map(|url| RtspTarget {
                url,
                creds: creds.clone(),
            });
        let liveness = if d.kind.is_parent() {
            d.ip.map(|ip| Liveness::Tcp(SocketAddr::new(ip, d.rtsp_port.unwrap_or(554))))
        } else if let Some(r) = &rtsp {
            Some(Liveness::Rtsp(r.clone()))
        } else {
            d.ip.map(|ip| Liveness::Tcp(SocketAddr::new(ip, d.rtsp_port.unwrap_or(554))))
        };
        let liveness = match liveness {
            None if cfg.signalling.is_some() && d.snapshot_url.is_none() => {
                Some(Liveness::Signalling(d.code))
            }
            l => l,
        };
        let snapshot = d
            .snapshot_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .map(|url| SnapshotTarget {
                url,
                creds: creds.clone(),
            });
        let by_signalling = matches!(liveness, Some(Liveness::Signalling(_)))
            && cfg.signalling.as_ref().is_some_and(|s| s.takes_pictures());
        let picture = if d.kind.is_parent() {
            None
        } else if rtsp.is_none() && snapshot.is_none() {
            by_signalling.then_some(Picture {
                keyframe: None,
                snapshot: None,
                signalling: true,
            })
        } else {
            Some(Picture {
                keyframe: rtsp,
                snapshot,
                signalling: false,
            })
        };
        let onvif = d
            .onvif_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .map(|device_url| camwatch_probes::onvif::OnvifTarget {
                device_url,
                creds: creds.clone(),
            });
        let mut classes = Vec::new();
        if liveness.is_some() {
            classes.push(ProbeClass::Liveness);
        }
        if picture.is_some() {
            classes.push(ProbeClass::Picture);
        }
        if onvif.is_some() {
            classes.push(ProbeClass::Onvif);
        }
        sched.push(Target {
            host,
            platform: None,
            classes,
            not_before_ms: 0,
        });
        probe.push(ProbeTarget {
            liveness,
            picture,
            group,
            code: d.code,
            thresholds,
            onvif,
        });
    }
    (sched, probe)
}

struct RealProber {
    targets: Vec<ProbeTarget>,
    client: HttpClient,
    deadline: Duration,
    signalling: Option<Arc<dyn SignallingStatus>>,
    clock: Arc<dyn Clock>,
    /// Each camera's approved view (the monitor state's).
    views: Arc<views::Views>,
    /// RTSP `User-Agent`: `camwatch`, or `camwatch (node NAME)` on one of several nodes.
    user_agent: String,
}

/// Runs the picture diagnostics on a sampled picture (off the async threads: a few ms of CPU)
/// and records the verdict in the outcome: typed in `picture` (faults and the fingerprint
/// `frozen` needs), and as `picture_faults` and `fingerprint` facts for people. A JPEG snapshot is diagnosed
/// as it is; an H.264 or H.265 keyframe is decoded first and kept as a small JPEG for evidence.
/// An undecodable snapshot is a `bad_image` failure; a keyframe the decoder cannot read is not
/// diagnosed (the sample shows media flowing, nothing more).
async fn diagnose_outcome(
    mut o: ProbeOutcome,
    baseline: Option<Arc<camwatch_core::quality::Baseline>>,
    dismissed: Arc<[camwatch_core::quality::Dismissal]>,
    thresholds: Arc<camwatch_core::quality::Thresholds>,
) -> ProbeOutcome {
    let (bytes, keyframe) = match o.frame.clone() {
        Some(camwatch_probes::Frame::Jpeg(j)) => (j, None),
        Some(camwatch_probes::Frame::H264(k)) => (k, Some(Codec::H264)),
        Some(camwatch_probes::Frame::H265(k)) => (k, Some(Codec::H265)),
        None => return o,
    };
    let r = tokio::task::spawn_blocking(move || {
        let thumb = match keyframe {
            Some(Codec::H264) => camwatch_core::quality::from_h264(&bytes)?,
            Some(Codec::H265) => camwatch_core::quality::from_h265(&bytes)?,
            None => camwatch_core::quality::from_jpeg(&bytes)?,
        };
        let d = camwatch_core::quality::diagnose_dismissing(
            &thumb,
            None,
            baseline.as_deref(),
            &thresholds,
            &dismissed,
        );
        let evidence = keyframe.is_some().then(|| thumb_jpeg(&thumb));
        Ok::<_, camwatch_core::quality::FrameError>((
            d,
            camwatch_core::quality::fingerprint(&thumb),
            evidence,
        ))
    })
    .await;
    match r {
        Ok(Ok((d, fp, evidence))) => {
            let faults = d.fault_set();
            let suspects = d.suspect_set();
            let still = d.metrics.still;
            o.fact("picture_faults", faults.names().join(","));
            if !suspects.is_empty() {
                // Not faults: judged alone, a healthy scene can show them too. Approving the
                // camera's baseline judges them against its healthy view instead.
                o.fact(
                    "picture_suspects",
                    format!(
                        "{} (no approved baseline: review the picture and approve it)",
                        suspects.names().join(",")
                    ),
                );
            }
            o.fact("fingerprint", format!("{fp:016x}"));
            o.picture = Some(camwatch_core::outcome::PictureVerdict {
                faults,
                suspects,
                fingerprint: fp,
                still,
            });
            if let (Some(jpeg), Some(codec)) = (evidence, keyframe) {
                o.fact(
                    "picture",
                    format!("decoded from the {} keyframe", codec.as_str()),
                );
                o.frame = Some(camwatch_probes::Frame::Jpeg(jpeg.into()));
            }
        }
        // Media flows; a keyframe the decoder cannot read (a profile it lacks, say) is not
        // the camera's fault: not diagnosed.
        Ok(Err(e)) if keyframe.is_some() => o.fact("picture", format!("keyframe not decoded: {e}")),
        Ok(Err(e)) => {
            let frame = o.frame.take();
            o = ProbeOutcome {
                frame,
                steps: std::mem::take(&mut o.steps),
                ..ProbeOutcome::down(ProbeKind::Snapshot, FailureKind::BadImage, e.to_string())
            };
        }
        Err(e) => tracing::error!("picture diagnosis task failed: {e}"),
    }
    o
}

/// A thumbnail as a JPEG (evidence of a fault found in a decoded keyframe).
fn thumb_jpeg(t: &camwatch_core::quality::Thumb) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 85);
    if let Err(e) = enc.encode(
        &t.rgb,
        t.width as u16,
        t.height as u16,
        jpeg_encoder::ColorType::Rgb,
    ) {
        tracing::warn!("evidence frame not encoded: {e}");
    }
    out
}

impl Prober for RealProber {
    fn probe(
        &self,
        target: usize,
        class: ProbeClass,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ProbeOutcome> + Send + 'static>> {
        let t = &self.targets[target];
        let deadline = self.deadline;
        match class {
            ProbeClass::Liveness => match &t.liveness {
                Some(Liveness::Rtsp(r)) => {
                    let r = r.clone();
                    let opts = RtspOptions {
                        depth: Depth::Describe,
                        deadline,
                        session_group: Some(t.group.clone()),
                        user_agent: self.user_agent.clone(),
                        ..Default::default()
                    };
                    Box::pin(async move { camwatch_probes::rtsp::probe(&r, &opts).await })
                }
                Some(Liveness::Tcp(a)) => {
                    let a = *a;
                    Box::pin(async move { camwatch_probes::tcp::probe(a, deadline).await })
                }
                Some(Liveness::Signalling(code)) => {
                    let now = self.clock.now().as_second();
                    let o = self
                        .signalling
                        .as_ref()
                        .and_then(|s| {
                            let mut o = s.observe(code, now)?;
                            if o.status == ProbeStatus::Up {
                                o.reported_picture = s.picture(code, now);
                                // Sampled pictures speak for the picture: the parent's "nothing
                                // wrong" between them would reset their confirmation.
                                let sampled = t.picture.as_ref().is_some_and(|p| p.signalling);
                                if sampled
                                    && matches!(o.reported_picture,
                                        Some(PictureSample::Diagnosed { faults, .. }) if faults.is_empty())
                                {
                                    o.reported_picture = None;
                                }
                            }
                            Some(o)
                        })
                        .unwrap_or_else(|| {
                            ProbeOutcome::down(
                                ProbeKind::Sip,
                                FailureKind::NoAnswer,
                                "not registered to camwatch's GB/T 28181 platform, nor in a catalog",
                            )
                        });
                    Box::pin(async move { o })
                }
                None => Box::pin(async {
                    ProbeOutcome::down(ProbeKind::Tcp, FailureKind::DnsOrRoute, "no address")
                }),
            },
            ProbeClass::Picture => match &t.picture {
                Some(p) if p.signalling => {
                    let probe = self.signalling.as_ref().map(|s| s.picture_probe(t.code));
                    let views::View {
                        baseline,
                        dismissed,
                    } = self.views.get(&t.code);
                    let thresholds = t.thresholds.clone();
                    Box::pin(async move {
                        let o = match probe {
                            Some(p) => p.await,
                            None => ProbeOutcome::down(
                                ProbeKind::Sip,
                                FailureKind::NoMedia,
                                "no picture source",
                            ),
                        };
                        diagnose_outcome(o, baseline, dismissed, thresholds).await
                    })
                }
                Some(p) => {
                    let keyframe = p.keyframe.clone().map(|r| {
                        let opts = RtspOptions {
                            depth: Depth::FirstFrame,
                            deadline,
                            session_group: Some(t.group.clone()),
                            // The snapshot is the picture when there is one.
                            keep_frame: p.snapshot.is_none(),
                            user_agent: self.user_agent.clone(),
                            ..Default::default()
                        };
                        (r, opts)
                    });
                    let snapshot = p.snapshot.clone();
                    let client = self.client.clone();
                    let views::View {
                        baseline,
                        dismissed,
                    } = self.views.get(&t.code);
                    let thresholds = t.thresholds.clone();
                    Box::pin(async move {
                        let o = async move {
                            let mut steps = Vec::new();
                            if let Some((r, opts)) = keyframe {
                                let o = camwatch_probes::rtsp::probe(&r, &opts).await;
                                if o.status != ProbeStatus::Up || snapshot.is_none() {
                                    return o;
                                }
                                steps = o.steps;
                            }
                            let s = snapshot.expect("a picture target has a source");
                            let opts = SnapshotOptions {
                                deadline,
                                ..Default::default()
                            };
                            let mut o = camwatch_probes::snapshot::probe(&client, &s, &opts).await;
                            steps.append(&mut o.steps);
                            o.steps = steps;
                            o
                        }
                        .await;
                        diagnose_outcome(o, baseline, dismissed, thresholds).await
                    })
                }
                None => Box::pin(async {
                    ProbeOutcome::down(
                        ProbeKind::Snapshot,
                        FailureKind::NoMedia,
                        "no picture source",
                    )
                }),
            },
            ProbeClass::Onvif => match &t.onvif {
                Some(o) => {
                    let (o, client) = (o.clone(), self.client.clone());
                    let opts = camwatch_probes::onvif::OnvifOptions {
                        deadline,
                        ..Default::default()
                    };
                    Box::pin(async move { camwatch_probes::onvif::probe(&client, &o, &opts).await })
                }
                None => Box::pin(async {
                    ProbeOutcome::down(ProbeKind::Onvif, FailureKind::DnsOrRoute, "no ONVIF URL")
                }),
            },
        }
    }
}

/// The first group each device belongs to.
fn group_index(
    devices: &[Device],
    groups: &[camwatch_core::config::GroupConfig],
) -> Vec<Option<usize>> {
    devices
        .iter()
        .map(|d| {
            groups.iter().position(|g| {
                g.region_prefix
                    .as_deref()
                    .is_none_or(|p| d.region().starts_with(p))
                    && g.maintainer
                        .as_deref()
                        .is_none_or(|m| d.maintainer.as_deref() == Some(m))
            })
        })
        .collect()
}

/// Each device's interval override per class (liveness, picture, ONVIF), in seconds, from the
/// first group it belongs to.
pub(crate) fn group_intervals(
    devices: &[Device],
    groups: &[camwatch_core::config::GroupConfig],
) -> Vec<[Option<u64>; 3]> {
    group_index(devices, groups)
        .into_iter()
        .map(|g| {
            g.map_or([None; 3], |i| {
                let g = &groups[i];
                [
                    g.liveness_interval_sec,
                    g.picture_interval_sec,
                    g.onvif_interval_sec,
                ]
            })
        })
        .collect()
}

/// The probe outcome of a picture sample, as picture confirmation sees it; `None` when the
/// sample says nothing about the picture (unreachable: liveness owns that).
fn picture_sample(o: &ProbeOutcome) -> Option<PictureSample> {
    match (o.status, o.failure) {
        (ProbeStatus::Down, Some(FailureKind::NoMedia)) => Some(PictureSample::NoMedia),
        (ProbeStatus::Down, Some(FailureKind::BadImage)) => Some(PictureSample::BadImage),
        (ProbeStatus::Down, _) => None,
        _ => Some(match o.picture {
            Some(v) => PictureSample::Diagnosed {
                faults: v.faults,
                still: v.still,
            },
            None => PictureSample::Undiagnosed,
        }),
    }
}

/// Per-device state the handler keeps between probes (carried over when the register changes).
#[derive(Debug, Clone, Default)]
struct DeviceTrack {
    health: DeviceHealth,
    picture: PictureConfirm,
    /// The fault the device had when camwatch last stopped watching, until its first change.
    carried: Option<(Status, events::Continued)>,
}

struct MonitorHandler {
    /// Per-device interval overrides (liveness, picture, ONVIF), seconds.
    intervals: Vec<[Option<u64>; 3]>,
    state: Arc<MonitorState>,
    /// A sync lock: nothing awaits while it is held, and each update is a few comparisons.
    tracks: Mutex<Vec<DeviceTrack>>,
    parent_of: Vec<Option<usize>>,
    codes: Vec<DeviceCode>,
    cfg: MonitorConfig,
    changes: mpsc::UnboundedSender<writer::Write>,
    events: EventBus,
    clock: Arc<dyn Clock>,
}

impl MonitorHandler {
    /// Feeds one observation to device `i`'s health; records and publishes what changed.
    /// Returns the recheck time (ms) health asks for.
    /// `blamed` is the parent the probe itself found down (signalling knows a lower platform
    /// is dead before the parent's own probes confirm it).
    fn feed(
        &self,
        i: usize,
        obs: &Observation,
        failed: Option<ProbeClass>,
        blamed: Option<DeviceCode>,
    ) -> Option<i64> {
        let mut tracks = self.tracks.lock().expect("tracks lock");
        let parent_down = blamed.or_else(|| {
            self.parent_of[i]
                .filter(|&p| tracks[p].health.status() == Status::Offline)
                .map(|p| self.codes[p])
        });
        let t = &mut tracks[i];
        let from = t.health.status();
        let blips = t.health.blips;
        let d = t
            .health
            .observe(obs, parent_down.as_ref(), &self.cfg.health);
        let status = t.health.status();
        let blip = t.health.blips > blips;
        let continues = d.change.as_ref().and_then(|c| {
            let (was, cont) = t.carried.take()?;
            (was == c.status).then_some(cont)
        });
        drop(tracks);
        self.state.set_status(i, status);
        let meta = || self.state.meta(i);
        if let Some(c) = d.change {
            self.state.note_change(i, &c);
            let sent = self.changes.send(writer::Write::Change(Transition {
                device: self.codes[i],
                status: c.status,
                at: c.at,
                cause: c.cause.clone(),
            }));
            if sent.is_ok() {
                self.state.metrics().queued();
            }
            self.events.publish(
                c.at,
                meta(),
                EventKind::Status(StatusChange {
                    from,
                    to: c.status,
                    cause: c.cause,
                    continues,
                }),
            );
        } else if let (Some(class), Some(failure)) = (failed, obs.failure) {
            self.events.publish(
                obs.at,
                meta(),
                EventKind::ProbeFailed {
                    class,
                    failure,
                    detail: obs.detail.clone(),
                },
            );
        } else if blip {
            self.events.publish(obs.at, meta(), EventKind::Blip);
        }
        d.recheck_at.map(|s| s * 1000)
    }
}

impl Handler for MonitorHandler {
    fn started(&self, class: ProbeClass, lag_ms: i64) {
        self.state.metrics().started(class, lag_ms);
    }

    fn completed(
        &self,
        i: usize,
        class: ProbeClass,
        started_ms: i64,
        o: ProbeOutcome,
    ) -> Option<i64> {
        let slot = match class {
            ProbeClass::Liveness => 0,
            ProbeClass::Picture => 1,
            ProbeClass::Onvif => 2,
        };
        // A recheck the handler asks for wins; else the device's group interval, if any.
        let group_next = self.intervals[i][slot].map(|s| started_ms + s as i64 * 1000);
        self.complete(i, class, started_ms, o).or(group_next)
    }
}

impl MonitorHandler {
    /// One picture sample of device `i` at `at` (sampled by a picture probe, or reported by
    /// its parent with a liveness outcome, `o`): picture confirmation, evidence, live state,
    /// and, when `feed_health`, health and the picture event.
    fn picture_sampled(
        &self,
        i: usize,
        at: i64,
        sample: PictureSample,
        o: &ProbeOutcome,
        feed_health: bool,
    ) {
        let (changed, up) = {
            let mut tracks = self.tracks.lock().expect("tracks lock");
            let t = &mut tracks[i];
            let changed = t.picture.sample(sample, self.cfg.picture_confirm);
            (
                changed,
                matches!(t.health.status(), Status::Online | Status::Degraded),
            )
        };
        let Some(picture) = changed else {
            return;
        };
        if let (Some(cause), Some(Frame::Jpeg(jpeg))) = (&picture, &o.frame) {
            if let Some(dir) = &self.cfg.evidence_dir {
                evidence::keep(
                    dir.join(self.codes[i].to_string()),
                    format!("{at}-{}.jpg", cause.to_string().replace(',', "+")),
                    jpeg.clone(),
                    self.cfg.evidence_retention,
                    self.clock.now().as_second(),
                );
            }
            self.state.set_evidence(
                i,
                Evidence {
                    at,
                    cause: cause.clone(),
                    jpeg: jpeg.clone(),
                },
            );
        }
        self.state.set_picture(i, picture.clone());
        // Tell health now if the device is up: degraded starts with this sample (a liveness
        // outcome that carries the sample tells it itself).
        if up && feed_health {
            let before = self.state.status_of(i).0;
            let obs = Observation {
                at,
                status: ProbeStatus::Up,
                failure: None,
                picture: picture.clone(),
                detail: o.detail.clone(),
                elapsed_ms: o.elapsed_ms,
            };
            self.feed(i, &obs, None, None);
            // Degraded before and after: the problem changed, the status did not.
            if before == Status::Degraded && self.state.status_of(i).0 == Status::Degraded {
                self.events.publish(
                    at,
                    self.state.meta(i),
                    EventKind::Picture { cause: picture },
                );
            }
        }
    }

    fn complete(
        &self,
        i: usize,
        class: ProbeClass,
        started_ms: i64,
        o: ProbeOutcome,
    ) -> Option<i64> {
        let at = started_ms.div_euclid(1000);
        self.state.count_probe(&o, self.clock.now().as_second());
        self.state.metrics().probe(class, &o);
        self.state.record_probe(i, class, at, &o);
        match class {
            ProbeClass::Liveness => {
                // A picture the parent reported (GB/T 28181 VLOST, DEFECT, or nothing wrong):
                // confirmed like a sampled one; this liveness outcome then carries it.
                if let Some(sample) = o.reported_picture {
                    self.picture_sampled(i, at, sample, &o, false);
                }
                let mut obs = Observation::from_outcome(at, &o);
                obs.picture = self.tracks.lock().expect("tracks lock")[i]
                    .picture
                    .confirmed()
                    .cloned();
                self.feed(i, &obs, Some(class), o.parent_down)
            }
            ProbeClass::Picture => {
                let Some(sample) = picture_sample(&o) else {
                    // Unreachable or refused: liveness deals with that; nothing learnt here.
                    return None;
                };
                self.picture_sampled(i, at, sample, &o, true);
                None
            }
            // Facts, not availability: a camera whose ONVIF service fails still streams.
            ProbeClass::Onvif => {
                let facts = o.onvif.clone().unwrap_or_default();
                let drift = facts.clock_drift_sec;
                self.state.set_onvif(i, o.status == ProbeStatus::Up, facts);
                if drift.is_some_and(|d| d.abs() > 300) {
                    tracing::warn!(device = %self.codes[i], drift_sec = drift, "camera clock is off");
                }
                None
            }
        }
    }
}

/// Saves the frame that proved a picture fault, keeping the newest `keep` per device. Off the
/// async threads; a failure to write is logged, never fatal to monitoring.
/// Loads approved baselines and dismissed false alarms into the monitor's views; an
/// unreadable one is logged and skipped.
fn load_baselines(dir: &std::path::Path, devices: &[Device], views: &views::Views) {
    let all: HashMap<DeviceCode, views::View> = devices
        .iter()
        .map(|d| (d.code, baselines::view(dir, &d.code)))
        .filter(|(_, v)| v.baseline.is_some() || !v.dismissed.is_empty())
        .collect();
    let dismissed: usize = all.values().map(|v| v.dismissed.len()).sum();
    views.replace_all(all);
    let n = views.with_baseline();
    if n > 0 {
        tracing::info!(cameras = n, "loaded approved baseline pictures");
    }
    if dismissed > 0 {
        tracing::info!(dismissed, "loaded dismissed false alarms");
    }
}

/// Runs the monitor over `devices` until `shutdown`, as the holder of `lease`; returns after its
/// open spans are closed and the lease released.
///
/// Every status change goes to the span writer and, as an [`Event`], to `events`' subscribers;
/// `state` holds what is known of each device now. With `register_poll_sec` set, the register is
/// re-read when it changes: probing follows the new register, and devices that stay keep their
/// health, picture confirmation and live state.
// Each argument is a separate thing the caller owns and may share (the store, the state the
// API reads, the bus it subscribes to); a struct of them would only rename the list.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    store: Arc<dyn Store>,
    lease: MonitorLease,
    devices: Vec<Device>,
    cfg: MonitorConfig,
    clock: Arc<dyn Clock>,
    state: Arc<MonitorState>,
    events: EventBus,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let mut node = cfg
        .node
        .clone()
        .map(|r| node::NodeBeat::new(r, &lease, cfg.duties.clone()));
    // Whatever a dead monitor left open ends at its last sign of life: the gap is unknown.
    // (Nodes recover dead nodes at their heartbeats instead: the others are alive.)
    let recovered = if node.is_none() {
        store.recover_dead_monitors(&lease).await?
    } else {
        Vec::new()
    };
    for (dead, closed) in recovered {
        if closed > 0 {
            tracing::info!(
                closed,
                at = dead.heartbeat_at,
                instance = %dead.id,
                pid = dead.pid,
                host = %dead.host,
                "closed spans left open by the previous run: the time since is unknown"
            );
        }
    }
    let now = clock.now().as_second();
    let mut carried = carried_faults(store.as_ref(), now).await?;
    store.record_heartbeat(&lease, now).await?;
    let lease = Arc::new(lease);
    let mut revision = store.register_revision().await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let w = tokio::spawn(writer::writer(
        store.clone(),
        lease.clone(),
        clock.clone(),
        rx,
        state.clone(),
        cfg.write_buffer_max,
    ));
    // Recovered and writing: ready (`/readyz`) until this returns, however it returns.
    state.metrics().set_running(true);
    struct Stopped<'a>(&'a MonitorState);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            self.0.metrics().set_running(false);
        }
    }
    let _stopped = Stopped(&state);
    // A node probes the devices of the shards it holds (`devices`) out of the register (`all`).
    let mut all = Vec::new();
    let mut shards = Vec::new();
    let mut probing = std::collections::BTreeSet::new();
    let mut devices = match &mut node {
        None => devices,
        Some(n) => {
            shards = camwatch_core::nodes::shards_of(&devices, camwatch_core::nodes::SHARDS);
            all = devices;
            n.beat(store.as_ref(), &lease, &all, &shards, now).await?;
            n.publish_duties(now);
            probing = n.probing(now);
            let (mine, others) = node::split(&all, &shards, &probing);
            tracing::info!(
                shards = probing.len(),
                devices = mine.len(),
                of = all.len(),
                "node: probing the shards it holds"
            );
            state.reindex_fleet(&mine, &others);
            state.metrics().set_shards(probing.len());
            mine
        }
    };
    // A node shows the devices the others probe too, from their spans.
    let _follower = node.is_some().then(|| {
        AbortOnDrop(tokio::spawn(peers::follow(
            store.clone(),
            state.clone(),
            events.clone(),
            lease.id(),
            clock.clone(),
        )))
    });
    // Evidence frames past their retention go even from devices with no new frame.
    let _evidence = cfg
        .evidence_dir
        .clone()
        .filter(|_| cfg.evidence_retention.max_age.is_some())
        .map(|root| {
            AbortOnDrop(tokio::spawn(evidence::sweeper(
                root,
                cfg.evidence_retention,
                clock.clone(),
            )))
        });
    let mut kept: HashMap<DeviceCode, DeviceTrack> = HashMap::new();
    // Set when this node was taken for dead: it stops without touching the record.
    let mut fatal = None;
    loop {
        let tracks = devices
            .iter()
            .map(|d| {
                kept.remove(&d.code).unwrap_or_else(|| DeviceTrack {
                    carried: carried.remove(&d.code),
                    ..DeviceTrack::default()
                })
            })
            .collect();
        let (handler, prober, mut sched, limits) =
            assemble(&devices, &cfg, &clock, &state, &events, &tx, tracks);
        if let Some(n) = &mut node {
            // A device taken over from a live node is first probed one interval after that
            // node's last possible probe: no interval sees it probed by both.
            let gained = n.take_gained();
            if !gained.is_empty() {
                let shard: HashMap<DeviceCode, camwatch_core::nodes::ShardId> = all
                    .iter()
                    .map(|d| d.code)
                    .zip(shards.iter().copied())
                    .collect();
                let interval = cfg.liveness_interval_sec as i64;
                for (d, t) in devices.iter().zip(sched.iter_mut()) {
                    if let Some(quiet) = shard.get(&d.code).and_then(|s| gained.get(s)) {
                        // +1: `quiet` is truncated to the second.
                        t.not_before_ms = (quiet + interval + 1) * 1000;
                    }
                }
            }
        }
        let prober = Arc::new(RealProber {
            targets: prober,
            client: camwatch_probes::snapshot::client(),
            deadline: cfg.deadline,
            signalling: cfg.signalling.clone(),
            clock: clock.clone(),
            views: state.views().clone(),
            user_agent: match &cfg.node {
                Some(r) => format!("camwatch (node {})", r.name),
                None => "camwatch".into(),
            },
        });
        // The scheduler stops for a shutdown, a register change or a change of shards. It runs
        // as its own task: polled inline here, it would stand still while the register poll
        // awaits the database.
        let (stop_tx, stop_rx) = watch::channel(false);
        let (urgent_tx, urgent) = mpsc::unbounded_channel();
        state.set_urgent(Some(urgent_tx));
        let mut sched_task = tokio::spawn(scheduler::run(
            Arc::new(sched),
            limits,
            clock.clone(),
            prober,
            handler.clone(),
            urgent,
            stop_rx,
        ));
        let mut reload: Option<(Vec<Device>, RegisterRevision)> = None;
        let mut reshard = false;
        let mut stopping = false;
        let poll_ms = cfg.register_poll_sec.max(1) as i64 * 1000;
        let polling = cfg.register_poll_sec > 0;
        // Register polls and heartbeats on one timer: each select arm's sleep starts afresh
        // when another arm fires, so two sleeping arms would starve the slower one.
        let started = clock.now().as_millisecond();
        let mut next_poll = if polling { started + poll_ms } else { i64::MAX };
        let mut next_beat = node
            .as_ref()
            .map_or(i64::MAX, |n| started + n.heartbeat_ms());
        loop {
            let wake = next_poll.min(next_beat);
            let wait = Duration::from_millis((wake - clock.now().as_millisecond()).max(0) as u64);
            tokio::select! {
                r = &mut sched_task => {
                    r.map_err(|e| camwatch_core::error::Error::internal(format!("scheduler: {e}")))?;
                    break;
                }
                _ = shutdown.changed(), if !stopping => {
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                _ = clock.sleep(wait), if wake != i64::MAX && !stopping && !*shutdown.borrow() => {
                    let now_ms = clock.now().as_millisecond();
                    if now_ms >= next_poll {
                        next_poll = now_ms + poll_ms;
                        match register_changed(store.as_ref(), revision).await {
                            Ok(Some(r)) => {
                                stopping = true;
                                let _ = stop_tx.send(true);
                                reload = Some(r);
                            }
                            Ok(None) => {}
                            // Keep probing the register we have; try again next poll.
                            Err(e) => tracing::warn!("register not re-read: {e}"),
                        }
                    }
                    if let Some(n) = node.as_mut().filter(|_| now_ms >= next_beat && !stopping) {
                        next_beat = now_ms + n.heartbeat_ms();
                        let now = now_ms.div_euclid(1000);
                        // A heartbeat that does not answer within a heartbeat (the database
                        // away: connecting waits for the pool's timeout) counts as failed, so
                        // that `probing` below shrinks on time as the leases run out.
                        let limit = Duration::from_millis(n.heartbeat_ms() as u64);
                        let beat = tokio::select! {
                            r = n.beat(store.as_ref(), &lease, &all, &shards, now) => r,
                            _ = clock.sleep(limit) => Err(camwatch_core::error::Error::new(
                                camwatch_core::error::ErrorKind::Unavailable,
                                "no answer from the database within a heartbeat",
                            )),
                        };
                        match beat {
                            Ok(()) => {}
                            Err(e) if e.kind == camwatch_core::error::ErrorKind::Conflict => {
                                tracing::error!("{e}");
                                fatal = Some(e);
                            }
                            // Keep probing what is still safely held; the leases run out
                            // otherwise (`probing` shrinks), and the next beat tries again.
                            Err(e) => {
                                n.lost_touch();
                                tracing::warn!("node heartbeat failed: {e}");
                            }
                        }
                        n.publish_duties(now);
                        let now_probing = n.probing(now);
                        if fatal.is_some() || now_probing != probing {
                            stopping = true;
                            let _ = stop_tx.send(true);
                            reshard = true;
                        }
                    }
                }
            }
        }
        // The scheduler has returned: no probe is in flight, the handler is ours alone.
        state.set_urgent(None);
        let handler = Arc::into_inner(handler).expect("the scheduler has dropped its handler");
        if fatal.is_some() || *shutdown.borrow() || (reload.is_none() && !reshard) {
            break;
        }
        let tracks = handler.tracks.into_inner().expect("tracks lock");
        kept = devices.iter().map(|d| d.code).zip(tracks).collect();
        // On a node, the rest of the register: followed, not probed.
        let mut followed = Vec::new();
        let next = match (&mut node, reload) {
            (None, Some((new, rev))) => {
                revision = rev;
                new
            }
            (None, None) => unreachable!("a single monitor reloads only for the register"),
            (Some(n), reload) => {
                if let Some((new, rev)) = reload {
                    revision = rev;
                    shards = camwatch_core::nodes::shards_of(&new, camwatch_core::nodes::SHARDS);
                    all = new;
                }
                let now = clock.now().as_second();
                probing = n.probing(now);
                let (next, others) = node::split(&all, &shards, &probing);
                followed = others;
                // Devices still in the register that this node stops probing (a shard given
                // up, or its lease about to run out unrenewed): their spans end now, so the
                // time until someone probes them again is unknown, not their last status.
                let staying: std::collections::HashSet<DeviceCode> =
                    next.iter().map(|d| d.code).collect();
                let registered: std::collections::HashSet<DeviceCode> =
                    all.iter().map(|d| d.code).collect();
                let left: Vec<DeviceCode> = devices
                    .iter()
                    .map(|d| d.code)
                    .filter(|c| !staying.contains(c) && registered.contains(c))
                    .collect();
                if !left.is_empty() {
                    let _ = tx.send(writer::Write::Unwatch {
                        devices: left,
                        at: now,
                    });
                }
                next
            }
        };
        tracing::info!(
            before = devices.len(),
            after = next.len(),
            shards = probing.len(),
            "the register or this node's shards changed: probing the new set"
        );
        state.reindex_fleet(&next, &followed);
        state.metrics().set_shards(probing.len());
        devices = next;
    }
    drop(tx);
    let written = w
        .await
        .map_err(|e| camwatch_core::error::Error::internal(format!("span writer: {e}")))?;
    if let Some(e) = fatal {
        // Taken for dead: its spans were closed and its shards moved; recording a stop now
        // would write beside their new holders.
        return Err(e);
    }
    written?;
    let lease = Arc::into_inner(lease).expect("the span writer has returned its lease");
    store
        .release_monitor(lease, clock.now().as_second())
        .await?;
    Ok(())
}

/// The register as it is now, if it changed since `since`.
async fn register_changed(
    store: &dyn Store,
    since: RegisterRevision,
) -> Result<Option<(Vec<Device>, RegisterRevision)>> {
    let rev = store.register_revision().await?;
    if rev == since {
        return Ok(None);
    }
    let devices = store
        .list_devices(&camwatch_store::DeviceFilter::default())
        .await?;
    Ok(Some((devices, rev)))
}

/// How far back a fault is carried over a monitor restart: a device whose last record is an
/// offline or degraded span that ended (camwatch stopped watching) within this long before the
/// start continues that fault. After a longer gap its next fault counts as new.
const CARRY_WINDOW_SEC: i64 = 7 * 86_400;

/// The faults devices had when camwatch last stopped watching: each device whose latest span
/// (within the window before `now`) is a closed offline or degraded one. Such a span was closed
/// by a monitor stopping or dying, never by a recovery, which opens the next span.
async fn carried_faults(
    store: &dyn Store,
    now: i64,
) -> Result<HashMap<DeviceCode, (Status, events::Continued)>> {
    let mut latest: HashMap<DeviceCode, camwatch_core::history::StatusSpan> = HashMap::new();
    // An open span (none should be left after recovery) reads as ending at `i64::MAX`.
    for s in store
        .spans_overlapping(now - CARRY_WINDOW_SEC, now, i64::MAX)
        .await?
    {
        match latest.get(&s.device) {
            Some(l) if l.start_at >= s.start_at => {}
            _ => {
                latest.insert(s.device, s);
            }
        }
    }
    Ok(latest
        .into_values()
        .filter(|s| s.end_at <= now && matches!(s.status, Status::Offline | Status::Degraded))
        .map(|s| {
            (
                s.device,
                (
                    s.status,
                    events::Continued {
                        since: s.start_at,
                        cause: s.cause,
                    },
                ),
            )
        })
        .collect())
}

/// The handler, probe targets, schedule and limits for one register.
fn assemble(
    devices: &[Device],
    cfg: &MonitorConfig,
    clock: &Arc<dyn Clock>,
    state: &Arc<MonitorState>,
    events: &EventBus,
    tx: &mpsc::UnboundedSender<writer::Write>,
    tracks: Vec<DeviceTrack>,
) -> (Arc<MonitorHandler>, Vec<ProbeTarget>, Vec<Target>, Limits) {
    let index: HashMap<DeviceCode, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.code, i))
        .collect();
    let parent_of = devices
        .iter()
        .map(|d| d.parent.and_then(|p| index.get(&p).copied()))
        .collect();
    let (sched, probe) = targets(devices, cfg);
    if let Some(dir) = &cfg.baseline_dir {
        load_baselines(dir, devices, state.views());
    }
    let handler = Arc::new(MonitorHandler {
        intervals: group_intervals(devices, &cfg.groups),
        state: state.clone(),
        tracks: Mutex::new(tracks),
        parent_of,
        codes: devices.iter().map(|d| d.code).collect(),
        cfg: cfg.clone(),
        changes: tx.clone(),
        events: events.clone(),
        clock: clock.clone(),
    });
    let limits = Limits {
        max_in_flight: cfg.max_in_flight,
        max_per_host: cfg.max_per_host,
        max_per_platform: cfg.max_per_platform,
        deadline: cfg.deadline,
        interval_ms: HashMap::from([
            (
                ProbeClass::Liveness,
                cfg.liveness_interval_sec as i64 * 1000,
            ),
            (ProbeClass::Picture, cfg.picture_interval_sec as i64 * 1000),
            (ProbeClass::Onvif, cfg.onvif_interval_sec as i64 * 1000),
        ]),
    };
    (handler, probe, sched, limits)
}

/// Aborts a background task when the monitor returns, however it returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod handler_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::config::{Config, GroupConfig};

    #[test]
    fn first_matching_group_sets_the_intervals() {
        let devices = camwatch_core::registry::generate::generate(200, 2);
        let region = devices[0].region().to_string();
        let maint = devices
            .iter()
            .find(|d| d.region() != region)
            .and_then(|d| d.maintainer.clone())
            .unwrap();
        let groups = vec![
            GroupConfig {
                name: "district".into(),
                region_prefix: Some(region.clone()),
                liveness_interval_sec: Some(120),
                ..Default::default()
            },
            GroupConfig {
                name: "contractor".into(),
                maintainer: Some(maint.clone()),
                picture_interval_sec: Some(7200),
                ..Default::default()
            },
        ];
        let iv = group_intervals(&devices, &groups);
        for (d, v) in devices.iter().zip(&iv) {
            if d.region().starts_with(&region) {
                assert_eq!(v, &[Some(120), None, None]);
            } else if d.maintainer.as_deref() == Some(maint.as_str()) {
                assert_eq!(v, &[None, Some(7200), None]);
            } else {
                assert_eq!(v, &[None, None, None]);
            }
        }
        assert!(iv.iter().any(|v| v[1] == Some(7200)));
    }

    /// A refused status change (one the store finds out of order, or one the database itself
    /// refuses as a constraint violation) is logged and skipped; the others in its batch are
    /// applied and the writer goes on.
    #[tokio::test]
    async fn a_refused_change_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = camwatch_store::connect(&url, camwatch_core::secret::SecretKey::generate())
            .await
            .unwrap();
        let devices = camwatch_core::registry::generate::generate(3, 1);
        store.upsert_devices(&devices).await.unwrap();
        let (a, b, c) = (devices[0].code, devices[1].code, devices[2].code);
        // A unique index the store does not check itself: a span of `c` starting at 100 makes
        // the database refuse another one.
        {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("CREATE UNIQUE INDEX trap ON status_span (device_code, start_at)")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        store
            .insert_spans(&[camwatch_core::history::StatusSpan {
                device: c,
                status: Status::Offline,
                start_at: 100,
                end_at: 150,
                cause: None,
            }])
            .await
            .unwrap();
        let t = |device, status, at| Transition {
            device,
            status,
            at,
            cause: None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let lease = store.acquire_monitor("test", 1, 0).await.unwrap();
        let state = Arc::new(MonitorState::for_devices(&devices, 0));
        let metrics = state.metrics().clone();
        let w = tokio::spawn(writer::writer(
            store.clone(),
            Arc::new(lease),
            Arc::new(camwatch_core::clock::SystemClock),
            rx,
            state,
            1000,
        ));
        // As the handler does: counted in the writer's queue when handed over.
        let send = |x| {
            tx.send(writer::Write::Change(x)).unwrap();
            metrics.queued();
        };
        send(t(a, Status::Online, 100));
        send(t(c, Status::Online, 100));
        send(t(b, Status::Online, 100));
        tokio::time::sleep(Duration::from_millis(300)).await;
        send(t(a, Status::Offline, 50));
        send(t(b, Status::Offline, 200));
        drop(tx);
        w.await.unwrap().unwrap();
        // Stored or skipped as refused: nothing is left waiting.
        assert_eq!(metrics.writer_queue(), 0);
        let spans = store.spans_overlapping(0, 1000, 300).await.unwrap();
        let mut got: Vec<_> = spans
            .iter()
            .map(|s| (s.device, s.status, s.start_at, s.end_at))
            .collect();
        let mut want = vec![
            (a, Status::Online, 100, 300),
            (b, Status::Online, 100, 200),
            (b, Status::Offline, 200, 300),
            (c, Status::Offline, 100, 150),
        ];
        got.sort_by_key(|x| (x.0, x.2));
        want.sort_by_key(|x| (x.0, x.2));
        assert_eq!(got, want);
    }

    #[test]
    fn groups_are_validated() {
        let ok = Config::parse(
            "[[scheduler.groups]]\nname = \"a\"\nregion_prefix = \"3401\"\nliveness_interval_sec = 60\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(ok.scheduler.groups.len(), 1);
        let e = Config::parse("[[scheduler.groups]]\nname = \"b\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("groups[0] (b)"), "{e}");
        let e = Config::parse(
            "[[scheduler.groups]]\nname = \"c\"\nregion_prefix = \"34\"\nliveness_intervl_sec = 1\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("liveness_intervl_sec"), "{e}");
    }
}
