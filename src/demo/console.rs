//! The demo's web console: the HTTP API and the embedded console (`camwatch-api`) over the
//! demo's store, live state and event bus, on loopback, with a demo admin whose random
//! one-time password is printed once (as `serve` does at a first start).
//!
//! Invariants: it listens on 127.0.0.1 only (the demo is a local tool); sessions run on real
//! time (the demo's scaled clock would end an idle session within seconds), the data on the
//! demo's clock.
//!
//! Must not: print a password more than once, or outlive the demo (it stops with `stop`).

use std::sync::Arc;

use camwatch_access::{Accounts, Policy};
use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_monitor::{EventBus, MonitorState};
use camwatch_store::Store;
use camwatch_workorder::Desk;

/// Where the console is and how to sign in.
pub struct ConsoleInfo {
    pub url: String,
    /// The demo admin and its one-time password; `None` when the database had users already.
    pub login: Option<(String, String)>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ConsoleInfo {
    /// The line beside the live view.
    pub fn line(&self) -> String {
        match &self.login {
            Some((name, pw)) => format!(
                "console {} · sign in as {name} with the one-time password {pw}",
                self.url
            ),
            None => format!("console {} · sign in with an existing user", self.url),
        }
    }
}

/// Binds `listen` (on failure, any free loopback port), makes the demo admin, and serves.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    listen: &str,
    store: Arc<dyn Store>,
    monitor: Arc<MonitorState>,
    bus: EventBus,
    desk: Desk,
    clock: Arc<dyn Clock>,
    contract: (Contract, String),
    baselines: std::path::PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<ConsoleInfo> {
    let at: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| Error::invalid(format!("--listen {listen:?}: {e}")))?;
    if !at.ip().is_loopback() {
        return Err(Error::invalid(format!(
            "--listen {listen}: the demo's console listens on loopback only (127.0.0.1)"
        )));
    }
    let listener = match tokio::net::TcpListener::bind(at).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::internal(format!("binding 127.0.0.1:0: {e}")))?,
    };
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    let accounts = Accounts::new(store.clone(), Arc::new(SystemClock), Policy::default())
        .map_err(|e| Error::internal(e.to_string()))?;
    let login = accounts
        .ensure_first_admin()
        .await?
        .map(|a| (a.name, a.password.expose().to_string()));
    let state = camwatch_api::AppState {
        store,
        accounts,
        monitor,
        desk,
        clock,
        secure_cookie: false,
        register: Default::default(),
        reports: Some(camwatch_api::reports::Reports::new(contract.0, contract.1)),
        ops: camwatch_api::ops::Ops::new(bus),
        console: Default::default(),
        pictures: Some(Arc::new(camwatch_api::devices::pictures::Pictures {
            dir: baselines,
            thresholds: Arc::new(Default::default()),
        })),
        patrol: Default::default(),
    };
    let task = tokio::spawn(camwatch_api::serve(listener, state, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    Ok(ConsoleInfo {
        url: format!("http://{addr}/"),
        login,
        task,
    })
}
