//! `camwatch bench gb28181`: what the GB/T 28181 platform costs with a large fleet of devices
//! registered to it, and how fast it absorbs a REGISTER storm.
//!
//! The platform runs in this process exactly as `serve` builds it (`platform_config` from the
//! register and `[gb28181]`, `camwatch_gb28181::server::run` on loopback UDP), with a consumer
//! that counts its events in place of `serve`'s (which logs keepalives and writes catalogs to
//! the store; catalog writes are not part of these figures). The devices are `camwatch sim`
//! in a child process, each on its own loopback address, so this process's CPU time
//! (`getrusage(RUSAGE_SELF)`) is the platform's alone.
//!
//! 1. The storm: every device sends REGISTER at once; the platform challenges each (digest),
//!    checks each answer and sends each a Catalog query. Timed from the first device online to
//!    the last, and from the simulator's start.
//! 2. Keepalives: once every device is registered and has answered its Catalog query, a real
//!    window (default 120 s: two keepalive rounds at the devices' real 60 s interval) with
//!    nothing else happening but the recording-health polls `serve` makes (`[gb28181]`'s
//!    defaults: each device asked for DeviceStatus, with DeviceInfo, within a minute of
//!    registering, so the first round falls in the window); the process's CPU seconds over
//!    the window's seconds.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camwatch_core::clock::{SharedClock, SystemClock};
use camwatch_core::config::Gb28181Config;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::SecretKey;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::platform::{GbEvent, Platform};
use camwatch_gb28181::registrar::Presence;
use camwatch_sim::gb28181::GbFleet;

