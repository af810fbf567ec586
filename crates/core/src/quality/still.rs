//! `frozen`: whether a picture is the previous sample's, re-encoded or not.
//!
//! A stuck camera or encoder rarely sends the same bytes twice: it keeps re-encoding the stuck
//! frame (another quantiser, another JPEG quality, a re-encode of a re-encode) and its OSD clock
//! keeps running. A live camera watching a scene where nothing moves sends a new picture of the
//! same scene, with new sensor noise.
//!
//! So a sample is summarised (`Still`) by its luma, box-averaged, at `POINTS` fixed places of
//! the view away from the top and bottom tenth where OSD text sits, and the change between two
//! samples is the mean of the middle half of the places' absolute differences, in luma levels.
//! The box: a re-encoding changes the finest detail most (JPEG quantises high frequencies
//! coarsest) and sensor noise is white, so averaging keeps more of the noise than of the
//! re-encoding's change. Its side is `SPAN` of the camera's own pixels, whatever scale the
//! picture was decoded at (`Thumb::scale`): 4×4 thumbnail pixels for a picture decoded at its
//! own size, 2×2 at half, one pixel at a quarter and below. With a box of fixed thumbnail
//! pixels, a 320×240 snapshot (decoded at its own size) and a 640×360 one (at half) changed by
//! different amounts for the same noise, and no one threshold told both. The middle half: a
//! person walking by, a running clock or a blinking light moves some places, not half of them;
//! the light of a day moves all of them.
//!
//! Measured on the simulator's pictures (sensor noise ±3 levels per channel, JPEG quality 85,
//! five scenes, three pans; `quality::tests`): a live static scene changes by at least 0.37 at
//! 320×240 and 0.40 at 640×360; its frame stuck and re-encoded at quality 85–95, or re-encoded
//! again, by at most 0.34 and 0.35. The fleet's default ramp puts `frozen` at 0.37. A stuck frame
//! re-encoded at a much lower quality (75–80) changes as much as this weak noise does and is not
//! found; a camera with more noise (σ ≈ 6: 1.1) is told apart from more of them.
//!
//! Larger pictures are decoded at a quarter (1280×720: live 0.34–0.58, stuck 0.08–0.32, and a
//! dark night scene's weak noise can read as frozen) or from DC coefficients alone (1920×1080
//! and up, each thumbnail pixel the mean of an 8×8 block: live 0.02–0.20, stuck 0.02–0.22). At
//! that scale this weak a noise is averaged away and the change cannot tell a static live scene
//! from a stuck one; only a camera with more noise, or a scene where something moves, is told.
//! For such cameras the snapshot URL should be the sub-stream's (640×360 or 704×576, cheaper to
//! fetch too).
//!
//! What no picture can tell: a live camera whose noise the encoder smoothed away, watching a view
//! where nothing moves under a light that does not change, sends what a stuck one re-encoded
//! sends; over the confirmation's samples it reads as frozen.
//!
//! Size: `POINTS` bytes and a few more per camera (~0.5 KiB: ~160 MB for 300k cameras).

use super::Thumb;

/// Places sampled per picture.
pub const POINTS: usize = 512;
/// The side of the box averaged at each place, in the camera's own pixels (see the module doc).
const SPAN: usize = 4;
/// Box-averaged luma is kept ×8, modulo 256: an eighth of a level's resolution, and differences
/// of up to ±16 levels read exactly (a larger one wraps around, at one place in 32 by chance;
/// the middle half over the places does not notice).
const SCALE: f32 = 8.0;

/// A picture's summary for `frozen` (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Still {
    width: u16,
    height: u16,
    /// The side of the box averaged at each place, thumbnail pixels.
    side: u8,
    luma: [u8; POINTS],
}

/// The fixed places (pixel indices, the top-left of a `side`×`side` box) of a `w`×`h` picture,
/// the same for every picture of that size: pseudo-random, inside the view without its OSD rows.
fn points(w: usize, h: usize, side: usize) -> impl Iterator<Item = usize> {
    let (y0, y1) = (h / 10, (h - h / 10).min(h + 1 - side));
    let x1 = w + 1 - side;
    let mut s: u64 = 0x853c_49e6_748f_ea9b ^ ((w as u64) << 20) ^ h as u64;
    (0..POINTS).map(move |_| {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = (s >> 33) as usize;
        let y = y0 + r % (y1 - y0).max(1);
        let x = (r / 7919) % x1.max(1);
        y * w + x
    })
}

