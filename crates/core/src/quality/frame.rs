//! Frames for diagnosis: JPEG snapshots decoded at reduced scale straight from the DCT, never at
//! full size (1920 pixels across and more: DC coefficients only, by `jpeg_dc`; smaller or
//! unusual files: `jpeg-decoder`'s scaled IDCT), then box-filtered to a thumbnail of at most
//! `MAX_W` pixels across.
//!
//! Keyframes from RTSP (H.264 and H.265) are decoded in `keyframe`.

use std::io::Cursor;

/// The detectors' working size: enough for blur, noise and stripes, small enough to be cheap.
pub const MIN_W: u16 = 240;
pub const MAX_W: usize = 480;
/// Larger pictures are refused (a 16384-pixel side is far beyond any camera's sensor).
const MAX_SIDE: usize = 16384;

/// An RGB thumbnail, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumb {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    /// Pixels of the camera's picture per thumbnail pixel, across: 1 for a picture decoded at
    /// its own size, 8 for one decoded from DC coefficients alone. Sensor noise is averaged
    /// over that many pixels, so `frozen` measures change at a scale of its own (`still`).
    pub scale: usize,
}

impl Thumb {
    /// Luma (BT.601) per pixel.
    pub fn luma(&self) -> Vec<f32> {
        self.rgb.chunks_exact(3).map(Self::luma_of).collect()
    }

    /// Luma (BT.601) of one RGB pixel.
    pub fn luma_of(p: &[u8]) -> f32 {
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    }

    /// Box-filters by an integer factor until at most `max_w` wide.
    pub fn shrink_to(self, max_w: usize) -> Thumb {
        let f = self.width.div_ceil(max_w).max(1);
        if f == 1 {
            return self;
        }
        let (w, h) = (self.width / f, self.height / f);
        let mut rgb = vec![0u8; w * h * 3];
        let n = (f * f) as u32;
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0u32; 3];
                for dy in 0..f {
                    let row = (y * f + dy) * self.width;
                    for dx in 0..f {
                        let i = (row + x * f + dx) * 3;
                        acc[0] += self.rgb[i] as u32;
                        acc[1] += self.rgb[i + 1] as u32;
                        acc[2] += self.rgb[i + 2] as u32;
                    }
                }
                let o = (y * w + x) * 3;
                for c in 0..3 {
                    rgb[o + c] = ((acc[c] + n / 2) / n) as u8;
                }
            }
        }
        Thumb {
            width: w,
            height: h,
            rgb,
            scale: self.scale * f,
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a JPEG (no SOI marker)")]
    NotJpeg,
    #[error("JPEG could not be decoded: {0}")]
    Decode(String),
    #[error("image {0}×{1} is too small to diagnose (at least 32×32)")]
    TooSmall(usize, usize),
    #[error(
        "image {0}×{1} is larger than any camera picture (16384 pixels across, 8K for a keyframe)"
    )]
    TooLarge(usize, usize),
    #[error("H.264 keyframe could not be decoded: {0}")]
    H264(String),
    #[error("H.265 keyframe could not be decoded: {0}")]
    H265(String),
    #[error("not a JPEG picture nor an H.264 or H.265 stream")]
    Unknown,
}

/// A JPEG, or an H.264 or H.265 Annex B stream (`00 00 00 01` / `00 00 01` start codes), by
/// content.
pub fn from_bytes(bytes: &[u8]) -> Result<Thumb, FrameError> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        from_jpeg(bytes)
    } else if bytes.starts_with(&[0, 0, 0, 1]) || bytes.starts_with(&[0, 0, 1]) {
        super::keyframe::from_annex_b(bytes)
    } else {
        Err(FrameError::Unknown)
    }
}

/// Decodes a JPEG at the smallest DCT scale giving at least `MIN_W` pixels across.
pub fn from_jpeg(bytes: &[u8]) -> Result<Thumb, FrameError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(FrameError::NotJpeg);
    }
    // Large pictures (1080p and up) are wide enough at 1/8 scale: DC coefficients only, and
    // no header parsing by `jpeg-decoder` first.
    if let Ok(Some(t)) = super::jpeg_dc::decode(bytes, 8 * MIN_W as usize..=MAX_SIDE, 32..=MAX_SIDE)
    {
        return Ok(t.shrink_to(MAX_W));
    }
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info()
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    let info = d
        .info()
        .ok_or(FrameError::Decode("no frame header".into()))?;
    let (fw, fh) = (info.width as usize, info.height as usize);
    if fw < 32 || fh < 32 {
        return Err(FrameError::TooSmall(fw, fh));
    }
    if fw > MAX_SIDE || fh > MAX_SIDE {
        return Err(FrameError::TooLarge(fw, fh));
    }
    let want_h = ((MIN_W as usize * fh) / fw).max(1) as u16;
    let (w, h) = d
        .scale(MIN_W.min(info.width), want_h.min(info.height))
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    let px = d.decode().map_err(|e| FrameError::Decode(e.to_string()))?;
    let (w, h) = (w as usize, h as usize);
    let info = d
        .info()
        .ok_or(FrameError::Decode("no frame header".into()))?;
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => px,
        jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&v| [v, v, v]).collect(),
        jpeg_decoder::PixelFormat::L16 => px
            .chunks_exact(2)
            .flat_map(|c| {
                let v = c[0];
                [v, v, v]
            })
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => px
            .chunks_exact(4)
            .flat_map(|c| {
                let k = 255 - c[3] as u32;
                let f = |v: u8| ((255 - v as u32) * k / 255) as u8;
                [f(c[0]), f(c[1]), f(c[2])]
            })
            .collect(),
    };
    if rgb.len() != w * h * 3 {
        return Err(FrameError::Decode(format!(
            "decoder returned {} bytes for {w}×{h}",
            rgb.len()
        )));
    }
    Ok(Thumb {
        width: w,
        height: h,
        rgb,
        // The decoder scales by 1/1, 1/2, 1/4 or 1/8, rounding its size up: 641 pixels at
        // half are 321, and 641 / 321 is 1 in integers.
        scale: ((fw + w / 2) / w).max(1),
    }
    .shrink_to(MAX_W))
}
