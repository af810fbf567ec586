//! The simulator and the probes against each other over real loopback sockets, plus ffprobe
//! (FFmpeg, not written by us) reading a simulated camera's stream.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use camwatch::clock::{Clock, SystemClock};
use camwatch::registry::generate::generate;
use camwatch::sim::{BindMode, FaultPlan, SimConfig, start};
use camwatch_probes::rtsp::{self, Depth, RtspOptions, RtspTarget};
use camwatch_probes::snapshot::{self, SnapshotOptions, SnapshotTarget};
use camwatch_probes::{Credentials, FailureKind, Frame, ProbeStatus};

const SEED: u64 = 11;
const CHANNELS: u64 = 60;

/// A random 127.x.y.1 base so parallel tests and other processes never collide.
fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

/// Cameras (own host) of the generated fleet, then NVRs, by code.
fn codes() -> (Vec<String>, Vec<String>, Vec<String>) {
    let d = generate(CHANNELS, SEED);
    let cams = d
        .iter()
        .filter(|x| x.parent.is_none() && !x.kind.is_parent())
        .map(|x| x.code.to_string())
        .collect();
    let nvrs = d
        .iter()
        .filter(|x| x.kind.is_parent())
        .map(|x| x.code.to_string())
        .collect();
    let nvr_channels = d
        .iter()
        .filter(|x| x.parent.is_some())
        .map(|x| x.code.to_string())
        .collect();
    (cams, nvrs, nvr_channels)
}

fn schedule(cams: &[String], nvrs: &[String], nvr_ch: &[String]) -> String {
    let f = |dev: &str, kind: &str| {
        format!(
            "[[fault]]\ndevice = \"{dev}\"\nkind = \"{kind}\"\nstart = \"0s\"\nduration = \"1d\"\n"
        )
    };
    let mut s = String::new();
    s += &f(&cams[0], "offline");
    s += &f(&cams[1], "black_hole");
    s += &f(&cams[2], "auth_failure");
    s += &f(&cams[3], "garbage");
    s += &f(&cams[4], "rtsp_404");
    s += &f(&cams[5], "no_media");
    s += &f(&cams[6], "endless_body");
    s += &f(&cams[7], "huge_header");
    s += &f(&cams[8], "truncated");
    s += &f(&nvr_ch[0], "offline");
    if nvrs.len() > 1 {
        s += &format!(
            "[[fault]]\nnvr = \"{}\"\nkind = \"nvr_down\"\nstart = \"0s\"\nduration = \"1d\"\n",
            nvrs[1]
        );
    }
    s
}

struct World {
    fleet: camwatch::sim::Fleet,
}

async fn world() -> World {
    let (cams, nvrs, ch) = codes();
    let text = schedule(&cams, &nvrs, &ch);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = start(
        SimConfig {
            channels: CHANNELS,
            seed: SEED,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Schedule(text, "test.toml".into()),
            horizon_sec: 86_400,
        },
        clock,
    )
    .await
    .unwrap();
    World { fleet }
}

fn target(w: &World, code: &str) -> (RtspTarget, Option<Credentials>) {
    let devices = w.fleet.devices();
    let d = devices.iter().find(|d| d.code.to_string() == code).unwrap();
    // NVR channels use their NVR's credentials.
    let owner = d
        .parent
        .and_then(|p| devices.iter().find(|x| x.code == p))
        .unwrap_or(d);
    let creds = Some(Credentials {
        username: owner.username.clone().unwrap(),
        password: owner.password.as_ref().unwrap().expose().to_string(),
    });
    (
        RtspTarget {
            url: d.stream_urls[0].parse().unwrap(),
            creds: creds.clone(),
        },
        creds,
    )
}

