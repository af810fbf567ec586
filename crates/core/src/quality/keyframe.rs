//! Keyframes from RTSP, for channels without a snapshot URL (an NVR's, typically): the first
//! picture of an Annex B stream, decoded in full (a video decoder has no reduced-scale mode)
//! and box-filtered to the detectors' thumbnail.
//!
//! - H.264: OpenH264 through the `openh264` crate, which builds Cisco's decoder from its
//!   bundled source with the C compiler alone (no system library).
//! - H.265: `rusty_h265`, a pure-Rust decoder of the Main, Main 10 and Main Still Picture
//!   profiles, checked by its authors against the JCT-VC conformance streams. It was chosen
//!   over FFmpeg's libavcodec (`ffmpeg-next`), which needs FFmpeg's -dev packages and clang at
//!   build time, so that `cargo build` stays all a new machine needs. Cameras stream Main or
//!   Main 10; a range-extension profile (4:2:2, 4:4:4, 12-bit) is refused by name.
//!
//! Both decode bytes a camera sent. For H.265 the picture size in the SPS is checked against
//! `MAX_PIXELS` before the decoder sees the stream (an SPS may claim 16888×16888: 850 MB of
//! planes), and the decoder runs under `catch_unwind`, so a decoder bug on a hostile stream is
//! that frame's error, not the monitor's (the property tests hold it to never panicking at
//! all). For H.264 the size is checked once OpenH264 has decoded the picture. A stream that
//! decodes with errors is refused rather than diagnosed: the blocks a broken slice leaves
//! undecoded would look like an occluder or a black screen.

use super::frame::{FrameError, MAX_W, Thumb};

/// The largest keyframe decoded: 8K UHD (7680×4320, 33 M pixels) and a little more. Larger
/// claims are refused before any picture buffer is allocated.
const MAX_PIXELS: usize = 36 << 20;

/// The codec of an Annex B stream, by its NAL unit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
        }
    }
}

/// H.265 when any NAL unit starts with a base-layer VPS header (`40 01`), which every H.265
/// keyframe carries and no H.264 stream can (`0x40` is H.264's reserved type 0); else H.264.
pub fn codec_of(annex_b: &[u8]) -> Codec {
    let vps = annex_b
        .windows(5)
        .any(|w| w[..3] == [0, 0, 1] && w[3] == 0x40 && w[4] == 0x01);
    if vps { Codec::H265 } else { Codec::H264 }
}

/// The first picture of an H.264 or H.265 Annex B stream, whichever `codec_of` says it is.
pub fn from_annex_b(annex_b: &[u8]) -> Result<Thumb, FrameError> {
    match codec_of(annex_b) {
        Codec::H264 => from_h264(annex_b),
        Codec::H265 => from_h265(annex_b),
    }
}

fn check_size(w: usize, h: usize) -> Result<(), FrameError> {
    if w < 32 || h < 32 {
        return Err(FrameError::TooSmall(w, h));
    }
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(FrameError::TooLarge(w, h));
    }
    Ok(())
}

/// The first picture of an H.264 Annex B stream (a keyframe with its SPS and PPS).
pub fn from_h264(annex_b: &[u8]) -> Result<Thumb, FrameError> {
    use openh264::formats::YUVSource;
    let err = |e: openh264::Error| FrameError::H264(e.to_string());
    let mut dec = openh264::decoder::Decoder::new().map_err(err)?;
    let thumb = |yuv: &openh264::decoder::DecodedYUV<'_>| -> Result<Thumb, FrameError> {
        let (w, h) = yuv.dimensions();
        check_size(w, h)?;
        let mut rgb = vec![0u8; yuv.rgb8_len()];
        yuv.write_rgb8(&mut rgb);
        Ok(Thumb {
            width: w,
            height: h,
            rgb,
            scale: 1,
        }
        .shrink_to(MAX_W))
    };
    if let Some(yuv) = dec.decode(annex_b).map_err(err)? {
        return thumb(&yuv);
    }
    match dec.flush_remaining().map_err(err)?.first() {
        Some(yuv) => thumb(yuv),
        None => Err(FrameError::H264(
            "the stream holds no complete picture".into(),
        )),
    }
}

