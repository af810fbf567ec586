//! The camera fleet simulator (`camwatch sim`, and the world of every test, bench and the demo).
//!
//! One process serves a whole fleet over real sockets on loopback: each simulated host (an IP
//! camera or an NVR with its channels) has an RTSP server and an HTTP server (snapshots) on its
//! own 127.x.y.z address (or its own ports on one address). Faults follow a schedule on the
//! injected clock: refused connections (the listener is really closed), black holes, slow
//! replies, changed passwords, RTSP error statuses, no media, malformed replies, NVRs and whole
//! regions down, and picture faults in what the cameras show.
//!
//! Cheap by construction: per host one accept task per protocol; per connection one task while
//! the client is connected; pictures encoded once per (scene, view, fault, variant) and shared.
//!
//! Network rule: only loopback addresses are ever bound; `start` refuses anything else.

mod auth;
pub mod faults;
pub mod gb28181;
pub mod http;
mod onvif;
pub mod rtsp;
mod world;

pub use camwatch_synth::{hevc, picture};

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;

use camwatch_core::clock::Clock;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::Device;
pub use camwatch_core::registry::generate::Shape;
use camwatch_core::registry::generate::generate_shape;
use camwatch_core::secret::Password;
pub use faults::{Effect, FaultKind, FaultSpan, Preset, TruthInterval};
pub use world::{CODEC_COLUMN, Codec, Described};
use world::{Host, World};

/// How simulated hosts get their addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindMode {
    /// Host i at `base + i` (all of 127.0.0.0/8 routes to `lo` on Linux), standard ports
    /// 554/80 when allowed, else 8554/8080.
    Distinct { base: Ipv4Addr },
    /// Every host on `ip`, each with its own two ports chosen by the OS.
    OnePort { ip: Ipv4Addr },
}

/// Where the faults come from.
#[derive(Debug, Clone)]
pub enum FaultPlan {
    Preset(Preset),
    /// A TOML schedule: (text, file name for messages).
    Schedule(String, String),
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The fleet: a mix of IP cameras and NVRs by channel count, or exact numbers.
    pub shape: Shape,
    pub seed: u64,
    pub bind: BindMode,
    pub faults: FaultPlan,
    /// How far ahead a preset draws faults, in simulated seconds.
    pub horizon_sec: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            shape: Shape::Mix { channels: 2000 },
            seed: 1,
            bind: BindMode::Distinct {
                base: Ipv4Addr::new(127, 16, 0, 1),
            },
            faults: FaultPlan::Preset(Preset::Realistic),
            horizon_sec: 31 * 86_400,
        }
    }
}

/// A running fleet.
pub struct Fleet {
    world: Arc<World>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    /// Human-readable notes (e.g. fell back to high ports).
    pub notes: Vec<String>,
}

impl Fleet {
    /// The register of the fleet, with reachable URLs and the devices' credentials.
    pub fn devices(&self) -> &[Device] {
        &self.world.devices
    }

    /// Every fault interval per affected device, sorted by device then start.
    pub fn truth(&self) -> Vec<TruthInterval> {
        self.world.truth()
    }

    /// The truth as JSON lines (`--truth-out`): one fault interval per line.
    pub fn truth_jsonl(&self) -> String {
        self.truth()
            .iter()
            .map(|t| serde_json::to_string(t).expect("truth serialises") + "\n")
            .collect()
    }

    /// The instant (Unix seconds, simulated clock) the schedule counts from.
    pub fn started_at(&self) -> i64 {
        self.world.start_at
    }

    /// Every RTSP DESCRIBE of a channel so far (authenticated), oldest first: who asked
    /// (`User-Agent`) and when.
    pub fn describes(&self) -> Vec<Described> {
        self.world.describes()
    }

