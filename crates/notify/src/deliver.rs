//! The outbox worker: delivers the rows of `outbox` to their targets, in order per key,
//! retrying with backoff until each is delivered.
//!
//! **Delivery guarantee: at least once, with an id to de-duplicate on.** A row is marked
//! delivered only after its target accepted it (2xx, and `errcode` 0 for the robots). A crash,
//! a kill or a lost database between the target's answer and that mark sends the row again
//! after the restart, with the same `X-Camwatch-Id` (the outbox id) and the same body; a
//! receiver that keeps the ids it has seen gets every notification exactly once. Nothing is
//! lost: rows are written in the transaction of the change they announce and stay until
//! delivered, whatever the targets or this process do meanwhile. (Chat robots cannot
//! de-duplicate: after such a crash a chat may show one message twice.)
//!
//! **Order.** `OutboxStore::due_outbox` gives only the head of each (target, ordering key),
//! and a row in flight is not handed out again until its attempt has been recorded, so the
//! messages about one work order reach each target in the order they were written, across
//! retries and restarts.
//!
//! **Isolation.** Each delivery has a deadline (`timeout`) and reads at most
//! `max_response_bytes` of the answer; at most `max_in_flight` deliveries run at once and at
//! most `max_per_target` of them to one target, and the due limit is per target, so a dead or
//! slow target delays only its own messages.
//!
//! **Backoff.** 30 s after the first failure, doubling to at most an hour, forever: a
//! notification is never dropped, and a target down for a week gets its backlog when it
//! returns. Failures are logged at `warn` and counted in [`OutboxStats`]; the backlog is in
//! `OutboxStore::outbox_backlog`.
//!
//! Wall time (timestamps, due times, the poll interval) comes from the injected `Clock`; the
//! per-delivery deadline is a tokio timeout.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use camwatch_core::clock::Clock;
use camwatch_core::error::{Error, ErrorKind, Result};
use camwatch_store::{OutboxRow, Store};

use crate::config::{HttpMethod, NotifyConfig, Target};
use crate::message::Notification;
use crate::render::{HttpRequest, judge, render};

/// The worker's limits (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub max_in_flight: usize,
    pub max_per_target: usize,
    pub max_response_bytes: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self::from(&NotifyConfig::default())
    }
}

impl From<&NotifyConfig> for DeliveryOptions {
    fn from(c: &NotifyConfig) -> Self {
        Self {
            timeout: Duration::from_millis(c.timeout_ms),
            poll_interval: Duration::from_secs(c.poll_interval_sec),
            max_in_flight: c.max_in_flight.max(1),
            max_per_target: c.max_per_target.max(1),
            max_response_bytes: c.max_response_bytes,
        }
    }
}

/// The first retry's delay; each further failure doubles it…
pub const BACKOFF_FIRST: Duration = Duration::from_secs(30);
/// …up to this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(3600);

/// The wait after the `attempts`-th failed attempt (1-based): 30 s, 1 min, 2 min, … 1 h.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_CAP)
}

/// Wakes the worker at once (after enqueueing), instead of at its next poll. A wake while
/// the worker is busy is kept and acted on when it next waits.
#[derive(Debug, Clone, Default)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Counters since the worker started.
#[derive(Debug, Default)]
pub struct OutboxStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
}

impl OutboxStats {
    /// Deliveries that succeeded.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Attempts that failed (each retry counts).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// What one delivery attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// At most the configured cap.
    pub body: Vec<u8>,
    /// The answer was longer than the cap.
    pub truncated: bool,
}

/// The HTTP client deliveries use: no redirects (a signed request is for the URL it was
/// signed for), a connect deadline of `timeout`.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .user_agent(concat!("camwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::with_source(ErrorKind::Internal, "building the HTTP client", e))
}

/// Sends `req` and reads at most `max_bytes` of the answer, all within `timeout`. `Err` is
/// a transport failure (refused, reset, timed out), described without the URL (robot URLs
/// carry credentials).
pub async fn send(
    client: &reqwest::Client,
    req: &HttpRequest,
    timeout: Duration,
    max_bytes: usize,
) -> std::result::Result<Answer, String> {
    let method = match req.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
    };
    let mut rb = client.request(method, &req.url);
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if req.method != HttpMethod::Get {
        rb = rb.body(req.body.clone());
    }
    let attempt = async {
        let mut resp = rb.send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            let room = max_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body,
            truncated,
        })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no complete answer within {} ms",
                timeout.as_millis()
            ))
        })
}