impl Still {
    /// The summary of a picture whose luma is `l`, each of its pixels `scale` of the camera's
    /// across (`Thumb::scale`); `None` for a picture too small to sample (under 8 pixels a side).
    pub(super) fn of(l: &[f32], w: usize, h: usize, scale: usize) -> Option<Still> {
        if w < 8 || h < 8 || w > u16::MAX as usize || h > u16::MAX as usize {
            return None;
        }
        let side = (SPAN / scale.max(1)).max(1);
        let n = (side * side) as f32;
        let mut luma = [0u8; POINTS];
        for (v, i) in luma.iter_mut().zip(points(w, h, side)) {
            let sum: f32 = (0..side)
                .map(|dy| l[i + dy * w..][..side].iter().sum::<f32>())
                .sum();
            *v = ((sum / n * SCALE).round() as u32 & 0xff) as u8;
        }
        Some(Still {
            width: w as u16,
            height: h as u16,
            side: side as u8,
            luma,
        })
    }

    /// The summary of `t`.
    pub fn from_thumb(t: &Thumb) -> Option<Still> {
        Self::of(&t.luma(), t.width, t.height, t.scale)
    }

    /// How much this picture changed from `prev`, luma levels (the mean of the middle half of the
    /// places' differences: smoother than the median, as robust); `None` when the two are of
    /// different sizes, or the same size decoded from pictures of different sizes.
    pub fn change_from(&self, prev: &Still) -> Option<f64> {
        if (self.width, self.height, self.side) != (prev.width, prev.height, prev.side) {
            return None;
        }
        let mut d: Vec<u8> = self
            .luma
            .iter()
            .zip(&prev.luma)
            .map(|(&a, &b)| (a.wrapping_sub(b) as i8).unsigned_abs())
            .collect();
        d.sort_unstable();
        let mid = &d[d.len() / 4..d.len() * 3 / 4];
        let sum: u32 = mid.iter().map(|&v| v as u32).sum();
        Some(sum as f64 / mid.len() as f64 / SCALE as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn thumb(w: usize, h: usize, seed: u64, amp: u64) -> Thumb {
        let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let rgb = (0..w * h)
            .flat_map(|i| {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                let v = (60 + (i % w) as u64 % 100 + z % (2 * amp + 1)) as u8;
                [v, v, v]
            })
            .collect();
        Thumb {
            width: w,
            height: h,
            rgb,
            scale: 1,
        }
    }

    proptest! {
        /// The same picture has not changed; the change is symmetric and never negative;
        /// pictures of other sizes are not compared.
        #[test]
        fn change_is_a_distance(w in 8usize..120, h in 8usize..90, a in any::<u64>(), b in any::<u64>(), amp in 0u64..20) {
            let (x, y) = (thumb(w, h, a, amp), thumb(w, h, b, amp));
            let (sx, sy) = (Still::from_thumb(&x).unwrap(), Still::from_thumb(&y).unwrap());
            prop_assert_eq!(sx.change_from(&sx), Some(0.0));
            let d = sx.change_from(&sy).unwrap();
            prop_assert!(d >= 0.0);
            prop_assert_eq!(Some(d), sy.change_from(&sx));
            let other = Still::from_thumb(&thumb(w + 1, h, a, amp)).unwrap();
            prop_assert_eq!(sx.change_from(&other), None);
        }

        /// A uniform change of brightness by `k` levels (a day's light) reads as a change of
        /// `k` (up to the wrap-around at 16 levels and rounding).
        #[test]
        fn a_change_of_light_is_measured(seed in any::<u64>(), k in 1u8..15) {
            let x = thumb(96, 64, seed, 3);
            let mut y = x.clone();
            y.rgb.iter_mut().for_each(|v| *v = v.saturating_add(k));
            let d = Still::from_thumb(&y).unwrap().change_from(&Still::from_thumb(&x).unwrap()).unwrap();
            prop_assert!((d - k as f64).abs() <= 0.5, "{}", d);
        }
    }

    #[test]
    fn too_small_pictures_have_no_summary() {
        assert!(Still::from_thumb(&thumb(7, 40, 1, 2)).is_none());
        assert!(Still::from_thumb(&thumb(40, 7, 1, 2)).is_none());
    }
}
