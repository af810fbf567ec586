//! Several nodes on one database (`camwatch_store::nodes`, docs/nodes.md): shards held once,
//! a dead node recovered at its last heartbeat before its shards move, a graceful stop that
//! hands its shards over at once.

use super::*;

use std::collections::{BTreeMap, BTreeSet};

use camwatch_core::error::ErrorKind;
use camwatch_core::nodes::{Lease, NodeId, Plan, SHARDS, ShardId, plan, shard_of_root};
use camwatch_store::{MonitorLease, StopKind};

const TTL: i64 = 30;

fn node(l: &MonitorLease) -> NodeId {
    NodeId(l.id().0)
}

fn shards(leases: &[Lease]) -> BTreeSet<ShardId> {
    leases.iter().map(|l| l.shard).collect()
}

/// One heartbeat as the monitor makes it: plan on a fresh view, then write.
async fn beat(s: &dyn Store, me: &MonitorLease, live: &[NodeId], at: i64) -> Vec<Lease> {
    let view = s.nodes_view(0).await.unwrap();
    let p = plan(node(me), live, &view.leases, SHARDS, at);
    s.node_beat(me, at, TTL, &p, &[]).await.unwrap()
}

// A single monitor and nodes exclude each other; on SQLite there is one node.
on_all_backends!(nodes_and_a_single_monitor_exclude_each_other, |s: Arc<
    dyn Store,
>| async move {
    let a = s.join_node("a", "host-a", 1, 1000).await.unwrap();
    let e = s.acquire_monitor("host-m", 9, 1001).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    let b = s.join_node("b", "host-b", 2, 1002).await;
    match s.backend() {
        "sqlite" => assert_eq!(b.unwrap_err().kind, ErrorKind::Conflict),
        _ => s.release_monitor(b.unwrap(), 1003).await.map(drop).unwrap(),
    }
    let view = s.nodes_view(0).await.unwrap();
    assert_eq!(view.nodes[0].name.as_deref(), Some("a"));
    s.release_monitor(a, 1004).await.unwrap();
    let m = s.acquire_monitor("host-m", 9, 1005).await.unwrap();
    assert!(s.join_node("c", "host-c", 3, 1006).await.is_err());
    s.release_monitor(m, 1007).await.unwrap();
});

/// Two nodes plan on the same stale snapshot: the table gives each shard to one of them.
#[tokio::test]
async fn postgres_nodes_never_hold_a_shard_twice() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: skipped");
        return;
    };
    let s = db.store.clone();
    let a = s.join_node("a", "h", 1, 1000).await.unwrap();
    let b = s.join_node("b", "h", 2, 1000).await.unwrap();
    let live = [node(&a), node(&b)];
    let stale = s.nodes_view(0).await.unwrap();
    assert!(stale.leases.is_empty());
    let pa = plan(node(&a), &live, &stale.leases, SHARDS, 1000);
    let pb = plan(node(&b), &live, &stale.leases, SHARDS, 1000);
    assert_eq!((pa.take.len(), pb.take.len()), (128, 128));
    assert!(
        pa.take.iter().any(|x| pb.take.contains(x)),
        "the test wants the two plans to clash somewhere"
    );
    let (ha, hb) = tokio::join!(
        s.node_beat(&a, 1000, TTL, &pa, &[]),
        s.node_beat(&b, 1000, TTL, &pb, &[])
    );
    let (ha, hb) = (shards(&ha.unwrap()), shards(&hb.unwrap()));
    assert!(ha.is_disjoint(&hb));
    assert!(ha.len() + hb.len() < 256, "the clash left some shards free");
    // A second round on a fresh view fills the rest, each node at its fair share.
    let ha = shards(&beat(s.as_ref(), &a, &live, 1010).await);
    let hb = shards(&beat(s.as_ref(), &b, &live, 1010).await);
    assert!(ha.is_disjoint(&hb));
    assert_eq!((ha.len(), hb.len()), (128, 128));
    // Renewals move the expiry; the view shows both nodes' leases.
    let view = s.nodes_view(0).await.unwrap();
    assert_eq!(view.leases.len(), 256);
    assert!(view.leases.iter().all(|l| l.expires_at >= 1010 + TTL));
}

