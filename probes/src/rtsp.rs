//! RTSP probe with `retina`: DESCRIBE (codec, resolution, frame rate from the SDP), optionally
//! SETUP + PLAY to the first keyframe (time to first frame, the keyframe itself), then TEARDOWN.
//!
//! retina has no timeouts of its own: every step runs under the probe's deadline here. When a
//! DESCRIBE gets no reply in time, a separate TCP connect tells a black hole (accepts, never
//! answers) from an unreachable host. retina's error type exposes only the RTSP status code;
//! other failures are classified from its message prefix (its `Display` is stable per variant).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use retina::client::{
    PlayOptions, Session, SessionGroup, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport, UdpTransportOptions,
};
use retina::codec::{CodecItem, ParametersRef};
use url::Url;

use crate::creds::Credentials;
use crate::outcome::{FailureKind, Frame, ProbeKind, ProbeOutcome, StepTiming};

/// RTP transport to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtpTransport {
    #[default]
    Tcp,
    Udp,
}

impl std::str::FromStr for RtpTransport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            o => Err(format!("unknown RTP transport {o:?} (expected tcp or udp)")),
        }
    }
}

/// How far to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// DESCRIBE only: cheap liveness.
    #[default]
    Describe,
    /// Through PLAY to the first keyframe.
    FirstFrame,
}

#[derive(Debug, Clone)]
pub struct RtspTarget {
    /// `rtsp://host[:port]/path`, without credentials.
    pub url: Url,
    pub creds: Option<Credentials>,
}

#[derive(Clone)]
pub struct RtspOptions {
    pub depth: Depth,
    pub transport: RtpTransport,
    /// For the whole probe, all steps included.
    pub deadline: Duration,
    /// One group per host lets retina track stale sessions of that camera.
    pub session_group: Option<Arc<SessionGroup>>,
    /// Return the keyframe (as Annex B with parameter sets) in the outcome.
    pub keep_frame: bool,
    /// After the first keyframe, keep reading this long to measure frame rate, bitrate and
    /// RTP loss (zero: stop at the keyframe). Cut short by the deadline.
    pub measure_window: Duration,
    /// The `User-Agent` of every request: a camera's log (or the simulator's) can tell which
    /// camwatch node asked.
    pub user_agent: String,
}

impl std::fmt::Debug for RtspOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspOptions")
            .field("depth", &self.depth)
            .field("transport", &self.transport)
            .field("deadline", &self.deadline)
            .field("session_group", &self.session_group.is_some())
            .field("measure_window", &self.measure_window)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

impl Default for RtspOptions {
    fn default() -> Self {
        Self {
            depth: Depth::Describe,
            transport: RtpTransport::Tcp,
            deadline: Duration::from_secs(10),
            session_group: None,
            keep_frame: false,
            measure_window: Duration::ZERO,
            user_agent: "camwatch".into(),
        }
    }
}

/// Classifies a retina error.
fn classify(e: &retina::Error) -> FailureKind {
    if let Some(code) = e.status_code() {
        return match code {
            401 | 403 => FailureKind::AuthFailed,
            404 | 454 => FailureKind::StreamNotFound,
            // A success status whose reply retina could not use (bad SDP, missing headers).
            200..=299 => FailureKind::MalformedReply,
            _ => FailureKind::RtspStatus,
        };
    }
    let s = e.to_string();
    if let Some(rest) = s.strip_prefix("Unable to connect to RTSP server: ") {
        let rest = rest.to_ascii_lowercase();
        if rest.contains("refused") {
            FailureKind::ConnectionRefused
        } else if rest.contains("timed out") {
            FailureKind::ConnectTimeout
        } else if rest.contains("unreachable")
            || rest.contains("resolve")
            || rest.contains("lookup")
        {
            FailureKind::DnsOrRoute
        } else {
            FailureKind::Io
        }
    } else if s.starts_with("RTSP framing error") || s.starts_with("Unsupported") {
        FailureKind::MalformedReply
    } else if s.starts_with("Error reading from RTSP peer") {
        // EOF or reset mid-reply: the peer broke the exchange (truncated reply included).
        FailureKind::MalformedReply
    } else {
        FailureKind::Io
    }
}

/// The first line of retina's message (the rest is connection context for Wireshark).
fn first_line(e: &retina::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn step(o: &mut ProbeOutcome, name: &str, since: Instant) {
    o.steps.push(StepTiming {
        step: name.into(),
        elapsed_ms: since.elapsed().as_secs_f64() * 1000.0,
    });
}

/// What a silent DESCRIBE means: nothing listening in time, or a peer that accepts and says
/// nothing.
async fn silent_peer(url: &Url, budget: Duration) -> (FailureKind, String) {
    let host = url.host_str().unwrap_or_default();
    let port = url.port().unwrap_or(554);
    let addr = match tokio::net::lookup_host((host, port)).await {
        Ok(mut a) => match a.next() {
            Some(a) => a,
            None => return (FailureKind::DnsOrRoute, format!("{host}: no address")),
        },
        Err(e) => return (FailureKind::DnsOrRoute, format!("{host}: {e}")),
    };
    match crate::tcp::connect(addr, budget).await {
        Ok(_) => (
            FailureKind::NoAnswer,
            format!("{addr} accepts connections but did not answer DESCRIBE"),
        ),
        Err(x) => x,
    }
}

/// The NAL unit at `*i` with a 2-byte length before it; moves `*i` past it.
fn length_prefixed<'a>(params: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    let len = params.get(*i..*i + 2)?;
    let n = u16::from_be_bytes([len[0], len[1]]) as usize;
    let nal = params.get(*i + 2..*i + 2 + n)?;
    *i += 2 + n;
    Some(nal)
}

