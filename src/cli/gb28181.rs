//! `camwatch gb28181 …` and the GB/T 28181 platform that `serve` runs when `[gb28181] enabled`.
//!
//! The platform's inputs come from here: the devices it expects (the register), each device's
//! own password (the register's, stored sealed) and the shared password (sealed in the config
//! with the data key; `seal-password` prints that form). Its view of each device reaches the
//! monitor as the liveness of devices without an address of their own ([`PlatformStatus`]);
//! its events are logged.

use std::collections::{HashMap, HashSet};
use std::io::BufRead as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::clock::SharedClock;
use camwatch_core::config::Gb28181Config;
use camwatch_core::error::{Error, Result};
use camwatch_core::outcome::ProbeOutcome;
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::platform::{GbEvent, Platform, PlatformConfig};
use camwatch_gb28181::registrar::Liveness;

/// The associated data the shared password is sealed under, so a sealed camera password
/// cannot be pasted in its place.
const SHARED_CONTEXT: &str = "gb28181.shared_password";

#[derive(Debug, Subcommand)]
pub enum Gb28181Command {
    /// Read a password on standard input and print it sealed for `[gb28181] shared_password`.
    SealPassword,
}

pub fn run(g: &GlobalArgs, c: &Gb28181Command) -> Result<ExitCode> {
    match c {
        Gb28181Command::SealPassword => {
            let cfg = g.config()?;
            let key =
                SecretKey::load(&cfg.key_file()).map_err(|e| Error::invalid(e.to_string()))?;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::invalid(format!("reading the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Error::invalid("the password is empty"));
            }
            println!("{}", key.seal(SHARED_CONTEXT, &Password::new(password)));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The platform's configuration from the config section and the register.
pub fn platform_config(
    cfg: &Gb28181Config,
    key: &SecretKey,
    devices: &[Device],
) -> Result<PlatformConfig> {
    let shared_password = if cfg.shared_password.trim().is_empty() {
        None
    } else {
        Some(
            key.open(SHARED_CONTEXT, cfg.shared_password.trim())
                .map_err(|e| Error::invalid(format!("config gb28181.shared_password: {e}")))?,
        )
    };
    let passwords: HashMap<DeviceCode, Password> = devices
        .iter()
        .filter_map(|d| Some((d.code, d.password.clone().filter(|p| !p.is_empty())?)))
        .collect();
    let known: HashSet<DeviceCode> = devices.iter().map(|d| d.code).collect();
    Ok(PlatformConfig {
        id: cfg.id.clone(),
        domain: cfg.domain.clone(),
        shared_password,
        passwords,
        known,
        unknown: cfg.unknown_devices,
        liveness: Liveness {
            interval_sec: cfg.keepalive_interval_sec,
            misses: cfg.keepalive_misses,
        },
        per_device_liveness: HashMap::new(),
    })
}

/// The platform as the monitor's signalling source.
#[derive(Debug)]
pub struct PlatformStatus(Arc<Mutex<Platform>>);

impl camwatch_monitor::SignallingStatus for PlatformStatus {
    fn observe(&self, device: &DeviceCode, now: i64) -> Option<ProbeOutcome> {
        // A sync lock: `observe` is a few map lookups, nothing awaits under it.
        let p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.observe(device, now).map(|o| o.outcome)
    }
}

/// Binds the configured addresses and starts the platform; returns its task, which ends when
/// `stop` turns true, and the platform as a signalling source for the monitor.
pub async fn start(
    cfg: &Gb28181Config,
    key: &SecretKey,
    devices: &[Device],
    clock: SharedClock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(
    tokio::task::JoinHandle<std::io::Result<()>>,
    Arc<dyn camwatch_monitor::SignallingStatus>,
)> {
    let platform = platform_config(cfg, key, devices)?;
    let udp = tokio::net::UdpSocket::bind(cfg.udp_listen.trim())
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "config gb28181.udp_listen = {:?}: {e}",
                cfg.udp_listen
            ))
        })?;
    let tcp = tokio::net::TcpListener::bind(cfg.tcp_listen.trim())
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "config gb28181.tcp_listen = {:?}: {e}",
                cfg.tcp_listen
            ))
        })?;
    tracing::info!(
        udp = %udp.local_addr().map_or_else(|_| cfg.udp_listen.clone(), |a| a.to_string()),
        tcp = %tcp.local_addr().map_or_else(|_| cfg.tcp_listen.clone(), |a| a.to_string()),
        id = %cfg.id,
        domain = %cfg.domain,
        "camwatch serve: GB/T 28181 platform"
    );
    let platform = Arc::new(Mutex::new(Platform::new(platform, Nonces::random(), {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| Error::internal(format!("random source: {e}")))?;
        u64::from_le_bytes(b)
    })));
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            log_event(&e);
        }
    });
    let status = Arc::new(PlatformStatus(platform.clone()));
    let task = tokio::spawn(camwatch_gb28181::server::run(
        platform,
        udp,
        tcp,
        clock,
        tx,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));
    Ok((task, status))
}

fn log_event(e: &GbEvent) {
    match e {
        GbEvent::Presence(t) => {
            tracing::info!(device = %t.device, at = t.at, presence = ?t.presence, "GB/T 28181 presence")
        }
        GbEvent::Keepalive { device, .. } => tracing::debug!(%device, "GB/T 28181 keepalive"),
        GbEvent::Catalog(c) => tracing::info!(
            device = %c.device_id,
            channels = c.items.len(),
            announced = c.sum_num,
            complete = c.complete,
            "GB/T 28181 catalog"
        ),
        GbEvent::Refused {
            device, from, why, ..
        } => {
            tracing::warn!(%device, %from, ?why, "GB/T 28181 registration refused")
        }
        GbEvent::DeviceInfo { device, .. } | GbEvent::DeviceStatus { device, .. } => {
            tracing::debug!(%device, "GB/T 28181 device answer")
        }
    }
}
