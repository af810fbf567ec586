//! Picture diagnostics (视频质量诊断), pure: a thumbnail, optionally the camera's previous sample
//! and its approved baseline, in; faults with scores and severities out.
//!
//! Each detector reduces the picture to one metric chosen to separate a fault from the hard
//! normal cases (night/IR greyscale, large uniform sky, vivid colours, dim scenes with content,
//! OSD text):
//! - `signal_loss`: the spread between the 10th and 90th percentile of every channel is near
//!   zero — a black, blue or grey screen; overlaid text stays above the 90th percentile. Or
//!   the picture is a colour-bar test pattern (`colour_bars`), an encoder's no-signal screen.
//! - `too_dark` / `too_bright`: mean and upper (lower) percentile of luma together, so a night
//!   scene with lit areas is not dark and a bright scene with shadows is not bright.
//! - `blur`: how wide even the crisp edges are (the 10th percentile of edge contrast over its
//!   steepest step; blur widens every edge whatever the contrast), away from the OSD rows.
//! - `noise`: Immerkær's estimate of Gaussian noise from the median of block estimates (flat
//!   blocks dominate the median, texture does not).
//! - `color_cast`: how far even the least-coloured mid-tones and highlights lean along the
//!   picture's mean chroma direction (a cast shifts every pixel one way; a neutral surface, or
//!   a vivid scene with colours on both sides, leans ~0; a greyscale picture not at all).
//! - `occlusion`: the largest connected region of textureless blocks that are not sky (bright,
//!   night-dark or blue, in the upper view), weighted by how blurred its border is (a thing at
//!   the lens is out of focus; a plain wall meets its surroundings at crisp edges). With a
//!   baseline also textured occluders (`foreign`: leaves, a hand): a region from the view's edge
//!   whose colour and brightness are no longer the baseline's.
//! - `stripes`: periodicity × amplitude of the detrended row and column mean profiles, of the
//!   luma and (halved) of the colour differences R−Y and B−Y: colour-only interference bands;
//!   or lines at a slant present alike in every part of the view (`lines`: a peak off the axes
//!   in every tile's power spectrum).
//!   With a baseline only what the baseline's profiles do not show (`bands`: a colonnade or a
//!   row of windows is periodic in the approved view too), and also rolling hum bars (`hum`):
//!   one to a few wide soft bands over the whole width, too wide to tell from the scene in the
//!   picture alone, and interference lines at any angle (`lines`: a peak of the tile-averaged
//!   power spectrum the baseline's has not got; a slanted pattern averages away in row and
//!   column profiles).
//! - `frozen` (needs the previous sample): how much the luma, averaged over 4×4 of the camera's
//!   pixels at fixed places, changed (`still`): a live sensor's noise is new in every picture,
//!   a stuck frame re-encoded changes less, whatever its OSD clock shows.
//! - `scene_change` (needs the baseline): correlation of the view's coarse structure (signed
//!   differences across a 32×24 grid, less each line's mean) with the baseline's, outside an
//!   occluder found against the baseline. It survives day/night lighting, a covered lens and
//!   bands over the view, but not a turned camera.
//!
//! With the camera's approved baseline (`Baseline`, measured once) five detectors judge what
//! changed from it instead (`metrics::VsBaseline`): `color_cast` the colour-balance shift, cell
//! by cell, beyond a change of saturation; `occlusion` only blocks that lost their texture or
//! their brightness; `blur` and `noise` beyond the baseline's own softness and fine texture;
//! `too_bright` only with the contrast washed out. A single-coloured scene, fog or a white wall
//! is so in the approved picture too. A turned camera is judged on the picture alone, its
//! colours not at all, until its new view is approved.
//!
//! A metric maps to a score in [0, 1] by a linear ramp between two configurable points; a
//! fault is raised at score ≥ 0.5; severity is mild below 2/3, moderate below 5/6, else severe.
//!
//! Without an approved baseline a finding whose cue a healthy scene shows too (a colour cast
//! other than an even one short of a vivid subject's saturation, noise that is texture rather
//! than grain, occlusion, over-exposure, noise and stripes short of their strong end, blur in
//! dim or glaring light) is a **suspect** (`Diagnosis::suspects`, `suspect`), not a fault: it is
//! listed for review with a prompt to approve the baseline, and not confirmed or counted.

