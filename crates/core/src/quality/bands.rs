//! `stripes`: interference bands, as the row and column mean profiles of the luma and of the
//! colour differences R−Y and B−Y. A band pattern adds the same value to every pixel of a row
//! (or a column), so it is all in that profile, while the scene's own detail mostly averages out.
//!
//! The measure of one profile is its periodicity × amplitude after detrending
//! (`profile_strength`); a colour difference's is halved (a scene's colour differences vary less
//! than its luma, and so must a band in them to count as much).
//!
//! Against the camera's approved baseline (`Profiles::strength_beyond`): what the baseline's
//! profiles show is the scene. A colonnade, an arcade or a row of windows is a periodic pattern
//! in the column profile of the approved view too; so every profile is first fitted as the
//! baseline's scaled plus an offset (the change of light), and only what is left is measured.
//! Interference is new, so it is left whole.

/// The six mean profiles of a picture: rows and columns of luma, R−Y and B−Y.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles {
    rows: [Vec<f64>; 3],
    cols: [Vec<f64>; 3],
}

/// Weight of each profile's strength: luma whole, the colour differences halved.
const WEIGHT: [f64; 3] = [1.0, 0.5, 0.5];

impl Profiles {
    /// The profiles of a `w`×`h` RGB picture whose luma is `l`.
    pub fn of(rgb: &[u8], l: &[f32], w: usize, h: usize) -> Self {
        let mut rows = [vec![0f64; h], vec![0f64; h], vec![0f64; h]];
        let mut cols = [vec![0f64; w], vec![0f64; w], vec![0f64; w]];
        let [cy, cr, cb] = &mut cols;
        // Row by row, in the pixels' order: sums of up to a few thousand values of a few
        // hundred levels each are exact in f64, so their order does not matter.
        for (y, (px, ly)) in rgb
            .chunks_exact(w * 3)
            .zip(l.chunks_exact(w))
            .take(h)
            .enumerate()
        {
            let (mut sy, mut sr, mut sb) = (0f64, 0f64, 0f64);
            for ((((p, &v), ccy), ccr), ccb) in px
                .chunks_exact(3)
                .zip(ly)
                .zip(cy.iter_mut())
                .zip(cr.iter_mut())
                .zip(cb.iter_mut())
            {
                let v = v as f64;
                let (r, b) = (p[0] as f64 - v, p[2] as f64 - v);
                sy += v;
                sr += r;
                sb += b;
                *ccy += v;
                *ccr += r;
                *ccb += b;
            }
            rows[0][y] = sy;
            rows[1][y] = sr;
            rows[2][y] = sb;
        }
        for (r, c) in rows.iter_mut().zip(cols.iter_mut()) {
            r.iter_mut().for_each(|v| *v /= w.max(1) as f64);
            c.iter_mut().for_each(|v| *v /= h.max(1) as f64);
        }
        Self { rows, cols }
    }

    fn each(&self) -> impl Iterator<Item = (&[f64], f64)> {
        self.rows
            .iter()
            .zip(WEIGHT)
            .chain(self.cols.iter().zip(WEIGHT))
            .map(|(p, w)| (p.as_slice(), w))
    }

    /// The strongest band pattern in any profile (see the module doc).
    pub fn strength(&self) -> f64 {
        self.each()
            .map(|(p, w)| w * profile_strength(p))
            .fold(0f64, f64::max)
    }

    /// The strongest band pattern in what is left of any profile after the `base`line's
    /// (scaled, plus an offset); `None` when the pictures' sizes differ.
    pub fn strength_beyond(&self, base: &Profiles) -> Option<f64> {
        if self.rows[0].len() != base.rows[0].len() || self.cols[0].len() != base.cols[0].len() {
            return None;
        }
        Some(
            self.each()
                .zip(base.each())
                .map(|((f, w), (b, _))| w * profile_strength(&residual(f, b)))
                .fold(0f64, f64::max),
        )
    }
}

/// `f` less its least-squares fit `g·b + c` (g ≥ 0).
fn residual(f: &[f64], b: &[f64]) -> Vec<f64> {
    let n = f.len().max(1) as f64;
    let (mf, mb) = (f.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut fb, mut bb) = (0f64, 0f64);
    for (x, y) in f.iter().zip(b) {
        fb += (x - mf) * (y - mb);
        bb += (y - mb) * (y - mb);
    }
    let g = if bb > 1e-9 { (fb / bb).max(0.0) } else { 0.0 };
    f.iter()
        .zip(b)
        .map(|(x, y)| (x - mf) - g * (y - mb))
        .collect()
}

