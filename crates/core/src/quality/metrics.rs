//! The measurements behind each detector (see the module doc of `quality`).

use serde::Serialize;

use super::{FaultKind, Thumb, bands, foreign, hum, lines, still::Still};

/// Every measurement, reported with the verdict so a reviewer can see why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub width: usize,
    pub height: usize,
    pub mean_luma: f64,
    /// Largest 10th–90th percentile spread over R, G, B.
    pub spread: f64,
    /// The picture is an encoder's or DVR's colour-bar test pattern (`colour_bars`): what it
    /// sends with no camera signal.
    pub colour_bars: bool,
    /// 0.5·mean + 0.5·p99 of luma (a night scene's lit areas keep it up).
    pub darkness_level: f64,
    /// 0.5·mean + 0.5·p5 of luma.
    pub brightness_level: f64,
    /// Width of the crisp edges (10th percentile of contrast ÷ steepest step over the
    /// stronger edges), thumbnail pixels: blur widens every edge.
    pub sharpness: f64,
    pub noise_sigma: f64,
    /// `noise_sigma` of the picture averaged 2×2, over the picture's own: white sensor noise
    /// halves (~0.5), a fine texture (foliage, gravel, a façade's pattern) holds (~1 and more).
    pub noise_grain: f64,
    pub cast_ratio: f64,
    /// How unevenly the mid-tones lean along the picture's mean chroma direction, ×100: the
    /// interquartile range of their lean (`cast`). A channel's gain error moves every surface
    /// alike, so a grey street under it leans evenly; a scene's own colours spread.
    pub cast_spread: f64,
    /// The mid-tones' median lean along that direction, ×100.
    pub cast_lean: f64,
    pub occluded_fraction: f64,
    /// Periodicity × amplitude of bands in the luma, or in a colour difference (halved); or of
    /// lines at a slant alike in every part of the view (`lines::Spectrum::steady`), where
    /// stronger.
    pub stripe_strength: f64,
    /// How much the picture changed from the previous sample, luma levels (the median over
    /// fixed places of box-averaged luma, `still`): a re-encoding changes it less than new
    /// sensor noise.
    pub change_from_previous: Option<f64>,
    /// Correlation of the view's coarse structure with the baseline's, outside an occluder
    /// (`similarity`).
    pub baseline_similarity: Option<f64>,
    /// What changed from the approved baseline; `None` without one.
    pub vs_baseline: Option<VsBaseline>,
    /// The picture's summary for `frozen`, for the monitor to compare the next sample with.
    #[serde(skip)]
    pub still: Option<Still>,
}

/// The measurements of a camera with an approved baseline, relative to it: what is plain,
/// coloured, soft or grainy in the approved view too is the scene, not a fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VsBaseline {
    /// How far the colour balance moved, ×100 (log channel ratios), in every part of the view;
    /// 0 when the mean luma is under 0.45 or over 2.2 times the baseline's.
    pub cast_shift: f64,
    /// `occluded_fraction` counting only blocks that had texture in the baseline or whose
    /// brightness moved apart from the whole view's; or a textured occluder's region
    /// (`foreign`), where larger.
    pub occluded_fraction: f64,
    /// `sharpness` less the baseline's own softness (its edge width beyond 1.2 pixels); 5 when
    /// the picture kept its contrast but lost every edge the baseline had.
    pub sharpness: f64,
    /// Noise added to the baseline's (in quadrature, the baseline's scaled by the change of
    /// mean luma): fine texture reads as noise in both.
    pub noise_sigma: f64,
    /// `spread` over the baseline's: over-exposure washes contrast out, a bright scene keeps it.
    pub contrast: f64,
    /// `stripe_strength` in what the baseline's band profiles do not show (`bands`; at most the
    /// picture's own), or rolling hum bars over the baseline's row profile (`hum`: their
    /// amplitude in luma levels, halved to the same scale), or lines at any angle beyond the
    /// baseline's power spectrum (`lines`), whichever is strongest.
    pub stripe_strength: f64,
}

