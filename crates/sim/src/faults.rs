//! Faults over time: what goes wrong with which simulated device, when. A schedule is a list of
//! fault spans in simulated seconds from the fleet's start, either read from a TOML file or drawn
//! from a preset mix with a seed (same seed, same schedule, same truth file).
//!
//! The truth file (`--truth-out`) lists every fault interval per affected channel, with the
//! effect it has on a monitor that is working correctly: `offline` (unusable), `degraded`
//! (streams, but the picture is faulty) or `none` (slow but inside deadlines, clock drift).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use camwatch_core::error::{Error, Result};
use camwatch_synth::picture::PictureFault;

/// How a reply is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformation {
    /// Random bytes instead of an RTSP reply.
    Garbage,
    /// The reply stops mid-header and the connection closes.
    Truncated,
    /// A well-formed reply with another request's CSeq.
    WrongCseq,
    /// A 1 MiB header line.
    HugeHeader,
    /// A Content-Length that is never reached, body bytes dripping forever.
    EndlessBody,
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Nothing listens: connections are refused.
    Offline,
    /// Connections are accepted and never answered.
    BlackHole,
    /// Every reply waits this long (real time: networks do not run on the demo's clock).
    Slow {
        ms: u32,
    },
    /// Offline for half of each period, up for the other half.
    Flapping {
        period_sec: u32,
    },
    /// The password was changed on the device: every request gets 401.
    AuthFailure,
    /// DESCRIBE answers with this status (404, 454, 503).
    RtspStatus(u16),
    /// PLAY succeeds but no media follows.
    NoMedia,
    Malformed(Malformation),
    /// The device clock is off by this many minutes (ONVIF GetSystemDateAndTime).
    ClockDrift {
        minutes: i32,
    },
    Picture(PictureFault),
    /// The NVR (a host) is down: it and all its channels refuse connections.
    NvrDown,
    /// A switch failure: every host of a region refuses connections.
    RegionDown,
}

/// What a working monitor should conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Offline,
    Degraded,
    None,
}

impl FaultKind {
    pub fn name(self) -> String {
        match self {
            Self::Offline => "offline".into(),
            Self::BlackHole => "black_hole".into(),
            Self::Slow { .. } => "slow".into(),
            Self::Flapping { .. } => "flapping".into(),
            Self::AuthFailure => "auth_failure".into(),
            Self::RtspStatus(s) => format!("rtsp_{s}"),
            Self::NoMedia => "no_media".into(),
            Self::Malformed(m) => match m {
                Malformation::Garbage => "garbage",
                Malformation::Truncated => "truncated",
                Malformation::WrongCseq => "wrong_cseq",
                Malformation::HugeHeader => "huge_header",
                Malformation::EndlessBody => "endless_body",
            }
            .into(),
            Self::ClockDrift { .. } => "clock_drift".into(),
            Self::Picture(p) => p.as_str().into(),
            Self::NvrDown => "nvr_down".into(),
            Self::RegionDown => "region_down".into(),
        }
    }

    pub fn effect(self) -> Effect {
        match self {
            Self::Slow { .. } | Self::ClockDrift { .. } => Effect::None,
            // The stream negotiates but shows nothing: reachable, useless — a picture fault
            // (the monitor's picture probe finds it; DESCRIBE cannot).
            Self::Picture(_) | Self::NoMedia => Effect::Degraded,
            _ => Effect::Offline,
        }
    }

