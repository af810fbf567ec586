//! A lower platform's catalog sync under its `catalog:<code>` lease (docs/nodes.md), end to
//! end on PostgreSQL: two `camwatch serve` nodes run `[gb28181]`, and a simulated lower
//! platform registers to both (as one does for redundancy). Both keep its registration and
//! keepalives, but exactly one node, the holder of the lease, asks for its catalog (counted by
//! each simulated peer: the other is never asked) and syncs it into the register; when that
//! node stops, the other takes the lease over and syncs the catalog itself.
//!
//! Needs PostgreSQL (`CAMWATCH_TEST_PG_URL`, as the store suite); skipped without it. Waits
//! are bounded polls, never timed.

mod gb_serve;
mod pg;
mod serve;

use serve::until;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use camwatch_sim::gb28181::{GbFleet, lower_platform_code};
use sqlx::Connection;

const SEED: u32 = 930;

fn camwatch(dir: &Path, node: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--config")
        .arg(dir.join(format!("{node}.toml")))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_DATA")
        .env_remove("CAMWATCH_SECRET_KEY")
        .env_remove("RUST_LOG");
    c
}

fn log_of(dir: &Path, node: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{node}.log"))).unwrap_or_default()
}

/// The running nodes; a failing test kills those still running.
#[derive(Default)]
struct Nodes(HashMap<&'static str, Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The node name holding duty `name` now (an unexpired lease), if any.
async fn holder(url: &str, name: &str) -> Option<String> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT i.node_name FROM duty_lease d JOIN monitor_instance i ON i.id = d.instance_id
         WHERE d.name = $1 AND d.expires_at > CAST(extract(epoch FROM now()) AS BIGINT)",
    )
    .bind(name)
    .fetch_optional(&mut c)
    .await
    .unwrap()
}

/// The platform's UDP address in a node's log.
async fn platform_of(dir: &Path, node: &str, child: &mut Child) -> std::net::SocketAddr {
    for _ in 0..600 {
        let log = log_of(dir, node);
        if let Some(a) = log
            .lines()
            .find(|l| l.contains("GB/T 28181 platform"))
            .and_then(|l| l[l.find("udp=")? + 4..].split_whitespace().next())
        {
            return a.parse().unwrap();
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("{node} ended ({st}): {log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{node}: no GB/T 28181 platform in its log");
}

const SYNCED: &str = "GB/T 28181 catalog synced into the register";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_syncs_a_lower_platforms_catalog_and_the_other_takes_over() {
    let Some(url) = pg::pg_database().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fleet = GbFleet {
        lower_platform_channels: 20,
        keepalive_sec: 2,
        seed: SEED,
        ..GbFleet::default()
    };
    let code = lower_platform_code(SEED);
    for node in ["a", "b"] {
        std::fs::write(
            dir.join(format!("{node}.toml")),
            format!(
                "[data]\ndir = \"{}\"\n[database]\nurl = \"{url}\"\n\
                 [scheduler]\nliveness_interval_sec = 2\nconfirm_failures = 2\n\
                 confirm_window_sec = 1\ndeadline_ms = 1000\n\
                 [workorders]\nenabled = false\n\
                 [node]\nname = \"{node}\"\nheartbeat_sec = 1\nlease_ttl_sec = 6\n\
                 [log]\nfilter = \"info,sqlx=warn\"\n\
                 [gb28181]\nenabled = true\nudp_listen = \"127.0.0.1:0\"\n\
                 tcp_listen = \"127.0.0.1:0\"\nkeepalive_interval_sec = 2\n\
                 keepalive_misses = 3\ncatalog_subscription_sec = 0\npicture_invites = false\n\
                 device_status_sec = 0\n",
                dir.display()
            ),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("register.csv"),
        camwatch_core::registry::export::to_csv(&fleet.register(), true),
    )
    .unwrap();
    let out = camwatch(dir, "a")
        .args(["device", "import"])
        .arg(dir.join("register.csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut nodes = Nodes::default();
    let mut peers = HashMap::new();
    let mut sim_stops = Vec::new();
    for node in ["a", "b"] {
        let mut child = camwatch(dir, node)
            .args(["serve", "--summary-every", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{node}.log"))).unwrap())
            .spawn()
            .unwrap();
        let platform = platform_of(dir, node, &mut child).await;
        nodes.0.insert(node, child);
        // The same lower platform, registering to each node.
        let (p, stop) = gb_serve::start_fleet(fleet.clone(), platform).await;
        peers.insert(node, p.into_iter().next().unwrap());
        sim_stops.push(stop);
    }
    let duty = format!("catalog:{code}");
    // The holder of the lease, once one node has synced the catalog (bounded: 240 polls).
    let mut first = None;
    for _ in 0..240 {
        let found = ["a", "b"]
            .into_iter()
            .find(|n| log_of(dir, n).contains(SYNCED));
        if let (Some(h), Some(n)) = (holder(&url, &duty).await, found)
            && h == n
        {
            first = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        first.is_some(),
        "no node synced the catalog under the lease\na: {}\nb: {}",
        log_of(dir, "a"),
        log_of(dir, "b")
    );
    let first = first.unwrap();
    let other = if first == "a" { "b" } else { "a" };
    // Both registrations live; only the holder asked for the catalog.
    for n in ["a", "b"] {
        assert!(
            peers[n].stats().registered >= 1,
            "{n}: {:?}",
            peers[n].stats()
        );
    }
    assert!(
        peers[first].stats().queries >= 1,
        "{:?}",
        peers[first].stats()
    );
    assert_eq!(peers[other].stats().queries, 0, "{other} asked too");
    assert!(!log_of(dir, other).contains(SYNCED), "{other} synced too");
    let out = camwatch(dir, first)
        .args([
            "gb28181",
            "channels",
            "--source",
            &code.to_string(),
            "--json",
        ])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 20, "{listed}");

    // The holder stops: the other takes the lease over and syncs the catalog itself.
    let mut child = nodes.0.remove(first).unwrap();
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(
        child.wait().unwrap().success(),
        "{first}: {}",
        log_of(dir, first)
    );
    let taken = until(240, || {
        let (url, duty) = (url.clone(), duty.clone());
        let log = log_of(dir, other);
        async move { holder(&url, &duty).await.as_deref() == Some(other) && log.contains(SYNCED) }
    })
    .await;
    assert!(
        taken,
        "{other} did not take the sync over\n{}",
        log_of(dir, other)
    );
    assert!(
        peers[other].stats().queries >= 1,
        "{:?}",
        peers[other].stats()
    );
    for s in sim_stops {
        let _ = s.send(true);
    }
    let mut child = nodes.0.remove(other).unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(
        child.wait().unwrap().success(),
        "{other}: {}",
        log_of(dir, other)
    );
}
