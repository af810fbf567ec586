//! The simulator's HTTP server: JPEG snapshots of what a camera shows
//! (`/ISAPI/Streaming/channels/101/picture`, Hikvision style), Basic or Digest auth, and the
//! same wire faults as RTSP (black hole, slow, malformed, changed password). One request per
//! connection (`Connection: close`), which is what snapshot clients do anyway.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::auth;
use super::faults::{FaultKind, Malformation};
use super::rtsp::parse_request;
use super::world::World;

const MAX_CONNECTION: Duration = Duration::from_secs(120);

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nServer: camwatch-sim\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

pub async fn serve(w: Arc<World>, h: usize, stream: TcpStream, shutdown: watch::Receiver<bool>) {
    let _ = tokio::time::timeout(MAX_CONNECTION, one(w, h, stream, shutdown)).await;
}

async fn one(w: Arc<World>, h: usize, mut s: TcpStream, _shutdown: watch::Receiver<bool>) {
    let mut buf = Vec::with_capacity(1024);
    let req = loop {
        match s.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match parse_request(&mut buf) {
            Ok(Some(r)) => break r,
            Ok(None) => continue,
            Err(e) => {
                let _ = s
                    .write_all(&response("400 Bad Request", &[], e.as_bytes()))
                    .await;
                return;
            }
        }
    };
    let host = w.hosts[h].clone();
    let t = w.now_rel();
    let fault = w.host_fault(h, t);
    match fault {
        Some(FaultKind::BlackHole) => {
            // Hold the connection, say nothing.
            let mut sink = [0u8; 1024];
            while let Ok(n) = s.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            return;
        }
        Some(FaultKind::Slow { ms }) => tokio::time::sleep(Duration::from_millis(ms as u64)).await,
        Some(FaultKind::Malformed(Malformation::EndlessBody)) => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000000\r\n\r\n\xFF\xD8")
                .await;
            loop {
                if s.write_all(&[0u8; 256]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Some(FaultKind::Malformed(_)) => {
            let _ = s.write_all(b"\x00\x13garbage, not HTTP\r\n").await;
            return;
        }
        _ => {}
    }
    let path = req.url.split('?').next().unwrap_or("");
    if path.starts_with("/onvif/") {
        onvif(&w, h, &mut s, &req, path, t).await;
        return;
    }
    let channel = path
        .strip_prefix("/ISAPI/Streaming/channels/")
        .and_then(|r| r.strip_suffix("/picture"))
        .and_then(|n| n.parse::<u32>().ok())
        .and_then(|n| {
            let k = (n / 100) as usize;
            if host.nvr.is_some() {
                host.channels.get(k.checked_sub(1)?).copied()
            } else if k == 1 {
                host.channels.first().copied()
            } else {
                None
            }
        });
    let Some(ch) = channel else {
        let _ = s
            .write_all(&response("404 Not Found", &[], b"no such resource\n"))
            .await;
        return;
    };
    let password = if w.device_fault(ch, t) == Some(FaultKind::AuthFailure) {
        format!("{}-changed", host.password)
    } else {
        host.password.clone()
    };
    let mut nb = [0u8; 8];
    let _ = getrandom::fill(&mut nb);
    let nonce = hex::encode(nb);
    // Digest nonces are per connection and this is one request per connection: accept a
    // digest answer to any nonce we could have issued only via Basic or a fresh challenge.
    let authorization = req.header("Authorization");
    let nonce_in = authorization
        .and_then(|a| a.split("nonce=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap_or(&nonce)
        .to_string();
    if !auth::check(
        authorization,
        &req.method,
        &host.username,
        &password,
        &nonce_in,
    ) {
        let _ = s
            .write_all(&response(
                "401 Unauthorized",
                &[("WWW-Authenticate", auth::challenge(&nonce))],
                b"",
            ))
            .await;
        return;
    }
    let pic = w.snapshot(ch, t);
    let _ = s
        .write_all(&response(
            "200 OK",
            &[("Content-Type", "image/jpeg".into())],
            &pic.jpeg,
        ))
        .await;
}

/// ONVIF: IP cameras only (the simulator's NVRs are reached by their channels' RTSP paths).
async fn onvif(
    w: &World,
    h: usize,
    s: &mut TcpStream,
    req: &super::rtsp::Request,
    path: &str,
    t: i64,
) {
    let host = &w.hosts[h];
    let (Some(&ch), None) = (host.channels.first(), host.nvr) else {
        let _ = s
            .write_all(&response("404 Not Found", &[], b"no ONVIF service\n"))
            .await;
        return;
    };
    if req.method != "POST" || !(path == "/onvif/device_service" || path == "/onvif/media_service")
    {
        let _ = s
            .write_all(&response("404 Not Found", &[], b"no such ONVIF service\n"))
            .await;
        return;
    }
    let fault = w.device_fault(ch, t);
    let password = if fault == Some(FaultKind::AuthFailure) {
        format!("{}-changed", host.password)
    } else {
        host.password.clone()
    };
    let drift_sec = match fault {
        Some(FaultKind::ClockDrift { minutes }) => minutes as i64 * 60,
        _ => 0,
    };
    let d = &w.devices[ch];
    let cam = super::onvif::Camera {
        username: &host.username,
        password: &password,
        vendor: d.vendor.as_deref().unwrap_or("camwatch-sim"),
        model: d.model.as_deref().unwrap_or("SIM-IPC"),
        serial: &d.code.to_string(),
        http_base: format!("http://{}", host.http_addr),
        rtsp_base: format!("rtsp://{}", host.rtsp_addr),
        drift_sec,
    };
    let (status, body) = super::onvif::handle(path, &req.body, &cam);
    let _ = s
        .write_all(&response(
            status,
            &[("Content-Type", "application/soap+xml; charset=utf-8".into())],
            body.as_bytes(),
        ))
        .await;
}
