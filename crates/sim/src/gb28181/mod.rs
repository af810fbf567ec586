//! Simulated GB/T 28181 peers: cameras, NVRs and lower platforms that register to camwatch's
//! platform over UDP (or TCP), keep alive and answer its queries, each a [`device::GbDevice`]
//! (the protocol, pure) driven by a task here (its socket and the injected clock).
//!
//! A fleet is described by [`GbFleet`]: some single devices and optionally one lower platform
//! with many channels, and their faults. [`GbFleet::register`] gives the register entries
//! camwatch needs to know them (the peers, with their passwords); their channels are for the
//! catalog to bring in.
//!
//! Network rule: only loopback addresses are bound; the platform may be anywhere the caller
//! says (it is camwatch's own). Must not: decide anything about liveness (the platform does).

pub mod device;
pub mod media;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;

use camwatch_core::clock::Clock;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_core::secret::Password;

pub use device::{
    Charset, DeviceStats, GbDevice, GbDeviceConfig, MediaCommand, MediaFault, MediaLink, Phase,
    ScriptedNotify, SimChannel,
};

/// A simulated GB/T 28181 fleet.
#[derive(Debug, Clone)]
pub struct GbFleet {
    /// camwatch's platform: where to register, its ID and domain.
    pub platform: SocketAddr,
    pub platform_id: String,
    pub domain: String,
    /// Single devices (IPC with one channel: itself).
    pub devices: u32,
    /// Channels of the one lower platform (none when 0).
    pub lower_platform_channels: u32,
    pub password: String,
    pub keepalive_sec: i64,
    pub expires: u32,
    pub page_size: usize,
    pub charset: Charset,
    pub tcp: bool,
    /// Faults.
    pub dies_at: Option<i64>,
    pub wrong_password: bool,
    pub malformed_catalog: bool,
    /// Fault: every peer, once subscribed, sends this many catalog NOTIFYs a second.
    pub notify_storm_per_sec: u32,
    /// Catalog NOTIFYs the lower platform sends once subscribed (tests script changes).
    pub lower_platform_notifies: Vec<ScriptedNotify>,
    /// The first code's serial number (codes are `34020000001320` / `…2000…` + serial).
    pub seed: u32,
    /// Peer `i` sends from this loopback address + `i`, as devices each have their own
    /// address (the platform bounds messages per address and second); `None`: all from
    /// 127.0.0.1.
    pub bind: Option<Ipv4Addr>,
    /// Channels' media faults (what an INVITE for live video gets), by channel code.
    pub media: Vec<(DeviceCode, MediaFault)>,
    /// Fault: these peers' DeviceStatus answers say recording is off (`<Record>OFF`).
    pub recording_off: Vec<DeviceCode>,
}

impl Default for GbFleet {
    fn default() -> Self {
        Self {
            platform: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            platform_id: "34020000002000000001".into(),
            domain: "3402000000".into(),
            devices: 0,
            lower_platform_channels: 0,
            password: "12345678".into(),
            keepalive_sec: 60,
            expires: 3600,
            page_size: 50,
            charset: Charset::Utf8,
            tcp: false,
            dies_at: None,
            wrong_password: false,
            malformed_catalog: false,
            notify_storm_per_sec: 0,
            lower_platform_notifies: Vec::new(),
            seed: 0,
            bind: None,
            media: Vec::new(),
            recording_off: Vec::new(),
        }
    }
}

/// The lower platform's code.
pub fn lower_platform_code(seed: u32) -> DeviceCode {
    format!("3402000000220{:07}", seed % 10_000_000)
        .parse()
        .expect("20 digits")
}

/// The code of single device `n`.
pub fn device_code(seed: u32, n: u32) -> DeviceCode {
    format!("3402000000132{:07}", (seed + n) % 10_000_000)
        .parse()
        .expect("20 digits")
}

/// The code of the lower platform's channel `n`.
pub fn channel_code(seed: u32, n: u32) -> DeviceCode {
    format!("3402000000131{:07}", (seed + n) % 10_000_000)
        .parse()
        .expect("20 digits")
}