mod bands;
mod fault_set;
mod foreign;
pub mod frame;
mod hum;
mod jpeg_dc;
pub mod keyframe;
mod lines;
mod metrics;
mod still;
mod suspect;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use fault_set::FaultSet;
pub use frame::{FrameError, Thumb, from_bytes, from_jpeg};
pub use keyframe::{from_annex_b, from_h264, from_h265};
pub use metrics::{Metrics, VsBaseline};
pub use still::Still;

/// The fault kinds, with the names reports and the API use.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FaultKind {
    SignalLoss,
    TooDark,
    TooBright,
    Blur,
    Noise,
    ColorCast,
    Occlusion,
    Stripes,
    Frozen,
    SceneChange,
}
crate::text_enum!(FaultKind, "fault kind");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Mild,
    Moderate,
    Severe,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub score: f64,
    pub severity: Severity,
}

/// Where a metric starts to count (score 0) and where it is certainly a fault (score 1).
/// `zero > one` for metrics where lower is worse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ramp {
    pub zero: f64,
    pub one: f64,
}

impl Ramp {
    pub const fn new(zero: f64, one: f64) -> Self {
        Self { zero, one }
    }
    pub fn score(&self, m: f64) -> f64 {
        self.position(m).clamp(0.0, 1.0)
    }
    /// Where `m` lies along the ramp, unclamped: 0 at `zero`, 1 at `one`, beyond 1 past it;
    /// 0 for a measure that is not a number or a ramp that cannot score.
    pub fn position(&self, m: f64) -> f64 {
        if !m.is_finite() || self.zero == self.one {
            return 0.0;
        }
        (m - self.zero) / (self.one - self.zero)
    }
}

/// Per-kind ramps: the fleet's in `[quality.thresholds]`, a device group's in
/// `[[scheduler.groups]] thresholds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub signal_loss: Ramp,
    pub too_dark: Ramp,
    pub too_bright: Ramp,
    pub blur: Ramp,
    pub noise: Ramp,
    pub color_cast: Ramp,
    /// `color_cast` of a camera with an approved baseline, on the colour-balance shift from it
    /// (`cast_shift`) instead of the picture's own colours.
    pub color_cast_shift: Ramp,
    pub occlusion: Ramp,
    pub stripes: Ramp,
    pub frozen: Ramp,
    pub scene_change: Ramp,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            signal_loss: Ramp::new(6.0, 1.0),
            too_dark: Ramp::new(85.0, 45.0),
            too_bright: Ramp::new(140.0, 200.0),
            blur: Ramp::new(1.6, 2.8),
            noise: Ramp::new(6.0, 12.0),
            color_cast: Ramp::new(12.0, 34.0),
            color_cast_shift: Ramp::new(12.0, 30.0),
            occlusion: Ramp::new(0.04, 0.20),
            stripes: Ramp::new(2.0, 6.0),
            frozen: Ramp::new(0.44, 0.30),
            scene_change: Ramp::new(0.35, 0.05),
        }
    }
}

impl Thresholds {
    /// These thresholds with `overrides` (fault kind name → ramp) applied; names an unknown
    /// kind or a ramp that cannot score.
    pub fn with_overrides(
        &self,
        overrides: &std::collections::BTreeMap<String, Ramp>,
    ) -> Result<Thresholds, String> {
        let mut t = self.clone();
        for (name, r) in overrides {
            if !r.zero.is_finite() || !r.one.is_finite() {
                return Err(format!("{name}: zero and one must be finite numbers"));
            }
            if r.zero == r.one {
                return Err(format!("{name}: zero and one must differ"));
            }
            if name == "color_cast_shift" {
                t.color_cast_shift = *r;
                continue;
            }
            let k: FaultKind = name.parse()?;
            *t.ramp_mut(k) = *r;
        }
        Ok(t)
    }