fn opts(depth: Depth, secs: u64) -> RtspOptions {
    RtspOptions {
        depth,
        deadline: Duration::from_secs(secs),
        keep_frame: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_probe_sees_each_fault_for_what_it_is() {
    let w = world().await;
    let (cams, nvrs, ch) = codes();
    // A healthy camera: DESCRIBE facts, then PLAY to a keyframe with SPS/PPS.
    let (t, _) = target(&w, &cams[10]);
    let o = rtsp::probe(&t, &opts(Depth::Describe, 5)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    assert!(
        o.facts.iter().any(|(k, v)| k == "codec" && v == "h264"),
        "{:?}",
        o.facts
    );
    assert!(
        o.facts
            .iter()
            .any(|(k, v)| k == "resolution" && v == "320x240"),
        "{:?}",
        o.facts
    );
    let o = rtsp::probe(&t, &opts(Depth::FirstFrame, 5)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    match &o.frame {
        Some(Frame::H264(b)) => {
            assert!(b.starts_with(&[0, 0, 0, 1, 0x67]), "Annex B with SPS first")
        }
        f => panic!("no keyframe: {f:?}"),
    }
    // A wrong password.
    let mut bad = t.clone();
    bad.creds.as_mut().unwrap().password = "wrong".into();
    assert_eq!(
        rtsp::probe(&bad, &opts(Depth::Describe, 5)).await.failure,
        Some(FailureKind::AuthFailed)
    );

    let cases = [
        (&cams[0], FailureKind::ConnectionRefused),
        (&cams[1], FailureKind::NoAnswer),
        (&cams[2], FailureKind::AuthFailed),
        (&cams[3], FailureKind::MalformedReply),
        (&cams[4], FailureKind::StreamNotFound),
        (&cams[7], FailureKind::MalformedReply),
        (&cams[8], FailureKind::MalformedReply),
        (&ch[0], FailureKind::RtspStatus),
    ];
    for (code, want) in cases {
        let (t, _) = target(&w, code);
        let started = std::time::Instant::now();
        let o = rtsp::probe(&t, &opts(Depth::Describe, 2)).await;
        assert_eq!(o.failure, Some(want), "{code}: {o:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{code} took {:?}",
            started.elapsed()
        );
    }
    // An endless body never completes: cut at the deadline, never hangs.
    let (t, _) = target(&w, &cams[6]);
    let started = std::time::Instant::now();
    let o = rtsp::probe(&t, &opts(Depth::Describe, 2)).await;
    assert_eq!(o.status, ProbeStatus::Down, "{o:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // No media after PLAY.
    let (t, _) = target(&w, &cams[5]);
    let o = rtsp::probe(&t, &opts(Depth::FirstFrame, 2)).await;
    assert_eq!(o.failure, Some(FailureKind::NoMedia), "{o:?}");
    // A whole NVR down takes its channels with it.
    if nvrs.len() > 1 {
        let devices = w.fleet.devices();
        let nvr = devices
            .iter()
            .find(|d| d.code.to_string() == nvrs[1])
            .unwrap()
            .code;
        let child = devices
            .iter()
            .find(|d| d.parent == Some(nvr))
            .unwrap()
            .code
            .to_string();
        let (t, _) = target(&w, &child);
        assert_eq!(
            rtsp::probe(&t, &opts(Depth::Describe, 2)).await.failure,
            Some(FailureKind::ConnectionRefused)
        );
    }
    w.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_with_digest_auth() {
    let w = world().await;
    let (cams, _, _) = codes();
    let client = snapshot::client();
    let d = w
        .fleet
        .devices()
        .iter()
        .find(|d| d.code.to_string() == cams[10])
        .unwrap()
        .clone();
    let creds = Credentials {
        username: "admin".into(),
        password: d.password.as_ref().unwrap().expose().into(),
    };
    let t = SnapshotTarget {
        url: d.snapshot_url.clone().unwrap().parse().unwrap(),
        creds: Some(creds.clone()),
    };
    let o = snapshot::probe(&client, &t, &SnapshotOptions::default()).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    assert!(matches!(o.frame, Some(Frame::Jpeg(_))));
    let wrong = SnapshotTarget {
        creds: Some(Credentials {
            password: "nope".into(),
            ..creds
        }),
        ..t
    };
    let o = snapshot::probe(&client, &wrong, &SnapshotOptions::default()).await;
    assert_eq!(o.failure, Some(FailureKind::AuthFailed), "{o:?}");
    w.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_reads_a_simulated_camera() {
    if std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_err()
    {
        panic!("ffprobe (Debian package ffmpeg) is required: .ci/run installs it");
    }
    let w = world().await;
    let (cams, _, _) = codes();
    let d = w
        .fleet
        .devices()
        .iter()
        .find(|d| d.code.to_string() == cams[11])
        .unwrap()
        .clone();
    // ffprobe takes credentials in the URL: fine for a throwaway simulated camera.
    let url = d.stream_urls[0].replacen(
        "rtsp://",
        &format!(
            "rtsp://admin:{}@",
            d.password.as_ref().unwrap().expose().replace('#', "%23")
        ),
        1,
    );
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            &url,
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("ffprobe finished")
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "h264,320,240");
    w.fleet.shutdown().await;
}

#[tokio::test]
async fn truth_is_deterministic_for_a_seed() {
    let a = {
        let clock: Arc<dyn Clock> = Arc::new(camwatch::clock::ManualClock::new(
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let f = start(
            SimConfig {
                channels: 300,
                seed: 5,
                bind: BindMode::OnePort { ip: base() },
                ..Default::default()
            },
            clock,
        )
        .await
        .unwrap();
        let t = f.truth();
        f.shutdown().await;
        t
    };
    let b = {
        let clock: Arc<dyn Clock> = Arc::new(camwatch::clock::ManualClock::new(
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let f = start(
            SimConfig {
                channels: 300,
                seed: 5,
                bind: BindMode::OnePort { ip: base() },
                ..Default::default()
            },
            clock,
        )
        .await
        .unwrap();
        let t = f.truth();
        f.shutdown().await;
        t
    };
    assert_eq!(a, b);
    assert!(!a.is_empty());
}