impl Metrics {
    pub fn value(&self, k: FaultKind) -> Option<f64> {
        Some(match k {
            FaultKind::SignalLoss => self.spread,
            FaultKind::TooDark => self.darkness_level,
            FaultKind::TooBright => self.brightness_level,
            FaultKind::Blur => self.sharpness,
            FaultKind::Noise => self.noise_sigma,
            FaultKind::ColorCast => self.cast_ratio,
            FaultKind::Occlusion => self.occluded_fraction,
            FaultKind::Stripes => self.stripe_strength,
            FaultKind::Frozen => self.change_from_previous?,
            FaultKind::SceneChange => self.baseline_similarity?,
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `v.round()` for the non-negative `v` luma takes, without a call to libm's `roundf` (x86-64
/// has no rounding instruction before SSE4.1): half away from zero, like `round`.
fn round_luma(v: f32) -> usize {
    let i = v as usize;
    if v - i as f32 >= 0.5 { i + 1 } else { i }
}

/// Percentile `q` (0..=1) of values given as a 256-bin histogram.
fn pct(hist: &[u32; 256], n: u32, q: f64) -> f64 {
    let target = (q * n as f64).ceil().max(1.0) as u32;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= target {
            return v as f64;
        }
    }
    255.0
}

/// How wide even the crisp edges are, in thumbnail pixels: over the stronger half of the
/// horizontal-gradient maxima, each edge's width as its contrast over its steepest step
/// (walking each way while the luma keeps rising or falling), and of those widths the 10th
/// percentile. A blurred picture has no crisp edge left: a Gaussian of σ pixels makes every
/// step edge ~2.5σ wide. The crispest tenth, not the typical edge: a sharp view of a table
/// or a wall has few object outlines and many soft shadows, and its typical edge is as wide
/// as a blurred one's (round 4 of the evaluation found that). The width as a ratio, not a count
/// of pixels, measures mild blur (σ ≈ 1) finer than whole pixels can. The top and bottom tenth
/// of rows are skipped: OSD text lives there and stays crisp on a blurred picture.
///
/// Which maxima: above a floor that follows the picture's contrast (`spread`), so a dim or
/// soft scene's fine detail counts, as it does to the eye.
fn edge_width(l: &[f32], w: usize, h: usize, spread: f64) -> f64 {
    let floor = (spread * 0.15).clamp(3.0, 8.0) as f32;
    let (y0, y1) = (h / 10, h - h / 10);
    let mut grads: Vec<(f32, usize)> = Vec::new();
    for y in y0..y1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let g = (l[i + 1] - l[i - 1]).abs();
            // Local maxima of the horizontal gradient only.
            if g > floor
                && g >= (l[i] - l[i.saturating_sub(2)]).abs()
                && g >= (l[(i + 2).min(y * w + w - 1)] - l[i]).abs()
            {
                grads.push((g, i));
            }
        }
    }
    if grads.len() < 16 {
        return 0.0;
    }
    let k = grads.len() / 2;
    grads.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
    let mut widths: Vec<f32> = grads[k..]
        .iter()
        .map(|&(_, i)| {
            let (y, x) = (i / w, i % w);
            let row = &l[y * w..(y + 1) * w];
            let up = row[(x + 1).min(w - 1)] > row[x - 1];
            let step = |a: f32, b: f32| if up { b > a } else { b < a };
            let mut steepest = 0f32;
            let mut r = x;
            while r + 1 < w && step(row[r], row[r + 1]) {
                steepest = steepest.max((row[r + 1] - row[r]).abs());
                r += 1;
            }
            let mut lft = x;
            while lft > 0 && step(row[lft - 1], row[lft]) {
                steepest = steepest.max((row[lft] - row[lft - 1]).abs());
                lft -= 1;
            }
            if steepest > 0.0 {
                (row[r] - row[lft]).abs() / steepest
            } else {
                1.0
            }
        })
        .collect();
    let i = widths.len() / 10;
    widths.select_nth_unstable_by(i, f32::total_cmp);
    widths[i] as f64
}

/// Immerkær's fast noise estimate per 16×16 block; the 25th percentile over blocks.
/// The Laplacian-like mask is [1 −2 1] across times [1 −2 1] down, applied as the two passes.
/// Every sum here is exact in f64 (luma is f32 in [0, 255]: ~40 significant bits at most), so
/// the passes give exactly the direct 3×3 mask's values.
fn noise_level(l: &[f32], w: usize, h: usize) -> f64 {
    noise_in_blocks::<16>(l, w, h)
}

/// `noise_level` of the picture averaged 2×2 (in 8×8 blocks, the same share of the view)
/// over the picture's own: ~0.5 for white noise, which averaging halves; ~1 or more for a
/// texture, which holds at the coarser scale. 0 for a picture without any.
fn noise_grain(l: &[f32], w: usize, h: usize, fine: f64) -> f64 {
    let (hw, hh) = (w / 2, h / 2);
    if fine <= 0.0 || hw < 8 || hh < 8 {
        return 0.0;
    }
    let mut half = Vec::with_capacity(hw * hh);
    for y in 0..hh {
        let (r0, r1) = (&l[2 * y * w..][..2 * hw], &l[(2 * y + 1) * w..][..2 * hw]);
        half.extend(
            r0.chunks_exact(2)
                .zip(r1.chunks_exact(2))
                .map(|(a, b)| 0.25 * (a[0] + a[1] + b[0] + b[1])),
        );
    }
    noise_in_blocks::<8>(&half, hw, hh) / fine
}

/// `noise_level` in `B`×`B` blocks.
fn noise_in_blocks<const B: usize>(l: &[f32], w: usize, h: usize) -> f64 {
    if w < B || h < B {
        return 0.0;
    }
    // Horizontal pass, x in 1..w-1, for the B rows of one band of blocks at a time: a band's
    // worth of f64 stays in the cache where the whole picture's would not.
    let aw = w - 2;
    let mut across = vec![0f64; aw * B];
    let mut est = Vec::new();
    let mut by = 0;
    while by + B <= h {
        for (out, row) in across
            .chunks_exact_mut(aw)
            .zip(l[by * w..(by + B) * w].chunks_exact(w))
        {
            for (o, p) in out.iter_mut().zip(row.windows(3)) {
                *o = p[0] as f64 - 2.0 * p[1] as f64 + p[2] as f64;
            }
        }
        let mut bx = 0;
        while bx + B <= w {
            // Two running sums (exact, so their order does not matter) halve the chain of
            // dependent additions.
            let mut s = [0f64; 2];
            for y in 1..B - 1 {
                // Column x of the picture is column x-1 of `across`; row y of the band.
                let (up, mid, down) = (
                    &across[(y - 1) * aw + bx..][..B - 2],
                    &across[y * aw + bx..][..B - 2],
                    &across[(y + 1) * aw + bx..][..B - 2],
                );
                for x in 0..B - 2 {
                    s[x & 1] += (up[x] - 2.0 * mid[x] + down[x]).abs();
                }
            }
            let s = s[0] + s[1];
            let m = ((B - 2) * (B - 2)) as f64;
            est.push((std::f64::consts::PI / 2.0).sqrt() * s / (6.0 * m));
            bx += B;
        }
        by += B;
    }
    if est.is_empty() {
        return 0.0;
    }
    est.sort_by(f64::total_cmp);
    est[est.len() / 4]
}

/// How coloured what should be neutral is, ×100. A white-balance cast pushes every pixel's
/// chroma the same way, so the picture's colours all lean along one direction `d`, the mean
/// relative chroma (chroma over luma) of its mid-tone pixels; the measure is how far even the
/// least-leaning pixels lean along `d`: the smaller of the 5th percentiles of the projection
/// on `d` among (a) mid-tone pixels — every real scene has some near-grey surface (road, wall,
/// shadow) — and (b) the brightest 10 % — highlights and white objects. A neutral surface
/// gives ~0; so does a vivid scene without one (a flower before foliage), whose colours lie
/// on both sides of `d`; greyscale is 0.
///
/// Also the interquartile range and the median of the mid-tones' lean (`Cast::spread`,
/// `Cast::lean`), which tell a tint every surface shares from a scene's colours.
fn cast(t: &Thumb, l: &[f32], lhist: &[u32; 256], n: u32) -> Cast {
    let rel = |p: &[u8], y: f32| {
        let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
        let k = 1.0 / y.max(1.0);
        ((r - g) * k, (0.5 * (r + g) - b) * k)
    };
    let top = (pct(lhist, n, 0.9) as f32).max(40.0);
    let mut mid: Vec<(f32, f32)> = Vec::with_capacity(l.len());
    let mut bright: Vec<(f32, f32)> = Vec::new();
    for (p, &y) in t.rgb.chunks_exact(3).zip(l) {
        let is_mid = (40.0..=230.0).contains(&y);
        if is_mid || y >= top {
            let c = rel(p, y);
            if is_mid {
                mid.push(c);
            }
            if y >= top {
                bright.push(c);
            }
        }
    }
    if mid.len() < 64 || bright.len() < 16 {
        return Cast::default();
    }
    let (sa, sb) = mid.iter().fold((0f64, 0f64), |(a, b), &(ca, cb)| {
        (a + ca as f64, b + cb as f64)
    });
    let norm = (sa * sa + sb * sb).sqrt();
    if norm < 1e-9 {
        return Cast::default();
    }
    let (da, db) = ((sa / norm) as f32, (sb / norm) as f32);
    let project =
        |v: &[(f32, f32)]| -> Vec<f32> { v.iter().map(|&(ca, cb)| ca * da + cb * db).collect() };
    // The `q`th percentile of `proj`, selected within `proj[from..to]`: the caller knows it
    // lies there from a percentile selected before.
    let at = |proj: &mut [f32], q: usize, from: usize, to: usize| {
        let i = proj.len() * q / 100;
        proj[from..to].select_nth_unstable_by(i - from, f32::total_cmp);
        (i, proj[i] as f64)
    };
    let (mut mid, mut bright) = (project(&mid), project(&bright));
    let (n, nb) = (mid.len(), bright.len());
    let (i50, lean) = at(&mut mid, 50, 0, n);
    let (i25, q25) = at(&mut mid, 25, 0, i50);
    let (_, q75) = at(&mut mid, 75, i50, n);
    let (_, q5) = at(&mut mid, 5, 0, i25);
    let (_, b5) = at(&mut bright, 5, 0, nb);
    let ratio = q5.max(0.0).min(b5.max(0.0));
    let spread = q75 - q25;
    Cast {
        ratio: ratio * 100.0,
        spread: spread * 100.0,
        lean: lean * 100.0,
    }
}

/// `cast`'s measures, ×100.
#[derive(Default)]
struct Cast {
    ratio: f64,
    spread: f64,
    lean: f64,
}

/// Mean R, G, B and the luma's standard deviation in each cell of an 8×6 grid over the view
/// without its top and bottom tenth (where OSD text sits), so pictures of any size compare
/// cell by cell.
fn cell_means(t: &Thumb) -> Vec<([f64; 3], f64)> {
    const GW: usize = 8;
    const GH: usize = 6;
    let (w, h) = (t.width, t.height);
    let (y0, y1) = (h / 10, h - h / 10);
    let mut sum = vec![[0f64; 5]; GW * GH];
    for y in y0..y1 {
        let gy = (y - y0) * GH / (y1 - y0);
        for (x, p) in t.rgb[y * w * 3..(y + 1) * w * 3]
            .chunks_exact(3)
            .enumerate()
        {
            let c = &mut sum[gy * GW + x * GW / w];
            let y = Thumb::luma_of(p) as f64;
            c[0] += p[0] as f64;
            c[1] += p[1] as f64;
            c[2] += p[2] as f64;
            c[3] += y * y;
            c[4] += 1.0;
        }
    }
    sum.iter()
        .map(|c| {
            let n = c[4].max(1.0);
            let m = [c[0] / n, c[1] / n, c[2] / n];
            let y = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
            (m, (c[3] / n - y * y).max(0.0).sqrt())
        })
        .collect()
}

/// (ln R/G, ln B/G).
type Chroma = (f64, f64);

/// A cell's colour as log channel ratios (ln R/G, ln B/G, each channel plus 8 so that a nearly
/// empty channel does not swing the ratio); `None` where it is too dark or clipped to tell.
fn log_chroma(m: [f64; 3]) -> Option<Chroma> {
    let y = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
    if !(12.0..=235.0).contains(&y) || m.iter().any(|&v| v > 245.0) {
        return None;
    }
    Some((
        ((m[0] + 8.0) / (m[1] + 8.0)).ln(),
        ((m[2] + 8.0) / (m[1] + 8.0)).ln(),
    ))
}

/// Whether cells' colours lean nowhere on average: a greyscale (IR) picture, or none told.
fn colourless(cells: impl Iterator<Item = Chroma>) -> bool {
    let (sum, n) = cells.fold((0f64, 0u32), |(s, n), c| (s + c.0.hypot(c.1), n + 1));
    n == 0 || sum / (n as f64) < 0.03
}

/// How far the colour balance moved from the baseline's, ×100, cell by cell. A channel gain
/// (a white-balance fault, a loose colour wire, a stuck IR-cut filter) moves every cell's log
/// channel ratios by one vector `c`; fog, over-exposure and a fading picture scale them toward
/// grey instead, which is not a cast. So each cell is fitted as `frame = λ·baseline + c`
/// (least squares, with λ held near 1 unless the cells' colours vary enough to tell a scale
/// from a shift: a view filled by one green leaf cannot), and the measure is the lower
/// quartile, over cells, of each cell's residual shift along `c`'s direction: a cast moves
/// them all, something in front of part of the view or a person walking by moves some. Cells
/// that lost their texture are left out (what covers them has its own colour, and is
/// `occlusion`'s); a picture with no colour at all (IR at night) has no cast.
fn cast_shift(t: &Thumb, base: &[([f64; 3], f64)]) -> f64 {
    let pairs: Vec<(Chroma, Chroma)> = cell_means(t)
        .into_iter()
        .zip(base.iter().copied())
        .filter(|((_, sd), (_, bsd))| *bsd < 3.0 || *sd >= 0.4 * bsd)
        .filter_map(|((f, _), (b, _))| Some((log_chroma(f)?, log_chroma(b)?)))
        .collect();
    let n = pairs.len() as f64;
    if pairs.len() < 12 {
        return 0.0;
    }
    if colourless(pairs.iter().map(|(f, _)| *f)) {
        return 0.0;
    }
    let mean = |pick: fn(&(Chroma, Chroma)) -> f64| pairs.iter().map(pick).sum::<f64>() / n;
    let (f0, f1, b0, b1) = (
        mean(|p| p.0.0),
        mean(|p| p.0.1),
        mean(|p| p.1.0),
        mean(|p| p.1.1),
    );
    // The prior holding λ at 1, in cell chroma variance (log-ratio²) per cell.
    const PRIOR: f64 = 0.003;
    let (num, den) = pairs
        .iter()
        .fold((PRIOR * n, PRIOR * n), |(nu, de), (f, b)| {
            let (bc0, bc1) = (b.0 - b0, b.1 - b1);
            (
                nu + (f.0 - f0) * bc0 + (f.1 - f1) * bc1,
                de + bc0 * bc0 + bc1 * bc1,
            )
        });
    let lambda = (num / den).clamp(0.0, 1.3);
    let shifts: Vec<(f64, f64)> = pairs
        .iter()
        .map(|(f, b)| (f.0 - lambda * b.0, f.1 - lambda * b.1))
        .collect();
    let median = |mut v: Vec<f64>| {
        let i = v.len() / 2;
        *v.select_nth_unstable_by(i, f64::total_cmp).1
    };
    let d = (
        median(shifts.iter().map(|s| s.0).collect()),
        median(shifts.iter().map(|s| s.1).collect()),
    );
    let norm = d.0.hypot(d.1);
    if norm < 1e-9 {
        return 0.0;
    }
    let mut along: Vec<f64> = shifts
        .iter()
        .map(|s| (s.0 * d.0 + s.1 * d.1) / norm)
        .collect();
    let i = along.len() / 4;
    along.select_nth_unstable_by(i, f64::total_cmp).1.max(0.0) * 100.0
}

const COLS: usize = 12;
const ROWS: usize = 9;

/// Mean and standard deviation of luma in each block of a COLS×ROWS grid; `None` for a picture
/// too small to have blocks of 4×4 pixels.
fn block_stats(l: &[f32], w: usize, h: usize) -> Option<[[(f64, f64); COLS]; ROWS]> {
    let (bw, bh) = (w / COLS, h / ROWS);
    if bw < 4 || bh < 4 {
        return None;
    }
    let mut stats = [[(0f64, 0f64); COLS]; ROWS];
    for (r, row) in stats.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            let (mut s, mut ss) = (0f64, 0f64);
            for y in r * bh..(r + 1) * bh {
                for x in c * bw..(c + 1) * bw {
                    let v = l[y * w + x] as f64;
                    s += v;
                    ss += v * v;
                }
            }
            let n = (bw * bh) as f64;
            let mean = s / n;
            *cell = (mean, (ss / n - mean * mean).max(0.0).sqrt());
        }
    }
    Some(stats)
}