    fn ramp_mut(&mut self, k: FaultKind) -> &mut Ramp {
        match k {
            FaultKind::SignalLoss => &mut self.signal_loss,
            FaultKind::TooDark => &mut self.too_dark,
            FaultKind::TooBright => &mut self.too_bright,
            FaultKind::Blur => &mut self.blur,
            FaultKind::Noise => &mut self.noise,
            FaultKind::ColorCast => &mut self.color_cast,
            FaultKind::Occlusion => &mut self.occlusion,
            FaultKind::Stripes => &mut self.stripes,
            FaultKind::Frozen => &mut self.frozen,
            FaultKind::SceneChange => &mut self.scene_change,
        }
    }

    fn ramp(&self, k: FaultKind) -> Ramp {
        match k {
            FaultKind::SignalLoss => self.signal_loss,
            FaultKind::TooDark => self.too_dark,
            FaultKind::TooBright => self.too_bright,
            FaultKind::Blur => self.blur,
            FaultKind::Noise => self.noise,
            FaultKind::ColorCast => self.color_cast,
            FaultKind::Occlusion => self.occlusion,
            FaultKind::Stripes => self.stripes,
            FaultKind::Frozen => self.frozen,
            FaultKind::SceneChange => self.scene_change,
        }
    }
}

/// The verdict on one picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// Faults at score ≥ 0.5, highest score first; empty for a normal picture.
    pub faults: Vec<Fault>,
    /// Findings at score ≥ 0.5 of a camera with no approved baseline whose cue a healthy scene
    /// shows too (`suspect`: a scene's coloured light, a white wall, night ground), highest
    /// score first: for review and a prompt to approve a baseline, not faults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspects: Vec<Fault>,
    /// Faults found but dismissed by an operator as false alarms for this view (`Dismissal`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dismissed: Vec<FaultKind>,
    pub metrics: Metrics,
    #[serde(skip)]
    turned: bool,
    #[serde(skip)]
    rel_measures: bool,
}

impl Diagnosis {
    /// The measure fault kind `k` was judged by in this picture (what a `Dismissal` keeps);
    /// `None` for a kind not judged.
    pub fn measure(&self, k: FaultKind, t: &Thresholds) -> Option<f64> {
        let rel = self
            .metrics
            .vs_baseline
            .as_ref()
            .filter(|_| self.rel_measures);
        judged(k, &self.metrics, rel, self.turned, t).map(|(m, _)| m)
    }

    /// The kinds found, as a set.
    pub fn fault_set(&self) -> FaultSet {
        self.faults.iter().map(|f| f.kind).collect()
    }

    /// The suspects' kinds, as a set.
    pub fn suspect_set(&self) -> FaultSet {
        self.suspects.iter().map(|f| f.kind).collect()
    }
}

fn severity(score: f64) -> Severity {
    if score < 2.0 / 3.0 {
        Severity::Mild
    } else if score < 5.0 / 6.0 {
        Severity::Moderate
    } else {
        Severity::Severe
    }
}

/// A camera's approved baseline pictures, measured once: the monitor keeps them per camera and
/// compares every sample with the one taken in the most similar light. One picture, or a day
/// and a night one: a camera that stays in colour at night shows other colours and less
/// texture under street lamps than by day, and one that switches to IR shows no colour.
#[derive(Debug, Clone)]
pub struct Baseline(Vec<metrics::Reference>);

impl Baseline {
    pub fn new(picture: &Thumb) -> Self {
        Self(vec![metrics::reference(picture)])
    }

