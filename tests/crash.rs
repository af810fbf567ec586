//! Crash test: `camwatch serve` killed with SIGKILL mid-run and restarted. No span may be lost,
//! duplicated or overlapping; the time it was dead is `unknown` (uncovered), never outage or
//! online; a graceful SIGTERM then closes everything; the month's report still adds up; the
//! camera that was down throughout has exactly one work order, opened by the first run and not
//! again by the second.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::history::Status;
use camwatch_core::registry::export::to_csv;
use camwatch_core::secret::SecretKey;
use camwatch_sim::{BindMode, FaultPlan, SimConfig};

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

fn camwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--config")
        .arg(dir.join("camwatch.toml"))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_DATA")
        .env_remove("CAMWATCH_SECRET_KEY");
    c
}

fn serve(dir: &Path, log: &str) -> Child {
    camwatch(dir)
        .args(["serve", "--summary-every", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_the_gap_is_unknown() {
    let (fleet, tmp, down) = fleet_and_data_dir(5).await;
    let dir = tmp.path();

    let t0 = now();
    let mut first = serve(dir, "serve1.log");
    tokio::time::sleep(Duration::from_secs(8)).await;
    first.kill().unwrap(); // SIGKILL: no chance to close anything
    first.wait().unwrap();
    let killed_at = now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restarted_at = now();
    let mut second = serve(dir, "serve2.log");
    tokio::time::sleep(Duration::from_secs(8)).await;
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    let st = second.wait().unwrap();
    let stopped_at = now();
    let channels = fleet.devices().len();
    fleet.shutdown().await;
    let log2 = std::fs::read_to_string(dir.join("serve2.log")).unwrap();
    assert!(st.success(), "graceful stop failed: {log2}");
    assert!(
        log2.contains("closed spans left open by the previous run"),
        "{log2}"
    );

    let key = SecretKey::load(&dir.join("secret.key")).unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.join("camwatch.db").display()),
        key,
    )
    .await
    .unwrap();
    let spans = store
        .spans_overlapping(t0 - 5, stopped_at + 5, i64::MAX)
        .await
        .unwrap();
    assert!(
        spans.iter().all(|s| s.end_at != i64::MAX),
        "a span was left open"
    );
    let mut by: HashMap<String, Vec<_>> = HashMap::new();
    for s in &spans {
        by.entry(s.device.to_string()).or_default().push(s.clone());
    }
    assert_eq!(by.len(), channels, "every device has history");
    for (code, v) in &by {
        for w in v.windows(2) {
            assert!(
                w[0].end_at <= w[1].start_at,
                "{code}: overlapping spans {w:?}"
            );
        }
        // Before the kill and after the restart: nothing lost.
        assert!(
            v.iter().any(|s| s.end_at <= killed_at),
            "{code}: first run lost: {v:?}"
        );
        assert!(
            v.iter().any(|s| s.start_at >= restarted_at),
            "{code}: second run lost: {v:?}"
        );
        // Nothing covers the time camwatch was dead.
        for s in v {
            assert!(
                s.end_at <= killed_at || s.start_at >= restarted_at,
                "{code}: a span covers the dead time {killed_at}..{restarted_at}: {s:?}"
            );
        }
    }
    let d = &by[&down];
    assert!(
        d.iter()
            .any(|s| s.status == Status::Offline && s.end_at <= killed_at),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|s| s.status == Status::Offline && s.start_at >= restarted_at),
        "{d:?}"
    );

    // One work order for the camera down throughout: the restart continued it.
    let out = camwatch(dir)
        .args(["workorder", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let orders: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let of_down: Vec<&serde_json::Value> = orders
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["subject"] == down.as_str())
        .collect();
    assert_eq!(of_down.len(), 1, "{orders:#}");
    assert!(
        of_down[0]["opened_at"].as_i64().unwrap() < killed_at,
        "opened by the first run: {orders:#}"
    );

    // The month's report adds up, with the dead time as unknown.
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let month = jiff::Timestamp::now()
        .to_zoned_datetime(tz)
        .strftime("%Y-%m")
        .to_string();
    let out = camwatch(dir)
        .args(["report", "monthly", "--month", &month, "--contract"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/example-98.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = r["devices"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let f = |k: &str| row[k].as_f64().unwrap();
        let sum = f("online_hours") + f("offline_hours") + f("exempt_hours") + f("unknown_hours");
        assert!((sum - f("eligible_hours")).abs() < 0.001, "{row}");
        assert!(
            f("unknown_hours") * 3600.0 >= (restarted_at - killed_at) as f64 - 1.0,
            "{row}"
        );
    }
}

/// A simulated fleet of 30 channels (one camera down throughout) and a data directory whose
/// register holds it. Returns the fleet, the directory and the down camera's code.
async fn fleet_and_data_dir(seed: u64) -> (camwatch_sim::Fleet, tempfile::TempDir, String) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let reg = camwatch_core::registry::generate::generate(30, seed);
    let down = reg
        .iter()
        .find(|d| d.ip.is_some() && !d.kind.is_parent())
        .unwrap()
        .code
        .to_string();
    let sched = format!(
        "[[fault]]\ndevice = \"{down}\"\nkind = \"offline\"\nstart = \"0s\"\nduration = \"1h\"\n"
    );
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: 30 },
            seed,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Schedule(sched, "lock.toml".into()),
            horizon_sec: 3600,
        },
        clock,
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\nliveness_interval_sec = 2\nconfirm_failures = 2\n\
             confirm_window_sec = 1\ndeadline_ms = 1000\n[workorders]\ngrace_sec = 1\n\
             [log]\nfilter = \"info,sqlx=warn\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("register.csv"), to_csv(fleet.devices(), true)).unwrap();
    let out = camwatch(dir)
        .args(["device", "import"])
        .arg(dir.join("register.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (fleet, tmp, down)
}

/// Open spans by owner: `(device, status, instance pid)`, read from the database file.
async fn open_spans(dir: &Path) -> Vec<(String, String, i64)> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        dir.join("camwatch.db").display()
    ))
    .await
    .unwrap();
    let mut v: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT s.device_code, s.status, m.pid FROM status_span s
         JOIN monitor_instance m ON m.id = s.instance_id WHERE s.end_at IS NULL",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    v.sort();
    v
}