/// Parameter sets from an avcC record (H.264): SPS then PPS, with 2-byte lengths.
fn avcc_sets(params: &[u8]) -> Vec<&[u8]> {
    let mut sets = Vec::new();
    let Some(&nsps) = params.get(5) else {
        return sets;
    };
    let mut i = 6;
    for _ in 0..(nsps & 0x1f) {
        sets.extend(length_prefixed(params, &mut i));
    }
    if let Some(&npps) = params.get(i) {
        i += 1;
        for _ in 0..npps {
            sets.extend(length_prefixed(params, &mut i));
        }
    }
    sets
}

/// Parameter sets from an hvcC record (H.265, ISO/IEC 14496-15 8.3.3): after 22 bytes of
/// fields, arrays of NAL units (VPS, SPS, PPS, SEI) with 2-byte counts and lengths.
fn hvcc_sets(params: &[u8]) -> Vec<&[u8]> {
    let mut sets = Vec::new();
    let Some(&arrays) = params.get(22) else {
        return sets;
    };
    let mut i = 23;
    for _ in 0..arrays {
        let Some(h) = params.get(i..i + 3) else { break };
        let count = u16::from_be_bytes([h[1], h[2]]);
        i += 3;
        for _ in 0..count {
            match length_prefixed(params, &mut i) {
                Some(nal) => sets.push(nal),
                None => return sets,
            }
        }
    }
    sets
}

/// One access unit in Annex B form: the parameter sets, then the frame's NAL units (which
/// retina gives with 4-byte lengths).
fn annex_b(sets: &[&[u8]], frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + sets.iter().map(|s| s.len() + 4).sum::<usize>());
    for s in sets {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(s);
    }
    let mut i = 0;
    while i + 4 <= frame.len() {
        let n = u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]) as usize;
        i += 4;
        let end = (i + n).min(frame.len());
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&frame[i..end]);
        i = end;
    }
    out
}

/// One RTSP probe of `t`.
pub async fn probe(t: &RtspTarget, opts: &RtspOptions) -> ProbeOutcome {
    let started = Instant::now();
    let deadline = started + opts.deadline;
    let mut o = ProbeOutcome::up(ProbeKind::Rtsp);
    let r = run(t, opts, deadline, &mut o).await;
    if let Err((kind, detail)) = r {
        let mut d = ProbeOutcome::down(ProbeKind::Rtsp, kind, detail);
        d.steps = std::mem::take(&mut o.steps);
        d.facts = std::mem::take(&mut o.facts);
        o = d;
    }
    o.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    o
}