    /// The approved `pictures` (day, then night); `None` for none.
    pub fn of<'a>(pictures: impl IntoIterator<Item = &'a Thumb>) -> Option<Self> {
        let refs: Vec<_> = pictures.into_iter().map(metrics::reference).collect();
        (!refs.is_empty()).then_some(Self(refs))
    }

    /// These and one more approved picture (the camera at night).
    pub fn and(mut self, picture: &Thumb) -> Self {
        self.0.push(metrics::reference(picture));
        self
    }

    /// The approved picture in the light most like `frame`'s: the same colour mode (IR
    /// greyscale or colour) first, then the nearest mean brightness.
    fn closest(&self, frame: &Thumb) -> &metrics::Reference {
        if let [only] = self.0.as_slice() {
            return only;
        }
        let light = metrics::light(frame);
        self.0
            .iter()
            .min_by(|a, b| {
                light
                    .distance(&a.light)
                    .total_cmp(&light.distance(&b.light))
            })
            .expect("a baseline has a picture")
    }
}

/// An operator's word that a fault reported for a camera is a false alarm for its view
/// (`camwatch baseline dismiss`): the kind, and its measure in the picture the operator looked
/// at. The camera stops reporting that kind while the measure is no worse than then by half its
/// ramp's span; a worse one, every other kind, and any fault once the camera turned
/// (`scene_change`) are reported as before.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dismissal {
    pub kind: FaultKind,
    /// The measure the kind was judged by in the dismissed picture (`Diagnosis::measure`).
    pub measure: f64,
}

impl Dismissal {
    /// Whether a fault of this kind measured `m` (ramp `r`) is the dismissed one, not worse.
    fn covers(&self, m: f64, r: Ramp) -> bool {
        let worse = (m - self.measure) * (r.one - r.zero).signum();
        worse <= 0.5 * (r.one - r.zero).abs()
    }
}

/// The measure and ramp `k` is judged by: with an approved baseline (`rel`), what changed from
/// it; `None` for a kind not judged (no previous sample, a turned camera's colours).
fn judged(
    k: FaultKind,
    m: &Metrics,
    rel: Option<&VsBaseline>,
    turned: bool,
    t: &Thresholds,
) -> Option<(f64, Ramp)> {
    match (k, rel) {
        (FaultKind::ColorCast, _) if turned => None,
        (FaultKind::ColorCast, Some(r)) => Some((r.cast_shift, t.color_cast_shift)),
        (FaultKind::Occlusion, Some(r)) => Some((r.occluded_fraction, t.occlusion)),
        (FaultKind::Blur, Some(r)) => Some((r.sharpness, t.blur)),
        (FaultKind::Noise, Some(r)) => Some((r.noise_sigma, t.noise)),
        (FaultKind::Stripes, Some(r)) => Some((r.stripe_strength, t.stripes)),
        (FaultKind::TooBright, Some(r)) if r.contrast >= 0.8 => None,
        // A test pattern has every colour's full spread: judged as no spread at all.
        (FaultKind::SignalLoss, _) if m.colour_bars => Some((t.signal_loss.one, t.signal_loss)),
        _ => Some((m.value(k)?, t.ramp(k))),
    }
}

/// Diagnoses `frame`; `prev` (the camera's previous sample) enables `frozen`, `baseline` (its
/// approved reference picture) enables `scene_change` and judges the other detectors against
/// what the camera shows when healthy.
pub fn diagnose(
    frame: &Thumb,
    prev: Option<&Thumb>,
    baseline: Option<&Baseline>,
    t: &Thresholds,
) -> Diagnosis {
    diagnose_dismissing(frame, prev, baseline, t, &[])
}

