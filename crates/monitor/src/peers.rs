//! One fleet on every node (docs/nodes.md): a node shows the devices the other nodes probe,
//! with the status those nodes recorded, and relays their changes on its event bus as
//! [`EventKind::PeerStatus`], so any node's API and console show the whole fleet.
//!
//! - **The record is the channel.** Nodes never talk to each other: a node reads the spans the
//!   others' span writers committed. Each instance commits its spans in id order (its writer is
//!   one task), so reading each instance's spans after the last id seen of it misses none,
//!   whatever the other instances commit meanwhile.
//! - **Every [`POLL`]** the follower reads each running instance's new spans (at most
//!   [`BATCH`] a read) and applies the newest of each device: an open span is the device's
//!   status since its start; a closed one with no successor is `unknown` from its end.
//! - **Every [`RESYNC`], and whenever this node's share changes**, it reads every open span of
//!   the others instead: a span closed without a successor (a shard released, a dead node
//!   recovered) leaves no new row to read, so such devices become `unknown` here. A node that
//!   joined is followed from then.
//! - **Read only, best effort.** A failed read is logged and tried again at the next poll; the
//!   live view of the other nodes' devices is then older, the record is untouched.
//!
//! Must not: write to the store, or act on what it reads (the work-order engine of the node
//! that probes a device acts on it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::Clock;
use camwatch_core::error::Result;
use camwatch_store::{InstanceId, PeerSpan, Store};

use crate::events::{EventBus, EventKind, StatusChange};
use crate::live::{FollowedChange, MonitorState};

/// How often the other nodes' new spans are read.
pub(crate) const POLL: Duration = Duration::from_secs(2);
/// How often every open span of the other nodes is read again.
pub(crate) const RESYNC: Duration = Duration::from_secs(60);
/// Spans read of one instance at a time; more wait for the next read.
pub(crate) const BATCH: u32 = 20_000;
/// Reads of one instance per poll: a backlog larger than this (a burst of changes of a whole
/// platform) is caught up over the next polls.
const ROUNDS: usize = 10;

/// Follows the other nodes until dropped (the monitor aborts it when it stops).
pub(crate) async fn follow(
    store: Arc<dyn Store>,
    state: Arc<MonitorState>,
    events: EventBus,
    me: InstanceId,
    clock: Arc<dyn Clock>,
) {
    let mut f = Follower {
        store,
        state,
        events,
        me,
        clock,
        marks: HashMap::new(),
    };
    let mut seen_share = None;
    let mut last_resync: Option<i64> = None;
    loop {
        let now_ms = f.clock.now().as_millisecond();
        let share = f.state.share_generation();
        let due = last_resync.is_none_or(|t| now_ms - t >= RESYNC.as_millis() as i64);
        let r = if due || seen_share != Some(share) {
            let r = f.resync().await;
            if r.is_ok() {
                seen_share = Some(share);
                last_resync = Some(now_ms);
            }
            r
        } else {
            f.tail().await
        };
        if let Err(e) = r {
            tracing::warn!("the other nodes' status not read (tried again): {e}");
        }
        f.clock.sleep(POLL).await;
    }
}

struct Follower {
    store: Arc<dyn Store>,
    state: Arc<MonitorState>,
    events: EventBus,
    me: InstanceId,
    clock: Arc<dyn Clock>,
    /// Each running instance followed, with the newest span id of it applied.
    marks: HashMap<InstanceId, i64>,
}

impl Follower {
    async fn resync(&mut self) -> Result<()> {
        let snap = self.store.peer_snapshot(self.me).await?;
        self.marks = snap.marks.into_iter().collect();
        let changes = self.state.resync_peers(&newest_by_device(snap.open));
        self.publish(changes);
        Ok(())
    }

    async fn tail(&mut self) -> Result<()> {
        let instances: Vec<(InstanceId, i64)> = self.marks.iter().map(|(i, m)| (*i, *m)).collect();
        for (instance, mut mark) in instances {
            for _ in 0..ROUNDS {
                let spans = self.store.peer_spans_after(instance, mark, BATCH).await?;
                let full = spans.len() == BATCH as usize;
                let Some(last) = spans.last() else { break };
                mark = last.id;
                let changes: Vec<_> = newest_by_device(spans)
                    .iter()
                    .filter_map(|s| self.state.apply_peer(s))
                    .collect();
                self.publish(changes);
                self.marks.insert(instance, mark);
                if !full {
                    break;
                }
            }
        }
        Ok(())
    }

    fn publish(&self, changes: Vec<FollowedChange>) {
        let now = self.clock.now().as_second();
        for c in changes {
            self.events.publish(
                c.at.unwrap_or(now),
                c.device,
                EventKind::PeerStatus(StatusChange {
                    from: c.from,
                    to: c.to,
                    cause: c.cause,
                    continues: None,
                }),
            );
        }
    }
}

/// The newest span of each device among `spans` (by id), in id order: the older ones of a read
/// are history the record keeps, not state.
fn newest_by_device(spans: Vec<PeerSpan>) -> Vec<PeerSpan> {
    let mut newest: HashMap<_, PeerSpan> = HashMap::with_capacity(spans.len());
    for s in spans {
        match newest.get(&s.device) {
            Some(old) if old.id > s.id => {}
            _ => {
                newest.insert(s.device, s);
            }
        }
    }
    let mut v: Vec<PeerSpan> = newest.into_values().collect();
    v.sort_unstable_by_key(|s| s.id);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::history::Status;

    fn span(id: i64, device: &str, status: Status, end_at: Option<i64>) -> PeerSpan {
        PeerSpan {
            id,
            instance: Some(InstanceId(2)),
            device: device.parse().unwrap(),
            status,
            start_at: id * 10,
            end_at,
            cause: None,
        }
    }

    #[test]
    fn the_newest_span_of_each_device_wins() {
        let a = "34020000001320000001";
        let b = "34020000001320000002";
        let v = newest_by_device(vec![
            span(1, a, Status::Online, Some(20)),
            span(3, b, Status::Offline, None),
            span(2, a, Status::Offline, None),
            span(4, a, Status::Online, None),
        ]);
        let got: Vec<(i64, Status)> = v.iter().map(|s| (s.id, s.status)).collect();
        assert_eq!(got, vec![(3, Status::Offline), (4, Status::Online)]);
    }
}
