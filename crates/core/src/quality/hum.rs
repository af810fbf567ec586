//! Rolling "hum" bars: one to a few wide, soft horizontal bands of brightness that mains
//! interference lays over the whole picture. A band one to three per picture high is as wide
//! as the scene's own structure (a sky over a street, a lit façade), so the row profile alone
//! cannot tell it; against the camera's approved baseline it can: a hum bar adds the same
//! brightness to every column of a row, whatever the scene shows there, so what is left of each
//! vertical strip's row profile after the light's change (a gain and an offset per strip)
//! rises and falls together in every strip, as a sinusoid of one to a few cycles over the
//! height. Something in front of part of the view, a person, a parked car change some
//! strips, not all.

/// Row bins of a profile: pictures of any height compare bin by bin.
pub const BINS: usize = 48;
/// Vertical strips, each with its own profile.
pub const STRIPS: usize = 4;

/// Mean luma of each of `BINS` row bands in each of `STRIPS` vertical strips.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles([[f64; BINS]; STRIPS]);

impl Profiles {
    /// The profiles of a `w`×`h` luma picture; `None` for one too small to have a row per bin
    /// and a column per strip.
    pub fn of(l: &[f32], w: usize, h: usize) -> Option<Self> {
        if h < BINS || w < STRIPS * 4 || l.len() < w * h {
            return None;
        }
        let mut sum = [[0f64; BINS]; STRIPS];
        let mut cnt = [0u32; BINS];
        let bounds: Vec<usize> = (0..=STRIPS).map(|s| s * w / STRIPS).collect();
        for (y, row) in l.chunks_exact(w).take(h).enumerate() {
            let b = y * BINS / h;
            cnt[b] += 1;
            for (s, run) in bounds.windows(2).enumerate() {
                sum[s][b] += row[run[0]..run[1]].iter().map(|&v| v as f64).sum::<f64>();
            }
        }
        for (s, strip) in sum.iter_mut().enumerate() {
            let n = (bounds[s + 1] - bounds[s]) as f64;
            for (v, &c) in strip.iter_mut().zip(&cnt) {
                *v /= n * c.max(1) as f64;
            }
        }
        Some(Self(sum))
    }
}

/// Cycles over the height a hum bar pattern may have, in tenths: one to three and a half.
const CYCLES: std::ops::RangeInclusive<usize> = 9..=35;