impl GbFleet {
    /// Every peer's configuration: the devices, then the lower platform.
    pub fn configs(&self) -> Vec<GbDeviceConfig> {
        let base = |id: DeviceCode, channels: Vec<SimChannel>| {
            let media = self
                .media
                .iter()
                .filter(|(c, _)| channels.iter().any(|ch| ch.code == *c))
                .copied()
                .collect();
            GbDeviceConfig {
                id,
                platform_id: self.platform_id.clone(),
                domain: self.domain.clone(),
                password: if self.wrong_password {
                    format!("{}-wrong", self.password)
                } else {
                    self.password.clone()
                },
                expires: self.expires,
                keepalive_sec: self.keepalive_sec,
                channels,
                page_size: self.page_size,
                charset: self.charset,
                dies_at: self.dies_at,
                malformed_catalog: self.malformed_catalog,
                notifies: Vec::new(),
                notify_storm_per_sec: self.notify_storm_per_sec,
                media,
                recording_off: self.recording_off.contains(&id),
            }
        };
        let mut out: Vec<GbDeviceConfig> = (0..self.devices)
            .map(|n| {
                let id = device_code(self.seed, n);
                base(
                    id,
                    vec![SimChannel {
                        code: id,
                        name: format!("GB 摄像机 {n}"),
                        civil_code: "340200".into(),
                        on: true,
                    }],
                )
            })
            .collect();
        if self.lower_platform_channels > 0 {
            let channels = (0..self.lower_platform_channels)
                .map(|n| SimChannel {
                    code: channel_code(self.seed, n),
                    name: format!("下级平台 通道 {n}"),
                    civil_code: format!("3402{:02}", n % 7 + 1),
                    on: true,
                })
                .collect();
            let mut lp = base(lower_platform_code(self.seed), channels);
            lp.notifies = self.lower_platform_notifies.clone();
            out.push(lp);
        }
        out
    }

    /// The register entries camwatch needs: each peer with the (right) password.
    pub fn register(&self) -> Vec<Device> {
        let mut out = Vec::new();
        for n in 0..self.devices {
            let mut d = Device::new(device_code(self.seed, n), format!("GB 摄像机 {n}"));
            d.kind = DeviceKind::Camera;
            d.password = Some(Password::new(self.password.clone()));
            out.push(d);
        }
        if self.lower_platform_channels > 0 {
            let mut d = Device::new(lower_platform_code(self.seed), "下级平台");
            d.kind = DeviceKind::Platform;
            d.password = Some(Password::new(self.password.clone()));
            out.push(d);
        }
        out
    }
}

/// A running simulated peer, for tests and benches to look at.
#[derive(Debug, Clone)]
pub struct PeerHandle {
    pub id: DeviceCode,
    stats: Arc<std::sync::Mutex<(Phase, DeviceStats)>>,
}

impl PeerHandle {
    pub fn phase(&self) -> Phase {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).0
    }
    pub fn stats(&self) -> DeviceStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// The loopback address peer `i` sends from (see [`GbFleet::bind`]).
fn peer_ip(fleet: &GbFleet, i: usize) -> Result<Ipv4Addr> {
    let Some(base) = fleet.bind else {
        return Ok(Ipv4Addr::LOCALHOST);
    };
    let ip = u32::from(base)
        .checked_add(i as u32)
        .map(Ipv4Addr::from)
        .filter(|ip| ip.is_loopback())
        .ok_or_else(|| {
            Error::invalid(format!(
                "sim GB peers from {base}: peer {i} would leave 127.0.0.0/8"
            ))
        })?;
    Ok(ip)
}