    /// Connections served so far (RTSP, HTTP).
    pub fn served(&self) -> (u64, u64) {
        self.world.served()
    }

    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn is_loopback(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 127
}

/// Starts the fleet; returns once every listener that should be up is bound.
pub async fn start(cfg: SimConfig, clock: Arc<dyn Clock>) -> Result<Fleet> {
    let base_ip = match &cfg.bind {
        BindMode::Distinct { base } | BindMode::OnePort { ip: base } => *base,
    };
    if !is_loopback(base_ip) {
        return Err(Error::invalid(format!(
            "the simulator binds loopback addresses only (127.0.0.0/8), not {base_ip}"
        )));
    }
    cfg.shape.check().map_err(Error::invalid)?;
    let mut devices = generate_shape(cfg.shape, cfg.seed);
    // Hosts in register order: a camera, or an NVR followed by its channels.
    let mut hosts: Vec<Host> = Vec::new();
    let mut host_of_ip: HashMap<IpAddr, usize> = HashMap::new();
    for (i, d) in devices.iter().enumerate() {
        let parent_ip = d
            .parent
            .and_then(|p| devices[..i].iter().rev().find(|x| x.code == p))
            .and_then(|p| p.ip);
        let ip =
            d.ip.or(parent_ip)
                .expect("generated devices have addresses");
        let h = *host_of_ip.entry(ip).or_insert_with(|| {
            hosts.push(Host::new(hosts.len()));
            hosts.len() - 1
        });
        let host = &mut hosts[h];
        if d.kind.is_parent() {
            host.nvr = Some(i);
        } else {
            host.channels.push(i);
        }
        if d.password.is_some() {
            host.username = d.username.clone().unwrap_or_default();
            host.password = d
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
        }
        host.region = d.region().to_string();
    }
    if let BindMode::Distinct { base } = cfg.bind {
        let last = u32::from(base) as u64 + hosts.len() as u64;
        if last > u32::from(Ipv4Addr::new(127, 255, 255, 254)) as u64 {
            return Err(Error::invalid(format!(
                "{} hosts do not fit in 127.0.0.0/8 from {base}",
                hosts.len()
            )));
        }
    }

    let mut notes = Vec::new();
    // Two listeners per host, unless that would not fit the open-files limit.
    let shared = 2 * hosts.len() as u64 + 4096 > open_files_limit();
    if shared {
        notes.push(format!(
            "{} hosts × 2 listeners exceed the open-files limit ({}): RTSP and HTTP share one port per host",
            hosts.len(),
            open_files_limit()
        ));
    }
    let (shutdown, rx) = watch::channel(false);
    let start_at = clock.now().as_second();
    let mut tasks = tokio::task::JoinSet::new();
    // Bind every host first (so the register can carry real ports), then serve.
    let mut bound = Vec::with_capacity(hosts.len());
    let mut high_ports = false;
    for (h, host) in hosts.iter_mut().enumerate() {
        let ip = match cfg.bind {
            BindMode::Distinct { base } => Ipv4Addr::from(u32::from(base) + h as u32),
            BindMode::OnePort { ip } => ip,
        };
        let (rtsp_l, http_l) = match cfg.bind {
            BindMode::Distinct { .. } => {
                let standard = !high_ports;
                let r = bind(ip, if standard { 554 } else { 8554 }).await;
                let http_port = |standard: bool| if standard { 80 } else { 8080 };
                match r {
                    Ok(r) if shared => (r, None),
                    Ok(r) => (r, Some(bind(ip, http_port(standard)).await?)),
                    Err(_) if standard => {
                        high_ports = true;
                        let r = bind(ip, 8554).await?;
                        let h = if shared {
                            None
                        } else {
                            Some(bind(ip, 8080).await?)
                        };
                        (r, h)
                    }
                    Err(e) => return Err(e),
                }
            }
            BindMode::OnePort { ip } => (
                bind(ip, 0).await?,
                if shared {
                    None
                } else {
                    Some(bind(ip, 0).await?)
                },
            ),
        };
        host.rtsp_addr = rtsp_l.local_addr().map_err(io)?;
        host.http_addr = match &http_l {
            Some(l) => l.local_addr().map_err(io)?,
            None => host.rtsp_addr,
        };
        bound.push((rtsp_l, http_l));
    }
    if high_ports {
        notes.push("ports 554/80 need privileges here: hosts use 8554/8080".to_string());
    }
    // Point the register at where things really are.
    for host in &hosts {
        let ip = host.rtsp_addr.ip();
        let (rp, hp) = (host.rtsp_addr.port(), host.http_addr.port());
        if let Some(n) = host.nvr {
            devices[n].ip = Some(ip);
            devices[n].rtsp_port = Some(rp);
            devices[n].http_port = Some(hp);
        }
        for (k, &c) in host.channels.iter().enumerate() {
            let d = &mut devices[c];
            let ch = if host.nvr.is_some() { k + 1 } else { 1 };
            d.stream_urls = vec![format!("rtsp://{ip}:{rp}/Streaming/Channels/{ch}01")];
            if host.nvr.is_none() {
                d.ip = Some(ip);
                d.rtsp_port = Some(rp);
                d.http_port = Some(hp);
                d.snapshot_url = Some(format!(
                    "http://{ip}:{hp}/ISAPI/Streaming/channels/101/picture"
                ));
                d.onvif_url = Some(format!("http://{ip}:{hp}/onvif/device_service"));
                d.password = Some(Password::new(host.password.clone()));
            }
        }
    }
    let world = Arc::new(World::new(devices, hosts, &cfg, clock.clone(), start_at)?);
    for (h, (rtsp_l, http_l)) in bound.into_iter().enumerate() {
        let w = world.clone();
        let rx1 = rx.clone();
        let p = if http_l.is_some() {
            world::Proto::Rtsp
        } else {
            world::Proto::Both
        };
        tasks.spawn(async move { world::serve_host(w, h, p, rtsp_l, rx1).await });
        if let Some(http_l) = http_l {
            let w = world.clone();
            let rx2 = rx.clone();
            tasks.spawn(
                async move { world::serve_host(w, h, world::Proto::Http, http_l, rx2).await },
            );
        }
    }
    Ok(Fleet {
        world,
        shutdown,
        tasks,
        notes,
    })
}

/// The soft RLIMIT_NOFILE of this process.
fn open_files_limit() -> u64 {
    // SAFETY: getrlimit writes only the struct passed.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur
        } else {
            1024
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::unavailable("simulator socket", e)
}

pub(crate) async fn bind(ip: Ipv4Addr, port: u16) -> Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    let s = tokio::net::TcpSocket::new_v4().map_err(io)?;
    s.set_reuseaddr(true).map_err(io)?;
    s.bind(addr)
        .map_err(|e| Error::unavailable(format!("binding {addr}"), e))?;
    s.listen(1024)
        .map_err(|e| Error::unavailable(format!("listening on {addr}"), e))
}

#[cfg(test)]
mod tests;
