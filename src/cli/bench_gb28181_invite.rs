//! `camwatch bench gb28181 --invites N`: picture probes by INVITE, as the monitor runs them,
//! against simulated GB/T 28181 peers in their own process.
//!
//! The platform and its picture probe run in this process as `serve` builds them
//! (`platform_config`, `media_config`, `camwatch_gb28181::server::Server` on loopback UDP); the
//! peers are `camwatch sim` in a child process: a lower platform with `--channels` channels and
//! `--peers` single cameras, each from its own loopback address, streaming their pictures
//! (H.264, and H.265 for one channel in four) as RTP/PS. Once every peer registered and its
//! catalog arrived, N probes go out, `--parallel` at once, round robin over all channels; at
//! most `invite_per_platform` (4) at once go through one peer. Each is timed from the INVITE
//! to the diagnosed keyframe (the probe, then decoding and diagnosing the keyframe as the
//! monitor does). Reported: probes a second, p50 and p99 of that time, failures by kind, and
//! this process's CPU (`getrusage(RUSAGE_SELF)`: SIP, RTP, demux, decode and diagnosis).

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camwatch_core::clock::{SharedClock, SystemClock};
use camwatch_core::config::{Gb28181Config, GbMediaTransport};
use camwatch_core::error::{Error, Result};
use camwatch_core::outcome::{Frame, ProbeStatus};
use camwatch_core::quality::{Thresholds, diagnose, from_h264, from_h265};
use camwatch_core::registry::DeviceCode;
use camwatch_core::secret::SecretKey;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::media::MediaProber;
use camwatch_gb28181::platform::{GbEvent, Platform};
use camwatch_gb28181::server::Server;
use camwatch_sim::gb28181::{GbFleet, channel_code, device_code};

/// The simulated peers' first address (peer i: this + i), apart from the other benches'.
const PEERS_FROM: Ipv4Addr = Ipv4Addr::new(127, 25, 0, 1);
/// Bound on registration and catalogs.
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Bounds on the arguments, so that a run ends.
const MAX_INVITES: u64 = 100_000;
const MAX_PARALLEL: usize = 256;

pub struct InviteArgs {
    pub invites: u64,
    pub channels: u32,
    pub peers: u32,
    pub parallel: usize,
    pub transport: GbMediaTransport,
}