/// kill -9 of a node: its leases run out, it is recovered once at its last heartbeat (its open
/// spans closed there, nobody else's), and only then do its shards move. A node taken for dead
/// cannot write again. A graceful stop hands the shards over at once; a rebalance closes the
/// released devices' spans at the release.
#[tokio::test]
async fn postgres_a_dead_nodes_spans_end_at_its_last_heartbeat() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: skipped");
        return;
    };
    let s = db.store.clone();
    s.upsert_devices(&[device(1), device(2), device(3)])
        .await
        .unwrap();
    let a = s.join_node("a", "h", 1, 1000).await.unwrap();
    let b = s.join_node("b", "h", 2, 1000).await.unwrap();
    let live = [node(&a), node(&b)];
    beat(s.as_ref(), &a, &live, 1000).await;
    beat(s.as_ref(), &b, &live, 1000).await;
    let hb_b = shards(&beat(s.as_ref(), &b, &live, 1000).await);
    assert_eq!(hb_b.len(), 128);
    s.apply_transitions(&a, &[online(1, 1005)]).await.unwrap();
    s.apply_transitions(&b, &[online(2, 1005), online(3, 1009)])
        .await
        .unwrap();
    beat(s.as_ref(), &a, &live, 1010).await;
    beat(s.as_ref(), &b, &live, 1010).await;
    let b_id = b.id();
    drop(b); // kill -9: no stop, its session (and lock) gone

    // Its leases (until 1040) are not taken early, nor, once expired, before its recovery.
    let steal = Plan {
        take: hb_b.iter().copied().collect(),
        ..Plan::default()
    };
    let mut renew_a = beat(s.as_ref(), &a, &live, 1020).await;
    assert_eq!(renew_a.len(), 128);
    let mut keep = steal.clone();
    keep.renew = renew_a.iter().map(|l| l.shard).collect();
    renew_a = s.node_beat(&a, 1041, TTL, &keep, &[]).await.unwrap();
    assert_eq!(
        renew_a.len(),
        128,
        "an unrecovered holder's shards stay put"
    );
    // Not dead yet at 1039 (last heartbeat 1010, lease time 30).
    assert!(
        s.recover_dead_node(&a, b_id, 1039, TTL)
            .await
            .unwrap()
            .is_none()
    );
    let (dead, closed) = s
        .recover_dead_node(&a, b_id, 1041, TTL)
        .await
        .unwrap()
        .expect("dead");
    assert_eq!((dead.heartbeat_at, closed), (1010, 2));
    assert!(
        s.recover_dead_node(&a, b_id, 1042, TTL)
            .await
            .unwrap()
            .is_none(),
        "recovered once"
    );
    let open = i64::MAX;
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![
            (code(1), 1005, open),
            (code(2), 1005, 1010),
            (code(3), 1009, 1010)
        ]
    );
    // Now a takes everything.
    let all = beat(s.as_ref(), &a, &[node(&a)], 1042).await;
    assert_eq!(all.len(), 256);
    let view = s.nodes_view(0).await.unwrap();
    let rec = view
        .nodes
        .iter()
        .find(|n| n.instance.id == b_id)
        .expect("b listed");
    assert_eq!(
        (rec.stopped_at, rec.stop_kind, rec.name.as_deref()),
        (Some(1010), Some(StopKind::Recovered), Some("b"))
    );

    // A node taken for dead cannot beat or write a heartbeat again.
    let c = s.join_node("c", "h", 3, 1050).await.unwrap();
    let c_id = c.id();
    let pc = plan(node(&c), &[node(&a), node(&c)], &[], SHARDS, 1050);
    s.node_beat(&c, 1050, TTL, &pc, &[]).await.unwrap();
    sqlx::query(
        "UPDATE monitor_instance SET stopped_at = 1051, stop_kind = 'recovered' WHERE id = $1",
    )
    .bind(c_id.0)
    .execute(&mut sqlx_conn(&db).await)
    .await
    .unwrap();
    let e = s
        .node_beat(&c, 1052, TTL, &Plan::default(), &[])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    assert!(s.record_heartbeat(&c, 1052).await.is_err());
    drop(c);

    // A rebalance: a gives up device 1's shard, closing its span there at the release.
    let s1 = shard_of_root(&code(1), SHARDS);
    let give = Plan {
        renew: all.iter().map(|l| l.shard).filter(|x| *x != s1).collect(),
        release: vec![s1],
        take: vec![],
    };
    let held = s.node_beat(&a, 1060, TTL, &give, &[code(1)]).await.unwrap();
    assert_eq!(held.len(), 255);
    assert_eq!(
        span_ends(s.as_ref()).await[0],
        (code(1), 1005, 1060),
        "released: its span ends at the release"
    );
    // A graceful stop: the leases go at once.
    s.release_monitor(a, 1070).await.unwrap();
    assert!(s.nodes_view(0).await.unwrap().leases.is_empty());
}

async fn sqlx_conn(db: &Db) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(db.url.as_deref().unwrap())
        .await
        .unwrap()
}

