//! `camwatch probe URL|CODE`: every applicable probe once, with a readable diagnosis — each
//! step and its time, the failure kind and the server's own words. The "why is it red?" tool.
//!
//! Exit status: 0 when every probe found the target up, 4 when one found it down or degraded,
//! 1 on an error of camwatch's own (bad argument, database unavailable).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use camwatch_probes::onvif::{OnvifOptions, OnvifTarget};
use camwatch_probes::rtsp::{Depth, RtpTransport, RtspOptions, RtspTarget};
use camwatch_probes::snapshot::{SnapshotOptions, SnapshotTarget};
use camwatch_probes::{Credentials, ProbeOutcome, ProbeStatus, Url};
use clap::Args;

mod sip;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::DeviceCode;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A device code from the register, or rtsp://…, http(s)://…/onvif/device_service (ONVIF),
    /// http(s)://… (snapshot) or tcp://HOST:PORT.
    pub target: String,
    /// Username for a URL target (a register device uses its own).
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the password for a URL target (never on the command line,
    /// where `ps` and shell history would show it).
    #[arg(long, default_value = "CAMWATCH_PROBE_PASSWORD")]
    pub password_env: String,
    /// Hard deadline of each probe, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub deadline: f64,
    /// RTP transport for RTSP: tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub transport: RtpTransport,
    /// One JSON array of outcomes on stdout.
    #[arg(long)]
    pub json: bool,
    /// The running node's API (`http(s)://HOST:PORT`), asked about a GB/T 28181 device (one
    /// without an address of its own); default: the config's `[api] listen`.
    #[arg(long)]
    pub api: Option<String>,
    /// Environment variable holding an API token for `--api` (`camwatch user token issue`).
    #[arg(long, default_value = "CAMWATCH_API_TOKEN")]
    pub token_env: String,
}

enum Step {
    /// A GB/T 28181 device: ask the running node what its platform knows (`sip`).
    Sip(DeviceCode),
    Tcp(SocketAddr),
    Rtsp(RtspTarget),
    Snapshot(SnapshotTarget),
    Onvif(OnvifTarget),
}

impl Step {
    fn label(&self) -> String {
        match self {
            Step::Sip(c) => format!("sip {c}"),
            Step::Tcp(a) => format!("tcp {a}"),
            Step::Rtsp(t) => format!("rtsp {}", t.url),
            Step::Snapshot(t) => format!("snapshot {}", t.url),
            Step::Onvif(t) => format!("onvif {}", t.device_url),
        }
    }
}

fn url_without_creds(s: &str) -> Result<Url> {
    let u = Url::parse(s).map_err(|e| Error::invalid(format!("{s}: not a URL: {e}")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::invalid(format!(
            "{}: credentials inside the URL are refused; use --user and the {} variable",
            u.host_str().unwrap_or("URL"),
            "password environment"
        )));
    }
    Ok(u)
}

async fn steps_for(g: &GlobalArgs, a: &ProbeArgs) -> Result<(String, Vec<Step>)> {
    if let Ok(code) = a.target.parse::<DeviceCode>() {
        let ctx = g.context().await?;
        let (d, parent, creds) = ctx.device_with_creds(&code).await?;
        let mut steps = Vec::new();
        let ip = d.ip.or(parent.as_ref().and_then(|p| p.ip));
        let rtsp_port = d
            .rtsp_port
            .or(parent.as_ref().and_then(|p| p.rtsp_port))
            .unwrap_or(554);
        if let Some(ip) = ip {
            steps.push(Step::Tcp(SocketAddr::new(ip, rtsp_port)));
        }
        for u in d.stream_urls.iter().take(1) {
            steps.push(Step::Rtsp(RtspTarget {
                url: url_without_creds(u)?,
                creds: creds.clone(),
            }));
        }
        if let Some(u) = &d.snapshot_url {
            steps.push(Step::Snapshot(SnapshotTarget {
                url: url_without_creds(u)?,
                creds: creds.clone(),
            }));
        }
        if let Some(u) = &d.onvif_url {
            steps.push(Step::Onvif(OnvifTarget {
                device_url: url_without_creds(u)?,
                creds: creds.clone(),
            }));
        }
        if steps.is_empty() {
            if !ctx.config.gb28181.enabled {
                return Err(Error::invalid(format!(
                    "{code}: the register has no address, stream URL or snapshot URL for it \
                     (and [gb28181] is not enabled, so no platform knows it either)"
                )));
            }
            // A GB/T 28181 device, NVR or channel: only the node's platform knows it.
            steps.push(Step::Sip(code));
        }
        return Ok((format!("{code} {}", d.name), steps));
    }
    let creds = a.user.as_ref().map(|u| Credentials {
        username: u.clone(),
        password: std::env::var(&a.password_env).unwrap_or_default(),
    });
    let t = &a.target;
    let step = if let Some(rest) = t.strip_prefix("tcp://") {
        let addr = tokio::net::lookup_host(rest.trim_end_matches('/'))
            .await
            .map_err(|e| Error::invalid(format!("{t}: {e}")))?
            .next()
            .ok_or_else(|| Error::invalid(format!("{t}: no address")))?;
        Step::Tcp(addr)
    } else if t.starts_with("rtsp://") {
        Step::Rtsp(RtspTarget {
            url: url_without_creds(t)?,
            creds,
        })
    } else if (t.starts_with("http://") || t.starts_with("https://")) && t.contains("/onvif/") {
        Step::Onvif(OnvifTarget {
            device_url: url_without_creds(t)?,
            creds,
        })
    } else if t.starts_with("http://") || t.starts_with("https://") {
        Step::Snapshot(SnapshotTarget {
            url: url_without_creds(t)?,
            creds,
        })
    } else {
        return Err(Error::invalid(format!(
            "{t}: expected a 20-digit device code or an rtsp://, http(s):// or tcp:// URL"
        )));
    };
    Ok((t.clone(), vec![step]))
}

