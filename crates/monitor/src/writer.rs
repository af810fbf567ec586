//! The span writer: what the monitor learns about its devices' statuses, written to the store
//! in order, in batches, each followed by a heartbeat.
//!
//! - **The database may be away** (PostgreSQL restarted, the network cut, SQLite locked): what
//!   arrives is kept in memory, in arrival order, and written when the store answers again,
//!   retried every second. Probing goes on meanwhile; nothing is lost while the buffer holds.
//!   A batch written again after its commit's answer was lost is harmless: the store skips
//!   changes it already holds (`Store::apply_transitions`).
//! - **The buffer is bounded** ([`MonitorConfig::write_buffer_max`](crate::MonitorConfig)
//!   items: a change is one, an end of watch one per device). Once full, the writer keeps what
//!   it holds and drops what comes next, remembering the earliest instant it dropped: from that
//!   instant the record cannot say what happened. When the store is back it writes what it
//!   kept, ends this monitor's open spans at that instant (the time after is `unknown`, as if
//!   the monitor had been down), and opens a span for every device with the status the live
//!   state holds at the instant it resumes, so the record goes on from there. The overflow is
//!   logged once at error level and shows in the metrics (`span_writer_dropped_total`,
//!   `span_writer_overflow`).
//! - **A change the store refuses as a conflict** (a bug upstream) is logged and skipped, so it
//!   costs neither the others nor the monitor.
//!
//! Must not: block the health handler (it hands changes over an unbounded channel, which this
//! task drains into the bounded buffer every time it wakes), or decide what a change is.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use camwatch_core::clock::Clock;
use camwatch_core::error::{ErrorKind, Result};
use camwatch_core::history::Status;
use camwatch_core::registry::DeviceCode;
use camwatch_store::{MonitorLease, Store, Transition};

use crate::live::MonitorState;

/// What the span writer is handed, in the order it must be written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// A status change of one device.
    Change(Transition),
    /// The monitor stopped watching `devices` at `at` (their shard given up, or its lease about
    /// to run out unrenewed): their open spans end there.
    Unwatch { devices: Vec<DeviceCode>, at: i64 },
}

impl Write {
    fn at(&self) -> i64 {
        match self {
            Write::Change(t) => t.at,
            Write::Unwatch { at, .. } => *at,
        }
    }

    /// Its room in the buffer.
    fn weight(&self) -> usize {
        match self {
            Write::Change(_) => 1,
            Write::Unwatch { devices, .. } => devices.len().max(1),
        }
    }
}

/// What the writer holds between writes. Pure: no I/O, no clock.
#[derive(Debug)]
pub(crate) struct Pending {
    max: usize,
    items: Vec<Write>,
    held: usize,
    /// The earliest instant of a write dropped since the last resume, if any.
    overflow: Option<i64>,
    /// Changes dated before this are written at it: set at a resume, when the spans were
    /// reopened with the live status of that instant.
    floor: i64,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            items: Vec::new(),
            held: 0,
            overflow: None,
            floor: i64::MIN,
        }
    }

    /// Keeps `w`, or drops it when the buffer is full (or was since the last resume: keeping a
    /// later write after dropping an earlier one would write a wrong story). Returns whether
    /// it was kept.
    pub(crate) fn push(&mut self, mut w: Write) -> bool {
        if let Write::Change(t) = &mut w {
            t.at = t.at.max(self.floor);
        }
        if self.overflow.is_some() || self.held + w.weight() > self.max {
            let at = w.at();
            self.overflow = Some(self.overflow.map_or(at, |o| o.min(at)));
            return false;
        }
        self.held += w.weight();
        self.items.push(w);
        true
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn overflow(&self) -> Option<i64> {
        self.overflow
    }

    /// The first run of items to write in one go: changes (sorted by time, stably, so each
    /// device keeps the health machine's order) up to the next end of watch, or that end of
    /// watch alone.
    pub(crate) fn next_run(&self) -> Run<'_> {
        match self.items.first() {
            None => Run::Changes(Vec::new()),
            Some(Write::Unwatch { devices, at }) => Run::Unwatch(devices, *at),
            Some(Write::Change(_)) => {
                let mut v: Vec<Transition> = self
                    .items
                    .iter()
                    .map_while(|w| match w {
                        Write::Change(t) => Some(t.clone()),
                        Write::Unwatch { .. } => None,
                    })
                    .collect();
                v.sort_by_key(|t| t.at);
                Run::Changes(v)
            }
        }
    }

    /// The first run was written: forget it. Returns how many changes it held.
    pub(crate) fn written(&mut self) -> usize {
        let n = match self.items.first() {
            Some(Write::Unwatch { .. }) => 1,
            _ => self
                .items
                .iter()
                .take_while(|w| matches!(w, Write::Change(_)))
                .count(),
        };
        let changes = self.items[..n]
            .iter()
            .filter(|w| matches!(w, Write::Change(_)))
            .count();
        self.held -= self.items[..n].iter().map(Write::weight).sum::<usize>();
        self.items.drain(..n);
        changes
    }

    /// The record was ended at the overflow and reopened at `at`: keep writing from there.
    pub(crate) fn resumed(&mut self, at: i64) {
        self.overflow = None;
        self.floor = self.floor.max(at);
    }
}