/// One monitor per database: a second `serve` on the same database exits non-zero naming the
/// running one (host, pid, since) and leaves it alone, its spans open and its own; once the
/// first is killed with SIGKILL, a new `serve` starts and closes the dead one's spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_is_refused_and_a_killed_one_blocks_nothing() {
    let (fleet, tmp, down) = fleet_and_data_dir(6).await;
    let dir = tmp.path();
    let channels = fleet.devices().len();
    let mut first = serve(dir, "serve1.log");
    let first_pid = i64::from(first.id());
    // Wait for the first sweep's spans (30 channels over a 2 s interval) and the down camera's
    // confirmed outage.
    let mut before = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        before = open_spans(dir).await;
        if before.len() == channels
            && before
                .iter()
                .any(|(c, st, _)| *c == down && st == "offline")
        {
            break;
        }
    }
    assert_eq!(before.len(), channels, "first serve's spans: {before:?}");
    assert!(
        before.iter().all(|(_, _, pid)| *pid == first_pid),
        "{before:?}"
    );

    let out = camwatch(dir)
        .args(["serve", "--summary-every", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second serve ran: {err}");
    let host = camwatch_store::this_host();
    for want in [
        "another monitor is already running on this sqlite database".to_string(),
        format!("pid {first_pid} on host {host}"),
        "running since 20".to_string(),
        "last heartbeat".to_string(),
    ] {
        assert!(err.contains(&want), "{want:?} not in: {err}");
    }
    // The first goes on undisturbed: still running, every channel's span still open and its own.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first serve stopped"
    );
    let after = open_spans(dir).await;
    assert_eq!(after.len(), channels, "{after:?}");
    assert!(
        after.iter().all(|(_, _, pid)| *pid == first_pid),
        "{after:?}"
    );
    assert!(
        after.iter().any(|(c, st, _)| *c == down && st == "offline"),
        "{after:?}"
    );

    first.kill().unwrap(); // SIGKILL: the kernel releases its lock
    first.wait().unwrap();
    let mut third = serve(dir, "serve3.log");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        third.try_wait().unwrap().is_none(),
        "the serve after the kill did not start: {}",
        std::fs::read_to_string(dir.join("serve3.log")).unwrap()
    );
    unsafe { libc::kill(third.id() as i32, libc::SIGTERM) };
    let st = third.wait().unwrap();
    fleet.shutdown().await;
    let log3 = std::fs::read_to_string(dir.join("serve3.log")).unwrap();
    assert!(st.success(), "graceful stop failed: {log3}");
    assert!(
        log3.contains("closed spans left open by the previous run"),
        "{log3}"
    );
    assert!(open_spans(dir).await.is_empty(), "a span was left open");
}
