//! camwatch's RTSP probe against an RTSP server not written by us: GStreamer's gst-rtsp-server
//! (Debian `gstreamer1.0-rtsp`, `gir1.2-gst-rtsp-server-1.0`, `python3-gi`, x264enc from
//! plugins-ugly), started by this test on loopback with an OS-chosen port.

mod common;

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use camwatch_probes::rtsp::{self, Depth, RtpTransport, RtspOptions, RtspTarget};
use camwatch_probes::{FailureKind, Frame, ProbeStatus};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gst_server(ip: Ipv4Addr) -> (Server, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/gst_rtsp_server.py");
    // Debian's interpreter: python3-gi is installed for it, not for a pyenv/venv python.
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(ip.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 (CI installs it with GStreamer's RTSP server)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("gst-rtsp-server did not start: {line:?}"));
    (Server(child), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_probe_reads_gstreamer() {
    if !common::gst_rtsp_server() {
        return;
    }
    // 127.0.0.1 with an OS-chosen port: gst-rtsp-server sends RTP from a wildcard-bound UDP
    // socket, and on `lo` the kernel stamps such datagrams 127.0.0.1 whatever 127.x address
    // they go to; retina (rightly) accepts RTP only from the RTSP peer's address.
    let ip = Ipv4Addr::LOCALHOST;
    let (_server, port) = tokio::task::spawn_blocking(move || gst_server(ip))
        .await
        .unwrap();
    let target = |path: &str| RtspTarget {
        url: format!("rtsp://{ip}:{port}{path}").parse().unwrap(),
        creds: None,
    };
    let opts = |depth, transport| RtspOptions {
        depth,
        transport,
        deadline: Duration::from_secs(10),
        keep_frame: true,
        ..Default::default()
    };
    let o = rtsp::probe(&target("/test"), &opts(Depth::Describe, RtpTransport::Tcp)).await;
    assert_eq!(o.status, ProbeStatus::Up, "{o:?}");
    assert!(
        o.facts.iter().any(|(k, v)| k == "codec" && v == "h264"),
        "{:?}",
        o.facts
    );
    for transport in [RtpTransport::Tcp, RtpTransport::Udp] {
        let o = rtsp::probe(&target("/test"), &opts(Depth::FirstFrame, transport)).await;
        assert_eq!(o.status, ProbeStatus::Up, "{transport:?}: {o:?}");
        assert!(
            matches!(o.frame, Some(Frame::H264(_))),
            "{transport:?}: {o:?}"
        );
        assert!(
            o.facts
                .iter()
                .any(|(k, v)| k == "resolution" && v == "320x240"),
            "{:?}",
            o.facts
        );
    }
    let o = rtsp::probe(&target("/nope"), &opts(Depth::Describe, RtpTransport::Tcp)).await;
    assert_eq!(o.failure, Some(FailureKind::StreamNotFound), "{o:?}");
}
