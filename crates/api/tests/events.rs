//! `GET /api/v1/events` over a real socket: the stream's scope per role, region and
//! maintainer, resuming with `Last-Event-ID`, a slow reader told to resync, the end of a
//! stream at logout and at shutdown. Events are published on the bus the test server reads,
//! in a known order, so every expectation is exact.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::cause::Cause;
use camwatch_core::health::Change;
use camwatch_core::history::Status;
use camwatch_core::outcome::FailureKind;
use camwatch_core::registry::DeviceCode;
use camwatch_core::signalling::OnOff;
use camwatch_monitor::events::{EventKind, RecordingChange, StatusChange};
use common::*;
use futures::{Stream, StreamExt};
use serde_json::Value;

/// One server-sent event.
#[derive(Debug, Clone)]
struct Msg {
    event: String,
    id: Option<String>,
    data: Value,
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// A client reading one stream.
struct Reader {
    body: Body,
    buf: String,
}

/// No single read of a test stream waits longer than this: a hang guard, not a timing
/// expectation (every event below is published before it is read).
const GUARD: Duration = Duration::from_secs(20);

impl Reader {
    /// The next event (comments skipped); `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Msg> {
        // Bounded: each turn consumes a chunk of a finite test stream or returns.
        for _ in 0..10_000 {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut m = Msg {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        m.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        m.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                m.data = serde_json::from_str(&data).unwrap();
                return Some(m);
            }
            let chunk = tokio::time::timeout(GUARD, self.body.next())
                .await
                .expect("the stream went silent");
            match chunk {
                Some(c) => self.buf.push_str(std::str::from_utf8(&c.unwrap()).unwrap()),
                None => return None,
            }
        }
        panic!("no event in 10,000 chunks");
    }

    /// The next event that is not a summary.
    async fn next_not_summary(&mut self) -> Option<Msg> {
        for _ in 0..100 {
            match self.next().await {
                Some(m) if m.event == "summary" => continue,
                other => return other,
            }
        }
        panic!("only summaries");
    }

    /// The code and sequence number of each of the next `n` status events.
    async fn statuses(&mut self, n: usize) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        while v.len() < n {
            let m = self.next_not_summary().await.expect("the stream ended");
            assert_eq!(m.event, "status", "{m:?}");
            v.push((
                m.data["code"].as_str().unwrap().to_string(),
                m.data["seq"].as_u64().unwrap(),
            ));
        }
        v
    }
}

fn request(e: &Env, auth: &Auth, last_id: Option<&str>) -> reqwest::RequestBuilder {
    let mut rb = e.http.get(format!("{}/events", e.base));
    match auth {
        Auth::None => {}
        Auth::Session(s) | Auth::CookieOnly(s) => rb = rb.header("cookie", &s.cookie),
        Auth::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
    }
    if let Some(id) = last_id {
        rb = rb.header("last-event-id", id);
    }
    rb
}

/// Opens a stream and reads its first event, which is always the summary (after a replay
/// or a resync, when resuming).
async fn open(e: &Env, auth: &Auth, last_id: Option<&str>) -> Reader {
    let r = request(e, auth, last_id).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    Reader {
        body: Box::pin(r.bytes_stream()),
        buf: String::new(),
    }
}

fn index(code: &str) -> usize {
    [A1, A2, B1, B2].iter().position(|c| *c == code).unwrap()
}

/// Device `code` goes to `to`: the live state first, then the event, as the monitor does.
fn change(e: &Env, code: &str, to: Status, cause: Option<Cause>, at: i64) -> u64 {
    let (meta, from) = e
        .monitor
        .status(&code.parse::<DeviceCode>().unwrap())
        .unwrap();
    e.monitor.note_change(
        index(code),
        &Change {
            status: to,
            at,
            cause: cause.clone(),
        },
    );
    e.bus.publish(
        at,
        Arc::clone(&meta),
        EventKind::Status(StatusChange {
            from,
            to,
            cause,
            continues: None,
        }),
    );
    e.bus.last_seq()
}

fn refused() -> Option<Cause> {
    Some(Cause::from_failure(FailureKind::ConnectionRefused))
}

/// An hour after the test clock's NOW.
const T: i64 = 1_796_115_600;