/// The level below which a block is textureless, relative to the picture: in a scene of soft,
/// low-contrast texture (mist, a grey surface, the moon) every block is quiet, and none of
/// them is an occluder.
fn flat_level(stats: &[[(f64, f64); COLS]; ROWS]) -> f64 {
    let mut sds: Vec<f64> = stats.iter().flatten().map(|&(_, sd)| sd).collect();
    let i = sds.len() / 2;
    (0.5 * *sds.select_nth_unstable_by(i, f64::total_cmp).1).clamp(1.5, 5.0)
}

/// Whether a picture is a night view: the median brightness of its blocks that are not dark
/// (mean luma 35 and over) is under `NIGHT`. A cloth before the lens darkens part of a daylit
/// view and leaves the rest as bright as it was.
fn is_night(stats: &[[(f64, f64); COLS]; ROWS]) -> bool {
    let mut lit: Vec<f64> = stats
        .iter()
        .flatten()
        .map(|&(m, _)| m)
        .filter(|&m| m >= 35.0)
        .collect();
    if lit.is_empty() {
        return true;
    }
    let i = lit.len() / 2;
    *lit.select_nth_unstable_by(i, f64::total_cmp).1 < NIGHT
}

/// The brightness (see `is_night`) under which a view is a night view.
const NIGHT: f64 = 80.0;

