//! The simulator's ONVIF device against a real ONVIF client not written by us: onvif-zeep
//! (PyPI, on zeep and lxml), in a venv this test creates once under the target directory.
//! It connects (GetCapabilities), calls GetDeviceInformation, GetSystemDateAndTime,
//! GetProfiles, GetStreamUri and GetSnapshotUri with WS-UsernameToken digest auth.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_sim::{BindMode, FaultPlan, Preset, SimConfig, start};

const ONVIF_ZEEP: &str = "onvif-zeep==0.2.12";

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onvif_zeep_reads_a_simulated_camera() {
    if !common::python_venv() {
        return;
    }
    let py = tokio::task::spawn_blocking(|| {
        common::venv("onvif-zeep-venv", ONVIF_ZEEP).join("bin/python")
    })
    .await
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: 10 },
            seed: 4,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Preset(Preset::None),
            horizon_sec: 3600,
        },
        clock,
    )
    .await
    .unwrap();
    let cam = fleet
        .devices()
        .iter()
        .find(|d| d.onvif_url.is_some())
        .unwrap()
        .clone();
    let url: camwatch_probes::Url = cam.onvif_url.as_ref().unwrap().parse().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/onvif_zeep_probe.py");
    let call = |password: String| {
        let (py, script, url) = (py.clone(), script.clone(), url.clone());
        let user = cam.username.clone().unwrap();
        async move {
            tokio::process::Command::new(py)
                .arg(script)
                .arg(url.host_str().unwrap())
                .arg(url.port_or_known_default().unwrap().to_string())
                .arg(user)
                .arg(password)
                .output()
                .await
                .unwrap()
        }
    };
    let out = call(cam.password.as_ref().unwrap().expose().to_string()).await;
    assert!(
        out.status.success(),
        "onvif-zeep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serial"], cam.code.to_string());
    assert_eq!(v["manufacturer"], cam.vendor.clone().unwrap());
    assert_eq!(v["profiles"].as_array().unwrap().len(), 2);
    assert_eq!(v["stream_uri"], cam.stream_urls[0]);
    assert_eq!(v["snapshot_uri"], cam.snapshot_url.clone().unwrap());

    // A wrong password: the client reports the device's NotAuthorized fault.
    let out = call("wrong".into()).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not Authorized"), "{err}");
    fleet.shutdown().await;
}
