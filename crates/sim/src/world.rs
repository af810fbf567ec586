//! The fleet's shared state: hosts, which faults hold when, pictures, and each host's accept
//! loop (which really closes its listener while the host is down, so connections are refused).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::faults::{
    FaultKind, FaultSpan, Lookup, Scope, TruthInterval, parse_schedule, preset_schedule,
};
use super::{FaultPlan, SimConfig};
use camwatch_core::clock::Clock;
use camwatch_core::error::Result;
use camwatch_core::registry::Device;
use camwatch_synth::picture::{
    PictureFault, Rgb, Scene, apply_fault, lossy, render_scene, to_h264, to_jpeg, with_sensor_noise,
};

#[derive(Debug, Clone)]
pub struct Host {
    pub idx: usize,
    /// Device index of the NVR, when this host is one.
    pub nvr: Option<usize>,
    /// Device indexes of its channels (one for an IP camera).
    pub channels: Vec<usize>,
    pub username: String,
    pub password: String,
    pub region: String,
    pub rtsp_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

impl Host {
    pub fn new(idx: usize) -> Self {
        Self {
            idx,
            nvr: None,
            channels: Vec::new(),
            username: String::new(),
            password: String::new(),
            region: String::new(),
            rtsp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Rtsp,
    Http,
    /// RTSP and HTTP on one port, told apart by the request's first bytes (fleets larger than
    /// the open-files limit allows with two listeners per host).
    Both,
}

/// Which protocol a connection speaks, from its first bytes (HTTP methods vs RTSP ones;
/// RTSP's GET_PARAMETER is not HTTP's `GET `). Silence or a closed socket counts as RTSP,
/// whose server then deals with it.
async fn sniff(s: &tokio::net::TcpStream) -> Proto {
    let mut b = [0u8; 5];
    let peek = async {
        loop {
            match s.peek(&mut b).await {
                Ok(n) if n >= 5 || n == 0 => return n,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => return 0,
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), peek).await {
        Ok(5)
            if [&b"GET "[..], b"POST ", b"HEAD ", b"PUT "]
                .iter()
                .any(|m| b.starts_with(m)) =>
        {
            Proto::Http
        }
        _ => Proto::Rtsp,
    }
}

/// The video codec a simulated channel streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
}

/// The detectors' name for the same two codecs (the GB/T 28181 simulator muxes by it).
impl From<camwatch_core::quality::keyframe::Codec> for Codec {
    fn from(c: camwatch_core::quality::keyframe::Codec) -> Codec {
        match c {
            camwatch_core::quality::keyframe::Codec::H264 => Codec::H264,
            camwatch_core::quality::keyframe::Codec::H265 => Codec::H265,
        }
    }
}

impl Codec {
    /// From the register's codec column (摄像机编码格式, kept in `extra`): H.265/HEVC, else H.264.
    pub fn of(d: &Device) -> Codec {
        let v = d.extra.get(CODEC_COLUMN).map(|v| v.to_ascii_uppercase());
        match v.as_deref() {
            Some(v) if v.contains("265") || v.contains("HEVC") => Codec::H265,
            _ => Codec::H264,
        }
    }
}

pub use camwatch_core::registry::generate::CODEC_COLUMN;

/// A picture ready to serve: the JPEG and the keyframe's NAL units in the channel's codec.
pub struct Encoded {
    pub jpeg: Bytes,
    pub codec: Codec,
    /// Parameter sets first (SPS, PPS; VPS, SPS, PPS for H.265), then the slices.
    pub nals: Vec<Bytes>,
}

/// Scene, pan, fault, noise variant, codec, JPEG quality.
type PictureKey = (Scene, u32, Option<PictureFault>, u64, Codec, u8);

pub struct World {
    pub devices: Vec<Device>,
    pub hosts: Vec<Host>,
    pub clock: Arc<dyn Clock>,
    pub start_at: i64,
    faults: Vec<FaultSpan>,
    by_device: Vec<Vec<usize>>,
    by_host: Vec<Vec<usize>>,
    host_of_device: Vec<usize>,
    pictures: Mutex<HashMap<PictureKey, Arc<Encoded>>>,
    codecs: Vec<Codec>,
    /// Snapshots served per device: consecutive snapshots of a live sensor always differ.
    samples: Vec<AtomicU64>,
    rtsp_served: AtomicU64,
    http_served: AtomicU64,
    /// Every DESCRIBE of a channel, oldest first, up to [`DESCRIBE_LOG_MAX`].
    describes: Mutex<Vec<Described>>,
}

/// The most DESCRIBEs the request log keeps (then it stops recording): a bound on its memory
/// in a long rehearsal; tests read it long before.
pub const DESCRIBE_LOG_MAX: usize = 1_000_000;

/// One RTSP DESCRIBE the simulator answered: which channel, when (simulated clock, ms), and the
/// client's `User-Agent` (a camwatch node names itself there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub device: camwatch_core::registry::DeviceCode,
    pub at_ms: i64,
    pub agent: String,
}

/// Which fault wins when several hold: the most disabling.
fn rank(k: &FaultKind) -> u8 {
    match k {
        FaultKind::RegionDown | FaultKind::NvrDown | FaultKind::Offline => 0,
        FaultKind::Flapping { .. } => 1,
        FaultKind::BlackHole => 2,
        FaultKind::AuthFailure => 3,
        FaultKind::Malformed(_) => 4,
        FaultKind::RtspStatus(_) => 5,
        FaultKind::NoMedia => 6,
        FaultKind::Slow { .. } => 7,
        FaultKind::ClockDrift { .. } => 8,
        FaultKind::Picture(_) => 9,
    }
}

impl World {
    pub fn new(
        devices: Vec<Device>,
        hosts: Vec<Host>,
        cfg: &SimConfig,
        clock: Arc<dyn Clock>,
        start_at: i64,
    ) -> Result<Self> {
        let mut host_of_device = vec![usize::MAX; devices.len()];
        for h in &hosts {
            for &c in h.channels.iter().chain(h.nvr.iter()) {
                host_of_device[c] = h.idx;
            }
        }
        let faults = match &cfg.faults {
            FaultPlan::Preset(p) => {
                let channels: Vec<(usize, usize)> = hosts
                    .iter()
                    .flat_map(|h| h.channels.iter().map(move |&c| (c, h.idx)))
                    .collect();
                let nvrs: Vec<usize> = hosts
                    .iter()
                    .filter(|h| h.nvr.is_some())
                    .map(|h| h.idx)
                    .collect();
                let mut regions: Vec<String> = hosts.iter().map(|h| h.region.clone()).collect();
                regions.sort();
                regions.dedup();
                preset_schedule(*p, cfg.seed, &channels, &nvrs, &regions, cfg.horizon_sec)
            }
            FaultPlan::Schedule(text, origin) => {
                let device_index: HashMap<String, usize> = devices
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| !d.kind.is_parent())
                    .map(|(i, d)| (d.code.to_string(), i))
                    .collect();
                let host_index: HashMap<String, usize> = hosts
                    .iter()
                    .filter_map(|h| h.nvr.map(|n| (devices[n].code.to_string(), h.idx)))
                    .collect();
                parse_schedule(
                    text,
                    origin,
                    &Lookup {
                        device_index: &device_index,
                        host_index: &host_index,
                    },
                )?
            }
        };
        let mut by_device = vec![Vec::new(); devices.len()];
        let mut by_host = vec![Vec::new(); hosts.len()];
        for (k, f) in faults.iter().enumerate() {
            match &f.scope {
                Scope::Device(d) => {
                    by_device[*d].push(k);
                    by_host[host_of_device[*d]].push(k);
                }
                Scope::Host(h) => by_host[*h].push(k),
                Scope::Region(r) => {
                    for h in hosts.iter().filter(|h| h.region.starts_with(r.as_str())) {
                        by_host[h.idx].push(k);
                    }
                }
            }
        }
        let n_devices = devices.len();
        let codecs = devices.iter().map(Codec::of).collect();
        Ok(Self {
            devices,
            hosts,
            clock,
            start_at,
            faults,
            by_device,
            by_host,
            host_of_device,
            pictures: Mutex::new(HashMap::new()),
            codecs,
            samples: (0..n_devices).map(|_| AtomicU64::new(0)).collect(),
            rtsp_served: AtomicU64::new(0),
            http_served: AtomicU64::new(0),
            describes: Mutex::new(Vec::new()),
        })
    }