/// What `occlusion` found: the fraction of the view an occluder covers, and the blocks of its
/// region (`None` when none was found, or its border is crisp: a plain surface in the view).
struct Occluded {
    fraction: f64,
    region: Option<[[bool; COLS]; ROWS]>,
}

impl Occluded {
    const NONE: Occluded = Occluded {
        fraction: 0.0,
        region: None,
    };
}

/// The largest 4-connected region of textureless blocks, as a fraction of the view, weighted
/// by how soft its border is. Something in front of the lens is out of focus, so its border is
/// a wide blur; a plain background (a wall, a table, the night) meets in-focus objects at
/// crisp edges. Which blocks count: with the camera's approved `baseline`, those that had
/// texture there (1.5 times its own flat level) and lost it, or whose brightness moved away
/// from the whole view's change by more than a third (a dark thing before a white wall) —
/// fog, sky, a white wall or a flower's petals are as plain in the baseline; without one,
/// every textureless block but sky in the upper part of the view (bright, night-dark, or
/// blue).
fn occlusion(t: &Thumb, l: &[f32], baseline: Option<&[[(f64, f64); COLS]; ROWS]>) -> Occluded {
    let (w, h) = (t.width, t.height);
    let Some(stats) = block_stats(l, w, h) else {
        return Occluded::NONE;
    };
    let (bw, bh) = (w / COLS, h / ROWS);
    // How much bluer than red each block is: a clear sky of middling brightness (a deep blue
    // sky is as dark as a wall) is told from an occluder by its colour.
    let mut blue = [[0f64; COLS]; ROWS];
    for (r, row) in blue.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            let mut d = 0i64;
            for y in r * bh..(r + 1) * bh {
                for p in t.rgb[(y * w + c * bw) * 3..(y * w + (c + 1) * bw) * 3].chunks_exact(3) {
                    d += p[2] as i64 - p[0] as i64;
                }
            }
            *cell = d as f64 / (bw * bh) as f64;
        }
    }
    let flat = flat_level(&stats);
    let base_flat = baseline.map(flat_level);
    let night = is_night(&stats);
    // How the whole view's brightness changed since the baseline (other light, other time),
    // read from the blocks that kept their texture where there are enough of them: an occluder
    // over half the view would otherwise set the gain, and the view it left would seem moved.
    let gain = baseline.map_or(1.0, |b| {
        let ratios = || {
            stats
                .iter()
                .flatten()
                .zip(b.iter().flatten())
                .map(|(f, b)| ((f.0 + 4.0) / (b.0 + 4.0), f.1 >= flat))
        };
        let textured = ratios().filter(|&(_, t)| t).count();
        let mut g: Vec<f64> = ratios()
            .filter(|&(_, t)| t || textured < 4)
            .map(|(g, _)| g)
            .collect();
        let i = g.len() / 2;
        *g.select_nth_unstable_by(i, f64::total_cmp).1
    });
    let mut dead = [[false; COLS]; ROWS];
    for (r, row) in dead.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            let (mean, sd) = stats[r][c];
            *cell = sd < flat
                && match (baseline, base_flat) {
                    (Some(b), Some(bf)) => {
                        let moved = ((mean + 4.0) / (gain * (b[r][c].0 + 4.0))).ln().abs();
                        b[r][c].1 >= 1.5 * bf || moved > 0.29
                    }
                    _ => {
                        let upper = (r as f64) < ROWS as f64 * 0.6;
                        // Night-dark sky only in a night picture: in a daylit view a dark,
                        // plain region high up is a cloth in front of the lens.
                        let sky = (night && mean < 35.0) || mean > 130.0 || blue[r][c] > 25.0;
                        !(upper && sky)
                    }
                };
        }
    }
    // Largest component.
    let mut label = [[0usize; COLS]; ROWS];
    let (mut best, mut best_label, mut next) = (0usize, 0usize, 1usize);
    for r0 in 0..ROWS {
        for c0 in 0..COLS {
            if !dead[r0][c0] || label[r0][c0] != 0 {
                continue;
            }
            let mut stack = vec![(r0, c0)];
            label[r0][c0] = next;
            let mut size = 0;
            while let Some((r, c)) = stack.pop() {
                size += 1;
                let mut nb = vec![];
                if r > 0 {
                    nb.push((r - 1, c));
                }
                if r + 1 < ROWS {
                    nb.push((r + 1, c));
                }
                if c > 0 {
                    nb.push((r, c - 1));
                }
                if c + 1 < COLS {
                    nb.push((r, c + 1));
                }
                for (rr, cc) in nb {
                    if dead[rr][cc] && label[rr][cc] == 0 {
                        label[rr][cc] = next;
                        stack.push((rr, cc));
                    }
                }
            }
            if size > best {
                (best, best_label) = (size, next);
            }
            next += 1;
        }
    }
    if best == 0 {
        return Occluded::NONE;
    }
    // Border softness: along lines from the middle of a region block into each textured
    // neighbour, the width (contrast over steepest step) of the transition where the luma
    // leaves the region's level. Measured there and not at the strongest gradient nearby: a
    // blurred occluder's border next to crisp texture (fur, a circuit board) is still wide.
    let mut widths: Vec<f32> = Vec::new();
    let inside = |r: isize, c: isize| {
        (0..ROWS as isize).contains(&r)
            && (0..COLS as isize).contains(&c)
            && label[r as usize][c as usize] == best_label
    };
    let leave = (3.0 * flat).max(4.0) as f32;
    // OSD text is crisp whatever is in front of the lens: no border is measured in its rows.
    let osd = |y: usize| y < h / 10 || y >= h - h / 10;
    for r in 0..ROWS as isize {
        for c in 0..COLS as isize {
            if !inside(r, c) {
                continue;
            }
            for (dr, dc) in [(0isize, 1isize), (0, -1), (1, 0), (-1, 0)] {
                let (nr, nc) = (r + dr, c + dc);
                if !(0..ROWS as isize).contains(&nr)
                    || !(0..COLS as isize).contains(&nc)
                    || inside(nr, nc)
                {
                    continue;
                }
                let (r, c) = (r as usize, c as usize);
                // Line k runs from the region block's middle to the neighbour's middle.
                let (lines, len) = if dr == 0 { (bh, bw) } else { (bw, bh) };
                // Vertical lines run from the block's middle by a block's height.
                let mid = r * bh + bh / 2;
                if dr != 0 && (osd(mid) || osd(if dr > 0 { mid + len } else { mid - len })) {
                    continue;
                }
                for k in (0..lines).step_by(2) {
                    if dr == 0 && osd(r * bh + k) {
                        continue;
                    }
                    let at = |j: usize| -> f32 {
                        let (y, x) = if dr == 0 {
                            let x0 = c * bw + bw / 2;
                            (r * bh + k, if dc > 0 { x0 + j } else { x0 - j })
                        } else {
                            let y0 = r * bh + bh / 2;
                            (if dr > 0 { y0 + j } else { y0 - j }, c * bw + k)
                        };
                        l[y * w + x]
                    };
                    let base = at(0);
                    let Some(j) = (1..=len).find(|&j| (at(j) - base).abs() > leave) else {
                        continue;
                    };
                    let up = at(j) > base;
                    let step = |a: f32, b: f32| if up { b > a } else { b < a };
                    let (mut a, mut b) = (j, j);
                    while a > 0 && step(at(a - 1), at(a)) {
                        a -= 1;
                    }
                    while b < len && step(at(b), at(b + 1)) {
                        b += 1;
                    }
                    let steepest = (a..b)
                        .map(|i| (at(i + 1) - at(i)).abs())
                        .fold(0f32, f32::max);
                    if steepest > 0.0 {
                        widths.push((at(b) - at(a)).abs() / steepest);
                    }
                }
            }
        }
    }
    // The upper quartile: lines that meet texture right at the border give narrow widths
    // even on a blurred one; a crisp background's border is narrow on nearly every line.
    let soft = if widths.is_empty() {
        1.0
    } else {
        let i = widths.len() * 3 / 4;
        widths.select_nth_unstable_by(i, f32::total_cmp);
        ((widths[i] as f64 - 2.0) / 1.0).clamp(0.0, 1.0)
    };
    Occluded {
        fraction: best as f64 / (ROWS * COLS) as f64 * soft,
        region: (soft > 0.0).then(|| label.map(|row| row.map(|l| l == best_label))),
    }
}