/// One run of [`Pending`] to write.
#[derive(Debug, PartialEq)]
pub(crate) enum Run<'a> {
    Changes(Vec<Transition>),
    Unwatch(&'a [DeviceCode], i64),
}

/// Writes what `rx` brings until it closes (see the module doc); returns the result of the
/// final write.
pub(crate) async fn writer(
    store: Arc<dyn Store>,
    lease: Arc<MonitorLease>,
    clock: Arc<dyn Clock>,
    mut rx: mpsc::UnboundedReceiver<Write>,
    state: Arc<MonitorState>,
    max: usize,
) -> Result<()> {
    let metrics = state.metrics().clone();
    let mut pending = Pending::new(max);
    let take = |w: Write, pending: &mut Pending| {
        let change = matches!(w, Write::Change(_));
        let was = pending.overflow().is_some();
        if !pending.push(w) {
            if change {
                metrics.dropped(1);
            }
            if !was {
                metrics.set_overflow(true);
                tracing::error!(
                    max,
                    since = pending.overflow(),
                    "the span writer's buffer is full (the database has been away too long): \
                     status changes from now on are dropped; when the database is back the \
                     record ends here (unknown) and resumes with the live status"
                );
            }
        }
    };
    loop {
        let more = tokio::select! {
            m = rx.recv() => match m {
                Some(w) => { take(w, &mut pending); true }
                None => false,
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => true,
        };
        while let Ok(w) = rx.try_recv() {
            take(w, &mut pending);
        }
        let written = match write_pending(store.as_ref(), &lease, &mut pending, &metrics).await {
            Ok(()) => match pending.overflow() {
                Some(at) if more => resume(&store, &lease, &clock, &mut rx, &state, at)
                    .await
                    .map(|resumed_at| {
                        pending.resumed(resumed_at);
                        metrics.set_overflow(false);
                    }),
                // Stopping: the stop ends every open span anyway; the time since the
                // overflow must not be recorded as what the live state says now.
                Some(at) => store
                    .end_watch(&lease, None, at)
                    .await
                    .map(|_| pending.resumed(at)),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        let written = match written {
            Ok(()) => {
                store
                    .record_heartbeat(&lease, clock.now().as_second())
                    .await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(()) if !more => return Ok(()),
            Ok(()) => {}
            Err(e) if !more => return Err(e),
            Err(e) => tracing::warn!(
                pending = metrics.writer_queue(),
                "status changes not written yet, retrying: {e}"
            ),
        }
    }
}

/// Writes `pending` run by run, forgetting each as it is stored.
async fn write_pending(
    store: &dyn Store,
    lease: &MonitorLease,
    pending: &mut Pending,
    metrics: &crate::metrics::MonitorMetrics,
) -> Result<()> {
    while !pending.is_empty() {
        match pending.next_run() {
            Run::Unwatch(devices, at) => {
                store.end_watch(lease, Some(devices), at).await?;
            }
            Run::Changes(batch) => match store.apply_transitions(lease, &batch).await {
                Err(e) if e.kind == ErrorKind::Conflict => {
                    for t in &batch {
                        match store
                            .apply_transitions(lease, std::slice::from_ref(t))
                            .await
                        {
                            Err(e) if e.kind == ErrorKind::Conflict => {
                                tracing::error!(device = %t.device, "status change refused: {e}");
                            }
                            r => r?,
                        }
                    }
                }
                r => r?,
            },
        }
        metrics.written(pending.written());
    }
    Ok(())
}

/// After an overflow (everything kept is written): ends this monitor's open spans at `since`,
/// then opens a span for every device the live state knows, at the instant returned. What
/// waited in the channel is dropped first: the live state read after it already holds it.
async fn resume(
    store: &Arc<dyn Store>,
    lease: &MonitorLease,
    clock: &Arc<dyn Clock>,
    rx: &mut mpsc::UnboundedReceiver<Write>,
    state: &MonitorState,
    since: i64,
) -> Result<i64> {
    store.end_watch(lease, None, since).await?;
    let mut skipped = 0;
    while let Ok(w) = rx.try_recv() {
        if matches!(w, Write::Change(_)) {
            skipped += 1;
        }
    }
    state.metrics().dropped(skipped);
    let at = clock.now().as_second();
    let reopen: Vec<Transition> = state
        .briefs()
        .into_iter()
        .filter(|b| b.status != Status::Unknown)
        .map(|b| Transition {
            device: b.meta.code,
            status: b.status,
            at,
            cause: b.cause,
        })
        .collect();
    store.apply_transitions(lease, &reopen).await?;
    tracing::warn!(
        unknown_from = since,
        resumed_at = at,
        devices = reopen.len(),
        "span writer resumed after its buffer overflowed: the time between is unknown"
    );
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(i: u32) -> DeviceCode {
        format!("3401000000132{i:07}").parse().unwrap()
    }

    fn change(i: u32, at: i64) -> Write {
        Write::Change(Transition {
            device: code(i),
            status: Status::Online,
            at,
            cause: None,
        })
    }

    #[test]
    fn runs_split_at_ends_of_watch_and_keep_each_devices_order() {
        let mut p = Pending::new(100);
        for w in [
            change(1, 20),
            change(2, 10),
            change(1, 30),
            Write::Unwatch {
                devices: vec![code(1)],
                at: 40,
            },
            change(3, 5),
        ] {
            assert!(p.push(w));
        }
        let Run::Changes(v) = p.next_run() else {
            panic!("changes first")
        };
        let order: Vec<_> = v.iter().map(|t| (t.device, t.at)).collect();
        assert_eq!(order, [(code(2), 10), (code(1), 20), (code(1), 30)]);
        assert_eq!(p.written(), 3);
        assert_eq!(p.next_run(), Run::Unwatch(&[code(1)], 40));
        assert_eq!(p.written(), 0);
        assert!(matches!(p.next_run(), Run::Changes(v) if v.len() == 1));
        assert_eq!(p.written(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn a_full_buffer_drops_from_the_earliest_instant_and_resumes_at_the_floor() {
        let mut p = Pending::new(3);
        assert!(p.push(change(1, 10)));
        assert!(p.push(change(2, 11)));
        // An end of watch of two devices needs two places: one is left.
        assert!(!p.push(Write::Unwatch {
            devices: vec![code(3), code(4)],
            at: 12,
        }));
        assert_eq!(p.overflow(), Some(12));
        // Room or not, nothing is kept after a drop until the resume; the earliest instant
        // dropped is where the record ends.
        assert!(!p.push(change(5, 9)));
        assert_eq!(p.overflow(), Some(9));
        while !p.is_empty() {
            p.written();
        }
        p.resumed(50);
        assert_eq!(p.overflow(), None);
        assert!(p.push(change(6, 40)));
        let Run::Changes(v) = p.next_run() else {
            panic!()
        };
        assert_eq!(v[0].at, 50, "dated before the resume: written at it");
    }

    proptest! {
        /// Whatever arrives, the buffer never holds more than its bound, keeps what it keeps
        /// in order, and the overflow instant is the earliest one dropped.
        #[test]
        fn the_bound_holds(
            max in 1usize..20,
            ws in proptest::collection::vec((0u32..5, 0i64..100, 0usize..4), 0..60),
        ) {
            let mut p = Pending::new(max);
            let mut kept = Vec::new();
            let mut earliest_dropped: Option<i64> = None;
            for (d, at, n) in ws {
                let w = if n == 0 {
                    change(d, at)
                } else {
                    Write::Unwatch { devices: (0..n as u32).map(code).collect(), at }
                };
                if p.push(w.clone()) {
                    kept.push(w);
                } else {
                    earliest_dropped = Some(earliest_dropped.map_or(at, |e| e.min(at)));
                }
                prop_assert!(p.held <= max);
            }
            prop_assert_eq!(&p.items, &kept);
            prop_assert_eq!(p.overflow(), earliest_dropped);
        }
    }
}