    /// Simulated seconds since the fleet started.
    pub fn now_rel(&self) -> i64 {
        self.clock.now().as_second() - self.start_at
    }

    pub fn served(&self) -> (u64, u64) {
        (
            self.rtsp_served.load(Ordering::Relaxed),
            self.http_served.load(Ordering::Relaxed),
        )
    }

    /// Records a DESCRIBE of channel `device` (an index into `devices`).
    pub fn log_describe(&self, device: usize, agent: Option<&str>) {
        let Some(d) = self.devices.get(device) else {
            return;
        };
        let mut log = self.describes.lock().expect("describe log lock");
        if log.len() < DESCRIBE_LOG_MAX {
            log.push(Described {
                device: d.code,
                at_ms: self.clock.now().as_millisecond(),
                agent: agent.unwrap_or("").to_string(),
            });
        }
    }

    /// The DESCRIBE log so far.
    pub fn describes(&self) -> Vec<Described> {
        self.describes.lock().expect("describe log lock").clone()
    }

    pub fn count(&self, p: Proto) {
        match p {
            Proto::Rtsp | Proto::Both => &self.rtsp_served,
            Proto::Http => &self.http_served,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn holds(f: &FaultSpan, t: i64) -> bool {
        if t < f.start_sec || t >= f.end_sec {
            return false;
        }
        match f.kind {
            // Down in the first half of each period.
            FaultKind::Flapping { period_sec } => {
                let p = period_sec.max(2) as i64;
                (t - f.start_sec) % p < p / 2
            }
            _ => true,
        }
    }

    /// Is the whole host refusing connections at `t`?
    pub fn host_down(&self, h: usize, t: i64) -> bool {
        let host = &self.hosts[h];
        self.by_host[h].iter().any(|&k| {
            let f = &self.faults[k];
            Self::holds(f, t)
                && match f.kind {
                    FaultKind::NvrDown | FaultKind::RegionDown => true,
                    // A camera that is off takes its host (itself) with it; an NVR channel's
                    // camera being off does not stop the NVR answering.
                    FaultKind::Offline | FaultKind::Flapping { .. } => host.nvr.is_none(),
                    _ => false,
                }
        })
    }

    /// The next instant after `t` at which any fault of host `h` starts, ends or flips.
    pub fn next_change(&self, h: usize, t: i64) -> Option<i64> {
        self.by_host[h]
            .iter()
            .filter_map(|&k| {
                let f = &self.faults[k];
                if t < f.start_sec {
                    Some(f.start_sec)
                } else if t < f.end_sec {
                    match f.kind {
                        FaultKind::Flapping { period_sec } => {
                            let p = period_sec.max(2) as i64;
                            let into = (t - f.start_sec) % p;
                            let next = if into < p / 2 {
                                t - into + p / 2
                            } else {
                                t - into + p
                            };
                            Some(next.min(f.end_sec))
                        }
                        _ => Some(f.end_sec),
                    }
                } else {
                    None
                }
            })
            .min()
    }

    /// The fault a channel shows at `t`, if any (host-level faults included).
    pub fn device_fault(&self, d: usize, t: i64) -> Option<FaultKind> {
        let h = self.host_of_device[d];
        self.by_device[d]
            .iter()
            .chain(
                self.by_host[h]
                    .iter()
                    .filter(|&&k| !matches!(self.faults[k].scope, Scope::Device(_))),
            )
            .map(|&k| &self.faults[k])
            .filter(|f| Self::holds(f, t))
            .map(|f| f.kind)
            .min_by_key(rank)
    }

    /// The host-wide fault in force (for a single-camera host, its camera's fault).
    pub fn host_fault(&self, h: usize, t: i64) -> Option<FaultKind> {
        let host = &self.hosts[h];
        if host.nvr.is_none() {
            return host.channels.first().and_then(|&c| self.device_fault(c, t));
        }
        self.by_host[h]
            .iter()
            .map(|&k| &self.faults[k])
            .filter(|f| !matches!(f.scope, Scope::Device(_)) && Self::holds(f, t))
            .map(|f| f.kind)
            .min_by_key(rank)
    }

    /// What channel `d` shows at `t`.
    /// A frame of the stream: sensor noise varies with time.
    pub fn picture(&self, d: usize, t: i64) -> Arc<Encoded> {
        self.render(d, t, (t.rem_euclid(2) as u64) + 1)
    }

    /// A snapshot: never the same noise as the camera's previous snapshot.
    pub fn snapshot(&self, d: usize, t: i64) -> Arc<Encoded> {
        let n = self.samples[d].fetch_add(1, Ordering::Relaxed);
        self.render(d, t, n % 4 + 3)
    }

    fn render(&self, d: usize, t: i64, live_variant: u64) -> Arc<Encoded> {
        let scene = Scene::ALL[d % Scene::ALL.len()];
        let pan = (d as u32 / 5 % 3) * 40;
        let fault = match self.device_fault(d, t) {
            Some(FaultKind::Picture(p)) => Some(p),
            _ => None,
        };
        // A live sensor's picture differs a little from one sample to the next (noise from a
        // small cached set); a frozen picture is one stuck frame, which the encoder keeps
        // re-encoding at another quality (the snapshot is never the same bytes twice).
        let frozen = fault == Some(PictureFault::Frozen);
        let variant = if frozen { 0 } else { live_variant };
        let quality = if frozen {
            [85u8, 95, 90][live_variant as usize % 3]
        } else {
            85
        };
        let codec = self.codecs[d];
        let key = (scene, pan, fault, variant, codec, quality);
        if let Some(p) = self.pictures.lock().expect("picture cache").get(&key) {
            return p.clone();
        }
        // Encode outside the lock: two threads may both encode the first time; both results
        // are identical, so it does not matter which one is kept.
        let img = channel_picture(d, fault, variant);
        let enc = Arc::new(Encoded {
            jpeg: to_jpeg(&img, quality).into(),
            codec,
            nals: keyframe_nals(&img, codec)
                .into_iter()
                .map(Bytes::from)
                .collect(),
        });
        self.pictures
            .lock()
            .expect("picture cache")
            .insert(key, enc.clone());
        enc
    }

    /// The truth file: every fault interval per affected channel, in absolute simulated time.
    pub fn truth(&self) -> Vec<TruthInterval> {
        let mut out = Vec::new();
        for f in &self.faults {
            let channels: Vec<usize> = match &f.scope {
                Scope::Device(d) => vec![*d],
                Scope::Host(h) => self.hosts[*h].channels.clone(),
                Scope::Region(r) => self
                    .hosts
                    .iter()
                    .filter(|h| h.region.starts_with(r.as_str()))
                    .flat_map(|h| h.channels.iter().copied())
                    .collect(),
            };
            // Flapping is written as its down halves: that is what a monitor can see.
            let pieces: Vec<(i64, i64)> = match f.kind {
                FaultKind::Flapping { period_sec } => {
                    let p = period_sec.max(2) as i64;
                    let mut v = Vec::new();
                    let mut s = f.start_sec;
                    while s < f.end_sec {
                        v.push((s, (s + p / 2).min(f.end_sec)));
                        s += p;
                    }
                    v
                }
                _ => vec![(f.start_sec, f.end_sec)],
            };
            for c in channels {
                for &(a, b) in &pieces {
                    out.push(TruthInterval {
                        device: self.devices[c].code.to_string(),
                        fault: f.kind.name(),
                        effect: f.kind.effect(),
                        start: self.start_at + a,
                        end: self.start_at + b,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.device, a.start, &a.fault).cmp(&(&b.device, b.start, &b.fault)));
        out
    }
}

/// One host's accept loop for one protocol: closed while the host is down, open otherwise.
pub async fn serve_host(
    w: Arc<World>,
    h: usize,
    proto: Proto,
    first: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr = match proto {
        Proto::Rtsp | Proto::Both => w.hosts[h].rtsp_addr,
        Proto::Http => w.hosts[h].http_addr,
    };
    let mut listener = Some(first);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let t = w.now_rel();
        let down = w.host_down(h, t);
        if down {
            listener = None; // really closed: connects are refused
        } else if listener.is_none() {
            let std::net::IpAddr::V4(ip) = addr.ip() else {
                return;
            };
            match super::bind(ip, addr.port()).await {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::warn!("sim host {addr}: rebinding failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        // Sleep (or serve) until the next fault change; re-check at least every 10 s of
        // simulated time so a clock jump is noticed.
        let until = w.next_change(h, t).unwrap_or(t + 10).min(t + 10).max(t + 1);
        let wait = w
            .clock
            .real_duration(Duration::from_secs((until - t) as u64));
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            let accept = async {
                match &listener {
                    Some(l) => l.accept().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut sleep => break,
                _ = shutdown.changed() => return,
                c = accept => {
                    if let Some((stream, _)) = c {
                        let w = w.clone();
                        let sd = shutdown.clone();
                        tokio::spawn(async move {
                            let p = match proto {
                                Proto::Both => sniff(&stream).await,
                                p => p,
                            };
                            w.count(p);
                            match p {
                                Proto::Http => super::http::serve(w, h, stream, sd).await,
                                _ => super::rtsp::serve(w, h, stream, sd).await,
                            }
                        });
                    }
                }
            }
        }
    }
}

/// What channel `index` (its place in the fleet, RTSP or GB/T 28181) shows with `fault`: its
/// scene at its pan, another view when the camera turned, the fault, and sensor noise
/// `variant`. The noise is added after what happens in front of the sensor or in the optics
/// (a blurred, covered, over- or under-exposed picture is as noisy as any); a no-signal screen
/// is made by the encoder and has none.
pub(crate) fn channel_picture(index: usize, fault: Option<PictureFault>, variant: u64) -> Rgb {
    let scene = Scene::ALL[index % Scene::ALL.len()];
    let pan = (index as u32 / 5 % 3) * 40;
    let view = if fault == Some(PictureFault::SceneChange) {
        pan + 100
    } else {
        pan
    };
    let base: Rgb = render_scene(scene, 320, 240, view);
    match fault {
        Some(f @ PictureFault::SignalLoss) => apply_fault(&base, f, index as u64),
        Some(f) => with_sensor_noise(&apply_fault(&base, f, index as u64), variant),
        None => with_sensor_noise(&base, variant),
    }
}

/// One keyframe of `img` in `codec`, as NAL units: the picture as a camera's lossy encoder
/// leaves it (`lossy`), coded losslessly.
pub(crate) fn keyframe_nals(img: &Rgb, codec: Codec) -> Vec<Vec<u8>> {
    match codec {
        Codec::H264 => to_h264(&lossy(img)),
        Codec::H265 => camwatch_synth::hevc::to_h265(&lossy(img)),
    }
}