/// Periodicity × amplitude of a detrended mean profile, for band-like (inverting) patterns.
pub fn profile_strength(p: &[f64]) -> f64 {
    let n = p.len();
    if n < 24 {
        return 0.0;
    }
    const WIN: usize = 7;
    let d: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(WIN), (i + WIN + 1).min(n));
            p[i] - p[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let var = d.iter().map(|x| x * x).sum::<f64>() / n as f64;
    if var < 1e-9 {
        return 0.0;
    }
    let rho = |lag: usize| {
        (0..n - lag).map(|i| d[i] * d[i + lag]).sum::<f64>() / ((n - lag) as f64 * var)
    };
    // A band pattern repeats at its period and inverts at half of it (a sinusoid does both);
    // a periodic texture of thin lines (brick mortar, fences) repeats but barely inverts.
    let mut best = 0f64;
    for lag in 4..n / 4 {
        best = best.max(rho(lag).min(-rho(lag / 2)));
    }
    best * var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A façade: columns 14 pixels apart, bright stone between dark gaps, under a sky; with
    /// fine texture.
    fn facade(x: usize, y: usize) -> [f32; 3] {
        let stone = if y < 40 {
            170.0
        } else if (x % 14) < 9 {
            150.0
        } else {
            60.0
        };
        let v = stone + ((x * 7 + y * 13) % 11) as f32;
        [v + 6.0, v, v - 10.0]
    }

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> [f32; 3]) -> Profiles {
        let rgb: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .flat_map(|(x, y)| f(x, y).map(|c| c.clamp(0.0, 255.0) as u8))
            .collect();
        let l: Vec<f32> = rgb
            .chunks_exact(3)
            .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
            .collect();
        Profiles::of(&rgb, &l, w, h)
    }

    /// Horizontal interference bands of `amp` levels and `period` rows over `f`.
    fn banded(
        f: impl Fn(usize, usize) -> [f32; 3],
        amp: f32,
        period: f32,
    ) -> impl Fn(usize, usize) -> [f32; 3] {
        move |x, y| {
            let s = amp * (std::f32::consts::TAU * y as f32 / period).sin();
            f(x, y).map(|c| c + s)
        }
    }

    #[test]
    fn a_colonnade_is_bands_alone_and_the_scene_against_its_baseline() {
        let (w, h) = (320, 180);
        let base = picture(w, h, |x, y| facade(x, y).map(|c| 0.8 * c));
        let frame = picture(w, h, facade);
        assert!(frame.strength() >= 6.0, "{}", frame.strength());
        let beyond = frame.strength_beyond(&base).unwrap();
        assert!(beyond < 1.0, "{beyond}");
    }

    #[test]
    fn interference_over_a_colonnade_is_measured_beyond_the_baseline() {
        let (w, h) = (320, 180);
        let base = picture(w, h, |x, y| facade(x, y).map(|c| 0.8 * c));
        let clean = picture(w, h, banded(facade, 14.0, 17.0));
        let beyond = clean.strength_beyond(&base).unwrap();
        // As strong as the bands are on a plain picture.
        let plain = picture(w, h, banded(|_, _| [120.0; 3], 14.0, 17.0)).strength();
        assert!(beyond >= 0.8 * plain, "{beyond} vs {plain}");
        assert!(plain >= 6.0, "{plain}");
    }

    #[test]
    fn pictures_of_other_sizes_are_not_compared() {
        let a = picture(320, 180, facade);
        let b = picture(240, 135, facade);
        assert_eq!(a.strength_beyond(&b), None);
    }

    #[test]
    fn short_or_flat_profiles_have_no_bands() {
        assert_eq!(profile_strength(&[3.0; 10]), 0.0);
        assert_eq!(profile_strength(&[3.0; 100]), 0.0);
    }

    proptest! {
        /// Whatever the light (a gain and an offset), the approved view itself has no bands
        /// beyond it.
        #[test]
        fn the_approved_view_under_other_light_has_no_bands_beyond_it(
            gain in 0.5f32..1.2,
            offset in -20.0f32..30.0,
        ) {
            let (w, h) = (240, 135);
            let base = picture(w, h, facade);
            let lit = picture(w, h, |x, y| facade(x, y).map(|c| gain * c + offset));
            let beyond = lit.strength_beyond(&base).unwrap();
            // Rounding to whole levels leaves a little.
            prop_assert!(beyond < 1.0, "{}", beyond);
        }

        /// Interference bands over the approved view are measured beyond it as they are on a
        /// plain picture, whatever their amplitude and period.
        #[test]
        fn bands_beyond_the_baseline_are_measured_as_on_a_plain_picture(
            amp in 0.0f32..30.0,
            period in 8.0f32..40.0,
        ) {
            let (w, h) = (240, 135);
            let base = picture(w, h, |x, y| facade(x, y).map(|c| 0.8 * c));
            let beyond = picture(w, h, banded(facade, amp, period)).strength_beyond(&base).unwrap();
            let plain = picture(w, h, banded(|_, _| [120.0; 3], amp, period)).strength();
            prop_assert!((beyond - plain).abs() <= 0.25 * plain + 1.0, "{} vs {}", beyond, plain);
        }
    }
}