#[tokio::test]
async fn a_contractor_sees_only_the_events_of_devices_it_maintains() {
    let e = env().await;
    let mut alpha = open(&e, &e.login("alpha").await, None).await;
    let mut beta = open(&e, &e.login("beta").await, None).await;
    // B1 is BetaCo's; A1, A2 and B2 AlphaCo's.
    let s1 = change(&e, B1, Status::Offline, refused(), T);
    let s2 = change(&e, A1, Status::Online, None, T + 1);
    let s3 = change(&e, B1, Status::Online, None, T + 2);
    let s4 = change(&e, B2, Status::Offline, refused(), T + 3);
    let s5 = change(&e, B1, Status::Offline, refused(), T + 4);
    let s6 = change(&e, A2, Status::Online, None, T + 5);
    assert_eq!(
        alpha.statuses(3).await,
        [(A1.into(), s2), (B2.into(), s4), (A2.into(), s6)]
    );
    assert_eq!(
        beta.statuses(3).await,
        [(B1.into(), s1), (B1.into(), s3), (B1.into(), s5)]
    );
}

#[tokio::test]
async fn a_status_event_says_what_changed_and_why() {
    let e = env().await;
    let doc = e.openapi().await;
    let mut r = open(&e, &e.login("op").await, None).await;
    let first = r.next().await.unwrap();
    assert_eq!(first.event, "summary");
    conforms(&doc, "FleetSummary", &first.data);
    change(&e, B1, Status::Offline, refused(), T);
    let m = r.next_not_summary().await.unwrap();
    conforms(&doc, "StatusEvent", &m.data);
    assert_eq!(m.data["code"], B1);
    assert_eq!(m.data["name"], "淮河路步行街");
    assert_eq!(m.data["region"], "340103");
    assert_eq!(m.data["maintainer"], "BetaCo");
    assert_eq!(m.data["from"], "online");
    assert_eq!(m.data["to"], "offline");
    assert_eq!(m.data["cause"], "connection_refused");
    assert_eq!(m.data["since"], T);
    assert!(m.id.unwrap().ends_with(&format!("-{}", e.bus.last_seq())));
}