/// Whether the picture is a colour-bar test pattern (an encoder's or DVR's no-signal screen):
/// in the rows from a tenth to six tenths of the height (below any OSD caption, above the
/// reversed bars and black levels an SMPTE pattern has lower down) every column is one colour
/// top to bottom (columns explain ≥ 97 % of the variance), and across them at least five
/// plateaus at least a sixteenth of the width each, of colours far apart (a channel spans ≥ 100
/// levels over them). A real scene with vertical structure (a fence, a façade, a tree line)
/// varies down its columns; a wall of one colour has no five plateaus.
fn colour_bars(t: &Thumb) -> bool {
    let (w, h) = (t.width, t.height);
    let (y0, y1) = (h / 10, h * 6 / 10);
    if w < 32 || y1 <= y0 + 4 {
        return false;
    }
    let n = (y1 - y0) as f64;
    let mut sum = vec![[0f64; 3]; w];
    let mut sq = 0f64;
    for y in y0..y1 {
        for (x, p) in t.rgb[y * w * 3..(y + 1) * w * 3]
            .chunks_exact(3)
            .enumerate()
        {
            for c in 0..3 {
                let v = p[c] as f64;
                sum[x][c] += v;
                sq += v * v;
            }
        }
    }
    let means: Vec<[f64; 3]> = sum.iter().map(|s| s.map(|v| v / n)).collect();
    let total_n = n * w as f64;
    let grand: [f64; 3] = [0, 1, 2].map(|c| means.iter().map(|m| m[c]).sum::<f64>() / w as f64);
    let total = sq / total_n - grand.iter().map(|g| g * g).sum::<f64>();
    let between = means
        .iter()
        .map(|m| (0..3).map(|c| (m[c] - grand[c]).powi(2)).sum::<f64>())
        .sum::<f64>()
        / w as f64;
    if total < 400.0 || between < 0.97 * total {
        return false;
    }
    // Plateaus: runs of columns within 10 levels of the run's first column in every channel.
    let mut plateaus: Vec<[f64; 3]> = Vec::new();
    let mut start = 0;
    for x in 1..=w {
        let ends = x == w || (0..3).any(|c| (means[x][c] - means[start][c]).abs() > 10.0);
        if ends {
            if x - start >= (w / 16).max(2) {
                plateaus.push(means[start + (x - start) / 2]);
            }
            start = x;
        }
    }
    let span = (0..3)
        .map(|c| {
            let v = plateaus.iter().map(|p| p[c]);
            v.clone().fold(0f64, f64::max) - v.fold(255f64, f64::min)
        })
        .fold(0f64, f64::max);
    plateaus.len() >= 5 && span >= 100.0
}

