//! HTTP snapshot probe: GET a JPEG of the current picture, with Basic or Digest auth (answered
//! to the camera's own challenge via `http-auth`), a size cap, and a check that the body is a
//! JPEG (SOI marker, EOI at the end) and not an HTML error page with status 200.

use std::time::{Duration, Instant};

use crate::creds::Credentials;
use crate::outcome::{FailureKind, Frame, ProbeKind, ProbeOutcome, StepTiming};

#[derive(Debug, Clone)]
pub struct SnapshotTarget {
    /// `http(s)://host[:port]/path`, without credentials.
    pub url: url::Url,
    pub creds: Option<Credentials>,
}

#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub deadline: Duration,
    /// Bodies above this are refused (a camera streaming endlessly must not fill memory).
    pub max_bytes: usize,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            max_bytes: 8 << 20,
        }
    }
}

/// One client for many probes (connection pools are per host inside).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("camwatch")
        .redirect(reqwest::redirect::Policy::limited(3))
        .pool_max_idle_per_host(1)
        .build()
        .expect("reqwest client builds")
}

pub(crate) fn classify(e: &reqwest::Error) -> FailureKind {
    if e.is_connect() {
        let s = format!("{e:?}").to_ascii_lowercase();
        if s.contains("refused") {
            FailureKind::ConnectionRefused
        } else if s.contains("timed out") {
            FailureKind::ConnectTimeout
        } else if s.contains("dns") || s.contains("unreachable") {
            FailureKind::DnsOrRoute
        } else if s.contains("tls") || s.contains("certificate") {
            FailureKind::Tls
        } else {
            FailureKind::Io
        }
    } else if e.is_timeout() {
        FailureKind::NoAnswer
    } else if e.is_decode() || e.is_body() {
        FailureKind::MalformedReply
    } else {
        FailureKind::Io
    }
}

/// `Err` carries the outcome to return.
async fn get(
    client: &reqwest::Client,
    t: &SnapshotTarget,
    auth: Option<String>,
    left: Duration,
) -> Result<reqwest::Response, (FailureKind, String)> {
    let mut rq = client.get(t.url.clone()).timeout(left);
    if let Some(a) = auth {
        rq = rq.header(reqwest::header::AUTHORIZATION, a);
    }
    rq.send()
        .await
        .map_err(|e| (classify(&e), format!("GET {}: {}", t.url, e.without_url())))
}

pub async fn probe(
    client: &reqwest::Client,
    t: &SnapshotTarget,
    opts: &SnapshotOptions,
) -> ProbeOutcome {
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut o = ProbeOutcome::up(ProbeKind::Snapshot);
    if let Err((kind, detail)) = run(client, t, opts, deadline, &mut o).await {
        let mut d = ProbeOutcome::down(ProbeKind::Snapshot, kind, detail);
        d.steps = std::mem::take(&mut o.steps);
        o = d;
    }
    o.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    o
}

async fn run(
    client: &reqwest::Client,
    t: &SnapshotTarget,
    opts: &SnapshotOptions,
    deadline: Instant,
    o: &mut ProbeOutcome,
) -> Result<(), (FailureKind, String)> {
    let left = || deadline.saturating_duration_since(Instant::now());
    let t0 = Instant::now();
    let mut resp = get(client, t, None, left()).await?;
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
        let Some(c) = &t.creds else {
            return Err((
                FailureKind::AuthFailed,
                "401: the camera wants credentials and none are configured".into(),
            ));
        };
        let challenge = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let mut pc = http_auth::PasswordClient::try_from(challenge.as_str()).map_err(|e| {
            (
                FailureKind::MalformedReply,
                format!("401 with an unusable challenge: {e}"),
            )
        })?;
        let path = match t.url.query() {
            Some(q) => format!("{}?{q}", t.url.path()),
            None => t.url.path().to_string(),
        };
        let auth = pc
            .respond(&http_auth::PasswordParams {
                username: &c.username,
                password: &c.password,
                uri: &path,
                method: "GET",
                body: Some(&[]),
            })
            .map_err(|e| {
                (
                    FailureKind::MalformedReply,
                    format!("cannot answer the challenge: {e}"),
                )
            })?;
        resp = get(client, t, Some(auth), left()).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err((
                FailureKind::AuthFailed,
                "401 after sending credentials (wrong user or password)".into(),
            ));
        }
    }
    o.steps.push(StepTiming {
        step: "response".into(),
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    });
    let status = resp.status();
    if !status.is_success() {
        return Err((FailureKind::HttpStatus, format!("HTTP {status}")));
    }
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let t1 = Instant::now();
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(left(), resp.chunk()).await {
            Ok(Ok(Some(c))) => {
                if body.len() + c.len() > opts.max_bytes {
                    return Err((
                        FailureKind::BadImage,
                        format!("body larger than {} bytes", opts.max_bytes),
                    ));
                }
                body.extend_from_slice(&c);
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                return Err((
                    FailureKind::MalformedReply,
                    format!("body: {}", e.without_url()),
                ));
            }
            Err(_) => {
                return Err((
                    FailureKind::NoAnswer,
                    format!("body incomplete after {} bytes at the deadline", body.len()),
                ));
            }
        }
    }
    o.steps.push(StepTiming {
        step: "body".into(),
        elapsed_ms: t1.elapsed().as_secs_f64() * 1000.0,
    });
    if !body.starts_with(&[0xFF, 0xD8]) {
        return Err((
            FailureKind::BadImage,
            format!("not a JPEG (content-type {ctype:?}, {} bytes)", body.len()),
        ));
    }
    if !body.ends_with(&[0xFF, 0xD9]) {
        return Err((
            FailureKind::BadImage,
            format!("truncated JPEG ({} bytes, no end marker)", body.len()),
        ));
    }
    o.facts.push(("jpeg_bytes".into(), body.len().to_string()));
    o.detail = format!("JPEG of {} bytes", body.len());
    o.frame = Some(Frame::Jpeg(body.into()));
    Ok(())
}
