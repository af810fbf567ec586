//! `stripes`: interference lines at any angle (slanted lines), which the row and column
//! profiles (`bands`) average away: a pattern tilted a few degrees drifts through a period or
//! more along a whole row. Instead, the picture's power spectrum: the luma in 32×32 tiles, each
//! less its mean and under a Hann window, transformed (`rustfft`), and the tiles' power averaged
//! (Welch's method). Interference is one frequency over the whole picture, so it stands out of
//! the average as a sharp peak; the scene's own periodic texture (a fence, a façade) holds in
//! some tiles and at a frequency perspective changes across the view, so it averages into the
//! background.
//!
//! The measure of a peak: the power in its 5×5 bins (a Hann window keeps a sinusoid's power
//! within two bins of its frequency) less the median power of the ring of bins around them
//! (the scene's smooth spectrum; the median, as another peak may lie in the ring), as the sinusoid's amplitude in luma levels, times its share of the
//! 5×5 power (how peak-like it is), halved: the scale of `bands::profile_strength`. With the
//! camera's approved baseline the baseline's spectrum, at the frame's light, is subtracted
//! first: a periodic view is so in the approved picture too. The detectors use it only with a
//! baseline: on the evaluation's dev pictures the picture's own spectrum read windows, paving
//! and foliage as lines in one normal picture in ten (docs/evaluation.md, round 10).
//!
//! Cost: at 240×135 (a 1080p snapshot's thumbnail) 21 tiles, 49 FFTs of 32 points each.

use std::sync::{Arc, OnceLock};

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Tile side, pixels.
const N: usize = 32;
/// Columns of the half spectrum (real input: the other half is its mirror).
const HALF: usize = N / 2 + 1;

/// Frequencies (cycles per tile) a peak may have: periods from 2.1 to 16 pixels.
const RADII: std::ops::RangeInclusive<f64> = 2.0..=15.0;

/// A picture's tile-averaged power spectrum, `N` rows (vertical frequency 0..N, the upper half
/// negative) by `HALF` columns (horizontal frequency 0..=N/2).
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    power: Vec<f32>,
    /// Each tile's own power spectrum, `N * HALF` values each, in `power`'s layout.
    tiles: Vec<f32>,
    /// Mean luma of the tiles: the light the spectrum was taken in.
    mean: f64,
}

fn fft() -> &'static Arc<dyn Fft<f32>> {
    static FFT: OnceLock<Arc<dyn Fft<f32>>> = OnceLock::new();
    FFT.get_or_init(|| FftPlanner::new().plan_fft_forward(N))
}

fn hann() -> &'static [f32; N] {
    static HANN: OnceLock<[f32; N]> = OnceLock::new();
    HANN.get_or_init(|| {
        std::array::from_fn(|i| {
            let a = std::f64::consts::TAU * (i as f64 + 0.5) / N as f64;
            (0.5 - 0.5 * a.cos()) as f32
        })
    })
}

impl Spectrum {
    /// The spectrum of a `w`×`h` luma picture, without its top and bottom tenth (OSD text);
    /// `None` for a picture with fewer than four tiles.
    pub fn of(l: &[f32], w: usize, h: usize) -> Option<Self> {
        let (y0, y1) = (h / 10, h - h / 10);
        let (tx, ty) = (w / N, (y1 - y0) / N);
        if tx * ty < 4 || l.len() < w * h {
            return None;
        }
        // The tiles centred in the view.
        let (x0, y0) = ((w - tx * N) / 2, y0 + (y1 - y0 - ty * N) / 2);
        let (fft, win) = (fft(), hann());
        let mut power = vec![0f32; N * HALF];
        let mut tiles = Vec::with_capacity(tx * ty * N * HALF);
        let mut rows = vec![Complex::new(0f32, 0f32); N * N];
        let mut cols = vec![Complex::new(0f32, 0f32); HALF * N];
        let mut scratch = vec![Complex::new(0f32, 0f32); fft.get_inplace_scratch_len()];
        let mut sum = 0f64;
        for j in 0..ty {
            for i in 0..tx {
                let at = |y: usize| &l[(y0 + j * N + y) * w + x0 + i * N..][..N];
                let mean = (0..N).map(|y| at(y).iter().sum::<f32>()).sum::<f32>() / (N * N) as f32;
                sum += mean as f64;
                for (y, row) in rows.chunks_exact_mut(N).enumerate() {
                    for ((o, &v), &wx) in row.iter_mut().zip(at(y)).zip(win) {
                        *o = Complex::new((v - mean) * wx * win[y], 0.0);
                    }
                }
                fft.process_with_scratch(&mut rows, &mut scratch);
                // Columns 0..=N/2 of the row transforms, transposed, then down each.
                for (u, col) in cols.chunks_exact_mut(N).enumerate() {
                    for (v, o) in col.iter_mut().enumerate() {
                        *o = rows[v * N + u];
                    }
                }
                fft.process_with_scratch(&mut cols, &mut scratch);
                let tile = tiles.len();
                tiles.resize(tile + N * HALF, 0.0);
                for (u, col) in cols.chunks_exact(N).enumerate() {
                    for (v, c) in col.iter().enumerate() {
                        let p = c.norm_sqr();
                        power[v * HALF + u] += p;
                        tiles[tile + v * HALF + u] = p;
                    }
                }
            }
        }
        let count = (tx * ty) as f32;
        power.iter_mut().for_each(|p| *p /= count);
        Some(Self {
            power,
            tiles,
            mean: sum / (tx * ty) as f64,
        })
    }

