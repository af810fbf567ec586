//! Textured occluders against the approved baseline: leaves and branches in front of the lens,
//! a hand. They keep texture, so `occlusion`'s textureless blocks miss them; but they bring
//! their own colour into part of the view. A block of a `COLS`×`ROWS` grid is foreign when its
//! colour (log channel ratios) is no longer the baseline's, scaled toward or away from grey (what
//! a change of light, fog, or a brightness band does to it), beyond the whole view's shift (a
//! white-balance change or a cast moves every block alike), and its brightness moved apart
//! from the view's too. The measure is the largest 4-connected region of foreign blocks that
//! touches the view's edge (a thing at the lens enters from an edge), as a fraction of the view.

/// Grid columns and rows (as `occlusion`'s blocks).
pub const COLS: usize = 12;
pub const ROWS: usize = 9;

/// Per block: mean luma and colour as (ln R/G, ln B/G); colour `None` where too dark or
/// clipped to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocks([[Block; COLS]; ROWS]);

/// A block's mean luma and its colour (ln R/G, ln B/G), if told.
type Block = (f64, Option<(f64, f64)>);

impl Blocks {
    /// The blocks of a `w`×`h` RGB picture; `None` for one too small for 4×4-pixel blocks.
    pub fn of(rgb: &[u8], w: usize, h: usize) -> Option<Self> {
        let (bw, bh) = (w / COLS, h / ROWS);
        if bw < 4 || bh < 4 || rgb.len() < w * h * 3 {
            return None;
        }
        let mut sum = [[[0u64; 3]; COLS]; ROWS];
        for (y, row) in rgb.chunks_exact(w * 3).take(bh * ROWS).enumerate() {
            let r = y / bh;
            for (c, cell) in sum[r].iter_mut().enumerate() {
                for p in row[c * bw * 3..(c + 1) * bw * 3].chunks_exact(3) {
                    cell[0] += p[0] as u64;
                    cell[1] += p[1] as u64;
                    cell[2] += p[2] as u64;
                }
            }
        }
        let n = (bw * bh) as f64;
        let mut out = [[(0f64, None); COLS]; ROWS];
        for (o, s) in out.iter_mut().flatten().zip(sum.iter().flatten()) {
            let m = s.map(|v| v as f64 / n);
            let y = 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
            let colour =
                ((16.0..=235.0).contains(&y) && m.iter().all(|&v| v <= 245.0)).then(|| {
                    (
                        ((m[0] + 8.0) / (m[1] + 8.0)).ln(),
                        ((m[2] + 8.0) / (m[1] + 8.0)).ln(),
                    )
                });
            *o = (y, colour);
        }
        Some(Self(out))
    }
}

/// How far a block's colour moved, beyond a scaling toward or away from grey of the baseline's.
const COLOUR_MOVED: f64 = 0.22;
/// How far a block's brightness moved apart from the view's (log ratio).
const LIGHT_MOVED: f64 = 0.18;

/// The largest edge-touching region of foreign blocks in `frame` against `base`, as a
/// fraction of the view (see the module doc); 0 when fewer than a quarter of the blocks have a
/// colour to compare.
pub fn fraction(frame: &Blocks, base: &Blocks) -> f64 {
    let pairs = frame.0.iter().flatten().zip(base.0.iter().flatten());
    // The whole view's change: median brightness ratio and median colour shift.
    let mut gains: Vec<f64> = pairs
        .clone()
        .map(|(f, b)| (f.0 + 4.0) / (b.0 + 4.0))
        .collect();
    let mid = gains.len() / 2;
    let gain = *gains.select_nth_unstable_by(mid, f64::total_cmp).1;
    let shifts: Vec<(f64, f64)> = pairs
        .clone()
        .filter_map(|(f, b)| Some((f.1?.0 - b.1?.0, f.1?.1 - b.1?.1)))
        .collect();
    if shifts.len() < COLS * ROWS / 4 {
        return 0.0;
    }
    let median = |mut v: Vec<f64>| {
        let i = v.len() / 2;
        *v.select_nth_unstable_by(i, f64::total_cmp).1
    };
    let shift = (
        median(shifts.iter().map(|s| s.0).collect()),
        median(shifts.iter().map(|s| s.1).collect()),
    );
    let mut foreign = [[false; COLS]; ROWS];
    for (r, row) in foreign.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            let (f, b) = (frame.0[r][c], base.0[r][c]);
            let (Some(fc), Some(bc)) = (f.1, b.1) else {
                continue;
            };
            let fc = (fc.0 - shift.0, fc.1 - shift.1);
            // The baseline's colour scaled by the λ in [0, 1.5] nearest the frame's.
            let bb = bc.0 * bc.0 + bc.1 * bc.1;
            let lambda = if bb > 1e-9 {
                ((fc.0 * bc.0 + fc.1 * bc.1) / bb).clamp(0.0, 1.5)
            } else {
                1.0
            };
            let colour = (fc.0 - lambda * bc.0).hypot(fc.1 - lambda * bc.1);
            let light = ((f.0 + 4.0) / (gain * (b.0 + 4.0))).ln().abs();
            *cell = colour > COLOUR_MOVED && light > LIGHT_MOVED;
        }
    }
    largest_edge_region(&foreign) as f64 / (COLS * ROWS) as f64
}

