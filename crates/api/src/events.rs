//! `GET /api/v1/events`: the monitor's status changes and the fleet summary as server-sent
//! events, within the caller's scope.
//!
//! Each stream reads the monitor's event bus (`camwatch_monitor::EventBus`) through its own
//! subscription and sends:
//! - `status`: a device's status changed ([`StatusEvent`]);
//! - `recording`: a GB/T 28181 peer's recording health changed ([`RecordingEvent`]);
//! - `summary`: the fleet summary in the caller's scope (the `/fleet/summary` shape), once at
//!   the start and again, at most every `summary_every`, after a status change in scope;
//! - `resync`: events were lost for this stream (it read too slowly, or the `Last-Event-ID`
//!   it resumed from is no longer held): re-read the device list, the state is the truth;
//! - `end`: the stream ends (signed out, session expired or token revoked, shutdown).
//!
//! Every event's `id` is `RUN-SEQ`: this process's run and the last sequence number of the
//! monitor's stream the client has been given everything in scope up to. A client that
//! reconnects with it in `Last-Event-ID` gets what followed, if still held, else a `resync`.
//!
//! Invariants:
//! - Every status event passes `Principal::may_on_device(ReadStatus, …)` with the caller's
//!   scope as re-checked every `recheck_every` (the rule of the device and fleet endpoints);
//!   the summary counts only what the caller may see. Nothing out of scope is sent, not even
//!   a count of it.
//! - A stream is woken at most once per `batch` however busy the bus: after an event it waits
//!   `batch`, then takes everything that arrived meanwhile and sends it as one chunk of the
//!   body (one write on the connection, not one per event). The body is written here, not by
//!   axum's `Sse`, because `Sse` makes each event its own chunk. A status event is filtered per stream but rendered
//!   once for all of them ([`Rendered`]): its text does not depend on who reads it.
//! - A stream never makes the monitor or another stream wait: the bus never waits for a
//!   reader, a reader that falls a ring behind is told `resync`, and a client that does not
//!   read only stops its own stream from being polled. The summary of the whole fleet is
//!   computed at most once per half `summary_every` whatever the number of streams
//!   ([`SummaryCache`]), and each stream only adds up its region and maintainer groups.
//! - A stream ends within `recheck_every` of its session or token ending, and at once when the
//!   server shuts down ([`crate::ops::Ops::stop`]), so a graceful shutdown does not hang.
//!   Re-checking a session does not mark it used: an open stream does not keep it alive.
//!
//! Must not: send an event of a device outside the caller's scope, hold a lock while waiting,
//! or keep a task per stream (a stream is polled only by its connection).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use utoipa::ToSchema;

use camwatch_core::access::{Action, Principal};
use camwatch_core::regions::RegionNames;
use camwatch_monitor::MonitorState;
use camwatch_monitor::events::{
    Event, EventKind, Received, RecordingChange, StatusChange, Subscription,
};

use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::fleet::{Counts, FleetSummary, RegionCounts};

/// A device's status changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEvent {
    /// The monitor's sequence number of this change.
    pub seq: u64,
    /// The 20-digit national code.
    pub code: String,
    pub name: String,
    /// The 6-digit civil code of its region.
    pub region: String,
    pub maintainer: Option<String>,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub from: String,
    pub to: String,
    /// Why it is offline or degraded, as stored (`connection_refused`, `parent_down:<code>`,
    /// `blur,frozen`…).
    pub cause: Option<String>,
    /// Since when (Unix seconds): the change's backdated start.
    pub since: i64,
    /// Set when this change continues, across a monitor restart, the fault the device had
    /// when camwatch last stopped watching: the same fault, not a new one.
    pub continues: Option<Continues>,
}

/// A GB/T 28181 peer's recording health changed (its DeviceStatus answer's `Record`,
/// `Encode` or `Status`). No status change: a device that is not recording may be online.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingEvent {
    /// The monitor's sequence number of this change.
    pub seq: u64,
    /// The 20-digit national code.
    pub code: String,
    pub name: String,
    /// The 6-digit civil code of its region.
    pub region: String,
    pub maintainer: Option<String>,
    /// `on`, `off` or `unknown` (absent or outside the standard: never read as on).
    pub record: String,
    pub encode: String,
    /// The device's own `Status` (`OK` is `on`, `ERROR` `off`).
    pub status: String,
    /// Since when `record` has had its value (Unix seconds, kept across restarts).
    pub since: i64,
    /// The answer that brought the change (Unix seconds).
    pub at: i64,
}