/// `diagnose`, less the faults an operator dismissed as false alarms for this camera's view
/// (`Dismissal`); they are listed in `Diagnosis::dismissed`.
pub fn diagnose_dismissing(
    frame: &Thumb,
    prev: Option<&Thumb>,
    baseline: Option<&Baseline>,
    t: &Thresholds,
    dismissals: &[Dismissal],
) -> Diagnosis {
    let m = metrics::measure(frame, prev, baseline.map(|b| b.closest(frame)));
    let turned = m
        .value(FaultKind::SceneChange)
        .is_some_and(|v| t.scene_change.score(v) >= 0.5);
    // With an approved baseline each detector judges what changed from it: a red door, a
    // plain wall, a soft or finely textured scene are so in both pictures. Not for a turned
    // camera, whose baseline shows another view: its colours wait for the new view to be
    // approved, the rest is judged on the picture alone.
    let rel = m.vs_baseline.as_ref().filter(|_| !turned);
    let mut dismissed = Vec::new();
    let mut findings: Vec<(Fault, bool)> = <FaultKind as strum::VariantArray>::VARIANTS
        .iter()
        .filter_map(|&k| {
            let (measure, ramp) = judged(k, &m, rel, turned, t)?;
            let score = ramp.score(measure);
            if score < 0.5 {
                return None;
            }
            // A dismissal is for the view it was given on: not once the camera turned.
            if !turned
                && dismissals
                    .iter()
                    .any(|d| d.kind == k && d.covers(measure, ramp))
            {
                dismissed.push(k);
                return None;
            }
            let fault = Fault {
                kind: k,
                score: (score * 1000.0).round() / 1000.0,
                severity: severity(score),
            };
            Some((
                fault,
                baseline.is_none() && suspect::alone(k, measure, ramp, &m),
            ))
        })
        .collect();
    // A uniform white frame is a sensor blinded by light, not a lost signal.
    if m.mean_luma > 200.0 {
        findings.retain(|(f, _)| f.kind != FaultKind::SignalLoss);
    }
    // A screen with no picture is only that: the other detectors have nothing to look at,
    // and an unchanging "no video" screen is not a frozen picture as well.
    if findings
        .iter()
        .any(|(f, _)| f.kind == FaultKind::SignalLoss)
    {
        findings.retain(|(f, _)| f.kind == FaultKind::SignalLoss);
    }
    // Too dark or too bright a picture has lost its texture to the exposure, and texture is
    // what tells an occluder from a plain surface; and its channels clip or sink unevenly,
    // which moves the colour balance: the exposure fault is the finding.
    if findings
        .iter()
        .any(|(f, _)| matches!(f.kind, FaultKind::TooDark | FaultKind::TooBright))
    {
        findings.retain(|(f, _)| !matches!(f.kind, FaultKind::Occlusion | FaultKind::ColorCast));
    }
    // An occluder's border is one long straight edge across the view, which the line
    // spectrum reads as interference: a covered lens is that alone.
    if findings.iter().any(|(f, _)| f.kind == FaultKind::Occlusion) {
        findings.retain(|(f, _)| f.kind != FaultKind::Stripes);
    }
    findings.sort_by(|(a, _), (b, _)| b.score.total_cmp(&a.score).then(a.kind.cmp(&b.kind)));
    let (suspects, faults): (Vec<_>, Vec<_>) = findings.into_iter().partition(|(_, s)| *s);
    let (faults, suspects) = (
        faults.into_iter().map(|(f, _)| f).collect(),
        suspects.into_iter().map(|(f, _)| f).collect(),
    );
    let rel_measures = rel.is_some();
    Diagnosis {
        faults,
        suspects,
        dismissed,
        metrics: m,
        turned,
        rel_measures,
    }
}

/// A 64-bit fingerprint of the picture without its top and bottom tenth (where OSD clocks
/// tick): equal fingerprints of two samples taken apart in time mean a frozen picture. Eight
/// bytes per camera, so the monitor can remember every camera's last sample.
pub fn fingerprint(t: &Thumb) -> u64 {
    let (y0, y1) = (t.height / 10, t.height - t.height / 10);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &t.rgb[y0 * t.width * 3..y1 * t.width * 3] {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h ^ ((t.width as u64) << 48) ^ ((t.height as u64) << 32)
}
