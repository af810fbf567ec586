//! Several `camwatch serve` nodes on one PostgreSQL (docs/nodes.md), end to end: three nodes
//! share a simulated fleet, one is killed with SIGKILL, a fourth joins. What is checked comes
//! from the simulator's request log (every DESCRIBE with the asking node's `User-Agent`) and
//! the database, never from how long something took on this machine:
//! - no channel is probed by two nodes in one interval: per channel, whenever the node asking
//!   changes, the new one asks at least one interval after the previous one's last request
//!   (two nodes probing one channel at once would interleave, with gaps under an interval);
//! - the killed node is recovered once: its open spans end at its last heartbeat and the next
//!   span of each of its channels starts later (the gap is `unknown`), and the others probe its
//!   channels within two intervals of the takeover;
//! - the fourth node gets a share; the graceful stops leave no span open and none overlaps;
//! - one fleet on every node: node a's API lists every channel with the status its prober
//!   recorded, and a's event stream relays the changes of channels the others probe.
//!
//! Needs PostgreSQL (`CAMWATCH_TEST_PG_URL`, as the store suite); skipped without it.

mod common;
mod pg;
mod serve;

use serve::until;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::registry::export::to_csv;
use camwatch_sim::{BindMode, FaultPlan, Preset, SimConfig};
use sqlx::Connection;

/// Held by each test for its whole run: each is a cluster of `serve` nodes, a simulator and
/// PostgreSQL probing against real-time deadlines (1 s), and two of them at once on two cores
/// starved probes into outages the simulator never played (seen twice in four runs).
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Liveness interval, heartbeat and lease time of every node (seconds). The lease time is
/// above an interval plus a heartbeat, so a node's probes after its last heartbeat still end
/// an interval before any taker's first.
const INTERVAL: i64 = 3;
const HEARTBEAT: i64 = 1;
const TTL: i64 = 6;

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

fn camwatch(dir: &Path, node: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_camwatch"));
    c.arg("--config")
        .arg(dir.join(format!("{node}.toml")))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_DATA")
        .env_remove("CAMWATCH_SECRET_KEY");
    c
}

fn serve(dir: &Path, node: &str) -> Child {
    camwatch(dir, node)
        .args(["serve", "--summary-every", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{node}.log"))).unwrap())
        .spawn()
        .unwrap()
}

fn log_of(dir: &Path, node: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{node}.log"))).unwrap_or_default()
}

fn agent(node: &str) -> String {
    format!("camwatch (node {node})")
}

/// The running nodes by name. A test that fails kills those still running (`kill -9`), so no
/// `serve` outlives it.
#[derive(Default)]
struct Nodes(BTreeMap<&'static str, Child>);

impl std::ops::Deref for Nodes {
    type Target = BTreeMap<&'static str, Child>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Nodes {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Node a's API, signed in.
#[derive(Clone)]
struct Api {
    base: String,
    cookie: String,
    http: reqwest::Client,
}

impl Api {
    async fn login(addr: &str) -> Self {
        let base = format!("http://{addr}/api/v1");
        let http = reqwest::Client::new();
        let cookie = serve::login(&http, &base, "ops", "Camw4tch!").await;
        Self { base, cookie, http }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// The value of an unlabelled series in the node's `/metrics`, or the sum of a labelled
    /// one's.
    async fn metric(&self, name: &str) -> f64 {
        let root = self.base.trim_end_matches("/api/v1");
        let text = self
            .http
            .get(format!("{root}/metrics"))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_slice(&self.get(path).await.bytes().await.unwrap()).unwrap_or_default()
    }
}

struct Db(String);

impl Db {
    async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.0).await.unwrap()
    }

    /// Node name → instance id, of running and stopped nodes.
    async fn ids(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT node_name, id FROM monitor_instance WHERE node_name IS NOT NULL",
        )
        .fetch_all(&mut self.conn().await)
        .await
        .unwrap();
        rows.into_iter().collect()
    }

    /// Shards held now (unexpired) per instance id.
    async fn held(&self) -> HashMap<i64, BTreeSet<i64>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT instance_id, shard FROM shard_lease
             WHERE expires_at > CAST(extract(epoch FROM now()) AS BIGINT)",
        )
        .fetch_all(&mut self.conn().await)
        .await
        .unwrap();
        let mut out: HashMap<i64, BTreeSet<i64>> = HashMap::new();
        for (n, s) in rows {
            out.entry(n).or_default().insert(s);
        }
        out
    }

    /// The instance holding duty `name` now (an unexpired lease), if any.
    async fn duty_holder(&self, name: &str) -> Option<i64> {
        sqlx::query_scalar(
            "SELECT instance_id FROM duty_lease WHERE name = $1
             AND expires_at > CAST(extract(epoch FROM now()) AS BIGINT)",
        )
        .bind(name)
        .fetch_optional(&mut self.conn().await)
        .await
        .unwrap()
    }

    /// Open spans: device code → owner instance.
    async fn open(&self) -> HashMap<String, i64> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT device_code, instance_id FROM status_span WHERE end_at IS NULL")
                .fetch_all(&mut self.conn().await)
                .await
                .unwrap();
        rows.into_iter().collect()
    }

    /// Every span: (device, start, end or None, owner).
    async fn spans(&self) -> Vec<(String, i64, Option<i64>, i64)> {
        sqlx::query_as(
            "SELECT device_code, start_at, end_at, instance_id FROM status_span
             ORDER BY device_code, start_at",
        )
        .fetch_all(&mut self.conn().await)
        .await
        .unwrap()
    }
}

