//! What simulated cameras show: procedural scenes with sensor noise, and the picture faults video
//! quality diagnosis looks for, rendered onto them. Pure functions over RGB buffers; the encoded
//! forms (JPEG snapshots, H.264 keyframes) are made once per (scene, fault, variant) and cached
//! by the fleet, so tens of thousands of cameras cost a handful of encodes.

use std::fmt;

/// An RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl fmt::Debug for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rgb({}x{})", self.width, self.height)
    }
}

/// Kinds of view a camera can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scene {
    Street,
    Indoor,
    /// Night, infrared: greyscale, low contrast.
    NightIr,
    Vivid,
    /// Mostly sky over a thin skyline.
    Sky,
}

impl Scene {
    pub const ALL: [Scene; 5] = [
        Self::Street,
        Self::Indoor,
        Self::NightIr,
        Self::Vivid,
        Self::Sky,
    ];
}

/// A picture fault as the simulator renders it (names as in quality diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PictureFault {
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

impl PictureFault {
    pub const ALL: [PictureFault; 10] = [
        Self::SignalLoss,
        Self::TooDark,
        Self::TooBright,
        Self::Blur,
        Self::Noise,
        Self::ColorCast,
        Self::Occlusion,
        Self::Stripes,
        Self::Frozen,
        Self::SceneChange,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignalLoss => "signal_loss",
            Self::TooDark => "too_dark",
            Self::TooBright => "too_bright",
            Self::Blur => "blur",
            Self::Noise => "noise",
            Self::ColorCast => "color_cast",
            Self::Occlusion => "occlusion",
            Self::Stripes => "stripes",
            Self::Frozen => "frozen",
            Self::SceneChange => "scene_change",
        }
    }
}

/// xorshift, for deterministic sensor noise.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly uniform in [-a, a].
    fn pm(&mut self, a: i32) -> i32 {
        if a == 0 {
            return 0;
        }
        (self.next() % (2 * a as u64 + 1)) as i32 - a
    }
}

fn put(img: &mut Rgb, x: u32, y: u32, c: [u8; 3]) {
    let i = ((y * img.width + x) * 3) as usize;
    img.data[i..i + 3].copy_from_slice(&c);
}

fn rect(img: &mut Rgb, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
    for y in y0..(y0 + h).min(img.height) {
        for x in x0..(x0 + w).min(img.width) {
            put(img, x, y, c);
        }
    }
}

fn mix(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let m = |p: u8, q: u8| (p as f32 + (q as f32 - p as f32) * t).round() as u8;
    [m(a[0], b[0]), m(a[1], b[1]), m(a[2], b[2])]
}