    /// Power at the signed frequency (`fx`, `fy`), by the mirror for negative `fx`.
    fn at(&self, fx: i32, fy: i32) -> f32 {
        at(&self.power, fx, fy)
    }

    /// The strongest slanted line pattern present alike in every tile, judged on the picture
    /// alone: of the averaged spectrum's peaks off both axes, each tile's own measure of the
    /// peak (as `strength`'s), and of those the lower quartile; the largest over the peaks.
    /// Interference lays the same sinusoid over every tile; a façade's or a paving's
    /// periodicity holds in some tiles, or at a frequency perspective changes across the view.
    /// Peaks on an axis are left out: horizontal and vertical periodicity is what man-made
    /// views show most (a brick wall, a colonnade, fill every tile), and interference bands
    /// on an axis are the row and column profiles' (`bands`). On the evaluation's dev
    /// pictures the on-axis peaks of two views (a brick wall, a palace façade) were
    /// lines in every tile; no off-axis one was (docs/evaluation.md, round 13). What it
    /// cannot tell: a lattice off the axes filling the view (a chain-link fence, staggered
    /// bricks seen square on), lines of a period over about ten pixels, whose peak lies
    /// among the scene's own low frequencies, and lines within about 10° of an axis.
    pub fn steady(&self) -> f64 {
        let lim = N as i32 / 2 - 3;
        let tiles: Vec<&[f32]> = self.tiles.chunks_exact(N * HALF).collect();
        let mut per_tile = vec![0f64; tiles.len()];
        let mut best = 0f64;
        for fy in -lim..=lim {
            for fx in 1..=lim {
                let r = ((fx * fx + fy * fy) as f64).sqrt();
                if !RADII.contains(&r) || fy == 0 {
                    continue;
                }
                let centre = self.at(fx, fy);
                if (-1..=1).any(|dy| (-1..=1).any(|dx| self.at(fx + dx, fy + dy) > centre)) {
                    continue;
                }
                // A peak too weak in the average to be a pattern in every tile (lines of
                // amplitude 2 measure 1): the tiles' measures are not worth taking.
                if measure(|x, y| self.at(x, y), fx, fy) < 1.0 {
                    continue;
                }
                for (m, t) in per_tile.iter_mut().zip(&tiles) {
                    *m = measure(|x, y| at(t, x, y), fx, fy);
                }
                let q = per_tile.len() / 4;
                let lower = *per_tile.select_nth_unstable_by(q, f64::total_cmp).1;
                best = best.max(lower);
            }
        }
        best
    }

    /// The strongest line pattern (see the module doc), beyond the `base`line's spectrum
    /// where there is one.
    pub fn strength(&self, base: Option<&Spectrum>) -> f64 {
        // The baseline's power at the frame's light: the luma, and its power, scale with it.
        let gain = base.map_or(0.0, |b| {
            let g = ((self.mean + 4.0) / (b.mean + 4.0)) as f32;
            g * g
        });
        let p = |fx: i32, fy: i32| {
            let b = base.map_or(0.0, |b| b.at(fx, fy));
            (self.at(fx, fy) - gain * b).max(0.0)
        };
        let lim = N as i32 / 2 - 3;
        let mut best = 0f64;
        for fy in -lim..=lim {
            for fx in 0..=lim {
                let r = ((fx * fx + fy * fy) as f64).sqrt();
                if !RADII.contains(&r) || (fx == 0 && fy < 0) {
                    continue;
                }
                let centre = p(fx, fy);
                // A local maximum among its 3×3 neighbours only.
                if (-1..=1).any(|dy| (-1..=1).any(|dx| p(fx + dx, fy + dy) > centre)) {
                    continue;
                }
                best = best.max(measure(p, fx, fy));
            }
        }
        best
    }
}