/// The simulated devices' first address (device i: this + i), apart from other benches'.
const DEVICES_FROM: Ipv4Addr = Ipv4Addr::new(127, 24, 0, 1);
const KEEPALIVE_SEC: i64 = 60;
/// Bounds on each phase, so a broken run ends.
const STORM_LIMIT: Duration = Duration::from_secs(300);
const CATALOG_LIMIT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Counts {
    online: AtomicU64,
    offline: AtomicU64,
    keepalives: AtomicU64,
    catalogs: AtomicU64,
    /// DeviceStatus answers (the recording-health polls, `device_status_sec` as `serve` has it).
    statuses: AtomicU64,
    refused: AtomicU64,
    /// Requests of the platform's still unanswered at their timeout (retransmissions included).
    unanswered: AtomicU64,
    first_online: Mutex<Option<Instant>>,
    last_online: Mutex<Option<Instant>>,
    /// When the answers reached the fleet's size (every device's first poll, in effect).
    fleet_answered: Mutex<Option<Instant>>,
    fleet: u64,
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

async fn count(counts: Arc<Counts>, mut rx: tokio::sync::mpsc::UnboundedReceiver<GbEvent>) {
    while let Some(e) = rx.recv().await {
        match e {
            GbEvent::Presence(t) if t.presence == Presence::Online => {
                let now = Instant::now();
                counts.first_online.lock().expect("lock").get_or_insert(now);
                *counts.last_online.lock().expect("lock") = Some(now);
                counts.online.fetch_add(1, Ordering::Relaxed);
            }
            GbEvent::Presence(_) => {
                counts.offline.fetch_add(1, Ordering::Relaxed);
            }
            GbEvent::Keepalive { .. } => {
                counts.keepalives.fetch_add(1, Ordering::Relaxed);
            }
            GbEvent::Catalog(_) => {
                counts.catalogs.fetch_add(1, Ordering::Relaxed);
            }
            GbEvent::DeviceStatus { .. } => {
                let answered = counts.statuses.fetch_add(1, Ordering::Relaxed) + 1;
                if answered == counts.fleet {
                    *counts.fleet_answered.lock().expect("lock") = Some(Instant::now());
                }
            }
            GbEvent::Refused { .. } => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
            }
            GbEvent::NoAnswer { .. } => {
                counts.unanswered.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Waits until `done` holds, polling, at most `limit`; false when the limit came first or the
/// simulator exited.
async fn wait_until(
    sim: &mut std::process::Child,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<bool> {
    let t = Instant::now();
    while !done() {
        if let Ok(Some(st)) = sim.try_wait() {
            return Err(Error::internal(format!("the simulator exited: {st}")));
        }
        if t.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(true)
}

pub async fn run(devices: u32, window: u64) -> Result<ExitCode> {
    // The platform's own account of each poll when asked (`RUST_LOG=camwatch_gb28181=debug`).
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    if devices == 0 || devices > 60_000 {
        return Err(Error::invalid("--devices must be 1 to 60,000"));
    }
    let io = |e: std::io::Error| Error::internal(format!("binding the platform: {e}"));
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let addr: SocketAddr = udp.local_addr().map_err(io)?;
    let fleet = GbFleet {
        platform: addr,
        devices,
        keepalive_sec: KEEPALIVE_SEC,
        bind: Some(DEVICES_FROM),
        ..GbFleet::default()
    };
    let gb = Gb28181Config {
        keepalive_interval_sec: KEEPALIVE_SEC as u32,
        ..Gb28181Config::default()
    };
    let pcfg = super::gb28181::platform_config(&gb, &SecretKey::generate(), &fleet.register())?;
    let platform = Arc::new(Mutex::new(Platform::new(pcfg, Nonces::random(), 1)));
    let counts = Arc::new(Counts {
        fleet: u64::from(devices),
        ..Counts::default()
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(count(counts.clone(), rx));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let clock: SharedClock = Arc::new(SystemClock);
    let server = tokio::spawn(camwatch_gb28181::server::run(
        platform.clone(),
        udp,
        tcp,
        clock,
        tx,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));

    println!("starting {devices} simulated GB/T 28181 devices (their own process) against {addr}…");
    let cpu0 = cpu_self();
    let started = Instant::now();
    let mut sim =
        Command::new(std::env::current_exe().map_err(|e| Error::internal(e.to_string()))?)
            .args(["sim", "--fault-mix", "none", "--cameras", "1", "--one-port"])
            .args(["--bind", "127.0.0.1", "--gb-platform", &addr.to_string()])
            .args(["--gb-devices", &devices.to_string()])
            .args(["--gb-keepalive-sec", &KEEPALIVE_SEC.to_string()])
            .args(["--gb-bind", &DEVICES_FROM.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::internal(format!("spawn sim: {e}")))?;
    let result = measure(&mut sim, &counts, devices, window, started, cpu0).await;
    {
        let p = platform.lock().unwrap_or_else(|e| e.into_inner());
        let st = p.poll_stats();
        let (dropped_events, dropped_messages) = p.dropped();
        println!(
            "DeviceStatus polls since start: {} sent, {} answered, {} timed out, {} freed unanswered \
             after {} s; slots held {:.2} s on average; {dropped_messages} messages dropped at the \
             rate bound, {dropped_events} events",
            st.sent,
            st.answered,
            st.timed_out,
            st.stuck,
            camwatch_gb28181::status_poll::SLOT_TIMEOUT_SEC,
            st.held_sec as f64 / (st.answered + st.timed_out + st.stuck).max(1) as f64
        );
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sim.id() as i32, libc::SIGTERM) };
    let _ = sim.wait();
    let _ = stop_tx.send(true);
    let _ = server.await;
    result
}

async fn measure(
    sim: &mut std::process::Child,
    counts: &Counts,
    devices: u32,
    window: u64,
    started: Instant,
    cpu0: f64,
) -> Result<ExitCode> {
    let n = u64::from(devices);
    let all_online = wait_until(sim, STORM_LIMIT, || {
        counts.online.load(Ordering::Relaxed) >= n
    })
    .await?;
    let online = counts.online.load(Ordering::Relaxed);
    if !all_online {
        return Err(Error::internal(format!(
            "only {online} of {n} devices registered within {} s",
            STORM_LIMIT.as_secs()
        )));
    }
    let storm_cpu = cpu_self() - cpu0;
    let since_start = started.elapsed().as_secs_f64();
    let (first, last) = (
        counts.first_online.lock().expect("lock").expect("online"),
        counts.last_online.lock().expect("lock").expect("online"),
    );
    let storm = last.duration_since(first).as_secs_f64();
    println!(
        "REGISTER storm: {n} devices with digest auth registered in {storm:.2} s from the first \
         to the last ({since_start:.2} s from the simulator's start, which opens {n} sockets \
         first); platform CPU {storm_cpu:.2} s; {} refused; bar < 20 s: {}",
        counts.refused.load(Ordering::Relaxed),
        if storm < 20.0 { "met" } else { "MISSED" }
    );

    // Every device answers its Catalog query; then only keepalives remain.
    let catalogs = wait_until(sim, CATALOG_LIMIT, || {
        counts.catalogs.load(Ordering::Relaxed) >= n
    })
    .await?;
    println!(
        "catalogs answered: {} of {n} ({:.2} s from the simulator's start; {} requests of the \
         platform's unanswered after their retransmissions){}",
        counts.catalogs.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        counts.unanswered.load(Ordering::Relaxed),
        if catalogs { "" } else { " (measuring anyway)" }
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (k0, off0, s0, c0, t0) = (
        counts.keepalives.load(Ordering::Relaxed),
        counts.offline.load(Ordering::Relaxed),
        counts.statuses.load(Ordering::Relaxed),
        cpu_self(),
        Instant::now(),
    );
    println!("measuring the platform's CPU over {window} s of keepalives…");
    // Bounded: one sleep of the window's length, the simulator checked every second.
    let end = t0 + Duration::from_secs(window);
    while Instant::now() < end {
        if let Ok(Some(st)) = sim.try_wait() {
            return Err(Error::internal(format!("the simulator exited: {st}")));
        }
        tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now())).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_self() - c0;
    let keepalives = counts.keepalives.load(Ordering::Relaxed) - k0;
    let offline = counts.offline.load(Ordering::Relaxed) - off0;
    let statuses = counts.statuses.load(Ordering::Relaxed) - s0;
    let expected = n as f64 * secs / KEEPALIVE_SEC as f64;
    let share = cpu / secs * 100.0;
    println!(
        "keepalives: {keepalives} in {secs:.1} s ({:.0}/s; {expected:.0} expected from {n} devices \
         every {KEEPALIVE_SEC} s), {offline} went offline; {statuses} DeviceStatus answers \
         (each device is first asked within a minute of registering, with DeviceInfo, then \
         every device_status_sec)",
        keepalives as f64 / secs
    );
    let first = counts.first_online.lock().expect("lock").expect("online");
    println!(
        "DeviceStatus: {:.0} answers/s in the window; {}",
        statuses as f64 / secs,
        match *counts.fleet_answered.lock().expect("lock") {
            Some(at) => format!(
                "the whole fleet ({n}) answered {:.1} s after the first device came online \
                 (each first poll is due within 60 s of its registration)",
                at.duration_since(first).as_secs_f64()
            ),
            None => format!(
                "only {} of {n} devices answered by the window's end",
                counts.statuses.load(Ordering::Relaxed)
            ),
        }
    );
    println!(
        "platform CPU: {cpu:.2} s in {secs:.1} s = {share:.2} % of one core ({:.1} µs per \
         keepalive, everything included); bar < 2 %: {}",
        cpu / keepalives.max(1) as f64 * 1e6,
        if share < 2.0 { "met" } else { "MISSED" }
    );
    Ok(ExitCode::SUCCESS)
}
