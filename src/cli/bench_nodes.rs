//! `camwatch bench nodes`: a large simulated fleet probed by several `serve` nodes on one
//! PostgreSQL server (docs/nodes.md). The simulator runs in its own process (NVRs of 64
//! channels: one process cannot open a listening socket for each of 300,000 cameras); each node is its
//! own `camwatch serve` process with `[node]`, liveness every `--interval` seconds (pictures
//! daily, so the figure is the liveness load the issue names). Once every shard is held and no
//! share has changed for 30 s, and one interval more (a node waits an interval before probing
//! a shard it was handed), over a window of `--minutes`:
//!
//! - each node's CPU share of a core (from `/proc`) and its resident memory (now and peak);
//! - each node's scheduler lag, p50 and p99 from its `/metrics` histogram (the upper bound of
//!   the bucket holding the quantile), counted over the window only;
//! - PostgreSQL's write rate: rows inserted, updated and deleted, commits, and WAL bytes per
//!   second over the window (`pg_stat_database`, `pg_current_wal_lsn`).
//!
//! Bounded: every wait has a limit, the nodes and the simulator are stopped and the scratch
//! database dropped however the run ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use camwatch_core::error::{Error, Result};

use super::bench::ScratchDb;
use super::bench_sse::{api_addr, camwatch, cpu_sec, exe, get_status, stop};

/// Channels of each simulated NVR.
const CHANNELS_PER_NVR: u64 = 64;

/// What the command line asks for.
pub struct NodesBench<'a> {
    pub pg: &'a str,
    pub channels: u64,
    pub nodes: usize,
    pub interval_sec: u64,
    pub minutes: u64,
}

pub async fn run(a: NodesBench<'_>) -> Result<ExitCode> {
    let dir = super::bench::tempfile_dir()?;
    let db = ScratchDb::create(a.pg).await?;
    // NVRs of 64 channels: a simulator process has one listening socket per host and port,
    // and 300,000 channels of IP cameras would need more descriptors than a process may open.
    let nvrs = a.channels.div_ceil(CHANNELS_PER_NVR);
    println!(
        "starting the simulator ({nvrs} NVRs × {CHANNELS_PER_NVR} channels, realistic faults, \
         its own process)…"
    );
    let fleet = [
        "--fault-mix".to_string(),
        "realistic".into(),
        "--cameras".into(),
        "0".into(),
        "--nvrs".into(),
        nvrs.to_string(),
        "--channels-per-nvr".into(),
        CHANNELS_PER_NVR.to_string(),
    ];
    let fleet: Vec<&str> = fleet.iter().map(String::as_str).collect();
    let r = match super::bench_sweep::start_sim(&dir, &fleet, "127.23.0.1") {
        Ok(sim) => {
            let r = bench(&dir, &db.url, &a).await;
            stop(sim);
            r
        }
        Err(e) => Err(e),
    };
    db.drop_it().await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The running nodes, stopped when dropped.
struct Nodes(Vec<(String, Child, PathBuf)>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, c, _) in self.0.drain(..) {
            stop(c);
        }
    }
}