/// Power at the signed frequency (`fx`, `fy`) of a half spectrum in `Spectrum::power`'s
/// layout, by the mirror for negative `fx`.
fn at(power: &[f32], fx: i32, fy: i32) -> f32 {
    let (fx, fy) = if fx < 0 { (-fx, -fy) } else { (fx, fy) };
    if fx > N as i32 / 2 || fy.abs() >= N as i32 / 2 {
        return 0.0;
    }
    power[fy.rem_euclid(N as i32) as usize * HALF + fx as usize]
}

/// The measure of a peak at (`fx`, `fy`) of the power `p` (see the module doc): its 5×5 bins'
/// power less 25 times the median of the ring around them, as an amplitude, times its share
/// of the 5×5 power, halved; 0 for no excess.
fn measure(p: impl Fn(i32, i32) -> f32, fx: i32, fy: i32) -> f64 {
    let mut peak = 0f32;
    let mut ring = [0f32; 24];
    let mut r = 0;
    for dy in -3..=3i32 {
        for dx in -3..=3i32 {
            let v = p(fx + dx, fy + dy);
            if dx.abs().max(dy.abs()) <= 2 {
                peak += v;
            } else {
                ring[r] = v;
                r += 1;
            }
        }
    }
    // The ring's median: another peak nearby is not the background.
    ring.sort_unstable_by(f32::total_cmp);
    let background = 0.5 * (ring[11] + ring[12]);
    let excess = (peak - 25.0 * background).max(0.0) as f64;
    if excess <= 0.0 {
        return 0.0;
    }
    amplitude(excess) * excess / peak as f64 / 2.0
}