/// The first picture of an H.265 Annex B stream (a keyframe with its VPS, SPS and PPS).
pub fn from_h265(annex_b: &[u8]) -> Result<Thumb, FrameError> {
    std::panic::catch_unwind(|| decode_h265(annex_b)).unwrap_or_else(|_| {
        Err(FrameError::H265(
            "the decoder failed on this stream (a decoder bug, reported above)".into(),
        ))
    })
}

/// `from_h265` without the panic guard (the property tests call this one).
pub(super) fn decode_h265(annex_b: &[u8]) -> Result<Thumb, FrameError> {
    use rusty_h265::nal::{split_annex_b, unescape};
    let err = |e: rusty_h265::Error| FrameError::H265(e.to_string());
    let mut full_range = false;
    for nal in split_annex_b(annex_b) {
        // nal_unit_type 33: a sequence parameter set, whose size bounds every picture after it.
        if nal.len() > 2 && (nal[0] >> 1) & 0x3F == 33 {
            let sps = rusty_h265::ps::parse_sps(&unescape(&nal[2..]).data).map_err(err)?;
            check_size(sps.width as usize, sps.height as usize)?;
            full_range = sps.vui.as_ref().is_some_and(|v| v.video_full_range_flag);
        }
    }
    let mut dec = rusty_h265::Decoder::new();
    dec.push_annexb(annex_b, None).map_err(err)?;
    dec.flush();
    let frame = dec.next_frame().map_err(|_| {
        FrameError::H265(
            "the stream holds no complete picture (no parameter sets or slices)".into(),
        )
    })?;
    if dec.stats.errors > 0 {
        return Err(FrameError::H265(format!(
            "{} decoding error(s) in the stream",
            dec.stats.errors
        )));
    }
    let p = &frame.picture;
    let (cx, cy, w, h) = p.crop;
    check_size(w, h)?;
    let chroma_shift = match p.chroma_format_idc {
        0 => None,
        1 => Some((1, 1)),
        _ => {
            return Err(FrameError::H265(format!(
                "chroma format {} (4:2:2 or 4:4:4) is not a camera stream",
                p.chroma_format_idc
            )));
        }
    };
    // Box-filtered to the thumbnail in YCbCr, then converted: the same picture as converting
    // every pixel first (the conversion is affine, up to rounding) for a fraction of the work.
    let f = w.div_ceil(MAX_W).max(1);
    let (tw, th) = (w / f, h / f);
    let [yp, cbp, crp] = &p.planes;
    let at = |pl: &rusty_h265::Plane, x: usize, y: usize| -> u32 {
        pl.data.get(y * pl.stride + x).map_or(0, |&v| v as u32)
    };
    // Means are brought to 8 bits (Main 10 samples are 0–1023); limited range (16–235, the
    // default for video) is stretched to 0–255 as OpenH264 does for H.264.
    let (ly, lc) = (
        (1u32 << p.bit_depth_luma.saturating_sub(8)) as f32,
        (1u32 << p.bit_depth_chroma.saturating_sub(8)) as f32,
    );
    let n = (f * f) as f32;
    let mut rgb = Vec::with_capacity(tw * th * 3);
    for ty in 0..th {
        for tx in 0..tw {
            let (mut sl, mut sb, mut sr) = (0u32, 0u32, 0u32);
            for y in cy + ty * f..cy + (ty + 1) * f {
                for x in cx + tx * f..cx + (tx + 1) * f {
                    sl += at(yp, x, y);
                    if let Some((hx, hy)) = chroma_shift {
                        sb += at(cbp, x >> hx, y >> hy);
                        sr += at(crp, x >> hx, y >> hy);
                    }
                }
            }
            let l = sl as f32 / n / ly;
            let (cb, cr) = match chroma_shift {
                Some(_) => (sb as f32 / n / lc - 128.0, sr as f32 / n / lc - 128.0),
                None => (0.0, 0.0),
            };
            let (l, cb, cr) = if full_range {
                (l, cb, cr)
            } else {
                (
                    (l - 16.0) * (255.0 / 219.0),
                    cb * (255.0 / 224.0),
                    cr * (255.0 / 224.0),
                )
            };
            let px = [
                l + 1.402 * cr,
                l - 0.344_136 * cb - 0.714_136 * cr,
                l + 1.772 * cb,
            ];
            rgb.extend(px.map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    Ok(Thumb {
        width: tw,
        height: th,
        rgb,
        scale: f,
    })
}