fn cpu_self() -> f64 {
    // SAFETY: getrusage writes only the struct passed.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// The `q` quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

pub async fn run(a: InviteArgs) -> Result<ExitCode> {
    if a.invites == 0 || a.invites > MAX_INVITES {
        return Err(Error::invalid(format!(
            "--invites must be 1 to {MAX_INVITES}"
        )));
    }
    if a.parallel == 0 || a.parallel > MAX_PARALLEL {
        return Err(Error::invalid(format!(
            "--parallel must be 1 to {MAX_PARALLEL}"
        )));
    }
    if a.channels + a.peers == 0 || a.channels > 10_000 || a.peers > 1_000 {
        return Err(Error::invalid(
            "--channels (at most 10,000) and --peers (at most 1,000): at least one channel",
        ));
    }
    let io = |e: std::io::Error| Error::internal(format!("binding the platform: {e}"));
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let addr = udp.local_addr().map_err(io)?;
    let fleet = GbFleet {
        platform: addr,
        devices: a.peers,
        lower_platform_channels: a.channels,
        bind: Some(PEERS_FROM),
        ..GbFleet::default()
    };
    let gb = Gb28181Config {
        catalog_subscription_sec: 0,
        media_ip: "127.0.0.1".into(),
        media_transport: a.transport,
        ..Gb28181Config::default()
    };
    let pcfg = super::gb28181::platform_config(&gb, &SecretKey::generate(), &fleet.register())?;
    let platform = Arc::new(Mutex::new(Platform::new(pcfg, Nonces::random(), 1)));
    let catalogs = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let counted = catalogs.clone();
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let GbEvent::Catalog(_) = e {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let clock: SharedClock = Arc::new(SystemClock);
    let server = Server::new(platform, udp, tcp, clock, tx).map_err(io)?;
    let media = super::gb28181::media_config(&gb)
        .ok_or_else(|| Error::internal("picture INVITEs are off"))?;
    let prober = Arc::new(MediaProber::new(server.handle(), media));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    println!(
        "starting a simulated lower platform of {} channels and {} cameras (their own process) \
         against {addr}…",
        a.channels, a.peers
    );
    let mut sim =
        Command::new(std::env::current_exe().map_err(|e| Error::internal(e.to_string()))?)
            .args(["sim", "--fault-mix", "none", "--cameras", "1", "--one-port"])
            .args(["--bind", "127.0.0.1", "--gb-platform", &addr.to_string()])
            .args(["--gb-devices", &a.peers.to_string()])
            .args(["--gb-lower-platform-channels", &a.channels.to_string()])
            .args(["--gb-bind", &PEERS_FROM.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::internal(format!("spawn sim: {e}")))?;
    let result = measure(&mut sim, &a, &fleet, &catalogs, prober).await;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sim.id() as i32, libc::SIGTERM) };
    let _ = sim.wait();
    let _ = stop_tx.send(true);
    let _ = server.await;
    result
}

async fn measure(
    sim: &mut std::process::Child,
    a: &InviteArgs,
    fleet: &GbFleet,
    catalogs: &AtomicU64,
    prober: Arc<MediaProber>,
) -> Result<ExitCode> {
    let peers = u64::from(a.peers) + u64::from(a.channels > 0);
    let t = Instant::now();
    while catalogs.load(Ordering::Relaxed) < peers {
        if let Ok(Some(st)) = sim.try_wait() {
            return Err(Error::internal(format!("the simulator exited: {st}")));
        }
        if t.elapsed() > READY_LIMIT {
            return Err(Error::internal(format!(
                "only {} of {peers} catalogs within {} s",
                catalogs.load(Ordering::Relaxed),
                READY_LIMIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{peers} peers registered, catalogs in, after {:.2} s; {} probes, {} at once, media over {:?}…",
        t.elapsed().as_secs_f64(),
        a.invites,
        a.parallel,
        a.transport
    );
    let targets: Arc<Vec<DeviceCode>> = Arc::new(
        (0..a.channels)
            .map(|n| channel_code(fleet.seed, n))
            .chain((0..a.peers).map(|n| device_code(fleet.seed, n)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::<f64>::with_capacity(a.invites as usize)));
    let failures = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let h265 = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_self();
    let started = Instant::now();
    // Bounded: each worker takes probes from the shared counter until N were taken.
    let workers: Vec<_> = (0..a.parallel)
        .map(|_| {
            let (prober, targets, next, times, failures, h265) = (
                prober.clone(),
                targets.clone(),
                next.clone(),
                times.clone(),
                failures.clone(),
                h265.clone(),
            );
            let n = a.invites as usize;
            tokio::spawn(async move {
                let thresholds = Thresholds::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let t = Instant::now();
                    let o = prober.probe(targets[i % targets.len()]).await;
                    let thumb = match (&o.status, &o.frame) {
                        (ProbeStatus::Up, Some(Frame::H264(k))) => from_h264(k).ok(),
                        (ProbeStatus::Up, Some(Frame::H265(k))) => {
                            h265.fetch_add(1, Ordering::Relaxed);
                            from_h265(k).ok()
                        }
                        _ => None,
                    };
                    let Some(thumb) = thumb else {
                        let kind: &str = o.failure.map_or("undecodable", |f| f.into());
                        *failures
                            .lock()
                            .expect("lock")
                            .entry(kind.to_string())
                            .or_default() += 1;
                        continue;
                    };
                    let _ = diagnose(&thumb, None, None, &thresholds);
                    times
                        .lock()
                        .expect("lock")
                        .push(t.elapsed().as_secs_f64() * 1e3);
                }
            })
        })
        .collect();
    for w in workers {
        w.await
            .map_err(|e| Error::internal(format!("a probe worker: {e}")))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_self() - cpu0;
    let mut times = std::mem::take(&mut *times.lock().expect("lock"));
    times.sort_by(f64::total_cmp);
    let failures = std::mem::take(&mut *failures.lock().expect("lock"));
    println!(
        "{} probes in {secs:.2} s = {:.1} probes/s; {} diagnosed keyframes ({} H.265), failures: {:?}",
        a.invites,
        a.invites as f64 / secs,
        times.len(),
        h265.load(Ordering::Relaxed),
        failures
    );
    println!(
        "INVITE → diagnosed keyframe: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&times, 0.5),
        quantile(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "platform process CPU: {cpu:.2} s in {secs:.2} s = {:.1} % of one core ({:.2} ms per probe)",
        cpu / secs * 100.0,
        cpu / a.invites as f64 * 1e3
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v[..1], 0.99), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