/// The scene as the camera sees it, shifted by `pan` pixels (a turned camera sees another view).
pub fn render_scene(scene: Scene, width: u32, height: u32, pan: u32) -> Rgb {
    let mut img = Rgb {
        width,
        height,
        data: vec![0; (width * height * 3) as usize],
    };
    let (w, h) = (width, height);
    let horizon = match scene {
        Scene::Sky => h * 4 / 5,
        Scene::Indoor => h / 3,
        _ => h * 2 / 5,
    };
    let (top, low, ground) = match scene {
        Scene::Street | Scene::Vivid => ([70, 130, 200], [180, 210, 235], [90, 90, 95]),
        Scene::Sky => ([60, 120, 210], [200, 220, 240], [70, 80, 60]),
        Scene::Indoor => ([200, 195, 180], [220, 215, 200], [140, 110, 80]),
        Scene::NightIr => ([40, 40, 40], [70, 70, 70], [55, 55, 55]),
    };
    for y in 0..h {
        let c = if y < horizon {
            mix(top, low, y as f32 / horizon as f32)
        } else {
            mix(
                ground,
                [ground[0] / 2, ground[1] / 2, ground[2] / 2],
                (y - horizon) as f32 / (h - horizon) as f32,
            )
        };
        for x in 0..w {
            put(&mut img, x, y, c);
        }
    }
    // Buildings / furniture: deterministic blocks along the horizon, shifted by the pan.
    let palette: &[[u8; 3]] = match scene {
        Scene::Vivid => &[
            [220, 40, 40],
            [40, 180, 60],
            [250, 200, 30],
            [40, 80, 220],
            [200, 60, 200],
        ],
        Scene::NightIr => &[[90, 90, 90], [120, 120, 120], [75, 75, 75]],
        Scene::Indoor => &[[120, 80, 50], [90, 90, 110], [160, 150, 140]],
        _ => &[
            [150, 140, 130],
            [110, 100, 95],
            [180, 170, 150],
            [95, 105, 120],
        ],
    };
    let mut n = Noise(0x9E37_79B9 ^ (scene as u64 * 7919 + 1));
    let mut x = 0u32;
    let block_h_max = if scene == Scene::Sky {
        h / 8
    } else {
        horizon * 9 / 10
    };
    while x < w + pan {
        let bw = w / 12 + (n.next() % (w as u64 / 8)) as u32;
        let bh = block_h_max / 3 + (n.next() % (block_h_max as u64 * 2 / 3 + 1)) as u32;
        let c = palette[(n.next() % palette.len() as u64) as usize];
        if x + bw > pan {
            let sx = x.saturating_sub(pan);
            let visible_w = (x + bw - pan.max(x)).min(w.saturating_sub(sx));
            rect(&mut img, sx, horizon.saturating_sub(bh), visible_w, bh, c);
            // Windows: texture that blur detection can see go soft.
            let win = mix(c, [240, 240, 200], 0.6);
            let mut wy = horizon.saturating_sub(bh) + 4;
            while wy + 6 < horizon {
                let mut wx = sx + 3;
                while wx + 5 < sx + visible_w {
                    rect(&mut img, wx, wy, 3, 4, win);
                    wx += 8;
                }
                wy += 10;
            }
        }
        x += bw + 2;
    }
    // Road markings or floor tiles below the horizon.
    if scene != Scene::Indoor {
        let mut y = horizon + 8;
        while y < h {
            let mut x = -((pan % 40) as i64);
            while x < w as i64 {
                if x >= 0 {
                    rect(&mut img, x as u32, y, 14, 2, [200, 200, 190]);
                }
                x += 40;
            }
            y += 24;
        }
    } else {
        let mut y = horizon;
        while y < h {
            rect(&mut img, 0, y, w, 1, [100, 80, 60]);
            y += 20;
        }
    }
    if scene == Scene::NightIr {
        // IR pictures are grey.
        for p in img.data.chunks_mut(3) {
            let g = ((p[0] as u32 * 3 + p[1] as u32 * 6 + p[2] as u32) / 10) as u8;
            p.copy_from_slice(&[g, g, g]);
        }
    }
    img
}

