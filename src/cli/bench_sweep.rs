//! `camwatch bench sweep`: one full liveness sweep of a large simulated fleet, and the obvious
//! alternative (`ffprobe -rtsp_transport tcp`, 64 in parallel) over a subset, in the same run.
//!
//! The simulator and the sweep each run in their own child process (this binary), so the
//! sweep's wall time, CPU time and peak RSS are its own (`wait4` rusage), not the simulator's.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bench::tempfile_dir;
use camwatch_core::error::{Error, Result};
use camwatch_core::secret::SecretKey;

/// A reaped child: wall seconds, CPU seconds (user + system), peak RSS in MB.
struct Usage {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    ok: bool,
}

fn cpu(ru: &libc::rusage) -> f64 {
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Runs `cmd` to completion and measures it alone.
fn measured(mut cmd: Command) -> Result<(Usage, Vec<u8>)> {
    let t = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::internal(format!("spawn: {e}")))?;
    let pid = child.id() as libc::pid_t;
    let mut out = Vec::new();
    if let Some(mut so) = child.stdout {
        use std::io::Read;
        let _ = so.read_to_end(&mut out);
    }
    let mut status = 0;
    // SAFETY: wait4 writes only the status and the rusage struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        return Err(Error::internal("wait4 failed"));
    }
    Ok((
        Usage {
            wall: t.elapsed().as_secs_f64(),
            cpu: cpu(&ru),
            rss_mb: ru.ru_maxrss as f64 / 1024.0,
            ok: std::process::ExitStatus::from_raw(status).success(),
        },
        out,
    ))
}

fn exe() -> Result<std::path::PathBuf> {
    std::env::current_exe().map_err(|e| Error::internal(e.to_string()))
}

/// Starts `camwatch sim FLEET --bind BIND` (`fleet`: its fleet and fault arguments) in its own
/// process and waits for its register file, `<dir>/register.csv`.
pub(super) fn start_sim(dir: &Path, fleet: &[&str], bind: &str) -> Result<std::process::Child> {
    let reg = dir.join("register.csv");
    let mut child = Command::new(exe()?)
        .arg("sim")
        .args(fleet)
        .args(["--bind", bind, "--register-out"])
        .arg(&reg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::internal(format!("spawn sim: {e}")))?;
    let t = Instant::now();
    while !reg.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(Error::internal(format!("the simulator exited: {st}")));
        }
        if t.elapsed() > Duration::from_secs(300) {
            return Err(Error::internal("the simulator did not start within 300 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The file is written in one call after every listener is bound; let it finish.
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}

pub async fn run(channels: u64, subset: usize, parallel: usize) -> Result<ExitCode> {
    let dir = tempfile_dir()?;
    println!("starting the simulator ({channels} channels, its own process)…");
    let mut sim = start_sim(
        &dir,
        &["--fault-mix", "none", "--channels", &channels.to_string()],
        "127.20.0.1",
    )?;
    let result = bench(&dir, subset, parallel).await;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sim.id() as i32, libc::SIGTERM) };
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench(dir: &Path, subset: usize, parallel: usize) -> Result<ExitCode> {
    let reg = dir.join("register.csv");
    let db = format!("sqlite://{}", dir.join("bench.db").display());
    let store = camwatch_store::connect(
        &db,
        SecretKey::load(&dir.join("secret.key")).map_err(|e| Error::invalid(e.to_string()))?,
    )
    .await?;
    let s = super::device::import_file(store.as_ref(), &reg, false, false).await?;
    let n = s.parsed.devices.len();
    println!("register imported: {n} records");

    let mut cmd = Command::new(exe()?);
    cmd.args(["--db", &db, "--data"]).arg(dir).arg("sweep");
    cmd.env_remove("CAMWATCH_CONFIG")
        .env_remove("CAMWATCH_SECRET_KEY");
    let (cw, out) = measured(cmd)?;
    if !cw.ok {
        return Err(Error::internal("camwatch sweep failed"));
    }
    print!("{}", String::from_utf8_lossy(&out));
    println!(
        "camwatch sweep: {n} records in {:.1} s wall, {:.1} s CPU, peak RSS {:.0} MB",
        cw.wall, cw.cpu, cw.rss_mb
    );

    // ffprobe over the first `subset` channels with a stream, 64 at a time.
    let devices = store
        .list_devices(&camwatch_store::DeviceFilter::default())
        .await?;
    let by_code: std::collections::HashMap<_, _> = devices.iter().map(|d| (d.code, d)).collect();
    let urls: Vec<String> = devices
        .iter()
        .filter_map(|d| {
            let u = d.stream_urls.first()?;
            let c = camwatch_monitor::creds_for(d, &by_code)?;
            // ffprobe takes credentials only inside the URL (loopback, simulator's own);
            // `Url` percent-encodes them.
            let mut u = camwatch_probes::Url::parse(u).ok()?;
            u.set_username(&c.username).ok()?;
            u.set_password(Some(&c.password)).ok()?;
            Some(u.to_string())
        })
        .take(subset)
        .collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    // SAFETY: getrusage writes only the struct passed.
    let before = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        cpu(&ru)
    };
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for u in urls.clone() {
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await.expect("open");
            tokio::process::Command::new("ffprobe")
                .args(["-v", "error", "-rtsp_transport", "tcp", "-show_streams", &u])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .map(|s| s.success())
                .unwrap_or(false)
        });
    }
    let mut ok = 0;
    while let Some(r) = set.join_next().await {
        ok += r.map(usize::from).unwrap_or(0);
    }
    let ff_wall = t.elapsed().as_secs_f64();
    let ff_cpu = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        cpu(&ru)
    } - before;
    if ok == 0 {
        return Err(Error::internal(
            "ffprobe failed on every channel (is ffmpeg installed?)",
        ));
    }
    println!(
        "ffprobe ×{parallel}: {} channels ({ok} ok) in {ff_wall:.1} s wall, {ff_cpu:.1} s CPU",
        urls.len()
    );
    let cw_rate = n as f64 / cw.cpu.max(1e-3);
    let ff_rate = urls.len() as f64 / ff_cpu.max(1e-3);
    println!(
        "channels per CPU-second: camwatch {cw_rate:.0}, ffprobe {ff_rate:.1}, ratio {:.0}×",
        cw_rate / ff_rate
    );
    Ok(ExitCode::SUCCESS)
}
