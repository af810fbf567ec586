//! The outbox queries, on SQLite always and on PostgreSQL when `CAMWATCH_TEST_PG_URL` names a
//! server (each run creates its own database there).

use std::sync::Arc;

use camwatch_core::secret::SecretKey;
use camwatch_store::{NewOutboxRow, Store};

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let file = dir.path().join("t.db");
    camwatch_store::connect(
        &format!("sqlite://{}", file.display()),
        SecretKey::generate(),
    )
    .await
    .unwrap()
}

async fn postgres() -> Option<Arc<dyn Store>> {
    let base = std::env::var("CAMWATCH_TEST_PG_URL").ok()?;
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("camwatch_ob_{}_{nanos}", std::process::id());
    // The name is made of our own digits, not user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    };
    Some(
        camwatch_store::connect(&url, SecretKey::generate())
            .await
            .unwrap(),
    )
}

fn row(target: &str, key: &str, payload: &str, at: i64) -> NewOutboxRow {
    NewOutboxRow {
        target: target.into(),
        ordering_key: key.into(),
        kind: "opened".into(),
        payload: payload.into(),
        created_at: at,
    }
}

/// Runs `f` on SQLite, then on PostgreSQL if configured.
async fn on_all_backends<F, Fut>(f: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    f(sqlite(&dir).await).await;
    match postgres().await {
        Some(s) => f(s).await,
        None => eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half of this test skipped"),
    }
}

/// Only the head of each key is due, so a retried head is never overtaken by its successor,
/// even when the successor's own `next_at` is earlier.
#[tokio::test]
async fn only_the_head_of_each_key_is_due_across_retries() {
    on_all_backends(|s| async move {
        s.enqueue_outbox(&[
            row("hook", "work-order:1", "a1", 100),
            row("hook", "work-order:2", "b1", 100),
            row("hook", "work-order:1", "a2", 101),
            row("ding", "work-order:1", "a1-ding", 100),
        ])
        .await
        .unwrap();
        let due = s.due_outbox(100, 10).await.unwrap();
        let payloads: Vec<&str> = due.iter().map(|r| r.payload.as_str()).collect();
        assert_eq!(payloads, ["a1", "b1", "a1-ding"]);
        assert!(
            due.iter()
                .all(|r| r.attempts == 0 && r.delivered_at.is_none())
        );
        // Nothing is due before it was written.
        assert!(s.due_outbox(99, 10).await.unwrap().is_empty());

        // a1 fails: retried at 200. a2 (due since 101) must wait behind it.
        let a1 = due[0].id;
        s.mark_failed(a1, 1, 200, "HTTP 503").await.unwrap();
        let due = s.due_outbox(150, 10).await.unwrap();
        let payloads: Vec<&str> = due.iter().map(|r| r.payload.as_str()).collect();
        assert_eq!(payloads, ["b1", "a1-ding"]);
        let due = s.due_outbox(200, 10).await.unwrap();
        let a1_row = due.iter().find(|r| r.id == a1).unwrap();
        assert_eq!(
            (
                a1_row.attempts,
                a1_row.next_at,
                a1_row.last_error.as_deref()
            ),
            (1, 200, Some("HTTP 503"))
        );

        // Delivered, the next of its key is the head.
        s.mark_delivered(a1, 201).await.unwrap();
        s.mark_delivered(a1, 999).await.unwrap(); // a second mark changes nothing
        let due = s.due_outbox(201, 10).await.unwrap();
        let payloads: Vec<&str> = due.iter().map(|r| r.payload.as_str()).collect();
        assert_eq!(payloads, ["b1", "a1-ding", "a2"]);

        let recent = s.recent_outbox(Some("hook"), 10).await.unwrap();
        let ids: Vec<i64> = recent.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(ids, sorted, "newest first");
        assert_eq!(recent.len(), 3);
        let first = recent.iter().find(|r| r.id == a1).unwrap();
        assert_eq!((first.delivered_at, first.attempts), (Some(201), 2));
        assert_eq!(s.recent_outbox(None, 2).await.unwrap().len(), 2);
    })
    .await;
}

/// The limit is per target: a target with a long backlog cannot fill a poll.
#[tokio::test]
async fn the_due_limit_is_per_target() {
    on_all_backends(|s| async move {
        let mut rows: Vec<NewOutboxRow> = (0..50)
            .map(|i| row("dead", &format!("work-order:{i}"), "x", 10))
            .collect();
        rows.push(row("alive", "work-order:1", "y", 20));
        s.enqueue_outbox(&rows).await.unwrap();
        let due = s.due_outbox(30, 5).await.unwrap();
        assert_eq!(due.iter().filter(|r| r.target == "dead").count(), 5);
        assert_eq!(due.iter().filter(|r| r.target == "alive").count(), 1);
    })
    .await;
}

#[tokio::test]
async fn backlog_counts_pending_rows_per_target() {
    on_all_backends(|s| async move {
        assert_eq!(s.outbox_backlog().await.unwrap().pending, 0);
        s.enqueue_outbox(&[
            row("b", "k1", "1", 50),
            row("a", "k1", "2", 40),
            row("a", "k2", "3", 60),
        ])
        .await
        .unwrap();
        let due = s.due_outbox(100, 10).await.unwrap();
        let b = due.iter().find(|r| r.target == "b").unwrap().id;
        let a2 = due.iter().find(|r| r.payload == "3").unwrap().id;
        s.mark_delivered(b, 100).await.unwrap();
        s.mark_failed(a2, 3, 500, "timeout").await.unwrap();
        let long = "故".repeat(1000);
        s.mark_failed(a2, 4, 600, &long).await.unwrap();
        let got = s.outbox_backlog().await.unwrap();
        assert_eq!(got.pending, 2);
        assert_eq!(got.oldest_created_at, Some(40));
        assert_eq!(got.by_target.len(), 1);
        let a = &got.by_target[0];
        assert_eq!(
            (
                a.target.as_str(),
                a.pending,
                a.oldest_created_at,
                a.max_attempts
            ),
            ("a", 2, Some(40), 4)
        );
        let stored = s.recent_outbox(Some("a"), 1).await.unwrap();
        let err = stored[0].last_error.as_deref().unwrap();
        assert!(err.len() <= camwatch_store::outbox::MAX_ERROR_BYTES && err.starts_with("故"));
    })
    .await;
}