/// A reqwest error with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut s = what.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The outbox worker. Build it with [`Outbox::new`], keep its [`Outbox::waker`] for the
/// work-order engine, then [`Outbox::run`] it.
pub struct Outbox {
    store: Arc<dyn Store>,
    targets: HashMap<String, Arc<Target>>,
    clock: Arc<dyn Clock>,
    opts: DeliveryOptions,
    client: reqwest::Client,
    waker: OutboxWaker,
    stats: Arc<OutboxStats>,
    settled: watch::Sender<Option<i64>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// The deliveries in flight: which rows, how many per target, and which task is which row
/// (so a task that panicked still frees its row and its target's slot).
#[derive(Default)]
struct Flight {
    tasks: JoinSet<()>,
    by_task: HashMap<tokio::task::Id, (i64, String)>,
    rows: HashSet<i64>,
    per_target: HashMap<String, usize>,
}

impl Flight {
    fn busy(&self, target: &str) -> usize {
        self.per_target.get(target).copied().unwrap_or(0)
    }

    fn land(
        &mut self,
        r: std::result::Result<tokio::task::Id, tokio::task::JoinError>,
        stats: &OutboxStats,
    ) {
        let id = match r {
            Ok(id) => id,
            Err(e) => {
                // A bug: the row stays undelivered and is tried again at the next poll.
                tracing::error!(error = %e, "outbox: a delivery task failed");
                e.id()
            }
        };
        if let Some((row, target)) = self.by_task.remove(&id) {
            self.rows.remove(&row);
            if let Some(n) = self.per_target.get_mut(&target) {
                *n = n.saturating_sub(1);
            }
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Outbox {
    pub fn new(
        store: Arc<dyn Store>,
        targets: Vec<Target>,
        clock: Arc<dyn Clock>,
        opts: DeliveryOptions,
    ) -> Result<Self> {
        let client = http_client(opts.timeout)?;
        Ok(Self {
            store,
            targets: targets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            clock,
            opts,
            client,
            waker: OutboxWaker::new(),
            stats: Arc::default(),
            settled: watch::channel(None).0,
        })
    }

    /// Uses `waker` (e.g. one the engine was built with) instead of the worker's own.
    pub fn with_waker(mut self, waker: OutboxWaker) -> Self {
        self.waker = waker;
        self
    }

    pub fn waker(&self) -> OutboxWaker {
        self.waker.clone()
    }

    pub fn stats(&self) -> Arc<OutboxStats> {
        self.stats.clone()
    }

    /// The clock time (Unix seconds) of the worker's latest look at the outbox that found
    /// nothing due and nothing in flight: "caught up as of then". For tests and health checks.
    pub fn settled(&self) -> watch::Receiver<Option<i64>> {
        self.settled.subscribe()
    }

    /// Delivers until `shutdown` completes, then waits for the deliveries in flight (each
    /// bounded by the timeout) so their outcome is recorded. Store errors are logged and
    /// retried at the next poll; nothing here gives up.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let this = Arc::new(self);
        let mut flight = Flight::default();
        let mut unknown_logged: HashSet<String> = HashSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let now = this.clock.now().as_second();
            let limit = (this.opts.max_per_target * 2) as u64;
            let mut handed_out = 0usize;
            match this.store.due_outbox(now, limit).await {
                Ok(rows) => {
                    for row in rows {
                        if flight.rows.contains(&row.id)
                            || flight.rows.len() >= this.opts.max_in_flight
                        {
                            continue;
                        }
                        let Some(target) = this.targets.get(&row.target).cloned() else {
                            this.park_unknown(&row, now, &mut unknown_logged).await;
                            continue;
                        };
                        if flight.busy(&row.target) >= this.opts.max_per_target {
                            continue;
                        }
                        *flight.per_target.entry(row.target.clone()).or_default() += 1;
                        flight.rows.insert(row.id);
                        handed_out += 1;
                        this.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                        let key = (row.id, row.target.clone());
                        let w = this.clone();
                        let task = flight
                            .tasks
                            .spawn(async move { w.deliver(row, &target).await });
                        flight.by_task.insert(task.id(), key);
                    }
                }
                Err(e) => tracing::error!(error = %e, "outbox: reading due messages failed"),
            }
            if handed_out == 0 && flight.rows.is_empty() {
                this.settled.send_replace(Some(now));
            }
            let landed = tokio::select! {
                _ = &mut shutdown => break,
                _ = this.waker.0.notified() => None,
                _ = this.clock.sleep(this.opts.poll_interval) => None,
                Some(r) = flight.tasks.join_next_with_id(), if !flight.tasks.is_empty() => {
                    Some(r.map(|(id, ())| id))
                }
            };
            if let Some(r) = landed {
                flight.land(r, &this.stats);
                // Collect whatever else is done before looking again.
                while let Some(r) = flight.tasks.try_join_next_with_id() {
                    flight.land(r.map(|(id, ())| id), &this.stats);
                }
            }
        }
        while let Some(r) = flight.tasks.join_next_with_id().await {
            flight.land(r.map(|(id, ())| id), &this.stats);
        }
    }

    /// A row for a target no longer configured: put aside for an hour (so it does not fill
    /// every poll), kept for when the target comes back.
    async fn park_unknown(&self, row: &OutboxRow, now: i64, logged: &mut HashSet<String>) {
        if logged.insert(row.target.clone()) {
            tracing::warn!(
                target_name = %row.target,
                "outbox: messages for a target that is not configured are kept, not sent"
            );
        }
        let why = format!("target {:?} is not configured", row.target);
        if let Err(e) = self
            .store
            .mark_failed(row.id, row.attempts, now + 3600, &why)
            .await
        {
            tracing::error!(error = %e, id = row.id, "outbox: recording a row failed");
        }
    }

    /// One attempt at one row, and its outcome recorded.
    async fn deliver(&self, row: OutboxRow, target: &Target) {
        let outcome = match serde_json::from_str::<Notification>(&row.payload) {
            Err(e) => Err(format!("payload is not a notification: {e}")),
            Ok(n) => {
                let req = render(target, row.id, &n, self.clock.now());
                match send(
                    &self.client,
                    &req,
                    self.opts.timeout,
                    self.opts.max_response_bytes,
                )
                .await
                {
                    Ok(a) => judge(target.format.kind(), a.status, &a.body, a.truncated),
                    Err(e) => Err(e),
                }
            }
        };
        let at = self.clock.now().as_second();
        match outcome {
            Ok(()) => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(id = row.id, target_name = %target.name, "outbox: delivered");
                if let Err(e) = self.store.mark_delivered(row.id, at).await {
                    // It will be sent again, with the same id (at least once).
                    tracing::error!(error = %e, id = row.id, "outbox: recording a delivery failed");
                }
            }
            Err(why) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                let attempts = row.attempts.saturating_add(1);
                let wait = backoff(attempts);
                tracing::warn!(
                    id = row.id,
                    target_name = %target.name,
                    attempts,
                    retry_in_sec = wait.as_secs(),
                    error = %why,
                    "outbox: delivery failed"
                );
                let next_at = at.saturating_add(wait.as_secs() as i64);
                if let Err(e) = self
                    .store
                    .mark_failed(row.id, attempts, next_at, &why)
                    .await
                {
                    tracing::error!(error = %e, id = row.id, "outbox: recording a failure failed");
                }
            }
        }
    }
}

/// Runs an outbox worker for `targets` until `shutdown` (see [`Outbox`]). `waker` lets the
/// work-order engine wake it after enqueueing.
pub async fn run(
    store: Arc<dyn Store>,
    targets: Vec<Target>,
    clock: Arc<dyn Clock>,
    opts: DeliveryOptions,
    waker: OutboxWaker,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    Outbox::new(store, targets, clock, opts)?
        .with_waker(waker)
        .run(shutdown)
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_s_to_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
        assert_eq!(backoff(0), BACKOFF_FIRST);
    }
}