/// The fault a change continues across a monitor restart.
#[derive(Debug, Serialize, ToSchema)]
pub struct Continues {
    /// When that fault started (Unix seconds).
    pub since: i64,
    pub cause: Option<String>,
}

/// Why the client must re-read the device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// The client read too slowly and events were dropped for it.
    Lagged,
    /// The `Last-Event-ID` it resumed from is no longer held (or is from an earlier run).
    NotHeld,
}

/// Events were lost for this stream: re-read the state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Resync {
    pub reason: ResyncReason,
}

/// Why the stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The session or token ended (logout, expiry, revocation, a disabled user).
    SignedOut,
    /// The server is shutting down: reconnect later.
    ShuttingDown,
    /// The monitor stopped publishing.
    MonitorStopped,
}

/// The last event of a stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEnd {
    pub reason: EndReason,
}

/// The event stream.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events",
    params(
        ("Last-Event-ID" = Option<String>, Header,
         description = "The `id` of the last event received, to resume after it"),
    ),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "Server-sent events: `status` (StatusEvent), `recording` \
                        (RecordingEvent), `summary` (FleetSummary), `resync` (Resync), `end` \
                        (StreamEnd); comment lines keep it alive",
         body = String),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The role may not read status", body = ApiError),
    )
)]
pub async fn stream(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = caller.principal;
    p.require(Action::ReadStatus)?;
    p.require(Action::ReadDevices)?;
    let credential = match (auth::bearer(&headers), caller.session) {
        (Some(Ok(t)), _) => Credential::Token(t.to_string()),
        (_, Some((_, cookie))) => Credential::Session(cookie),
        // The extractor accepted neither: cannot happen; refuse rather than stream unchecked.
        _ => return Err(ApiError::unauthenticated()),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_id(st.ops.run, v));
    let opts = st.ops.stream;
    let (sub, replay) = match resume {
        None => (st.ops.events.subscribe(), Some(Vec::new())),
        Some(Some(last)) => {
            let (replay, sub) = st.ops.events.subscribe_after(last);
            (sub, replay)
        }
        Some(None) => (st.ops.events.subscribe(), None),
    };
    let every = |d: Duration| {
        let mut i = tokio::time::interval_at(Instant::now() + d, d);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    };
    let mut feed = Feed {
        processed: sub.position(),
        sub,
        principal: p,
        credential,
        queue: Vec::new(),
        keep_alive: every(opts.keep_alive),
        summary_tick: every(opts.summary_every),
        recheck: every(opts.recheck_every),
        stopping: st.ops.stopping(),
        want: 0,
        sent_upto: 0,
        last_summary: None,
        done: false,
        _client: Client::new(&st),
        st,
    };
    match replay {
        Some(events) => {
            for e in events {
                feed.take(e);
            }
        }
        None => feed.resync(ResyncReason::NotHeld),
    }
    feed.summary(true);
    let stream = futures::stream::unfold(feed, |mut f| async move {
        f.next().await.map(|b| (Ok::<_, Infallible>(b), f))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `RUN-SEQ` of this run, else `None` (malformed, or another run's).
fn parse_id(run: u64, v: &str) -> Option<u64> {
    let (r, s) = v.trim().split_once('-')?;
    (u64::from_str_radix(r, 16).ok()? == run)
        .then(|| s.parse().ok())
        .flatten()
}

/// What authenticated the stream, re-checked every `recheck_every`.
enum Credential {
    Session(String),
    Token(String),
}

/// Counts the stream among the connected clients while it lives.
struct Client(Arc<crate::metrics::ApiMetrics>);

impl Client {
    fn new(st: &AppState) -> Self {
        st.ops.metrics.sse_clients.inc();
        Self(st.ops.metrics.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.0.sse_clients.dec();
    }
}

/// One stream's state between polls.
struct Feed {
    st: AppState,
    sub: Subscription,
    principal: Principal,
    credential: Credential,
    /// Events ready to send, in order, as sent: one batch is one write.
    queue: Vec<u8>,
    /// A comment line this often keeps proxies from closing an idle stream.
    keep_alive: Interval,
    /// The last sequence number of the bus this stream has dealt with.
    processed: u64,
    summary_tick: Interval,
    recheck: Interval,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The summary must include every change up to this one (a status change in scope)…
    want: u64,
    /// …and the last one sent includes every change up to this one.
    sent_upto: u64,
    /// The last summary sent, as sent (without its time).
    last_summary: Option<String>,
    /// The `end` event is queued: nothing follows it.
    done: bool,
    _client: Client,
}

enum Step {
    Stop,
    KeepAlive,
    Recheck,
    Summary,
    Got(Received),
}

/// The most events one stream takes from the bus in one batch before it lets its connection
/// write: a bound on a poll's work (the bus's ring bounds it too).
const BATCH_MAX: usize = 4096;

impl Feed {
    fn id(&self) -> String {
        format!("{:x}-{}", self.st.ops.run, self.processed)
    }

    /// Everything ready to send, as one chunk of the body.
    async fn next(&mut self) -> Option<Bytes> {
        // Bounded: every turn either returns or waits for one of the five sources.
        loop {
            if !self.queue.is_empty() {
                return Some(Bytes::from(std::mem::take(&mut self.queue)));
            }
            if self.done {
                return None;
            }
            let step = tokio::select! {
                biased;
                _ = self.stopping.wait_for(|s| *s) => Step::Stop,
                _ = self.recheck.tick() => Step::Recheck,
                _ = self.summary_tick.tick() => Step::Summary,
                _ = self.keep_alive.tick() => Step::KeepAlive,
                r = self.sub.recv() => Step::Got(r),
            };
            match step {
                Step::KeepAlive => self.queue.extend_from_slice(b":\n\n"),
                Step::Stop => self.end(EndReason::ShuttingDown),
                Step::Recheck => match self.still_signed_in().await {
                    Some(p) => self.principal = p,
                    None => self.end(EndReason::SignedOut),
                },
                Step::Summary => {
                    if self.sent_upto < self.want {
                        self.summary(false);
                    }
                }
                Step::Got(r) => {
                    self.got(r);
                    self.gather().await;
                }
            }
        }
    }

    /// One thing read from the bus.
    fn got(&mut self, r: Received) {
        match r {
            Received::Event(e) => self.take(e),
            Received::Missed { count, first } => {
                self.processed = first + count - 1;
                self.resync(ResyncReason::Lagged);
            }
            Received::Closed => self.end(EndReason::MonitorStopped),
        }
    }

    /// After an event: waits `batch` (or until shutdown), then takes what arrived meanwhile,
    /// so that a busy bus wakes this stream once per `batch`, not once per event.
    async fn gather(&mut self) {
        let batch = self.st.ops.stream.batch;
        if self.done || batch.is_zero() {
            return;
        }
        tokio::select! {
            biased;
            _ = self.stopping.wait_for(|s| *s) => {}
            _ = tokio::time::sleep(batch) => {}
        }
        for _ in 0..BATCH_MAX {
            if self.done {
                return;
            }
            match self.sub.try_recv() {
                Some(r) => self.got(r),
                None => return,
            }
        }
    }

    /// The caller as it stands now, if it may still read the stream. A database that is
    /// briefly unavailable does not end the stream; the next check decides.
    async fn still_signed_in(&self) -> Option<Principal> {
        use camwatch_access::AuthError;
        let accounts = &self.st.accounts;
        let now = match &self.credential {
            Credential::Session(c) => accounts.session_still_valid(c).await.map(|a| a.principal),
            Credential::Token(t) => accounts.token(t).await,
        };
        let p = match now {
            Ok(p) => p,
            Err(AuthError::Store(e)) => {
                tracing::warn!("event stream: sign-in not re-checked: {e}");
                return Some(self.principal.clone());
            }
            Err(_) => return None,
        };
        (p.can(Action::ReadStatus) && p.can(Action::ReadDevices)).then_some(p)
    }

    /// One event of the bus: sent when it is a status or recording change the caller may see.
    fn take(&mut self, e: Arc<Event>) {
        self.processed = e.seq;
        let d = &e.device;
        let in_scope = || {
            self.principal
                .may_on_device(Action::ReadStatus, &d.region, d.maintainer.as_deref())
        };
        match &e.kind {
            // This node's changes and, on a node, the others' it follows: one fleet.
            EventKind::Status(c) | EventKind::PeerStatus(c) if in_scope() => {
                self.want = e.seq;
                let run = self.st.ops.run;
                let rendered = self.st.ops.rendered.status(run, &e, c);
                self.queue.extend_from_slice(&rendered);
            }
            // Rare (a change of a peer's DeviceStatus): rendered per stream. The summary
            // does not change with it.
            EventKind::Recording(r) if in_scope() => {
                let id = format!("{:x}-{}", self.st.ops.run, e.seq);
                let body = render_recording(&e, r);
                self.queue
                    .extend_from_slice(sse_text("recording", &id, &body).as_bytes());
            }
            _ => {}
        }
    }

    fn resync(&mut self, reason: ResyncReason) {
        self.push("resync", &Resync { reason });
    }

    fn end(&mut self, reason: EndReason) {
        self.push("end", &StreamEnd { reason });
        self.done = true;
    }

    /// Queues the summary in scope: at the start (`first`: the latest computed will do), else
    /// when one that includes `want` can be had and differs from the last sent.
    fn summary(&mut self, first: bool) {
        let half = self.st.ops.stream.summary_every / 2;
        let want = if first { self.processed } else { self.want };
        let Some((groups, upto)) = self.st.ops.summaries.get(&self.st, want, half, first) else {
            // The shared summary is kept from recomputing too often: the next tick.
            return;
        };
        let names = self.st.register.names();
        let s = summary_for(&self.principal, &groups, &names, self.st.now());
        let same = serde_json::to_string(&(&s.total, &s.regions)).unwrap_or_default();
        self.sent_upto = upto;
        if !first && self.last_summary.as_ref() == Some(&same) {
            return;
        }
        self.last_summary = Some(same);
        self.push("summary", &s);
    }

    fn push(&mut self, kind: &str, body: &impl Serialize) {
        let e = sse_text(kind, &self.id(), body);
        self.queue.extend_from_slice(e.as_bytes());
    }
}

/// Status events as sent, shared by every stream: each is rendered by the first stream that
/// sends it and copied by the others. Streams read the bus within about `batch` of each other,
/// so a short ring of the latest ones serves nearly all of them; a stream further behind
/// renders its own. A sync lock, held for a lookup or an insert.
#[derive(Default)]
pub(crate) struct Rendered {
    latest: Mutex<VecDeque<(u64, Bytes)>>,
}

impl Rendered {
    const HELD: usize = 1024;

    /// The `status` event of `e` (a status change `c`), with its id in run `run`.
    fn status(&self, run: u64, e: &Event, c: &StatusChange) -> Bytes {
        {
            let held = self.latest.lock().expect("rendered events");
            // Sequence numbers are inserted in increasing order (almost always): search from
            // the newest.
            if let Some((_, ev)) = held.iter().rev().find(|(seq, _)| *seq == e.seq) {
                return ev.clone();
            }
        }
        let ev = render_status(run, e, c);
        let mut held = self.latest.lock().expect("rendered events");
        if held.back().is_none_or(|(seq, _)| *seq < e.seq) {
            if held.len() == Self::HELD {
                held.pop_front();
            }
            held.push_back((e.seq, ev.clone()));
        }
        ev
    }
}

fn render_status(run: u64, e: &Event, c: &StatusChange) -> Bytes {
    let d = &e.device;
    let text = |c: &Option<camwatch_core::cause::Cause>| c.as_ref().map(|c| c.to_string());
    let body = StatusEvent {
        seq: e.seq,
        code: d.code.to_string(),
        name: d.name.clone(),
        region: d.region.clone(),
        maintainer: d.maintainer.clone(),
        from: c.from.as_str().to_string(),
        to: c.to.as_str().to_string(),
        cause: text(&c.cause),
        since: e.at,
        continues: c.continues.as_ref().map(|k| Continues {
            since: k.since,
            cause: text(&k.cause),
        }),
    };
    // The id is the event's own number: a stream has dealt with everything up to it.
    Bytes::from(sse_text("status", &format!("{run:x}-{}", e.seq), &body))
}

fn render_recording(e: &Event, r: &RecordingChange) -> RecordingEvent {
    let d = &e.device;
    RecordingEvent {
        seq: e.seq,
        code: d.code.to_string(),
        name: d.name.clone(),
        region: d.region.clone(),
        maintainer: d.maintainer.clone(),
        record: r.record.as_str().to_string(),
        encode: r.encode.as_str().to_string(),
        status: r.status.as_str().to_string(),
        since: r.since,
        at: e.at,
    }
}

/// One server-sent event: its type, id and JSON data. Compact JSON holds no line break (one
/// in a string is escaped), so the data is one `data:` line; kinds and ids are ours (ASCII,
/// no line breaks).
fn sse_text(kind: &str, id: &str, body: &impl Serialize) -> String {
    let data = serde_json::to_string(body).unwrap_or_default();
    format!("event: {kind}\nid: {id}\ndata: {data}\n\n")
}

/// The fleet's points by region and maintainer: what every stream's summary adds up.
struct Group {
    region: String,
    maintainer: Option<String>,
    counts: Counts,
}

/// The fleet summary by group, shared by every stream: computed from the monitor's live state
/// at most once per `min_gap` (a sync lock: held for one pass over the live state, nothing
/// awaits under it).
#[derive(Default)]
pub(crate) struct SummaryCache {
    inner: Mutex<Option<Computed>>,
}

struct Computed {
    /// The bus's last sequence number read before the live state: every change up to it is
    /// in these counts (the monitor updates its state before it publishes).
    seq: u64,
    at: Instant,
    groups: Arc<Vec<Group>>,
}

impl SummaryCache {
    /// Groups that include every change up to `seq`, and the sequence number they include
    /// every change up to. When that needs a recomputation sooner than `min_gap` after the
    /// last one: the last ones if `stale_ok`, else `None`.
    fn get(
        &self,
        st: &AppState,
        seq: u64,
        min_gap: Duration,
        stale_ok: bool,
    ) -> Option<(Arc<Vec<Group>>, u64)> {
        let mut c = self.inner.lock().expect("summary cache");
        match &*c {
            Some(x) if x.seq >= seq => return Some((x.groups.clone(), x.seq)),
            Some(x) if x.at.elapsed() < min_gap => {
                return stale_ok.then(|| (x.groups.clone(), x.seq));
            }
            _ => {}
        }
        let seq = st.ops.events.last_seq();
        let groups = Arc::new(groups(&st.monitor));
        *c = Some(Computed {
            seq,
            at: Instant::now(),
            groups: groups.clone(),
        });
        Some((groups, seq))
    }
}

fn groups(m: &MonitorState) -> Vec<Group> {
    let briefs = m.briefs();
    let mut by: HashMap<(&str, Option<&str>), Counts> = HashMap::new();
    for b in briefs.iter().filter(|b| b.point) {
        by.entry((b.meta.region.as_str(), b.meta.maintainer.as_deref()))
            .or_default()
            .add(b.status);
    }
    by.into_iter()
        .map(|((r, m), counts)| Group {
            region: r.to_string(),
            maintainer: m.map(str::to_string),
            counts,
        })
        .collect()
}

/// The summary `p` may see, from the shared groups: the rule of `/fleet/summary`.
fn summary_for(p: &Principal, groups: &[Group], names: &RegionNames, at: i64) -> FleetSummary {
    let mut total = Counts::default();
    let mut by_region: BTreeMap<&str, Counts> = BTreeMap::new();
    for g in groups {
        if !p.may_on_device(Action::ReadStatus, &g.region, g.maintainer.as_deref()) {
            continue;
        }
        total.merge(&g.counts);
        by_region
            .entry(g.region.as_str())
            .or_default()
            .merge(&g.counts);
    }
    FleetSummary {
        at,
        total: total.finish(),
        regions: by_region
            .into_iter()
            .map(|(region, c)| RegionCounts {
                name: names.name(region).map(|n| n.into_owned()),
                region: region.to_string(),
                counts: c.finish(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn an_event_id_is_this_runs_or_none() {
        assert_eq!(parse_id(0xab, "ab-12"), Some(12));
        assert_eq!(parse_id(0xab, " ab-0 "), Some(0));
        assert_eq!(parse_id(0xab, "ac-12"), None);
        assert_eq!(parse_id(0xab, "12"), None);
        assert_eq!(parse_id(0xab, "ab-x"), None);
    }
}