async fn run(
    t: &RtspTarget,
    opts: &RtspOptions,
    deadline: Instant,
    o: &mut ProbeOutcome,
) -> Result<(), (FailureKind, String)> {
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut so = SessionOptions::default()
        .creds(t.creds.as_ref().map(|c| retina::client::Credentials {
            username: c.username.clone(),
            password: c.password.clone(),
        }))
        .user_agent(opts.user_agent.clone());
    if let Some(g) = &opts.session_group {
        so = so.session_group(g.clone());
    }
    let t0 = Instant::now();
    // Leave a slice of the budget to tell a black hole from an unreachable host.
    let describe_budget = left().mul_f32(0.8);
    let mut session =
        match tokio::time::timeout(describe_budget, Session::describe(t.url.clone(), so)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err((classify(&e), first_line(&e))),
            Err(_) => return Err(silent_peer(&t.url, left().max(Duration::from_millis(200))).await),
        };
    step(o, "DESCRIBE", t0);
    let video = session
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .ok_or((
            FailureKind::NoMedia,
            "the SDP describes no video stream".to_string(),
        ))?;
    {
        let s = &session.streams()[video];
        o.facts
            .push(("codec".into(), s.encoding_name().to_string()));
        if let Some(f) = s.framerate() {
            o.facts.push(("sdp_fps".into(), format!("{f}")));
        }
        if let Some(ParametersRef::Video(v)) = s.parameters() {
            let (w, h) = v.pixel_dimensions();
            o.facts.push(("resolution".into(), format!("{w}x{h}")));
            o.facts
                .push(("profile".into(), v.rfc6381_codec().to_string()));
        }
    }
    if opts.depth == Depth::Describe {
        o.detail = format!("DESCRIBE ok: {}", fact_line(o));
        return Ok(());
    }
    let transport = match opts.transport {
        RtpTransport::Tcp => Transport::Tcp(TcpTransportOptions::default()),
        RtpTransport::Udp => Transport::Udp(UdpTransportOptions::default()),
    };
    let t1 = Instant::now();
    match tokio::time::timeout(
        left(),
        session.setup(video, SetupOptions::default().transport(transport)),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err((classify(&e), format!("SETUP: {}", first_line(&e)))),
        Err(_) => return Err((FailureKind::NoAnswer, "no answer to SETUP".into())),
    }
    step(o, "SETUP", t1);
    let t2 = Instant::now();
    let playing = match tokio::time::timeout(left(), session.play(PlayOptions::default())).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err((classify(&e), format!("PLAY: {}", first_line(&e)))),
        Err(_) => return Err((FailureKind::NoAnswer, "no answer to PLAY".into())),
    };
    step(o, "PLAY", t2);
    let mut demuxed = playing
        .demuxed()
        .map_err(|e| (FailureKind::MalformedReply, first_line(&e)))?;
    let t3 = Instant::now();
    let first = tokio::time::timeout(left(), async {
        let mut frames = 0u32;
        let mut lost = 0u64;
        while let Some(item) = demuxed.next().await {
            match item {
                Ok(CodecItem::VideoFrame(f)) => {
                    frames += 1;
                    lost += u64::from(f.loss());
                    if f.is_random_access_point() {
                        return Ok((f, frames, lost));
                    }
                }
                Ok(_) => {}
                Err(e) => return Err((FailureKind::MalformedReply, first_line(&e))),
            }
        }
        Err((
            FailureKind::NoMedia,
            "the stream ended before a keyframe".to_string(),
        ))
    })
    .await;
    let (frame, frames, lost) = match first {
        Ok(r) => r?,
        Err(_) => {
            return Err((
                FailureKind::NoMedia,
                format!(
                    "PLAY accepted but no keyframe within {} ms",
                    t3.elapsed().as_millis()
                ),
            ));
        }
    };
    step(o, "first_keyframe", t3);
    o.facts
        .push(("frames_before_keyframe".into(), frames.to_string()));
    if lost > 0 {
        o.facts.push(("rtp_packets_lost".into(), lost.to_string()));
    }
    if let Some(ParametersRef::Video(v)) = demuxed.streams()[video].parameters() {
        let (w, h) = v.pixel_dimensions();
        if !o.facts.iter().any(|(k, _)| k == "resolution") {
            o.facts.push(("resolution".into(), format!("{w}x{h}")));
        }
        if opts.keep_frame {
            let h265 = demuxed.streams()[video].encoding_name() == "h265";
            o.frame = Some(if h265 {
                Frame::H265(annex_b(&hvcc_sets(v.extra_data()), frame.data()).into())
            } else {
                Frame::H264(annex_b(&avcc_sets(v.extra_data()), frame.data()).into())
            });
        }
    }
    let first_ms = t3.elapsed().as_secs_f64() * 1000.0;
    let window = opts.measure_window.min(left());
    let mut slow = None;
    if !window.is_zero() {
        let t4 = Instant::now();
        let (mut n, mut bytes, mut lost_w) = (0u64, frame.data().len() as u64, 0u64);
        let _ = tokio::time::timeout(window, async {
            while let Some(Ok(item)) = demuxed.next().await {
                if let CodecItem::VideoFrame(f) = item {
                    n += 1;
                    bytes += f.data().len() as u64;
                    lost_w += u64::from(f.loss());
                }
            }
        })
        .await;
        let secs = t4.elapsed().as_secs_f64().max(1e-3);
        let fps = n as f64 / secs;
        o.facts.push(("measured_fps".into(), format!("{fps:.1}")));
        o.facts.push((
            "bitrate_kbps".into(),
            format!("{:.0}", bytes as f64 * 8.0 / secs / 1000.0),
        ));
        o.facts
            .push(("rtp_packets_lost_in_window".into(), lost_w.to_string()));
        step(o, "measure_window", t4);
        // A stream delivering under half its advertised rate is alive but not usable.
        let advertised = o
            .facts
            .iter()
            .find(|(k, _)| k == "sdp_fps")
            .and_then(|(_, v)| v.parse::<f64>().ok());
        if let Some(a) = advertised.filter(|a| *a > 0.0 && fps < a / 2.0) {
            slow = Some(format!("slow stream: {fps:.1} fps of {a} advertised"));
        }
    }
    o.detail = format!("first keyframe after {first_ms:.0} ms: {}", fact_line(o));
    if let Some(s) = slow {
        o.status = crate::outcome::ProbeStatus::Degraded;
        o.detail = format!("{s}; {}", o.detail);
    }
    // Dropping the session tears it down (retina's default policy sends TEARDOWN when needed).
    Ok(())
}

fn fact_line(o: &ProbeOutcome) -> String {
    o.facts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