/// Starts every peer of `fleet` on its own loopback socket; they run until `stop` turns true.
/// Every socket is opened before any peer starts, so that the peers begin (and a REGISTER
/// storm comes) at once.
pub async fn start(
    fleet: &GbFleet,
    clock: Arc<dyn Clock>,
    stop: watch::Receiver<bool>,
) -> Result<Vec<PeerHandle>> {
    enum Conn {
        Tcp(TcpStream),
        Udp(UdpSocket),
    }
    let mut ready = Vec::new();
    for (i, cfg) in fleet.configs().into_iter().enumerate() {
        let ip = peer_ip(fleet, i)?;
        let (conn, local) = if fleet.tcp {
            let sock = tokio::net::TcpSocket::new_v4()
                .map_err(|e| Error::unavailable("sim GB device: a TCP socket", e))?;
            sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .map_err(|e| Error::unavailable(format!("sim GB device: binding {ip}"), e))?;
            let stream = sock.connect(fleet.platform).await.map_err(|e| {
                Error::unavailable(
                    format!("sim GB device {}: connecting to {}", cfg.id, fleet.platform),
                    e,
                )
            })?;
            let local = stream
                .local_addr()
                .map_err(|e| Error::unavailable("sim GB device: local address", e))?;
            (Conn::Tcp(stream), local)
        } else {
            let sock = UdpSocket::bind((ip, 0))
                .await
                .map_err(|e| Error::unavailable(format!("sim GB device: binding UDP {ip}"), e))?;
            let local = sock
                .local_addr()
                .map_err(|e| Error::unavailable("sim GB device: local address", e))?;
            (Conn::Udp(sock), local)
        };
        ready.push((cfg, conn, local));
    }
    let mut out = Vec::new();
    for (cfg, conn, local) in ready {
        let stats = Arc::new(std::sync::Mutex::new((
            Phase::Idle { retry_at: i64::MIN },
            DeviceStats::default(),
        )));
        out.push(PeerHandle {
            id: cfg.id,
            stats: stats.clone(),
        });
        match conn {
            Conn::Tcp(stream) => {
                let dev = GbDevice::new(cfg, local, true);
                tokio::spawn(run_tcp(dev, stream, clock.clone(), stop.clone(), stats));
            }
            Conn::Udp(sock) => {
                let dev = GbDevice::new(cfg, local, false);
                tokio::spawn(run_udp(
                    dev,
                    sock,
                    fleet.platform,
                    clock.clone(),
                    stop.clone(),
                    stats,
                ));
            }
        }
    }
    Ok(out)
}

/// How long a peer sleeps at most between looks at its schedule (so a fault's instant on a
/// scaled clock is honoured within this much simulated time).
const MAX_NAP: Duration = Duration::from_secs(1);

fn nap(dev: &GbDevice, clock: &dyn Clock) -> Duration {
    let now = clock.now().as_second();
    let due = dev.next_due().saturating_sub(now).max(0) as u64;
    Duration::from_secs(due).clamp(Duration::from_millis(100), MAX_NAP)
}

async fn run_udp(
    mut dev: GbDevice,
    sock: UdpSocket,
    platform: SocketAddr,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<std::sync::Mutex<(Phase, DeviceStats)>>,
) {
    let mut buf = vec![0u8; camwatch_gb28181::sip::MAX_MESSAGE + 1];
    let mut sessions = Sessions::new(&sock, clock.clone());
    loop {
        let out = dev.tick(clock.now().as_second());
        for m in out {
            let _ = sock.send_to(&m, platform).await;
        }
        for m in sessions.apply(&mut dev) {
            let _ = sock.send_to(&m, platform).await;
        }
        *stats.lock().unwrap_or_else(|e| e.into_inner()) = (dev.phase(), dev.stats());
        let wait = nap(&dev, clock.as_ref());
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            r = sock.recv_from(&mut buf) => {
                let Ok((n, _)) = r else { continue };
                let out = dev.on_message(&buf[..n], clock.now().as_second());
                for m in out.into_iter().chain(sessions.apply(&mut dev)) {
                    let _ = sock.send_to(&m, platform).await;
                }
            }
            _ = clock.sleep(wait) => {}
        }
    }
}