pub async fn run(g: &GlobalArgs, a: &ProbeArgs) -> Result<ExitCode> {
    if !(a.deadline > 0.0 && a.deadline <= 300.0) {
        return Err(Error::invalid("--deadline must be in (0, 300] seconds"));
    }
    let deadline = Duration::from_secs_f64(a.deadline);
    let (title, steps) = steps_for(g, a).await?;
    let mut outcomes: Vec<ProbeOutcome> = Vec::new();
    let mut explained: Vec<Option<Vec<String>>> = Vec::new();
    for s in &steps {
        if let Step::Sip(code) = s {
            let (lines, o) = sip_step(g, a, code, deadline).await?;
            explained.push(Some(lines));
            outcomes.push(o);
            continue;
        }
        explained.push(None);
        let o = match s {
            Step::Sip(_) => unreachable!("handled above"),
            Step::Tcp(addr) => camwatch_probes::tcp::probe(*addr, deadline).await,
            Step::Rtsp(t) => {
                let opts = RtspOptions {
                    depth: Depth::FirstFrame,
                    transport: a.transport,
                    deadline,
                    measure_window: Duration::from_secs(2).min(deadline / 2),
                    ..Default::default()
                };
                camwatch_probes::rtsp::probe(t, &opts).await
            }
            Step::Snapshot(t) => {
                let client = camwatch_probes::snapshot::client();
                let opts = SnapshotOptions {
                    deadline,
                    ..Default::default()
                };
                camwatch_probes::snapshot::probe(&client, t, &opts).await
            }
            Step::Onvif(t) => {
                let client = camwatch_probes::snapshot::client();
                let opts = OnvifOptions {
                    deadline,
                    ..Default::default()
                };
                camwatch_probes::onvif::probe(&client, t, &opts).await
            }
        };
        outcomes.push(o);
    }
    let all_up = outcomes.iter().all(|o| o.status == ProbeStatus::Up);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcomes).map_err(|e| Error::internal(e.to_string()))?
        );
    } else {
        println!("{title}");
        for ((s, o), lines) in steps.iter().zip(&outcomes).zip(&explained) {
            match lines {
                Some(lines) => lines.iter().for_each(|l| println!("{l}")),
                None => print!("{}", describe(&s.label(), o)),
            }
        }
        println!(
            "verdict: {}",
            if all_up {
                "up".to_string()
            } else {
                outcomes
                    .iter()
                    .filter(|o| o.status != ProbeStatus::Up)
                    .map(|o| {
                        format!(
                            "{} {}",
                            o.kind.as_str(),
                            o.failure.map_or(o.status.as_str(), |f| f.as_str())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    Ok(if all_up {
        ExitCode::SUCCESS
    } else {
        super::exit::Exit::TargetDown.into()
    })
}

/// Asks the running node (`--api`, else the config's `[api] listen`) what its GB/T 28181
/// platform knows of `code`, and explains it.
async fn sip_step(
    g: &GlobalArgs,
    a: &ProbeArgs,
    code: &DeviceCode,
    deadline: Duration,
) -> Result<(Vec<String>, ProbeOutcome)> {
    let base = match &a.api {
        Some(u) => u.clone(),
        None => {
            let cfg = g.config()?;
            let listen = cfg.api.listen.trim();
            if listen.is_empty() {
                return Err(Error::invalid(format!(
                    "{code} is a GB/T 28181 device: only the running node knows its signalling, \
                     and the config has no [api] listen; pass --api http://HOST:PORT"
                )));
            }
            let scheme = if cfg.api.tls_cert.trim().is_empty() {
                "http"
            } else {
                "https"
            };
            // A wildcard listen address is reached on loopback from here.
            let host = listen
                .replace("0.0.0.0:", "127.0.0.1:")
                .replace("[::]:", "[::1]:");
            format!("{scheme}://{host}")
        }
    };
    let token = std::env::var(&a.token_env).map_err(|_| {
        Error::invalid(format!(
            "{code} is a GB/T 28181 device: asking the node at {base} needs an API token in \
             ${} (camwatch user token issue USER --name probe)",
            a.token_env
        ))
    })?;
    let started = std::time::Instant::now();
    let view = sip::ask(&base, token.trim(), code, deadline).await?;
    let (lines, mut o) = sip::explain(&view, jiff::Timestamp::now().as_second());
    o.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((lines, o))
}

/// The readable form of one outcome.
pub fn describe(label: &str, o: &ProbeOutcome) -> String {
    let mut s = format!(
        "  {label}: {} in {:.1} ms",
        o.status.as_str().to_uppercase(),
        o.elapsed_ms
    );
    if let Some(f) = o.failure {
        s += &format!(" — {}", f.as_str());
    }
    s.push('\n');
    if !o.detail.is_empty() {
        s += &format!("      {}\n", o.detail);
    }
    for st in &o.steps {
        s += &format!("      {:<22} {:>9.1} ms\n", st.step, st.elapsed_ms);
    }
    for (k, v) in &o.facts {
        s += &format!("      {k} = {v}\n");
    }
    s
}