/// Ends the sessions holding the monitor lock on `db`'s database, as a PostgreSQL restart
/// ends every session, and waits until the server has let them go.
async fn cut_lock_sessions(db: &Db) {
    let mut admin = sqlx_conn(db).await;
    let locks = "FROM pg_locks WHERE locktype = 'advisory'
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let cut: Vec<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) {locks}"
    )))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!cut.is_empty() && cut.iter().all(|c| *c), "no session cut");
    for _ in 0..100 {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {locks}")))
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the cut sessions still hold their locks after 5 s");
}

/// PostgreSQL restarting under a node ends the session that holds its share of the monitor
/// lock: the node's next check takes it again, and its writes go on. A batch written twice
/// (its commit's answer lost) changes nothing; an end of watch ends the spans it names. If a
/// single monitor took the database meanwhile, the node is told to stop (`Conflict`), and once
/// recovered as dead nothing it still holds is written.
#[tokio::test]
async fn postgres_a_node_takes_its_lock_again_after_its_session_is_cut() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: skipped");
        return;
    };
    let s = db.store.clone();
    s.upsert_devices(&[device(1), device(2)]).await.unwrap();
    let a = s.join_node("a", "h", 1, 1000).await.unwrap();
    s.apply_transitions(&a, &[online(1, 1000)]).await.unwrap();

    cut_lock_sessions(&db).await;
    a.check().await.expect("the lock taken again");
    s.record_heartbeat(&a, 1010).await.unwrap();

    let offline = Transition {
        status: Status::Offline,
        ..online(2, 1005)
    };
    let batch = [online(2, 1001), offline];
    s.apply_transitions(&a, &batch).await.unwrap();
    s.apply_transitions(&a, &batch)
        .await
        .expect("written twice: no change, no conflict");
    let open = i64::MAX;
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![
            (code(1), 1000, open),
            (code(2), 1001, 1005),
            (code(2), 1005, open)
        ]
    );
    assert_eq!(s.end_watch(&a, Some(&[code(2)]), 1020).await.unwrap(), 1);
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![
            (code(1), 1000, open),
            (code(2), 1001, 1005),
            (code(2), 1005, 1020)
        ]
    );

    // Cut again, and a single monitor takes the database before the node checks.
    cut_lock_sessions(&db).await;
    let m = s.acquire_monitor("host-m", 9, 1030).await.unwrap();
    let e = a.check().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    let recovered = s.recover_dead_monitors(&m).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].0.id, a.id());
    for e in [
        s.apply_transitions(&a, &[online(2, 1040)])
            .await
            .unwrap_err(),
        s.end_watch(&a, None, 1040).await.unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    }
    assert_eq!(
        span_ends(s.as_ref()).await,
        vec![
            (code(1), 1000, 1010),
            (code(2), 1001, 1005),
            (code(2), 1005, 1020)
        ]
    );
    s.release_monitor(m, 1050).await.unwrap();
}

/// Singleton duties (`duty_lease`): two nodes planning on one stale view get the outbox once;
/// the holder killed, its expired lease waits for its recovery, then the other takes it; a
/// graceful stop hands it over at once.
#[tokio::test]
async fn postgres_a_duty_runs_on_one_node_and_moves_when_it_dies() {
    use camwatch_core::nodes::duty::{Duty, duty_plan, running};
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: skipped");
        return;
    };
    let s = db.store.clone();
    let a = s.join_node("a", "h", 1, 1000).await.unwrap();
    let b = s.join_node("b", "h", 2, 1000).await.unwrap();
    let wanted: BTreeSet<Duty> = [Duty::Outbox, Duty::Reports].into_iter().collect();
    let stale = s.duty_view().await.unwrap();
    let (pa, pb) = (
        duty_plan(node(&a), &wanted, &stale, 1000),
        duty_plan(node(&b), &wanted, &stale, 1000),
    );
    assert_eq!(pa.take.len(), 2);
    let (ha, hb) = tokio::join!(
        s.duty_beat(&a, 1000, TTL, &pa),
        s.duty_beat(&b, 1000, TTL, &pb)
    );
    let (ha, hb) = (ha.unwrap(), hb.unwrap());
    let run_a = running(node(&a), &ha, 1000, 10);
    let run_b = running(node(&b), &hb, 1000, 10);
    assert!(run_a.is_disjoint(&run_b), "{run_a:?} {run_b:?}");
    assert_eq!(run_a.len() + run_b.len(), 2, "every duty held once");
    let view = s.duty_view().await.unwrap();
    assert_eq!(view.len(), 2);

    // The outbox's holder dies (no stop); the other keeps asking for it.
    let (holder, other) = if run_a.contains(&Duty::Outbox) {
        (a, b)
    } else {
        (b, a)
    };
    let holder_id = holder.id();
    s.record_heartbeat(&holder, 1010).await.unwrap();
    drop(holder);
    let ask = |at| {
        let s = s.clone();
        let wanted = wanted.clone();
        let me = node(&other);
        async move {
            let view = s.duty_view().await.unwrap();
            duty_plan(me, &wanted, &view, at)
        }
    };
    // Not expired yet (until 1030), then expired but its holder not recovered: not taken.
    for at in [1020, 1041] {
        let p = ask(at).await;
        let held = s.duty_beat(&other, at, TTL, &p).await.unwrap();
        assert!(
            !running(node(&other), &held, at, 10).contains(&Duty::Outbox),
            "taken at {at}"
        );
    }
    assert!(
        s.recover_dead_node(&other, holder_id, 1041, TTL)
            .await
            .unwrap()
            .is_some()
    );
    let p = ask(1042).await;
    let held = s.duty_beat(&other, 1042, TTL, &p).await.unwrap();
    assert_eq!(
        running(node(&other), &held, 1042, 10),
        wanted,
        "the other runs both duties now"
    );
    // A graceful stop hands its duties over at once.
    s.release_monitor(other, 1050).await.unwrap();
    assert!(s.duty_view().await.unwrap().is_empty());
}

