//! Helpers shared by the integration tests.
//!
//! **System peers.** Some tests check camwatch against programs not written by us (ffmpeg's
//! ffprobe, GStreamer's RTSP server, onvif-zeep in a Python venv). On a machine without them
//! such a test says what to install and is skipped; with `CAMWATCH_REQUIRE_PEERS=1` (CI sets
//! it) a missing peer fails the test instead, so nothing is skipped silently there.

#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether `program args…` runs and exits successfully; if not, prints what to install and
/// returns false (skip the test), or panics when `CAMWATCH_REQUIRE_PEERS=1`.
pub fn peer(program: &str, args: &[&str], install: &str) -> bool {
    peer_exiting(program, args, install, |s| s.success())
}

/// As [`peer`], for a program whose check command exits with a status `ok` accepts.
pub fn peer_exiting(
    program: &str,
    args: &[&str],
    install: &str,
    ok: impl Fn(std::process::ExitStatus) -> bool,
) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(ok);
    if ok {
        return true;
    }
    let msg = format!("{program} is not available: install it with `{install}`");
    if required() {
        panic!("{msg} (CAMWATCH_REQUIRE_PEERS=1: every interop test must run)");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

fn required() -> bool {
    std::env::var("CAMWATCH_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

pub fn ffmpeg() -> bool {
    peer("ffmpeg", &["-version"], "apt-get install ffmpeg")
}

pub fn ffprobe() -> bool {
    peer("ffprobe", &["-version"], "apt-get install ffmpeg")
}

/// Debian's Python with GObject introspection and GStreamer's RTSP server and x264 encoder.
pub fn gst_rtsp_server() -> bool {
    peer(
        "/usr/bin/python3",
        &[
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); \
             from gi.repository import Gst, GstRtspServer; Gst.init(None); \
             assert Gst.ElementFactory.find('x264enc')",
        ],
        "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp \
         gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly",
    )
}

/// python3 able to make a venv (onvif-zeep is then installed into it from PyPI).
pub fn python_venv() -> bool {
    peer(
        "python3",
        &["-c", "import venv, ensurepip"],
        "apt-get install python3-venv",
    )
}

/// SIPp, a real SIP peer (Debian's `sip-tester`). SIPp 3.6 exits 99 after printing its
/// version for `-v`.
pub fn sipp() -> bool {
    peer_exiting("sipp", &["-v"], "apt-get install sip-tester", |s| {
        s.success() || s.code() == Some(99)
    })
}

/// A Python venv under the target directory named `name`, with `package` (a pinned
/// requirement, pip from PyPI), made once and reused while the pin stays the same; returns its
/// directory. Call after [`python_venv`] said yes.
pub fn venv(name: &str, package: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let ready = dir.join(".ready");
    if std::fs::read_to_string(&ready).is_ok_and(|v| v == package) {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let run = |c: &mut Command, what: &str| {
        let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed (CI installs python3-venv; pip needs PyPI):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&dir),
        "python3 -m venv",
    );
    run(
        Command::new(dir.join("bin/pip")).args(["install", "-q", package]),
        &format!("pip install {package}"),
    );
    std::fs::write(&ready, package).unwrap();
    dir
}

/// Polls `done` every 100 ms of real time, at most `limit` real seconds: a hang guard for
/// tests whose subject runs on its own (a simulator, a server), not a timing expectation.
pub async fn wait_until<F, Fut>(what: &str, limit: u64, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..limit * 10 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {limit} s");
}