async fn bench(dir: &Path, url: &str, a: &NodesBench<'_>) -> Result<ExitCode> {
    let names: Vec<String> = (0..a.nodes.max(1)).map(|i| format!("n{}", i + 1)).collect();
    for n in &names {
        std::fs::write(
            dir.join(format!("{n}.toml")),
            format!(
                "[data]\ndir = \"{}\"\n[database]\nurl = \"{url}\"\n\
                 [scheduler]\nliveness_interval_sec = {}\npicture_interval_sec = 86400\n\
                 onvif_interval_sec = 86400\n\
                 [node]\nname = \"{n}\"\n\
                 [api]\nlisten = \"127.0.0.1:0\"\nmetrics_open = true\n\
                 [log]\nfilter = \"info,sqlx=warn\"\n",
                dir.display(),
                a.interval_sec
            ),
        )
        .map_err(|e| Error::internal(e.to_string()))?;
    }
    let cfg = |n: &str| dir.join(format!("{n}.toml"));
    let t = Instant::now();
    for part in split_register(dir, &dir.join("register.csv"))? {
        camwatch(
            &cfg(&names[0]),
            &["device", "import", &part.to_string_lossy()],
            "",
        )?;
    }
    println!(
        "register imported in {:.1} s; starting {} nodes…",
        t.elapsed().as_secs_f64(),
        names.len()
    );
    let mut nodes = Nodes(Vec::new());
    for n in &names {
        let log = dir.join(format!("{n}.log"));
        let child = Command::new(exe()?)
            .arg("--config")
            .arg(cfg(n))
            .args(["serve", "--summary-every", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| Error::internal(e.to_string()))?)
            .spawn()
            .map_err(|e| Error::internal(format!("spawn serve {n}: {e}")))?;
        nodes.0.push((n.clone(), child, log));
    }
    let mut addrs = Vec::new();
    for (n, _, log) in &nodes.0 {
        addrs.push(api_addr(&format!("node {n}"), log, Duration::from_secs(600)).await?);
    }
    for (addr, (n, _, _)) in addrs.iter().zip(&nodes.0) {
        let t = Instant::now();
        while get_status(addr, "/readyz").await != 200 {
            if t.elapsed() > Duration::from_secs(600) {
                return Err(Error::internal(format!("node {n} never became ready")));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    println!(
        "{} nodes ready {:.0} s after the start; waiting for the shards to settle…",
        names.len(),
        t.elapsed().as_secs_f64()
    );
    // Steady state: every shard held and no node's share changed over the last 30 s. A node
    // given a shard another node held waits one interval before probing it (no channel probed
    // twice in an interval), so the measuring starts one interval (and its jitter) after that.
    let mut last = Vec::new();
    let mut stable_since = Instant::now();
    loop {
        let mut shares = Vec::new();
        for addr in &addrs {
            shares.push(metric(
                &http_get(addr, "/metrics").await?,
                "camwatch_node_shards",
            ));
        }
        if shares != last {
            last = shares.clone();
            stable_since = Instant::now();
        }
        let held: f64 = shares.iter().sum();
        if held >= 256.0 && stable_since.elapsed() >= Duration::from_secs(30) {
            break;
        }
        if t.elapsed() > Duration::from_secs(1800) {
            return Err(Error::internal(format!(
                "the shards never settled: {shares:?} held"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let settle = Duration::from_millis(a.interval_sec * 1000 * 21 / 20 + 10_000);
    println!(
        "shards settled ({last:?}) {:.0} s after the start; one interval more ({} s)…",
        t.elapsed().as_secs_f64(),
        settle.as_secs()
    );
    tokio::time::sleep(settle).await;

    let window = Duration::from_secs(a.minutes.max(1) * 60);
    let pids: Vec<u32> = nodes.0.iter().map(|(_, c, _)| c.id()).collect();
    let cpu0: Vec<f64> = pids.iter().map(|p| cpu_sec(*p)).collect();
    let mut lag0 = Vec::new();
    for addr in &addrs {
        lag0.push(lag_buckets(addr).await?);
    }
    let pg0 = pg_counters(url).await?;
    let t0 = Instant::now();
    println!("measuring {} s…", window.as_secs());
    tokio::time::sleep(window).await;
    let secs = t0.elapsed().as_secs_f64();
    let pg1 = pg_counters(url).await?;
    println!(
        "fleet: {} channels, liveness every {} s, {} nodes, {:.0} s measured",
        a.channels.div_ceil(CHANNELS_PER_NVR) * CHANNELS_PER_NVR,
        a.interval_sec,
        names.len(),
        secs
    );
    let mut total_probes = 0.0;
    for (i, (n, _, _)) in nodes.0.iter().enumerate() {
        let cpu = (cpu_sec(pids[i]) - cpu0[i]) / secs;
        let (rss, peak) = rss_mb(pids[i]);
        let lag = lag_buckets(&addrs[i]).await?;
        let d = diff(&lag, &lag0[i]);
        let probes = d.last().map_or(0.0, |b| b.1);
        total_probes += probes;
        println!(
            "node {n}: CPU {:.1} % of a core, RSS {rss:.0} MB (peak {peak:.0} MB), \
             {:.0} liveness probes/s, scheduler lag p50 ≤ {} s, p99 ≤ {} s",
            cpu * 100.0,
            probes / secs,
            quantile(&d, 0.50),
            quantile(&d, 0.99),
        );
    }
    println!(
        "all nodes: {:.0} liveness probes/s; every channel once an interval is {:.0}/s",
        total_probes / secs,
        a.channels.div_ceil(CHANNELS_PER_NVR) as f64 * CHANNELS_PER_NVR as f64
            / a.interval_sec.max(1) as f64
    );
    let rate = |k: usize| (pg1[k] - pg0[k]) / secs;
    println!(
        "PostgreSQL: {:.0} rows written/s ({:.0} inserted, {:.0} updated, {:.0} deleted), \
         {:.1} commits/s, WAL {:.1} kB/s",
        rate(0) + rate(1) + rate(2),
        rate(0),
        rate(1),
        rate(2),
        rate(3),
        rate(4) / 1024.0
    );
    drop(nodes);
    Ok(ExitCode::SUCCESS)
}

/// The simulator's register cut into files an import takes (an import file is at most 64 MB):
/// the header in each, the rows without a parent (the NVRs) first, so every channel's parent
/// is in the register or in its own file when it is imported. The simulator writes one record
/// per line.
fn split_register(dir: &Path, reg: &Path) -> Result<Vec<PathBuf>> {
    const ROWS: usize = 100_000;
    let text = std::fs::read_to_string(reg)
        .map_err(|e| Error::internal(format!("{}: {e}", reg.display())))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let parent = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .position(|c| c == "parent")
        .ok_or_else(|| Error::internal("the simulator's register has no parent column"))?;
    let (roots, children): (Vec<&str>, Vec<&str>) = lines
        .filter(|l| !l.is_empty())
        .partition(|l| l.split(',').nth(parent).is_none_or(str::is_empty));
    let rows: Vec<&str> = roots.into_iter().chain(children).collect();
    let mut parts = Vec::new();
    for (i, chunk) in rows.chunks(ROWS).enumerate() {
        let p = dir.join(format!("register-{i}.csv"));
        let mut body = String::with_capacity(chunk.iter().map(|l| l.len() + 1).sum());
        body.push_str(header);
        body.push('\n');
        for l in chunk {
            body.push_str(l);
            body.push('\n');
        }
        std::fs::write(&p, body).map_err(|e| Error::internal(format!("{}: {e}", p.display())))?;
        parts.push(p);
    }
    Ok(parts)
}

/// The value of an unlabelled series in a metrics text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The node's liveness scheduler-lag histogram: (upper bound in seconds, cumulative count).
async fn lag_buckets(addr: &str) -> Result<Vec<(f64, f64)>> {
    let text = http_get(addr, "/metrics").await?;
    Ok(parse_lag(&text))
}

/// The `camwatch_scheduler_lag_seconds` buckets of the liveness class in a metrics text.
fn parse_lag(text: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| {
            l.starts_with("camwatch_scheduler_lag_seconds_bucket{") && l.contains("liveness")
        })
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `now - before`, bucket by bucket.
fn diff(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    now.iter()
        .map(|(le, c)| {
            let b = before.iter().find(|x| x.0 == *le).map_or(0.0, |x| x.1);
            (*le, c - b)
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` (`-` when empty).
fn quantile(buckets: &[(f64, f64)], q: f64) -> String {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return "-".into();
    }
    buckets
        .iter()
        .find(|b| b.1 >= q * total)
        .map_or("-".into(), |b| {
            if b.0.is_infinite() {
                "∞".into()
            } else {
                format!("{}", b.0)
            }
        })
}

/// Resident and peak resident memory of `pid`, MB.
fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

/// Rows inserted, updated, deleted, commits, WAL bytes: the server's counters now.
async fn pg_counters(url: &str) -> Result<[f64; 5]> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(camwatch_store::db_error)?;
    let (ins, upd, del, commits, wal): (i64, i64, i64, i64, f64) = sqlx::query_as(
        "SELECT tup_inserted, tup_updated, tup_deleted, xact_commit,
                pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut c)
    .await
    .map_err(camwatch_store::db_error)?;
    Ok([ins as f64, upd as f64, del as f64, commits as f64, wal])
}

/// A plain HTTP/1.1 GET; the body.
async fn http_get(addr: &str, path: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |e: std::io::Error| Error::internal(format!("GET {addr}{path}: {e}"));
    let mut s = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| Error::internal(format!("GET {addr}{path}: no connection in 10 s")))?
    .map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(io)?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .map_err(|_| Error::internal(format!("GET {addr}{path}: no answer in 30 s")))?
        .map_err(io)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(text
        .split_once("\r\n\r\n")
        .map_or(text.clone(), |x| x.1.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_quantiles_come_from_the_liveness_histogram_over_the_window() {
        let text = "# HELP x\n\
            camwatch_scheduler_lag_seconds_bucket{class=\"liveness\",le=\"1.0\"} 90\n\
            camwatch_scheduler_lag_seconds_bucket{class=\"liveness\",le=\"10.0\"} 99\n\
            camwatch_scheduler_lag_seconds_bucket{class=\"liveness\",le=\"+Inf\"} 100\n\
            camwatch_scheduler_lag_seconds_bucket{class=\"picture\",le=\"1.0\"} 5\n";
        let now = parse_lag(text);
        assert_eq!(now, [(1.0, 90.0), (10.0, 99.0), (f64::INFINITY, 100.0)]);
        assert_eq!(quantile(&now, 0.5), "1");
        assert_eq!(quantile(&now, 0.99), "10");
        // Over the window: 1000 more probes, all on time.
        let later = [(1.0, 1090.0), (10.0, 1099.0), (f64::INFINITY, 1100.0)];
        let d = diff(&later, &now);
        assert_eq!(quantile(&d, 0.99), "1");
        assert_eq!(quantile(&[], 0.99), "-");
    }

    #[test]
    fn the_register_is_cut_with_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join("register.csv");
        let mut text = String::from("\u{feff}code,name,kind,parent\n");
        for i in 0..150_000u32 {
            text.push_str(&format!("c{i},n,channel,p{}\n", i % 3));
        }
        for p in 0..3 {
            text.push_str(&format!("p{p},n,nvr,\n"));
        }
        std::fs::write(&reg, &text).unwrap();
        let parts = split_register(dir.path(), &reg).unwrap();
        assert_eq!(parts.len(), 2);
        let first = std::fs::read_to_string(&parts[0]).unwrap();
        let second = std::fs::read_to_string(&parts[1]).unwrap();
        let header = "\u{feff}code,name,kind,parent\n";
        assert!(first.starts_with(&format!("{header}p0,n,nvr,\np1,n,nvr,\np2,n,nvr,\nc0,")));
        assert!(second.starts_with(&format!("{header}c99997,")));
        assert_eq!(first.lines().count() + second.lines().count(), 150_003 + 2);
    }
}
