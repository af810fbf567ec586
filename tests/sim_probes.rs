//! The simulator and the probes against each other over real loopback sockets, plus ffprobe
//! (FFmpeg, not written by us) reading a simulated camera's stream.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::registry::generate::generate;
use camwatch_probes::rtsp::{self, Depth, RtspOptions, RtspTarget};
use camwatch_probes::snapshot::{self, SnapshotOptions, SnapshotTarget};
use camwatch_probes::{Credentials, FailureKind, Frame, ProbeStatus};
use camwatch_sim::{BindMode, CODEC_COLUMN, FaultPlan, SimConfig, start};

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
    s += &f(&cams[9], "clock_drift");
    s += "minutes = 7\n";
    if nvrs.len() > 1 {
        s += &format!(
            "[[fault]]\nnvr = \"{}\"\nkind = \"nvr_down\"\nstart = \"0s\"\nduration = \"1d\"\n",
            nvrs[1]
        );
    }
    s
}

struct World {
    fleet: camwatch_sim::Fleet,
}

async fn world() -> World {
    let (cams, nvrs, ch) = codes();
    let text = schedule(&cams, &nvrs, &ch);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let fleet = start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix { channels: CHANNELS },
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
    // Frame rate and bitrate over a short window: the simulator streams 5 fps.
    let o = rtsp::probe(
        &t,
        &RtspOptions {
            measure_window: Duration::from_millis(1500),
            ..opts(Depth::FirstFrame, 5)
        },
    )
    .await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    let fps: f64 = o
        .facts
        .iter()
        .find(|f| f.0 == "measured_fps")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!((3.0..=7.0).contains(&fps), "{fps}");
    assert!(
        o.facts.iter().any(|f| f.0 == "bitrate_kbps" && f.1 != "0"),
        "{o:?}"
    );
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
    if !common::ffprobe() {
        return;
    }
    let w = world().await;
    let (cams, _, _) = codes();
    // The first healthy camera of each codec (the schedule breaks cams[0..10]).
    let of_codec = |want: &str| {
        w.fleet
            .devices()
            .iter()
            .filter(|d| cams[10..].contains(&d.code.to_string()))
            .find(|d| d.extra.get(CODEC_COLUMN).map(String::as_str) == Some(want))
            .expect("the generated fleet has both codecs")
            .clone()
    };
    for (codec, ffname) in [("H.264", "h264"), ("H.265", "hevc")] {
        let d = of_codec(codec);
        // ffprobe takes credentials in the URL: fine for a throwaway simulated camera.
        let url = d.stream_urls[0].replacen(
            "rtsp://",
            &format!(
                "rtsp://admin:{}@",
                d.password.as_ref().unwrap().expose().replace('#', "%23")
            ),
            1,
        );
        // Stream facts and one decoded frame (key_frame=1, its width), over TCP and over UDP.
        for transport in ["tcp", "udp"] {
            let out = tokio::process::Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-rtsp_transport",
                    transport,
                    "-select_streams",
                    "v:0",
                    "-read_intervals",
                    "%+#1",
                    "-show_entries",
                    "stream=codec_name,width,height:frame=key_frame,width",
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
                "{codec} {transport}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            assert!(
                lines.contains(&format!("{ffname},320,240").as_str()),
                "{codec} {transport}: {text}"
            );
            assert!(
                lines.contains(&"1,320"),
                "{codec} {transport}: a decoded keyframe: {text}"
            );
        }
        // retina: DESCRIBE names the codec; PLAY over TCP and UDP to the keyframe, parameter
        // sets first.
        let (t, _) = target(&w, &d.code.to_string());
        let o = rtsp::probe(&t, &opts(Depth::Describe, 5)).await;
        let want = if codec == "H.265" { "h265" } else { "h264" };
        assert_eq!(fact(&o, "codec"), Some(want), "{o:?}");
        assert_eq!(fact(&o, "resolution"), Some("320x240"), "{o:?}");
        let o = rtsp::probe(&t, &opts(Depth::FirstFrame, 5)).await;
        assert_eq!(o.status, ProbeStatus::Up, "{codec} over TCP: {o:?}");
        let o = rtsp::probe(
            &t,
            &RtspOptions {
                transport: camwatch_probes::rtsp::RtpTransport::Udp,
                ..opts(Depth::FirstFrame, 5)
            },
        )
        .await;
        assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
        match (&o.frame, codec) {
            (Some(Frame::H264(b)), "H.264") => assert!(b.starts_with(&[0, 0, 0, 1, 0x67])),
            // VPS (type 32), then SPS (33) and PPS (34).
            (Some(Frame::H265(b)), "H.265") => {
                assert!(b.starts_with(&[0, 0, 0, 1, 0x40, 0x01]), "{:?}", &b[..8])
            }
            (f, _) => panic!("{codec}: {f:?}"),
        }
    }
    w.fleet.shutdown().await;
}

