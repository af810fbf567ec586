//! `camwatch bench sse`: what open event streams cost the server. A simulated fleet (its own
//! process, realistic faults, or with `--storm N` N cameras flapping, staggered, so status
//! changes never stop) is monitored by `camwatch serve` (its own process, with the
//! API); the serve process's CPU time is read from `/proc` over a window with no client, then
//! over an equal window with N clients connected to `GET /api/v1/events` (in this process, so
//! their own cost is not counted), and the difference is the clients' share of a core.
//!
//! Bounded: every wait has a limit; the clients read for one window and are dropped.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use camwatch_core::error::{Error, Result};

pub(super) fn exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().map_err(|e| Error::internal(e.to_string()))
}

/// Runs `camwatch --config CFG ARGS` to completion, feeding `stdin`; its standard output.
pub(super) fn camwatch(cfg: &Path, args: &[&str], stdin: &str) -> Result<String> {
    let mut child = Command::new(exe()?)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("spawn {args:?}: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::internal(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU seconds (user + system) the process `pid` has used.
pub(super) fn cpu_sec(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// The serve process's CPU share of one core over `window`.
async fn share(pid: u32, window: Duration) -> f64 {
    let (c0, t0) = (cpu_sec(pid), Instant::now());
    tokio::time::sleep(window).await;
    (cpu_sec(pid) - c0) / t0.elapsed().as_secs_f64()
}

/// A plain HTTP/1.1 GET on `addr`; the status code (0 when it failed).
pub(super) async fn get_status(addr: &str, path: &str) -> u16 {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One event-stream client: connects, then counts events until `stop`.
async fn client(addr: String, token: Arc<str>, events: Arc<AtomicU64>, ok: Arc<AtomicU64>) {
    let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
        return;
    };
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut first = true;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        if first {
            first = false;
            if chunk.starts_with(b"HTTP/1.1 200") {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = chunk.windows(7).filter(|w| w == b"event: ").count();
        events.fetch_add(count as u64, Ordering::Relaxed);
    }
}

/// The API address `serve` (`name`, for the message) logged at its start in `log`, waited
/// for up to `limit`.
pub(super) async fn api_addr(name: &str, log: &Path, limit: Duration) -> Result<String> {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(a) = text
            .lines()
            .find(|l| l.contains("HTTP API on /api/v1"))
            .and_then(|l| l.split("listen=").nth(1))
            .and_then(|r| r.split_whitespace().next())
        {
            return Ok(a.to_string());
        }
        if t.elapsed() > limit {
            return Err(Error::internal(format!("{name} did not start: {text}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fault schedule in which `storm` cameras of the simulator's fleet (seed 1, as `sim`
/// generates it) flap with a 4-minute period, their starts spread over one period.
fn storm_schedule(dir: &Path, channels: u64, storm: u64) -> Result<std::path::PathBuf> {
    let fleet = camwatch_core::registry::generate::generate(channels, 1);
    let mut s = String::new();
    let cams = fleet
        .iter()
        .filter(|d| d.parent.is_none() && !d.kind.is_parent());
    for (i, d) in cams.take(storm as usize).enumerate() {
        s.push_str(&format!(
            "[[fault]]\ndevice = \"{}\"\nkind = \"flapping\"\nperiod = \"4m\"\nstart = \"{}s\"\nduration = \"3h\"\n",
            d.code,
            i % 240
        ));
    }
    let p = dir.join("storm.toml");
    std::fs::write(&p, s).map_err(|e| Error::internal(format!("{}: {e}", p.display())))?;
    Ok(p)
}

fn start_sim(dir: &Path, channels: u64, storm: u64) -> Result<Child> {
    let reg = dir.join("register.csv");
    let mut cmd = Command::new(exe()?);
    cmd.arg("sim");
    if storm > 0 {
        cmd.arg("--faults")
            .arg(storm_schedule(dir, channels, storm)?);
    } else {
        cmd.args(["--fault-mix", "realistic"]);
    }
    let child = cmd
        .arg("--channels")
        .arg(channels.to_string())
        .args(["--bind", "127.21.0.1", "--register-out"])
        .arg(&reg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::internal(format!("spawn sim: {e}")))?;
    let t = Instant::now();
    while !reg.exists() {
        if t.elapsed() > Duration::from_secs(300) {
            return Err(Error::internal("the simulator did not start within 300 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The file is written in one call after every listener is bound; let it finish.
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}

pub(super) fn stop(mut c: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let _ = c.wait();
}

pub async fn run(channels: u64, clients: usize, window_sec: u64, storm: u64) -> Result<ExitCode> {
    let dir = super::bench::tempfile_dir()?;
    println!(
        "starting the simulator ({channels} channels, {}, its own process)…",
        if storm > 0 {
            format!("{storm} cameras flapping")
        } else {
            "realistic faults".into()
        }
    );
    let sim = start_sim(&dir, channels, storm)?;
    let r = bench(
        &dir,
        channels,
        clients,
        Duration::from_secs(window_sec.max(1)),
    )
    .await;
    stop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

async fn bench(dir: &Path, channels: u64, clients: usize, window: Duration) -> Result<ExitCode> {
    let cfg = dir.join("camwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\nliveness_interval_sec = 60\ndeadline_ms = 5000\n\
             [api]\nlisten = \"127.0.0.1:0\"\n[log]\nfilter = \"info,sqlx=warn\"\n",
            dir.display()
        ),
    )
    .map_err(|e| Error::internal(e.to_string()))?;
    let reg = dir.join("register.csv");
    camwatch(&cfg, &["device", "import", &reg.to_string_lossy()], "")?;
    let pw = "Camw4tch!\n";
    camwatch(
        &cfg,
        &[
            "user",
            "add",
            "bench",
            "--role",
            "operator",
            "--password-stdin",
        ],
        pw,
    )?;
    camwatch(
        &cfg,
        &[
            "user",
            "passwd",
            "bench",
            "--password-stdin",
            "--no-change-required",
        ],
        pw,
    )?;
    let token: Arc<str> = camwatch(
        &cfg,
        &["user", "token", "issue", "--name", "bench", "bench"],
        "",
    )?
    .lines()
    .find(|l| l.trim().starts_with("cwt_"))
    .ok_or_else(|| Error::internal("no token printed"))?
    .trim()
    .into();
    let log = dir.join("serve.log");
    let serve = Command::new(exe()?)
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--summary-every", "0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| Error::internal(e.to_string()))?)
        .spawn()
        .map_err(|e| Error::internal(format!("spawn serve: {e}")))?;
    let pid = serve.id();
    let r = measure(&log, pid, channels, clients, window, token).await;
    let t = Instant::now();
    stop(serve);
    println!(
        "serve stopped {:.1} s after SIGTERM",
        t.elapsed().as_secs_f64()
    );
    r
}

async fn measure(
    log: &Path,
    pid: u32,
    channels: u64,
    clients: usize,
    window: Duration,
    token: Arc<str>,
) -> Result<ExitCode> {
    let t = Instant::now();
    let addr = api_addr("serve", log, Duration::from_secs(120)).await?;
    while get_status(&addr, "/readyz").await != 200 {
        if t.elapsed() > Duration::from_secs(300) {
            return Err(Error::internal("serve never became ready"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Past the first sweep's burst: one liveness interval (60 s) from the start.
    let settle = Duration::from_secs(70).saturating_sub(t.elapsed());
    println!("serve ready on {addr}; settling {} s…", settle.as_secs());
    tokio::time::sleep(settle).await;
    let idle = share(pid, window).await;
    println!("0 clients: serve used {:.1} % of a core", idle * 100.0);
    let events = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(client(
            addr.clone(),
            token.clone(),
            events.clone(),
            ok.clone(),
        ));
    }
    // Let every client connect and get its first summary before measuring.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let connected = ok.load(Ordering::Relaxed);
    let before = events.load(Ordering::Relaxed);
    let busy = share(pid, window).await;
    let received = events.load(Ordering::Relaxed) - before;
    tasks.abort_all();
    println!(
        "{clients} clients ({connected} streaming): serve used {:.1} % of a core; the clients \
         received {received} events in {} s",
        busy * 100.0,
        window.as_secs()
    );
    println!(
        "the clients cost {:.1} % of a core at {channels} channels",
        (busy - idle) * 100.0
    );
    Ok(ExitCode::SUCCESS)
}