/// The shards of `nodes` (names) hold all 256 between them, each within the fair share.
fn balanced(
    held: &HashMap<i64, BTreeSet<i64>>,
    ids: &HashMap<String, i64>,
    nodes: &[&str],
) -> bool {
    let share = 256usize.div_ceil(nodes.len());
    let mine: Vec<usize> = nodes
        .iter()
        .map(|n| {
            ids.get(*n)
                .and_then(|i| held.get(i))
                .map_or(0, BTreeSet::len)
        })
        .collect();
    mine.iter().sum::<usize>() == 256
        && mine.iter().all(|&m| m > 0 && m <= share)
        && held.values().map(BTreeSet::len).sum::<usize>() == 256
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_fleet_and_take_over_a_killed_one() {
    let _alone = ONE_CLUSTER.lock().await;
    let Some(url) = pg::pg_database().await else {
        return;
    };
    let db = Db(url.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: 60 },
            seed: 23,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Preset(Preset::None),
            horizon_sec: 3600,
        },
        clock,
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for node in ["a", "b", "c", "d"] {
        // a serves the API: it must show the whole fleet, not only what it probes.
        let api = if node == "a" {
            "[api]\nlisten = \"127.0.0.1:0\"\n"
        } else {
            ""
        };
        std::fs::write(
            dir.join(format!("{node}.toml")),
            format!(
                "[data]\ndir = \"{}\"\n[database]\nurl = \"{url}\"\n\
                 [scheduler]\nliveness_interval_sec = {INTERVAL}\npicture_interval_sec = 86400\n\
                 confirm_failures = 2\nconfirm_window_sec = 1\ndeadline_ms = 1000\n\
                 [workorders]\nenabled = false\n\
                 [node]\nname = \"{node}\"\nheartbeat_sec = {HEARTBEAT}\nlease_ttl_sec = {TTL}\n\
                 [log]\nfilter = \"info,sqlx=warn\"\n{api}\
                 [[notify.targets]]\nname = \"hook\"\nkind = \"webhook\"\n\
                 url = \"http://127.0.0.1:9/hook\"\nsecret = \"a-shared-secret-of-the-test\"\n",
                dir.display()
            ),
        )
        .unwrap();
    }
    std::fs::write(dir.join("register.csv"), to_csv(fleet.devices(), true)).unwrap();
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
    // Channels probed by DESCRIBE (NVRs get a TCP connect, which the log does not show).
    let cameras: BTreeSet<String> = fleet
        .devices()
        .iter()
        .filter(|d| !d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();

    // c first, so that it takes the notification outbox, a singleton duty: killing it below
    // must hand the duty over too.
    let mut nodes = Nodes::default();
    nodes.insert("c", serve(dir, "c"));
    let c_runs_outbox = until(240, || async {
        let c = db.ids().await.get("c").copied();
        c.is_some() && db.duty_holder("outbox").await == c
    })
    .await;
    assert!(
        c_runs_outbox,
        "c did not take the outbox\n{}",
        log_of(dir, "c")
    );
    // A user for a's API, ready to sign in (no password change asked).
    for args in [
        &[
            "user",
            "add",
            "ops",
            "--role",
            "operator",
            "--password-stdin",
        ][..],
        &[
            "user",
            "passwd",
            "ops",
            "--password-stdin",
            "--no-change-required",
        ],
    ] {
        let mut user = camwatch(dir, "a")
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut user.stdin.take().unwrap(), b"Camw4tch!\n").unwrap();
        assert!(user.wait().unwrap().success(), "{args:?}");
    }
    for n in ["a", "b"] {
        nodes.insert(n, serve(dir, n));
    }
    let mut a_api = None;
    assert!(
        until(240, || {
            a_api = serve::api_address(&log_of(dir, "a"));
            let found = a_api.is_some();
            async move { found }
        })
        .await,
        "a's API did not start\n{}",
        log_of(dir, "a")
    );
    let api = Api::login(&a_api.unwrap()).await;
    // a's event stream, read from now on into `relayed`.
    let relayed = Arc::new(std::sync::Mutex::new(String::new()));
    let stream = {
        let (api, relayed) = (api.clone(), relayed.clone());
        tokio::spawn(async move {
            let mut r = api.get("events").await;
            while let Ok(Some(chunk)) = r.chunk().await {
                relayed
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    let settled = until(240, || async {
        balanced(&db.held().await, &db.ids().await, &["a", "b", "c"])
            && db.open().await.len() == fleet.devices().len()
    })
    .await;
    assert!(
        settled,
        "three nodes did not share the fleet: {:?}\n{}",
        db.held().await,
        log_of(dir, "a")
    );
    // Every device is watched, each by the holder of its shard (a release closes the spans of
    // what it gives up): c's open spans are what recovery must close.
    let c_id = db.ids().await["c"];
    let c_channels: BTreeSet<String> = db
        .open()
        .await
        .into_iter()
        .filter(|(_, o)| *o == c_id)
        .map(|(d, _)| d)
        .collect();
    assert!(!c_channels.is_empty(), "c probes something");

    let mut c = nodes.remove("c").unwrap();
    c.kill().unwrap(); // SIGKILL: nothing closed, nothing released
    c.wait().unwrap();
    let taken = until(120, || async {
        let held = db.held().await;
        !held.contains_key(&c_id) && balanced(&held, &db.ids().await, &["a", "b"])
    })
    .await;
    assert!(taken, "c's shards not taken over: {:?}", db.held().await);
    // Its duty too, by exactly one of the others, which runs it; the other never did.
    let ids = db.ids().await;
    assert!(
        until(120, || async {
            db.duty_holder("outbox")
                .await
                .is_some_and(|h| h == ids["a"] || h == ids["b"])
        })
        .await,
        "the outbox not taken over after c"
    );
    let holder = db.duty_holder("outbox").await.unwrap();
    let runs = "this node runs the duty duty=outbox";
    assert!(log_of(dir, "c").contains(runs));
    // The log line follows the lease's write.
    let logged = until(40, || async {
        ["a", "b"]
            .iter()
            .all(|n| log_of(dir, n).contains(runs) == (ids[*n] == holder))
    })
    .await;
    assert!(
        logged,
        "a and b: the outbox runs exactly on its holder\n{}\n{}",
        log_of(dir, "a"),
        log_of(dir, "b")
    );
    // Its channels are watched again, by the others.
    assert!(
        until(120, || async {
            let open = db.open().await;
            c_channels
                .iter()
                .all(|d| open.get(d).is_some_and(|o| *o != c_id))
        })
        .await,
        "c's channels not probed again"
    );

    nodes.insert("d", serve(dir, "d"));
    let joined = until(120, || async {
        balanced(&db.held().await, &db.ids().await, &["a", "b", "d"])
    })
    .await;
    assert!(joined, "d got no share: {:?}", db.held().await);
    let d_id = db.ids().await["d"];
    // d's channels watched by d, and two more intervals of probing.
    assert!(
        until(120, || async {
            let open = db.open().await;
            open.len() == fleet.devices().len() && open.values().any(|o| *o == d_id)
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(2 * INTERVAL as u64)).await;

    // One fleet on a: every channel listed online (the simulator plays no fault), those the
    // others probe with their status as those nodes recorded it.
    let a_id = db.ids().await["a"];
    let everyone_online = until(120, || async {
        let v = api.json("devices?limit=500").await;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        items.len() == fleet.devices().len() && items.iter().all(|d| d["status"] == "online")
    })
    .await;
    let statuses: BTreeMap<String, usize> = api.json("devices?limit=500").await["items"]
        .as_array()
        .into_iter()
        .flatten()
        .fold(BTreeMap::new(), |mut m, d| {
            *m.entry(d["status"].to_string()).or_default() += 1;
            m
        });
    assert!(
        everyone_online,
        "a does not show the whole fleet online: {statuses:?}"
    );
    let open = db.open().await;
    let elsewhere: BTreeSet<&String> = open
        .iter()
        .filter(|(_, o)| **o != a_id)
        .map(|(d, _)| d)
        .collect();
    // a's /metrics: the whole fleet's statuses, its own share of probing.
    let total = fleet.devices().len() as f64;
    assert_eq!(api.metric("camwatch_devices").await, total);
    let here = api.metric("camwatch_devices_probed_here").await;
    let shards = api.metric("camwatch_node_shards").await;
    assert!(here > 0.0 && here < total, "a probes {here} of {total}");
    assert!(shards > 0.0 && shards < 256.0, "a holds {shards} shards");
    let one = elsewhere.iter().next().expect("the others probe something");
    let detail = api.json(&format!("devices/{one}")).await;
    assert_eq!(
        (&detail["status"], &detail["probed_here"]),
        (&serde_json::json!("online"), &serde_json::json!(false)),
        "{detail}"
    );
    // c's channels that a does not probe went unknown on a when c was recovered, and online
    // when their new prober recorded them: a relayed those changes.
    let seen = relayed.lock().unwrap().clone();
    stream.abort();
    let relayed_codes: BTreeSet<String> = seen
        .split("\n\n")
        .filter(|e| e.starts_with("event: status"))
        .filter_map(|e| {
            let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            let v: serde_json::Value = serde_json::from_str(data).ok()?;
            Some(v["code"].as_str()?.to_string())
        })
        .collect();
    assert!(
        c_channels
            .iter()
            .any(|d| elsewhere.contains(d) && relayed_codes.contains(d)),
        "a relayed no change of c's channels the others took: {relayed_codes:?}"
    );

    let table = camwatch(dir, "a").arg("nodes").output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();

    for (name, child) in nodes.iter_mut() {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let st = child.wait().unwrap();
        assert!(
            st.success(),
            "node {name} did not stop cleanly: {}",
            log_of(dir, name)
        );
    }
    let log = fleet.describes();
    fleet.shutdown().await;

    // `camwatch nodes` named them all, c as died.
    for want in [" a ", " b ", " d ", "died", "shards held: 256 of 256"] {
        assert!(table.contains(want), "{want:?} not in:\n{table}");
    }

    // c recovered once, at its last heartbeat.
    let (stopped_at, heartbeat_at, kind): (Option<i64>, i64, Option<String>) = sqlx::query_as(
        "SELECT stopped_at, heartbeat_at, stop_kind FROM monitor_instance WHERE id = $1",
    )
    .bind(c_id)
    .fetch_one(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(
        (stopped_at, kind.as_deref()),
        (Some(heartbeat_at), Some("recovered"))
    );
    let c_last = heartbeat_at;

    // Spans: none open, none overlapping; c's end at its last heartbeat, and the next span of
    // each of its channels starts later: the gap is uncovered, i.e. unknown.
    let spans = db.spans().await;
    assert!(spans.iter().all(|s| s.2.is_some()), "a span left open");
    let mut by_device: BTreeMap<&str, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for (d, a, b, o) in &spans {
        by_device.entry(d).or_default().push((*a, b.unwrap(), *o));
    }
    for (d, v) in &by_device {
        for w in v.windows(2) {
            assert!(w[1].0 >= w[0].1, "{d}: overlapping spans {w:?}");
        }
    }
    for d in &c_channels {
        let v = &by_device[d.as_str()];
        // c's last span ends at its last heartbeat; one it opened in that very second never
        // held (recovery drops it), and then the span before it ends there.
        if let Some(last) = v.iter().rfind(|s| s.2 == c_id) {
            assert_eq!(
                last.1, c_last,
                "{d}: c's span ends at its last heartbeat: {v:?}"
            );
        }
        assert!(
            v.iter().all(|s| s.1 <= c_last || s.0 > c_last),
            "{d}: a span covers c's last heartbeat: {v:?}"
        );
        let next = v
            .iter()
            .find(|s| s.0 > c_last)
            .unwrap_or_else(|| panic!("{d}: not watched after c: {v:?}"));
        assert_ne!(next.2, c_id, "{d}: {v:?}");
    }

    // The request log: per channel, who probed when.
    let mut probes: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in &log {
        probes
            .entry(r.device.to_string())
            .or_default()
            .push((r.at_ms, r.agent.clone()));
    }
    assert!(
        log.iter()
            .all(|r| ["a", "b", "c", "d"].iter().any(|n| r.agent == agent(n))),
        "a DESCRIBE from something else"
    );
    for d in &cameras {
        let v = probes.get(d).unwrap_or_else(|| panic!("{d} never probed"));
        for w in v.windows(2) {
            if w[0].1 != w[1].1 {
                assert!(
                    w[1].0 - w[0].0 >= INTERVAL * 1000,
                    "{d}: probed by {} at {} ms and by {} at {} ms, within one interval",
                    w[0].1,
                    w[0].0,
                    w[1].1,
                    w[1].0
                );
            }
        }
    }
    // c's channels: probed by another node within two intervals of the takeover (its leases
    // expire at most a lease time after its last heartbeat; the next heartbeat takes them).
    let takeover_ms = (c_last + TTL + HEARTBEAT + 1) * 1000;
    for d in c_channels.iter().filter(|d| cameras.contains(*d)) {
        let first = probes[d]
            .iter()
            .find(|(at, who)| *who != agent("c") && *at > c_last * 1000)
            .unwrap_or_else(|| panic!("{d}: nobody probed it after c"));
        assert!(
            first.0 <= takeover_ms + 2 * INTERVAL * 1000,
            "{d}: first probed at {} ms after c's last heartbeat at {c_last} s",
            first.0
        );
    }
    // d probed some channels.
    assert!(log.iter().any(|r| r.agent == agent("d")));
}

/// A PostgreSQL server of the test's own (`.ci/pg-start`), which it stops and starts; stopped
/// and removed on drop. `None` (the test skips, saying so) without `CAMWATCH_TEST_PG_URL` (the
/// sign that PostgreSQL is installed here) or when it cannot be started.
struct OwnServer {
    dir: tempfile::TempDir,
    url: String,
}

impl OwnServer {
    fn start() -> Option<Self> {
        if std::env::var("CAMWATCH_TEST_PG_URL").is_err() {
            eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL test skipped");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg-start"))
            .env("PGTMP", dir.path())
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIPPED: a PostgreSQL server of the test's own did not start (.ci/pg-start \
                 needs Debian's postgresql and root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Some(Self { dir, url })
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin/pg_ctl")))
            .filter(|p| p.exists())
            .max()
            .unwrap();
        let data = self.dir.path().join("data");
        let st = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .arg("-D")
            .arg(&data)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl {args:?}");
    }

    fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    /// Started again with the options it was started with (`postmaster.opts` keeps them).
    fn start_again(&self) {
        let opts = std::fs::read_to_string(self.dir.path().join("data/postmaster.opts")).unwrap();
        // `…/postgres "-D" "…" "-c" "port=…" …`: the arguments after the data directory.
        let args: Vec<String> = opts
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        let o = args
            .iter()
            .skip_while(|a| *a != "-c")
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&["start", "-w", "-l", log.to_str().unwrap(), "-o", &o]);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg-stop"))
            .arg(self.dir.path())
            .status();
    }
}

/// PostgreSQL away under two running nodes (docs/nodes.md, "When PostgreSQL restarts"), twice:
/// - **briefly** (stopped for 5 s, under the lease margin): the nodes keep probing, buffer
///   their changes and write them when it is back. Every channel's timeline stays contiguous
///   across it, and the outages the simulator played meanwhile are all in the record;
/// - **longer than the lease time**: each node stops probing its shards before its leases
///   run out (their spans end there: the gap is `unknown`), nobody is taken for dead when the
///   database is back, and each takes its own shards again.
///
/// Throughout, no channel is probed by two nodes in one interval (the simulator's request
/// log), no span overlaps another, and every recorded outage is one the simulator played.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_loses_no_change_and_moves_no_shard() {
    let _alone = ONE_CLUSTER.lock().await;
    // A longer lease than the other test's: the brief outage must stay under its margin on a
    // busy machine; the long one outlasts it.
    const TTL: i64 = 12;
    // The probes' deadline (real time, 2.5 s) is most of an interval: a probe starved for a
    // second by a busy machine read as down, its recheck confirmed it, and the outage the
    // simulator played next merged into it ("an outage the simulator did not play"). An
    // outage here is a refused connection, found at once whatever the deadline.
    const BRIEF_SEC: u64 = 5;
    const LONG_SEC: u64 = TTL as u64 + 4;
    let Some(server) = OwnServer::start() else {
        return;
    };
    let url = {
        let mut admin = sqlx::PgConnection::connect(&server.url).await.unwrap();
        sqlx::query("CREATE DATABASE camwatch_restart")
            .execute(&mut admin)
            .await
            .unwrap();
        let base = &server.url[..server.url.rfind('/').unwrap()];
        format!("{base}/camwatch_restart")
    };
    let db = Db(url.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shape = camwatch_core::registry::generate::Shape::Exact {
        cameras: 40,
        nvrs: 2,
        channels_per_nvr: 8,
    };
    // 30 standalone cameras go offline in turn for 12 s every 30 s, one a second: whatever
    // second the database goes away, status changes keep coming.
    let cams: Vec<String> = camwatch_core::registry::generate::generate_shape(shape, 23)
        .iter()
        .filter(|d| d.parent.is_none() && !d.kind.is_parent())
        .take(30)
        .map(|d| d.code.to_string())
        .collect();
    assert_eq!(cams.len(), 30);
    let mut sched = String::new();
    for (k, c) in cams.iter().enumerate() {
        for j in 0..12 {
            sched += &format!(
                "[[fault]]\ndevice = \"{c}\"\nkind = \"offline\"\nstart = \"{}s\"\n\
                 duration = \"12s\"\n",
                k + 30 * j
            );
        }
    }
    let fleet = camwatch_sim::start(
        SimConfig {
            shape,
            seed: 23,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Schedule(sched, "restart.toml".into()),
            horizon_sec: 3600,
        },
        clock.clone(),
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for node in ["a", "b"] {
        std::fs::write(
            dir.join(format!("{node}.toml")),
            format!(
                "[data]\ndir = \"{}\"\n[database]\nurl = \"{url}\"\n\
                 [scheduler]\nliveness_interval_sec = {INTERVAL}\npicture_interval_sec = 86400\n\
                 confirm_failures = 2\nconfirm_window_sec = 1\ndeadline_ms = 2500\n\
                 [workorders]\nenabled = false\n\
                 [node]\nname = \"{node}\"\nheartbeat_sec = {HEARTBEAT}\nlease_ttl_sec = {TTL}\n\
                 [log]\nfilter = \"info,sqlx=warn\"\n",
                dir.display()
            ),
        )
        .unwrap();
    }
    std::fs::write(dir.join("register.csv"), to_csv(fleet.devices(), true)).unwrap();
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
    let mut nodes = Nodes(["a", "b"].into_iter().map(|n| (n, serve(dir, n))).collect());
    common::wait_until("two nodes share the fleet", 120, || async {
        balanced(&db.held().await, &db.ids().await, &["a", "b"])
            && db.open().await.len() == fleet.devices().len()
    })
    .await;
    let ids = db.ids().await;
    let settled = clock.now().as_second();
    tokio::time::sleep(Duration::from_secs(2 * INTERVAL as u64)).await;

    // Brief: the nodes must come back on their own, with nothing lost.
    let brief_from = clock.now().as_second();
    server.stop();
    tokio::time::sleep(Duration::from_secs(BRIEF_SEC)).await;
    server.start_again();
    let brief_to = clock.now().as_second();
    let beat_after = |t: i64| {
        let db = &db;
        let ids = &ids;
        async move {
            let rows: Vec<(i64, i64)> =
                sqlx::query_as("SELECT id, heartbeat_at FROM monitor_instance")
                    .fetch_all(&mut db.conn().await)
                    .await
                    .unwrap();
            let beats: HashMap<i64, i64> = rows.into_iter().collect();
            ["a", "b"].iter().all(|n| beats[&ids[*n]] > t)
        }
    };
    common::wait_until("both nodes beat again after the brief outage", 120, || {
        beat_after(brief_to)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3 * INTERVAL as u64)).await;

    // Long: past the lease time.
    let long_from = clock.now().as_second();
    server.stop();
    tokio::time::sleep(Duration::from_secs(LONG_SEC)).await;
    server.start_again();
    let long_to = clock.now().as_second();
    common::wait_until("both nodes beat again after the long outage", 120, || {
        beat_after(long_to)
    })
    .await;
    common::wait_until(
        "each node holds its shards again, every device watched",
        120,
        || async {
            balanced(&db.held().await, &db.ids().await, &["a", "b"])
                && db.open().await.len() == fleet.devices().len()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3 * INTERVAL as u64)).await;
    let end = clock.now().as_second();
    for (name, child) in nodes.iter_mut() {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let st = child.wait().unwrap();
        assert!(
            st.success(),
            "node {name} did not stop cleanly: {}",
            log_of(dir, name)
        );
    }
    let log = fleet.describes();
    let truth = fleet.truth();
    let fleet_size = fleet.devices().len();
    fleet.shutdown().await;

    // Nobody was taken for dead; each kept its shards (the same instance throughout).
    let kinds: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT node_name, stop_kind FROM monitor_instance ORDER BY node_name")
            .fetch_all(&mut db.conn().await)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("a".to_string(), Some("graceful".to_string())),
            ("b".to_string(), Some("graceful".to_string()))
        ]
    );
    for n in ["a", "b"] {
        assert!(
            !log_of(dir, n).contains("buffer is full"),
            "{}",
            log_of(dir, n)
        );
    }

    // Spans: none open, none overlapping; a channel's timeline has a hole only where the
    // long outage outlasted the leases: from when its node stopped probing (a heartbeat before
    // its lease ran out, so within the outage) to its first probe after taking the shard back
    // (a heartbeat after the database is back, then at most two intervals and a recheck).
    let spans: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT device_code, status, start_at, end_at FROM status_span
         ORDER BY device_code, start_at",
    )
    .fetch_all(&mut db.conn().await)
    .await
    .unwrap();
    assert!(spans.iter().all(|s| s.3.is_some()), "a span left open");
    let mut by_device: BTreeMap<&str, Vec<(&str, i64, i64)>> = BTreeMap::new();
    for (d, st, a, b) in &spans {
        by_device
            .entry(d)
            .or_default()
            .push((st.as_str(), *a, b.unwrap()));
    }
    assert_eq!(by_device.len(), fleet_size);
    let hole_until = long_to + 2 * HEARTBEAT + 3 * INTERVAL + 2;
    let mut holes = 0;
    for (d, v) in &by_device {
        assert!(v[0].1 <= settled, "{d}: not watched from the start: {v:?}");
        for w in v.windows(2) {
            assert!(w[1].1 >= w[0].2, "{d}: overlapping spans {w:?}");
            if w[1].1 > w[0].2 {
                holes += 1;
                assert!(
                    w[0].2 >= long_from && w[1].1 <= hole_until,
                    "{d}: a hole from {} to {} outside the long outage ({long_from}..{long_to}), \
                     brief outage {brief_from}..{brief_to}: {v:?}",
                    w[0].2,
                    w[1].1
                );
            }
        }
    }
    assert!(holes > 0, "the long outage left no unknown time");

    // Changes while the database was briefly away were kept and written.
    assert!(
        spans.iter().any(|s| s.2 >= brief_from && s.2 <= brief_to),
        "no change recorded from the brief outage"
    );
    // Every recorded outage is one the simulator played (it starts within it), and every
    // outage it played while the record was continuous is recorded.
    let played: HashMap<&str, Vec<(i64, i64)>> = truth.iter().fold(HashMap::new(), |mut m, t| {
        m.entry(t.device.as_str())
            .or_default()
            .push((t.start, t.end));
        m
    });
    for (d, v) in &by_device {
        for s in v.iter().filter(|s| s.0 == "offline") {
            assert!(
                played
                    .get(d)
                    .is_some_and(|p| p.iter().any(|&(a, b)| s.1 >= a && s.1 < b)),
                "{d}: an outage at {} the simulator did not play: {v:?}",
                s.1
            );
        }
        for &(a, b) in played.get(d).map_or(&[][..], |p| &p[..]) {
            let checked = a > settled + INTERVAL
                && b < end - 2 * INTERVAL
                && (b < long_from || a > hole_until);
            if checked {
                assert!(
                    v.iter().any(|s| s.0 == "offline" && s.1 >= a && s.1 < b),
                    "{d}: the outage {a}..{b} is not recorded (brief outage \
                     {brief_from}..{brief_to}): {v:?}"
                );
            }
        }
    }

    // The request log: no channel probed by two nodes within one interval.
    let mut probes: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in &log {
        probes
            .entry(r.device.to_string())
            .or_default()
            .push((r.at_ms, r.agent.clone()));
    }
    for (d, v) in &probes {
        for w in v.windows(2) {
            if w[0].1 != w[1].1 {
                assert!(
                    w[1].0 - w[0].0 >= INTERVAL * 1000,
                    "{d}: probed by {} at {} ms and by {} at {} ms, within one interval",
                    w[0].1,
                    w[0].0,
                    w[1].1,
                    w[1].0
                );
            }
        }
    }
}