/// Blocks in the largest 4-connected region of `set` that touches the grid's edge.
fn largest_edge_region(set: &[[bool; COLS]; ROWS]) -> usize {
    let mut seen = [[false; COLS]; ROWS];
    let mut best = 0;
    for r0 in 0..ROWS {
        for c0 in 0..COLS {
            if !set[r0][c0] || seen[r0][c0] {
                continue;
            }
            seen[r0][c0] = true;
            let (mut stack, mut size, mut edge) = (vec![(r0, c0)], 0, false);
            while let Some((r, c)) = stack.pop() {
                size += 1;
                edge |= r == 0 || c == 0 || r + 1 == ROWS || c + 1 == COLS;
                let next = [
                    (r.wrapping_sub(1), c),
                    (r + 1, c),
                    (r, c.wrapping_sub(1)),
                    (r, c + 1),
                ];
                for (nr, nc) in next {
                    if nr < ROWS && nc < COLS && set[nr][nc] && !seen[nr][nc] {
                        seen[nr][nc] = true;
                        stack.push((nr, nc));
                    }
                }
            }
            if edge {
                best = best.max(size);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A view of grey stone, a blue sky and a brown roof, with texture.
    fn scene(x: usize, y: usize) -> [f64; 3] {
        let t = ((x * 7 + y * 13) % 17) as f64;
        if y < 50 {
            [110.0 + t, 150.0 + t, 210.0]
        } else if x > 200 && y < 100 {
            [140.0 + t, 90.0 + t, 60.0 + t]
        } else {
            [120.0 + t, 118.0 + t, 112.0 + t]
        }
    }

    fn picture(w: usize, h: usize, f: impl Fn(usize, usize) -> [f64; 3]) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .flat_map(|(x, y)| f(x, y).map(|v| v.clamp(0.0, 255.0) as u8))
            .collect()
    }

    const W: usize = 240;
    const H: usize = 135;

    fn leaves(x: usize, y: usize) -> Option<[f64; 3]> {
        let t = ((x * 5 + y * 3) % 11) as f64 / 10.0;
        (x + y < 140).then_some([20.0 + 40.0 * t, 45.0 + 70.0 * t, 15.0 + 30.0 * t])
    }

    #[test]
    fn leaves_in_a_corner_are_foreign() {
        let base = Blocks::of(&picture(W, H, scene), W, H).unwrap();
        let f = picture(W, H, |x, y| leaves(x, y).unwrap_or(scene(x, y)));
        let frac = fraction(&Blocks::of(&f, W, H).unwrap(), &base);
        assert!(frac > 0.25, "{frac}");
    }

    #[test]
    fn other_light_and_white_balance_are_not() {
        let base = Blocks::of(&picture(W, H, scene), W, H).unwrap();
        let f = picture(W, H, |x, y| {
            let p = scene(x, y);
            [p[0] * 0.75, p[1] * 0.8, p[2] * 0.86]
        });
        assert_eq!(fraction(&Blocks::of(&f, W, H).unwrap(), &base), 0.0);
    }

    /// Leaves in the middle of the view, touching no edge, are not at the lens.
    #[test]
    fn a_region_away_from_the_edges_is_not_counted() {
        let base = Blocks::of(&picture(W, H, scene), W, H).unwrap();
        let f = picture(W, H, |x, y| {
            if (80..160).contains(&x) && (40..95).contains(&y) {
                [40.0, 90.0, 30.0]
            } else {
                scene(x, y)
            }
        });
        assert_eq!(fraction(&Blocks::of(&f, W, H).unwrap(), &base), 0.0);
    }

    #[test]
    fn too_small_a_picture_has_no_blocks() {
        assert!(Blocks::of(&[0; 40 * 30 * 3], 40, 30).is_none());
    }

    proptest! {
        /// A brightness band added to every channel (a hum bar) or a change of light moves no
        /// block's colour beyond a scaling toward grey: never foreign.
        #[test]
        fn brightness_changes_are_not_foreign(
            gain in 0.5f64..1.4,
            band in -50.0f64..50.0,
            cycles in 1.0f64..3.5,
        ) {
            let base = Blocks::of(&picture(W, H, scene), W, H).unwrap();
            let f = picture(W, H, |x, y| {
                let a = band * (std::f64::consts::TAU * cycles * y as f64 / H as f64).sin();
                scene(x, y).map(|v| v * gain + a)
            });
            let frac = fraction(&Blocks::of(&f, W, H).unwrap(), &base);
            prop_assert!(frac < 0.12, "{}", frac);
        }
    }
}