/// A sinusoid's amplitude, luma levels, from its power in one half of a tile's spectrum: the
/// windowed sinusoid's energy is N²·(A²/2)·(Σ hann²)², half of it in each mirror peak.
fn amplitude(power: f64) -> f64 {
    let s: f64 = hann().iter().map(|&w| (w * w) as f64).sum();
    let per_a2 = (N * N) as f64 * 0.5 * s * s / 2.0;
    (power / per_a2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A textured scene: smooth shapes and fine grain, no single frequency.
    fn scene(x: usize, y: usize, salt: u64) -> f32 {
        let mut z =
            (x as u64 * 7919 + y as u64 * 104_729) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        let grain = (z % 9) as f32 - 4.0;
        let shapes = if (x / 37 + y / 23).is_multiple_of(2) {
            90.0
        } else {
            140.0
        };
        shapes + 20.0 * ((x as f32) / 50.0).sin() + grain
    }

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y).clamp(0.0, 255.0))
            .collect()
    }

    fn lines(x: usize, y: usize, amp: f32, period: f32, angle: f32) -> f32 {
        let s = x as f32 * angle.cos() + y as f32 * angle.sin();
        amp * (std::f32::consts::TAU * s / period).sin()
    }

    #[test]
    fn a_pure_sinusoid_reads_as_its_amplitude() {
        let (w, h) = (240, 135);
        for (period, angle) in [(8.0, 0.6f32), (5.0, 2.2), (12.0, 1.1)] {
            let l = picture(w, h, |x, y| 128.0 + lines(x, y, 20.0, period, angle));
            let s = Spectrum::of(&l, w, h).unwrap().strength(None);
            // Amplitude 20, nearly all of it peak: about 10.
            assert!((8.0..=11.0).contains(&s), "{period} px at {angle}: {s}");
        }
    }

    #[test]
    fn slanted_lines_stand_out_of_a_scene() {
        let (w, h) = (320, 180);
        for salt in 0..4u64 {
            let clean = picture(w, h, |x, y| scene(x, y, salt));
            let calm = Spectrum::of(&clean, w, h).unwrap().strength(None);
            assert!(calm < 2.0, "scene {salt}: {calm}");
            let angle = 0.3 + salt as f32 * 0.7;
            let hit = picture(w, h, |x, y| {
                scene(x, y, salt) + lines(x, y, 10.0, 7.0, angle)
            });
            let s = Spectrum::of(&hit, w, h).unwrap().strength(None);
            assert!(s > 4.0, "lines at {angle} over scene {salt}: {s}");
        }
    }

    #[test]
    fn what_the_baseline_shows_is_the_scene() {
        let (w, h) = (320, 180);
        let periodic = |x: usize, y: usize| scene(x, y, 3) + lines(x, y, 12.0, 6.0, 0.8);
        let base = picture(w, h, |x, y| 0.8 * periodic(x, y));
        let frame = picture(w, h, periodic);
        let (b, f) = (
            Spectrum::of(&base, w, h).unwrap(),
            Spectrum::of(&frame, w, h).unwrap(),
        );
        assert!(f.strength(None) > 4.0);
        assert!(f.strength(Some(&b)) < 2.0, "{}", f.strength(Some(&b)));
        // New lines at another angle are found over it.
        let hit = picture(w, h, |x, y| periodic(x, y) + lines(x, y, 10.0, 5.0, 2.4));
        let s = Spectrum::of(&hit, w, h).unwrap().strength(Some(&b));
        assert!(s > 4.0, "{s}");
    }

    #[test]
    fn slanted_lines_over_the_whole_view_are_steady() {
        let (w, h) = (320, 180);
        for salt in 0..4u64 {
            let calm = Spectrum::of(&picture(w, h, |x, y| scene(x, y, salt)), w, h).unwrap();
            assert!(calm.steady() < 1.0, "scene {salt}: {}", calm.steady());
            // At least 20° from an axis: a pattern nearer one has its peak on the axis bins,
            // left to the row and column profiles (`bands`).
            let angle = [0.35f32, 0.8, 1.2, 2.3][salt as usize];
            // Periods up to about 10 pixels: a longer one's peak lies among the scene's own
            // low frequencies, which outweigh it in some tiles.
            for (amp, period) in [(8.0, 5.0), (12.0, 7.0), (18.0, 9.0)] {
                let hit = picture(w, h, |x, y| {
                    scene(x, y, salt) + lines(x, y, amp, period, angle)
                });
                let s = Spectrum::of(&hit, w, h).unwrap().steady();
                assert!(
                    s > 0.25 * amp as f64,
                    "amplitude {amp}, {period} px at {angle} over scene {salt}: {s}"
                );
            }
        }
    }

    /// A tiled wall filling the view: periodic in every tile, but along the axes. (Staggered
    /// bricks or a chain-link fence seen square on are a lattice with peaks off the axes too,
    /// and do read as lines.)
    #[test]
    fn a_tiled_wall_is_not_slanted_lines() {
        let (w, h) = (320, 180);
        let bricks = picture(w, h, |x, y| {
            let v = if y % 8 == 0 || x % 16 == 0 {
                70.0
            } else {
                150.0
            };
            v + scene(x, y, 2) * 0.1
        });
        let s = Spectrum::of(&bricks, w, h).unwrap();
        assert!(s.strength(None) > 4.0, "{}", s.strength(None));
        assert!(s.steady() < 1.0, "{}", s.steady());
    }

    /// A slanted pattern over part of the view only (a roof, a staircase): not in every tile.
    #[test]
    fn a_slanted_pattern_in_part_of_the_view_is_not_steady() {
        let (w, h) = (320, 180);
        let roof = picture(w, h, |x, y| {
            let patch = if x < 120 && y < 100 {
                lines(x, y, 20.0, 7.0, 0.7)
            } else {
                0.0
            };
            // A smooth scene with grain: the hard-edged shapes of `scene` are broadband
            // enough to give the tiles without the pattern a measure of their own there.
            let grain = ((x * 7 + y * 13) % 9) as f32 - 4.0;
            100.0 + 0.2 * x as f32 + 0.1 * y as f32 + grain + patch
        });
        let s = Spectrum::of(&roof, w, h).unwrap();
        assert!(s.strength(None) > 4.0, "{}", s.strength(None));
        assert!(s.steady() < 1.0, "{}", s.steady());
    }

    #[test]
    fn tiny_pictures_have_no_spectrum() {
        assert!(Spectrum::of(&[0.0; 64 * 40], 64, 40).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any picture: a finite, non-negative strength, never above its amplitude's.
        #[test]
        fn strength_is_finite_and_bounded(
            w in 64usize..300, h in 80usize..200, salt in any::<u64>(), amp in 0f32..60.0,
        ) {
            let l = picture(w, h, |x, y| scene(x, y, salt) + lines(x, y, amp, 6.0, 1.0));
            if let Some(s) = Spectrum::of(&l, w, h) {
                let v = s.strength(None);
                prop_assert!(v.is_finite() && v >= 0.0);
                prop_assert!(v <= 128.0, "{}", v);
                let steady = s.steady();
                prop_assert!(steady.is_finite() && steady >= 0.0);
                prop_assert!(steady <= 128.0, "{}", steady);
            }
        }
    }
}