/// Sensor noise (small, different per `variant`) so normal pictures are never bit-identical.
pub fn with_sensor_noise(img: &Rgb, variant: u64) -> Rgb {
    let mut out = img.clone();
    let mut n = Noise(variant.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    for v in out.data.iter_mut() {
        *v = (*v as i32 + n.pm(3)).clamp(0, 255) as u8;
    }
    out
}

fn box_blur(img: &Rgb, r: i32) -> Rgb {
    let (w, h) = (img.width as i32, img.height as i32);
    let mut tmp = img.clone();
    let mut out = img.clone();
    for pass in 0..2 {
        let (src, dst) = if pass == 0 {
            (img, &mut tmp)
        } else {
            (&tmp.clone(), &mut out)
        };
        for y in 0..h {
            for x in 0..w {
                let mut s = [0u32; 3];
                let mut n = 0;
                for d in -r..=r {
                    let (xx, yy) = if pass == 0 {
                        ((x + d).clamp(0, w - 1), y)
                    } else {
                        (x, (y + d).clamp(0, h - 1))
                    };
                    let i = ((yy * w + xx) * 3) as usize;
                    for (c, acc) in s.iter_mut().enumerate() {
                        *acc += src.data[i + c] as u32;
                    }
                    n += 1;
                }
                let i = ((y * w + x) * 3) as usize;
                for (c, acc) in s.iter().enumerate() {
                    dst.data[i + c] = (acc / n) as u8;
                }
            }
        }
    }
    out
}

/// An SMPTE-style colour-bar test pattern: seven 75 % bars over two thirds of the height,
/// reversed bars below, then black-level patches.
pub fn colour_bars(w: u32, h: u32) -> Rgb {
    const BARS: [[u8; 3]; 7] = [
        [191, 191, 191],
        [191, 191, 0],
        [0, 191, 191],
        [0, 191, 0],
        [191, 0, 191],
        [191, 0, 0],
        [0, 0, 191],
    ];
    let mut img = Rgb {
        width: w,
        height: h,
        data: vec![0; (w * h * 3) as usize],
    };
    for y in 0..h {
        for x in 0..w {
            let k = (x * 7 / w) as usize;
            let c = if y < h * 2 / 3 {
                BARS[k]
            } else if y < h * 3 / 4 {
                if k.is_multiple_of(2) {
                    BARS[6 - k]
                } else {
                    [19, 19, 19]
                }
            } else if x < w / 4 {
                [0, 33, 76]
            } else if x < w / 2 {
                [235, 235, 235]
            } else {
                [19, 19, 19]
            };
            put(&mut img, x, y, c);
        }
    }
    img
}

/// A picture whose mean value is under this is a night view (the IR scene's is about 50).
const NIGHT_MEAN: u64 = 70;

/// Renders `fault` onto a normal picture.
pub fn apply_fault(img: &Rgb, fault: PictureFault, seed: u64) -> Rgb {
    let mut out = img.clone();
    let (w, h) = (img.width, img.height);
    match fault {
        // Half the cameras (odd seeds): the encoder's colour-bar test pattern, its no-signal
        // screen; the others: the DVR-style blue "no video" screen, with a white caption block.
        PictureFault::SignalLoss if seed % 2 == 1 => out = colour_bars(w, h),
        PictureFault::SignalLoss => {
            out.data
                .chunks_mut(3)
                .for_each(|p| p.copy_from_slice(&[16, 32, 200]));
            rect(&mut out, w / 3, h / 2 - 6, w / 3, 12, [235, 235, 235]);
        }
        PictureFault::TooDark => out
            .data
            .iter_mut()
            .for_each(|v| *v = (*v as u32 * 12 / 100) as u8),
        PictureFault::TooBright => out
            .data
            .iter_mut()
            .for_each(|v| *v = (190 + *v as u32 * 30 / 100).min(255) as u8),
        // Three box passes ≈ a Gaussian of σ 3.5 px, as a defocused lens blurs. One wide box
        // is not a lens: it turns every thin line into a plateau with steep sides, crisp
        // edges on a blurred picture.
        PictureFault::Blur => out = box_blur(&box_blur(&box_blur(img, 3), 3), 3),
        PictureFault::Noise => {
            let mut n = Noise(seed | 1);
            out.data
                .iter_mut()
                .for_each(|v| *v = (*v as i32 + n.pm(90)).clamp(0, 255) as u8);
        }
        PictureFault::ColorCast => out.data.chunks_mut(3).for_each(|p| {
            p[0] = (p[0] as u32 / 2) as u8;
            p[1] = (p[1] as u32 * 11 / 10).min(255) as u8;
            p[2] = (p[2] as u32 / 3) as u8;
        }),
        PictureFault::Occlusion => {
            // Something close to the lens covers the lower-left part of the view: out of
            // focus, so a smooth surface whose border fades over a dozen pixels. Dark by day;
            // at night (a dark view) the camera's own infrared lights it from a hand's
            // breadth away, and it shows nearly white, as leaves and cobwebs do on IR cameras.
            let mean =
                img.data.iter().map(|&v| v as u64).sum::<u64>() / img.data.len().max(1) as u64;
            let shade = if mean < NIGHT_MEAN { 200.0 } else { 45.0 };
            for y in 0..h {
                for x in 0..w {
                    let d = (x as f32 / w as f32) + (1.0 - y as f32 / h as f32) * 0.6 - 0.95;
                    let a = (0.5 - d * w as f32 / 12.0).clamp(0.0, 1.0);
                    if a > 0.0 {
                        let v = shade + 10.0 * y as f32 / h as f32;
                        let i = ((y * w + x) * 3) as usize;
                        for (c, tone) in [v, v + 3.0, v].into_iter().enumerate() {
                            let old = out.data[i + c] as f32;
                            out.data[i + c] = (old * (1.0 - a) + tone * a) as u8;
                        }
                    }
                }
            }
        }
        // One camera in three (seed % 3 == 1): interference in colour alone, red against
        // blue with the brightness kept (a loose chroma wire); the others: luma bands.
        PictureFault::Stripes if seed % 3 == 1 => {
            for y in 0..h {
                let band = (y as f32 / 5.0).sin() * 45.0;
                for x in 0..w {
                    let i = ((y * w + x) * 3) as usize;
                    for (c, k) in [1.0f32, -0.35, -1.0].into_iter().enumerate() {
                        let v = out.data[i + c] as f32 + band * k;
                        out.data[i + c] = v.round().clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
        PictureFault::Stripes => {
            for y in 0..h {
                let band = ((y as f32 / 6.0).sin() * 70.0) as i32;
                for x in 0..w {
                    let i = ((y * w + x) * 3) as usize;
                    for c in 0..3 {
                        out.data[i + c] = (out.data[i + c] as i32 + band).clamp(0, 255) as u8;
                    }
                }
            }
        }
        // Frozen pictures are normal pictures that never change; scene change is another view:
        // both are made by the caller (no sensor noise / another pan).
        PictureFault::Frozen | PictureFault::SceneChange => {}
    }
    out
}

/// JPEG bytes of `img`.
pub fn to_jpeg(img: &Rgb, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.encode(
        &img.data,
        img.width as u16,
        img.height as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("encoding a well-formed RGB buffer");
    out
}

/// What a camera's lossy video encoder leaves of `img`: the picture through a JPEG round trip
/// at quality 85. The simulator's H.264 and H.265 keyframes are I_PCM, which carries every
/// pixel, sensor grain included, where an encoder at a camera's usual bitrate quantises most
/// of that grain away (DCT coding, as JPEG's). A keyframe of `lossy(img)` is the picture a
/// real stream's keyframe decodes to, near enough for the detectors: without it an occluder's
/// plain surface kept the grain's spread, and read as textured.
pub fn lossy(img: &Rgb) -> Rgb {
    let jpeg = to_jpeg(img, 85);
    let mut d = jpeg_decoder::Decoder::new(&jpeg[..]);
    let data = d.decode().expect("decoding our own JPEG");
    Rgb {
        width: img.width,
        height: img.height,
        data,
    }
}

/// BT.601 limited-range 4:2:0 planes (Y, Cb, Cr) of `img`; chroma from the top-left pixel of
/// each 2×2 block. Width and height must be even.
pub fn to_yuv420(img: &Rgb) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (w, h) = (img.width as usize, img.height as usize);
    let mut y = vec![0u8; w * h];
    let mut cb = vec![0u8; w * h / 4];
    let mut cr = vec![0u8; w * h / 4];
    for j in 0..h {
        for i in 0..w {
            let p = &img.data[(j * w + i) * 3..(j * w + i) * 3 + 3];
            let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
            y[j * w + i] = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8;
            if j % 2 == 0 && i % 2 == 0 {
                let k = (j / 2) * (w / 2) + i / 2;
                cb[k] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
                cr[k] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
    }
    (y, cb, cr)
}

/// One H.264 keyframe (SPS, PPS, IDR slice; lossless I_PCM via less-avc) as NAL units without
/// start codes: what an RTP packetiser sends. Width and height must be multiples of 16.
pub fn to_h264(img: &Rgb) -> Vec<Vec<u8>> {
    let (w, h) = (img.width as usize, img.height as usize);
    let (y, cb, cr) = to_yuv420(img);
    use less_avc::ycbcr_image::{DataPlane, Planes, YCbCrImage};
    fn plane(data: &[u8], stride: usize) -> DataPlane<'_> {
        DataPlane {
            data,
            stride,
            bit_depth: less_avc::BitDepth::Depth8,
        }
    }
    let image = YCbCrImage {
        planes: Planes::YCbCr((plane(&y, w), plane(&cb, w / 2), plane(&cr, w / 2))),
        width: w as u32,
        height: h as u32,
    };
    let (initial, _enc) =
        less_avc::LessEncoder::new(&image).expect("dimensions are multiples of 16");
    initial.into_iter().map(|n| n.to_nal_unit()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_differ_and_noise_varies() {
        let a = render_scene(Scene::Street, 320, 240, 0);
        let b = render_scene(Scene::Street, 320, 240, 60);
        assert_ne!(a, b);
        assert_ne!(with_sensor_noise(&a, 1), with_sensor_noise(&a, 2));
        let ir = render_scene(Scene::NightIr, 320, 240, 0);
        assert!(ir.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    /// The occluder is seen in every scene: dark by day, lit white by the IR at night. A
    /// dark occluder before the dark night view hid a dark ground and grey buildings with
    /// grey: it moved the picture by 15 levels on average, the day views' by 25 and more.
    #[test]
    fn the_occluder_stands_out_from_every_view() {
        for scene in Scene::ALL {
            for pan in [0, 40, 80] {
                let view = render_scene(scene, 320, 240, pan);
                let covered = apply_fault(&view, PictureFault::Occlusion, 1);
                let moved = covered
                    .data
                    .iter()
                    .zip(&view.data)
                    .map(|(&a, &b)| (a as f64 - b as f64).abs())
                    .sum::<f64>()
                    / view.data.len() as f64;
                assert!(moved >= 20.0, "{scene:?} pan {pan}: moved by {moved:.1}");
            }
        }
    }

    #[test]
    fn encodes() {
        let img = render_scene(Scene::Vivid, 320, 240, 0);
        let j = to_jpeg(&img, 80);
        assert!(j.starts_with(&[0xFF, 0xD8]) && j.ends_with(&[0xFF, 0xD9]));
        let nals = to_h264(&apply_fault(&img, PictureFault::Blur, 1));
        assert_eq!(nals.len(), 3);
        assert_eq!(nals[0][0] & 0x1f, 7, "SPS first");
        assert_eq!(nals[1][0] & 0x1f, 8, "then PPS");
        assert_eq!(nals[2][0] & 0x1f, 5, "then an IDR slice");
    }
}
