//! Test helpers (not a test): camwatch's GB/T 28181 platform as `serve` runs it (catalogs
//! synced into a SQLite register, the picture probe as `[gb28181]` says) on loopback UDP and
//! TCP, and simulated peers registering to it, for the GB/T 28181 end-to-end tests.

#![allow(dead_code)]

use std::sync::Arc;

use camwatch_core::clock::Clock;
use camwatch_core::config::Gb28181Config;
use camwatch_core::secret::SecretKey;
use camwatch_monitor::SignallingStatus;
use camwatch_sim::gb28181::{GbFleet, PeerHandle};
use camwatch_store::{DeviceFilter, Store};

pub struct GbWorld {
    pub store: Arc<dyn Store>,
    pub signalling: Arc<dyn SignallingStatus>,
    pub peers: Vec<PeerHandle>,
    /// Stops the platform (and whatever else the test hangs on it, like its monitor).
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Stops the simulated peers.
    pub sim_stop: tokio::sync::watch::Sender<bool>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// The platform with `gb`'s settings and `fleet` (its `platform` set to the platform's UDP
/// address) in the register, then the fleet started. Nothing is awaited beyond that.
pub async fn start(clock: Arc<dyn Clock>, mut fleet: GbFleet, gb: Gb28181Config) -> GbWorld {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fleet.platform = udp.local_addr().unwrap();
    store.upsert_devices(&fleet.register()).await.unwrap();
    let register = store.list_devices(&DeviceFilter::default()).await.unwrap();
    let pcfg =
        camwatch::cli::gb28181::platform_config(&gb, &SecretKey::generate(), &register).unwrap();
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (server, signalling) = camwatch::cli::gb28181::start_bound(
        pcfg,
        camwatch::cli::gb28181::media_config(&gb),
        udp,
        tcp,
        clock.clone(),
        store.clone(),
        None,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .unwrap();
    let (sim_stop, sim_stopped) = tokio::sync::watch::channel(false);
    let peers = camwatch_sim::gb28181::start(&fleet, clock, sim_stopped)
        .await
        .unwrap();
    GbWorld {
        store,
        signalling,
        peers,
        stop,
        sim_stop,
        server,
        _dir: dir,
    }
}

impl GbWorld {
    /// Stops the peers, then the platform, and waits for it.
    pub async fn end(self) {
        self.sim_stop.send(true).unwrap();
        self.stop.send(true).unwrap();
        self.server.await.unwrap().unwrap();
    }
}