#[tokio::test]
async fn a_district_user_sees_nothing_of_another_district() {
    let e = env().await;
    let mut shushan = open(&e, &e.login("shushan").await, None).await;
    let summary = shushan.next().await.unwrap();
    assert_eq!(summary.event, "summary");
    // Shushan (340104) holds A1 (offline) and A2 (unknown); nothing of Luyang (340103).
    assert_eq!(summary.data["total"]["points"], 2);
    assert_eq!(summary.data["total"]["offline"], 1);
    let regions: Vec<&str> = summary.data["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["340104"]);
    change(&e, B1, Status::Offline, refused(), T);
    change(&e, B2, Status::Offline, refused(), T);
    let s = change(&e, A2, Status::Online, None, T);
    assert_eq!(shushan.statuses(1).await, [(A2.into(), s)]);
}

/// A GB/T 28181 peer's recording health changed, as `serve`'s platform side publishes it.
fn recording(e: &Env, code: &str, record: OnOff, since: i64, at: i64) -> u64 {
    let (meta, _) = e
        .monitor
        .status(&code.parse::<DeviceCode>().unwrap())
        .unwrap();
    e.bus.publish(
        at,
        meta,
        EventKind::Recording(RecordingChange {
            record,
            encode: OnOff::On,
            status: OnOff::On,
            since,
        }),
    );
    e.bus.last_seq()
}

/// Recording changes are `recording` events, in scope like status changes, and change no
/// summary.
#[tokio::test]
async fn a_recording_change_is_an_event_in_scope() {
    let e = env().await;
    let doc = e.openapi().await;
    let mut shushan = open(&e, &e.login("shushan").await, None).await;
    let mut op = open(&e, &e.login("op").await, None).await;
    assert_eq!(shushan.next().await.unwrap().event, "summary");
    assert_eq!(op.next().await.unwrap().event, "summary");
    // B1 is in Luyang (340103), A2 in Shushan (340104).
    let s1 = recording(&e, B1, OnOff::Off, T - 600, T);
    let s2 = recording(&e, A2, OnOff::Off, T - 60, T + 1);
    let m = shushan.next_not_summary().await.unwrap();
    assert_eq!(m.event, "recording", "{m:?}");
    conforms(&doc, "RecordingEvent", &m.data);
    assert_eq!(
        (&m.data["code"], &m.data["seq"], &m.data["record"]),
        (&Value::from(A2), &Value::from(s2), &Value::from("off"))
    );
    assert_eq!(
        (&m.data["region"], &m.data["since"], &m.data["at"]),
        (
            &Value::from("340104"),
            &Value::from(T - 60),
            &Value::from(T + 1)
        )
    );
    for (code, seq) in [(B1, s1), (A2, s2)] {
        let m = op.next_not_summary().await.unwrap();
        assert_eq!(m.event, "recording", "{m:?}");
        assert_eq!(
            (m.data["code"].as_str(), m.data["seq"].as_u64()),
            (Some(code), Some(seq))
        );
    }
    // Next in Shushan's stream is its next status change, nothing of B1's recording.
    let s3 = change(&e, A2, Status::Online, None, T + 2);
    assert_eq!(shushan.statuses(1).await, [(A2.into(), s3)]);
}

#[tokio::test]
async fn an_auditor_reads_the_stream_and_a_stranger_gets_401() {
    let e = env().await;
    let mut audit = open(&e, &e.login("audit").await, None).await;
    let s1 = change(&e, B1, Status::Offline, refused(), T);
    let s2 = change(&e, A2, Status::Online, None, T);
    assert_eq!(audit.statuses(2).await, [(B1.into(), s1), (A2.into(), s2)]);
    let r = e.get("/events", &Auth::None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["code"], "unauthenticated");
    let r = e.get("/events", &Auth::Bearer("cwt_nonsense".into())).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_read_only_token_streams_too() {
    let e = env().await;
    let token = e
        .token("beta", camwatch_core::access::TokenAccess::ReadOnly)
        .await;
    let mut r = open(&e, &Auth::Bearer(token), None).await;
    change(&e, A1, Status::Online, None, T);
    let s = change(&e, B1, Status::Offline, refused(), T);
    assert_eq!(r.statuses(1).await, [(B1.into(), s)]);
}

#[tokio::test]
async fn the_summary_follows_status_changes_in_scope() {
    let e = env().await;
    let mut alpha = open(&e, &e.login("alpha").await, None).await;
    let first = alpha.next().await.unwrap();
    // AlphaCo: A1 offline, A2 and B2 unknown.
    assert_eq!(first.data["total"]["points"], 3);
    assert_eq!(first.data["total"]["offline"], 1);
    assert_eq!(first.data["total"]["online"], 0);
    change(&e, A2, Status::Online, None, T);
    let m = alpha.next().await.unwrap();
    assert_eq!(m.event, "status");
    // The next summary includes the change (sent within `summary_every`).
    let m = alpha.next().await.unwrap();
    assert_eq!(m.event, "summary", "{m:?}");
    assert_eq!(m.data["total"]["online"], 1);
    assert_eq!(m.data["total"]["unknown"], 1);
    assert_eq!(m.data["total"]["offline"], 1);
}

#[tokio::test]
async fn resuming_replays_what_is_held_and_resyncs_otherwise() {
    let e = env().await;
    let op = e.login("op").await;
    let mut r = open(&e, &op, None).await;
    let s1 = change(&e, A1, Status::Online, None, T);
    let s2 = change(&e, B1, Status::Offline, refused(), T);
    let s3 = change(&e, A2, Status::Offline, refused(), T);
    let first = r.next_not_summary().await.unwrap();
    let id = first.id.unwrap();
    assert!(id.ends_with(&format!("-{s1}")));
    drop(r);
    // Resumed after s1: s2 and s3 again, then the summary.
    let mut again = open(&e, &op, Some(&id)).await;
    assert_eq!(again.statuses(2).await, [(B1.into(), s2), (A2.into(), s3)]);
    assert_eq!(again.next().await.unwrap().event, "summary");
    // An id of another run, or garbage: resync.
    let run = id.split('-').next().unwrap();
    for bad in ["0-1", "nonsense", &format!("{run}-999")] {
        let mut r = open(&e, &op, Some(bad)).await;
        let m = r.next().await.unwrap();
        assert_eq!(m.event, "resync", "{bad}");
        assert_eq!(m.data["reason"], "not_held");
    }
    // Once the ring (64 here) has moved past the id: resync.
    for i in 0..70 {
        change(&e, B2, Status::Online, None, T + i);
    }
    let mut r = open(&e, &op, Some(&id)).await;
    let m = r.next().await.unwrap();
    assert_eq!(
        (m.event.as_str(), &m.data["reason"]),
        ("resync", &"not_held".into())
    );
}

/// The test runtime has one thread: the 100 events below are all published before the
/// server's stream runs again, so its subscription (a ring of 64) loses the oldest.
#[tokio::test]
async fn a_reader_that_falls_a_ring_behind_is_told_to_resync() {
    let e = env().await;
    let mut r = open(&e, &e.login("op").await, None).await;
    assert_eq!(r.next().await.unwrap().event, "summary");
    for i in 0..100 {
        change(&e, B2, Status::Online, None, T + i);
    }
    let last = change(&e, A2, Status::Offline, refused(), T + 100);
    let m = r.next_not_summary().await.unwrap();
    assert_eq!(m.event, "resync");
    assert_eq!(m.data["reason"], "lagged");
    // Then the events still held, the last of them last.
    let mut seen = Vec::new();
    for _ in 0..64 {
        let m = r.next_not_summary().await.unwrap();
        let seq = m.data["seq"].as_u64().unwrap();
        seen.push(seq);
        if seq == last {
            break;
        }
    }
    // Exactly the ring's 64, the newest last.
    assert_eq!(seen.len(), 64, "{seen:?}");
    assert_eq!(seen[0], last - 63);
    assert_eq!(seen.last(), Some(&last));
}

#[tokio::test]
async fn the_stream_ends_at_logout() {
    let e = env().await;
    let alpha = e.login("alpha").await;
    let mut r = open(&e, &alpha, None).await;
    assert_eq!(r.next().await.unwrap().event, "summary");
    let out = e.raw("DELETE", "/session", &alpha, None, &[]).await;
    assert_eq!(out.status, 204);
    let m = r.next_not_summary().await.unwrap();
    assert_eq!(m.event, "end");
    assert_eq!(m.data["reason"], "signed_out");
    assert!(r.next().await.is_none(), "nothing after the end");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_returns() {
    let mut e = env().await;
    let mut a = open(&e, &e.login("op").await, None).await;
    let mut b = open(&e, &e.login("beta").await, None).await;
    assert_eq!(a.next().await.unwrap().event, "summary");
    e.shut_down().await;
    for r in [&mut a, &mut b] {
        let m = r.next_not_summary().await.unwrap();
        assert_eq!(m.event, "end");
        assert_eq!(m.data["reason"], "shutting_down");
        assert!(r.next().await.is_none());
    }
}

/// A burst of changes, sent in batches: every reader gets every change in its scope, in
/// order, each exactly once, with the id of its own sequence number; two readers get the
/// same text for the same change (it is rendered once and shared).
#[tokio::test]
async fn a_burst_arrives_complete_and_in_order_for_every_reader() {
    let e = env().await;
    let mut op = open(&e, &e.login("op").await, None).await;
    let mut alpha = open(&e, &e.login("alpha").await, None).await;
    assert_eq!(op.next().await.unwrap().event, "summary");
    assert_eq!(alpha.next().await.unwrap().event, "summary");
    let codes = [A1, B1, A2, B2];
    let mut all = Vec::new();
    // 60: within the test bus's ring of 64, so nothing is lost to lag.
    for i in 0..60 {
        let code = codes[i % 4];
        let to = if i % 3 == 0 {
            Status::Offline
        } else {
            Status::Online
        };
        let cause = (to == Status::Offline).then(refused).flatten();
        all.push((code.to_string(), change(&e, code, to, cause, T + i as i64)));
    }
    let mine: Vec<_> = all.iter().filter(|(c, _)| c != B1).cloned().collect();
    let mut texts = std::collections::HashMap::new();
    let mut got = Vec::new();
    while got.len() < all.len() {
        let m = op.next_not_summary().await.unwrap();
        let seq = m.data["seq"].as_u64().unwrap();
        assert!(m.id.unwrap().ends_with(&format!("-{seq}")));
        got.push((m.data["code"].as_str().unwrap().to_string(), seq));
        texts.insert(seq, m.data);
    }
    assert_eq!(got, all);
    let mut got = Vec::new();
    while got.len() < mine.len() {
        let m = alpha.next_not_summary().await.unwrap();
        let seq = m.data["seq"].as_u64().unwrap();
        assert_eq!(texts[&seq], m.data);
        got.push((m.data["code"].as_str().unwrap().to_string(), seq));
    }
    assert_eq!(got, mine);
}