/// Luma box-averaged to `cw`×`ch`.
fn coarse(l: &[f32], w: usize, h: usize, cw: usize, ch: usize) -> Vec<f64> {
    let mut out = vec![0f64; cw * ch];
    let mut cnt = vec![0u32; cw * ch];
    // Cell `cx` spans columns starts[cx]..starts[cx + 1] (those x with x·cw/w = cx). The sums
    // are exact in f64, so adding a row's run per cell gives the pixel-by-pixel sums.
    let starts: Vec<usize> = (0..=cw).map(|cx| (cx * w).div_ceil(cw)).collect();
    for (y, row) in l.chunks_exact(w).enumerate().take(h) {
        let base = y * ch / h * cw;
        for (cx, run) in starts.windows(2).enumerate() {
            let px = &row[run[0]..run[1]];
            out[base + cx] += px.iter().map(|&v| v as f64).sum::<f64>();
            cnt[base + cx] += px.len() as u32;
        }
    }
    for (o, c) in out.iter_mut().zip(&cnt) {
        *o /= (*c).max(1) as f64;
    }
    out
}

/// The view's coarse structure for `scene_change`: the means of a 32×24 grid of cells, whose
/// signed differences across (`gx`: `GRID_H` rows of `GRID_W - 1`) and down (`gy`:
/// `GRID_H - 1` rows of `GRID_W`) are compared. 3 KiB per approved baseline.
#[derive(Debug, Clone)]
struct Structure {
    cells: Vec<f32>,
}

const GRID_W: usize = 32;
const GRID_H: usize = 24;
/// Differences across the grid (`gx`: `GRID_H` rows of `GRID_W - 1`), listed first.
const GRID_GX: usize = (GRID_W - 1) * GRID_H;
/// Differences across and down (`gy`: `GRID_H - 1` rows of `GRID_W`): the structure's length.
const GRID_DIFFS: usize = GRID_GX + GRID_W * (GRID_H - 1);

fn structure(l: &[f32], w: usize, h: usize) -> Structure {
    Structure {
        cells: coarse(l, w, h, GRID_W, GRID_H)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
    }
}

/// See `similarity`: a covered skyline left its sky 0.22 of its share in the simulator's sky
/// scene; an uncovered street's or room's part keeps 0.4 and more.
const ENERGY_LEFT: f64 = 1.0 / 3.0;