async fn run_tcp(
    mut dev: GbDevice,
    stream: TcpStream,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<std::sync::Mutex<(Phase, DeviceStats)>>,
) {
    let mut sessions = Sessions::new(&stream, clock.clone());
    let (mut rd, mut wr) = stream.into_split();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        for m in dev.tick(clock.now().as_second()) {
            if wr.write_all(&m).await.is_err() {
                return;
            }
        }
        *stats.lock().unwrap_or_else(|e| e.into_inner()) = (dev.phase(), dev.stats());
        let wait = nap(&dev, clock.as_ref());
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            r = rd.read(&mut chunk) => {
                let n = match r { Ok(0) | Err(_) => return, Ok(n) => n };
                buf.extend_from_slice(&chunk[..n]);
                // Bounded: each pass removes a message or waits for more bytes.
                loop {
                    let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
                    buf.drain(..skip);
                    match camwatch_gb28181::sip::frame(&buf) {
                        Ok(Some(len)) => {
                            let msg: Vec<u8> = buf.drain(..len).collect();
                            let out = dev.on_message(&msg, clock.now().as_second());
                            for m in out.into_iter().chain(sessions.apply(&mut dev)) {
                                if wr.write_all(&m).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
            _ = clock.sleep(wait) => {}
        }
    }
}

/// A peer's live-video sessions: a streaming task each (`media::stream`), aborted at the
/// platform's BYE or when the peer stops. Finished ones are forgotten as commands come.
struct Sessions {
    bind: IpAddr,
    clock: Arc<dyn Clock>,
    tasks: std::collections::HashMap<String, tokio::task::JoinHandle<()>>,
    /// Sessions so far per channel (bounded by the peer's channels).
    counts: std::collections::HashMap<usize, u64>,
}

trait LocalAddr {
    fn local(&self) -> std::io::Result<SocketAddr>;
}
impl LocalAddr for UdpSocket {
    fn local(&self) -> std::io::Result<SocketAddr> {
        self.local_addr()
    }
}
impl LocalAddr for TcpStream {
    fn local(&self) -> std::io::Result<SocketAddr> {
        self.local_addr()
    }
}

impl Sessions {
    fn new(sock: &impl LocalAddr, clock: Arc<dyn Clock>) -> Self {
        let bind = sock
            .local()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
        Self {
            bind,
            clock,
            tasks: std::collections::HashMap::new(),
            counts: std::collections::HashMap::new(),
        }
    }

    /// Starts and stops the sessions the device asks for; returns the 200s of INVITEs held
    /// for a listening port (TCP active), for the shell to send.
    fn apply(&mut self, dev: &mut GbDevice) -> Vec<Vec<u8>> {
        let commands = dev.take_media();
        let mut out = Vec::new();
        if commands.is_empty() {
            return out;
        }
        self.tasks.retain(|_, t| !t.is_finished());
        for c in commands {
            match c {
                MediaCommand::Start {
                    call_id,
                    link,
                    ssrc,
                    index,
                    fault,
                    ..
                } => {
                    let to = match link {
                        MediaLink::Udp(to) => media::Out::Udp(to),
                        MediaLink::TcpConnect(to) => media::Out::Connect(to),
                        MediaLink::TcpListen => match listen(self.bind) {
                            Ok((l, port)) => {
                                out.extend(dev.listening(&call_id, port));
                                media::Out::Accept(l)
                            }
                            Err(e) => {
                                tracing::warn!(bind = %self.bind, error = %e, "sim GB media: no listener");
                                continue;
                            }
                        },
                    };
                    let n = self.counts.entry(index).or_default();
                    *n += 1;
                    let task = tokio::spawn(media::stream(
                        self.bind,
                        to,
                        ssrc,
                        index,
                        fault,
                        *n,
                        self.clock.clone(),
                    ));
                    if let Some(old) = self.tasks.insert(call_id, task) {
                        old.abort();
                    }
                }
                MediaCommand::Stop { call_id } => {
                    if let Some(t) = self.tasks.remove(&call_id) {
                        t.abort();
                    }
                }
            }
        }
        out
    }
}

/// A TCP listener on `bind` (any free port), for the platform to connect to.
fn listen(bind: IpAddr) -> std::io::Result<(tokio::net::TcpListener, u16)> {
    let l = std::net::TcpListener::bind((bind, 0))?;
    l.set_nonblocking(true)?;
    let port = l.local_addr()?.port();
    Ok((tokio::net::TcpListener::from_std(l)?, port))
}

impl Drop for Sessions {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}
