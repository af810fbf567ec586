//! Which findings of a camera with no approved baseline are only suspects.
//!
//! Judged on one picture alone, some cues are as true of a healthy scene as of a fault: a
//! scene lit gold at dusk or orange by sodium lamps leans one way as a colour tint does; a
//! white façade, snow or a big sky is as bright as an over-exposed picture; dark, plain night
//! ground is a large textureless region as a cloth at the lens is; a dim or glaring picture is
//! soft as a blurred one. Such a finding is a **suspect** (`Diagnosis::suspects`): listed for
//! review, with a prompt to approve the camera's baseline (after which the same cue is judged
//! against what the camera showed when healthy), and not counted as a fault — the monitor does
//! not confirm it, the camera is not degraded, the intact rate does not count it. A finding
//! only a fault shows (no signal, a frozen picture, a dark picture, and the ambiguous kinds
//! beyond the point no healthy picture of the evaluation's reached) stays a fault.
//!
//! Two cues a healthy scene does not show make a finding judged alone a fault whatever its
//! measure (docs/evaluation.md, round 12): a tint every mid-tone shares evenly and short of a
//! coloured subject's saturation (a channel's gain error moves a grey street, a wall and the
//! shadows alike; a scene's light tints its highlights more, and a red car or a lawn filling
//! the view leans further and unevenly), and noise that is grain, not texture (white sensor
//! noise halves when the picture is averaged 2×2; foliage, gravel and patterned façades hold).
//!
//! The points were set on the evaluation's development split (docs/evaluation.md, rounds 11
//! and 12): the ramp positions as positions on the kind's ramp (`Ramp::position`), so a
//! device group's thresholds move them alike.

use super::{FaultKind, Metrics, Ramp};

/// The ramp positions from which a finding judged alone is a fault.
const OCCLUSION_ALONE: f64 = 1.25;
const TOO_BRIGHT_ALONE: f64 = 0.92;
const NOISE_ALONE: f64 = 0.55;
const STRIPES_ALONE: f64 = 0.52;
/// A cast judged alone is a fault when the mid-tones' lean spreads less than this (its
/// interquartile range, ×100: `Metrics::cast_spread`)…
const CAST_EVEN: f64 = 20.0;
/// …and their median lean is under this (×100, `Metrics::cast_lean`): a gain of 0.4 on one
/// channel leans a grey surface by about 60–90; a coloured subject filling the view, further.
const CAST_LEAN: f64 = 120.0;
/// Noise judged alone is a fault when its estimate on the picture averaged 2×2 is under this
/// share of its own (`Metrics::noise_grain`: white noise 0.5, texture about 1).
const NOISE_GRAIN: f64 = 0.7;
/// Mean luma outside which a soft picture judged alone is a suspect: noise reduction under
/// low light and glare soften a healthy camera's edges.
const BLUR_LIGHT: std::ops::RangeInclusive<f64> = 41.0..=215.0;

/// Whether a finding of kind `k`, judged without a baseline by `measure` on `ramp`, in a
/// picture measured `m`, is only a suspect.
pub(super) fn alone(k: FaultKind, measure: f64, ramp: Ramp, m: &Metrics) -> bool {
    let below = |from: f64| ramp.position(measure) < from;
    match k {
        // The light of a scene tints it as a failing colour balance does, by any amount (the
        // development split's normal pictures reach cast measures of 112, its casts 146):
        // only an even tint short of a subject's saturation is a fault.
        FaultKind::ColorCast => !(m.cast_spread < CAST_EVEN && m.cast_lean < CAST_LEAN),
        FaultKind::Occlusion => below(OCCLUSION_ALONE),
        FaultKind::TooBright => below(TOO_BRIGHT_ALONE),
        FaultKind::Noise => below(NOISE_ALONE) || m.noise_grain >= NOISE_GRAIN,
        FaultKind::Stripes => below(STRIPES_ALONE),
        FaultKind::Blur => !BLUR_LIGHT.contains(&m.mean_luma),
        FaultKind::SignalLoss | FaultKind::TooDark | FaultKind::Frozen | FaultKind::SceneChange => {
            false
        }
    }
}