/// How alike the view's structure is to the baseline's: the correlation of the two
/// `Structure`s, each column's differences across less their mean down the column and each
/// row's differences down less their mean along the row, over the cells outside an occluder's
/// `region` (found against the baseline).
///
/// - Signed, a region that lost its texture adds nothing to the correlation, where the
///   differences' magnitudes (their mean no longer the baseline's) pulled it down with it.
/// - A band pattern over the whole width or height (stripes, hum bars) is constant along its
///   bands: without those means what is left is the scene's structure.
/// - What an occluder hides is not compared: a covered lens still shows its approved view
///   around the occluder, and a turned camera does not. The mask is dropped when it would
///   leave under a quarter of the cells.
///
/// `None` when the occluder hides most of the structure the baseline has (the cells left carry
/// under `ENERGY_LEFT` of their share of it: a skyline covered, a plain sky left): nothing is
/// left to tell a turned camera by.
fn similarity(f: &Structure, b: &Structure, region: Option<&[[bool; COLS]; ROWS]>) -> Option<f64> {
    let hidden =
        |x: usize, y: usize| region.is_some_and(|r| r[y * ROWS / GRID_H][x * COLS / GRID_W]);
    let gx_kept = |x: usize, y: usize| !hidden(x, y) && !hidden(x + 1, y);
    let gy_kept = |x: usize, y: usize| !hidden(x, y) && !hidden(x, y + 1);
    let all = |_: usize, _: usize| true;
    let total = GRID_DIFFS;
    let (fa, ba) = centred(f, b, &gx_kept, &gy_kept);
    let kept = fa.len();
    if kept * 4 < total {
        let (fa, ba) = centred(f, b, &all, &all);
        return Some(ncc(&fa, &ba));
    }
    if kept < total {
        // The baseline's structure in the cells kept, per cell, against the whole view's.
        let energy = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64;
        let (_, whole) = centred(b, b, &all, &all);
        if energy(&ba) < ENERGY_LEFT * energy(&whole) {
            return None;
        }
    }
    Some(ncc(&fa, &ba))
}

/// The differences of `f` and `b` in the cells kept (`keep_gx`, `keep_gy` at a cell's grid
/// position), each line (a column of `gx`, a row of `gy`) less its mean.
fn centred(
    f: &Structure,
    b: &Structure,
    keep_gx: &dyn Fn(usize, usize) -> bool,
    keep_gy: &dyn Fn(usize, usize) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    let (mut fa, mut ba) = (
        Vec::with_capacity(GRID_DIFFS),
        Vec::with_capacity(GRID_DIFFS),
    );
    let mut line = |cells: &mut dyn Iterator<Item = usize>| {
        let at = fa.len();
        for i in cells {
            fa.push(f.gx_gy(i));
            ba.push(b.gx_gy(i));
        }
        let n = (fa.len() - at).max(1) as f64;
        let (mf, mb) = (
            fa[at..].iter().sum::<f64>() / n,
            ba[at..].iter().sum::<f64>() / n,
        );
        fa[at..].iter_mut().for_each(|v| *v -= mf);
        ba[at..].iter_mut().for_each(|v| *v -= mb);
    };
    for x in 0..GRID_W - 1 {
        line(
            &mut (0..GRID_H)
                .filter(|&y| keep_gx(x, y))
                .map(|y| y * (GRID_W - 1) + x),
        );
    }
    for y in 0..GRID_H - 1 {
        line(
            &mut (0..GRID_W)
                .filter(|&x| keep_gy(x, y))
                .map(|x| GRID_GX + y * GRID_W + x),
        );
    }
    (fa, ba)
}

impl Structure {
    /// Difference `i` of `gx` then `gy`, as one sequence.
    fn gx_gy(&self, i: usize) -> f64 {
        let c = &self.cells;
        let (a, b) = if i < GRID_GX {
            let (y, x) = (i / (GRID_W - 1), i % (GRID_W - 1));
            (y * GRID_W + x, y * GRID_W + x + 1)
        } else {
            let (y, x) = ((i - GRID_GX) / GRID_W, (i - GRID_GX) % GRID_W);
            (y * GRID_W + x, (y + 1) * GRID_W + x)
        };
        c[b] as f64 - c[a] as f64
    }
}

fn ncc(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut num, mut da, mut db) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        num += (x - ma) * (y - mb);
        da += (x - ma) * (x - ma);
        db += (y - mb) * (y - mb);
    }
    if da < 1e-9 || db < 1e-9 {
        return if da < 1e-9 && db < 1e-9 { 1.0 } else { 0.0 };
    }
    num / (da * db).sqrt()
}

pub fn measure(t: &Thumb, prev: Option<&Thumb>, baseline: Option<&Reference>) -> Metrics {
    let (w, h) = (t.width, t.height);
    let l = t.luma();
    let n = l.len() as u32;
    let mut lh = [0u32; 256];
    for &v in &l {
        lh[round_luma(v).min(255)] += 1;
    }
    let mean = l.iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64;
    let spread = spread(t);
    let sharpness = edge_width(&l, w, h, spread);
    let noise_sigma = noise_level(&l, w, h);
    let tint = cast(t, &l, &lh, n);
    let still = Still::of(&l, w, h, t.scale);
    let change = prev.and_then(|p| still?.change_from(&Still::from_thumb(p)?));
    // An occluder found against the baseline: its fraction, and its region, which the
    // similarity leaves out.
    let occluded = baseline
        .and_then(|b| b.blocks.as_ref())
        .map(|s| occlusion(t, &l, Some(s)));
    let similarity = baseline.and_then(|b| {
        similarity(
            &structure(&l, w, h),
            &b.structure,
            occluded.as_ref().and_then(|o| o.region.as_ref()),
        )
    });
    let bands = bands::Profiles::of(&t.rgb, &l, w, h);
    let stripe_strength = bands.strength();
    let spectrum = lines::Spectrum::of(&l, w, h);
    // Judged alone, lines at a slant too, where every tile shows them alike.
    let slanted = spectrum.as_ref().map_or(0.0, lines::Spectrum::steady);
    Metrics {
        width: w,
        height: h,
        mean_luma: round(mean),
        spread: round(spread),
        colour_bars: colour_bars(t),
        darkness_level: round(0.5 * mean + 0.5 * pct(&lh, n, 0.99)),
        brightness_level: round(0.5 * mean + 0.5 * pct(&lh, n, 0.05)),
        sharpness: round(sharpness),
        noise_sigma: round(noise_sigma),
        noise_grain: round(noise_grain(&l, w, h, noise_sigma)),
        cast_ratio: round(tint.ratio),
        cast_spread: round(tint.spread),
        cast_lean: round(tint.lean),
        occluded_fraction: round(occlusion(t, &l, None).fraction),
        stripe_strength: round(stripe_strength.max(slanted)),
        change_from_previous: change.map(round),
        baseline_similarity: similarity.map(round),
        vs_baseline: baseline.map(|b| {
            vs_baseline(
                t,
                &l,
                b,
                (mean, spread, sharpness, noise_sigma),
                (stripe_strength, &bands, spectrum.as_ref()),
                occluded.as_ref().map_or(0.0, |o| o.fraction),
            )
        }),
        still,
    }
}

