//! `camwatch bench sim`: the simulator's capacity, so it is never the bottleneck when camwatch
//! is measured against it. The simulator runs in its own process (this binary, `camwatch sim`);
//! this process is a bounded load generator: a fixed number of RTSP DESCRIBEs, then of
//! snapshot GETs, each on a new connection (as probes do), Basic auth, spread over all hosts.
//! The simulator's peak RSS comes from its /proc status (VmHWM).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::bench::tempfile_dir;
use camwatch_core::error::{Error, Result};

struct Cam {
    rtsp: SocketAddr,
    http: SocketAddr,
    rtsp_path: String,
    http_path: String,
    auth: String,
}

/// Reads one response (head + Content-Length body); true when the status is 200.
async fn exchange(addr: SocketAddr, req: &[u8]) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    if s.write_all(req).await.is_err() {
        return false;
    }
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        match s.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
        return head.contains(" 200 ");
    }
}

async fn load(cams: Arc<Vec<Cam>>, count: usize, parallel: usize, rtsp: bool) -> (f64, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (cams, next, ok) = (cams.clone(), next.clone(), ok.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let c = &cams[i % cams.len()];
                let good = if rtsp {
                    let req = format!(
                        "DESCRIBE rtsp://{}{} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nAuthorization: {}\r\n\r\n",
                        c.rtsp, c.rtsp_path, c.auth
                    );
                    exchange(c.rtsp, req.as_bytes()).await
                } else {
                    let req = format!(
                        "GET {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
                        c.http_path, c.http, c.auth
                    );
                    exchange(c.http, req.as_bytes()).await
                };
                if good {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    (t.elapsed().as_secs_f64(), ok.load(Ordering::Relaxed))
}

fn vm_hwm_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(
    channels: u64,
    describes: usize,
    snapshots: usize,
    parallel: usize,
) -> Result<ExitCode> {
    let dir = tempfile_dir()?;
    let reg = dir.join("register.csv");
    let t = Instant::now();
    // Blocking wait: nothing else runs in this process yet.
    let mut sim = super::bench_sweep::start_sim(
        &dir,
        &["--fault-mix", "none", "--channels", &channels.to_string()],
        "127.28.0.1",
    )?;
    println!(
        "simulator up: {channels} channels in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let result = async {
        let parsed = {
            let table = camwatch_core::registry::table::read_file(&reg)?;
            camwatch_core::registry::import::parse_table(&table, "register", &Default::default())
        };
        let by_code: HashMap<_, _> = parsed.devices.iter().map(|d| (d.code, d)).collect();
        let cams: Vec<Cam> = parsed
            .devices
            .iter()
            .filter(|d| d.ip.is_some() && !d.kind.is_parent())
            .filter_map(|d| {
                let c = camwatch_monitor::creds_for(d, &by_code)?;
                let rtsp_url = camwatch_probes::Url::parse(d.stream_urls.first()?).ok()?;
                let http_url = camwatch_probes::Url::parse(d.snapshot_url.as_deref()?).ok()?;
                let auth = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", c.username, c.password))
                );
                Some(Cam {
                    rtsp: rtsp_url.socket_addrs(|| Some(554)).ok()?.first().copied()?,
                    http: http_url.socket_addrs(|| Some(80)).ok()?.first().copied()?,
                    rtsp_path: rtsp_url.path().to_string(),
                    http_path: http_url.path().to_string(),
                    auth,
                })
            })
            .collect();
        if cams.is_empty() {
            return Err(Error::internal("no cameras in the simulated register"));
        }
        let cams = Arc::new(cams);
        println!(
            "load: {} cameras, {parallel} connections in parallel, a new connection per request",
            cams.len()
        );
        let (secs, ok) = load(cams.clone(), describes, parallel, true).await;
        println!(
            "RTSP DESCRIBE: {describes} in {secs:.2} s = {:.0}/s ({ok} answered 200)",
            describes as f64 / secs
        );
        let (secs, ok) = load(cams, snapshots, parallel, false).await;
        println!(
            "snapshot JPEG: {snapshots} in {secs:.2} s = {:.0}/s ({ok} answered 200)",
            snapshots as f64 / secs
        );
        println!("simulator peak RSS: {:.0} MB", vm_hwm_mb(sim.id()));
        Ok(ExitCode::SUCCESS)
    }
    .await;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sim.id() as i32, libc::SIGTERM) };
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
