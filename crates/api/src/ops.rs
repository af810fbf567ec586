//! What the operations endpoints share (the event stream, `/metrics`, `/readyz`) that the
//! request handlers do not: the monitor's event bus, the API's own counters, the stream
//! settings, and the signal that ends open streams when the server shuts down.
//!
//! Invariants: one [`Ops`] per served API; [`Ops::stop`] is called once the server's shutdown
//! signal has fired (by [`crate::serve`]), after which every open event stream ends, so a
//! graceful shutdown never waits on a client that keeps its stream open.
//!
//! Must not: hold per-request state, or anything a client could read without the checks of
//! the endpoint that serves it.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use camwatch_monitor::EventBus;
use tokio::sync::watch;

use crate::metrics::ApiMetrics;

/// How event streams behave.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// A comment line this often keeps proxies from closing an idle stream.
    pub keep_alive: Duration,
    /// How often a stream's fleet summary is re-sent, when a status change in its scope
    /// happened meanwhile.
    pub summary_every: Duration,
    /// How often a stream re-checks its session or token (logout, expiry, revocation, a
    /// narrowed scope end or change it within this time).
    pub recheck_every: Duration,
    /// After an event, a stream waits this long and sends everything that arrived meanwhile
    /// at once: under a storm of changes each client costs one wake-up and one write per
    /// `batch`, not one per event. Zero sends each event as it comes.
    pub batch: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            summary_every: Duration::from_secs(10),
            recheck_every: Duration::from_secs(30),
            batch: Duration::from_millis(250),
        }
    }
}

/// The operations side's shared handles. Cheap to clone.
#[derive(Clone)]
pub struct Ops {
    /// The monitor's event bus (what `/events` streams).
    pub events: EventBus,
    pub metrics: Arc<ApiMetrics>,
    pub stream: StreamOptions,
    /// Serve `/metrics` without authentication.
    pub metrics_open: bool,
    /// This process's run, in event ids: an id from an earlier run is never taken for one
    /// of this run's sequence numbers.
    pub(crate) run: u64,
    stopping: Arc<watch::Sender<bool>>,
    pub(crate) summaries: Arc<crate::events::SummaryCache>,
    pub(crate) rendered: Arc<crate::events::Rendered>,
}

impl Ops {
    pub fn new(events: EventBus) -> Self {
        Self {
            events,
            metrics: Arc::default(),
            stream: StreamOptions::default(),
            metrics_open: false,
            // Random per process, without a dependency: std's hasher keys are random.
            run: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
                >> 16,
            stopping: Arc::new(watch::channel(false).0),
            summaries: Arc::default(),
            rendered: Arc::default(),
        }
    }

    /// Ends every open event stream (the server is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Turns true when the server shuts down.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}