/// The amplitude, luma levels, of the band pattern common to every strip of `frame` beyond the
/// approved `base`. For each candidate number of cycles, every strip's profile is fitted as
/// `g_strip·base + c_strip + a·cos + b·sin` (least squares, each strip's change of light
/// together with the bars they share, so neither takes the other's part); of the strips'
/// amplitudes along the fitted bars (each strip's residual without its light, projected) the
/// smallest counts, and the largest over the candidates is the measure. 0 when nothing varies.
pub fn amplitude(frame: &Profiles, base: &Profiles) -> f64 {
    let n = BINS as f64;
    let centre = |v: &[f64; BINS]| {
        let m = v.iter().sum::<f64>() / n;
        v.map(|x| x - m)
    };
    let f: Vec<[f64; BINS]> = frame.0.iter().map(centre).collect();
    let b: Vec<[f64; BINS]> = base.0.iter().map(centre).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut best = 0f64;
    for tenths in CYCLES {
        let k = tenths as f64 / 10.0;
        let mut cos = [0f64; BINS];
        let mut sin = [0f64; BINS];
        for (i, (c, s)) in cos.iter_mut().zip(sin.iter_mut()).enumerate() {
            let a = std::f64::consts::TAU * k * (i as f64 + 0.5) / n;
            (*c, *s) = (a.cos(), a.sin());
        }
        let (cos, sin) = (centre(&cos), centre(&sin));
        // Each strip's own gain g_s, eliminated: a strip's residual orthogonal to its baseline
        // profile. The bars (a, b) are fitted to every strip's residual at once.
        let ortho = |v: &[f64], bs: &[f64; BINS]| -> Vec<f64> {
            let bb = dot(bs, bs);
            let k = if bb > 1e-9 { dot(v, bs) / bb } else { 0.0 };
            v.iter().zip(bs).map(|(x, y)| x - k * y).collect()
        };
        let (mut cc, mut ss, mut cs, mut yc, mut ys) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for (fs, bs) in f.iter().zip(&b) {
            let (pf, pc, ps) = (ortho(fs, bs), ortho(&cos, bs), ortho(&sin, bs));
            cc += dot(&pc, &pc);
            ss += dot(&ps, &ps);
            cs += dot(&pc, &ps);
            yc += dot(&pf, &pc);
            ys += dot(&pf, &ps);
        }
        let det = cc * ss - cs * cs;
        if det.abs() < 1e-9 {
            continue;
        }
        let (a, bb) = ((yc * ss - ys * cs) / det, (ys * cc - yc * cs) / det);
        let bars: Vec<f64> = cos.iter().zip(&sin).map(|(c, s)| a * c + bb * s).collect();
        let norm = dot(&bars, &bars).sqrt();
        if norm < 1e-9 {
            continue;
        }
        // A sinusoid of amplitude A over n samples has norm A·√(n/2).
        let scale = 1.0 / (norm * (n / 2.0).sqrt());
        let weakest = f
            .iter()
            .zip(&b)
            .map(|(fs, bs)| {
                // The strip's gain fitted beside the bars, then its residual along them.
                let without: Vec<f64> = fs.iter().zip(&bars).map(|(x, y)| x - y).collect();
                let bb2 = dot(bs, bs);
                let g = if bb2 > 1e-9 {
                    dot(&without, bs) / bb2
                } else {
                    0.0
                };
                let resid: Vec<f64> = fs.iter().zip(bs).map(|(x, y)| x - g * y).collect();
                dot(&resid, &bars) * scale
            })
            .fold(f64::INFINITY, f64::min);
        best = best.max(weakest);
    }
    best.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scene(x: usize, y: usize) -> f32 {
        let sky = if y < 40 {
            180.0
        } else {
            70.0 + (y as f32 * 0.3)
        };
        sky + ((x * 7 + y * 3) % 23) as f32
            + if (x / 30).is_multiple_of(2) {
                25.0
            } else {
                0.0
            }
    }

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y).clamp(0.0, 255.0))
            .collect()
    }

    fn hum(w: usize, h: usize, amp: f32, cycles: f32, phase: f32) -> Vec<f32> {
        picture(w, h, |x, y| {
            scene(x, y) + amp * (std::f32::consts::TAU * cycles * y as f32 / h as f32 + phase).sin()
        })
    }

    #[test]
    fn a_hum_bar_over_the_baseline_is_measured_by_its_amplitude() {
        let (w, h) = (320, 180);
        let base = Profiles::of(&picture(w, h, scene), w, h).unwrap();
        let a = amplitude(
            &Profiles::of(&hum(w, h, 20.0, 1.7, 0.4), w, h).unwrap(),
            &base,
        );
        assert!((14.0..=22.0).contains(&a), "{a}");
    }

    #[test]
    fn other_light_is_no_hum() {
        let (w, h) = (320, 180);
        let base = Profiles::of(&picture(w, h, scene), w, h).unwrap();
        let dim = picture(w, h, |x, y| 0.6 * scene(x, y) + 12.0);
        assert!(amplitude(&Profiles::of(&dim, w, h).unwrap(), &base) < 1.0);
    }

    /// A dark thing over one side of the view changes some strips' profiles, not all.
    #[test]
    fn an_occluder_on_one_side_is_no_hum() {
        let (w, h) = (320, 180);
        let base = Profiles::of(&picture(w, h, scene), w, h).unwrap();
        let occ = picture(
            w,
            h,
            |x, y| {
                if x < 130 && y > 50 { 30.0 } else { scene(x, y) }
            },
        );
        let a = amplitude(&Profiles::of(&occ, w, h).unwrap(), &base);
        // Under half the 8 levels at which hum bars score 0.5 as `stripes`.
        assert!(a < 4.0, "{a}");
    }

    #[test]
    fn too_small_a_picture_has_no_profiles() {
        assert!(Profiles::of(&[0.0; 40 * 30], 40, 30).is_none());
    }

    proptest! {
        /// Whatever the bars' number, phase and the picture's light, the measure follows their
        /// amplitude and is never negative.
        #[test]
        fn the_amplitude_follows_the_bars(
            amp in 0.0f32..40.0,
            cycles in 1.0f32..3.4,
            phase in 0.0f32..std::f32::consts::TAU,
            gain in 0.6f32..1.2,
        ) {
            let (w, h) = (240, 135);
            let base = Profiles::of(&picture(w, h, |x, y| 0.5 * scene(x, y)), w, h).unwrap();
            let f = picture(w, h, |x, y| {
                gain * 0.5 * scene(x, y)
                    + 20.0
                    + amp * (std::f32::consts::TAU * cycles * y as f32 / h as f32 + phase).sin()
            });
            let a = amplitude(&Profiles::of(&f, w, h).unwrap(), &base);
            prop_assert!(a >= 0.0);
            prop_assert!((a - amp as f64).abs() <= 0.25 * amp as f64 + 1.5, "{} vs {}", a, amp);
        }
    }
}