/// What every sample of a camera is compared with, measured once from its approved baseline.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The light it was taken in: a greyscale (IR night) picture, and its mean luma.
    pub(super) light: Light,
    structure: Structure,
    cells: Vec<([f64; 3], f64)>,
    blocks: Option<[[(f64, f64); COLS]; ROWS]>,
    rows: Option<hum::Profiles>,
    bands: bands::Profiles,
    spectrum: Option<lines::Spectrum>,
    colours: Option<foreign::Blocks>,
    spread: f64,
    edge_width: f64,
    noise: f64,
}

/// A picture's light: whether it has no colour (an IR night picture) and its mean luma.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Light {
    pub grey: bool,
    pub mean: f64,
}

impl Light {
    /// How unlike two lights are: another colour mode outweighs any brightness difference.
    pub fn distance(&self, o: &Light) -> f64 {
        let mode = if self.grey == o.grey { 0.0 } else { 100.0 };
        mode + ((self.mean + 4.0) / (o.mean + 4.0)).ln().abs()
    }
}

pub fn light(t: &Thumb) -> Light {
    let n = (t.rgb.len() / 3).max(1) as f64;
    Light {
        grey: colourless(cell_means(t).into_iter().filter_map(|(m, _)| log_chroma(m))),
        mean: t
            .rgb
            .chunks_exact(3)
            .map(|p| Thumb::luma_of(p) as f64)
            .sum::<f64>()
            / n,
    }
}

pub fn reference(b: &Thumb) -> Reference {
    let l = b.luma();
    let (w, h) = (b.width, b.height);
    let spread = spread(b);
    Reference {
        light: light(b),
        structure: structure(&l, w, h),
        cells: cell_means(b),
        blocks: block_stats(&l, w, h),
        rows: hum::Profiles::of(&l, w, h),
        bands: bands::Profiles::of(&b.rgb, &l, w, h),
        spectrum: lines::Spectrum::of(&l, w, h),
        colours: foreign::Blocks::of(&b.rgb, w, h),
        spread,
        edge_width: edge_width(&l, w, h, spread),
        noise: noise_level(&l, w, h),
    }
}

/// The largest 10th–90th percentile spread over R, G, B.
fn spread(t: &Thumb) -> f64 {
    let mut ch = [[0u32; 256]; 3];
    for p in t.rgb.chunks_exact(3) {
        for c in 0..3 {
            ch[c][p[c] as usize] += 1;
        }
    }
    let n = (t.rgb.len() / 3) as u32;
    ch.iter()
        .map(|h| pct(h, n, 0.9) - pct(h, n, 0.1))
        .fold(0f64, f64::max)
}

/// The edge width given to a picture whose edges all vanished since the baseline: wider than
/// any blur ramp's end.
const LOST_EDGES: f64 = 5.0;

/// Hum bars' amplitude (luma levels) per unit of `stripe_strength`.
const HUM_PER_STRIPE: f64 = 2.0;

fn vs_baseline(
    t: &Thumb,
    l: &[f32],
    b: &Reference,
    m: (f64, f64, f64, f64),
    stripes: (f64, &bands::Profiles, Option<&lines::Spectrum>),
    occluded: f64,
) -> VsBaseline {
    let (mean, spread, sharpness, noise_sigma) = m;
    // A band pattern the approved view shows too (a colonnade, a row of windows) is the scene.
    let (raw, profiles, spectrum) = stripes;
    let stripe_strength = profiles
        .strength_beyond(&b.bands)
        .map_or(raw, |beyond| beyond.min(raw));
    // Lines at any angle beyond the baseline's spectrum. Only against a baseline: on dev, the
    // picture's own spectrum read periodic scenes (windows, paving, foliage) as lines in one
    // normal picture in ten.
    let slanted = match (&b.spectrum, spectrum) {
        (Some(base), Some(frame)) => frame.strength(Some(base)),
        _ => 0.0,
    };
    // Under other light than the approved picture's colours are not comparable (as for
    // `cast_shift`).
    let comparable_light = (0.45..=2.2).contains(&(mean / b.light.mean.max(1.0)));
    let foreign_fraction = match (&b.colours, comparable_light) {
        (Some(base), true) => foreign::Blocks::of(&t.rgb, t.width, t.height)
            .map_or(0.0, |f| foreign::fraction(&f, base)),
        _ => 0.0,
    };
    let hum = match (&b.rows, hum::Profiles::of(l, t.width, t.height)) {
        (Some(base), Some(rows)) => hum::amplitude(&rows, base),
        _ => 0.0,
    };
    // The baseline's texture, at the frame's light: texture scales with the light, so what the
    // noise estimate reads from it does too.
    let base_noise = b.noise * (mean / b.light.mean.max(1.0)).clamp(0.5, 2.0);
    VsBaseline {
        // Under other light than the approved picture's (night against a day baseline, a
        // sodium street lamp) the colour balance is not comparable, and not compared.
        cast_shift: if (0.45..=2.2).contains(&(mean / b.light.mean.max(1.0))) {
            round(cast_shift(t, &b.cells))
        } else {
            0.0
        },
        occluded_fraction: round(occluded.max(foreign_fraction)),
        // No edge left to measure (`edge_width` 0) where the baseline had them, with the
        // contrast kept (a dark picture's edges sink under the floor instead): blurred past
        // measuring.
        sharpness: if sharpness == 0.0 && b.edge_width > 0.0 && spread >= 0.5 * b.spread {
            LOST_EDGES
        } else {
            round(sharpness - (b.edge_width - 1.2).max(0.0))
        },
        noise_sigma: round(
            (noise_sigma * noise_sigma - base_noise * base_noise)
                .max(0.0)
                .sqrt(),
        ),
        contrast: round(spread / b.spread.max(1.0)),
        stripe_strength: round(stripe_strength.max(slanted).max(hum / HUM_PER_STRIPE)),
    }
}
