//! `camwatch serve` with `[gb28181] enabled`, end to end: SIPp (Debian `sip-tester`) plays an
//! NVR of the register that registers with its own password (stored sealed), keeps alive and
//! answers the Catalog query (channel 1 ON, channel 2 OFF), then stops its keepalives. The
//! status history must then say: the NVR online, then offline (`no_answer`); channel 1 online,
//! then offline with the NVR as cause; channel 2 never online (its parent said OFF).
//!
//! DeviceStatus polls are off: the scenario answers only the Catalog query.
//!
//! Waits are bounded polls of serve's log, never timed assertions. Skipped with a message
//! naming `sip-tester` when SIPp is absent, unless `CAMWATCH_REQUIRE_PEERS=1`.

mod common;
mod serve;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const NVR: &str = "34020000001320000001";
const GATE_1: &str = "34020000001310000001";
const GATE_2: &str = "34020000001310000002";

/// A camwatch command's stdout (it must succeed).
fn output(dir: &Path, args: &[&str]) -> String {
    serve::run(dir, args, "")
}

/// Polls serve's log until `found` gives a value (at most two minutes; serve ending fails).
fn wait_for<T>(
    serve: &mut std::process::Child,
    log: &Path,
    what: &str,
    found: impl Fn(&str) -> Option<T>,
) -> T {
    for _ in 0..1200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(v) = found(&text) {
            return v;
        }
        if let Some(st) = serve.try_wait().unwrap() {
            panic!("serve ended ({st}) before {what}: {text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "no {what} in serve's log: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[test]
fn an_nvr_registers_its_channels_follow_it_and_its_death_is_blamed() {
    if !common::sipp() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n\
             [scheduler]\nliveness_interval_sec = 2\nconfirm_failures = 2\nconfirm_window_sec = 4\n\
             [gb28181]\nenabled = true\nudp_listen = \"127.0.0.1:0\"\ntcp_listen = \"127.0.0.1:0\"\n\
             keepalive_interval_sec = 1\nkeepalive_misses = 4\ncatalog_subscription_sec = 0\npicture_invites = false\n\
             device_status_sec = 0\n\
             [log]\nfilter = \"info,sqlx=warn\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("register.csv"),
        format!(
            "code,name,kind,parent,password\n{NVR},SIPp NVR,nvr,,12345678\n\
             {GATE_1},Gate 1,channel,{NVR},\n{GATE_2},Gate 2,channel,{NVR},\n"
        ),
    )
    .unwrap();
    output(
        dir,
        &[
            "device",
            "import",
            dir.join("register.csv").to_str().unwrap(),
        ],
    );
    let log = dir.join("serve.log");
    let mut serve = serve::camwatch(dir)
        .args(["serve", "--summary-every", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let udp = wait_for(&mut serve, &log, "the platform's address", |t| {
        let line = t.lines().find(|l| l.contains("GB/T 28181 platform"))?;
        let rest = &line[line.find("udp=")? + 4..];
        Some(rest.split_whitespace().next()?.to_string())
    });
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/gb28181/tests/sipp");
    let sipp_dir = tempfile::tempdir().unwrap();
    let sipp = Command::new("sipp")
        .arg(&udp)
        .arg("-sf")
        .arg(scenarios.join("device.xml"))
        .arg("-oocsf")
        .arg(scenarios.join("catalog.xml"))
        .args(["-i", "127.0.0.1", "-m", "1", "-l", "1"])
        .args([
            "-key",
            "dev",
            NVR,
            "-key",
            "platform",
            "34020000002000000001",
        ])
        .args([
            "-key",
            "domain",
            "3402000000",
            "-au",
            NVR,
            "-ap",
            "12345678",
        ])
        .args([
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .current_dir(sipp_dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // The keepalives have stopped: wait until the monitor has blamed the NVR for channel 1.
    wait_for(&mut serve, &log, "the parent-down outage", |t| {
        t.contains("parent_down:1").then_some(())
    });
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    let st = serve.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        sipp.status.success(),
        "sipp failed: {}",
        String::from_utf8_lossy(&sipp.stderr)
    );
    assert!(st.success(), "serve did not stop cleanly: {text}");
    assert!(text.contains("complete=true"), "no catalog: {text}");

    let spans = |code: &str| {
        output(
            dir,
            &[
                "history",
                "show",
                code,
                "--from",
                "2000-01-01T00:00:00Z",
                "--to",
                "2100-01-01T00:00:00Z",
            ],
        )
    };
    let rows = |code: &str| -> Vec<(String, String)> {
        spans(code)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 4 && f[0].starts_with("20")).then(|| {
                    (
                        f[2].to_string(),
                        f.get(4).map(|s| s.to_string()).unwrap_or_default(),
                    )
                })
            })
            .collect()
    };
    let after_online = |r: &[(String, String)]| -> Vec<(String, String)> {
        let i = r
            .iter()
            .position(|(s, _)| s == "online")
            .unwrap_or_else(|| panic!("never online: {r:?}"));
        r[i + 1..].to_vec()
    };
    let nvr = rows(NVR);
    assert_eq!(
        after_online(&nvr).first(),
        Some(&("offline".to_string(), "no_answer".to_string())),
        "{nvr:?}"
    );
    let gate_1 = rows(GATE_1);
    assert_eq!(
        after_online(&gate_1).first(),
        Some(&("offline".to_string(), format!("parent_down:{NVR}"))),
        "{gate_1:?}"
    );
    let gate_2 = rows(GATE_2);
    assert!(
        gate_2.iter().all(|(s, _)| s != "online"),
        "channel 2 was reported OFF: {gate_2:?}"
    );
}