/// A node follows the others' spans (docs/nodes.md, "One fleet on every node"): a snapshot of
/// their open spans with each running instance's newest id, then each instance's spans after
/// that id, in id order, whatever another instance commits meanwhile.
#[tokio::test]
async fn postgres_a_node_reads_the_spans_the_others_write() {
    let Some(db) = postgres().await else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: skipped");
        return;
    };
    let s = db.store.clone();
    s.upsert_devices(&[device(1), device(2), device(3), device(4)])
        .await
        .unwrap();
    let a = s.join_node("a", "h", 1, 1000).await.unwrap();
    let b = s.join_node("b", "h", 2, 1000).await.unwrap();
    let c = s.join_node("c", "h", 3, 1000).await.unwrap();
    s.apply_transitions(&a, &[online(1, 1005)]).await.unwrap();
    s.apply_transitions(&b, &[online(2, 1005), online(3, 1006)])
        .await
        .unwrap();
    let snap = s.peer_snapshot(a.id()).await.unwrap();
    let open: BTreeSet<(DeviceCode, Option<i64>)> = snap
        .open
        .iter()
        .map(|p| (p.device, p.instance.map(|i| i.0)))
        .collect();
    assert_eq!(
        open,
        BTreeSet::from([(code(2), Some(b.id().0)), (code(3), Some(b.id().0))]),
        "a's own spans are not followed"
    );
    let marks: BTreeMap<_, _> = snap.marks.iter().copied().collect();
    let b_mark = snap.open.iter().map(|p| p.id).max().unwrap();
    assert_eq!(marks[&b.id()], b_mark, "b's newest span");
    assert_eq!(marks[&c.id()], 0, "c wrote nothing");
    assert!(!marks.contains_key(&a.id()));

    // b: device 2 goes offline (its online span closes, an offline one opens); c opens 4.
    let mut off = online(2, 1010);
    off.status = Status::Offline;
    off.cause = Some("no_media".parse().unwrap());
    s.apply_transitions(&b, &[off]).await.unwrap();
    s.apply_transitions(&c, &[online(4, 1011)]).await.unwrap();
    let after = s.peer_spans_after(b.id(), b_mark, 100).await.unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        (
            after[0].device,
            after[0].status,
            after[0].start_at,
            after[0].end_at
        ),
        (code(2), Status::Offline, 1010, None)
    );
    assert_eq!(
        after[0].cause.as_ref().map(|c| c.to_string()).as_deref(),
        Some("no_media")
    );
    let from_c = s.peer_spans_after(c.id(), 0, 100).await.unwrap();
    assert_eq!(
        from_c.iter().map(|p| p.device).collect::<Vec<_>>(),
        vec![code(4)]
    );
    // Read from the start, b's history comes in id order, the closed span with its end.
    let all_b = s.peer_spans_after(b.id(), 0, 100).await.unwrap();
    assert!(all_b.is_sorted_by_key(|p| p.id));
    assert_eq!(
        all_b
            .iter()
            .map(|p| (p.device, p.end_at))
            .collect::<Vec<_>>(),
        vec![(code(2), Some(1010)), (code(3), None), (code(2), None)]
    );
    // At most `limit`.
    assert_eq!(s.peer_spans_after(b.id(), 0, 2).await.unwrap().len(), 2);
    // A stopped node is no longer followed.
    s.release_monitor(c, 1020).await.unwrap();
    let snap = s.peer_snapshot(a.id()).await.unwrap();
    assert_eq!(
        snap.marks.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![b.id()]
    );
    assert!(
        snap.open.iter().all(|p| p.device != code(4)),
        "its spans were closed at its stop"
    );
    s.release_monitor(a, 1030).await.unwrap();
    s.release_monitor(b, 1030).await.unwrap();
}