    fn parse(kind: &str, r: &RawFault) -> std::result::Result<Self, String> {
        Ok(match kind {
            "offline" => Self::Offline,
            "black_hole" => Self::BlackHole,
            "slow" => Self::Slow {
                ms: (r.seconds.unwrap_or(2.0) * 1000.0)
                    .round()
                    .clamp(0.0, 600_000.0) as u32,
            },
            "flapping" => Self::Flapping {
                period_sec: match &r.period {
                    Some(p) => parse_duration(p)? as u32,
                    None => 600,
                },
            },
            "auth_failure" => Self::AuthFailure,
            "rtsp_404" => Self::RtspStatus(404),
            "rtsp_454" => Self::RtspStatus(454),
            "rtsp_503" => Self::RtspStatus(503),
            "no_media" => Self::NoMedia,
            "garbage" => Self::Malformed(Malformation::Garbage),
            "truncated" => Self::Malformed(Malformation::Truncated),
            "wrong_cseq" => Self::Malformed(Malformation::WrongCseq),
            "huge_header" => Self::Malformed(Malformation::HugeHeader),
            "endless_body" => Self::Malformed(Malformation::EndlessBody),
            "clock_drift" => Self::ClockDrift {
                minutes: r.minutes.unwrap_or(30),
            },
            "nvr_down" => Self::NvrDown,
            "region_down" => Self::RegionDown,
            other => match PictureFault::ALL.iter().find(|p| p.as_str() == other) {
                Some(p) => Self::Picture(*p),
                None => return Err(format!("unknown fault kind {other:?}")),
            },
        })
    }
}

/// What a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A channel, by index in the fleet's device list.
    Device(usize),
    /// A host (camera or NVR), by host index.
    Host(usize),
    /// Every host whose region (civil code) starts with this.
    Region(String),
}

/// A fault in force over `[start_sec, end_sec)` of simulated time since the fleet started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpan {
    pub scope: Scope,
    pub kind: FaultKind,
    pub start_sec: i64,
    pub end_sec: i64,
}

/// Named fault mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// No faults.
    None,
    /// What a city fleet looks like: a few percent with outages short and long, some black
    /// holes, changed passwords, flapping, slow devices, picture faults, an NVR down now and then.
    #[default]
    Realistic,
    /// Several times the realistic rates, plus a region-wide switch failure.
    Heavy,
    /// Realistic, plus an opening act for `demo`: 1 % of the channels (at least ten) show a
    /// picture fault from the start, every kind in turn, for a day or more, so a short run
    /// shows picture diagnosis at work.
    Demo,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "realistic" => Ok(Self::Realistic),
            "heavy" => Ok(Self::Heavy),
            "demo" => Ok(Self::Demo),
            o => Err(format!(
                "unknown fault mix {o:?} (expected none, realistic, heavy or demo)"
            )),
        }
    }
}

/// `30s`, `10m`, `2h`, `3d` → seconds.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 10m, 2h or 3d"))?;
    let mul = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?} is not a duration like 30s, 10m, 2h or 3d")),
    };
    Ok(n * mul)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default)]
    fault: Vec<RawFault>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    device: Option<String>,
    nvr: Option<String>,
    region: Option<String>,
    kind: String,
    start: String,
    duration: String,
    seconds: Option<f64>,
    period: Option<String>,
    minutes: Option<i32>,
}

/// Resolves codes in a schedule file to the fleet's indexes.
pub struct Lookup<'a> {
    pub device_index: &'a HashMap<String, usize>,
    pub host_index: &'a HashMap<String, usize>,
}

/// Parses a TOML schedule: `[[fault]]` tables with `device`, `nvr` or `region`, `kind`,
/// `start` and `duration` (relative: `10m`, `2h`), and `seconds` (slow), `period` (flapping),
/// `minutes` (clock drift).
pub fn parse_schedule(text: &str, origin: &str, l: &Lookup<'_>) -> Result<Vec<FaultSpan>> {
    let raw: RawSchedule =
        toml::from_str(text).map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
    let mut out = Vec::new();
    for (i, f) in raw.fault.iter().enumerate() {
        let at = |what: &str| format!("{origin}: fault {}: {what}", i + 1);
        let kind = FaultKind::parse(&f.kind, f).map_err(|e| Error::invalid(at(&e)))?;
        let scope = match (&f.device, &f.nvr, &f.region) {
            (Some(d), None, None) => {
                Scope::Device(*l.device_index.get(d).ok_or_else(|| {
                    Error::invalid(at(&format!("device {d} is not in the fleet")))
                })?)
            }
            (None, Some(n), None) => Scope::Host(
                *l.host_index
                    .get(n)
                    .ok_or_else(|| Error::invalid(at(&format!("nvr {n} is not in the fleet"))))?,
            ),
            (None, None, Some(r)) => Scope::Region(r.clone()),
            _ => {
                return Err(Error::invalid(at(
                    "give exactly one of device, nvr and region",
                )));
            }
        };
        let start_sec = parse_duration(&f.start).map_err(|e| Error::invalid(at(&e)))?;
        let dur = parse_duration(&f.duration).map_err(|e| Error::invalid(at(&e)))?;
        if dur <= 0 {
            return Err(Error::invalid(at("duration must be positive")));
        }
        out.push(FaultSpan {
            scope,
            kind,
            start_sec,
            end_sec: start_sec + dur,
        });
    }
    Ok(out)
}

