//! Singleton duties on a node (docs/nodes.md): the jobs that must run on exactly one node at a
//! time (the notification outbox, the daily digest, history's retention, the catalog sync of
//! each lower platform registered to the node, wanted while it is: [`Duties::want`]), each under a lease in the `duty_lease`
//! table (`camwatch_core::nodes::duty` plans, the store writes).
//!
//! [`Duties`] is the board a node's heartbeat writes: at each heartbeat it takes, renews and
//! releases leases of the duties it wants, and publishes those it may run until the next one
//! (`duty::running`: a lease that outlives the next heartbeat). A node whose heartbeats fail
//! keeps publishing from its last leases, so a duty stops a heartbeat before its lease runs out,
//! before any other node may take it. The one monitor of a database (no `[node]`) holds its
//! database alone and runs every duty ([`Duties::hold_all`]).
//!
//! [`run_duty`] runs a job only while the board says this node holds its duty, stopping it when
//! the duty is lost and starting it afresh when it comes back.
//!
//! Must not: decide who holds what (core plans, the store's writes arbitrate), or know what
//! the jobs do.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use camwatch_core::nodes::duty::Duty;
use futures::future::BoxFuture;
use tokio::sync::watch;

/// The duties a node wants and those it runs now.
#[derive(Debug, Clone)]
pub struct Duties {
    /// What it wants: fixed at start but for the catalog sync of each lower platform
    /// registered to it ([`Duties::want`]). A sync lock: held for an insert or a copy.
    wanted: Arc<Mutex<BTreeSet<Duty>>>,
    /// The database's one monitor: it runs whatever it wants, without leases.
    alone: Arc<AtomicBool>,
    running: Arc<watch::Sender<BTreeSet<Duty>>>,
}

impl Duties {
    /// A board for the duties this node can run (those it is configured for), holding none yet.
    pub fn new(wanted: impl IntoIterator<Item = Duty>) -> Self {
        Self {
            wanted: Arc::new(Mutex::new(wanted.into_iter().collect())),
            alone: Arc::new(AtomicBool::new(false)),
            running: Arc::new(watch::channel(BTreeSet::new()).0),
        }
    }

    /// The database's one monitor: it runs everything it wants, now and as it wants more.
    pub fn hold_all(&self) {
        self.alone.store(true, Ordering::SeqCst);
        self.publish(self.wanted());
    }

    /// This node can run `duty` (or no longer can, `false`) from now on: a node takes its
    /// lease at its next heartbeat, and gives it up at the one after it stops wanting it
    /// (the database's one monitor runs it, or stops it, at once).
    pub fn want(&self, duty: Duty, wanted: bool) {
        let now = {
            let mut w = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
            let changed = if wanted {
                w.insert(duty)
            } else {
                w.remove(&duty)
            };
            if !changed {
                return;
            }
            w.clone()
        };
        if self.alone.load(Ordering::SeqCst) {
            self.publish(now);
        }
    }

    /// The duties run now, and each change to them.
    pub fn watch(&self) -> watch::Receiver<BTreeSet<Duty>> {
        self.running.subscribe()
    }