#[tokio::test]
async fn truth_is_deterministic_for_a_seed() {
    let a = {
        let clock: Arc<dyn Clock> = Arc::new(camwatch_core::clock::ManualClock::new(
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let f = start(
            SimConfig {
                shape: camwatch_core::registry::generate::Shape::Mix { channels: 300 },
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
        let clock: Arc<dyn Clock> = Arc::new(camwatch_core::clock::ManualClock::new(
            jiff::Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let f = start(
            SimConfig {
                shape: camwatch_core::registry::generate::Shape::Mix { channels: 300 },
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

fn onvif_target(w: &World, code: &str) -> camwatch_probes::onvif::OnvifTarget {
    let d = w
        .fleet
        .devices()
        .iter()
        .find(|d| d.code.to_string() == code)
        .unwrap();
    camwatch_probes::onvif::OnvifTarget {
        device_url: d.onvif_url.as_ref().unwrap().parse().unwrap(),
        creds: Some(Credentials {
            username: d.username.clone().unwrap(),
            password: d.password.as_ref().unwrap().expose().to_string(),
        }),
    }
}

fn fact<'a>(o: &'a camwatch_probes::ProbeOutcome, k: &str) -> Option<&'a str> {
    o.facts.iter().find(|f| f.0 == k).map(|f| f.1.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onvif_probe_reads_the_device_and_sees_faults() {
    use camwatch_probes::onvif::{self, OnvifOptions};
    let w = world().await;
    let (cams, _, _) = codes();
    let client = snapshot::client();
    let o2 = |secs| OnvifOptions {
        deadline: Duration::from_secs(secs),
        ..Default::default()
    };
    let d = w
        .fleet
        .devices()
        .iter()
        .find(|d| d.code.to_string() == cams[10])
        .unwrap()
        .clone();
    let t = onvif_target(&w, &cams[10]);
    let o = onvif::probe(&client, &t, &o2(5)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    assert_eq!(
        fact(&o, "stream_uri"),
        Some(d.stream_urls[0].as_str()),
        "{o:?}"
    );
    assert_eq!(fact(&o, "snapshot_uri"), d.snapshot_url.as_deref(), "{o:?}");
    assert_eq!(fact(&o, "serial"), Some(cams[10].as_str()));
    assert_eq!(fact(&o, "profiles"), Some("2"));
    let drift: i64 = fact(&o, "clock_drift_sec").unwrap().parse().unwrap();
    assert!(drift.abs() <= 2, "{drift}");
    for step in [
        "GetSystemDateAndTime",
        "GetDeviceInformation",
        "GetProfiles",
        "GetStreamUri",
    ] {
        assert!(o.steps.iter().any(|s| s.step == step), "{step}: {o:?}");
    }

    // A wrong password: the device's own fault, ter:NotAuthorized.
    let mut bad = t.clone();
    bad.creds.as_mut().unwrap().password = "wrong".into();
    let o = onvif::probe(&client, &bad, &o2(5)).await;
    assert_eq!(o.failure, Some(FailureKind::AuthFailed), "{o:?}");
    assert!(o.detail.contains("ter:NotAuthorized"), "{}", o.detail);
    let o = onvif::probe(&client, &onvif_target(&w, &cams[2]), &o2(5)).await;
    assert_eq!(o.failure, Some(FailureKind::AuthFailed), "{o:?}");

    // A clock 7 minutes off: measured, and tokens stamped in the camera's time still pass.
    let o = onvif::probe(&client, &onvif_target(&w, &cams[9]), &o2(5)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    let drift: i64 = fact(&o, "clock_drift_sec").unwrap().parse().unwrap();
    assert!((drift - 420).abs() <= 2, "{drift}");

    // Refused, black hole, garbage and an endless body: each ends within the deadline.
    let cases: [(&String, &[FailureKind]); 4] = [
        (&cams[0], &[FailureKind::ConnectionRefused]),
        (&cams[1], &[FailureKind::NoAnswer]),
        (&cams[3], &[FailureKind::MalformedReply, FailureKind::Io]),
        (
            &cams[6],
            &[FailureKind::MalformedReply, FailureKind::NoAnswer],
        ),
    ];
    for (code, want) in cases {
        let started = std::time::Instant::now();
        let o = onvif::probe(&client, &onvif_target(&w, code), &o2(2)).await;
        assert!(want.contains(&o.failure.unwrap()), "{code}: {o:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{code}: {:?}",
            started.elapsed()
        );
    }
    w.fleet.shutdown().await;
}

/// A hostile device answering with an entity-expansion bomb: refused, bounded, named.
#[tokio::test]
async fn onvif_refuses_an_xml_bomb() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind((base(), 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = vec![0u8; 65536];
                let _ = s.read(&mut b).await;
                let mut body =
                    String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
                for i in 1..10 {
                    body += &format!(
                        "<!ENTITY lol{i} \"{}\">",
                        format!("&lol{};", i - 1).repeat(10)
                    );
                }
                body += "]><Envelope><Body>&lol9;</Body></Envelope>";
                let r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(r.as_bytes()).await;
            });
        }
    });
    let t = camwatch_probes::onvif::OnvifTarget {
        device_url: format!("http://{addr}/onvif/device_service")
            .parse()
            .unwrap(),
        creds: None,
    };
    let o = camwatch_probes::onvif::probe(&snapshot::client(), &t, &Default::default()).await;
    assert_eq!(o.failure, Some(FailureKind::MalformedReply), "{o:?}");
    assert!(o.detail.contains("DOCTYPE"), "{}", o.detail);
}

/// `camwatch sim --cameras --nvrs --channels-per-nvr` as an operator starts it: exactly that
/// fleet, its register importable, every NVR channel path served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_cli_builds_the_fleet_it_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("register.csv");
    let truth = dir.path().join("truth.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .args([
            "sim",
            "--cameras",
            "3",
            "--nvrs",
            "2",
            "--channels-per-nvr",
            "24",
        ])
        .args([
            "--one-port",
            "--bind",
            &base().to_string(),
            "--fault-mix",
            "none",
        ])
        .args(["--duration", "60s", "--register-out"])
        .arg(&reg)
        .arg("--truth-out")
        .arg(&truth)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !truth.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the simulator did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let table = camwatch_core::registry::table::read_file(&reg).unwrap();
    let parsed =
        camwatch_core::registry::import::parse_table(&table, "register.csv", &Default::default());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let kinds = |k: camwatch_core::registry::DeviceKind| {
        parsed.devices.iter().filter(|d| d.kind == k).count()
    };
    use camwatch_core::registry::DeviceKind;
    assert_eq!(kinds(DeviceKind::Camera), 3);
    assert_eq!(kinds(DeviceKind::Nvr), 2);
    assert_eq!(kinds(DeviceKind::Channel), 48);
    // The last channel of each NVR answers DESCRIBE with the NVR's credentials.
    for nvr in parsed.devices.iter().filter(|d| d.kind == DeviceKind::Nvr) {
        let last = parsed
            .devices
            .iter()
            .rfind(|d| d.parent == Some(nvr.code))
            .unwrap();
        assert!(
            last.stream_urls[0].contains("/Streaming/Channels/2401"),
            "{last:?}"
        );
        let t = RtspTarget {
            url: last.stream_urls[0].parse().unwrap(),
            creds: Some(Credentials {
                username: nvr.username.clone().unwrap(),
                password: nvr.password.as_ref().unwrap().expose().to_string(),
            }),
        };
        let o = rtsp::probe(&t, &opts(Depth::Describe, 5)).await;
        assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A shape without channels per NVR is refused with the flags named.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .args([
            "sim",
            "--nvrs",
            "2",
            "--channels-per-nvr",
            "0",
            "--one-port",
        ])
        .args(["--bind", &base().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--channels-per-nvr") && err.contains("1 to 256"),
        "{err}"
    );
}