/// splitmix64: deterministic for a seed.
pub(crate) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `p_per_mille`/1000.
    pub fn chance(&mut self, p_per_mille: u64) -> bool {
        self.below(1000) < p_per_mille
    }
}

/// Draws a schedule over `horizon_sec` for `channels` channels (index, host) and `nvr_hosts`.
pub fn preset_schedule(
    preset: Preset,
    seed: u64,
    channels: &[(usize, usize)],
    nvr_hosts: &[usize],
    regions: &[String],
    horizon_sec: i64,
) -> Vec<FaultSpan> {
    let scale = match preset {
        Preset::None => return Vec::new(),
        Preset::Realistic | Preset::Demo => 1,
        Preset::Heavy => 4,
    };
    let mut r = Rng(seed ^ 0xC0FF_EE00_D15E_A5E5);
    let mut out = Vec::new();
    let mut span = |scope: Scope, kind: FaultKind, r: &mut Rng, min: i64, max: i64| {
        // A fault never outlives the horizon: the truth file must describe only simulated time.
        let dur = (min + r.below((max - min).max(1) as u64) as i64).min(horizon_sec);
        let start = r.below((horizon_sec - dur).max(1) as u64) as i64;
        out.push(FaultSpan {
            scope,
            kind,
            start_sec: start,
            end_sec: start + dur,
        });
    };
    for &(i, _host) in channels {
        let d = Scope::Device(i);
        if r.chance(100 * scale) {
            for _ in 0..1 + r.below(3) {
                let kind = if r.chance(800) {
                    FaultKind::Offline
                } else {
                    FaultKind::BlackHole
                };
                span(d.clone(), kind, &mut r, 600, 4 * 3600);
            }
        }
        if r.chance(20 * scale) {
            span(
                d.clone(),
                FaultKind::Offline,
                &mut r,
                2 * 86_400,
                20 * 86_400,
            );
        }
        if r.chance(10 * scale) {
            span(
                d.clone(),
                FaultKind::AuthFailure,
                &mut r,
                86_400,
                3 * 86_400,
            );
        }
        if r.chance(10 * scale) {
            span(
                d.clone(),
                FaultKind::Flapping { period_sec: 1200 },
                &mut r,
                3 * 3600,
                6 * 3600,
            );
        }
        if r.chance(10 * scale) {
            span(d.clone(), FaultKind::Slow { ms: 700 }, &mut r, 3600, 86_400);
        }
        if r.chance(30 * scale) {
            let p = PictureFault::ALL[r.below(PictureFault::ALL.len() as u64) as usize];
            span(d.clone(), FaultKind::Picture(p), &mut r, 86_400, 3 * 86_400);
        }
    }
    for &h in nvr_hosts {
        if r.chance(50 * scale) {
            span(Scope::Host(h), FaultKind::NvrDown, &mut r, 3600, 8 * 3600);
        }
    }
    if preset == Preset::Heavy && !regions.is_empty() {
        let reg = regions[r.below(regions.len() as u64) as usize].clone();
        span(
            Scope::Region(reg),
            FaultKind::RegionDown,
            &mut r,
            3600,
            3 * 3600,
        );
    }
    let mut opening = Vec::new();
    if preset == Preset::Demo {
        // Drawn apart from the realistic mix, which stays as it is for the same seed.
        let mut r = Rng(seed ^ 0xDE40_0000_0000_0001);
        let n = (channels.len() / 100).max(10).min(channels.len());
        let step = (channels.len() / n.max(1)).max(1);
        for (k, &(i, _)) in channels.iter().step_by(step).take(n).enumerate() {
            let p = PictureFault::ALL[k % PictureFault::ALL.len()];
            let dur = (86_400 + r.below(2 * 86_400) as i64).min(horizon_sec);
            opening.push(FaultSpan {
                scope: Scope::Device(i),
                kind: FaultKind::Picture(p),
                start_sec: 0,
                end_sec: dur,
            });
        }
    }
    out.extend(opening);
    out
}