    pub(crate) fn wanted(&self) -> BTreeSet<Duty> {
        self.wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What this node may run from now on; a change is logged.
    pub(crate) fn publish(&self, now: BTreeSet<Duty>) {
        self.running.send_if_modified(|was| {
            if *was == now {
                return false;
            }
            for d in now.difference(was) {
                tracing::info!(duty = %d, "this node runs the duty");
            }
            for d in was.difference(&now) {
                tracing::warn!(duty = %d, "this node no longer runs the duty");
            }
            *was = now;
            true
        });
    }
}

/// Runs `start(lost)` each time this node comes to hold `duty` on `running`; `lost` completes
/// when the duty is lost (or `stop` turns true), and the job must then return. Returns when
/// `stop` turns true or the board is gone.
pub async fn run_duty<F, Fut>(
    duty: Duty,
    mut running: watch::Receiver<BTreeSet<Duty>>,
    mut stop: watch::Receiver<bool>,
    mut start: F,
) where
    F: FnMut(BoxFuture<'static, ()>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            held = running.wait_for(|r| r.contains(&duty)) => if held.is_err() { return },
        }
        let lost = {
            let (mut running, mut stop, duty) = (running.clone(), stop.clone(), duty.clone());
            Box::pin(async move {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => {}
                    _ = running.wait_for(|r| !r.contains(&duty)) => {}
                }
            })
        };
        start(lost).await;
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A job that counts its starts and how many of it run at once, and runs until told.
    #[derive(Default)]
    struct Job {
        starts: AtomicUsize,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Job {
        async fn run(self: Arc<Self>, lost: BoxFuture<'static, ()>) {
            self.starts.fetch_add(1, Ordering::SeqCst);
            let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            lost.await;
            self.running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    /// The outbox duty of `board` run by a counting job: the stop, the job, the task.
    fn outbox_job(board: &Duties) -> (watch::Sender<bool>, Arc<Job>, tokio::task::JoinHandle<()>) {
        let (stop_tx, stop) = watch::channel(false);
        let job = Arc::new(Job::default());
        let task = tokio::spawn(run_duty(Duty::Outbox, board.watch(), stop, {
            let job = job.clone();
            move |lost| job.clone().run(lost)
        }));
        (stop_tx, job, task)
    }

    #[tokio::test(start_paused = true)]
    async fn runs_only_while_held_and_again_when_regained() {
        let board = Duties::new([Duty::Outbox, Duty::Reports]);
        let (stop_tx, job, task) = outbox_job(&board);
        settle().await;
        assert_eq!(
            job.starts.load(Ordering::SeqCst),
            0,
            "not held: not started"
        );

        // Another duty held is not this one.
        board.publish([Duty::Reports].into_iter().collect());
        settle().await;
        assert_eq!(job.starts.load(Ordering::SeqCst), 0);

        board.publish([Duty::Outbox, Duty::Reports].into_iter().collect());
        settle().await;
        assert_eq!(job.starts.load(Ordering::SeqCst), 1);
        assert_eq!(job.running.load(Ordering::SeqCst), 1);

        // Published again unchanged: still the one run.
        board.publish([Duty::Outbox, Duty::Reports].into_iter().collect());
        settle().await;
        assert_eq!(job.starts.load(Ordering::SeqCst), 1);

        board.publish(BTreeSet::new());
        settle().await;
        assert_eq!(job.running.load(Ordering::SeqCst), 0, "lost: stopped");

        board.hold_all();
        settle().await;
        assert_eq!(
            job.starts.load(Ordering::SeqCst),
            2,
            "regained: started afresh"
        );
        assert_eq!(job.most.load(Ordering::SeqCst), 1, "never two at once");

        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(job.running.load(Ordering::SeqCst), 0, "stopped with serve");
    }

    /// Duties wanted later (a lower platform's catalog sync) run at once on the database's
    /// one monitor, and stop when no longer wanted; on a node they wait for the heartbeat.
    #[tokio::test(start_paused = true)]
    async fn duties_wanted_later_run_alone_at_once() {
        let code: camwatch_core::registry::DeviceCode = "34020000002000000002".parse().unwrap();
        let alone = Duties::new([Duty::Outbox]);
        alone.hold_all();
        alone.want(Duty::Catalog(code), true);
        assert!(alone.watch().borrow().contains(&Duty::Catalog(code)));
        alone.want(Duty::Catalog(code), false);
        assert!(!alone.watch().borrow().contains(&Duty::Catalog(code)));
        assert!(alone.watch().borrow().contains(&Duty::Outbox));

        let node = Duties::new([Duty::Outbox]);
        node.want(Duty::Catalog(code), true);
        assert!(node.wanted().contains(&Duty::Catalog(code)));
        assert!(node.watch().borrow().is_empty(), "not before a lease");
    }

    #[tokio::test(start_paused = true)]
    async fn stops_waiting_when_serve_stops() {
        let board = Duties::new([Duty::Outbox]);
        let (stop_tx, job, task) = outbox_job(&board);
        settle().await;
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(job.starts.load(Ordering::SeqCst), 0);
    }
}