/// One line of the truth file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthInterval {
    pub device: String,
    pub fault: String,
    pub effect: Effect,
    /// Unix seconds (simulated clock).
    pub start: i64,
    pub end: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("3d"), Ok(259_200));
        assert!(parse_duration("2 weeks").is_err());
    }

    #[test]
    fn schedule_file_errors_are_precise() {
        let devices = HashMap::from([("34010400001320000001".to_string(), 0)]);
        let hosts = HashMap::new();
        let l = Lookup {
            device_index: &devices,
            host_index: &hosts,
        };
        let ok = parse_schedule(
            "[[fault]]\ndevice = \"34010400001320000001\"\nkind = \"slow\"\nstart = \"10m\"\nduration = \"2h\"\nseconds = 3\n",
            "f.toml",
            &l,
        )
        .unwrap();
        assert_eq!(ok[0].kind, FaultKind::Slow { ms: 3000 });
        assert_eq!((ok[0].start_sec, ok[0].end_sec), (600, 7800));
        let e = parse_schedule(
            "[[fault]]\ndevice = \"34010400001320000001\"\nkind = \"exploded\"\nstart = \"1m\"\nduration = \"1m\"\n",
            "f.toml",
            &l,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("f.toml: fault 1: unknown fault kind \"exploded\""),
            "{e}"
        );
        let e = parse_schedule("[[fault]]\ndevise = \"x\"\n", "f.toml", &l)
            .unwrap_err()
            .to_string();
        assert!(e.contains("devise"), "{e}");
    }

    #[test]
    fn the_demo_mix_is_the_realistic_one_with_every_picture_fault_from_the_start() {
        let ch: Vec<(usize, usize)> = (0..2000).map(|i| (i, i)).collect();
        let real = preset_schedule(Preset::Realistic, 7, &ch, &[1, 2, 3], &[], 7 * 86_400);
        let demo = preset_schedule(Preset::Demo, 7, &ch, &[1, 2, 3], &[], 7 * 86_400);
        let extra: Vec<&FaultSpan> = demo.iter().filter(|f| !real.contains(f)).collect();
        assert_eq!(demo.len(), real.len() + 20);
        assert_eq!(extra.len(), 20);
        for p in PictureFault::ALL {
            assert!(
                extra.iter().any(|f| f.kind == FaultKind::Picture(p)
                    && f.start_sec == 0
                    && f.end_sec >= 86_400),
                "{p:?}"
            );
        }
    }

    #[test]
    fn presets_are_deterministic() {
        let ch: Vec<(usize, usize)> = (0..2000).map(|i| (i, i)).collect();
        let a = preset_schedule(Preset::Realistic, 7, &ch, &[1, 2, 3], &[], 7 * 86_400);
        let b = preset_schedule(Preset::Realistic, 7, &ch, &[1, 2, 3], &[], 7 * 86_400);
        assert_eq!(a, b);
        assert!(a.len() > 100, "{}", a.len());
        assert!(
            a.iter()
                .all(|f| f.start_sec >= 0 && f.end_sec <= 7 * 86_400 && f.end_sec > f.start_sec)
        );
    }
}
